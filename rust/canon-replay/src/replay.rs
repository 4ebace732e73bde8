//! A decoded, verified replay and the reader that checks every hash.

use canon_machine::event::Event;

use crate::cursor::Cursor;
use crate::error::ReplayError;
use crate::header::{ReplayHeader, truncated};
use crate::record::{At, decode_event};
use crate::writer::{BLOCK_HEAD_BYTES, BLOCK_TARGET_BYTES, ReplayWriter, block_digest, chain_hash, header_hash};

/// A replay whose hash chain, counts and records have all been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Which run this is, and the program's string table.
    pub header: ReplayHeader,
    /// Every event, in canonical order.
    pub events: Vec<Event>,
    /// The last chain hash (`h_0` when there are no events).
    pub root: [u8; 32],
    /// `h_1 ..= h_n`, one per block.
    pub block_hashes: Vec<[u8; 32]>,
}

/// A block that ended short of the target: legal only if it is the last.
struct ShortBlock {
    offset: usize,
    block: usize,
    first_event: u64,
    /// The group of the block's events.
    group: u32,
}

impl Replay {
    /// Builds the replay of `events` under `header` (through the writer).
    pub fn from_events<'a>(header: &ReplayHeader, events: impl IntoIterator<Item = &'a Event>) -> Replay {
        let mut w = ReplayWriter::new(header);
        events.into_iter().for_each(|e| w.push(e));
        w.finish()
    }

    /// The canonical bytes of this replay. `Replay::decode(&r.to_bytes()) == Ok(r)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = ReplayWriter::new(&self.header);
        self.events.iter().for_each(|e| w.push(e));
        w.finish_bytes()
    }

    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.block_hashes.len()
    }

    /// Reads and verifies a replay: header, every block's chain hash (before
    /// its records are decoded, so damage is reported as the block it is in),
    /// the records, the canonical block cuts, and the trailer.
    pub fn decode(bytes: &[u8]) -> Result<Replay, ReplayError> {
        let mut c = Cursor::new(bytes, 0);
        let header = ReplayHeader::decode(&mut c)?;
        let mut chain = header_hash(&bytes[..c.pos()]);
        let mut events = Vec::new();
        let mut block_hashes = Vec::new();
        let mut short: Option<ShortBlock> = None;
        loop {
            let block_at = c.offset();
            let count = c.u32("block event count").map_err(truncated)?;
            if count == 0 {
                break;
            }
            let block = block_hashes.len();
            let first_event = events.len() as u64;
            let len = c.u32("block byte length").map_err(truncated)? as usize;
            let body = c.take(len, "block events").map_err(truncated)?;
            let stored: [u8; 32] = c.array("block hash").map_err(truncated)?;
            let digest = block_digest(&bytes[block_at..block_at + BLOCK_HEAD_BYTES + len]);
            let computed = chain_hash(&chain, &digest);
            if computed != stored {
                return Err(ReplayError::ChainMismatch { offset: block_at, block, first_event });
            }
            let at = At { block, event: first_event };
            let group = decode_block(body, block_at, count, at, &mut events)?;
            // A block shorter than the target must end its group (or the stream).
            if let Some(s) = short.take()
                && s.group == group
            {
                return Err(ReplayError::NonCanonicalBlock {
                    offset: s.offset,
                    block: s.block,
                    first_event: s.first_event,
                });
            }
            if len < BLOCK_TARGET_BYTES {
                short = Some(ShortBlock { offset: block_at, block, first_event, group });
            }
            block_hashes.push(computed);
            chain = computed;
        }
        check_trailer(&mut c, block_hashes.len(), events.len(), &chain)?;
        Ok(Replay { header, events, root: chain, block_hashes })
    }
}

/// Decodes the records of one block (already hash-checked) into `events`
/// and returns the group they belong to (a block holds one group's events).
fn decode_block(body: &[u8], block_at: usize, count: u32, at: At, events: &mut Vec<Event>) -> Result<u32, ReplayError> {
    let mut c = Cursor::new(body, block_at + BLOCK_HEAD_BYTES);
    let mut decoded: u32 = 0;
    let mut last_start = 0;
    let mut group = None;
    while c.remaining() > 0 {
        last_start = c.pos();
        let event = decode_event(&mut c, At { block: at.block, event: at.event + u64::from(decoded) })?;
        if *group.get_or_insert(event.site.group) != event.site.group {
            return Err(ReplayError::NonCanonicalBlock { offset: block_at, block: at.block, first_event: at.event });
        }
        events.push(event);
        decoded = decoded.saturating_add(1);
    }
    if decoded != count {
        return Err(ReplayError::CountMismatch { offset: block_at, block: at.block, recorded: count, decoded });
    }
    // The writer closes a block at the first record that reaches the target,
    // so every earlier record starts below it.
    if last_start >= BLOCK_TARGET_BYTES {
        return Err(ReplayError::NonCanonicalBlock { offset: block_at, block: at.block, first_event: at.event });
    }
    Ok(group.unwrap_or(0))
}

/// Reads the trailer (after its zero end marker) and checks it against the file.
fn check_trailer(c: &mut Cursor<'_>, blocks: usize, events: usize, chain: &[u8; 32]) -> Result<(), ReplayError> {
    let at = c.offset();
    let recorded = c.u32("trailer block count").map_err(truncated)?;
    if u64::from(recorded) != blocks as u64 {
        let (recorded, actual) = (u64::from(recorded), blocks as u64);
        return Err(ReplayError::TrailerMismatch { offset: at, field: "block count", recorded, actual });
    }
    let at = c.offset();
    let recorded = c.u64("trailer event count").map_err(truncated)?;
    if recorded != events as u64 {
        return Err(ReplayError::TrailerMismatch { offset: at, field: "event count", recorded, actual: events as u64 });
    }
    let at = c.offset();
    let root: [u8; 32] = c.array("root").map_err(truncated)?;
    if &root != chain {
        return Err(ReplayError::RootMismatch { offset: at });
    }
    if c.remaining() > 0 {
        return Err(ReplayError::TrailingBytes { offset: c.offset(), extra: c.remaining() });
    }
    Ok(())
}
