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

use crate::header::{ReplayHeader, len_u32};
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

    /// Empties the blocks, keeping their allocations for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.digests.clear();
        self.events = 0;
    }
}

/// Cuts events into canonical blocks and digests each one. Use one encoder
/// for a run of consecutive events (whole groups); blocks from several
/// encoders are then chained in order by [`ReplayWriter::append`].
#[derive(Debug, Default)]
pub struct BlockEncoder {
    out: EncodedBlocks,
    /// Where the open block's head starts in `out.bytes`, if a block is open.
    open: Option<usize>,
    open_events: u32,
    open_group: u32,
}

impl BlockEncoder {
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
        if self.open.is_some() && event.site.group != self.open_group {
            self.close_block();
        }
        let start = *self.open.get_or_insert_with(|| {
            let at = self.out.bytes.len();
            self.out.bytes.extend_from_slice(&[0; BLOCK_HEAD_BYTES]);
            at
        });
        self.open_group = event.site.group;
        encode_event(event, &mut self.out.bytes);
        self.open_events += 1;
        self.out.events += 1;
        if self.out.bytes.len() - start - BLOCK_HEAD_BYTES >= BLOCK_TARGET_BYTES {
            self.close_block();
        }
    }

    fn close_block(&mut self) {
        let Some(start) = self.open.take() else { return };
        let len = self.out.bytes.len() - start - BLOCK_HEAD_BYTES;
        self.out.bytes[start..start + 4].copy_from_slice(&self.open_events.to_le_bytes());
        self.out.bytes[start + 4..start + 8].copy_from_slice(&len_u32(len).to_le_bytes());
        self.out.digests.push(block_digest(&self.out.bytes[start..]));
        self.out.ends.push(self.out.bytes.len());
        self.open_events = 0;
    }

    /// Closes the open block and returns everything encoded.
    pub fn finish(mut self) -> EncodedBlocks {
        self.close_block();
        self.out
    }

    /// Moves the closed blocks out (the open one stays), for streaming.
    fn take_closed(&mut self, into: &mut impl FnMut(&[u8], &[u8; 32])) {
        if self.out.ends.is_empty() {
            return;
        }
        let mut from = 0;
        for (end, digest) in self.out.ends.iter().zip(&self.out.digests) {
            into(&self.out.bytes[from..*end], digest);
            from = *end;
        }
        self.out.bytes.drain(..from);
        self.open = self.open.map(|o| o - from);
        self.out.ends.clear();
        self.out.digests.clear();
    }
}

/// Bytes the writer gathers before handing them to its sink.
const FLUSH_BYTES: usize = 64 * 1024;

/// Lays out a replay fragment: the header, then chained blocks, then the
/// trailer, handed to the sink `W` as soon as each block is complete (in
/// writes of about 64 KiB). Memory is one open block plus that buffer,
/// whatever the length of the run.
///
/// `push` encodes into a reused buffer and hashes once per block, so in the
/// steady state it allocates nothing. A failed write is kept: later writes
/// are skipped and [`ReplayWriter::finish_sink`] returns the error
/// ([`ReplayWriter::io_error`] tells a runner to stop early).
#[derive(Debug)]
pub struct ReplayWriter<W: Write = Vec<u8>> {
    sink: W,
    out: Vec<u8>,
    encoder: BlockEncoder,
    total_events: u64,
    blocks: u64,
    chain: [u8; 32],
    error: Option<std::io::Error>,
}

/// What a finished writer wrote.
#[derive(Debug)]
pub struct Written<W> {
    /// The sink, every byte handed to it.
    pub sink: W,
    /// The root (the last chain hash).
    pub root: [u8; 32],
    pub blocks: u64,
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
        let mut out = Vec::with_capacity(FLUSH_BYTES);
        header.encode(&mut out);
        let chain = header_hash(&out);
        ReplayWriter { sink, out, encoder: BlockEncoder::new(), total_events: 0, blocks: 0, chain, error: None }
    }

    /// Appends one event. Events must arrive in canonical order
    /// `(group, tick, coroutine, emission order)`; the writer records them as given.
    pub fn push(&mut self, event: &Event) {
        self.encoder.push(event);
        self.total_events += 1;
        if !self.encoder.out.ends.is_empty() {
            self.chain_closed();
        }
    }

    /// Appends blocks encoded elsewhere (e.g. on a worker thread) for the
    /// groups that follow every event written so far; the bytes are the same
    /// as pushing their events one by one.
    pub fn append(&mut self, blocks: &EncodedBlocks) {
        self.encoder.close_block();
        self.chain_closed();
        let mut from = 0;
        for (end, digest) in blocks.ends.iter().zip(&blocks.digests) {
            self.chain_block(&blocks.bytes[from..*end], digest);
            from = *end;
        }
        self.total_events += blocks.events;
        self.flush_full();
    }

    fn chain_closed(&mut self) {
        let mut encoder = std::mem::take(&mut self.encoder);
        encoder.take_closed(&mut |block, digest| self.chain_block(block, digest));
        self.encoder = encoder;
        self.flush_full();
    }

    fn chain_block(&mut self, head_and_events: &[u8], digest: &[u8; 32]) {
        let hash = chain_hash(&self.chain, digest);
        self.out.extend_from_slice(head_and_events);
        self.out.extend_from_slice(&hash);
        self.chain = hash;
        self.blocks += 1;
    }

    fn flush_full(&mut self) {
        if self.out.len() >= FLUSH_BYTES {
            self.flush_out();
        }
    }

    fn flush_out(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.sink.write_all(&self.out)
        {
            self.error = Some(e);
        }
        self.out.clear();
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
        self.encoder.close_block();
        self.chain_closed();
        self.out.extend_from_slice(&0u32.to_le_bytes());
        self.out.extend_from_slice(&len_u32(self.blocks as usize).to_le_bytes());
        self.out.extend_from_slice(&self.total_events.to_le_bytes());
        self.out.extend_from_slice(&self.chain);
        self.flush_out();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.sink.flush()?;
        Ok(Written { sink: self.sink, root: self.chain, blocks: self.blocks, events: self.total_events })
    }
}
