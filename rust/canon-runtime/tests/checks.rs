//! Readiness checks in choreographies (`check Effect.op(..) at Role;`,
//! docs/language.md and docs/ownership.md): the check is asked of the host,
//! issued as a readiness witness through the session's host-side owner and
//! consumed by the role's protected step. Each scenario is a golden replay
//! (insta) that re-executes identically and that the threaded runner writes
//! byte for byte.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Host, HostCtx, Scope};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, Owner, Runner, SeededHost, ThreadedRunner, reexecute};
use canon_types::{SymId, Value};

#[path = "common/replayed.rs"]
mod replayed;

use replayed::finish;

/// The example of docs/language.md ("Readiness checks: `check`"): the
/// seller reserves the amount before it waits for the bank, and the
/// reservation protects its `Ship`.
const HOLD: &str = "
global protocol Hold(role Buyer, role Seller, role Bank) {
  Order(amount: Int) from Buyer to Seller;
  check Ledger.reserve(amount) at Seller;
  Debit(amount: Int) from Buyer to Bank;
  Paid(amount: Int) from Bank to Seller;
  Ship(amount: Int) from Seller to Buyer;
}
";

fn compile(src: &str) -> Arc<VerifiedProgram> {
    let choreo = canon_choreo::load("hold.canon", src, None).expect("parses");
    let module = canon_choreo::compile_choreography(&choreo).expect("compiles");
    Arc::new(canon_bytecode::verify(module).expect("verifies"))
}

fn program() -> Arc<VerifiedProgram> {
    compile(HOLD)
}

fn config() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

/// A seeded host whose checks all fail.
struct Refusing(SeededHost);

impl Host for Refusing {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        self.0.produce(ctx, label)
    }
    fn check_readiness(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        false
    }
}

fn owned(machine: &mut Machine, host: Box<dyn Host + Send>) -> (u32, Owner) {
    machine.load_choreography_owned(&program(), host, "alice").unwrap()
}

/// Runs rounds of `group` as `owner` until its session has an outstanding
/// readiness witness (the seller checked and waits for the bank).
fn until_witness(machine: &mut Machine, group: u32, owner: &Owner) {
    for _ in 0..8 {
        if machine.ownership(group, owner.sid).is_some_and(|o| !o.issued.is_empty()) {
            return;
        }
        machine.group_mut_as(group, owner).unwrap().run_round();
    }
    panic!("no readiness witness was issued");
}

fn golden(name: &str, scenario: fn(&mut Machine)) -> Replay {
    let build = || {
        let mut m = Machine::new(config());
        scenario(&mut m);
        m
    };
    let (replay, text) = finish(&program(), build(), build);
    insta::assert_snapshot!(name, text);
    replay
}

fn capabilities(replay: &Replay) -> String {
    canon_replay::audit::render_audit_text(&canon_replay::capability_lifecycle_audit_log(replay))
}

