//! The example of `bytecode-spec/checkpoint.md` decodes to what the spec
//! says, and is exactly what the machine writes for it; and every kind of
//! damaged, foreign or hostile checkpoint is refused with its typed error.

use std::path::Path;
use std::sync::Arc;

use canon_bytecode::{VerifiedProgram, decode, verify};
use canon_machine::{Auth, Config, KeySource, ReplayMode};
use canon_runtime::{
    CHECKPOINT_HEADER_BYTES, Checkpoint, CheckpointError, CooperativeRunner, Machine, Runner, SeededHost, Segment,
};
use canon_types::ErrorCode;
use sha2::{Digest, Sha256};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root")
}

fn program(name: &str) -> Arc<VerifiedProgram> {
    let bytes = std::fs::read(root().join("fixtures/asm").join(name)).expect("fixture");
    Arc::new(verify(decode(&bytes).expect("decodes")).expect("verifies"))
}

/// The spec's example: `choice.cbc`, two lazily loaded instances, seed 1,
/// unsigned, checkpointed before the run.
fn example_machine() -> Machine {
    let config = Config { seed: 1, auth: Auth::None, replay_mode: ReplayMode::Off, ..Config::default() };
    let mut m = Machine::new(config);
    m.load_lazy(&program("choice.cbc"), 2, Box::new(|_| Box::new(SeededHost::new(1))), &[]).expect("loads");
    m
}

