//! What `canon replay verify` establishes about a replay, and the anchors
//! outside the file that authenticity needs (`--root`, `--trusted-keys`).
//! The three properties are specified in bytecode-spec/replay.md, "What a
//! verified replay proves".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use canon_machine::{cross_check, parse_hex32, run_identity, untrusted_key, verify_signatures};
use canon_replay::Replay;
use clap::{Args, ValueEnum};

use crate::bytecode_cmd::hex;

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

impl Established {
    pub fn has(&self, p: Property) -> bool {
        self.lines.iter().any(|(q, ok, _)| *q == p && *ok)
    }

    pub fn print(&self) {
        println!("established:");
        for (p, ok, why) in &self.lines {
            let name = match p {
                Property::Integrity => "integrity",
                Property::Authentic => "authenticity",
                Property::Behaviour => "behaviour",
            };
            println!("  {name:<12} {}  {why}", if *ok { "yes" } else { "no " });
        }
    }
}

/// The run identity of a replay's envelopes.
pub fn run_of(r: &Replay) -> [u8; 32] {
    run_identity(&r.header.program_digest, &r.header.config_digest)
}

/// Checks signatures and the Received/Consumed cross-check, printing what
/// each found. `Err` carries the failure line (integrity not established).
pub fn integrity(r: &Replay) -> std::result::Result<String, String> {
    let run = run_of(r);
    let sigs = verify_signatures(&run, &r.events).map_err(|e| format!("signature check failed: {e}"))?;
    let cross = cross_check(&run, &r.events).map_err(|e| format!("cross-check failed: {e}"))?;
    Ok(format!(
        "hash chain; {} signatures against the keys bound at open ({} unsigned messages); {} receives matched \
         to their sends; {} consumption roots recomputed",
        sigs.checked, sigs.unsigned, cross.received, cross.consumed
    ))
}

/// Checks the anchors given; `Ok(None)` when none was given.
pub fn authenticity(r: &Replay, args: &ProofArgs) -> Result<std::result::Result<Option<String>, String>> {
    let mut established = Vec::new();
    if let Some(root) = &args.root {
        let want = parse_hex32(root.trim()).with_context(|| format!("--root {root}: expected 64 hex digits"))?;
        if want != r.root {
            return Ok(Err(format!("the replay root {} is not the expected {}", hex(&r.root), hex(&want))));
        }
        established.push("the root is the one expected (--root): the whole file is the trusted run".to_owned());
    }
    if let Some(path) = &args.trusted_keys {
        let trusted = read_trusted_keys(path)?;
        let sessions = r.events.iter().filter(|e| matches!(e.kind, canon_machine::EventKind::Opened { .. })).count();
        if let Some((index, sid, role)) = untrusted_key(&r.events, &trusted) {
            return Ok(Err(format!(
                "event {index}: session {sid:#x} role {role} is bound to a key not in {}",
                path.display()
            )));
        }
        let unsigned = r
            .events
            .iter()
            .any(|e| matches!(e.kind, canon_machine::EventKind::Opened { ref keys, .. } if keys.is_empty()));
        if unsigned {
            return Ok(Err(
                "a session was opened without keys (--auth none): its messages are not authenticated".to_owned()
            ));
        }
        established.push(format!(
            "every key of the {sessions} sessions is in {}: every message was signed by a holder of a trusted \
             secret, in this run (the envelope binds the program and configuration)",
            path.display()
        ));
    }
    Ok(Ok((!established.is_empty()).then(|| established.join("; "))))
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
