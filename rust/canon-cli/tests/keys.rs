//! Signing keys and what `replay verify` proves, through the binary:
//! `canon keygen`, the key seed created on first use, `--key-seed-file`,
//! re-execution without the secret, and the integrity / authenticity /
//! behaviour report with its anchors and `--require`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Output, arg, canon, repo_root, run_command, temp_dir};

/// `canon` with no key source in the environment and `home` as HOME.
fn canon_home(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canon"));
    cmd.env_remove("CANON_KEY_SEED_FILE").env_remove("XDG_CONFIG_HOME").env("HOME", home);
    run_command(cmd.args(args).current_dir(repo_root()))
}

fn root_of(o: &Output) -> String {
    let line = o.stdout.lines().find(|l| l.contains("replay root")).expect("a root line");
    line.split_whitespace().nth(2).expect("root hex").to_owned()
}

#[test]
fn the_quick_start_creates_a_key_seed_on_first_use_and_reuses_it() {
    let home = temp_dir("keys-home");
    let first = canon_home(&home, &["run", "fixtures/two_buyer.canon"]);
    first.expect_code(0).stderr_has(&["created a new signing key seed at", ".config/canon/key-seed"]);
    let file = home.join(".config/canon/key-seed");
    let text = std::fs::read_to_string(&file).expect("the key seed was written");
    assert!(text.lines().any(|l| l.starts_with("canon-key-seed-v1 ")), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).expect("exists").permissions().mode() & 0o777, 0o600);
    }
    let second = canon_home(&home, &["run", "fixtures/two_buyer.canon"]);
    second.expect_code(0);
    assert!(!second.stderr.contains("created"), "{second}");
    assert_eq!(root_of(&first), root_of(&second), "the same key seed gives the same replay");
    // Unsigned runs need no key seed at all.
    let bare = temp_dir("keys-bare");
    canon_home(&bare, &["run", "fixtures/two_buyer.canon", "--auth", "none"]).expect_code(0);
    assert!(!bare.join(".config").exists());
}

#[test]
fn keygen_writes_a_private_seed_refuses_to_overwrite_and_lists_verifying_keys() {
    let dir = temp_dir("keygen");
    let seed = dir.join("run.key-seed");
    canon(&["keygen", "-o", &arg(&seed)]).expect_code(0).stdout_has(&["wrote a new key seed"]);
    canon(&["keygen", "-o", &arg(&seed)]).expect_clean_failure().stderr_has(&["exists", "--force"]);
    let other = dir.join("other.key-seed");
    canon(&["keygen", "-o", &arg(&other)]).expect_code(0);
    assert_ne!(std::fs::read(&seed).unwrap(), std::fs::read(&other).unwrap(), "fresh randomness");
    let keys = canon(&["keygen", "--verifying-keys-of", &arg(&seed), "--roles", "3"]);
    let hex: Vec<&str> = keys.expect_code(0).stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(hex.len(), 3);
    assert!(hex.iter().all(|l| l.len() == 64));
    canon(&["keygen", "--verifying-keys-of", &arg(&seed), "--instances", "4294967295", "--roles", "65535"])
        .expect_clean_failure()
        .stderr_has(&["at most"]);
    std::fs::write(dir.join("bad.key-seed"), "canon-key-seed-v1 00\n").unwrap();
    let bad = canon(&["run", "fixtures/two_buyer.canon", "--key-seed-file", &arg(&dir.join("bad.key-seed"))]);
    bad.expect_clean_failure().stderr_has(&["not a canon key-seed file", "line 1"]);
    // The size limit, at its edge: 64 KiB of comments and one key line is read, one byte more is refused.
    let key_line = std::fs::read_to_string(common::test_key_seed()).unwrap();
    let key_line = key_line.lines().find(|l| !l.starts_with('#')).unwrap().to_owned() + "\n";
    let at_limit = "#".repeat(64 * 1024 - key_line.len() - 1) + "\n" + &key_line;
    assert_eq!(at_limit.len(), 64 * 1024);
    let edge = dir.join("edge.key-seed");
    std::fs::write(&edge, &at_limit).unwrap();
    canon(&["run", "fixtures/two_buyer.canon", "--key-seed-file", &arg(&edge)]).expect_code(0);
    std::fs::write(&edge, format!("#{at_limit}")).unwrap();
    canon(&["run", "fixtures/two_buyer.canon", "--key-seed-file", &arg(&edge)])
        .expect_clean_failure()
        .stderr_has(&["larger than 65536 bytes"]);
}

