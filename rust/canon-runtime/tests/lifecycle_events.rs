//! Seed 003's observable lifecycle events: one test per row of the
//! observable-events table and per deterministic ordering rule, each
//! asserting the exact event order through a golden replay (insta) and by
//! the kinds themselves, re-executed, checked cooperative == threaded and
//! cross-checked (signatures, deliveries, edge histories) like `canon replay
//! verify` does. Also: the timeout witness of a session that ends another
//! way is withdrawn, the per-edge authenticated history is recomputed and
//! every edit of it is detected, and the host context names the edge and
//! its bound handler.

use std::sync::{Arc, Mutex};

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Auth, CrossCheckError, Event, EventKind, EventSite, Host, HostCtx, KeySeed, KeySource, ReplayMode, SessionStatus,
    TerminalReason, cross_check, run_identity,
};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, ThreadedRunner, reexecute};
use canon_types::{SymId, Value};

fn assemble(src: &str) -> Arc<VerifiedProgram> {
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(src).expect("assembles")).expect("verifies"))
}

fn config() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

fn run_of(r: &Replay) -> [u8; 32] {
    run_identity(&r.header.program_digest, &r.header.config_digest())
}

/// Runs one instance of `program` with the hosts `host()` makes (once
/// cooperative, once threaded: the bytes must agree), re-executes the
/// replay, cross-checks it, and returns it.
fn run_with(program: &Arc<VerifiedProgram>, config: Config, host: &dyn Fn() -> Box<dyn Host + Send>) -> Replay {
    let build = || {
        let mut machine = Machine::new(config);
        machine.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
        machine.load(program, host()).expect("loads");
        machine
    };
    let mut machine = build();
    let outcome = CooperativeRunner.run(&mut machine);
    let mut threaded = build();
    let t = ThreadedRunner::new(2).run(&mut threaded);
    assert_eq!(t.replay_bytes(), outcome.replay_bytes(), "cooperative == threaded");
    let replay = Replay::decode(outcome.replay_bytes()).expect("decodes");
    assert_eq!(reexecute(program, &replay).expect("re-executes").events, replay.events, "re-execution");
    cross_check(&run_of(&replay), &replay.header.config, &replay.events)
        .expect("cross-check (deliveries, edge histories)");
    replay
}

fn run(program: &Arc<VerifiedProgram>) -> Replay {
    run_with(program, config(), &|| Box::new(SeededHost::new(1)))
}

/// Snapshots the text view of `replay`'s events.
fn golden(name: &str, replay: &Replay) {
    let text = canon_replay::render_text(replay);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("t=")).collect();
    insta::assert_snapshot!(name, lines.join("\n"));
}

/// The events of session 0 from the first one matching `first`, as kinds.
fn kinds_from(events: &[Event], first: impl Fn(&EventKind) -> bool) -> Vec<EventKind> {
    let at = events.iter().position(|e| first(&e.kind)).expect("the first event of the order");
    events[at..].iter().map(|e| e.kind.clone()).collect()
}

/// Every `TimeoutIssued` is followed by exactly one `TimeoutExpired` or
/// `TimeoutWithdrawn` of the same witness, and nothing else names it so.
fn every_timeout_witness_is_settled_once(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        if let EventKind::TimeoutIssued { witness } = e.kind {
            let settled = events[i..]
                .iter()
                .filter(|x| {
                    matches!(x.kind, EventKind::TimeoutExpired { witness: w } | EventKind::TimeoutWithdrawn { witness: w } if w == witness)
                })
                .count();
            assert_eq!(settled, 1, "timeout witness {witness} settled {settled} times");
        }
    }
}

