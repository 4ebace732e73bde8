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
use sha2::{Digest, Sha256};

use crate::out::Out;
use crate::replay_cmd::Given;
use crate::run_cmd::{AuthArg, ReplayModeArg};
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
    given: &Given,
    out: &mut Out,
) -> Result<u8> {
    let replay_bytes = input::read_bytes(replay_path)?;
    let replay = canon_replay::Replay::decode(&replay_bytes).map_err(|e| anyhow!("{}: {e}", replay_path.display()))?;
    // The replay is self-describing: its header records the configuration.
    given.check(replay_path, &replay.header.config)?;
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
    let run = canon::bundle::run_flags(&replay.header.config);
    let files = canon::bundle::seal(replay_bytes, &replay, program, run, &signing);
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
