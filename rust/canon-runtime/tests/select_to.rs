//! A choice whose branches begin with the same label sent to different
//! receivers runs end to end: the host picks a (receiver, label) arm, the
//! message goes to that receiver, the replay records both, re-execution
//! reproduces it, and hosts written for label-only choices keep working.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{EventKind, Host, HostCtx, HostPoint};
use canon_replay::{Replay, diff, render_text};
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, reexecute};
use canon_types::{SymId, Value};

const AUCTION: &str = "global protocol Auction(role Auc, role B1, role B2) {
  choice at Auc {
    Win(Int) from Auc to B1;
    Lose() from Auc to B2;
  } or {
    Win(Int) from Auc to B2;
    Lose() from Auc to B1;
  }
}";

fn program() -> Arc<VerifiedProgram> {
    let choreo = canon_choreo::load("auction.scr", AUCTION, None).expect("loads");
    let module = canon_choreo::compile_choreography(&choreo).expect("compiles");
    Arc::new(canon_bytecode::verify(module).expect("verifies"))
}

fn run(program: &Arc<VerifiedProgram>, seed: u64, host: Box<dyn Host + Send>) -> Replay {
    let mut machine = Machine::new(Config { seed, ..Config::default() });
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    machine.load(program, host).expect("loads");
    let outcome = CooperativeRunner.run(&mut machine);
    assert!(!outcome.faulted(), "seed {seed} faulted");
    Replay::decode(outcome.replay_bytes()).expect("decodes")
}

/// The recorded choice (receiver, label) and the role index `Win` was sent to.
fn choice_and_win(program: &VerifiedProgram, replay: &Replay) -> (String, String, u16) {
    let m = program.module();
    let (mut chosen, mut win_to) = (None, None);
    for e in &replay.events {
        match &e.kind {
            EventKind::HostAnswer { point: HostPoint::ChooseTo { to }, answer: Value::Label(l) } => {
                chosen = Some((m.sym(*to).to_owned(), m.sym(*l).to_owned()));
            }
            EventKind::Sent { to, label, .. } if m.sym(*label) == "Win" => win_to = Some(*to),
            _ => {}
        }
    }
    let (to, label) = chosen.expect("a ChooseTo answer");
    (to, label, win_to.expect("Win was sent"))
}

#[test]
fn the_chosen_receiver_gets_the_label_and_the_replay_reexecutes() {
    let program = program();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..16 {
        let replay = run(&program, seed, Box::new(SeededHost::new(seed)));
        let (to, label, win_to) = choice_and_win(&program, &replay);
        assert_eq!(label, "Win");
        // Roles are opened in declaration order: Auc 0, B1 1, B2 2.
        assert_eq!(win_to, if to == "B1" { 1 } else { 2 }, "seed {seed}");
        assert!(render_text(&replay).contains(&format!("HostAnswer choose to {to} = ")), "seed {seed}");
        let again = reexecute(&program, &replay).expect("re-executes");
        assert!(diff(&replay, &again).is_identical(), "seed {seed}");
        seen.insert(to);
    }
    assert_eq!(seen.len(), 2, "the seeded host chose both receivers: {seen:?}");
}

/// Picks by label only, as a host written before receivers existed.
struct ByLabel;
impl Host for ByLabel {
    fn produce(&mut self, ctx: &HostCtx<'_>, _: SymId) -> Value {
        if ctx.payload.is_empty() { Value::Unit } else { Value::Int(7) }
    }
    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        labels.iter().position(|l| ctx.module.sym(*l) == "Win").unwrap_or(labels.len())
    }
}

/// Picks the arm whose receiver is `B2`.
struct ToB2;
impl Host for ToB2 {
    fn produce(&mut self, ctx: &HostCtx<'_>, _: SymId) -> Value {
        if ctx.payload.is_empty() { Value::Unit } else { Value::Int(7) }
    }
    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        assert_eq!(ctx.receivers.len(), labels.len(), "receivers are parallel to the labels");
        ctx.receivers.iter().position(|r| ctx.module.sym(*r) == "B2").unwrap_or(labels.len())
    }
}

#[test]
fn hosts_choose_by_label_or_by_receiver() {
    let program = program();
    // A label-only pick is valid: it names the first arm with that label.
    let replay = run(&program, 1, Box::new(ByLabel));
    assert_eq!(choice_and_win(&program, &replay), ("B1".to_owned(), "Win".to_owned(), 1));
    // A host reading the receivers picks the arm to B2.
    let replay = run(&program, 1, Box::new(ToB2));
    assert_eq!(choice_and_win(&program, &replay), ("B2".to_owned(), "Win".to_owned(), 2));
}
