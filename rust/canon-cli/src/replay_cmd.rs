//! `canon replay show | diff | verify`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use canon_replay::Replay;
use clap::Subcommand;

use crate::bytecode_cmd::hex;
use crate::{exit, input};

#[derive(Subcommand)]
pub enum ReplayCommand {
    /// Print a replay: one line per event (or JSON lines with --json).
    Show {
        file: PathBuf,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compare two replays; exit 0 if identical, 1 with the first divergent event otherwise.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a replay and say what it proves: integrity (format, hash chain,
    /// signatures against the keys it records, receives and consumptions
    /// against sends), authenticity (with --root or --trusted-keys) and
    /// behaviour (with --program: re-executed from its recorded host answers).
    Verify {
        file: PathBuf,
        /// The program the replay was recorded from (.cbc, .casm or choreography).
        #[arg(long)]
        program: Option<PathBuf>,
        /// The protocol, when the choreography file has several.
        #[arg(long)]
        protocol: Option<String>,
        /// The run's --max-rounds (part of the recorded configuration).
        #[arg(long, default_value_t = 1_000_000)]
        max_rounds: u64,
        /// The run's --fuel (part of the recorded configuration).
        #[arg(long, default_value_t = canon_runtime::Limits::default().fuel_per_quantum)]
        fuel: u32,
        /// The run's --auth and --replay-mode (part of the recorded configuration).
        #[command(flatten)]
        security: crate::run_cmd::SecurityArgs,
        #[command(flatten)]
        proof: crate::proof_cmd::ProofArgs,
    },
}

pub fn read_replay(path: &Path) -> Result<Replay> {
    let bytes = input::read_bytes(path)?;
    Replay::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn replay(cmd: ReplayCommand) -> Result<u8> {
    match cmd {
        ReplayCommand::Show { file, json } => {
            let r = read_replay(&file)?;
            print!("{}", if json { canon_replay::render_jsonl(&r) } else { canon_replay::render_text(&r) });
            Ok(exit::OK)
        }
        ReplayCommand::Diff { a, b, json } => {
            let (ra, rb) = (read_replay(&a)?, read_replay(&b)?);
            let d = canon_replay::diff(&ra, &rb);
            if json {
                println!("{}", d.render_json());
            } else if d.is_identical() {
                println!("identical: {} events, root {}", ra.events.len(), hex(&ra.root));
            } else {
                print!("{}", d.render_text());
            }
            Ok(if d.is_identical() { exit::OK } else { exit::FAILURE })
        }
        ReplayCommand::Verify { file, program, protocol, max_rounds, fuel, security, proof } => {
            let rerun = Rerun { max_rounds, fuel, security };
            verify(&file, program.as_deref(), protocol.as_deref(), rerun, &proof)
        }
    }
}

/// The run flags `replay verify` rebuilds the configuration from.
struct Rerun {
    max_rounds: u64,
    fuel: u32,
    security: crate::run_cmd::SecurityArgs,
}

fn verify(
    file: &Path,
    program: Option<&Path>,
    protocol: Option<&str>,
    rerun: Rerun,
    proof: &crate::proof_cmd::ProofArgs,
) -> Result<u8> {
    use crate::proof_cmd::{Established, Property};
    let recorded = read_replay(file)?;
    println!(
        "{}: format and hash chain ok: {} events in {} blocks, root {}",
        file.display(),
        recorded.events.len(),
        recorded.block_count(),
        hex(&recorded.root)
    );
    let integrity = match crate::proof_cmd::integrity(&recorded) {
        Ok(line) => line,
        Err(failure) => {
            println!("{failure}");
            return Ok(exit::FAILURE);
        }
    };
    let mut est = Established { lines: vec![(Property::Integrity, true, integrity)] };
    match crate::proof_cmd::authenticity(&recorded, proof)? {
        Ok(Some(why)) => est.lines.push((Property::Authentic, true, why)),
        Ok(None) => est.lines.push((
            Property::Authentic,
            false,
            "no anchor outside the file (--root or --trusted-keys): anyone could have written it".to_owned(),
        )),
        Err(failure) => {
            println!("authenticity check failed: {failure}");
            return Ok(exit::FAILURE);
        }
    }
    match program {
        None => est.lines.push((Property::Behaviour, false, "not re-executed (--program)".to_owned())),
        Some(program_path) => {
            let program = input::program_file(program_path, protocol)?;
            if program.digest() != recorded.header.program_digest {
                // Re-execute anyway: the first divergent event shows where the programs differ.
                eprintln!(
                    "note: {}: the replay was recorded from program {}, not {} ({}); re-executing to find the first divergence",
                    file.display(),
                    hex(&recorded.header.program_digest[..8]),
                    program_path.display(),
                    hex(&program.digest()[..8])
                );
            }
            let config = crate::run_cmd::config(recorded.header.seed, rerun.max_rounds, rerun.fuel, rerun.security);
            let replayed = canon_runtime::reexecute(&program, config, &recorded)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let d = canon_replay::diff(&recorded, &replayed);
            if !d.is_identical() {
                println!("re-execution diverges from the recording:");
                print!("{}", d.render_text());
                return Ok(exit::FAILURE);
            }
            est.lines.push((
                Property::Behaviour,
                true,
                format!(
                    "{} re-executed from the recorded host answers reproduces every event (with the recorded keys \
                     and signatures, no secret)",
                    program_path.display()
                ),
            ));
        }
    }
    est.print();
    let missing: Vec<&str> = proof
        .require
        .iter()
        .filter(|p| !est.has(**p))
        .map(|p| match p {
            Property::Integrity => "integrity",
            Property::Authentic => "authentic",
            Property::Behaviour => "behaviour",
        })
        .collect();
    if missing.is_empty() {
        let name = |p: &Property| match p {
            Property::Integrity => "integrity",
            Property::Authentic => "authenticity",
            Property::Behaviour => "behaviour",
        };
        let yes: Vec<&str> = est.lines.iter().filter(|l| l.1).map(|l| name(&l.0)).collect();
        let no: Vec<&str> = est.lines.iter().filter(|l| !l.1).map(|l| name(&l.0)).collect();
        match no.is_empty() {
            true => println!("verified: {}", yes.join(", ")),
            false => println!("verified: {} (not established: {})", yes.join(", "), no.join(", ")),
        }
        Ok(exit::OK)
    } else {
        println!("required but not established: {}", missing.join(", "));
        Ok(exit::FAILURE)
    }
}
