//! canon's canonical replay fragments: the binary format, its hash chain, and
//! the tooling over it (text and JSON-lines views, a semantic diff).
//!
//! A replay is a header (magic `CNRP`, version, program and config digests,
//! seed, the program's string table) followed by blocks of fixed-layout event
//! records and a trailer. Each block is chained, `h_b = SHA-256(h_{b-1} ||
//! block)` with `h_0 = SHA-256(header)`, and the trailer holds the root. The
//! byte layout is specified in `bytecode-spec/replay.md`.
//!
//! - [`ReplayWriter`] turns events (in canonical order) into bytes;
//! - [`Replay::decode`] reads bytes back, checking every hash, and names the
//!   damaged block and its first event when one does not verify;
//! - [`render_text`] / [`render_jsonl`] show a replay; [`diff()`] compares two.
//!
//! Same events, same header → same bytes: block cuts depend only on the
//! event sequence ([`BLOCK_TARGET_BYTES`]).
#![deny(missing_docs)]

pub mod audit;
mod cursor;
pub mod diff;
pub mod error;
pub mod header;
mod names;
pub mod record;
pub mod render;
pub mod replay;
mod source;
pub mod writer;

pub use audit::{AuditEntry, AuditObject, capability_lifecycle_audit_log, semantic_audit_log};
pub use diff::{DiffEvent, Divergence, HeaderDiff, Lockstep, ReplayDiff, Side, diff, diff_readers, header_diffs};
pub use error::{REPLAY_CODES, ReplayError};
pub use header::{FORMAT_VERSION, MAGIC, ReplayHeader};
pub use render::{
    RenderError, config_fields, config_json, render_jsonl, render_text, write_jsonl, write_jsonl_annotated, write_text,
    write_text_annotated,
};
pub use replay::{BlockInfo, Events, Replay, ReplayEnd, ReplayReader};
pub use writer::{BLOCK_TARGET_BYTES, BlockEncoder, EncodedBlocks, EncodedMark, ReplayWriter, WriterPosition, Written};
