//! `canon replay show | diff | verify`. Every subcommand streams the file:
//! memory stays bounded by one block (one group for `verify --program`),
//! whatever the file's size.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use canon_machine::Config;
use canon_replay::ReplayReader;
use canon_replay::render::{auth_name, mode_name};
use clap::Subcommand;

use canon_types::hex;
use serde_json::json;

use crate::out::{Out, OutputError};
use crate::run_cmd::{AuthArg, ReplayModeArg};
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
        /// The program the replay was recorded from: each `Faulted` event
        /// then names the faulting instruction, and for a choreography its
        /// `file:line:col` and protocol statement (the replay is re-executed
        /// once to find them; with --json, a `fault_site` object).
        #[arg(long)]
        program: Option<PathBuf>,
        /// The protocol, when the choreography file has several.
        #[arg(long, requires = "program")]
        protocol: Option<String>,
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
    /// canonical order, signatures against the keys it records, receives and
    /// consumptions against sends), authenticity (with --root or
    /// --trusted-keys) and behaviour (with --program: re-executed under the
    /// configuration it records, from its recorded host answers).
    Verify {
        file: PathBuf,
        /// The program the replay was recorded from (.cbc, .casm or choreography).
        #[arg(long)]
        program: Option<PathBuf>,
        /// The protocol, when the choreography file has several.
        #[arg(long)]
        protocol: Option<String>,
        /// Optional check: the run's --max-rounds (an error if the recording differs).
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
        #[command(flatten)]
        proof: crate::proof_cmd::ProofArgs,
        /// One JSON object (schema in docs/cli.md) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The most faults `replay show --program` names; later `Faulted` events
/// are shown without their instruction.
const MAX_SHOWN_FAULT_SITES: usize = 100_000;

/// Where a fault happened: the instruction and, when the program has a
/// source map, its source position.
struct FaultSite {
    proc: u32,
    instr: u32,
    source: Option<(String, u32, u32, String)>,
}

impl FaultSite {
    /// `at proc P instr I [file:line:col `statement`]`, appended to the text line.
    fn text(&self) -> String {
        let mut at = format!("at proc {} instr {}", self.proc, self.instr);
        if let Some((file, line, col, statement)) = &self.source {
            at.push_str(&format!(" {file}:{line}:{col}"));
            if !statement.is_empty() {
                at.push_str(&format!(" `{statement}`"));
            }
        }
        at
    }

    /// The `fault_site` field of the event's JSON object (schema in docs/cli.md).
    fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        let source = self.source.as_ref().map(|(file, line, column, statement)| {
            json!({ "file": file, "line": line, "column": column, "statement": statement })
        });
        let site = json!({ "proc": self.proc, "instr": self.instr, "source": source });
        serde_json::Map::from_iter([("fault_site".to_owned(), site)])
    }
}

/// Where each fault of a replay happened, by (group, coroutine).
#[derive(Default)]
struct FaultSites(std::collections::BTreeMap<(u32, u32), FaultSite>);

impl FaultSites {
    fn take(&mut self, ev: &canon_machine::Event) -> Option<FaultSite> {
        match ev.kind {
            canon_machine::EventKind::Faulted { .. } => self.0.remove(&(ev.site.group, ev.site.coroutine)),
            _ => None,
        }
    }
}

