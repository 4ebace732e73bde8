//! Fuzz target: the checkpoint reader, as `canon resume` uses it —
//! `Checkpoint::from_bytes` → `Machine::restore` → run to the end under a
//! round cap. Structure-aware: each input picks one of a few valid
//! checkpoints (fixtures under every auth mode, paused inside a group, with
//! eagerly and lazily loaded instances), edits its body and, unless told
//! not to, re-seals it (body length and SHA-256 recomputed), so that the
//! edits reach the body decoder, the restore checks and the machine rather
//! than stopping at the digest — a crafted file, not a damaged one.
//!
//! Checked: no panic (a panic inside a round surfaces as
//! `RunError::HostPanicked`, and this target's host never panics, so that
//! error is a machine panic and a crash), no hang (bounded rounds); and an
//! unedited checkpoint resumes to the uninterrupted run's bytes.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Config, KeySeed, KeySource, Limits, ReplayMode};
use canon_runtime::{
    CHECKPOINT_HEADER_BYTES, Checkpoint, CooperativeRunner, Machine, RunError, Runner, SeededHost, Segment,
    ThreadedRunner,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// A valid checkpoint and the replay of the same run uninterrupted.
struct Base {
    program: Arc<VerifiedProgram>,
    checkpoint: Vec<u8>,
    full: Vec<u8>,
}

const SOURCES: &[(&str, &str)] = &[
    ("ping_pong_loop.casm", include_str!("../../fixtures/asm/ping_pong_loop.casm")),
    ("three_party_relay.casm", include_str!("../../fixtures/asm/three_party_relay.casm")),
    ("timeout.casm", include_str!("../../fixtures/asm/timeout.casm")),
    ("job_lease.casm", include_str!("../../fixtures/asm/job_lease.casm")),
    ("two_buyer.canon", include_str!("../../fixtures/two_buyer.canon")),
    ("streaming.canon", include_str!("../../fixtures/streaming.canon")),
];

const HOST_SEED: u64 = 7;

fn keys() -> KeySource {
    KeySource::Seed(KeySeed::from_bytes([0x5a; 32]))
}

fn config(auth: Auth, replay_mode: ReplayMode) -> Config {
    let limits = Limits { max_rounds: 200, fuel_per_quantum: 16, max_instructions: 50_000, ..Limits::default() };
    Config { limits, auth, replay_mode, seed: 3, ..Config::default() }
}

fn compile(name: &str, text: &str) -> Arc<VerifiedProgram> {
    let program = if name.ends_with(".casm") {
        canon_bytecode::verify(canon_bytecode::assemble(text).expect("fixture assembles")).expect("fixture verifies")
    } else {
        canon::compile_source(name, text, None).expect("fixture compiles")
    };
    Arc::new(program)
}

/// Two eager and two lazily loaded instances of `program`.
fn machine(program: &Arc<VerifiedProgram>, config: Config) -> Machine {
    let mut m = Machine::new(config);
    m.set_key_source(keys());
    for _ in 0..2 {
        m.load(program, Box::new(SeededHost::new(HOST_SEED))).expect("loads");
    }
    m.load_lazy(program, 2, Box::new(|_| Box::new(SeededHost::new(HOST_SEED))), &[]).expect("loads lazily");
    m
}

fn bases() -> &'static [Base] {
    static BASES: OnceLock<Vec<Base>> = OnceLock::new();
    BASES.get_or_init(|| {
        let mut out = Vec::new();
        let modes = [
            (Auth::None, ReplayMode::Off),
            (Auth::Ed25519, ReplayMode::Sequence),
            (Auth::Ed25519Round, ReplayMode::Nullifier),
        ];
        for (i, (name, text)) in SOURCES.iter().enumerate() {
            let program = compile(name, text);
            let (auth, mode) = modes[i % modes.len()];
            let cfg = config(auth, mode);
            let full = CooperativeRunner.run(&mut machine(&program, cfg)).into_replay_bytes();
            for pause in [1, 3, 9] {
                let mut m = machine(&program, cfg);
                let mut sink = Vec::new();
                let seg = CooperativeRunner.run_segment(&mut m, &mut sink, &mut |_| {}, &mut |_| {}, Some(pause));
                if seg.expect("runs") != Segment::Paused {
                    continue;
                }
                let checkpoint = m.checkpoint().expect("checkpoints").to_bytes();
                out.push(Base { program: Arc::clone(&program), checkpoint, full: full.clone() });
            }
        }
        out
    })
}

