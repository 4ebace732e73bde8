//! Fuzz target: the audit-bundle reader, as `canon bundle verify` uses it
//! (`canon::bundle::verify_dir` over a directory of files). Structure-aware:
//! each input picks a valid bundle (fixtures run under each auth mode, with
//! and without the program), edits its files (bytes, manifest fields, files
//! removed or added) and may re-seal it (file digests recomputed, manifest
//! re-signed with the bundle's key), so edits reach the replay decoder, the
//! events comparison, the program decoder and re-execution.
//!
//! Checked: no panic or hang; an unedited bundle verifies; a bundle whose
//! files differ from a sealed one and that was not re-sealed never verifies
//! (the signature covers the manifest, the manifest every file).
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use canon::bundle::{ENVELOPE, EVENTS, ExpectedSigner, MANIFEST, PAYLOAD_TYPE, PROGRAM, REPLAY};
use canon_machine::{KeySeed, KeySource};
use canon_runtime::{CooperativeRunner, Machine, Runner, SeededHost};
use ed25519_dalek::{Signer as _, SigningKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

type Files = BTreeMap<String, Vec<u8>>;

const SOURCES: &[(&str, &str)] = &[
    ("ping_pong.casm", include_str!("../../fixtures/asm/ping_pong.casm")),
    ("timeout.casm", include_str!("../../fixtures/asm/timeout.casm")),
    ("two_buyer.canon", include_str!("../../fixtures/two_buyer.canon")),
];

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bases() -> &'static [Files] {
    static BASES: OnceLock<Vec<Files>> = OnceLock::new();
    BASES.get_or_init(|| {
        use canon_machine::{Auth, ReplayMode};
        let runs = [(Auth::None, ReplayMode::Off, 64), (Auth::Ed25519, ReplayMode::Sequence, 64), (
            Auth::Ed25519Round,
            ReplayMode::Nullifier,
            8,
        )];
        let mut out = Vec::new();
        for (i, (name, text)) in SOURCES.iter().enumerate() {
            let program = Arc::new(if name.ends_with(".casm") {
                canon_bytecode::verify(canon_bytecode::assemble(text).expect("assembles")).expect("verifies")
            } else {
                canon::compile_source(name, text, None).expect("compiles")
            });
            let (auth, replay_mode, fuel) = runs[i % runs.len()];
            let limits = canon_runtime::Limits { max_rounds: 1000, fuel_per_quantum: fuel, ..Default::default() };
            let config = canon_runtime::Config { seed: 11, auth, replay_mode, limits, ..Default::default() };
            let run = canon::bundle::run_flags(&config);
            let mut m = Machine::new(config);
            m.set_key_source(KeySource::Seed(KeySeed::from_bytes([9; 32])));
            m.load(&program, Box::new(SeededHost::new(11))).expect("loads");
            let bytes = CooperativeRunner.run(&mut m).into_replay_bytes();
            let replay = canon_replay::Replay::decode(&bytes).expect("decodes");
            for with_program in [false, true] {
                let program = with_program.then(|| canon_bytecode::encode(program.module()));
                let files = canon::bundle::seal(bytes.clone(), &replay, program, run.clone(), &key());
                out.push(files.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            }
        }
        out
    })
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum File {
    Replay,
    Events,
    Program,
    Manifest,
    Envelope,
    Extra,
}

impl File {
    fn name(self) -> &'static str {
        match self {
            File::Replay => REPLAY,
            File::Events => EVENTS,
            File::Program => PROGRAM,
            File::Manifest => MANIFEST,
            File::Envelope => ENVELOPE,
            File::Extra => "notes.txt",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Value {
    Null,
    Bool(bool),
    U64(u64),
    Str(String),
    Hex([u8; 32]),
    Run { auth: u8, fuel: u64, max_rounds: u64, mode: u8 },
}

impl Value {
    fn json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::U64(n) => json!(n),
            Value::Str(s) => json!(s),
            Value::Hex(h) => json!(hex(h)),
            Value::Run { auth, fuel, max_rounds, mode } => {
                let auth = ["none", "ed25519", "ed25519-round", "x"][usize::from(*auth) % 4];
                let mode = ["off", "sequence", "nullifier", "y"][usize::from(*mode) % 4];
                json!({ "auth": auth, "fuel": fuel, "max_rounds": max_rounds, "replay_mode": mode })
            }
        }
    }
}

const KEYS: [&str; 10] =
    ["format", "version", "program_digest", "config_digest", "seed", "root", "events", "run", "files", "extra"];

#[derive(Arbitrary, Debug)]
enum Edit {
    Xor {
        file: File,
        at: u32,
        value: u8,
    },
    SetU64 {
        file: File,
        at: u32,
        value: u64,
    },
    Replace {
        file: File,
        bytes: Vec<u8>,
    },
    Truncate {
        file: File,
        len: u32,
    },
    Remove {
        file: File,
    },
    /// A manifest key set (or removed, with `None`), before re-sealing.
    Field {
        key: u8,
        value: Option<Value>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: u8,
    edits: Vec<Edit>,
    /// Recompute the manifest's file digests and re-sign it.
    reseal: bool,
    /// Verify against the bundle's key (`Some(true)`), another key (`Some(false)`) or none.
    expected: Option<bool>,
}

fn edit_bytes(files: &mut Files, edit: &Edit) {
    let pos = |at: u32, len: usize| if len == 0 { 0 } else { at as usize % len };
    match edit {
        Edit::Xor { file, at, value } => {
            if let Some(b) = files.get_mut(file.name()) {
                let i = pos(*at, b.len());
                if let Some(x) = b.get_mut(i) {
                    *x ^= value;
                }
            }
        }
        Edit::SetU64 { file, at, value } => {
            if let Some(b) = files.get_mut(file.name()) {
                let i = pos(*at, b.len());
                let end = (i + 8).min(b.len());
                b[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
            }
        }
        Edit::Replace { file, bytes } => {
            files.insert(file.name().to_owned(), bytes.clone());
        }
        Edit::Truncate { file, len } => {
            if let Some(b) = files.get_mut(file.name()) {
                b.truncate(*len as usize);
            }
        }
        Edit::Remove { file } => {
            files.remove(file.name());
        }
        Edit::Field { .. } => {}
    }
}

/// The manifest with `edits`' fields set, file digests recomputed, signed again.
fn reseal(files: &mut Files, edits: &[&Edit]) {
    let Some(Ok(mut manifest)) = files.get(MANIFEST).map(|b| serde_json::from_slice::<Json>(b)) else { return };
    let Some(obj) = manifest.as_object_mut() else { return };
    for e in edits {
        if let Edit::Field { key, value } = e {
            let k = KEYS[usize::from(*key) % KEYS.len()];
            match value {
                Some(v) => obj.insert(k.to_owned(), v.json()),
                None => obj.remove(k),
            };
        }
    }
    let digests: serde_json::Map<String, Json> = files
        .iter()
        .filter(|(n, _)| [REPLAY, EVENTS, PROGRAM].contains(&n.as_str()))
        .map(|(n, b)| (n.clone(), json!(hex(&Sha256::digest(b)))))
        .collect();
    obj.insert("files".to_owned(), Json::Object(digests));
    let mut bytes = manifest.to_string().into_bytes();
    bytes.push(b'\n');
    let k = key();
    let sig = k.sign(&canon::bundle::pae(PAYLOAD_TYPE, &bytes)).to_bytes();
    files.insert(ENVELOPE.to_owned(), canon::bundle::envelope_bytes(&bytes, &hex(k.verifying_key().as_bytes()), &sig));
    files.insert(MANIFEST.to_owned(), bytes);
}

fn integrity(r: &canon_replay::Replay) -> Result<String, String> {
    let run = canon_machine::run_identity(&r.header.program_digest, &r.header.config_digest());
    let sigs = canon_machine::verify_signatures(&run, &r.events).map_err(|e| e.to_string())?;
    let cross = canon_machine::cross_check(&run, &r.header.config, &r.events).map_err(|e| e.to_string())?;
    Ok(format!("{} signatures, {} receives", sigs.checked, cross.received))
}

/// This process's bundle directory, emptied.
fn dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let d = DIR.get_or_init(|| std::env::temp_dir().join(format!("canon-fuzz-bundle-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).expect("temporary directory");
    d.clone()
}

fuzz_target!(|input: Input| {
    let bases = bases();
    let base = &bases[usize::from(input.base) % bases.len()];
    let mut files = base.clone();
    let edits: Vec<&Edit> = input.edits.iter().take(12).collect();
    let raw = |e: &&Edit| {
        matches!(
            e,
            Edit::Xor { file: File::Manifest | File::Envelope, .. }
                | Edit::SetU64 { file: File::Manifest | File::Envelope, .. }
                | Edit::Replace { file: File::Manifest | File::Envelope, .. }
                | Edit::Truncate { file: File::Manifest | File::Envelope, .. }
        )
    };
    // Data files first, then the re-seal, then raw edits of the manifest and envelope.
    edits.iter().filter(|e| !raw(*e)).for_each(|e| edit_bytes(&mut files, e));
    if input.reseal {
        reseal(&mut files, &edits);
    }
    edits.iter().filter(|e| raw(*e)).for_each(|e| edit_bytes(&mut files, e));
    let d = dir();
    for (name, bytes) in &files {
        std::fs::write(d.join(name), bytes).expect("writes");
    }
    let signer_key = key().verifying_key().to_bytes();
    let other = [7u8; 32];
    let expected =
        input.expected.map(|own| ExpectedSigner { key: if own { &signer_key } else { &other }, from: "fuzz" });
    let result = canon::bundle::verify_dir(&d, expected, &integrity);
    let unchanged = files == *base;
    if unchanged && input.expected != Some(false) {
        assert!(result.is_ok(), "a sealed bundle verifies: {result:?}");
    }
    if !unchanged && !input.reseal {
        assert!(result.is_err(), "an edited bundle that was not re-sealed verifies");
    }
});
