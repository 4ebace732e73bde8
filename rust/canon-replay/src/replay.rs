//! Reading replays: [`ReplayReader`] streams blocks, groups and events from
//! any `std::io::Read`, checking every hash and the canonical order as it
//! goes; [`Replay`] is the whole replay in memory, for small uses.

use std::collections::VecDeque;
use std::io::Read;

use canon_machine::event::{Event, EventKind};

use crate::cursor::Cursor;
use crate::error::ReplayError;
use crate::header::ReplayHeader;
use crate::record::{At, decode_event};
use crate::source::Source;
use crate::writer::{BLOCK_HEAD_BYTES, BLOCK_TARGET_BYTES, ReplayWriter, block_digest, chain_hash};

/// A replay whose hash chain, counts, records and order have all been checked.
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

    /// Reads and verifies a whole replay held in memory (see [`ReplayReader`]).
    pub fn decode(bytes: &[u8]) -> Result<Replay, ReplayError> {
        Replay::read(bytes)
    }

    /// Reads and verifies a whole replay from `src` into memory.
    pub fn read<R: Read>(src: R) -> Result<Replay, ReplayError> {
        let mut reader = ReplayReader::new(src)?;
        let mut events = Vec::new();
        let mut block_hashes = Vec::new();
        while let Some(block) = reader.next_block_into(&mut events)? {
            block_hashes.push(block.hash);
        }
        let root = reader.root().expect("the trailer was read");
        Ok(Replay { header: reader.header, events, root, block_hashes })
    }
}

/// One block, as the reader found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Index of the block (from 0).
    pub index: usize,
    /// Byte offset of its head in the file.
    pub offset: usize,
    /// Index (over the file) of its first event.
    pub first_event: u64,
    /// Its events.
    pub events: u32,
    /// The group its events belong to.
    pub group: u32,
    /// Its chain hash `h_b`.
    pub hash: [u8; 32],
}

/// What the reader knows at the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayEnd {
    /// How many blocks the replay holds.
    pub blocks: usize,
    /// How many events it holds.
    pub events: u64,
    /// The root: the last chain hash.
    pub root: [u8; 32],
}

/// A block that ended short of the target: legal only if it ends its group.
struct ShortBlock {
    offset: usize,
    block: usize,
    first_event: u64,
    group: u32,
}

/// The canonical-order check: groups 0, 1, 2, … each contiguous, ticks
/// non-decreasing within a group, and every event's coroutine one its group
/// has spawned (coroutine 0's own `Spawned` comes first in every group).
#[derive(Debug, Default)]
struct Order {
    group: Option<u32>,
    tick: u64,
    spawned: u32,
}

impl Order {
    fn check(&mut self, offset: usize, event: u64, ev: &Event) -> Result<(), ReplayError> {
        let s = &ev.site;
        if self.group != Some(s.group) {
            let next = self.group.map_or(Some(0), |g| g.checked_add(1));
            if next != Some(s.group) {
                return Err(ReplayError::GroupOrder { offset, event, group: s.group, previous: self.group });
            }
            *self = Order { group: Some(s.group), tick: 0, spawned: 0 };
        }
        if s.tick < self.tick {
            return Err(ReplayError::TickOrder { offset, event, tick: s.tick, previous: self.tick });
        }
        self.tick = s.tick;
        if matches!(ev.kind, EventKind::Spawned { .. }) {
            self.spawned = self.spawned.saturating_add(1);
        }
        // Host-side ownership operations are made by the host, outside every
        // coroutine (coroutine `u32::MAX`).
        // An ownership operation may end its session (`CancellationRequested`,
        // `Cancelled`, `SessionTerminal` follow it, by the host too).
        let host_side = s.coroutine == u32::MAX
            && matches!(
                ev.kind,
                EventKind::Ownership { .. }
                    | EventKind::CancellationRequested { .. }
                    | EventKind::Cancelled { .. }
                    | EventKind::SessionTerminal { .. }
                    | EventKind::EdgeHistory { .. }
            );
        if s.coroutine >= self.spawned && !host_side {
            return Err(ReplayError::UnknownCoroutine { offset, event, coroutine: s.coroutine, spawned: self.spawned });
        }
        Ok(())
    }
}

