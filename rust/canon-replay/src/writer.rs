//! The replay writer: events in, canonical bytes out.
//!
//! Encoding is split in two so that it can run in parallel:
//! [`BlockEncoder`] turns events into blocks and computes each block's digest
//! `d_b = SHA-256(block head || block events)` — work that depends only on the
//! block, so the threaded runner does it on its workers; [`ReplayWriter`]
//! chains the digests, `h_b = SHA-256(h_{b-1} || d_b)`, one 64-byte hash per
//! block, and lays out the file.

use std::io::Write;

use canon_machine::event::Event;
use sha2::{Digest, Sha256};

use canon_machine::Config;

use crate::header::{HEADER_FIXED_BYTES, ReplayHeader, len_u32};
use crate::record::encode_event;
use crate::replay::Replay;

/// A block is closed right after the event that brings its encoded events to
/// at least this many bytes, before an event of another group, and at the end
/// of the stream. Block boundaries therefore depend only on the event
/// sequence, and a block never holds two groups' events.
pub const BLOCK_TARGET_BYTES: usize = 4096;

/// Bytes of a block head: event count u32, byte length u32.
pub const BLOCK_HEAD_BYTES: usize = 8;

/// Bytes of the trailer: end marker u32 (0), block count u32, event count u64, root.
pub const TRAILER_BYTES: usize = 4 + 4 + 8 + 32;

/// `h_0`: the chain hash of the header bytes.
pub(crate) fn header_hash(header_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(header_bytes).into()
}

thread_local! {
    /// The last header this thread hashed and its `h_0`: runs of the same
    /// program under the same configuration (many short runs in one process)
    /// hash their header once. A pure memo: the result is `header_hash`'s.
    static LAST_HEADER: std::cell::RefCell<(Vec<u8>, [u8; 32])> = const { std::cell::RefCell::new((Vec::new(), [0; 32])) };
}

/// [`header_hash`], remembered for the last header bytes seen on this thread.
fn header_hash_memo(header_bytes: &[u8]) -> [u8; 32] {
    LAST_HEADER.with(|last| {
        let mut last = last.borrow_mut();
        if !last.0.is_empty() && last.0 == header_bytes {
            return last.1;
        }
        let hash = header_hash(header_bytes);
        last.0.clear();
        last.0.extend_from_slice(header_bytes);
        last.1 = hash;
        hash
    })
}

/// `d_b = SHA-256(head || events)`: the digest of one block's bytes.
pub(crate) fn block_digest(head_and_events: &[u8]) -> [u8; 32] {
    Sha256::digest(head_and_events).into()
}

/// `h_b = SHA-256(h_{b-1} || d_b)`.
pub(crate) fn chain_hash(prev: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update(prev).chain_update(digest).finalize().into()
}

/// Blocks encoded and digested, not yet chained: `bytes` holds each block's
/// head and events back to back; `ends[i]` is where block `i` ends and
/// `digests[i]` is its `d_b`.
#[derive(Debug, Default)]
pub struct EncodedBlocks {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    digests: Vec<[u8; 32]>,
    events: u64,
}