fn spec_example_hex() -> Vec<u8> {
    let spec = std::fs::read_to_string(root().join("bytecode-spec/checkpoint.md")).expect("spec");
    let start = spec.find("<!-- example:begin -->").expect("example begin marker");
    let end = spec.find("<!-- example:end -->").expect("example end marker");
    let hex: String = spec[start..end]
        .lines()
        .filter(|l| l.starts_with("    ") || l.chars().next().is_some_and(|c| c.is_ascii_hexdigit()))
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

/// With `CANON_BLESS=1`, rewrites the spec's example with `bytes` (16 a
/// line); the prose around it (lengths, digests) is updated by hand.
fn bless_spec_example(bytes: &[u8]) {
    let path = root().join("bytecode-spec/checkpoint.md");
    let spec = std::fs::read_to_string(&path).expect("spec");
    let (begin, end) = ("<!-- example:begin -->\n", "<!-- example:end -->");
    let start = spec.find(begin).expect("example begin marker") + begin.len();
    let stop = spec.find(end).expect("example end marker");
    let lines: String = bytes
        .chunks(16)
        .map(|l| format!("    {}\n", l.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")))
        .collect();
    std::fs::write(&path, format!("{}{lines}{}", &spec[..start], &spec[stop..])).expect("write the spec");
}

#[test]
fn spec_example_is_what_the_machine_writes_and_decodes() {
    let written = example_machine().checkpoint().expect("checkpoints").to_bytes();
    if std::env::var_os("CANON_BLESS").is_some_and(|v| v == "1") {
        bless_spec_example(&written);
    }
    let spec = spec_example_hex();
    assert_eq!(spec, written, "bytecode-spec/checkpoint.md's example is not what the machine writes");
    let ck = Checkpoint::from_bytes(&spec).expect("the example decodes");
    let h = &ck.header;
    assert_eq!(h.program_digest, program("choice.cbc").digest());
    assert_eq!(h.config_digest, ck.config().expect("config").digest());
    assert_eq!((h.next_group, h.replay_bytes, h.blocks, h.events), (0, 225, 0, 0));
    assert_eq!(h.body_len as usize, spec.len() - CHECKPOINT_HEADER_BYTES);
    assert_eq!(Sha256::digest(&spec[CHECKPOINT_HEADER_BYTES..]).as_slice(), h.body_digest);
    assert_eq!(ck.group_count(), Ok(2));
    // Restored and run, it gives the uninterrupted run's replay.
    let whole = CooperativeRunner.run(&mut example_machine()).into_replay_bytes();
    let mut m =
        Machine::restore(&program("choice.cbc"), &ck, Box::new(|_| Box::new(SeededHost::new(1))), KeySource::None)
            .expect("restores");
    let mut out = whole[..225].to_vec();
    CooperativeRunner.run_to(&mut m, &mut out, &mut |_| {}, &mut |_| {}).expect("runs");
    assert_eq!(out, whole);
}

/// A checkpoint taken inside a run (group 0 part-run), for the refusal tests.
fn mid_run() -> (Vec<u8>, Vec<u8>) {
    let mut m = example_machine();
    let mut out = Vec::new();
    let seg = CooperativeRunner.run_segment(&mut m, &mut out, &mut |_| {}, &mut |_| {}, Some(1)).expect("runs");
    assert_eq!(seg, Segment::Paused);
    (m.checkpoint().expect("checkpoints").to_bytes(), out)
}

fn refused(bytes: &[u8]) -> CheckpointError {
    Checkpoint::from_bytes(bytes).expect_err("refused")
}

fn with_body_digest(mut bytes: Vec<u8>) -> Vec<u8> {
    let d: [u8; 32] = Sha256::digest(&bytes[CHECKPOINT_HEADER_BYTES..]).into();
    bytes[144..176].copy_from_slice(&d);
    bytes
}

#[test]
fn every_damaged_checkpoint_is_refused_with_what_is_wrong() {
    let (good, _) = mid_run();
    assert!(Checkpoint::from_bytes(&good).is_ok());
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(refused(&b), CheckpointError::BadMagic);
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(refused(&b), CheckpointError::UnsupportedVersion { found: 2 });
    let mut b = good.clone();
    b[6] = 1;
    assert_eq!(refused(&b), CheckpointError::UnsupportedFlags { flags: 1 });
    // Truncated anywhere: in the magic, the header, the body.
    for cut in [2, 100, CHECKPOINT_HEADER_BYTES, good.len() - 1] {
        assert!(matches!(refused(&good[..cut]), CheckpointError::Truncated { .. }), "cut at {cut}");
    }
    let mut b = good.clone();
    b.push(0);
    assert_eq!(refused(&b), CheckpointError::TrailingBytes { extra: 1 });
    // A flipped body byte: the digest.
    let mut b = good.clone();
    let at = good.len() - 3;
    b[at] ^= 1;
    assert_eq!(refused(&b), CheckpointError::BodyDigestMismatch);
    // A header copy that disagrees with the body names the field.
    for (at, field) in [(72, "next_group"), (80, "replay_bytes"), (88, "blocks"), (96, "events"), (104, "chain")] {
        let mut b = good.clone();
        b[at] ^= 1;
        assert_eq!(refused(&b), CheckpointError::HeaderMismatch { field }, "byte {at}");
    }
    let mut b = good.clone();
    b[40] ^= 1;
    assert_eq!(refused(&b), CheckpointError::ConfigMismatch);
    // Every single-byte flip anywhere is refused.
    for at in 0..good.len() {
        let mut b = good.clone();
        b[at] ^= 0x40;
        if (8..40).contains(&at) {
            // The program digest is checked against the program at restore.
            let ck = Checkpoint::from_bytes(&b).expect("decodes");
            let e = Machine::restore(
                &program("choice.cbc"),
                &ck,
                Box::new(|_| Box::new(SeededHost::new(1))),
                KeySource::None,
            )
            .err()
            .expect("another program");
            assert_eq!(e.code(), 5110);
        } else {
            assert!(Checkpoint::from_bytes(&b).is_err(), "flip at byte {at} accepted");
        }
    }
}

#[test]
fn another_program_or_host_is_refused() {
    let (good, _) = mid_run();
    let ck = Checkpoint::from_bytes(&good).expect("decodes");
    let e =
        Machine::restore(&program("deadlock.cbc"), &ck, Box::new(|_| Box::new(SeededHost::new(1))), KeySource::None)
            .err()
            .expect("refused");
    assert!(matches!(e, CheckpointError::ProgramMismatch { .. }), "{e}");
    // The saved host state is the seeded host's seed: another seed refuses it.
    let e = Machine::restore(&program("choice.cbc"), &ck, Box::new(|_| Box::new(SeededHost::new(2))), KeySource::None)
        .err()
        .expect("refused");
    assert!(matches!(e, CheckpointError::HostRestore { group: 0, .. }), "{e}");
}

/// A host that keeps state it cannot save.
struct Opaque;

impl canon_machine::Host for Opaque {
    fn produce(&mut self, _: &canon_machine::HostCtx<'_>, _: canon_types::SymId) -> canon_types::Value {
        canon_types::Value::Unit
    }
    fn accept(&mut self, _: &canon_machine::HostCtx<'_>, _: canon_types::SymId, _: &canon_types::Value) -> bool {
        true
    }
    fn choose(&mut self, _: &canon_machine::HostCtx<'_>, _: &[canon_types::SymId]) -> usize {
        0
    }
    fn invoke(
        &mut self,
        _: &canon_machine::HostCtx<'_>,
        _: canon_types::SymId,
        arg: &canon_types::Value,
    ) -> canon_types::Value {
        arg.clone()
    }
}

#[test]
fn a_host_that_cannot_save_is_not_checkpointed() {
    let mut m = Machine::new(Config { auth: Auth::None, ..Config::default() });
    m.load(&program("choice.cbc"), Box::new(Opaque)).expect("loads");
    let e = m.checkpoint().expect_err("refused");
    assert_eq!(
        e,
        CheckpointError::HostCannotSave { group: 0, reason: "the host cannot save or restore its state".into() }
    );
    assert_eq!(e.code(), 5113);
}

#[test]
fn hostile_bodies_are_refused_by_named_limits() {
    let (good, _) = mid_run();
    // A body length above the limit is refused before anything is read.
    let mut b = good.clone();
    b[136..144].copy_from_slice(&(canon_runtime::MAX_CHECKPOINT_BODY_BYTES + 1).to_le_bytes());
    assert_eq!(
        refused(&b),
        CheckpointError::TooLarge {
            len: canon_runtime::MAX_CHECKPOINT_BODY_BYTES + 1,
            limit: canon_runtime::MAX_CHECKPOINT_BODY_BYTES
        }
    );
    // A huge length prefix inside the body (the configuration's byte length,
    // the body's first field), with a valid digest: refused, not allocated.
    let mut b = good.clone();
    b[CHECKPOINT_HEADER_BYTES..CHECKPOINT_HEADER_BYTES + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(refused(&with_body_digest(b)), CheckpointError::BadBody { .. }));
    // Deep nesting: a value nested past MAX_VALUE_DEPTH, where the body holds a
    // register value, is refused by the value decoder's depth limit.
    let mut deep = Vec::new();
    for _ in 0..=canon_types::value::MAX_VALUE_DEPTH {
        deep.extend_from_slice(&[0x07, 1, 0, 0, 0]);
    }
    deep.push(0x00);
    let e = canon_types::Value::decode(&deep).expect_err("too deep");
    assert!(matches!(e, canon_types::value::ValueDecodeError::TooDeep { .. }));
    let as_body: Result<(canon_types::Value, usize), _> = bincode::serde::decode_from_slice(
        &[&(deep.len() as u64).to_le_bytes()[..], &deep].concat(),
        bincode::config::standard().with_fixed_int_encoding(),
    );
    assert!(as_body.is_err(), "a too-deep value decodes through serde");
}

/// The seeded host, except that in group `panic_in` every host call panics.
struct Panicky {
    inner: SeededHost,
    panic_in: u32,
}

impl Panicky {
    fn check(&self, ctx: &canon_machine::HostCtx<'_>) {
        assert!(ctx.group != self.panic_in, "the handler of group {} failed", ctx.group);
    }
}

impl canon_machine::Host for Panicky {
    fn produce(&mut self, ctx: &canon_machine::HostCtx<'_>, label: canon_types::SymId) -> canon_types::Value {
        self.check(ctx);
        self.inner.produce(ctx, label)
    }
    fn accept(
        &mut self,
        ctx: &canon_machine::HostCtx<'_>,
        label: canon_types::SymId,
        payload: &canon_types::Value,
    ) -> bool {
        self.check(ctx);
        self.inner.accept(ctx, label, payload)
    }
    fn choose(&mut self, ctx: &canon_machine::HostCtx<'_>, labels: &[canon_types::SymId]) -> usize {
        self.check(ctx);
        self.inner.choose(ctx, labels)
    }
    fn invoke(
        &mut self,
        ctx: &canon_machine::HostCtx<'_>,
        effect: canon_types::SymId,
        arg: &canon_types::Value,
    ) -> canon_types::Value {
        self.check(ctx);
        self.inner.invoke(ctx, effect, arg)
    }
    fn save_state(&self) -> Result<Vec<u8>, canon_machine::HostStateError> {
        self.inner.save_state()
    }
    fn restore_state(&mut self, state: &[u8]) -> Result<(), canon_machine::HostStateError> {
        self.inner.restore_state(state)
    }
}

/// A handler panic on a worker (threaded) or on the calling thread
/// (cooperative) stops the run with `HostPanicked`, leaves a replay that is a
/// prefix of the uninterrupted one, and the last checkpoint resumes the run
/// to the identical replay.
#[test]
fn a_handler_panic_stops_cleanly_and_the_last_checkpoint_completes_the_run() {
    let config = Config { seed: 3, auth: Auth::Ed25519, replay_mode: ReplayMode::Sequence, ..Config::default() };
    let keys = || KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC);
    let prog = program("choice.cbc");
    let load = |panic_in: u32| {
        let mut m = Machine::new(config);
        m.set_key_source(keys());
        m.load_lazy(&prog, 40, Box::new(move |_| Box::new(Panicky { inner: SeededHost::new(3), panic_in })), &[])
            .expect("loads");
        m
    };
    let whole = CooperativeRunner.run(&mut load(u32::MAX)).into_replay_bytes();
    let runners: [Box<dyn Runner>; 3] = [
        Box::new(CooperativeRunner),
        Box::new(canon_runtime::ThreadedRunner::new(1)),
        Box::new(canon_runtime::ThreadedRunner::new(3)),
    ];
    for runner in &runners {
        let mut m = load(25);
        let mut out = Vec::new();
        let mut last = None;
        let err = loop {
            match runner.run_segment(&mut m, &mut out, &mut |_| {}, &mut |_| {}, Some(8)) {
                Ok(Segment::Paused) => last = Some(m.checkpoint().expect("checkpoints").to_bytes()),
                Ok(Segment::Finished(_)) => panic!("the run finished despite the panic"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&err, canon_runtime::RunError::HostPanicked { group: 25, message } if message.contains("group 25 failed")),
            "{err}"
        );
        assert!(whole.starts_with(&out), "the written replay is not a prefix of the uninterrupted one");
        let ck = Checkpoint::from_bytes(&last.expect("a checkpoint before the panic")).expect("decodes");
        assert!(ck.header.next_group <= 25 && ck.header.replay_bytes as usize <= out.len());
        let mut m = Machine::restore(
            &prog,
            &ck,
            Box::new(|_| Box::new(Panicky { inner: SeededHost::new(3), panic_in: u32::MAX })),
            keys(),
        )
        .expect("restores");
        out.truncate(ck.header.replay_bytes as usize);
        runner.run_to(&mut m, &mut out, &mut |_| {}, &mut |_| {}).expect("completes");
        assert!(whole == out, "the resumed replay differs");
    }
}
