//! Offline audit bundles (`bytecode-spec/bundle.md`): one replay sealed
//! with its events, optionally its program, and a manifest signed as a DSSE
//! envelope — sealed by [`seal`], checked by [`verify_dir`]. `canon bundle`
//! is the command-line face of both.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use canon_replay::Replay;
use canon_runtime::Config;
use canon_types::hex;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// The DSSE payload type of a canon audit manifest.
pub const PAYLOAD_TYPE: &str = "application/vnd.canon.audit-manifest+json";
/// Bundle format version (manifest `version`).
pub const BUNDLE_VERSION: u64 = 1;
/// The replay's file name inside a bundle.
pub const REPLAY: &str = "run.replay";
/// The events' file name inside a bundle.
pub const EVENTS: &str = "events.jsonl";
/// The program's file name inside a bundle.
pub const PROGRAM: &str = "program.cbc";
/// The manifest's file name inside a bundle.
pub const MANIFEST: &str = "manifest.json";
/// The signed envelope's file name inside a bundle.
pub const ENVELOPE: &str = "manifest.dsse.json";

/// A bundle that does not verify, naming the file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct BundleError {
    /// The file (or, for a directory that cannot be listed, the directory).
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

fn at(file: &str, why: impl std::fmt::Display) -> BundleError {
    BundleError { file: file.to_owned(), reason: why.to_string() }
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
pub fn events_jsonl(replay: &Replay) -> String {
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

/// The envelope as written: compact JSON with sorted keys and one trailing newline.
pub fn envelope_bytes(payload: &[u8], keyid: &str, sig: &[u8; 64]) -> Vec<u8> {
    let env = json!({
        "payload": B64.encode(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{ "keyid": keyid, "sig": B64.encode(sig) }],
    });
    let mut out = env.to_string().into_bytes();
    out.push(b'\n');
    out
}

/// The manifest's `run` object: the run flags of `config` (`max_rounds`,
/// `fuel`, `auth`, `replay_mode`), as the replay header records them.
pub fn run_flags(config: &Config) -> Json {
    json!({
        "max_rounds": config.limits.max_rounds,
        "fuel": config.limits.fuel_per_quantum,
        "auth": canon_replay::render::auth_name(config.auth),
        "replay_mode": canon_replay::render::mode_name(config.replay_mode),
    })
}

/// The files of a bundle of `replay` (decoded from `replay_bytes`), with
/// `program` (canonical bytecode) if given and the run flags `run`, signed
/// with `key`: file name → bytes.
pub fn seal(
    replay_bytes: Vec<u8>,
    replay: &Replay,
    program: Option<Vec<u8>>,
    run: Json,
    key: &SigningKey,
) -> BTreeMap<&'static str, Vec<u8>> {
    let mut files: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    files.insert(REPLAY, replay_bytes);
    files.insert(EVENTS, events_jsonl(replay).into_bytes());
    if let Some(p) = program {
        files.insert(PROGRAM, p);
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
        "run": run,
        "files": digests,
    });
    let mut manifest_bytes = manifest.to_string().into_bytes();
    manifest_bytes.push(b'\n');
    let keyid = hex(&key.verifying_key().to_bytes());
    let sig = key.sign(&pae(PAYLOAD_TYPE, &manifest_bytes)).to_bytes();
    files.insert(ENVELOPE, envelope_bytes(&manifest_bytes, &keyid, &sig));
    files.insert(MANIFEST, manifest_bytes);
    files
}

/// The key a bundle must be signed by, and where the verifier got it (for messages).
#[derive(Debug, Clone, Copy)]
pub struct ExpectedSigner<'a> {
    /// The Ed25519 public key.
    pub key: &'a [u8; 32],
    /// Where it came from, e.g. the file holding it.
    pub from: &'a str,
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, BundleError> {
    std::fs::read(dir.join(name)).map_err(|e| at(name, format!("cannot read: {e}")))
}

/// Every check of a bundle directory, in order, stopping at the first
/// failure: the envelope (canonical, its signature over the PAE, by
/// `expected` if given), the manifest is the signed payload, every listed
/// file by SHA-256 and nothing unlisted, the replay's header against the
/// manifest and `events.jsonl` as its events, the replay's integrity by
/// `integrity` (a line saying what it established, or the failure), and,
/// with the program, re-execution. Returns what each check established.
pub fn verify_dir(
    dir: &Path,
    expected: Option<ExpectedSigner<'_>>,
    integrity: &dyn Fn(&Replay) -> Result<String, String>,
) -> Result<Vec<String>, BundleError> {
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
    match expected {
        Some(want) if *want.key != key_bytes => {
            return Err(at(ENVELOPE, format!("signed by {keyid}, not by the key in {}", want.from)));
        }
        Some(_) => said.push(format!("signature ok: signed by the expected key {keyid}")),
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
    let listing = std::fs::read_dir(dir).map_err(|e| at(&dir.display().to_string(), format!("cannot list: {e}")))?;
    for entry in listing {
        let entry = entry.map_err(|e| at(&dir.display().to_string(), format!("cannot list: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && name != ENVELOPE && !files.contains_key(&name) {
            return Err(at(&name, "is not listed in the manifest"));
        }
    }
    said.push(format!("{} files match their SHA-256 in the signed manifest", files.len()));
    // 4. The replay, its header against the manifest, and events.jsonl as its events.
    let replay = Replay::decode(&contents[REPLAY]).map_err(|e| at(REPLAY, e))?;
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
    match integrity(&replay) {
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
