//! Runner parity: the threaded runner writes the same replay bytes as the
//! cooperative runner at every worker count, for every fixture program, several
//! seeds and several loaded instances; re-executing a replay from its recorded
//! host answers reproduces it byte for byte; and the same holds for random
//! well-formed choreographies.
//!
//! Heavier soak runs (more seeds, more instances) are `#[ignore]`d; see
//! `docs/ci.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use canon::VerifiedProgram;
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Limits, Machine, RunOutcome, Runner, SeededHost, ThreadedRunner};
use proptest::prelude::*;

/// Worker counts the threaded runner is checked at.
const WORKERS: [usize; 5] = [1, 2, 3, 4, 8];
/// Run seeds (instance seeds derive from them as in `canon run --sessions`).
const SEEDS: [u64; 3] = [0, 7, 0xdead_beef];
/// Loaded instances (groups) per run.
const INSTANCES: [u32; 2] = [1, 7];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Host seed of instance `i`: the same derivation as `canon run --sessions`.
fn instance_seed(seed: u64, i: u32) -> u64 {
    seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A small round budget: fixtures that loop forever stop as budget-exhausted,
/// which is a replay like any other.
fn config(seed: u64) -> Config {
    Config { limits: Limits { max_rounds: 400, ..Limits::default() }, seed, ..Config::default() }
}

fn run(program: &Arc<VerifiedProgram>, seed: u64, instances: u32, runner: &dyn Runner) -> RunOutcome {
    let mut machine = Machine::new(config(seed));
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..instances {
        machine.load(program, Box::new(SeededHost::new(instance_seed(seed, i)))).expect("one program per machine");
    }
    runner.run(&mut machine)
}

/// The replay of `instances` lazily loaded groups, streamed by `runner`
/// into a sink (the path `canon run --sessions` takes).
fn run_streamed(program: &Arc<VerifiedProgram>, seed: u64, instances: u32, runner: &dyn Runner) -> Vec<u8> {
    let mut machine = Machine::new(config(seed));
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    let make: Box<canon_runtime::HostFactory> = Box::new(move |i| Box::new(SeededHost::new(instance_seed(seed, i))));
    machine.load_lazy(program, instances, make, &[]).expect("one program per machine");
    let mut sink = Vec::new();
    runner.run_to(&mut machine, &mut sink, &mut |_| {}, &mut |_| {}).expect("writing to memory does not fail");
    sink
}

/// Describes how two replays differ: the first divergent event, rendered.
fn divergence(a: &[u8], b: &[u8]) -> String {
    match (Replay::decode(a), Replay::decode(b)) {
        (Ok(ra), Ok(rb)) => canon_replay::diff(&ra, &rb).render_text(),
        (ra, rb) => format!("unreadable replay: {:?} / {:?}", ra.err(), rb.err()),
    }
}

/// A program under test, named for failure messages.
struct Fixture {
    name: String,
    program: Arc<VerifiedProgram>,
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
}

/// Every `fixtures/asm/*.casm`, assembled and verified.
fn asm_fixtures() -> Vec<Fixture> {
    let dir = repo_root().join("fixtures/asm");
    let mut out = Vec::new();
    for path in sorted_entries(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "casm")) {
        let src = std::fs::read_to_string(&path).expect("fixture is readable");
        let module = canon_bytecode::assemble(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let program = canon_bytecode::verify(module).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push(Fixture { name: relative(&path), program: Arc::new(program) });
    }
    out
}

/// `path` relative to the repository root, for messages.
fn relative(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}

fn is_choreography(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "canon" || e == "scr" || e == "nuscr")
}

/// Choreography files under `fixtures/`, except the deliberately ill-formed
/// ones (a directory named `ill_formed`, or a file with an expected
/// diagnostics snapshot `.diag.snap` beside it).
fn choreography_paths(dir: &Path, out: &mut Vec<PathBuf>) {
    for path in sorted_entries(dir) {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "ill_formed") {
                choreography_paths(&path, out);
            }
        } else if is_choreography(&path) && !path.with_extension("diag.snap").exists() {
            out.push(path);
        }
    }
}