const CLOSE: &str = "
.type ta = B!Ping(Int).B?Pong(Int).end
.type tb = A?Ping(Int).A!Pong(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [alpha, beta], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    produce r1, r0, Ping
    send r0, Ping, r1
    recv r0, Pong, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, Ping, r1
    produce r1, r0, Pong
    send r0, Pong, r1
    close r0
    halt
.end
";

const TIMEOUT: &str = include_str!("../../../fixtures/asm/timeout.casm");

const ABORT: &str = "
.type ta = B!Job(Int).end
.type tb = A?Job(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    abort r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, Job, r1
    close r0
    halt
.end
";

/// A owns its endpoint and faults on an arithmetic error (a fault that
/// names no endpoint): owner death faults the session.
const FAULT: &str = "
.type ta = B!Job(Int).end
.type tb = A?Job(Int).end
.const word = str \"x\"
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    const r1, word
    add r1, r1, r1
    send r0, Job, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, Job, r1
    close r0
    halt
.end
";

// ---- One test per row of the observable-events table --------------------

#[test]
fn row_timeout_issued_names_the_witness_at_the_tick_the_timeout_becomes_active() {
    let replay = run(&assemble(TIMEOUT));
    golden("row_timeout_issued", &replay);
    let issued = replay.events.iter().find(|e| matches!(e.kind, EventKind::TimeoutIssued { .. })).unwrap();
    // The waiter (coroutine 1, spawned in round 0) first waits in round 1.
    assert_eq!(
        (issued.site.tick, issued.site.coroutine, &issued.kind),
        (1, 1, &EventKind::TimeoutIssued { witness: 0 })
    );
    let expired = replay.events.iter().find(|e| matches!(e.kind, EventKind::TimeoutExpired { .. })).unwrap();
    assert_eq!((expired.site.tick, &expired.kind), (3, &EventKind::TimeoutExpired { witness: 0 }));
    every_timeout_witness_is_settled_once(&replay.events);
}

#[test]
fn row_cancellation_requested_names_one_cancellation_witness() {
    let replay = run(&assemble(TIMEOUT));
    golden("row_cancellation_requested", &replay);
    let requested: Vec<&Event> =
        replay.events.iter().filter(|e| matches!(e.kind, EventKind::CancellationRequested { .. })).collect();
    assert_eq!(requested.len(), 1);
    // The witness is the timeout's, issued when the timeout became active.
    assert_eq!(requested[0].kind, EventKind::CancellationRequested { witness: 0 });
    assert_eq!(requested[0].site.sid, 0);
}

#[test]
fn row_cancelled_completes_the_cancellation_with_the_same_witness() {
    let replay = run(&assemble(TIMEOUT));
    golden("row_cancelled", &replay);
    let order = kinds_from(&replay.events, |k| matches!(k, EventKind::CancellationRequested { .. }));
    assert_eq!(
        order[..3],
        [
            EventKind::CancellationRequested { witness: 0 },
            EventKind::Cancelled { witness: 0 },
            EventKind::SessionTerminal { reason: TerminalReason::Cancelled },
        ]
    );
}

#[test]
fn row_failure_branch_entered_comes_before_terminal_fault_handling() {
    let replay = run(&assemble(FAULT));
    golden("row_failure_branch_entered", &replay);
    let order = kinds_from(&replay.events, |k| matches!(k, EventKind::FailureBranchEntered { .. }));
    let code = match order[0] {
        EventKind::FailureBranchEntered { code } => code,
        _ => unreachable!(),
    };
    assert_eq!(code, 3017, "ArithmeticTypeError");
    assert_eq!(
        order[..3],
        [
            EventKind::FailureBranchEntered { code },
            EventKind::Faulted { code },
            EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } },
        ]
    );
}

#[test]
fn row_session_terminal_is_explicit_once_per_session_with_its_reason() {
    let cases = [
        (CLOSE, TerminalReason::Closed),
        (TIMEOUT, TerminalReason::Cancelled),
        (ABORT, TerminalReason::Aborted),
        (FAULT, TerminalReason::Faulted { code: 3017 }),
    ];
    let mut all = String::new();
    for (src, reason) in cases {
        let replay = run(&assemble(src));
        let terminals: Vec<&Event> =
            replay.events.iter().filter(|e| matches!(e.kind, EventKind::SessionTerminal { .. })).collect();
        assert_eq!(terminals.len(), 1, "{reason:?}");
        assert_eq!(terminals[0].kind, EventKind::SessionTerminal { reason });
        assert_eq!(terminals[0].site.sid, 0);
        let text = canon_replay::render_text(&replay);
        let line = text.lines().find(|l| l.contains("SessionTerminal")).unwrap();
        all.push_str(line);
        all.push('\n');
    }
    insta::assert_snapshot!("row_session_terminal", all);
}

// ---- One test per deterministic ordering rule ---------------------------