/// Streams a replay from any `std::io::Read`, verifying as it reads: the
/// header first ([`ReplayReader::new`]); then each block's chain hash before
/// its records are decoded, its records, its canonical cut and the canonical
/// order of its events; then the trailer. Memory is one block (or one group,
/// with [`ReplayReader::next_group`]) plus the header, whatever the file's
/// size. Wrap files in a `BufReader`.
pub struct ReplayReader<R> {
    src: Source<R>,
    header: ReplayHeader,
    chain: [u8; 32],
    blocks: usize,
    events: u64,
    short: Option<ShortBlock>,
    order: Order,
    body: Vec<u8>,
    /// Events read from the file but not yet handed out.
    pending: VecDeque<Event>,
    scratch: Vec<Event>,
    end: Option<ReplayEnd>,
}

impl<R: Read> ReplayReader<R> {
    /// Reads and checks the header.
    pub fn new(src: R) -> Result<Self, ReplayError> {
        let mut src = Source::new(src);
        src.start_hash();
        let header = ReplayHeader::decode(&mut src)?;
        let chain = src.finish_hash();
        Ok(ReplayReader {
            src,
            header,
            chain,
            blocks: 0,
            events: 0,
            short: None,
            order: Order::default(),
            body: Vec::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
            end: None,
        })
    }

    /// The replay's header, read when the reader was created.
    pub fn header(&self) -> &ReplayHeader {
        &self.header
    }

    /// The counts and root, once the trailer has been read and checked.
    pub fn end(&self) -> Option<ReplayEnd> {
        self.end
    }

    /// The root, once the trailer has been read and checked.
    pub fn root(&self) -> Option<[u8; 32]> {
        self.end.map(|e| e.root)
    }

