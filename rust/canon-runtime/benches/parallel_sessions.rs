//! `parallel_sessions`: independent two-buyer sessions (one group each,
//! seeded hosts as in `canon run --sessions K`), run by the cooperative
//! runner and by the threaded runner at 1 and 2 workers: 10,000 sessions
//! with message authentication off (`none`, the machine's own cost) and
//! 1,000 with Ed25519 signing on (`ed25519`, the default).
//! Throughput is in sessions; loading the groups (and dropping them) is
//! set-up, not measured.
//!
//! The program is `fixtures/two_buyer.canon` when it exists (compiled with
//! `canon-choreo`), else the equivalent assembly below. Run with
//! `cargo bench -p canon-runtime --bench parallel_sessions`
//! (add `-- --quick` for a short run).

use std::path::Path;
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::Auth;
use canon_runtime::{Config, CooperativeRunner, Limits, Machine, Runner, SeededHost, ThreadedRunner};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Sessions per run without message authentication (the machine's own cost).
const SESSIONS: u32 = 10_000;

/// Sessions per run with Ed25519 on (signing dominates; fewer keep runs short).
const SIGNED_SESSIONS: u32 = 1_000;

/// The two-buyer protocol: Title, Quote to both buyers, Share, then Buyer2
/// accepts (and gets a receipt) or rejects.
const TWO_BUYER_CASM: &str = "
.type b1 = Seller!Title(String).Seller?Quote(Int).Buyer2!Share(Int).end
.type b2 = Seller?Quote(Int).Buyer1?Share(Int).Seller!{Accept(String).Seller?Receipt(String).end, Reject().end}
.type s = Buyer1?Title(String).Buyer1!Quote(Int).Buyer2!Quote(Int).Buyer2?{Accept(String).Buyer2!Receipt(String).end, Reject().end}

.entry main

.proc main() regs 3
    open roles [Buyer1, Buyer2, Seller], types [b1, b2, s], handlers [default, default, default], dsts [r0, r1, r2]
    spawn buyer1, [r0]
    spawn buyer2, [r1]
    spawn seller, [r2]
    halt
.end

.proc buyer1(ep b1) regs 2
    produce r1, r0, Title
    send r0, Title, r1
    recv r0, Quote, r1
    produce r1, r0, Share
    send r0, Share, r1
    close r0
    halt
.end

.proc buyer2(ep b2) regs 2
    recv r0, Quote, r1
    recv r0, Share, r1
    select r0, [Accept -> accept, Reject -> reject]
accept:
    produce r1, r0, Accept
    send r0, Accept, r1
    recv r0, Receipt, r1
    close r0
    halt
reject:
    produce r1, r0, Reject
    send r0, Reject, r1
    close r0
    halt
.end

.proc seller(ep s) regs 2
    recv r0, Title, r1
    produce r1, r0, Quote
    send r0, Quote, r1
    send r0, Quote, r1
    offer r0, r1, [Accept -> accept, Reject -> reject]
accept:
    produce r1, r0, Receipt
    send r0, Receipt, r1
    close r0
    halt
reject:
    close r0
    halt
.end
";

fn program() -> (&'static str, Arc<VerifiedProgram>) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/two_buyer.canon");
    if let Ok(src) = std::fs::read_to_string(&fixture) {
        let choreo = canon_choreo::load("two_buyer.canon", &src, None).expect("two_buyer.canon loads");
        let module = canon_choreo::compile_choreography(&choreo).expect("two_buyer.canon compiles");
        return ("fixtures/two_buyer.canon", Arc::new(canon_bytecode::verify(module).expect("verifies")));
    }
    let module = canon_bytecode::assemble(TWO_BUYER_CASM).expect("inline two-buyer assembles");
    ("inline two-buyer .casm", Arc::new(canon_bytecode::verify(module).expect("inline two-buyer verifies")))
}

/// `sessions` groups, each with its own seeded host (the CLI's derivation).
fn machine(program: &Arc<VerifiedProgram>, auth: Auth, sessions: u32) -> Machine {
    let seed = 1;
    let limits = Limits { max_rounds: 10_000, ..Limits::default() };
    let mut machine = Machine::new(Config { limits, seed, auth, ..Config::default() });
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..sessions {
        let host = SeededHost::new(seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        machine.load(program, Box::new(host)).expect("one program");
    }
    machine
}

fn parallel_sessions(c: &mut Criterion) {
    let (name, program) = program();
    for (auth, label, sessions) in [(Auth::None, "none", SESSIONS), (Auth::Ed25519, "ed25519", SIGNED_SESSIONS)] {
        eprintln!("parallel_sessions/{label}: {sessions} sessions of {name}");
        // Every runner must agree before any is timed.
        let reference = CooperativeRunner.run(&mut machine(&program, auth, sessions));
        assert!(
            !reference.faulted() && reference.stalled().is_none() && !reference.budget_exhausted(),
            "the two-buyer sessions complete"
        );
        for workers in [1, 2] {
            let threaded = ThreadedRunner::new(workers).run(&mut machine(&program, auth, sessions));
            assert!(threaded.replay_bytes() == reference.replay_bytes(), "threaded({workers}) differs");
        }
        let mut g = c.benchmark_group(format!("parallel_sessions/{label}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(u64::from(sessions)));
        g.bench_function("cooperative", |b| {
            b.iter_batched_ref(
                || machine(&program, auth, sessions),
                |m| CooperativeRunner.run(m),
                BatchSize::PerIteration,
            )
        });
        for workers in [1, 2] {
            let runner = ThreadedRunner::new(workers);
            g.bench_function(format!("threaded_{workers}"), |b| {
                b.iter_batched_ref(|| machine(&program, auth, sessions), |m| runner.run(m), BatchSize::PerIteration)
            });
        }
        g.finish();
    }
}

criterion_group!(benches, parallel_sessions);
criterion_main!(benches);
