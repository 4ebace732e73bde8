//! `canon replay show | diff | verify`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use canon_replay::Replay;
use clap::Subcommand;

use canon_types::hex;
use serde_json::json;

use crate::out::Out;
use crate::{exit, input};

#[derive(Subcommand)]
pub enum ReplayCommand {
    /// Print the replay's audit log: lifecycle events, witnesses, delegations
    /// and ownership (or, with --capabilities, the capability lifecycle log).
    Audit(crate::audit_cmd::AuditArgs),
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
        #[arg(long, default_value_t = canon_runtime::Limits::default().max_rounds)]
        max_rounds: u64,
        /// The run's --fuel (part of the recorded configuration).
        #[arg(long, default_value_t = canon_runtime::Limits::default().fuel_per_quantum)]
        fuel: u32,
        /// The run's --auth and --replay-mode (part of the recorded configuration).
        #[command(flatten)]
        security: crate::run_cmd::SecurityArgs,
        /// One JSON object (schema in docs/cli.md) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn read_replay(path: &Path) -> Result<Replay> {
    let bytes = input::read_bytes(path)?;
    Replay::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn replay(cmd: ReplayCommand, out: &mut Out) -> Result<u8> {
    match cmd {
        ReplayCommand::Audit(args) => crate::audit_cmd::audit(args),
        ReplayCommand::Show { file, json } => {
            let r = read_replay(&file)?;
            out.text(&if json { canon_replay::render_jsonl(&r) } else { canon_replay::render_text(&r) })?;
            Ok(exit::OK)
        }
        ReplayCommand::Diff { a, b, json } => {
            let (ra, rb) = (read_replay(&a)?, read_replay(&b)?);
            let d = canon_replay::diff(&ra, &rb);
            if json {
                writeln!(out, "{}", d.render_json())?;
            } else if d.is_identical() {
                writeln!(out, "identical: {} events, root {}", ra.events.len(), hex(&ra.root))?;
            } else {
                out.text(&d.render_text())?;
            }
            Ok(if d.is_identical() { exit::OK } else { exit::FAILURE })
        }
        ReplayCommand::Verify { file, program, protocol, max_rounds, fuel, security, json } => {
            let rerun = Rerun { max_rounds, fuel, security };
            let report = verify(&file, program.as_deref(), protocol.as_deref(), rerun)?;
            if json {
                writeln!(out, "{}", report.json(&file))?;
            } else {
                out.text(&report.text)?;
            }
            Ok(report.code)
        }
    }
}

/// The run flags `replay verify` rebuilds the configuration from.
struct Rerun {
    max_rounds: u64,
    fuel: u32,
    security: crate::run_cmd::SecurityArgs,
}

/// What `replay verify` found: the text it prints, the facts behind the
/// `--json` object, and the exit code.
struct VerifyReport {
    text: String,
    events: usize,
    blocks: usize,
    root: [u8; 32],
    signatures: Result<(u64, u64), String>,
    /// `None` without `--program`; otherwise whether re-execution matched,
    /// with the first divergence as text.
    reexecution: Option<Result<(), String>>,
    /// A note that the program digest differs from the recorded one.
    program_note: Option<String>,
    code: u8,
}

impl VerifyReport {
    fn json(&self, file: &Path) -> serde_json::Value {
        json!({
            "file": file.display().to_string(),
            "status": if self.code == exit::OK { "verified" } else { "failed" },
            "exit_code": self.code,
            "events": self.events,
            "blocks": self.blocks,
            "root": hex(&self.root),
            "chain": "ok",
            "signatures": match &self.signatures {
                Ok((checked, unsigned)) => json!({ "ok": true, "checked": checked, "unsigned": unsigned }),
                Err(e) => json!({ "ok": false, "error": e }),
            },
            "reexecution": match &self.reexecution {
                None => serde_json::Value::Null,
                Some(Ok(())) => json!({ "identical": true }),
                Some(Err(diff)) => json!({ "identical": false, "divergence": diff }),
            },
            "program_note": self.program_note,
        })
    }
}

fn verify(file: &Path, program: Option<&Path>, protocol: Option<&str>, rerun: Rerun) -> Result<VerifyReport> {
    use std::fmt::Write as _;
    let recorded = read_replay(file)?;
    let mut report = VerifyReport {
        text: String::new(),
        events: recorded.events.len(),
        blocks: recorded.block_count(),
        root: recorded.root,
        signatures: Err(String::new()),
        reexecution: None,
        program_note: None,
        code: exit::FAILURE,
    };
    let t = &mut report.text;
    let _ = writeln!(
        t,
        "{}: format and hash chain ok: {} events in {} blocks, root {}",
        file.display(),
        recorded.events.len(),
        recorded.block_count(),
        hex(&recorded.root)
    );
    match canon_machine::verify_signatures(&recorded.events) {
        Ok(sig) => {
            let _ = writeln!(
                t,
                "signatures ok: {} checked against the keys bound at open, {} unsigned messages",
                sig.checked, sig.unsigned
            );
            report.signatures = Ok((sig.checked, sig.unsigned));
        }
        Err(e) => {
            let _ = writeln!(t, "signature check failed: {e}");
            report.signatures = Err(e.to_string());
            return Ok(report);
        }
    }
    let Some(program_path) = program else {
        report.code = exit::OK;
        return Ok(report);
    };
    let program = input::program_file(program_path, protocol)?;
    if program.digest() != recorded.header.program_digest {
        // Re-execute anyway: the first divergent event shows where the programs differ.
        let note = format!(
            "{}: the replay was recorded from program {}, not {} ({}); re-executing to find the first divergence",
            file.display(),
            hex(&recorded.header.program_digest[..8]),
            program_path.display(),
            hex(&program.digest()[..8])
        );
        eprintln!("note: {note}");
        report.program_note = Some(note);
    }
    let config = crate::run_cmd::config(recorded.header.seed, rerun.max_rounds, rerun.fuel, rerun.security);
    let replayed = canon_runtime::reexecute(&program, config, &recorded)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let d = canon_replay::diff(&recorded, &replayed);
    let t = &mut report.text;
    if d.is_identical() {
        let _ = writeln!(t, "verified: re-execution from the recorded host answers reproduces every event");
        report.reexecution = Some(Ok(()));
        report.code = exit::OK;
    } else {
        let _ = writeln!(t, "re-execution diverges from the recording:");
        t.push_str(&d.render_text());
        report.reexecution = Some(Err(d.render_text()));
    }
    Ok(report)
}