/// Re-executes `replay` with the program at `program` (which must be the
/// recorded one) to find where each recorded fault happened.
fn fault_sites(replay: &Path, program: &Path, protocol: Option<&str>) -> Result<FaultSites> {
    let reader = open_replay(replay)?;
    let prog = input::program_file(program, protocol)?;
    if prog.digest() != reader.header().program_digest {
        bail!(
            "{}: the replay was recorded from program {}, not {} ({})",
            replay.display(),
            hex(&reader.header().program_digest[..8]),
            program.display(),
            hex(&prog.digest()[..8])
        );
    }
    let module = prog.module();
    let mut sites = FaultSites::default();
    canon_runtime::reexecute_faults(&prog, reader, &mut |group, f| {
        if sites.0.len() < MAX_SHOWN_FAULT_SITES {
            let source = module
                .source_of(f.proc, f.pc)
                .map(|loc| (loc.file.to_owned(), loc.line, loc.col, loc.statement.to_owned()));
            sites.0.insert((group, f.coroutine), FaultSite { proc: f.proc, instr: f.pc, source });
        }
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", replay.display()))?;
    Ok(sites)
}

/// Opens `path` for streaming and reads its header.
pub fn open_replay(path: &Path) -> Result<ReplayReader<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    ReplayReader::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn stream_err(path: &Path) -> impl Fn(canon_replay::RenderError) -> anyhow::Error + '_ {
    move |e| match e {
        canon_replay::RenderError::Replay(e) => anyhow::anyhow!("{}: {e}", path.display()),
        canon_replay::RenderError::Output(e) => anyhow::Error::new(OutputError(e)),
    }
}

pub fn replay(cmd: ReplayCommand, out: &mut Out) -> Result<u8> {
    match cmd {
        ReplayCommand::Audit(args) => crate::audit_cmd::audit(args, out),
        ReplayCommand::Show { file, json, program, protocol } => {
            let mut annotate = match &program {
                Some(path) => fault_sites(&file, path, protocol.as_deref())?,
                None => FaultSites::default(),
            };
            let reader = open_replay(&file)?;
            if json {
                canon_replay::write_jsonl_annotated(reader, out.writer(), &mut |ev| {
                    annotate.take(ev).map(|site| site.json())
                })
                .map_err(stream_err(&file))?;
            } else {
                canon_replay::write_text_annotated(reader, out.writer(), &mut |ev| {
                    annotate.take(ev).map(|site| site.text())
                })
                .map_err(stream_err(&file))?;
            }
            Ok(exit::OK)
        }
        ReplayCommand::Diff { a, b, json } => {
            let (ra, rb) = (open_replay(&a)?, open_replay(&b)?);
            let (d, end) = canon_replay::diff_readers(ra, rb).map_err(|(side, e)| {
                let file = if side == canon_replay::Side::A { &a } else { &b };
                anyhow::anyhow!("{}: {e}", file.display())
            })?;
            if json {
                writeln!(out, "{}", d.render_json())?;
            } else if let (true, Some(end)) = (d.is_identical(), end) {
                // Identical streams were both read to their (checked) trailers.
                writeln!(out, "identical: {} events, root {}", end.events, hex(&end.root))?;
            } else {
                out.text(&d.render_text())?;
            }
            Ok(if d.is_identical() { exit::OK } else { exit::FAILURE })
        }
        ReplayCommand::Verify {
            file,
            program,
            protocol,
            max_rounds,
            fuel,
            max_instructions,
            auth,
            replay_mode,
            proof,
            json,
        } => {
            let given = Given { max_rounds, fuel, max_instructions, auth, replay_mode };
            let report = verify(&file, program.as_deref(), protocol.as_deref(), &given, &proof)?;
            if json {
                writeln!(out, "{}", report.json(&file))?;
            } else {
                out.text(&report.text)?;
            }
            Ok(report.code)
        }
    }
}

/// A configuration field, its flag, and (recorded, given) when the flag was given.
type Check = (&'static str, &'static str, Option<(String, String)>);

/// Run flags given to `replay verify` or `bundle export`: checks against
/// the recorded configuration.
pub(crate) struct Given {
    pub max_rounds: Option<u64>,
    pub fuel: Option<u32>,
    pub max_instructions: Option<u64>,
    pub auth: Option<AuthArg>,
    pub replay_mode: Option<ReplayModeArg>,
}

impl Given {
    /// The first flag that differs from the recording, as an error naming
    /// the field, the recorded and the given value.
    pub fn check(&self, file: &Path, recorded: &Config) -> Result<()> {
        let l = &recorded.limits;
        let auth = self.auth.map(|a| match a {
            AuthArg::Ed25519 => canon_machine::Auth::Ed25519,
            AuthArg::None => canon_machine::Auth::None,
            AuthArg::Ed25519Round => canon_machine::Auth::Ed25519Round,
        });
        let mode = self.replay_mode.map(|m| match m {
            ReplayModeArg::Off => canon_machine::ReplayMode::Off,
            ReplayModeArg::Sequence => canon_machine::ReplayMode::Sequence,
            ReplayModeArg::Nullifier => canon_machine::ReplayMode::Nullifier,
        });
        let checks: [Check; 5] = [
            ("max_rounds", "--max-rounds", self.max_rounds.map(|g| (l.max_rounds.to_string(), g.to_string()))),
            ("fuel_per_quantum", "--fuel", self.fuel.map(|g| (l.fuel_per_quantum.to_string(), g.max(1).to_string()))),
            (
                "max_instructions",
                "--max-instructions",
                self.max_instructions.map(|g| (l.max_instructions.to_string(), g.to_string())),
            ),
            ("auth", "--auth", auth.map(|g| (auth_name(recorded.auth).to_owned(), auth_name(g).to_owned()))),
            (
                "replay_mode",
                "--replay-mode",
                mode.map(|g| (mode_name(recorded.replay_mode).to_owned(), mode_name(g).to_owned())),
            ),
        ];
        for (field, flag, pair) in checks {
            if let Some((rec, giv)) = pair
                && rec != giv
            {
                bail!(
                    "{}: {flag} differs from the recording: configuration field `{field}` is recorded as {rec}, given {giv} (the replay records its configuration; the flag is not needed)",
                    file.display()
                );
            }
        }
        Ok(())
    }
}

/// What `replay verify` found: the text it prints, the facts behind the
/// `--json` object (schema in docs/cli.md), and the exit code.
struct VerifyReport {
    text: String,
    /// Events, blocks and root, once the file was read to its trailer.
    end: Option<canon_replay::ReplayEnd>,
    /// The first failed check, as printed.
    failure: Option<String>,
    /// The first divergence of re-execution, as printed.
    divergence: Option<String>,
    /// A note that the program digest differs from the recorded one.
    program_note: Option<String>,
    established: Vec<(crate::proof_cmd::Property, bool, String)>,
    /// Required properties that were not established.
    missing: Vec<&'static str>,
    code: u8,
}

impl VerifyReport {
    fn new() -> VerifyReport {
        VerifyReport {
            text: String::new(),
            end: None,
            failure: None,
            divergence: None,
            program_note: None,
            established: Vec::new(),
            missing: Vec::new(),
            code: exit::FAILURE,
        }
    }

    fn fail(mut self, line: String) -> VerifyReport {
        self.text.push_str(&line);
        self.text.push('\n');
        self.failure = Some(line);
        self.code = exit::FAILURE;
        self
    }

    fn json(&self, file: &Path) -> serde_json::Value {
        use crate::proof_cmd::property_name;
        let established: serde_json::Map<String, serde_json::Value> = self
            .established
            .iter()
            .map(|(p, ok, why)| (property_name(*p).to_owned(), json!({ "ok": ok, "why": why })))
            .collect();
        json!({
            "file": file.display().to_string(),
            "status": if self.code == exit::OK { "verified" } else { "failed" },
            "exit_code": self.code,
            "events": self.end.map(|e| e.events),
            "blocks": self.end.map(|e| e.blocks),
            "root": self.end.map(|e| hex(&e.root)),
            "failure": self.failure,
            "divergence": self.divergence,
            "program_note": self.program_note,
            "established": established,
            "required_missing": self.missing,
        })
    }
}

fn verify(
    file: &Path,
    program: Option<&Path>,
    protocol: Option<&str>,
    given: &Given,
    proof: &crate::proof_cmd::ProofArgs,
) -> Result<VerifyReport> {
    use crate::proof_cmd::{GroupChecks, Property};
    use std::fmt::Write as _;
    let mut report = VerifyReport::new();
    let mut reader = open_replay(file)?;
    let recorded = reader.header().clone();
    given.check(file, &recorded.config)?;
    let bad = |e: canon_replay::ReplayError| anyhow::anyhow!("{}: {e}", file.display());
    let mut checks = GroupChecks::new(&recorded, proof)?;
    let mut behaviour = (false, "not re-executed (--program)".to_owned());
    let end = match program {
        None => {
            let mut events = Vec::new();
            while let Some(id) = reader.next_group(&mut events).map_err(bad)? {
                if !checks.check(id, &events) {
                    break;
                }
            }
            reader.end()
        }
        Some(program_path) => {
            let program = input::program_file(program_path, protocol)?;
            if program.digest() != recorded.program_digest {
                // Re-execute anyway: the first divergent event shows where the programs differ.
                let note = format!(
                    "{}: the replay was recorded from program {}, not {} ({}); re-executing to find the first divergence",
                    file.display(),
                    hex(&recorded.program_digest[..8]),
                    program_path.display(),
                    hex(&program.digest()[..8])
                );
                crate::out::stderrln!("note: {note}");
                report.program_note = Some(note);
            }
            let outcome = canon_runtime::reexecute_reader(&program, reader, &mut |id, events| checks.check(id, events))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if checks.failed.is_none() && !outcome.diff.is_identical() {
                let diff = outcome.diff.render_text();
                report.text.push_str("re-execution diverges from the recording:\n");
                report.text.push_str(&diff);
                report.divergence = Some(diff);
                return Ok(report);
            }
            behaviour = (
                true,
                format!(
                    "{} re-executed from the recorded host answers reproduces every event (with the recorded keys \
                     and signatures, no secret)",
                    program_path.display()
                ),
            );
            outcome.recorded
        }
    };
    if let Some(failure) = &checks.failed {
        return Ok(report.fail(failure.clone()));
    }
    let end = end.expect("a replay read without failure was read to its trailer");
    report.end = Some(end);
    let _ = writeln!(
        report.text,
        "{}: format and hash chain ok, canonical order ok: {} events in {} blocks, root {}",
        file.display(),
        end.events,
        end.blocks,
        hex(&end.root)
    );
    let mut est = crate::proof_cmd::Established { lines: vec![(Property::Integrity, true, checks.integrity_line())] };
    match checks.authenticity(&end.root) {
        Ok(Some(why)) => est.lines.push((Property::Authentic, true, why)),
        Ok(None) => est.lines.push((
            Property::Authentic,
            false,
            "no anchor outside the file (--root or --trusted-keys): anyone could have written it".to_owned(),
        )),
        Err(failure) => return Ok(report.fail(format!("authenticity check failed: {failure}"))),
    }
    est.lines.push((Property::Behaviour, behaviour.0, behaviour.1));
    est.print(&mut report.text);
    let (code, missing) = est.conclude(&proof.require, &mut report.text);
    report.code = code;
    report.missing = missing;
    report.established = est.lines;
    Ok(report)
}
