//! `canon bundle export | verify | pubkey`: a sealed offline audit bundle of
//! one replay, specified in bytecode-spec/bundle.md.
//!
//! A bundle is a directory holding the replay, its events as canonical JSON
//! lines, optionally the program, and `manifest.json` (digests, seed, root,
//! run configuration and the SHA-256 of every file), signed as a DSSE
//! envelope (`manifest.dsse.json`) with an Ed25519 key derived from a key
//! seed (`--key FILE`, written by `canon keygen`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use canon::bundle::ExpectedSigner;
use clap::Subcommand;
use ed25519_dalek::SigningKey;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::out::Out;
use crate::run_cmd::{AuthArg, ReplayModeArg, SecurityArgs};
use crate::{exit, input, keygen_cmd};
use canon_types::hex;

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
        /// The run's --max-rounds (recorded in the manifest for re-execution).
        #[arg(long, default_value_t = 1_000_000)]
        max_rounds: u64,
        /// The run's --fuel.
        #[arg(long, default_value_t = canon_runtime::Limits::default().fuel_per_quantum)]
        fuel: u32,
        /// The run's --auth and --replay-mode.
        #[command(flatten)]
        security: SecurityArgs,
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
        BundleCommand::Export { replay, program, protocol, key, output, max_rounds, fuel, security } => {
            let run = RunFlags { max_rounds, fuel, security };
            export(&replay, program.as_deref(), protocol.as_deref(), &key, &output, run, out)
        }
        BundleCommand::Verify { dir, pubkey } => verify(&dir, pubkey.as_deref(), out),
        BundleCommand::Pubkey { key } => {
            writeln!(out, "{}", hex(&signing_key(&key)?.verifying_key().to_bytes()))?;
            Ok(exit::OK)
        }
    }
}

struct RunFlags {
    max_rounds: u64,
    fuel: u32,
    security: SecurityArgs,
}

impl RunFlags {
    fn json(&self) -> Json {
        let auth = match self.security.auth {
            AuthArg::Ed25519 => "ed25519",
            AuthArg::None => "none",
            AuthArg::Ed25519Round => "ed25519-round",
        };
        let mode = match self.security.replay_mode {
            ReplayModeArg::Off => "off",
            ReplayModeArg::Sequence => "sequence",
            ReplayModeArg::Nullifier => "nullifier",
        };
        json!({ "max_rounds": self.max_rounds, "fuel": self.fuel, "auth": auth, "replay_mode": mode })
    }

    fn config(&self, seed: u64) -> canon_runtime::Config {
        crate::run_cmd::config(
            seed,
            self.max_rounds,
            self.fuel,
            canon_runtime::Limits::default().max_instructions,
            self.security,
        )
    }
}

/// The bundle signing key of a key-seed file.
fn signing_key(path: &Path) -> Result<SigningKey> {
    let seed = keygen_cmd::read_key_seed(path)?;
    let secret: [u8; 32] =
        Sha256::new().chain_update(BUNDLE_KEY_DOMAIN).chain_update(seed.as_bytes()).finalize().into();
    Ok(SigningKey::from_bytes(&secret))
}

fn export(
    replay_path: &Path,
    program: Option<&Path>,
    protocol: Option<&str>,
    key: &Path,
    dir: &Path,
    run: RunFlags,
    out: &mut Out,
) -> Result<u8> {
    let replay_bytes = input::read_bytes(replay_path)?;
    let replay = canon_replay::Replay::decode(&replay_bytes).map_err(|e| anyhow!("{}: {e}", replay_path.display()))?;
    let config = run.config(replay.header.seed());
    if config.digest() != replay.header.config_digest() {
        bail!(
            "{}: the run flags given (--max-rounds, --fuel, --auth, --replay-mode) are not the recorded configuration",
            replay_path.display()
        );
    }
    let signing = signing_key(key)?;
    let program = match program {
        Some(p) => {
            let program = input::program_file(p, protocol)?;
            if program.digest() != replay.header.program_digest {
                bail!("{} is not the program the replay was recorded from", p.display());
            }
            Some(canon_bytecode::encode(program.module()))
        }
        None => None,
    };
    let files = canon::bundle::seal(replay_bytes, &replay, program, run.json(), &signing);
    let keyid = hex(&signing.verifying_key().to_bytes());
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

fn verify(dir: &Path, pubkey: Option<&Path>, out: &mut Out) -> Result<u8> {
    let expected = match pubkey {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let key = canon_machine::parse_hex32(text.trim())
                .ok_or_else(|| anyhow!("{}: expected a public key as 64 hex digits", path.display()))?;
            Some((key, path.display().to_string()))
        }
        None => None,
    };
    let signer = expected.as_ref().map(|(key, from)| ExpectedSigner { key, from });
    match canon::bundle::verify_dir(dir, signer, &crate::proof_cmd::integrity) {
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
