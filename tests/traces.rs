//! End-to-end properties over random well-formed protocols (issue 4 and 5
//! acceptance): every generated protocol projects, compiles, verifies and
//! runs with no fault; for every role, the actions the replay records are a
//! trace of the role's projected local type; and a program with one
//! instruction replaced is either rejected by the verifier or runs to a typed
//! outcome — never a panic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use canon_bytecode::{Instr, verify};
use canon_machine::{EventKind, SessionStatus};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost};
use canon_types::testgen::protocol;
use canon_types::{LocalType, Protocol, TIMEOUT_LABEL, project_all};
use proptest::prelude::*;

/// One communication action of a role, as the replay records it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Send {
        to: String,
        label: String,
    },
    Recv {
        from: String,
        label: String,
    },
    /// The role's receive deadline passed (`TimeoutExpired`): it takes the
    /// receive's timeout branch, or, without one, cancels the session.
    Timeout,
}

/// Follows `mu` binders and variables to the next communication or `end`.
fn unfold<'t>(mut ty: &'t LocalType, env: &mut BTreeMap<&'t str, &'t LocalType>) -> &'t LocalType {
    for _ in 0..64 {
        match ty {
            LocalType::Mu { var, body } => {
                env.insert(var, ty);
                ty = body;
            }
            LocalType::Var { var } => ty = env.get(var.as_str()).copied().expect("bound variable"),
            _ => return ty,
        }
    }
    panic!("unguarded recursion in a projected type")
}

/// Walks `actions` through `ty`; returns the type reached, or the index and
/// action that the type does not allow.
fn walk<'t>(ty: &'t LocalType, actions: &[Action]) -> Result<&'t LocalType, (usize, Action)> {
    let mut env = BTreeMap::new();
    let mut cur = ty;
    for (i, a) in actions.iter().enumerate() {
        let node = unfold(cur, &mut env);
        // A choice among peers: the arm that sends to the action's peer.
        if *a == Action::Timeout {
            let LocalType::Recv { branches, .. } = node else { return Err((i, a.clone())) };
            match branches.iter().find(|b| b.label == TIMEOUT_LABEL) {
                Some(b) => {
                    cur = &b.cont;
                    continue;
                }
                // A plain deadline cancels the session: nothing follows.
                None if i + 1 == actions.len() => return Ok(node),
                None => return Err((i, a.clone())),
            }
        }
        let node = match (node, a) {
            (LocalType::Choose { arms }, Action::Send { to: t, .. }) => {
                arms.iter().find(|arm| matches!(arm, LocalType::Send { to, .. } if to == t)).unwrap_or(node)
            }
            _ => node,
        };
        let next = match (node, a) {
            (LocalType::Send { to, branches }, Action::Send { to: t, label })
            | (LocalType::Recv { from: to, branches }, Action::Recv { from: t, label })
                if to == t =>
            {
                branches.iter().find(|b| &b.label == label).map(|b| &b.cont)
            }
            _ => None,
        };
        cur = next.ok_or_else(|| (i, a.clone()))?;
    }
    Ok(unfold(cur, &mut env))
}

/// Per (group, role name), the communication actions in replay order.
fn actions_by_role(replay: &Replay) -> BTreeMap<(u32, String), Vec<Action>> {
    let name = |id: canon_types::SymId| replay.header.strings[id.0 as usize].clone();
    let mut roles: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut out: BTreeMap<(u32, String), Vec<Action>> = BTreeMap::new();
    for e in &replay.events {
        let role_name = |i: u16| roles.get(&e.site.sid).and_then(|r| r.get(usize::from(i)).cloned());
        let action = match &e.kind {
            EventKind::Opened { roles: r, .. } => {
                roles.insert(e.site.sid, r.iter().map(|s| name(*s)).collect());
                continue;
            }
            EventKind::Sent { to, label, .. } => {
                Action::Send { to: role_name(*to).expect("peer"), label: name(*label) }
            }
            EventKind::Received { from, label, .. } => {
                Action::Recv { from: role_name(*from).expect("peer"), label: name(*label) }
            }
            EventKind::TimeoutExpired { .. } => Action::Timeout,
            _ => continue,
        };
        let me = role_name(e.site.role).expect("an action has a role");
        out.entry((e.site.group, me)).or_default().push(action);
    }
    out
}

