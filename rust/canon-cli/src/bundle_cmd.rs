//! `canon bundle export | verify | pubkey`: a sealed offline audit bundle of
//! one replay, specified in bytecode-spec/bundle.md.
//!
//! A bundle is a directory holding the replay, its events as canonical JSON
//! lines, optionally the program, and `manifest.json` (digests, seed, root,
//! run configuration and the SHA-256 of every file), signed as a DSSE
//! envelope (`manifest.dsse.json`) with an Ed25519 key derived from a key
//! seed (`--key FILE`, written by `canon keygen`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Subcommand;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::out::Out;
use crate::replay_cmd::Given;
use crate::run_cmd::{AuthArg, ReplayModeArg};
use crate::{exit, input, keygen_cmd};
use canon_replay::render::{auth_name, mode_name};
use canon_types::hex;

/// The DSSE payload type of a canon audit manifest.
pub const PAYLOAD_TYPE: &str = "application/vnd.canon.audit-manifest+json";
/// Bundle format version (manifest `version`).
pub const BUNDLE_VERSION: u64 = 1;
/// File names inside a bundle.
pub const REPLAY: &str = "run.replay";
pub const EVENTS: &str = "events.jsonl";
pub const PROGRAM: &str = "program.cbc";
pub const MANIFEST: &str = "manifest.json";
pub const ENVELOPE: &str = "manifest.dsse.json";
/// Domain of the bundle signing key derived from a key seed.
const BUNDLE_KEY_DOMAIN: &[u8] = b"canon-bundle-signing-key";

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Write an audit bundle of a replay into a new directory, signed with --key.
    Export {
        replay: PathBuf,
        /// Include the program (.cbc, .casm or choreography) so verify re-executes it.
        #[arg(long)]
        program: Option<PathBuf>,
        /// The protocol, when the choreography file has several.
        #[arg(long)]
        protocol: Option<String>,
        /// The key-seed file the bundle signing key derives from (`canon keygen -o FILE`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The bundle directory (created; must not exist or be empty).
        #[arg(short, long)]
        output: PathBuf,
        /// Optional check: the run's --max-rounds (an error if the recording differs; the replay
        /// records its configuration, which the manifest copies).
        #[arg(long)]
        max_rounds: Option<u64>,
        /// Optional check: the run's --fuel (an error if the recording differs).
        #[arg(long)]
        fuel: Option<u32>,
        /// Optional check: the run's --max-instructions (an error if the recording differs).
        #[arg(long)]
        max_instructions: Option<u64>,
        /// Optional check: the run's --auth (an error if the recording differs).
        #[arg(long, value_enum)]
        auth: Option<AuthArg>,
        /// Optional check: the run's --replay-mode (an error if the recording differs).
        #[arg(long, value_enum)]
        replay_mode: Option<ReplayModeArg>,
    },
    /// Check every file of a bundle, its signature, its events and (with the program) its behaviour.
    Verify {
        dir: PathBuf,
        /// The expected signer: a file holding its public key as 64 hex digits (`canon bundle pubkey`).
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
    },
    /// Print the public key that bundles signed with --key verify against.
    Pubkey {
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
}

pub fn bundle(cmd: BundleCommand, out: &mut Out) -> Result<u8> {
    match cmd {
        BundleCommand::Export {
            replay,
            program,
            protocol,
            key,
            output,
            max_rounds,
            fuel,
            max_instructions,
            auth,
            replay_mode,
        } => {
            let given = Given { max_rounds, fuel, max_instructions, auth, replay_mode };
            export(&replay, program.as_deref(), protocol.as_deref(), &key, &output, &given, out)
        }
        BundleCommand::Verify { dir, pubkey } => verify(&dir, pubkey.as_deref(), out),
        BundleCommand::Pubkey { key } => {
            writeln!(out, "{}", hex(&signing_key(&key)?.verifying_key().to_bytes()))?;
            Ok(exit::OK)
        }
    }
}