#[test]
fn order_timeout_activation_is_recorded_at_the_tick_it_becomes_active() {
    // The waiter's first attempt is in round 1: no earlier event names the
    // witness, and the deadline (2 rounds) expires it in round 3.
    let replay = run(&assemble(TIMEOUT));
    let waiter: Vec<(u64, EventKind)> =
        replay.events.iter().filter(|e| e.site.coroutine == 1).map(|e| (e.site.tick, e.kind.clone())).collect();
    assert_eq!(
        waiter,
        vec![
            (1, EventKind::TimeoutIssued { witness: 0 }),
            (3, EventKind::TimeoutExpired { witness: 0 }),
            (3, EventKind::CancellationRequested { witness: 0 }),
            (3, EventKind::Cancelled { witness: 0 }),
            (3, EventKind::SessionTerminal { reason: TerminalReason::Cancelled }),
            (3, EventKind::Halted),
        ]
    );
}

#[test]
fn order_explicit_cancellation_requested_cancelled_terminal() {
    let replay = run(&assemble(TIMEOUT));
    let order = kinds_from(&replay.events, |k| matches!(k, EventKind::TimeoutExpired { .. }));
    assert_eq!(
        order[..4],
        [
            EventKind::TimeoutExpired { witness: 0 },
            EventKind::CancellationRequested { witness: 0 },
            EventKind::Cancelled { witness: 0 },
            EventKind::SessionTerminal { reason: TerminalReason::Cancelled },
        ]
    );
}

#[test]
fn order_explicit_abort_aborted_then_terminal() {
    let replay = run(&assemble(ABORT));
    golden("order_abort", &replay);
    let order = kinds_from(&replay.events, |k| matches!(k, EventKind::Aborted));
    assert_eq!(order[..2], [EventKind::Aborted, EventKind::SessionTerminal { reason: TerminalReason::Aborted }]);
    // A halts; B finds the session aborted and ends quietly.
    assert_eq!(order[2..], [EventKind::Halted, EventKind::Halted]);
}

#[test]
fn order_explicit_close_closed_terminal_epoch_then_edge_histories() {
    let replay = run(&assemble(CLOSE));
    golden("order_close", &replay);
    let order = kinds_from(&replay.events, |k| matches!(k, EventKind::Closed));
    assert_eq!(
        order[..3],
        [
            EventKind::Closed,
            EventKind::SessionTerminal { reason: TerminalReason::Closed },
            EventKind::EpochAdvanced { epoch: 1 }
        ]
    );
    // Then one trace per edge used, in (from, to) order.
    let edges: Vec<(u16, u16, u64, u64)> = order[3..]
        .iter()
        .take_while(|k| matches!(k, EventKind::EdgeHistory { .. }))
        .map(|k| match k {
            EventKind::EdgeHistory { from, to, sent, delivered, .. } => (*from, *to, *sent, *delivered),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(edges, vec![(0, 1, 1, 1), (1, 0, 1, 1)]);
}

#[test]
fn order_coroutine_fault_failure_branch_before_faulted() {
    let replay = run(&assemble(FAULT));
    let a: Vec<EventKind> = replay.events.iter().filter(|e| e.site.coroutine == 1).map(|e| e.kind.clone()).collect();
    assert_eq!(
        a,
        vec![
            EventKind::FailureBranchEntered { code: 3017 },
            EventKind::Faulted { code: 3017 },
            EventKind::SessionTerminal { reason: TerminalReason::Faulted { code: 3017 } },
        ]
    );
}

// ---- The timeout witness of a session that ends another way -------------

/// A waits (timeout 5) for B's message; B aborts the session instead.
const ABORT_WHILE_WAITING: &str = "
.type ta = B?Job(Int).end
.type tb = A!Job(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn waiter, [r0]
    spawn quitter, [r1]
    halt
.end
.proc waiter(ep ta) regs 2
    recv_timeout r0, r1, [Job -> got], 5, late
got:
    close r0
    halt
late:
    cancel r0
    halt
.end
.proc quitter(ep tb) regs 2
    yield
    abort r0
    halt
.end
";

#[test]
fn a_timeout_whose_session_is_aborted_is_withdrawn() {
    let replay = run(&assemble(ABORT_WHILE_WAITING));
    golden("timeout_withdrawn_on_abort", &replay);
    every_timeout_witness_is_settled_once(&replay.events);
    let waiter: Vec<EventKind> =
        replay.events.iter().filter(|e| e.site.coroutine == 1).map(|e| e.kind.clone()).collect();
    assert_eq!(
        waiter,
        vec![EventKind::TimeoutIssued { witness: 0 }, EventKind::TimeoutWithdrawn { witness: 0 }, EventKind::Halted]
    );
}

/// A host that refuses every delivered message.
struct Refuser;

impl Host for Refuser {
    fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value {
        Value::Int(1)
    }
    fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        false
    }
}

#[test]
fn a_timeout_whose_receive_faults_is_withdrawn_before_the_failure_branch() {
    // B sends after two rounds; A's host refuses the message (HostRejected,
    // 3014): the active timeout is withdrawn, then the fault is handled.
    let src = ABORT_WHILE_WAITING.replace(
        "    yield\n    abort r0\n    halt",
        "    yield\n    produce r1, r0, Job\n    send r0, Job, r1\n    close r0\n    halt",
    );
    let replay = run_with(&assemble(&src), config(), &|| Box::new(Refuser));
    golden("timeout_withdrawn_on_fault", &replay);
    every_timeout_witness_is_settled_once(&replay.events);
    let waiter: Vec<EventKind> =
        replay.events.iter().filter(|e| e.site.coroutine == 1).map(|e| e.kind.clone()).collect();
    let code = match waiter.get(3) {
        Some(EventKind::FailureBranchEntered { code }) => *code,
        other => panic!("expected the failure branch, found {other:?}"),
    };
    assert_eq!(
        waiter[..5],
        [
            EventKind::TimeoutIssued { witness: 0 },
            EventKind::HostAnswer {
                point: canon_machine::HostPoint::Accept { label: label_of(&replay, "Job") },
                answer: Value::Bool(false)
            },
            EventKind::TimeoutWithdrawn { witness: 0 },
            EventKind::FailureBranchEntered { code },
            EventKind::Faulted { code },
        ]
    );
    assert_eq!(waiter[5], EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } });
}