    /// Events decoded from the file so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// Reads the next block, appending its events to `out`; `None` after the
    /// trailer (which is then checked: counts, root, nothing after it).
    pub fn next_block_into(&mut self, out: &mut Vec<Event>) -> Result<Option<BlockInfo>, ReplayError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let offset = self.src.offset();
        let count = self.src.u32("block event count")?;
        if count == 0 {
            self.check_trailer()?;
            return Ok(None);
        }
        let len = self.src.u32("block byte length")?;
        self.body.clear();
        self.body.extend_from_slice(&count.to_le_bytes());
        self.body.extend_from_slice(&len.to_le_bytes());
        self.src.bytes(len as usize, "block events", &mut self.body)?;
        let stored: [u8; 32] = self.src.array("block hash")?;
        let index = self.blocks;
        let first_event = self.events;
        let hash = chain_hash(&self.chain, &block_digest(&self.body));
        if hash != stored {
            return Err(ReplayError::ChainMismatch { offset, block: index, first_event });
        }
        let at = At { block: index, event: first_event };
        let group = self.decode_block(offset, count, at, out)?;
        if let Some(s) = self.short.take()
            && s.group == group
        {
            return Err(ReplayError::NonCanonicalBlock {
                offset: s.offset,
                block: s.block,
                first_event: s.first_event,
            });
        }
        if (len as usize) < BLOCK_TARGET_BYTES {
            self.short = Some(ShortBlock { offset, block: index, first_event, group });
        }
        self.chain = hash;
        self.blocks += 1;
        self.events += u64::from(count);
        Ok(Some(BlockInfo { index, offset, first_event, events: count, group, hash }))
    }

    /// Decodes the records of one block (already hash-checked) into `out`
    /// and returns the group they belong to (a block holds one group's events).
    fn decode_block(&mut self, block_at: usize, count: u32, at: At, out: &mut Vec<Event>) -> Result<u32, ReplayError> {
        let mut c = Cursor::new(&self.body[BLOCK_HEAD_BYTES..], block_at + BLOCK_HEAD_BYTES);
        let mut decoded: u32 = 0;
        let mut last_start = 0;
        let mut group = None;
        while c.remaining() > 0 {
            last_start = c.pos();
            let record_at = c.offset();
            let index = at.event + u64::from(decoded);
            let event = decode_event(&mut c, At { block: at.block, event: index })?;
            if *group.get_or_insert(event.site.group) != event.site.group {
                return Err(ReplayError::NonCanonicalBlock {
                    offset: block_at,
                    block: at.block,
                    first_event: at.event,
                });
            }
            self.order.check(record_at, index, &event)?;
            out.push(event);
            decoded = decoded.saturating_add(1);
        }
        if decoded != count {
            return Err(ReplayError::CountMismatch { offset: block_at, block: at.block, recorded: count, decoded });
        }
        // The writer closes a block at the first record that reaches the
        // target, so every earlier record starts below it.
        if last_start >= BLOCK_TARGET_BYTES {
            return Err(ReplayError::NonCanonicalBlock { offset: block_at, block: at.block, first_event: at.event });
        }
        Ok(group.unwrap_or(0))
    }

    /// Reads the trailer (after its zero end marker) and checks it against the file.
    fn check_trailer(&mut self) -> Result<(), ReplayError> {
        let at = self.src.offset();
        let recorded = self.src.u32("trailer block count")?;
        if u64::from(recorded) != self.blocks as u64 {
            let (recorded, actual) = (u64::from(recorded), self.blocks as u64);
            return Err(ReplayError::TrailerMismatch { offset: at, field: "block count", recorded, actual });
        }
        let at = self.src.offset();
        let recorded = self.src.u64("trailer event count")?;
        if recorded != self.events {
            return Err(ReplayError::TrailerMismatch {
                offset: at,
                field: "event count",
                recorded,
                actual: self.events,
            });
        }
        let at = self.src.offset();
        let root: [u8; 32] = self.src.array("root")?;
        if root != self.chain {
            return Err(ReplayError::RootMismatch { offset: at });
        }
        let offset = self.src.offset();
        let extra = self.src.rest()?;
        if extra > 0 {
            return Err(ReplayError::TrailingBytes { offset, extra });
        }
        self.end = Some(ReplayEnd { blocks: self.blocks, events: self.events, root });
        Ok(())
    }

    /// The next event, or `None` after the trailer has been checked.
    pub fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        while self.pending.is_empty() {
            let mut scratch = std::mem::take(&mut self.scratch);
            let more = self.next_block_into(&mut scratch)?.is_some();
            self.pending.extend(scratch.drain(..));
            self.scratch = scratch;
            if !more {
                break;
            }
        }
        Ok(self.pending.pop_front())
    }

    /// Reads every event of the next group into `out` (cleared first) and
    /// returns the group's id; `None` after the trailer has been checked.
    /// Groups are contiguous, so this reads one block past the group at most.
    pub fn next_group(&mut self, out: &mut Vec<Event>) -> Result<Option<u32>, ReplayError> {
        out.clear();
        out.extend(self.pending.drain(..));
        if out.is_empty() && self.next_block_into(out)?.is_none() {
            return Ok(None);
        }
        let group = out[0].site.group;
        // Blocks are decoded straight into `out`; the first block of the
        // next group is moved aside (one block per group boundary).
        loop {
            let before = out.len();
            match self.next_block_into(out)? {
                Some(b) if b.group == group => {}
                Some(_) => {
                    self.pending.extend(out.drain(before..));
                    return Ok(Some(group));
                }
                None => return Ok(Some(group)),
            }
        }
    }

    /// Reads to the end, checking everything, and returns the end counts.
    pub fn finish(mut self) -> Result<ReplayEnd, ReplayError> {
        let mut scratch = Vec::new();
        while self.next_block_into(&mut scratch)?.is_some() {
            scratch.clear();
        }
        Ok(self.end.expect("the trailer was read"))
    }

    /// Iterates over the events; the iterator ends after the trailer has been
    /// checked, or after yielding the first error.
    pub fn events(self) -> Events<R> {
        Events { reader: self, failed: false }
    }
}

/// The events of a replay, streamed ([`ReplayReader::events`]).
pub struct Events<R> {
    reader: ReplayReader<R>,
    failed: bool,
}

impl<R> Events<R> {
    /// The reader, e.g. to ask for [`ReplayReader::end`] after the last event.
    pub fn reader(&self) -> &ReplayReader<R> {
        &self.reader
    }
}

impl<R: Read> Iterator for Events<R> {
    type Item = Result<Event, ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.reader.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