impl EncodedBlocks {
    /// Events in these blocks.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.ends.len()
    }

    /// Each block's bytes (head and events) with its digest `d_b`, in order:
    /// what a process that ran the groups sends to the one that chains them.
    pub fn blocks(&self) -> impl Iterator<Item = (&[u8], &[u8; 32])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(from, &end)| &self.bytes[from..end]).zip(&self.digests)
    }

    /// Adds one block received from elsewhere (head and events, as
    /// [`EncodedBlocks::blocks`] gives it), computing its digest here rather
    /// than trusting one that came with it. `None` (nothing added) if the
    /// head does not describe the bytes: a byte length other than the events'
    /// or no events. The events themselves are checked when the replay is read.
    pub fn push_block(&mut self, head_and_events: &[u8]) -> Option<[u8; 32]> {
        let head: [u8; BLOCK_HEAD_BYTES] = head_and_events.get(..BLOCK_HEAD_BYTES)?.try_into().ok()?;
        let count = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if count == 0 || len != head_and_events.len() - BLOCK_HEAD_BYTES {
            return None;
        }
        let digest = block_digest(head_and_events);
        self.bytes.extend_from_slice(head_and_events);
        self.ends.push(self.bytes.len());
        self.digests.push(digest);
        self.events += u64::from(count);
        Some(digest)
    }

    /// Adds `other`'s blocks after these, with their digests (blocks encoded
    /// here, in pieces: the pieces of one run of consecutive groups).
    pub fn extend_from(&mut self, other: &EncodedBlocks) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|end| at + end));
        self.digests.extend_from_slice(&other.digests);
        self.events += other.events;
    }

    /// Empties the blocks, keeping their allocations for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.digests.clear();
        self.events = 0;
    }
}

/// A point in a [`BlockEncoder`]'s output at a group boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedMark {
    bytes: usize,
    blocks: usize,
    events: u64,
}

/// The block being filled in some byte buffer: where its head starts, its
/// events and their group. [`BlockEncoder`] and [`ReplayWriter`] both cut
/// blocks with it, each into its own buffer, so the cut is the same.
#[derive(Debug, Default, Clone, Copy)]
struct OpenBlock {
    /// Where the open block's head starts in the buffer, if a block is open.
    start: Option<usize>,
    events: u32,
    group: u32,
}

impl OpenBlock {
    /// Whether `event` must start a new block: it is of another group than
    /// the open block's events.
    #[inline]
    fn ends_before(&self, event: &Event) -> bool {
        self.start.is_some() && event.site.group != self.group
    }

    /// Encodes `event` at the end of `bytes`, opening a block (a head to be
    /// filled in at close) if none is open. Returns whether the block has
    /// reached its target size and must close now.
    #[inline]
    fn push(&mut self, bytes: &mut Vec<u8>, event: &Event) -> bool {
        let start = *self.start.get_or_insert_with(|| {
            let at = bytes.len();
            bytes.extend_from_slice(&[0; BLOCK_HEAD_BYTES]);
            at
        });
        self.group = event.site.group;
        encode_event(event, bytes);
        self.events += 1;
        bytes.len() - start - BLOCK_HEAD_BYTES >= BLOCK_TARGET_BYTES
    }

    /// Closes the open block, the last bytes of `bytes`: fills in its head
    /// and returns its digest `d_b`, taken where the block lies.
    fn close(&mut self, bytes: &mut [u8]) -> Option<[u8; 32]> {
        let start = self.start.take()?;
        let len = bytes.len() - start - BLOCK_HEAD_BYTES;
        bytes[start..start + 4].copy_from_slice(&self.events.to_le_bytes());
        bytes[start + 4..start + 8].copy_from_slice(&len_u32(len).to_le_bytes());
        self.events = 0;
        Some(block_digest(&bytes[start..]))
    }
}

/// Cuts events into canonical blocks and digests each one. Use one encoder
/// for a run of consecutive events (whole groups); blocks from several
/// encoders are then chained in order by [`ReplayWriter::append`].
#[derive(Debug, Default)]
pub struct BlockEncoder {
    out: EncodedBlocks,
    open: OpenBlock,
}

impl BlockEncoder {
    /// An encoder with nothing encoded yet.
    pub fn new() -> Self {
        BlockEncoder::default()
    }

    /// An encoder that writes into `reuse` (cleared), keeping its allocations.
    pub fn with_buffers(mut reuse: EncodedBlocks) -> Self {
        reuse.clear();
        BlockEncoder { out: reuse, ..BlockEncoder::default() }
    }

    /// Appends one event, in canonical order.
    pub fn push(&mut self, event: &Event) {
        if self.open.ends_before(event) {
            self.close_block();
        }
        self.out.events += 1;
        if self.open.push(&mut self.out.bytes, event) {
            self.close_block();
        }
    }