fn label_of(replay: &Replay, name: &str) -> SymId {
    SymId(replay.header.strings.iter().position(|s| s == name).expect("label") as u32)
}

// ---- Per-edge authenticated history --------------------------------------

/// The history of edge `from -> to` of session 0, recomputed from `Received`.
fn recompute(replay: &Replay, from: u16, to: u16) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let run = run_of(replay);
    let mut h = [0u8; 32];
    for e in &replay.events {
        if let EventKind::Received { from: f, label, seq, payload } = &e.kind
            && (*f, e.site.role, e.site.sid) == (from, to, 0)
        {
            let mut env = Vec::new();
            env.extend_from_slice(&run);
            env.extend_from_slice(&e.site.sid.to_le_bytes());
            env.extend_from_slice(&from.to_le_bytes());
            env.extend_from_slice(&to.to_le_bytes());
            env.extend_from_slice(&seq.to_le_bytes());
            env.extend_from_slice(&label.0.to_le_bytes());
            payload.encode(&mut env);
            let id: [u8; 32] = Sha256::digest(&env).into();
            h = Sha256::new().chain_update(h).chain_update(id).finalize().into();
        }
    }
    h
}

/// The configurations under which a delivery's envelope identity is
/// computed (signed, or consumed under a replay mode): edge histories hash.
fn hashing_configs() -> [Config; 4] {
    [
        Config { auth: Auth::Ed25519, ..Config::default() },
        Config { auth: Auth::Ed25519Round, ..Config::default() },
        Config { auth: Auth::None, replay_mode: ReplayMode::Sequence, ..Config::default() },
        Config { auth: Auth::None, replay_mode: ReplayMode::Nullifier, ..Config::default() },
    ]
}

