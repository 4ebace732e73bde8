//! Why a byte string is not a valid replay fragment, with stable 5xxx codes.
//!
//! Every variant names the byte offset (from the start of the file) where the
//! problem was found and, where the problem lies inside the event stream, the
//! block index and the index of the event (counted over the whole file).

use canon_types::ErrorCode;
use canon_types::value::ValueDecodeError;

/// A replay fragment failed to decode or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file does not start with `CNRP`.
    #[error("bad magic {found:02x?} at byte {offset}: not a canon replay")]
    BadMagic {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The first four bytes of the file.
        found: [u8; 4],
    },
    /// The format version is not one this reader understands.
    #[error("unsupported replay format version {version} at byte {offset}")]
    UnsupportedVersion {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The format version the file declares.
        version: u16,
    },
    /// Reserved header flags are set.
    #[error("unsupported replay flags 0x{flags:04x} at byte {offset}")]
    UnsupportedFlags {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The header flags found.
        flags: u16,
    },
    /// The file ends inside a field.
    #[error("replay truncated at byte {offset}: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// How many bytes it needs.
        needed: usize,
        /// How many bytes are left.
        available: usize,
    },
    /// A string-table entry is not UTF-8.
    #[error("string {index} at byte {offset} is not UTF-8")]
    BadString {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The string's index in the header's string table.
        index: usize,
    },
    /// A block's stored chain hash is not `SHA-256(h_{b-1} || block)`.
    #[error("hash chain broken at block {block} (byte {offset}, first event {first_event}): block or header damaged")]
    ChainMismatch {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The index of the block's first event.
        first_event: u64,
    },
    /// The trailer's root is not the last chain hash.
    #[error("root at byte {offset} does not match the hash chain")]
    RootMismatch {
        /// The byte offset in the file where reading failed.
        offset: usize,
    },
    /// An event record has an unknown kind byte.
    #[error("unknown event kind 0x{kind:02x} at byte {offset} (block {block}, event {event})")]
    UnknownEventKind {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// The kind byte read.
        kind: u8,
    },
    /// An event's payload or answer is not a canonical value encoding.
    #[error("bad value at byte {offset} (block {block}, event {event}): {source}")]
    BadValue {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// Why the value does not decode.
        #[source]
        source: ValueDecodeError,
    },
    /// A tagged field inside an event record (host point, terminal reason) is unknown.
    #[error("bad {field} tag 0x{tag:02x} at byte {offset} (block {block}, event {event})")]
    BadEventField {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// Which field is wrong.
        field: &'static str,
        /// The tag byte read.
        tag: u8,
    },
    /// An event record runs past the end of its block.
    #[error("event overruns its block at byte {offset} (block {block}, event {event}): {what} needs {needed} bytes")]
    EventOverrun {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// What was being read.
        what: &'static str,
        /// How many bytes it needs.
        needed: usize,
    },
    /// A block's event count disagrees with the records in its bytes.
    #[error("block {block} at byte {offset} records {recorded} events but holds {decoded}")]
    CountMismatch {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The event count the block's header records.
        recorded: u32,
        /// The events its bytes hold.
        decoded: u32,
    },
    /// The trailer's block or event count disagrees with the file.
    #[error("trailer {field} at byte {offset} records {recorded}, the file has {actual}")]
    TrailerMismatch {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// Which field is wrong.
        field: &'static str,
        /// The count the trailer records.
        recorded: u64,
        /// The count the file has.
        actual: u64,
    },
    /// A block is not cut where the canonical writer cuts blocks.
    #[error("block {block} at byte {offset} (first event {first_event}) is not cut canonically")]
    NonCanonicalBlock {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The block's index, from 0.
        block: usize,
        /// The index of the block's first event.
        first_event: u64,
    },
    /// Bytes follow the trailer.
    #[error("{extra} trailing bytes after the trailer at byte {offset}")]
    TrailingBytes {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// How many bytes follow the trailer.
        extra: usize,
    },
    /// The header's configuration is not a canonical configuration encoding.
    #[error("bad configuration at byte {offset} ({length} bytes): not a canonical canon configuration")]
    BadConfig {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The configuration's length in bytes.
        length: usize,
    },
    /// An event's group breaks canonical order: groups run from 0, each
    /// contiguous, each the one after the previous.
    #[error(
        "event {event} at byte {offset} is in group {group} after group {previous:?}: groups must be contiguous and numbered 0, 1, 2, …"
    )]
    GroupOrder {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// The event's group.
        group: u32,
        /// The previous event's group (`None` for the first event).
        previous: Option<u32>,
    },
    /// An event's tick is lower than the previous event's in its group.
    #[error("event {event} at byte {offset} has tick {tick} after tick {previous} in its group")]
    TickOrder {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// The event's tick.
        tick: u64,
        /// The previous event's tick in the same group.
        previous: u64,
    },
    /// An event names a coroutine its group has not spawned (yet).
    #[error("event {event} at byte {offset} names coroutine {coroutine}, but its group has spawned {spawned}")]
    UnknownCoroutine {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The event's index in the file, from 0.
        event: u64,
        /// The coroutine the event names.
        coroutine: u32,
        /// How many coroutines the group has spawned so far.
        spawned: u32,
    },
    /// Reading the input failed.
    #[error("cannot read the replay at byte {offset}: {message}")]
    Io {
        /// The byte offset in the file where reading failed.
        offset: usize,
        /// The I/O error's message.
        message: String,
    },
}