/// Records two_buyer with a fresh key seed; returns (replay, seed file).
fn signed_run(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let seed = dir.join("secret.key-seed");
    if !seed.exists() {
        canon(&["keygen", "-o", &arg(&seed)]).expect_code(0);
    }
    let replay = dir.join("run.replay");
    let mut args = vec!["run", "fixtures/two_buyer.canon", "--seed", "3"];
    let (s, r) = (arg(&seed), arg(&replay));
    args.extend(["--key-seed-file", &s, "-o", &r]);
    args.extend(extra);
    let o = canon(&args);
    o.expect_code(0).stdout_has(&["signing keys derived from the key seed"]);
    let root = root_of(&o);
    (replay, seed, root)
}

#[test]
fn verify_says_what_it_established_and_require_fails_without_an_anchor() {
    let dir = temp_dir("keys-verify");
    let (replay, seed, root) = signed_run(&dir, &["--replay-mode", "nullifier"]);
    let r = arg(&replay);
    let home = temp_dir("keys-verify-home");
    // Integrity only: no anchor, no program.
    let o = canon_home(&home, &["replay", "verify", &r]);
    o.expect_code(0).stdout_has(&[
        "integrity    yes",
        "5 receives matched to their sends; 5 consumption roots recomputed",
        "authenticity no",
        "behaviour    no",
        "verified: integrity (not established: authenticity, behaviour)",
    ]);
    canon_home(&home, &["replay", "verify", &r, "--require", "authentic"])
        .expect_code(1)
        .stdout_has(&["required but not established: authentic"]);
    // Behaviour without the secret: HOME has no key seed and none is given.
    canon_home(&home, &["replay", "verify", &r, "--program", "fixtures/two_buyer.canon", "--replay-mode", "nullifier"])
        .expect_code(0)
        .stdout_has(&["behaviour    yes", "no secret"]);
    assert!(!home.join(".config").exists(), "verify never creates a key seed");
    // Anchors: the expected root, or trusted verifying keys from the secret.
    canon(&["replay", "verify", &r, "--root", &root, "--require", "authentic"])
        .expect_code(0)
        .stdout_has(&["authenticity yes", "the root is the one expected"]);
    let wrong = "00".repeat(32);
    canon(&["replay", "verify", &r, "--root", &wrong]).expect_code(1).stdout_has(&["is not the expected"]);
    let trusted = dir.join("trusted.keys");
    let (s, t) = (arg(&seed), arg(&trusted));
    canon(&["keygen", "--verifying-keys-of", &s, "--roles", "3", "-o", &t]).expect_code(0);
    canon(&["replay", "verify", &r, "--trusted-keys", &t, "--require", "authentic"])
        .expect_code(0)
        .stdout_has(&["authenticity yes", "signed by a holder of a trusted secret"]);
    // Keys of another secret do not vouch for this run.
    let other = dir.join("other.key-seed");
    canon(&["keygen", "-o", &arg(&other)]).expect_code(0);
    canon(&["keygen", "--verifying-keys-of", &arg(&other), "--roles", "3", "-o", &t]).expect_code(0);
    canon(&["replay", "verify", &r, "--trusted-keys", &t]).expect_code(1).stdout_has(&["not in"]);
}

#[test]
fn every_flipped_byte_of_a_signed_replay_is_detected_by_verify() {
    let dir = temp_dir("keys-flip");
    for auth in ["ed25519", "ed25519-round"] {
        let (replay, _, _) = signed_run(&dir, &["--replay-mode", "sequence", "--auth", auth]);
        let bytes = std::fs::read(&replay).unwrap();
        let flipped = dir.join("flipped.replay");
        let f = arg(&flipped);
        // Every 7th byte keeps the test short; each flip must fail verification.
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            std::fs::write(&flipped, &b).unwrap();
            let program = "fixtures/two_buyer.canon";
            let o = canon(&["replay", "verify", &f, "--program", program, "--replay-mode", "sequence", "--auth", auth]);
            assert_ne!(o.code, Some(0), "{auth}: byte {i} flipped and still verified\n{o}");
            assert_ne!(o.code, Some(101), "{auth}: panicked at byte {i}\n{o}");
        }
    }
}