#[test]
fn edge_histories_hash_the_delivered_envelopes_where_an_identity_is_computed() {
    for config in hashing_configs() {
        let auth = (config.auth, config.replay_mode);
        let replay = run_with(&assemble(CLOSE), config, &|| Box::new(SeededHost::new(1)));
        let histories: Vec<(u16, u16, [u8; 32])> = replay
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::EdgeHistory { from, to, history, .. } => Some((from, to, history)),
                _ => None,
            })
            .collect();
        assert_eq!(histories.len(), 2, "{auth:?}");
        for (from, to, history) in histories {
            assert_eq!(history, recompute(&replay, from, to), "{auth:?} {from}->{to}");
            assert_ne!(history, [0; 32]);
        }
        assert_eq!(cross_check(&run_of(&replay), &config, &replay.events).unwrap().edges, 2);
    }
}

#[test]
fn unsigned_unconsumed_edge_histories_count_and_keep_the_zero_hash() {
    // Under auth none with replay mode off nothing computes an envelope
    // identity: the histories record their counts and the all-zero hash.
    let replay = run(&assemble(CLOSE));
    let histories: Vec<(u64, u64, [u8; 32])> = replay
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::EdgeHistory { sent, delivered, history, .. } => Some((sent, delivered, history)),
            _ => None,
        })
        .collect();
    assert_eq!(histories.len(), 2);
    for (sent, delivered, history) in histories {
        assert_eq!((sent, delivered, history), (1, 1, [0; 32]));
    }
    let run = run_of(&replay);
    assert_eq!(cross_check(&run, &config(), &replay.events).unwrap().edges, 2);
    // The same events checked as a hashing configuration's fail: the hash is due there.
    let signed = Config { auth: Auth::Ed25519, ..config() };
    assert!(matches!(cross_check(&run, &signed, &replay.events), Err(CrossCheckError::WrongEdgeHistory { .. })));
}

/// The replay with its events replaced, the chain rebuilt (as a forger can).
fn rechain(r: &Replay, events: &[Event]) -> Result<Replay, canon_replay::ReplayError> {
    let mut w = canon_replay::ReplayWriter::new(&r.header);
    events.iter().for_each(|e| w.push(e));
    Replay::decode(&w.finish_bytes())
}

#[test]
fn every_flipped_byte_of_an_edge_history_fails_verify_even_with_the_chain_rebuilt() {
    for config in [hashing_configs()[0], hashing_configs()[1], hashing_configs()[2], self::config()] {
        flipped_edge_history_bytes_fail_verify(config);
    }
}