/// The (group, role) endpoints revoked by a deadline: the `EndpointClosed`
/// a receiver records at the late sender's endpoint right after its
/// `TimeoutExpired`.
fn revoked(replay: &Replay) -> BTreeSet<(u32, String)> {
    let name = |id: canon_types::SymId| replay.header.strings[id.0 as usize].clone();
    let mut roles: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for pair in replay.events.windows(2) {
        if let EventKind::Opened { roles: r, .. } = &pair[0].kind {
            roles.insert(pair[0].site.sid, r.iter().map(|s| name(*s)).collect());
        }
        if matches!(pair[0].kind, EventKind::TimeoutExpired { .. })
            && matches!(pair[1].kind, EventKind::EndpointClosed)
            && pair[1].site.role != pair[0].site.role
            && let Some(role) = roles.get(&pair[1].site.sid).and_then(|r| r.get(usize::from(pair[1].site.role)))
        {
            out.insert((pair[1].site.group, role.clone()));
        }
    }
    out
}

fn compile(p: &Protocol) -> Arc<canon_bytecode::VerifiedProgram> {
    let module = canon_choreo::compile_protocol(p, &[]).expect("compiles");
    Arc::new(verify(module).expect("verifies"))
}

fn run(program: &Arc<canon_bytecode::VerifiedProgram>, seed: u64, instances: u32) -> canon_runtime::RunOutcome {
    let mut machine = Machine::new(Config { seed, ..Config::default() });
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..instances {
        machine.load(program, Box::new(SeededHost::new(seed ^ u64::from(i)))).expect("loads");
    }
    CooperativeRunner.run(&mut machine)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replays_are_traces_of_the_projected_local_types(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
        seed in any::<u64>(),
    ) {
        let p = protocol(k, &bytes);
        let local: BTreeMap<String, LocalType> = project_all(&p).expect("projects").into_iter().collect();
        let outcome = run(&compile(&p), seed, 2);
        prop_assert!(!outcome.faulted(), "fault in {:?}\n{p:#?}", outcome.groups);
        prop_assert!(outcome.stalled().is_none(), "stall\n{p:#?}");
        let replay = Replay::decode(outcome.replay_bytes()).expect("own replay decodes");
        let revoked = revoked(&replay);
        for g in &outcome.groups {
            let (_, status) = g.sessions[0];
            prop_assert!(matches!(status, SessionStatus::Closed | SessionStatus::Cancelled), "{status:?}");
            for role in &p.roles {
                let actions = actions_by_role(&replay).remove(&(g.group, role.clone())).unwrap_or_default();
                let end = walk(&local[role], &actions)
                    .map_err(|(i, a)| TestCaseError::fail(format!("{role}: action {i} {a:?} not allowed by {}", local[role])))?;
                // A late sender stops where its endpoint was revoked.
                if status == SessionStatus::Closed && !revoked.contains(&(g.group, role.clone())) {
                    prop_assert_eq!(end, &LocalType::End, "{} stopped early at {}", role, end);
                }
            }
        }
    }

    #[test]
    fn one_replaced_instruction_is_rejected_or_runs_to_a_typed_outcome(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        pick in any::<(usize, usize, usize)>(),
    ) {
        let p = protocol(k, &bytes);
        let mut module = canon_choreo::compile_protocol(&p, &[]).expect("compiles");
        let all: Vec<Instr> = module.procs.iter().flat_map(|pr| pr.code.iter().cloned()).collect();
        let proc = pick.0 % module.procs.len();
        let code = &mut module.procs[proc].code;
        let at = pick.1 % code.len();
        code[at] = all[pick.2 % all.len()].clone();
        if let Ok(program) = verify(module) {
            let mut machine = Machine::new(Config { limits: canon_runtime::Limits { max_rounds: 10_000, ..Default::default() }, ..Config::default() });
            machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
            machine.load(&Arc::new(program), Box::new(SeededHost::new(1))).expect("loads");
            let outcome = CooperativeRunner.run(&mut machine);
            prop_assert!(Replay::decode(outcome.replay_bytes()).is_ok());
        }
    }
}