/// The manifest's `run` object: the recorded configuration's run flags
/// (bytecode-spec/bundle.md), read from the replay header.
fn run_flags(config: &canon_runtime::Config) -> Json {
    json!({
        "max_rounds": config.limits.max_rounds,
        "fuel": config.limits.fuel_per_quantum,
        "auth": auth_name(config.auth),
        "replay_mode": mode_name(config.replay_mode),
    })
}

/// The bundle signing key of a key-seed file.
fn signing_key(path: &Path) -> Result<SigningKey> {
    let seed = keygen_cmd::read_key_seed(path)?;
    let secret: [u8; 32] =
        Sha256::new().chain_update(BUNDLE_KEY_DOMAIN).chain_update(seed.as_bytes()).finalize().into();
    Ok(SigningKey::from_bytes(&secret))
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The events of a replay as JSON lines with sorted keys (no header line).
fn events_jsonl(replay: &canon_replay::Replay) -> String {
    let all = canon_replay::render_jsonl(replay);
    let mut out = String::new();
    for line in all.lines().skip(1) {
        // Re-serialised through serde_json's sorted map: canonical key order.
        let v: Json = serde_json::from_str(line).expect("render_jsonl writes JSON");
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// The envelope as written: compact JSON with sorted keys.
fn envelope_bytes(payload: &[u8], keyid: &str, sig: &[u8; 64]) -> Vec<u8> {
    let env = json!({
        "payload": B64.encode(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{ "keyid": keyid, "sig": B64.encode(sig) }],
    });
    let mut out = env.to_string().into_bytes();
    out.push(b'\n');
    out
}

fn export(
    replay_path: &Path,
    program: Option<&Path>,
    protocol: Option<&str>,
    key: &Path,
    dir: &Path,
    given: &Given,
    out: &mut Out,
) -> Result<u8> {
    let replay_bytes = input::read_bytes(replay_path)?;
    let replay = canon_replay::Replay::decode(&replay_bytes).map_err(|e| anyhow!("{}: {e}", replay_path.display()))?;
    // The replay is self-describing: its header records the configuration.
    given.check(replay_path, &replay.header.config)?;
    let signing = signing_key(key)?;
    let mut files: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    files.insert(REPLAY, replay_bytes);
    files.insert(EVENTS, events_jsonl(&replay).into_bytes());
    if let Some(p) = program {
        let program = input::program_file(p, protocol)?;
        if program.digest() != replay.header.program_digest {
            bail!("{} is not the program the replay was recorded from", p.display());
        }
        files.insert(PROGRAM, canon_bytecode::encode(program.module()));
    }
    let digests: serde_json::Map<String, Json> =
        files.iter().map(|(name, bytes)| ((*name).to_owned(), json!(sha256_hex(bytes)))).collect();
    let manifest = json!({
        "format": "canon-audit-bundle",
        "version": BUNDLE_VERSION,
        "program_digest": hex(&replay.header.program_digest),
        "config_digest": hex(&replay.header.config_digest()),
        "seed": replay.header.seed(),
        "root": hex(&replay.root),
        "events": replay.events.len(),
        "run": run_flags(&replay.header.config),
        "files": digests,
    });
    let mut manifest_bytes = manifest.to_string().into_bytes();
    manifest_bytes.push(b'\n');
    let keyid = hex(&signing.verifying_key().to_bytes());
    let sig = signing.sign(&pae(PAYLOAD_TYPE, &manifest_bytes)).to_bytes();
    files.insert(ENVELOPE, envelope_bytes(&manifest_bytes, &keyid, &sig));
    files.insert(MANIFEST, manifest_bytes);

    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not an empty directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in &files {
        let path = dir.join(name);
        crate::files::write_atomic(&path, bytes)?;
    }
    writeln!(out, "wrote audit bundle {} ({} files), signed by {keyid}", dir.display(), files.len())?;
    Ok(exit::OK)
}

/// A verification failure naming the file at fault.
fn at(file: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{file}: {why}")
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    std::fs::read(dir.join(name)).map_err(|e| at(name, format!("cannot read: {e}")))
}

fn verify(dir: &Path, pubkey: Option<&Path>, out: &mut Out) -> Result<u8> {
    match check(dir, pubkey) {
        Ok(lines) => {
            for l in lines {
                writeln!(out, "{l}")?;
            }
            Ok(exit::OK)
        }
        Err(e) => {
            writeln!(out, "bundle {} does not verify: {e}", dir.display())?;
            Ok(exit::FAILURE)
        }
    }
}

/// Every check of `bundle verify`, in order; the first failure names its file.
fn check(dir: &Path, pubkey: Option<&Path>) -> Result<Vec<String>> {
    let mut said = Vec::new();
    // 1. The envelope: canonical bytes, the signature over DSSE's PAE.
    let env_bytes = read(dir, ENVELOPE)?;
    let env: Json = serde_json::from_slice(&env_bytes).map_err(|e| at(ENVELOPE, format!("not JSON: {e}")))?;
    let field = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_owned);
    let payload_type = field(&env, "payloadType").ok_or_else(|| at(ENVELOPE, "no payloadType"))?;
    if payload_type != PAYLOAD_TYPE {
        return Err(at(ENVELOPE, format!("payloadType is {payload_type}, not {PAYLOAD_TYPE}")));
    }
    let payload_b64 = field(&env, "payload").ok_or_else(|| at(ENVELOPE, "no payload"))?;
    let payload = B64.decode(&payload_b64).map_err(|e| at(ENVELOPE, format!("payload is not base64: {e}")))?;
    let sigs = env.get("signatures").and_then(Json::as_array).ok_or_else(|| at(ENVELOPE, "no signatures"))?;
    let [sig_obj] = sigs.as_slice() else { return Err(at(ENVELOPE, "expected exactly one signature")) };
    let keyid = field(sig_obj, "keyid").ok_or_else(|| at(ENVELOPE, "no keyid"))?;
    let sig_b64 = field(sig_obj, "sig").ok_or_else(|| at(ENVELOPE, "no sig"))?;
    let sig: [u8; 64] = B64
        .decode(&sig_b64)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| at(ENVELOPE, "sig is not 64 bytes of base64"))?;
    let key_bytes = canon_machine::parse_hex32(&keyid)
        .filter(|k| hex(k) == keyid)
        .ok_or_else(|| at(ENVELOPE, "keyid is not a lowercase hex Ed25519 public key"))?;
    if envelope_bytes(&payload, &keyid, &sig) != env_bytes {
        return Err(at(ENVELOPE, "not in canonical form (compact JSON, sorted keys, one trailing newline)"));
    }
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| at(ENVELOPE, "keyid is not a curve point"))?;
    key.verify_strict(&pae(PAYLOAD_TYPE, &payload), &Signature::from_bytes(&sig))
        .map_err(|_| at(ENVELOPE, "the signature does not verify over the DSSE pre-authentication encoding"))?;
    match pubkey {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let want = canon_machine::parse_hex32(text.trim())
                .ok_or_else(|| anyhow!("{}: expected a public key as 64 hex digits", path.display()))?;
            if want != key_bytes {
                return Err(at(ENVELOPE, format!("signed by {keyid}, not by the key in {}", path.display())));
            }
            said.push(format!("signature ok: signed by the expected key {keyid}"));
        }
        None => said.push(format!(
            "signature ok by {keyid} (no --pubkey: the signer is whoever holds that key, not an anchor)"
        )),
    }
    // 2. manifest.json is the signed payload.
    let manifest_bytes = read(dir, MANIFEST)?;
    if manifest_bytes != payload {
        return Err(at(MANIFEST, "differs from the signed payload"));
    }
    let manifest: Json = serde_json::from_slice(&payload).map_err(|e| at(MANIFEST, format!("not JSON: {e}")))?;
    if manifest.get("format").and_then(Json::as_str) != Some("canon-audit-bundle")
        || manifest.get("version").and_then(Json::as_u64) != Some(BUNDLE_VERSION)
    {
        return Err(at(MANIFEST, format!("not a version {BUNDLE_VERSION} canon audit bundle manifest")));
    }
    // 3. Every listed file by SHA-256; nothing unlisted.
    let files = manifest.get("files").and_then(Json::as_object).ok_or_else(|| at(MANIFEST, "no files"))?;
    for required in [REPLAY, EVENTS] {
        if !files.contains_key(required) {
            return Err(at(MANIFEST, format!("does not list {required}")));
        }
    }
    let mut contents = BTreeMap::new();
    for (name, digest) in files {
        if ![REPLAY, EVENTS, PROGRAM].contains(&name.as_str()) {
            return Err(at(MANIFEST, format!("lists an unknown file {name}")));
        }
        let bytes = read(dir, name)?;
        if Some(sha256_hex(&bytes).as_str()) != digest.as_str() {
            return Err(at(name, "SHA-256 differs from the manifest"));
        }
        contents.insert(name.clone(), bytes);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && name != ENVELOPE && !files.contains_key(&name) {
            return Err(at(&name, "is not listed in the manifest"));
        }
    }
    said.push(format!("{} files match their SHA-256 in the signed manifest", files.len()));
    // 4. The replay, its header against the manifest, and events.jsonl as its events.
    let replay = canon_replay::Replay::decode(&contents[REPLAY]).map_err(|e| at(REPLAY, e))?;
    let text = |k: &str| manifest.get(k).and_then(Json::as_str).map(str::to_owned);
    let header_ok = text("program_digest") == Some(hex(&replay.header.program_digest))
        && text("config_digest") == Some(hex(&replay.header.config_digest()))
        && text("root") == Some(hex(&replay.root))
        && manifest.get("seed").and_then(Json::as_u64) == Some(replay.header.seed())
        && manifest.get("events").and_then(Json::as_u64) == Some(replay.events.len() as u64);
    if !header_ok {
        return Err(at(MANIFEST, "digests, seed, root or event count differ from the replay"));
    }
    if events_jsonl(&replay).as_bytes() != contents[EVENTS].as_slice() {
        return Err(at(EVENTS, "is not the replay's events"));
    }
    match crate::proof_cmd::integrity(&replay) {
        Ok(line) => said.push(format!("replay integrity: {line}")),
        Err(failure) => return Err(at(REPLAY, failure)),
    }
    // 5. With the program: its digest, and re-execution.
    if let Some(bytes) = contents.get(PROGRAM) {
        let module = canon_bytecode::decode(bytes).map_err(|e| at(PROGRAM, e))?;
        let program = std::sync::Arc::new(canon_bytecode::verify(module).map_err(|e| at(PROGRAM, e))?);
        if program.digest() != replay.header.program_digest {
            return Err(at(PROGRAM, "is not the program the replay was recorded from"));
        }
        // The replay records its configuration; the manifest's run flags must still be there and agree.
        let run = manifest.get("run").ok_or_else(|| at(MANIFEST, "no run flags"))?;
        if *run != run_flags(&replay.header.config) {
            return Err(at(MANIFEST, "its run flags are not the replay's recorded configuration"));
        }
        let again = canon_runtime::reexecute(&program, &replay).map_err(|e| at(MANIFEST, e))?;
        if again != replay {
            let d = canon_replay::diff(&replay, &again);
            return Err(at(REPLAY, format!("re-execution diverges:\n{}", d.render_text())));
        }
        said.push("behaviour: the program re-executed from the recorded host answers reproduces every event".into());
    }
    said.push(format!("bundle {} verified", dir.display()));
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_test_vector() {
        // DSSE protocol 1.0.0, "Test Vectors".
        let got = pae("http://example.com/HelloWorld", b"hello world");
        assert_eq!(got, b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
        assert_eq!(pae("t", b""), b"DSSEv1 1 t 0 ");
    }
}