/// Choreographies written here, so the harness covers choices, loops,
/// multicast, effects and timeouts whatever `fixtures/` holds.
const INLINE_CHOREOGRAPHIES: &[(&str, &str)] = &[
    (
        "inline/two_buyer.canon",
        "global protocol TwoBuyer(role Buyer1, role Buyer2, role Seller) {
           Title(String) from Buyer1 to Seller;
           Quote(Int) from Seller to Buyer1, Buyer2;
           Share(x: Int) from Buyer1 to Buyer2;
           choice at Buyer2 {
             Accept(String) from Buyer2 to Seller;
             invoke Charge at Seller;
             Receipt(String) from Seller to Buyer2 within 5;
           } or {
             Reject() from Buyer2 to Seller;
           }
         }",
    ),
    (
        "inline/loop.canon",
        "global protocol Loop(role A, role B, role C) {
           rec L {
             Work(Int) from A to B;
             choice at B {
               More() from B to A; Again() from B to C; Note(Bool) from C to A; continue L;
             } or {
               Stop() from B to A; Done() from B to C;
             }
           }
           Bye(String, Bool) from C to A;
         }",
    ),
];

fn choreography_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for (name, src) in INLINE_CHOREOGRAPHIES {
        let program = canon::compile_source(name, src, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push(Fixture { name: (*name).to_owned(), program: Arc::new(program) });
    }
    let mut paths = Vec::new();
    choreography_paths(&repo_root().join("fixtures"), &mut paths);
    for path in paths {
        let program = canon::compile_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push(Fixture { name: relative(&path), program: Arc::new(program) });
    }
    out
}

/// The cooperative bytes of `(fixture, seed, instances)`, checked against the
/// threaded runner at every worker count.
fn check_parity(f: &Fixture, seed: u64, instances: u32) -> Vec<u8> {
    let reference = run(&f.program, seed, instances, &CooperativeRunner);
    let bytes = reference.replay_bytes();
    for workers in WORKERS {
        let threaded = run(&f.program, seed, instances, &ThreadedRunner::new(workers));
        assert!(
            threaded.replay_bytes() == bytes,
            "{}: seed {seed}, {instances} instances: threaded({workers}) differs from cooperative:\n{}",
            f.name,
            divergence(bytes, threaded.replay_bytes())
        );
        assert_eq!(threaded.groups, reference.groups, "{}: group reports differ at {workers} workers", f.name);
        let streamed = run_streamed(&f.program, seed, instances, &ThreadedRunner::new(workers));
        assert!(streamed == bytes, "{}: lazily loaded, streamed threaded({workers}) differs", f.name);
    }
    let streamed = run_streamed(&f.program, seed, instances, &CooperativeRunner);
    assert!(streamed == bytes, "{}: lazily loaded, streamed cooperative differs", f.name);
    bytes.to_vec()
}

/// Re-execution from the recorded answers reproduces the replay byte for byte.
fn check_reexecution(f: &Fixture, seed: u64, bytes: &[u8]) {
    let recorded = Replay::decode(bytes).unwrap_or_else(|e| panic!("{}: unreadable replay: {e}", f.name));
    let again = canon_runtime::reexecute(&f.program, &recorded)
        .unwrap_or_else(|e| panic!("{}: re-execution failed to start: {e}", f.name));
    let again = again.to_bytes();
    assert!(again == bytes, "{}: seed {seed}: re-execution diverges:\n{}", f.name, divergence(bytes, &again));
    let reader = canon_replay::ReplayReader::new(bytes).expect("readable");
    let streamed = canon_runtime::reexecute_reader(&f.program, reader, &mut |_, _| true).expect("re-executes");
    assert!(
        streamed.diff.is_identical(),
        "{}: streamed re-execution diverges:\n{}",
        f.name,
        streamed.diff.render_text()
    );
    assert_eq!(streamed.recorded.map(|e| e.events), Some(recorded.events.len() as u64));
}