    fn close_block(&mut self) {
        if let Some(digest) = self.open.close(&mut self.out.bytes) {
            self.out.digests.push(digest);
            self.out.ends.push(self.out.bytes.len());
        }
    }

    /// Ends the group whose events were pushed last: closes its block (blocks
    /// close at every group boundary anyway, so this changes no byte) so that
    /// [`BlockEncoder::mark`] can be taken.
    pub fn end_group(&mut self) {
        self.close_block();
    }

    /// What is encoded so far, for [`BlockEncoder::truncate`]; take it at a
    /// group boundary (after [`BlockEncoder::end_group`]).
    pub fn mark(&self) -> EncodedMark {
        EncodedMark { bytes: self.out.bytes.len(), blocks: self.out.ends.len(), events: self.out.events }
    }

    /// Drops everything encoded after `mark` (e.g. a group that did not finish).
    pub fn truncate(&mut self, mark: EncodedMark) {
        self.open = OpenBlock::default();
        self.out.bytes.truncate(mark.bytes);
        self.out.ends.truncate(mark.blocks);
        self.out.digests.truncate(mark.blocks);
        self.out.events = mark.events;
    }

    /// Closes the open block and returns everything encoded.
    pub fn finish(mut self) -> EncodedBlocks {
        self.close_block();
        self.out
    }
}

/// Where a paused writer stands in its stream: what a writer resumed on the
/// same stream ([`ReplayWriter::resume`]) needs to continue it byte for byte.
/// Checkpoints record it (`bytecode-spec/checkpoint.md`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WriterPosition {
    /// Bytes handed to the sink: the header and every closed block.
    pub bytes: u64,
    /// Closed (chained) blocks.
    pub blocks: u64,
    /// Events written, the open block's included.
    pub events: u64,
    /// The running chain hash `h_blocks` (`h_0` before any block).
    pub chain: [u8; 32],
    /// The open block's encoded events (not yet closed, so not yet written).
    pub open: Vec<u8>,
    /// Events in the open block.
    pub open_events: u32,
    /// The group of the open block's events.
    pub open_group: u32,
}

impl WriterPosition {
    /// The position of a writer that has written `header` and nothing else.
    pub fn start(header: &ReplayHeader) -> Self {
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        WriterPosition {
            bytes: bytes.len() as u64,
            blocks: 0,
            events: 0,
            chain: header_hash(&bytes),
            open: Vec::new(),
            open_events: 0,
            open_group: 0,
        }
    }

    /// Whether the open block is one a writer could hold: shorter than a
    /// block's target, and holding events exactly when it has bytes.
    pub fn is_consistent(&self) -> bool {
        self.open.len() < BLOCK_TARGET_BYTES
            && (self.open_events == 0) == self.open.is_empty()
            && u64::from(self.open_events) <= self.events
    }
}

/// Bytes the writer gathers before handing them to its sink.
const FLUSH_BYTES: usize = 64 * 1024;

/// The output buffer's first capacity beyond the header: one block (it may
/// pass its target by one event) and its chain hash. It grows (to about
/// [`FLUSH_BYTES`]) only for runs that fill it, so a short run does not pay
/// for a 64 KiB buffer.
const FIRST_OUT_BYTES: usize = BLOCK_HEAD_BYTES + BLOCK_TARGET_BYTES + 512 + 32;

