//! `canon bundle export | verify`: a round trip, the DSSE envelope checked
//! against the format's pre-authentication encoding independently of canon's
//! code, and a proptest that flips one byte of any bundle file and expects
//! verify to fail naming that file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{arg, canon, temp_dir, test_key_seed};
use proptest::prelude::*;

const FILES: [&str; 5] = ["events.jsonl", "manifest.dsse.json", "manifest.json", "program.cbc", "run.replay"];

/// One signed two-buyer bundle with its program (nullifier mode: consumption roots too).
fn bundle() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("bundle-src");
        let replay = dir.join("tb.replay");
        canon(&["run", "fixtures/two_buyer.canon", "--replay-mode", "nullifier", "-o", &arg(&replay)]).expect_code(0);
        let out = dir.join("bundle");
        let key = arg(&test_key_seed());
        canon(&[
            "bundle",
            "export",
            &arg(&replay),
            "--program",
            "fixtures/two_buyer.canon",
            "--replay-mode",
            "nullifier",
            "--key",
            &key,
            "-o",
            &arg(&out),
        ])
        .expect_code(0)
        .stdout_has(&["wrote audit bundle", "(5 files)"]);
        out
    })
}

fn copy_bundle(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in FILES {
        std::fs::copy(bundle().join(f), to.join(f)).unwrap();
    }
}

#[test]
fn an_exported_bundle_verifies_and_names_its_signer() {
    let dir = bundle();
    canon(&["bundle", "verify", &arg(dir)]).expect_code(0).stdout_has(&[
        "signature ok by",
        "3 files match their SHA-256",
        "5 consumption roots recomputed",
        "behaviour: the program re-executed",
        "verified",
    ]);
    let tmp = temp_dir("bundle-pubkey");
    let pk = canon(&["bundle", "pubkey", "--key", &arg(&test_key_seed())]);
    let pubkey = tmp.join("pub");
    std::fs::write(&pubkey, &pk.expect_code(0).stdout).unwrap();
    canon(&["bundle", "verify", &arg(dir), "--pubkey", &arg(&pubkey)])
        .expect_code(0)
        .stdout_has(&["signed by the expected key"]);
    std::fs::write(&pubkey, "00".repeat(32)).unwrap();
    canon(&["bundle", "verify", &arg(dir), "--pubkey", &arg(&pubkey)])
        .expect_code(1)
        .stdout_has(&["manifest.dsse.json: signed by"]);
    // events.jsonl: one event per line, keys sorted.
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(line.starts_with('{') && !line.contains(": "), "compact JSON");
    }
}

#[test]
fn the_envelope_is_dsse_signed_over_the_pre_authentication_encoding() {
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle().join("manifest.dsse.json")).unwrap()).unwrap();
    let payload_type = env["payloadType"].as_str().unwrap();
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, std::fs::read(bundle().join("manifest.json")).unwrap());
    let sig = &env["signatures"][0];
    let keyid = sig["keyid"].as_str().unwrap();
    let key_bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&keyid[2 * i..2 * i + 2], 16).unwrap()).collect();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes.try_into().unwrap()).unwrap();
    let sig: [u8; 64] = B64.decode(sig["sig"].as_str().unwrap()).unwrap().try_into().unwrap();
    // PAE as DSSE 1.0.0 documents it, written out here independently.
    let mut pae = Vec::new();
    pae.extend_from_slice(b"DSSEv1");
    pae.push(b' ');
    pae.extend_from_slice(payload_type.len().to_string().as_bytes());
    pae.push(b' ');
    pae.extend_from_slice(payload_type.as_bytes());
    pae.push(b' ');
    pae.extend_from_slice(payload.len().to_string().as_bytes());
    pae.push(b' ');
    pae.extend_from_slice(&payload);
    key.verify_strict(&pae, &ed25519_dalek::Signature::from_bytes(&sig)).expect("signature over PAE");
    assert!(
        key.verify_strict(&payload, &ed25519_dalek::Signature::from_bytes(&sig)).is_err(),
        "not over the bare payload"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    for f in ["events.jsonl", "program.cbc", "run.replay"] {
        assert_eq!(manifest["files"][f].as_str().unwrap().len(), 64, "{f}");
    }
}

#[test]
fn a_missing_or_extra_file_is_named() {
    let dir = temp_dir("bundle-missing");
    copy_bundle(&dir);
    std::fs::remove_file(dir.join("program.cbc")).unwrap();
    canon(&["bundle", "verify", &arg(&dir)]).expect_code(1).stdout_has(&["does not verify: program.cbc: cannot read"]);
    copy_bundle(&dir);
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    canon(&["bundle", "verify", &arg(&dir)]).expect_code(1).stdout_has(&["notes.txt: is not listed"]);
    let again = canon(&["bundle", "export", "x.replay", "--key", &arg(&test_key_seed()), "-o", &arg(&dir)]);
    again.expect_clean_failure();
}

#[test]
fn export_reads_the_run_flags_from_the_replay() {
    // A run under flags that are not the defaults: export needs none of them.
    let dir = temp_dir("bundle-recorded-config");
    let replay = dir.join("tb.replay");
    let flags = ["--max-rounds", "500", "--fuel", "7", "--max-instructions", "100000", "--auth", "ed25519-round"];
    let mut run = vec!["run", "fixtures/two_buyer.canon", "--replay-mode", "sequence", "-o"];
    let replay_arg = arg(&replay);
    run.push(&replay_arg);
    run.extend(flags);
    canon(&run).expect_code(0);
    let key = arg(&test_key_seed());
    let out = dir.join("bundle");
    let program = "fixtures/two_buyer.canon";
    canon(&["bundle", "export", &replay_arg, "--program", program, "--key", &key, "-o", &arg(&out)]).expect_code(0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["run"],
        serde_json::json!({ "max_rounds": 500, "fuel": 7, "auth": "ed25519-round", "replay_mode": "sequence" })
    );
    canon(&["bundle", "verify", &arg(&out)]).expect_code(0).stdout_has(&["behaviour: the program re-executed"]);
    // The flags are checks: the recorded value passes, another is refused naming the field.
    let again = dir.join("bundle2");
    canon(&[
        "bundle",
        "export",
        &replay_arg,
        "--key",
        &key,
        "--fuel",
        "7",
        "--replay-mode",
        "sequence",
        "-o",
        &arg(&again),
    ])
    .expect_code(0);
    let refused = dir.join("bundle3");
    canon(&["bundle", "export", &replay_arg, "--key", &key, "--fuel", "8", "-o", &arg(&refused)])
        .expect_code(1)
        .stderr_has(&["--fuel differs from the recording", "`fuel_per_quantum` is recorded as 7, given 8"]);
    assert!(!refused.exists(), "nothing written for a refused export");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_flipped_byte_in_any_file_is_detected_and_the_file_named(
        file in 0..FILES.len(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let name = FILES[file];
        let dir = temp_dir(&format!("bundle-flip-{name}-{}", at.index(1 << 20)));
        copy_bundle(&dir);
        let path = dir.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        std::fs::write(&path, &bytes).unwrap();
        let o = canon(&["bundle", "verify", &arg(&dir)]);
        prop_assert_eq!(o.code, Some(1), "byte {} bit {} of {}\n{}", i, bit, name, o);
        let want = format!("does not verify: {name}:");
        prop_assert!(o.stdout.contains(&want), "byte {} bit {} of {}: {}", i, bit, name, o);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
