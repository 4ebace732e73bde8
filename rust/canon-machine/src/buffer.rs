//! One directed edge's bounded buffer: FIFO or latest-value, with a
//! backpressure policy. Messages pushed in a round stay invisible to the
//! receiver until the round barrier calls [`BoundedBuffer::flush`].

use std::collections::VecDeque;

use canon_bytecode::{Backpressure, BufferConfig, BufferMode};
use canon_types::{SymId, Value};

/// A message in flight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// The message label.
    pub label: SymId,
    /// Position on the directed edge, counted from 0.
    pub seq: u64,
    /// The message payload.
    pub payload: Value,
    /// The sender's Ed25519 signature of the message's envelope (`None`
    /// under `Auth::None`). A fixed array: signing does not allocate.
    #[serde(with = "crate::auth::signature_serde")]
    pub signature: Option<[u8; 64]>,
    /// Under `Auth::Ed25519Round`: the sender's batch for the round and this
    /// message's position in it (`None` otherwise).
    pub batch: Option<(std::sync::Arc<crate::auth::RoundBatch>, u32)>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued; visible after the next barrier.
    Queued,
    /// Full under `Block`: nothing changed, the sender should retry.
    Blocked,
    /// Full under `Drop`: the message was discarded.
    Dropped,
    /// `LatestValue`: the message replaced an undelivered one.
    Overwritten,
    /// Full under `Error`, or under `Resize` at its maximum.
    Full {
        /// The buffer's capacity, in messages.
        capacity: u32,
    },
}

/// A bounded message buffer. Capacity counts visible and pending messages.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BoundedBuffer {
    config: BufferConfig,
    capacity: u32,
    queue: VecDeque<Message>,
    visible: usize,
}

impl BoundedBuffer {
    /// An empty buffer.
    pub fn new(config: BufferConfig) -> Self {
        let mut b = BoundedBuffer::default();
        b.reset(config);
        b
    }

    /// Empties the buffer and applies `config`, keeping its allocation.
    pub fn reset(&mut self, config: BufferConfig) {
        self.config = config;
        self.capacity = config.capacity.max(1);
        self.queue.clear();
        self.visible = 0;
    }

    /// The configuration.
    pub fn config(&self) -> BufferConfig {
        self.config
    }

    /// Current capacity (grows under `Resize`).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Messages held, visible and pending.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Messages the receiver may take this round.
    pub fn visible_len(&self) -> usize {
        self.visible
    }

    /// Pushes `msg` under the buffer's mode and policy.
    #[inline]
    pub fn push(&mut self, msg: Message) -> PushOutcome {
        if self.config.mode == BufferMode::LatestValue {
            // The newest `capacity` messages are kept: a full buffer loses
            // its oldest (whatever the policy: a latest-value edge never
            // blocks, drops the new message or errors).
            let replaced = self.queue.len() >= self.capacity as usize;
            if replaced {
                self.queue.pop_front();
                self.visible = self.visible.saturating_sub(1);
            }
            self.queue.push_back(msg);
            return if replaced { PushOutcome::Overwritten } else { PushOutcome::Queued };
        }
        if self.queue.len() >= self.capacity as usize {
            match self.config.policy {
                Backpressure::Block => return PushOutcome::Blocked,
                Backpressure::Drop => return PushOutcome::Dropped,
                Backpressure::Error => return PushOutcome::Full { capacity: self.capacity },
                Backpressure::Resize { max_capacity } => {
                    if self.capacity >= max_capacity {
                        return PushOutcome::Full { capacity: self.capacity };
                    }
                    self.capacity = self.capacity.saturating_mul(2).min(max_capacity);
                }
            }
        }
        self.queue.push_back(msg);
        PushOutcome::Queued
    }

    /// Whether a push now would return [`PushOutcome::Blocked`] (so the
    /// sender need not sign a message it cannot send yet).
    #[inline]
    pub fn would_block(&self) -> bool {
        self.config.mode == BufferMode::Fifo
            && self.config.policy == Backpressure::Block
            && self.queue.len() >= self.capacity as usize
    }

    /// Appends `msg` regardless of capacity: the transport delivering a
    /// message it duplicated or held back (fault injection only).
    pub fn push_forced(&mut self, msg: Message) {
        self.queue.push_back(msg);
    }

    /// Removes the newest message, if it is not yet visible: the transport
    /// losing or holding back what was just pushed (fault injection only).
    pub fn pop_pending(&mut self) -> Option<Message> {
        if self.queue.len() > self.visible { self.queue.pop_back() } else { None }
    }

    /// The oldest visible message.
    #[inline]
    pub fn front_visible(&self) -> Option<&Message> {
        if self.visible > 0 { self.queue.front() } else { None }
    }

    /// Takes the oldest visible message.
    #[inline]
    pub fn pop_visible(&mut self) -> Option<Message> {
        if self.visible == 0 {
            return None;
        }
        self.visible -= 1;
        self.queue.pop_front()
    }

    /// The round barrier: every held message becomes visible.
    #[inline]
    pub fn flush(&mut self) {
        self.visible = self.queue.len();
    }

    /// The messages held, oldest first (visible and not yet visible).
    /// Whether the counters fit the queue (checked on restored buffers).
    pub(crate) fn is_consistent(&self) -> bool {
        self.visible <= self.queue.len() && self.capacity >= 1
    }

    /// The buffered messages, oldest first (visible or not).
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.queue.iter()
    }

    /// Discards every message.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.visible = 0;
    }
}