/// Lays out a replay fragment: the header, then chained blocks, then the
/// trailer, handed to the sink `W` as soon as each block is complete (in
/// writes of about 64 KiB). Memory is one open block plus that buffer,
/// whatever the length of the run.
///
/// `push` encodes each event straight into the output buffer, where the
/// open block is the last bytes; closing it fills in its head, hashes it
/// in place and appends its chain hash, so a recorded byte is written once
/// before the sink takes it. In the steady state it allocates nothing. A
/// failed write is kept: later writes are skipped and
/// [`ReplayWriter::finish_sink`] returns the error
/// ([`ReplayWriter::io_error`] tells a runner to stop early).
#[derive(Debug)]
pub struct ReplayWriter<W: Write = Vec<u8>> {
    sink: W,
    /// Bytes not yet handed to the sink: chained blocks (the header at
    /// first), then the open block, if any.
    out: Vec<u8>,
    open: OpenBlock,
    total_events: u64,
    blocks: u64,
    chain: [u8; 32],
    error: Option<std::io::Error>,
    /// Bytes handed to the sink so far.
    written: u64,
}

/// What a finished writer wrote.
#[derive(Debug)]
pub struct Written<W> {
    /// The sink, every byte handed to it.
    pub sink: W,
    /// The root (the last chain hash).
    pub root: [u8; 32],
    /// How many blocks were written.
    pub blocks: u64,
    /// How many events were written.
    pub events: u64,
}

impl ReplayWriter<Vec<u8>> {
    /// Starts an in-memory replay with `header`.
    pub fn new(header: &ReplayHeader) -> Self {
        ReplayWriter::to_sink(header, Vec::new())
    }

    /// Finishes the replay and returns its canonical bytes.
    pub fn finish_bytes(self) -> Vec<u8> {
        self.finish_sink().expect("writing to memory does not fail").sink
    }

    /// Finishes the replay and writes its canonical bytes to `w`.
    pub fn finish_into(self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&self.finish_bytes())
    }

    /// Finishes the replay and returns it decoded. The bytes are read back
    /// through [`Replay::decode`], which checks writer and reader agree.
    pub fn finish(self) -> Replay {
        Replay::decode(&self.finish_bytes()).expect("the writer's own bytes decode")
    }
}

impl<W: Write> ReplayWriter<W> {
    /// Starts a replay with `header`, streaming to `sink`; the header bytes
    /// are `h_0`'s input.
    pub fn to_sink(header: &ReplayHeader, sink: W) -> Self {
        ReplayWriter::to_sink_parts(&header.program_digest, &header.config, &header.strings, sink)
    }

    /// [`ReplayWriter::to_sink`] for the header with these fields, without
    /// building a [`ReplayHeader`] (a runner borrows the program's strings).
    pub fn to_sink_parts(program_digest: &[u8; 32], config: &Config, strings: &[String], sink: W) -> Self {
        let header_len = HEADER_FIXED_BYTES + 128 + strings.iter().map(|s| 4 + s.len()).sum::<usize>();
        // The header, then one block's bytes: the first block grows without reallocating.
        let mut out = Vec::with_capacity(header_len + FIRST_OUT_BYTES);
        ReplayHeader::encode_parts(program_digest, config, strings, &mut out);
        let chain = header_hash_memo(&out);
        ReplayWriter {
            sink,
            out,
            open: OpenBlock::default(),
            total_events: 0,
            blocks: 0,
            chain,
            error: None,
            written: 0,
        }
    }

    /// Continues a stream from `at` (taken by [`ReplayWriter::pause`]):
    /// `sink` must already hold the stream's first `at.bytes` bytes and be
    /// positioned after them. The bytes then written are those the paused
    /// writer would have written.
    pub fn resume(at: &WriterPosition, sink: W) -> Self {
        let mut out = Vec::with_capacity(FLUSH_BYTES);
        let mut open = OpenBlock::default();
        if at.open_events > 0 {
            out.extend_from_slice(&[0; BLOCK_HEAD_BYTES]);
            out.extend_from_slice(&at.open);
            open = OpenBlock { start: Some(0), events: at.open_events, group: at.open_group };
        }
        ReplayWriter {
            sink,
            out,
            open,
            total_events: at.events,
            blocks: at.blocks,
            chain: at.chain,
            error: None,
            written: at.bytes,
        }
    }

