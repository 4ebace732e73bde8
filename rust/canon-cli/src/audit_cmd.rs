//! `canon replay audit FILE [--capabilities] [--json]`: the audit logs of a
//! replay, computed from the replay alone.

use std::path::{Path, PathBuf};

use anyhow::Result;
use canon_replay::audit::{render_audit_jsonl, render_audit_text};

use crate::exit;
use crate::input;
use crate::out::Out;

#[derive(clap::Args)]
pub struct AuditArgs {
    file: PathBuf,
    /// The capability lifecycle log (owners and witnesses) instead of the semantic audit log.
    #[arg(long)]
    capabilities: bool,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// The audit logs are computed over the whole event stream, so the replay
/// is decoded in memory here.
fn read_replay(path: &Path) -> Result<canon_replay::Replay> {
    let bytes = input::read_bytes(path)?;
    canon_replay::Replay::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn audit(args: AuditArgs, out: &mut Out) -> Result<u8> {
    let replay = read_replay(&args.file)?;
    let entries = if args.capabilities {
        canon_replay::capability_lifecycle_audit_log(&replay)
    } else {
        canon_replay::semantic_audit_log(&replay)
    };
    out.text(&if args.json { render_audit_jsonl(&entries) } else { render_audit_text(&entries) })?;
    Ok(exit::OK)
}