#[test]
fn the_trace_checker_rejects_a_wrong_trace() {
    let p = protocol(2, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let local = project_all(&p).expect("projects");
    let (role, ty) = &local[0];
    let bogus = [Action::Send { to: "Nobody".into(), label: "Nothing".into() }];
    assert!(walk(ty, &bogus).is_err(), "{role}: {ty} accepted a send to Nobody");
}

/// The generator's timeout branches are taken at run time, not only
/// compiled: over a fixed set of pseudo-random protocols, some runs see a
/// deadline pass with a timeout branch (the late sender's endpoint revoked),
/// and every such run is still a trace of the projected types and ends
/// `Closed` with no stall.
#[test]
fn generated_timeout_branches_are_taken_at_run_time() {
    let mut x: u64 = 7;
    let mut taken = 0;
    for case in 0..200u64 {
        let bytes: Vec<u8> = (0..96)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (x >> 33) as u8
            })
            .collect();
        let k = 2 + (case % 3) as usize;
        let p = protocol(k, &bytes);
        let outcome = run(&compile(&p), case, 1);
        assert!(!outcome.faulted() && outcome.stalled().is_none(), "{p:#?}");
        let replay = Replay::decode(outcome.replay_bytes()).expect("own replay decodes");
        if revoked(&replay).is_empty() {
            continue;
        }
        taken += 1;
        let local: BTreeMap<String, LocalType> = project_all(&p).expect("projects").into_iter().collect();
        for (key, actions) in actions_by_role(&replay) {
            if let Err((i, a)) = walk(&local[&key.1], &actions) {
                panic!("{}: action {i} {a:?} not allowed by {}\n{p:#?}", key.1, local[&key.1]);
            }
        }
    }
    assert!(taken >= 5, "only {taken} of 200 runs took a timeout branch");
}

/// The rule against a late sender's debts (E6117) is exercised both ways by
/// random protocols whose timed messages may come while their sender still
/// owes other roles messages: some are refused (and only with 6117), and
/// every accepted one runs, in cooperative and threaded order, to an end
/// with no stall and no fault, timeout branches taken or not.
#[test]
fn protocols_with_late_sender_debts_are_refused_or_never_stall() {
    let mut x: u64 = 11;
    let (mut refused, mut accepted, mut taken) = (0, 0, 0);
    for case in 0..300u64 {
        let bytes: Vec<u8> = (0..96)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (x >> 33) as u8
            })
            .collect();
        let k = 2 + (case % 3) as usize;
        let p = canon_types::testgen::protocol_with_debts(k, &bytes);
        match project_all(&p) {
            Err(e) => {
                assert_eq!(canon_types::ErrorCode::code(&e), 6117, "{e}\n{p:#?}");
                refused += 1;
                continue;
            }
            Ok(_) => accepted += 1,
        }
        let program = compile(&p);
        let outcome = run(&program, case, 1);
        assert!(!outcome.faulted() && outcome.stalled().is_none(), "{:?}\n{p:#?}", outcome.groups);
        let threaded = {
            let mut machine = Machine::new(Config { seed: case, ..Config::default() });
            machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
            machine.load(&program, Box::new(SeededHost::new(case))).expect("loads");
            canon_runtime::ThreadedRunner::new(2).run(&mut machine)
        };
        assert!(threaded.replay_bytes() == outcome.replay_bytes(), "threaded differs\n{p:#?}");
        let replay = Replay::decode(outcome.replay_bytes()).expect("own replay decodes");
        taken += usize::from(!revoked(&replay).is_empty());
    }
    assert!(refused >= 10, "only {refused} of 300 refused");
    assert!(accepted >= 100 && taken >= 5, "{accepted} accepted, {taken} took a timeout branch");
}