    /// Hands every closed block to the sink and returns where the stream
    /// stands; the writer can go on (or be dropped and later resumed from
    /// the position on the same stream). Returns the sink's first error.
    pub fn pause(&mut self) -> std::io::Result<WriterPosition> {
        let closed = self.open.start.unwrap_or(self.out.len());
        self.write_out(closed);
        self.out.drain(..closed);
        if let Some(start) = &mut self.open.start {
            *start = 0;
        }
        if let Some(e) = &self.error {
            return Err(std::io::Error::new(e.kind(), e.to_string()));
        }
        self.sink.flush()?;
        let open = match self.open.start {
            Some(start) => self.out[start + BLOCK_HEAD_BYTES..].to_vec(),
            None => Vec::new(),
        };
        Ok(WriterPosition {
            bytes: self.written,
            blocks: self.blocks,
            events: self.total_events,
            chain: self.chain,
            open,
            open_events: if self.open.start.is_some() { self.open.events } else { 0 },
            open_group: self.open.group,
        })
    }

    /// Appends one event. Events must arrive in canonical order
    /// `(group, tick, coroutine, emission order)`; the writer records them as given.
    pub fn push(&mut self, event: &Event) {
        if self.open.ends_before(event) {
            self.close_block();
        }
        self.total_events += 1;
        if self.open.push(&mut self.out, event) {
            self.close_block();
        }
    }

    /// Appends blocks encoded elsewhere (e.g. on a worker thread) for the
    /// groups that follow every event written so far; the bytes are the same
    /// as pushing their events one by one.
    pub fn append(&mut self, blocks: &EncodedBlocks) {
        self.close_block();
        let mut from = 0;
        for (end, digest) in blocks.ends.iter().zip(&blocks.digests) {
            self.out.extend_from_slice(&blocks.bytes[from..*end]);
            self.chain_block(digest);
            from = *end;
        }
        self.total_events += blocks.events;
        self.flush_full();
    }

    /// Closes the open block: its head filled in, its digest taken where it
    /// lies, its chain hash appended.
    fn close_block(&mut self) {
        if let Some(digest) = self.open.close(&mut self.out) {
            self.chain_block(&digest);
            self.flush_full();
        }
    }

    /// Appends the chain hash of the block that ends `out`, whose digest is `digest`.
    fn chain_block(&mut self, digest: &[u8; 32]) {
        let hash = chain_hash(&self.chain, digest);
        self.out.extend_from_slice(&hash);
        self.chain = hash;
        self.blocks += 1;
    }

    /// Hands the buffer to the sink once it is full (no block is open here).
    fn flush_full(&mut self) {
        if self.out.len() >= FLUSH_BYTES {
            self.write_out(self.out.len());
            self.out.clear();
        }
    }

    /// Hands `out[..upto]` to the sink (unless it failed before).
    fn write_out(&mut self, upto: usize) {
        if self.error.is_none() {
            match self.sink.write_all(&self.out[..upto]) {
                Ok(()) => self.written += upto as u64,
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Number of events written so far.
    pub fn event_count(&self) -> u64 {
        self.total_events
    }

    /// The first write error of the sink, if any (nothing is written after it).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    /// Closes the last block, writes the trailer, flushes the sink and
    /// returns it with the root and counts.
    pub fn finish_sink(mut self) -> std::io::Result<Written<W>> {
        self.close_block();
        self.out.extend_from_slice(&0u32.to_le_bytes());
        self.out.extend_from_slice(&len_u32(self.blocks as usize).to_le_bytes());
        self.out.extend_from_slice(&self.total_events.to_le_bytes());
        self.out.extend_from_slice(&self.chain);
        self.write_out(self.out.len());
        self.out.clear();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.sink.flush()?;
        Ok(Written { sink: self.sink, root: self.chain, blocks: self.blocks, events: self.total_events })
    }
}
