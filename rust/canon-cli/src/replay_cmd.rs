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
    /// Check a replay's format, hash chain and message signatures; with
    /// --program, re-execute it from its recorded host answers and compare.
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
        /// The run's --max-instructions (part of the recorded configuration).
        #[arg(long, default_value_t = canon_runtime::Limits::default().max_instructions)]
        max_instructions: u64,
        /// The run's --auth and --replay-mode (part of the recorded configuration).
        #[command(flatten)]
        security: crate::run_cmd::SecurityArgs,
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
        ReplayCommand::Verify { file, program, protocol, max_rounds, fuel, max_instructions, security } => {
            let rerun = Rerun { max_rounds, fuel, max_instructions, security };
            verify(&file, program.as_deref(), protocol.as_deref(), rerun)
        }
    }
}

/// The run flags `replay verify` rebuilds the configuration from.
struct Rerun {
    max_rounds: u64,
    fuel: u32,
    max_instructions: u64,
    security: crate::run_cmd::SecurityArgs,
}

fn verify(file: &Path, program: Option<&Path>, protocol: Option<&str>, rerun: Rerun) -> Result<u8> {
    let recorded = read_replay(file)?;
    println!(
        "{}: format and hash chain ok: {} events in {} blocks, root {}",
        file.display(),
        recorded.events.len(),
        recorded.block_count(),
        hex(&recorded.root)
    );
    match canon_machine::verify_signatures(&recorded.events) {
        Ok(report) => println!(
            "signatures ok: {} checked against the keys bound at open, {} unsigned messages",
            report.checked, report.unsigned
        ),
        Err(e) => {
            println!("signature check failed: {e}");
            return Ok(exit::FAILURE);
        }
    }
    let Some(program_path) = program else { return Ok(exit::OK) };
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
    let config = crate::run_cmd::config(
        recorded.header.seed,
        rerun.max_rounds,
        rerun.fuel,
        rerun.max_instructions,
        rerun.security,
    );
    let replayed = canon_runtime::reexecute(&program, config, &recorded)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let d = canon_replay::diff(&recorded, &replayed);
    if d.is_identical() {
        println!("verified: re-execution from the recorded host answers reproduces every event");
        Ok(exit::OK)
    } else {
        println!("re-execution diverges from the recording:");
        print!("{}", d.render_text());
        Ok(exit::FAILURE)
    }
}
