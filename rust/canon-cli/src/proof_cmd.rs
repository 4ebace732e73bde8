//! What `canon replay verify` establishes about a replay, and the anchors
//! outside the file that authenticity needs (`--root`, `--trusted-keys`).
//! The three properties are specified in bytecode-spec/replay.md, "What a
//! verified replay proves".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use canon_machine::Event;
use canon_machine::{cross_check, parse_hex32, run_identity, untrusted_key, verify_signatures};
use canon_replay::{Replay, ReplayHeader};
use clap::{Args, ValueEnum};

use canon_types::hex;

/// A property `replay verify` can establish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Property {
    /// The file is internally consistent: format, hash chain, every signature
    /// against the keys it records, every receive and consumption against its send.
    Integrity,
    /// An anchor outside the file vouches for it: `--root` or `--trusted-keys`.
    Authentic,
    /// Re-executing the program (`--program`) reproduces every event.
    Behaviour,
}

/// Anchors and requirements of `replay verify`.
#[derive(Args, Debug, Default)]
pub struct ProofArgs {
    /// Anchor: the replay root you expect, from a record you trust (64 hex digits).
    #[arg(long, value_name = "HEX")]
    pub root: Option<String>,
    /// Anchor: a file of trusted endpoint verifying keys, one per line as 64 hex digits
    /// (`#` comments); every key the replay binds must be in it.
    #[arg(long, value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
    /// Fail (exit 1) unless this property was established. Repeatable.
    #[arg(long, value_enum)]
    pub require: Vec<Property>,
}

/// What the checks established, and why not where they did not.
pub struct Established {
    /// Property, and the sentence that explains it.
    pub lines: Vec<(Property, bool, String)>,
}

/// A property's name as printed and in `--json`.
pub fn property_name(p: Property) -> &'static str {
    match p {
        Property::Integrity => "integrity",
        Property::Authentic => "authenticity",
        Property::Behaviour => "behaviour",
    }
}

impl Established {
    pub fn has(&self, p: Property) -> bool {
        self.lines.iter().any(|(q, ok, _)| *q == p && *ok)
    }

    /// The table of what was established, appended to `out`.
    pub fn print(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str("established:\n");
        for (p, ok, why) in &self.lines {
            let _ = writeln!(out, "  {:<12} {}  {why}", property_name(*p), if *ok { "yes" } else { "no " });
        }
    }

    /// Appends the verdict line to `out`; the exit code (failure when a
    /// required property was not established) and the required properties
    /// that were not.
    pub fn conclude(&self, require: &[Property], out: &mut String) -> (u8, Vec<&'static str>) {
        use std::fmt::Write as _;
        let missing: Vec<&'static str> = require.iter().filter(|p| !self.has(**p)).map(|p| property_name(*p)).collect();
        if !missing.is_empty() {
            let _ = writeln!(out, "required but not established: {}", missing.join(", "));
            return (crate::exit::FAILURE, missing);
        }
        let yes: Vec<&str> = self.lines.iter().filter(|l| l.1).map(|l| property_name(l.0)).collect();
        let no: Vec<&str> = self.lines.iter().filter(|l| !l.1).map(|l| property_name(l.0)).collect();
        if no.is_empty() {
            let _ = writeln!(out, "verified: {}", yes.join(", "));
        } else {
            let _ = writeln!(out, "verified: {} (not established: {})", yes.join(", "), no.join(", "));
        }
        (crate::exit::OK, missing)
    }
}

/// The integrity and key-anchor checks of `replay verify`, made group by
/// group as the replay streams (a session belongs to one group), so memory
/// does not grow with the file.
pub struct GroupChecks {
    run: [u8; 32],
    /// The run's configuration (whether edge histories hash).
    config: canon_machine::Config,
    root: Option<[u8; 32]>,
    trusted: Option<(PathBuf, BTreeSet<[u8; 32]>)>,
    signatures: u64,
    unsigned: u64,
    received: u64,
    consumed: u64,
    edges: u64,
    sessions: u64,
    unkeyed_session: bool,
    /// Events before the current group.
    before: u64,
    /// The first failure, as the line to print.
    pub failed: Option<String>,
}