/// One edit of the checkpoint body (offsets wrap around its length).
#[derive(Arbitrary, Debug)]
enum Edit {
    Xor {
        at: u32,
        value: u8,
    },
    /// A little-endian integer written over the body (bincode lengths,
    /// counts, ids, ticks and indexes are fixed-width).
    SetU64 {
        at: u32,
        value: u64,
    },
    SetU32 {
        at: u32,
        value: u32,
    },
    Insert {
        at: u32,
        bytes: Vec<u8>,
    },
    Remove {
        at: u32,
        len: u8,
    },
    Truncate {
        len: u32,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: u8,
    edits: Vec<Edit>,
    /// Leave the body length and digest as they were (the integrity check fires).
    no_reseal: bool,
    /// Continue on the threaded runner (2 workers) rather than the cooperative one.
    threaded: bool,
    /// A whole file instead, for the header checks.
    raw: Option<Vec<u8>>,
}

fn apply(body: &mut Vec<u8>, edit: &Edit) {
    let at = |a: u32, len: usize| if len == 0 { 0 } else { a as usize % len };
    match *edit {
        Edit::Xor { at: a, value } => {
            let i = at(a, body.len());
            if let Some(b) = body.get_mut(i) {
                *b ^= value;
            }
        }
        Edit::SetU64 { at: a, value } => {
            let i = at(a, body.len());
            let end = (i + 8).min(body.len());
            body[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
        }
        Edit::SetU32 { at: a, value } => {
            let i = at(a, body.len());
            let end = (i + 4).min(body.len());
            body[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
        }
        Edit::Insert { at: a, ref bytes } => {
            let i = at(a, body.len() + 1);
            body.splice(i..i, bytes.iter().copied().take(64));
        }
        Edit::Remove { at: a, len } => {
            let i = at(a, body.len());
            let end = (i + usize::from(len)).min(body.len());
            body.drain(i..end);
        }
        Edit::Truncate { len } => body.truncate(len as usize),
    }
}

/// Most groups a fuzzed run may have (a crafted count is a run of that many instances).
const MAX_GROUPS: u64 = 8;
/// Rounds per segment, and segments, of a resumed run.
const SEGMENT_ROUNDS: u64 = 256;
const MAX_SEGMENTS: usize = 8;

fuzz_target!(|input: Input| {
    let bases = bases();
    let base = &bases[usize::from(input.base) % bases.len()];
    let bytes = match &input.raw {
        Some(raw) => raw.clone(),
        None => {
            let (header, body) = base.checkpoint.split_at(CHECKPOINT_HEADER_BYTES);
            let mut body = body.to_vec();
            input.edits.iter().take(16).for_each(|e| apply(&mut body, e));
            let mut header = header.to_vec();
            if !input.no_reseal {
                header[136..144].copy_from_slice(&(body.len() as u64).to_le_bytes());
                header[144..176].copy_from_slice(&Sha256::digest(&body));
            }
            header.extend_from_slice(&body);
            header
        }
    };
    let Ok(checkpoint) = Checkpoint::from_bytes(&bytes) else { return };
    assert_eq!(checkpoint.to_bytes(), bytes, "an accepted checkpoint re-encodes to its bytes");
    if checkpoint.group_count().map_or(true, |n| n > MAX_GROUPS) {
        return;
    }
    let hosts = Box::new(|_: u32| Box::new(SeededHost::new(HOST_SEED)) as Box<dyn canon_machine::Host + Send>);
    let Ok(mut machine) = Machine::restore(&base.program, &checkpoint, hosts, keys()) else { return };
    let mut sink = Vec::new();
    let threaded = ThreadedRunner::new(2);
    let runner: &dyn Runner = if input.threaded { &threaded } else { &CooperativeRunner };
    let mut finished = false;
    for _ in 0..MAX_SEGMENTS {
        match runner.run_segment(&mut machine, &mut sink, &mut |_| {}, &mut |_| {}, Some(SEGMENT_ROUNDS)) {
            Ok(Segment::Finished(_)) => {
                finished = true;
                break;
            }
            Ok(Segment::Paused) => {}
            Err(RunError::HostPanicked { group, message }) => {
                panic!("the machine panicked running restored group {group}: {message}")
            }
            Err(e) => panic!("writing to memory failed: {e}"),
        }
    }
    if input.raw.is_none() && bytes == base.checkpoint {
        assert!(finished, "an unedited checkpoint's run ends within the cap");
        let prefix = usize::try_from(checkpoint.header.replay_bytes).expect("fits");
        let mut resumed = base.full[..prefix].to_vec();
        resumed.extend_from_slice(&sink);
        assert!(resumed == base.full, "an unedited checkpoint resumes to the uninterrupted run's bytes");
    }
});