fn status(replay: &Replay) -> Vec<String> {
    replay
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            canon_machine::EventKind::SessionTerminal { reason } => Some(format!("{reason:?}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_successful_check_issues_a_witness_that_the_protected_step_consumes() {
    let replay = golden("check_success", |m| {
        owned(m, Box::new(SeededHost::new(1)));
    });
    assert_eq!(status(&replay), ["Closed"]);
    let audit = capabilities(&replay);
    insta::assert_snapshot!("check_success_capabilities", audit);
    // Issued by the seller's check, consumed by its `Ship`, in that order.
    let issued = audit.find("issued check=\"Ledger.reserve\"").expect("issued");
    let consumed = audit.find(": consumed").expect("consumed");
    assert!(issued < consumed, "{audit}");
}

#[test]
fn a_failed_check_faults_the_checking_role_and_issues_nothing() {
    let replay = golden("check_failed", |m| {
        owned(m, Box::new(Refusing(SeededHost::new(1))));
    });
    assert_eq!(status(&replay), ["Faulted { code: 3038 }"]);
    assert!(!capabilities(&replay).contains("readiness"), "no witness was issued");
}

#[test]
fn a_check_after_an_ownership_transfer_fails_closed_with_a_rejection_record() {
    let replay = golden("check_stale_after_transfer", |m| {
        let (g, alice) = owned(m, Box::new(SeededHost::new(1)));
        until_witness(m, g, &alice);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        m.commit(&r).unwrap();
    });
    // The witness of generation 0 was invalidated by the commit; the
    // seller's protected step presents it under generation 1: stale (4017).
    let audit = capabilities(&replay);
    insta::assert_snapshot!("check_stale_after_transfer_capabilities", audit);
    assert!(audit.contains("invalidated") && audit.contains("rejected code=4017"), "{audit}");
    assert_eq!(status(&replay), ["Faulted { code: 3039 }"]);
}

#[test]
fn a_check_after_attenuation_to_other_operations_is_refused_before_the_host_is_asked() {
    let replay = golden("check_scope_too_narrow", |m| {
        let (g, alice) = owned(m, Box::new(SeededHost::new(1)));
        m.group_mut_as(g, &alice).unwrap().run_round();
        m.attenuate(&alice, Scope::Operations(vec!["Ledger.release".into()])).unwrap();
    });
    let text = canon_replay::render_text(&replay);
    assert!(!text.contains("HostAnswer invoke Ledger.reserve"), "the host was not asked:\n{text}");
    assert!(text.contains("OwnershipRejected code=4014"), "{text}");
    assert_eq!(status(&replay), ["Faulted { code: 3039 }"]);
}

#[test]
fn a_check_in_an_unclaimed_session_is_refused() {
    let mut m = Machine::new(config());
    m.load_choreography(&program(), Box::new(SeededHost::new(1))).unwrap();
    let outcome = CooperativeRunner.run(&mut m);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let text = canon_replay::render_text(&replay);
    assert!(text.contains("OwnershipRejected code=4007"), "{text}");
    assert_eq!(status(&replay), ["Faulted { code: 3039 }"]);
}

/// Assembly for what a choreography never lowers to: a witness consumed
/// twice, and a witness id that was never issued.
const ASM: &str = "
.type ta = B!M(Int).end
.type tb = A?M(Int).end
.const seven = int 7
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 3
    check r2, r0, \"Ledger.reserve\", r1
    consume r0, r2
    CONSUME
    send r0, M, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, M, r1
    close r0
    halt
.end
";

fn rejected(consume: &str) -> String {
    let src = ASM.replace("CONSUME", consume);
    let program = Arc::new(canon_bytecode::verify(canon_bytecode::assemble(&src).unwrap()).unwrap());
    let mut m = Machine::new(config());
    m.load_choreography_owned(&program, Box::new(SeededHost::new(1)), "alice").unwrap();
    let outcome = CooperativeRunner.run(&mut m);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let re = reexecute(&program, &replay).unwrap();
    assert_eq!(re.events, replay.events, "re-execution reproduces the replay");
    capabilities(&replay)
}

#[test]
fn a_reused_or_forged_witness_is_refused_with_an_audit_rejection_record() {
    let reused = rejected("consume r0, r2");
    assert!(
        reused.contains("readiness 0x0.0: consumed") && reused.contains("readiness 0x0.0: rejected code=4016"),
        "{reused}"
    );
    let forged = rejected("const r2, seven\n    consume r0, r2");
    assert!(forged.contains("readiness 0x0.7: rejected code=4015"), "{forged}");
}

#[test]
fn the_session_status_after_a_stale_witness_is_faulted_not_cancelled() {
    // The refusal changes no ownership: alice's successor still owns the
    // session, and the session ended by the seller's fault.
    let mut m = Machine::new(config());
    let (g, alice) = owned(&mut m, Box::new(SeededHost::new(1)));
    until_witness(&mut m, g, &alice);
    let r = m.begin_transfer(&alice, "bob").unwrap();
    let bob = m.commit(&r).unwrap();
    CooperativeRunner.run(&mut m);
    let o = m.ownership(g, bob.sid).unwrap();
    assert_eq!((o.owner.label.as_str(), o.owner.generation), ("bob", 1));
    assert_eq!((o.consumed.clone(), o.invalidated.clone()), (vec![], vec![0]));
}

/// Lazily loaded instances claimed by [`Machine::claim_lazy`] (what `canon
/// run --owner` does): every instance issues and consumes its witness, and
/// the replay is the same bytes on every runner and worker count, and
/// re-executes.
#[test]
fn lazily_loaded_owned_instances_check_identically_on_every_runner() {
    let build = || {
        let mut m = Machine::new(config());
        m.load_lazy(&program(), 7, Box::new(|i| Box::new(SeededHost::new(u64::from(i) + 1))), &[]).unwrap();
        assert!(m.claim_lazy("alice"));
        m
    };
    let bytes = CooperativeRunner.run(&mut build()).replay_bytes().to_vec();
    for workers in [1, 2, 4] {
        let threaded = ThreadedRunner::new(workers).run(&mut build());
        assert!(threaded.replay_bytes() == bytes.as_slice(), "threaded({workers}) differs from cooperative");
    }
    let replay = Replay::decode(&bytes).unwrap();
    let re = reexecute(&program(), &replay).unwrap();
    assert_eq!(re.events, replay.events, "re-execution reproduces the replay");
    let audit = capabilities(&replay);
    assert_eq!(audit.matches(": claimed").count(), 7, "{audit}");
    assert_eq!(audit.matches("issued check=\"Ledger.reserve\"").count(), 7, "{audit}");
    assert_eq!(audit.matches(": consumed").count(), 7, "{audit}");
    assert_eq!(status(&replay), vec!["Closed"; 7]);
}
