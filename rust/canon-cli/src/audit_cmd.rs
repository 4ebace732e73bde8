//! `canon replay audit FILE [--capabilities] [--json]`: the audit logs of a
//! replay, computed from the replay alone.

use std::path::PathBuf;

use anyhow::Result;
use canon_replay::audit::{render_audit_jsonl, render_audit_text};

use crate::exit;
use crate::replay_cmd::read_replay;

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

pub fn audit(args: AuditArgs) -> Result<u8> {
    let replay = read_replay(&args.file)?;
    let entries = if args.capabilities {
        canon_replay::capability_lifecycle_audit_log(&replay)
    } else {
        canon_replay::semantic_audit_log(&replay)
    };
    print!("{}", if args.json { render_audit_jsonl(&entries) } else { render_audit_text(&entries) });
    Ok(exit::OK)
}