fn check_all(fixtures: &[Fixture]) {
    assert!(!fixtures.is_empty(), "no fixtures found");
    for f in fixtures {
        let mut distinct = Vec::new();
        for seed in SEEDS {
            for instances in INSTANCES {
                let bytes = check_parity(f, seed, instances);
                check_reexecution(f, seed, &bytes);
                distinct.push(bytes);
            }
        }
        // The harness is not comparing empty replays: loading more instances
        // always records more events.
        assert!(distinct[1].len() > distinct[0].len(), "{}: 7 instances recorded no more than 1", f.name);
    }
}

#[test]
fn asm_fixtures_replay_identically_at_every_worker_count() {
    let fixtures = asm_fixtures();
    assert!(fixtures.len() >= 8, "expected the fixtures/asm programs, found {}", fixtures.len());
    check_all(&fixtures);
}

#[test]
fn choreographies_replay_identically_at_every_worker_count() {
    check_all(&choreography_fixtures());
}

/// Seeds matter: the seeded host's choices differ between seeds, so a
/// choice-heavy program does not record the same replay for every seed (a
/// runner that ignored the host would pass parity trivially).
#[test]
fn seeds_change_the_replay_of_a_program_with_choices() {
    let (name, src) = INLINE_CHOREOGRAPHIES[1];
    let program = Arc::new(canon::compile_source(name, src, None).expect("inline choreography compiles"));
    let roots: Vec<[u8; 32]> = (0..8).map(|seed| run(&program, seed, 3, &CooperativeRunner).root()).collect();
    let mut unique = roots.clone();
    unique.sort();
    unique.dedup();
    assert!(unique.len() > 1, "eight seeds, one replay root");
}

/// The same multi-instance run, repeated: thread interleavings differ from
/// run to run, the bytes must not.
#[test]
fn threaded_runner_is_stable_over_fifty_runs() {
    let (name, src) = INLINE_CHOREOGRAPHIES[0];
    let program = Arc::new(canon::compile_source(name, src, None).expect("inline choreography compiles"));
    let reference = run(&program, 11, 64, &CooperativeRunner);
    assert_eq!(reference.groups.len(), 64);
    for attempt in 0..50 {
        let threaded = run(&program, 11, 64, &ThreadedRunner::new(4));
        assert!(
            threaded.replay_bytes() == reference.replay_bytes(),
            "attempt {attempt}: threaded(4) differs:\n{}",
            divergence(reference.replay_bytes(), threaded.replay_bytes())
        );
    }
}