impl GroupChecks {
    /// Reads the anchors `args` names (a bad `--root` or an unreadable
    /// `--trusted-keys` file is an error before anything is checked).
    pub fn new(header: &ReplayHeader, args: &ProofArgs) -> Result<GroupChecks> {
        let root = match &args.root {
            Some(root) => {
                Some(parse_hex32(root.trim()).with_context(|| format!("--root {root}: expected 64 hex digits"))?)
            }
            None => None,
        };
        let trusted = match &args.trusted_keys {
            Some(path) => Some((path.clone(), read_trusted_keys(path)?)),
            None => None,
        };
        Ok(GroupChecks {
            run: run_identity(&header.program_digest, &header.config_digest()),
            config: header.config,
            root,
            trusted,
            signatures: 0,
            unsigned: 0,
            received: 0,
            consumed: 0,
            edges: 0,
            sessions: 0,
            unkeyed_session: false,
            before: 0,
            failed: None,
        })
    }

    /// Checks one group's events; `false` (and `failed` set) at the first failure.
    pub fn check(&mut self, group: u32, events: &[Event]) -> bool {
        let at = |e: String| format!("instance {group} (its events start at event {}): {e}", self.before);
        match verify_signatures(&self.run, events) {
            Ok(r) => (self.signatures, self.unsigned) = (self.signatures + r.checked, self.unsigned + r.unsigned),
            Err(e) => {
                self.failed = Some(format!("signature check failed in {}", at(e.to_string())));
                return false;
            }
        }
        match cross_check(&self.run, &self.config, events) {
            Ok(c) => {
                self.received += c.received;
                self.consumed += c.consumed;
                self.edges += c.edges;
            }
            Err(e) => {
                self.failed = Some(format!("cross-check failed in {}", at(e.to_string())));
                return false;
            }
        }
        for e in events {
            if let canon_machine::EventKind::Opened { keys, .. } = &e.kind {
                self.sessions += 1;
                self.unkeyed_session |= keys.is_empty();
            }
        }
        if let Some((path, trusted)) = &self.trusted
            && let Some((index, sid, role)) = untrusted_key(events, trusted)
        {
            let index = self.before + index as u64;
            self.failed = Some(format!(
                "authenticity check failed: event {index}: session {sid:#x} role {role} is bound to a key not in {}",
                path.display()
            ));
            return false;
        }
        self.before += events.len() as u64;
        true
    }

    /// What integrity established, once every group passed.
    pub fn integrity_line(&self) -> String {
        format!(
            "hash chain, canonical order; {} signatures against the keys bound at open ({} unsigned messages); \
             {} receives matched to their sends; {} consumption roots recomputed; {} edge histories recomputed",
            self.signatures, self.unsigned, self.received, self.consumed, self.edges
        )
    }

    /// Checks the anchors given against the replay's `root`; `Ok(None)` when none was given.
    pub fn authenticity(&self, root: &[u8; 32]) -> std::result::Result<Option<String>, String> {
        let mut established = Vec::new();
        if let Some(want) = &self.root {
            if want != root {
                return Err(format!("the replay root {} is not the expected {}", hex(root), hex(want)));
            }
            established.push("the root is the one expected (--root): the whole file is the trusted run".to_owned());
        }
        if let Some((path, _)) = &self.trusted {
            if self.unkeyed_session {
                return Err(
                    "a session was opened without keys (--auth none): its messages are not authenticated".to_owned()
                );
            }
            established.push(format!(
                "every key of the {} sessions is in {}: every message was signed by a holder of a trusted \
                 secret, in this run (the envelope binds the program and configuration)",
                self.sessions,
                path.display()
            ));
        }
        Ok((!established.is_empty()).then(|| established.join("; ")))
    }
}

/// The run identity of a replay's envelopes.
pub fn run_of(r: &Replay) -> [u8; 32] {
    run_identity(&r.header.program_digest, &r.header.config_digest())
}

/// Checks signatures and the Received/Consumed cross-check, printing what
/// each found. `Err` carries the failure line (integrity not established).
pub fn integrity(r: &Replay) -> std::result::Result<String, String> {
    let run = run_of(r);
    let sigs = verify_signatures(&run, &r.events).map_err(|e| format!("signature check failed: {e}"))?;
    let cross = cross_check(&run, &r.header.config, &r.events).map_err(|e| format!("cross-check failed: {e}"))?;
    Ok(format!(
        "hash chain; {} signatures against the keys bound at open ({} unsigned messages); {} receives matched \
         to their sends; {} consumption roots recomputed; {} edge histories recomputed",
        sigs.checked, sigs.unsigned, cross.received, cross.consumed, cross.edges
    ))
}

/// A trusted-keys file: one 64-hex-digit verifying key per line, `#` comments.
pub fn read_trusted_keys(path: &Path) -> Result<BTreeSet<[u8; 32]>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut keys = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_hex32(line) {
            Some(k) => keys.insert(k),
            None => bail!("{}:{}: expected a verifying key as 64 hex digits", path.display(), i + 1),
        };
    }
    Ok(keys)
}