canon_types::error_codes! {
    /// The stable code table of [`ReplayError`] (5xxx).
    pub REPLAY_CODES for ReplayError {
        BadMagic = 5001: "the file does not start with CNRP",
        UnsupportedVersion = 5002: "unknown replay format version",
        UnsupportedFlags = 5003: "reserved header flags are set",
        Truncated = 5004: "the file ends inside a field",
        BadString = 5005: "a string-table entry is not UTF-8",
        ChainMismatch = 5006: "a block's chain hash does not verify",
        RootMismatch = 5007: "the trailer root is not the last chain hash",
        UnknownEventKind = 5008: "an event record has an unknown kind byte",
        BadValue = 5009: "a payload is not a canonical value encoding",
        BadEventField = 5010: "an event's host-point or terminal-reason tag is unknown",
        EventOverrun = 5011: "an event record runs past the end of its block",
        CountMismatch = 5012: "a block's event count disagrees with its records",
        TrailerMismatch = 5013: "the trailer's block or event count is wrong",
        NonCanonicalBlock = 5014: "a block is not cut where the writer cuts blocks",
        TrailingBytes = 5015: "bytes follow the trailer",
        BadConfig = 5016: "the header's configuration is not canonical",
        GroupOrder = 5017: "groups are not contiguous and numbered in order",
        TickOrder = 5018: "a tick decreases within a group",
        UnknownCoroutine = 5019: "an event names a coroutine its group has not spawned",
        Io = 5020: "reading the replay failed",
    }
}

impl ReplayError {
    /// The variant name, as listed in [`REPLAY_CODES`].
    pub fn name(&self) -> &'static str {
        let code = self.code();
        REPLAY_CODES.iter().find(|e| e.code == code).map_or("Unknown", |e| e.name)
    }

    /// The byte offset (from the start of the file) the error names.
    pub fn offset(&self) -> usize {
        match *self {
            ReplayError::BadMagic { offset, .. }
            | ReplayError::UnsupportedVersion { offset, .. }
            | ReplayError::UnsupportedFlags { offset, .. }
            | ReplayError::Truncated { offset, .. }
            | ReplayError::BadString { offset, .. }
            | ReplayError::ChainMismatch { offset, .. }
            | ReplayError::RootMismatch { offset }
            | ReplayError::UnknownEventKind { offset, .. }
            | ReplayError::BadValue { offset, .. }
            | ReplayError::BadEventField { offset, .. }
            | ReplayError::EventOverrun { offset, .. }
            | ReplayError::CountMismatch { offset, .. }
            | ReplayError::TrailerMismatch { offset, .. }
            | ReplayError::NonCanonicalBlock { offset, .. }
            | ReplayError::TrailingBytes { offset, .. }
            | ReplayError::BadConfig { offset, .. }
            | ReplayError::GroupOrder { offset, .. }
            | ReplayError::TickOrder { offset, .. }
            | ReplayError::UnknownCoroutine { offset, .. }
            | ReplayError::Io { offset, .. } => offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_increasing() {
        for w in REPLAY_CODES.windows(2) {
            assert!(w[0].code < w[1].code, "{} !< {}", w[0].code, w[1].code);
        }
        assert!(REPLAY_CODES.iter().all(|e| (5000..6000).contains(&e.code)));
    }

    #[test]
    fn name_follows_the_table() {
        let e = ReplayError::RootMismatch { offset: 9 };
        assert_eq!((e.code(), e.name(), e.offset()), (5007, "RootMismatch", 9));
        let e = ReplayError::TrailingBytes { offset: 3, extra: 1 };
        assert_eq!((e.code(), e.name()), (5015, "TrailingBytes"));
    }
}