/// Soak: many seeds and instance counts over every fixture. Run with
/// `cargo test -p canon-conformance --release --test parity -- --ignored`;
/// `CANON_SOAK_SEEDS=N` sets the number of seeds (default 64).
#[test]
#[ignore = "soak run; see docs/ci.md"]
fn soak_parity_over_many_seeds() {
    let seeds: u64 = std::env::var("CANON_SOAK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let mut fixtures = asm_fixtures();
    fixtures.extend(choreography_fixtures());
    for f in &fixtures {
        for seed in 0..seeds {
            for instances in [1, 16, 100] {
                let bytes = check_parity(f, seed, instances);
                check_reexecution(f, seed, &bytes);
            }
        }
    }
}

mod generated {
    //! Random well-formed choreographies, written as source text so the whole
    //! front end (parse, check, project, lower, verify) is in the loop.

    const ROLES: [&str; 4] = ["A", "B", "C", "D"];
    const PAYLOADS: [&str; 4] = ["", "Int", "String", "x: Int, Bool"];

    /// Builds a protocol among `k` roles from a byte stream (so proptest
    /// shrinks bytes): messages, effects, choices whose subject sends first in
    /// every branch and tells a subset of third parties (the same message in
    /// every branch, or a branch-specific label), and loops whose subject
    /// tells every loop member whether to go again or exit.
    pub struct Gen<'a> {
        bytes: &'a [u8],
        pos: usize,
        k: usize,
        fresh: u32,
        used: [bool; 4],
        out: String,
    }

    impl<'a> Gen<'a> {
        pub fn new(k: usize, bytes: &'a [u8]) -> Self {
            Gen { bytes, pos: 0, k: k.clamp(2, 4), fresh: 0, used: [false; 4], out: String::new() }
        }

        fn byte(&mut self) -> u8 {
            let b = self.bytes.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            b
        }

        fn pick(&mut self, among: &[usize]) -> usize {
            among[usize::from(self.byte()) % among.len()]
        }

        fn other(&mut self, not: usize, among: &[usize]) -> usize {
            let rest: Vec<usize> = among.iter().copied().filter(|&r| r != not).collect();
            self.pick(&rest)
        }

        fn label(&mut self, prefix: &str) -> String {
            self.fresh += 1;
            format!("{prefix}{}", self.fresh)
        }

        fn line(&mut self, indent: usize, text: &str) {
            self.out.push_str(&"  ".repeat(indent));
            self.out.push_str(text);
            self.out.push('\n');
        }

        fn message(&mut self, indent: usize, label: &str, from: usize, to: usize, timeout: bool) {
            self.used[from] = true;
            self.used[to] = true;
            let payload = PAYLOADS[usize::from(self.byte()) % PAYLOADS.len()];
            let within = if timeout { " within 4" } else { "" };
            self.line(indent, &format!("{label}({payload}) from {} to {}{within};", ROLES[from], ROLES[to]));
        }

        fn fresh_message(&mut self, indent: usize, prefix: &str, among: &[usize]) {
            let from = self.pick(among);
            let to = self.other(from, among);
            let label = self.label(prefix);
            let timeout = self.byte().is_multiple_of(8);
            self.message(indent, &label, from, to, timeout);
        }

        /// A sequence of one to four statements. Statements after a choice
        /// follow every branch, so a sequence of choices nests.
        fn block(&mut self, indent: usize) {
            let all: Vec<usize> = (0..self.k).collect();
            for _ in 0..1 + self.byte() % 4 {
                match self.byte() % 7 {
                    6 => self.timed(indent),
                    0..=2 => self.fresh_message(indent, "M", &all),
                    3 => {
                        let role = self.pick(&all);
                        self.used[role] = true;
                        let effect = self.label("Effect");
                        self.line(indent, &format!("invoke {effect} at {};", ROLES[role]));
                    }
                    4 => self.choice(indent),
                    _ => self.rec(indent),
                }
            }
        }

        /// `Sync from f to t; [Delay from g to f;] Timed from f to t within N
        /// on timeout { t tells the others `Late`; messages and effects among
        /// every role but f }`, then `t` tells the others `Got`: the rest of
        /// the protocol follows on the normal path only. `Sync` leaves `f`
        /// owing nobody anything when `t` starts waiting (E6117); `Delay`
        /// lets the deadline pass at run time.
        fn timed(&mut self, indent: usize) {
            let all: Vec<usize> = (0..self.k).collect();
            let f = self.pick(&all);
            let t = self.other(f, &all);
            let others: Vec<usize> = all.iter().copied().filter(|&r| r != f && r != t).collect();
            let sync = self.label("Sync");
            self.message(indent, &sync, f, t, false);
            if !self.byte().is_multiple_of(4) {
                let g = others.first().copied().unwrap_or(t);
                let delay = self.label("Delay");
                self.message(indent, &delay, g, f, false);
            }
            let label = self.label("Timed");
            self.used[f] = true;
            self.used[t] = true;
            let payload = PAYLOADS[usize::from(self.byte()) % PAYLOADS.len()];
            let ticks = 1 + self.byte() % 3;
            self.line(
                indent,
                &format!("{label}({payload}) from {} to {} within {ticks} on timeout {{", ROLES[f], ROLES[t]),
            );
            for &x in &others {
                let late = self.label("Late");
                self.message(indent + 1, &late, t, x, false);
            }
            let inside: Vec<usize> = all.iter().copied().filter(|&r| r != f).collect();
            for _ in 0..self.byte() % 3 {
                if inside.len() >= 2 && !self.byte().is_multiple_of(3) {
                    self.fresh_message(indent + 1, "Branch", &inside);
                } else {
                    let role = self.pick(&inside);
                    let effect = self.label("Effect");
                    self.line(indent + 1, &format!("invoke {effect} at {};", ROLES[role]));
                }
            }
            self.line(indent, "}");
            for &x in &others {
                let got = self.label("Got");
                self.message(indent, &got, t, x, false);
            }
        }

        /// Branches are straight-line: third parties that are not told act
        /// only after the choice, identically in every branch.
        fn choice(&mut self, indent: usize) {
            let all: Vec<usize> = (0..self.k).collect();
            let s = self.pick(&all);
            let r = self.other(s, &all);
            // Each third party: told or not, and if told, the same `Note` in
            // every branch or a branch-specific label.
            let mut told = Vec::new();
            for t in (0..self.k).filter(|&t| t != s && t != r) {
                match self.byte() % 3 {
                    0 => {}
                    n => told.push((t, n == 1)),
                }
            }
            self.line(indent, &format!("choice at {} {{", ROLES[s]));
            for branch in 0..2 + self.byte() % 2 {
                if branch > 0 {
                    self.line(indent, "} or {");
                }
                let pick = self.label("Pick");
                self.message(indent + 1, &pick, s, r, false);
                for _ in 0..self.byte() % 3 {
                    self.fresh_message(indent + 1, "Inner", &[s, r]);
                }
                for &(t, same) in &told {
                    let label = if same { format!("Note{t}") } else { self.label("Tell") };
                    // `Note` carries no payload so every branch sends the identical message.
                    if same {
                        self.used[t] = true;
                        self.line(indent + 1, &format!("{label}() from {} to {};", ROLES[s], ROLES[t]));
                    } else {
                        self.message(indent + 1, &label, s, t, false);
                    }
                }
            }
            self.line(indent, "}");
        }

        /// Only loop members act inside the loop; the exit branch tells every
        /// role, so each knows when the loop ends.
        fn rec(&mut self, indent: usize) {
            let all: Vec<usize> = (0..self.k).collect();
            let var = self.label("Loop");
            let s = self.pick(&all);
            let r = self.other(s, &all);
            let mut members = vec![s, r];
            members.extend((0..self.k).filter(|&t| t != s && t != r && self.byte().is_multiple_of(2)));
            self.line(indent, &format!("rec {var} {{"));
            for _ in 0..self.byte() % 3 {
                self.fresh_message(indent + 1, "Step", &members);
            }
            self.line(indent + 1, &format!("choice at {} {{", ROLES[s]));
            for (prefix, again) in [("Again", true), ("Exit", false)] {
                let label = self.label(prefix);
                self.message(indent + 2, &label, s, r, false);
                for &t in &members[2..] {
                    let tell = self.label(if again { "Again" } else { "Exit" });
                    self.message(indent + 2, &tell, s, t, false);
                }
                // Roles outside the loop wait to be told it is over before
                // they act again (canon refuses them acting first: E6115).
                if !again {
                    for t in (0..self.k).filter(|t| !members.contains(t)) {
                        let over = self.label("Over");
                        self.message(indent + 2, &over, s, t, false);
                    }
                }
                if again {
                    self.line(indent + 2, &format!("continue {var};"));
                    self.line(indent + 1, "} or {");
                }
            }
            self.line(indent + 1, "}");
            self.line(indent, "}");
        }

        /// The protocol's source text.
        pub fn protocol(mut self) -> String {
            self.out.clear();
            self.message(1, "Start", 0, 1, false);
            self.block(1);
            let body = std::mem::take(&mut self.out);
            let roles: Vec<String> =
                ROLES.iter().zip(self.used).filter(|(_, u)| *u).map(|(r, _)| format!("role {r}")).collect();
            format!("global protocol Random({}) {{\n{body}}}\n", roles.join(", "))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Source text through the whole front end.
    #[test]
    fn random_choreographies_replay_identically(k in 2usize..=4, bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let src = generated::Gen::new(k, &bytes).protocol();
        let program = canon::compile_source("random.canon", &src, None)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{src}")))?;
        check_random(&Arc::new(program), &src)?;
    }

    /// The shared generator of global types (`canon_types::testgen`: timeouts,
    /// effects, nested choices and loops), compiled directly.
    #[test]
    fn random_global_types_replay_identically(k in 2usize..=4, bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let protocol = canon_types::testgen::protocol(k, &bytes);
        let shown = format!("{protocol:#?}");
        let module = canon_choreo::compile_protocol(&protocol, &[]).map_err(|e| TestCaseError::fail(format!("{e}\n{shown}")))?;
        let program = canon_bytecode::verify(module).map_err(|e| TestCaseError::fail(format!("{e}\n{shown}")))?;
        check_random(&Arc::new(program), &shown)?;
    }
}

/// Runs `program` cooperatively and threaded (2 and 3 workers) for a few
/// seeds with three instances, and re-executes each cooperative replay.
fn check_random(program: &Arc<VerifiedProgram>, src: &str) -> Result<(), TestCaseError> {
    for seed in [1u64, 2, 3] {
        let reference = run(program, seed, 3, &CooperativeRunner);
        for workers in [2, 3] {
            let threaded = run(program, seed, 3, &ThreadedRunner::new(workers));
            prop_assert!(
                threaded.replay_bytes() == reference.replay_bytes(),
                "seed {seed}, threaded({workers}):\n{}\n{src}",
                divergence(reference.replay_bytes(), threaded.replay_bytes())
            );
        }
        let recorded = Replay::decode(reference.replay_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = canon_runtime::reexecute(program, &recorded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(again.to_bytes() == reference.replay_bytes(), "seed {seed}: re-execution diverges\n{src}");
    }
    Ok(())
}

/// Signing (the default `Auth::Ed25519`) in every replay-consumption mode,
/// with and without a transport fault injected into each instance's first
/// message: the threaded runner writes the cooperative runner's bytes at every
/// worker count, and the replay re-executes (added with issue #7).
#[test]
fn signed_runs_replay_identically_in_every_replay_mode() {
    use canon_machine::{Auth, Injection, ReplayMode};
    let fixtures = asm_fixtures();
    let modes = [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier];
    let injections = [None, Some(Injection::Duplicate), Some(Injection::Reorder), Some(Injection::CorruptPayload)];
    for f in &fixtures {
        for replay_mode in modes {
            for inject in injections {
                let config = Config { auth: Auth::Ed25519, replay_mode, ..config(7) };
                let run_with = |runner: &dyn Runner| {
                    let mut machine = Machine::new(config);
                    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
                    for i in 0..3 {
                        let g = machine.load(&f.program, Box::new(SeededHost::new(instance_seed(7, i)))).expect("load");
                        if let (Some(group), Some(inj)) = (machine.group_mut(g), inject) {
                            group.inject(0, inj);
                        }
                    }
                    runner.run(&mut machine)
                };
                let reference = run_with(&CooperativeRunner);
                for workers in [1, 2, 3] {
                    let threaded = run_with(&ThreadedRunner::new(workers));
                    assert!(
                        threaded.replay_bytes() == reference.replay_bytes(),
                        "{} {replay_mode:?} {inject:?} threaded({workers}):\n{}",
                        f.name,
                        divergence(reference.replay_bytes(), threaded.replay_bytes())
                    );
                }
                let recorded = Replay::decode(reference.replay_bytes()).expect("replay decodes");
                let run =
                    canon_machine::run_identity(&recorded.header.program_digest, &recorded.header.config.digest());
                canon_machine::verify_signatures(&run, &recorded.events).expect("signatures verify");
                canon_machine::cross_check(&run, &recorded.header.config, &recorded.events)
                    .expect("receives match their sends");
                let again = canon_runtime::reexecute(&f.program, &recorded).expect("re-execution starts");
                assert!(again == recorded, "{} {replay_mode:?} {inject:?}: re-execution diverges", f.name);
            }
        }
    }
}

/// Owned instances with host-side ownership operations (transfers, rejected
/// stale handles, witnesses, receipts, attenuation, owner death; all
/// recorded in the replay), over every asm fixture (owner death, delegation,
/// draining and timeout witnesses included): cooperative and threaded runs
/// give the same bytes.
#[test]
fn owned_instances_with_transfers_replay_identically_at_every_worker_count() {
    let owned_run = |program: &Arc<VerifiedProgram>, runner: &dyn Runner| {
        let mut machine = Machine::new(config(5));
        for i in 0..6u32 {
            let host = Box::new(SeededHost::new(instance_seed(5, i)));
            let (group, owner) = machine.load_choreography_owned(program, host, "host").expect("one program");
            match i % 3 {
                0 => {
                    let next = machine.transfer(group, &owner, "next").expect("the live handle transfers");
                    assert!(machine.transfer(group, &owner, "stale").is_err());
                    assert!(machine.group_mut_as(group, &next).is_ok());
                }
                1 => {
                    // Witnesses (consumed, reused), a rolled-back receipt, an attenuation.
                    let w = machine.issue_readiness(&owner, "check").expect("the owner issues");
                    machine.consume(&w).expect("a fresh witness is consumed");
                    assert!(machine.consume(&w).is_err());
                    let r = machine.begin_transfer(&owner, "next").expect("the live handle stages");
                    machine.rollback(&r).expect("the pending receipt rolls back");
                    let _ = machine.issue_readiness(&owner, "left");
                    let narrow = machine.attenuate(&owner, canon_machine::Scope::Roles(vec!["A".into()]));
                    assert!(narrow.is_ok());
                }
                _ => {
                    // A round as the owner, then the owner dies (its session, if open, faults).
                    machine.group_mut_as(group, &owner).expect("the owner steps").run_round();
                    let _ = machine.owner_died(&owner, "gone");
                }
            }
        }
        runner.run(&mut machine)
    };
    for f in asm_fixtures() {
        let reference = owned_run(&f.program, &CooperativeRunner);
        let bytes = reference.replay_bytes();
        // The recorded ownership operations re-execute to the same events.
        let recorded = canon_replay::Replay::decode(bytes).expect("the replay decodes");
        let again = canon_runtime::reexecute(&f.program, &recorded).expect("re-execution starts");
        assert!(again == recorded, "{}: re-execution of the owned run diverges", f.name);
        for workers in [1, 2, 3] {
            let threaded = owned_run(&f.program, &ThreadedRunner::new(workers));
            assert!(
                threaded.replay_bytes() == bytes,
                "{} with {workers} workers: {}",
                f.name,
                divergence(bytes, threaded.replay_bytes())
            );
        }
    }
}

/// The source-text generator writes timeout branches (and their sources
/// compile), so the random choreographies above cover them.
#[test]
fn the_source_generator_writes_timeout_branches() {
    let mut with_branch = 0;
    for seed in 0u8..64 {
        let bytes: Vec<u8> = (0u8..80).map(|i| i.wrapping_mul(seed.wrapping_add(13)).wrapping_add(seed)).collect();
        let src = generated::Gen::new(2 + usize::from(seed % 3), &bytes).protocol();
        if src.contains("on timeout {") {
            with_branch += 1;
            if let Err(e) = canon::compile_source("random.canon", &src, None) {
                panic!("{e}\n{src}");
            }
        }
    }
    assert!(with_branch >= 4, "only {with_branch} of 64 sources have a timeout branch");
}
