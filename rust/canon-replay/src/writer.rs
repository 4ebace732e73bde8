//! The streaming replay writer: events in, canonical bytes out.

use std::io::Write;

use canon_machine::event::Event;
use sha2::{Digest, Sha256};

use crate::header::{ReplayHeader, len_u32};
use crate::record::encode_event;
use crate::replay::Replay;

/// A block is closed right after the event that brings its encoded events to
/// at least this many bytes (and at the end of the stream). Block boundaries
/// therefore depend only on the event sequence.
pub const BLOCK_TARGET_BYTES: usize = 4096;

/// Bytes of a block head: event count u32, byte length u32.
pub const BLOCK_HEAD_BYTES: usize = 8;

/// Bytes of the trailer: end marker u32 (0), block count u32, event count u64, root.
pub const TRAILER_BYTES: usize = 4 + 4 + 8 + 32;

/// `h_0`: the chain hash of the header bytes.
pub(crate) fn header_hash(header_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(header_bytes).into()
}

/// `h_b = SHA-256(h_{b-1} || block_bytes)`, where `block_bytes` is the block
/// head followed by its event bytes.
pub(crate) fn chain_hash(prev: &[u8; 32], head: &[u8], events: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(prev).chain_update(head).chain_update(events).finalize().into()
}

/// Encodes events, in canonical order, into a replay fragment.
///
/// `push` encodes into one reused block buffer and hashes once per block, so
/// in the steady state it allocates nothing but the amortised growth of the
/// output buffer.
#[derive(Debug)]
pub struct ReplayWriter {
    out: Vec<u8>,
    block: Vec<u8>,
    block_events: u32,
    total_events: u64,
    chain: [u8; 32],
    block_hashes: Vec<[u8; 32]>,
}

impl ReplayWriter {
    /// Starts a replay with `header`; the header bytes are `h_0`'s input.
    pub fn new(header: &ReplayHeader) -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        header.encode(&mut out);
        let chain = header_hash(&out);
        ReplayWriter {
            out,
            // Room for the target plus one typical record, so crossing the target does not grow it.
            block: Vec::with_capacity(BLOCK_TARGET_BYTES + 256),
            block_events: 0,
            total_events: 0,
            chain,
            block_hashes: Vec::new(),
        }
    }

    /// Appends one event. Events must arrive in canonical order
    /// `(group, tick, coroutine, emission order)`; the writer records them as given.
    pub fn push(&mut self, event: &Event) {
        encode_event(event, &mut self.block);
        self.block_events += 1;
        self.total_events += 1;
        if self.block.len() >= BLOCK_TARGET_BYTES {
            self.flush_block();
        }
    }

    /// Number of events pushed so far.
    pub fn event_count(&self) -> u64 {
        self.total_events
    }

    fn flush_block(&mut self) {
        debug_assert!(self.block_events > 0, "blocks are never empty");
        let mut head = [0u8; BLOCK_HEAD_BYTES];
        head[..4].copy_from_slice(&self.block_events.to_le_bytes());
        head[4..].copy_from_slice(&len_u32(self.block.len()).to_le_bytes());
        let hash = chain_hash(&self.chain, &head, &self.block);
        self.out.extend_from_slice(&head);
        self.out.extend_from_slice(&self.block);
        self.out.extend_from_slice(&hash);
        self.chain = hash;
        self.block_hashes.push(hash);
        self.block.clear();
        self.block_events = 0;
    }

    /// Closes the last block, writes the trailer and returns the file bytes
    /// together with the block hashes.
    fn close(mut self) -> (Vec<u8>, Vec<[u8; 32]>) {
        if self.block_events > 0 {
            self.flush_block();
        }
        self.out.extend_from_slice(&0u32.to_le_bytes());
        self.out.extend_from_slice(&len_u32(self.block_hashes.len()).to_le_bytes());
        self.out.extend_from_slice(&self.total_events.to_le_bytes());
        self.out.extend_from_slice(&self.chain);
        (self.out, self.block_hashes)
    }

    /// Finishes the replay and returns its canonical bytes.
    pub fn finish_bytes(self) -> Vec<u8> {
        self.close().0
    }

    /// Finishes the replay and writes its canonical bytes to `w`.
    pub fn finish_into(self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&self.finish_bytes())
    }

    /// Finishes the replay and returns it decoded. The bytes are read back
    /// through [`Replay::decode`], which checks writer and reader agree.
    pub fn finish(self) -> Replay {
        let (bytes, hashes) = self.close();
        let replay = Replay::decode(&bytes).expect("the writer's own bytes decode");
        debug_assert_eq!(replay.block_hashes, hashes);
        replay
    }
}