fn flipped_edge_history_bytes_fail_verify(config: Config) {
    let replay = run_with(&assemble(CLOSE), config, &|| Box::new(SeededHost::new(1)));
    let run = run_of(&replay);
    let mut checked = 0;
    for (i, ev) in replay.events.iter().enumerate() {
        if !matches!(ev.kind, EventKind::EdgeHistory { .. }) {
            continue;
        }
        let mut record = Vec::new();
        canon_replay::record::encode_event(ev, &mut record);
        assert_eq!(canon_replay::record::decode_record(&record).unwrap(), *ev);
        for byte in 0..record.len() {
            for mask in [0x01u8, 0x80] {
                let mut flipped = record.clone();
                flipped[byte] ^= mask;
                let Ok(edited) = canon_replay::record::decode_record(&flipped) else { continue };
                let mut events = replay.events.clone();
                events[i] = edited;
                let Ok(forged) = rechain(&replay, &events) else { continue };
                assert!(
                    cross_check(&run, &config, &forged.events).is_err(),
                    "{config:?}: byte {byte} of event {i} flipped by {mask:#x} passed verify"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{config:?}: {checked} edits reached the cross-check");
}

#[test]
fn a_removed_or_altered_delivery_fails_verify_through_the_edge_history() {
    // (Under a replay mode the orphaned `Consumed` finds a removed delivery
    // first: keys.rs.)
    for config in [hashing_configs()[0], hashing_configs()[1], self::config()] {
        removed_deliveries_fail_verify(config);
    }
}

fn removed_deliveries_fail_verify(config: Config) {
    let replay = run_with(&assemble(CLOSE), config, &|| Box::new(SeededHost::new(1)));
    let run = run_of(&replay);
    // Removing a delivery leaves every other Received matched to its Sent:
    // only the edge history finds it.
    let at = replay.events.iter().position(|e| matches!(e.kind, EventKind::Received { .. })).unwrap();
    let mut events = replay.events.clone();
    events.remove(at);
    let forged = rechain(&replay, &events).unwrap();
    assert!(matches!(cross_check(&run, &config, &forged.events), Err(CrossCheckError::WrongEdgeHistory { .. })));
    // Removing an edge history.
    let at = replay.events.iter().position(|e| matches!(e.kind, EventKind::EdgeHistory { .. })).unwrap();
    let mut events = replay.events.clone();
    events.remove(at);
    let forged = rechain(&replay, &events).unwrap();
    assert!(matches!(cross_check(&run, &config, &forged.events), Err(CrossCheckError::WrongEdgeHistory { .. })));
    // Cutting the file after the first edge history.
    let mut events = replay.events.clone();
    events.truncate(at + 1);
    let forged = rechain(&replay, &events).unwrap();
    assert!(matches!(cross_check(&run, &config, &forged.events), Err(CrossCheckError::MissingEdgeHistory { .. })));
    // An edge history where no session ended (after the spawns of round 0).
    let mut events = replay.events.clone();
    let extra = events[at].clone();
    events.insert(4, Event { site: EventSite { tick: 0, ..extra.site }, ..extra });
    let forged = rechain(&replay, &events).unwrap();
    assert_eq!(cross_check(&run, &config, &forged.events), Err(CrossCheckError::UnexpectedEdgeHistory { index: 4 }));
}

// ---- Per-edge handler bindings in the host context ----------------------

/// One host call: its point, the edge and the handler it belongs to.
type Call = (&'static str, Option<(u16, u16)>, SymId);

/// Records `(point, edge, handler)` of every host call.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Host for Recorder {
    fn produce(&mut self, ctx: &HostCtx<'_>, _: SymId) -> Value {
        self.0.lock().unwrap().push(("produce", ctx.edge, ctx.handler));
        Value::Int(1)
    }
    fn accept(&mut self, ctx: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        self.0.lock().unwrap().push(("accept", ctx.edge, ctx.handler));
        true
    }
}

#[test]
fn the_host_context_names_the_edge_and_its_bound_handler() {
    let program = assemble(CLOSE);
    let recorder = Recorder::default();
    let mut machine = Machine::new(config());
    machine.load(&program, Box::new(recorder.clone())).unwrap();
    CooperativeRunner.run(&mut machine);
    let sym = |s: &str| program.module().strings.iter().position(|x| x == s).map(|i| SymId(i as u32)).unwrap();
    let (alpha, beta) = (sym("alpha"), sym("beta"));
    assert_eq!(
        *recorder.0.lock().unwrap(),
        vec![
            ("produce", Some((0, 1)), alpha),
            ("accept", Some((0, 1)), alpha),
            ("produce", Some((1, 0)), beta),
            ("accept", Some((1, 0)), beta),
        ]
    );
    let live = machine.groups()[0].store().get(0).map(|s| s.status);
    assert_eq!(live, Some(SessionStatus::Closed));
}

// ---- Regression: a latest-value edge honours its capacity ---------------

/// A sends five messages in one round over `latest block cap 4`; B then
/// reads. Before, the capacity was ignored (one message kept).
const LATEST_FOUR: &str = "
.type ta = B!M(Int).B!M(Int).B!M(Int).B!M(Int).B!M(Int).end
.type tb = A?M(Int).A?M(Int).A?M(Int).A?M(Int).A?M(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1], buffers [A -> B latest block cap 4]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    produce r1, r0, M
    send r0, M, r1
    send r0, M, r1
    send r0, M, r1
    send r0, M, r1
    send r0, M, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    yield
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    close r0
    halt
.end
";

#[test]
fn a_latest_value_edge_of_capacity_four_delivers_the_newest_four() {
    let replay = run(&assemble(LATEST_FOUR));
    let seqs = |f: fn(&EventKind) -> Option<u64>| replay.events.iter().filter_map(|e| f(&e.kind)).collect::<Vec<_>>();
    assert_eq!(seqs(|k| if let EventKind::Overwritten { seq, .. } = k { Some(*seq) } else { None }), vec![4]);
    assert_eq!(
        seqs(|k| if let EventKind::Received { seq, .. } = k { Some(*seq) } else { None }),
        vec![1, 2, 3, 4],
        "the newest four are kept; B then waits for the fifth, which the buffer discarded"
    );
}
