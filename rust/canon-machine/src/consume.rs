//! Communication replay-consumption (seed 002/003): the receive-side check of
//! a message's signature and identity, and the per-session consumption state
//! it reads and, on commit, advances.
//!
//! The check is a pure function of the store (`&self`): a rejected message
//! changes no session state. Only [`SessionStore::consume`], called after the
//! message is taken, records the consumption.

use std::collections::BTreeSet;

use canon_types::Endpoint;
use sha2::{Digest, Sha256};

use crate::auth::{EnvelopeFields, envelope_into, identity};
use crate::buffer::Message;
use crate::config::{Auth, ReplayMode};
use crate::fault::Fault;
use crate::inject::Injection;
use crate::store::{SessionBody, SessionStore};

/// The transport settings and scratch space the send and receive paths use.
#[derive(Debug)]
pub struct Transport<'s> {
    /// Whether messages are signed.
    pub auth: Auth,
    /// How receives are checked for replays.
    pub replay_mode: ReplayMode,
    /// `Limits::max_nullifiers_per_session`.
    pub max_nullifiers: u32,
    /// `Limits::max_payload_bytes`.
    pub max_payload_bytes: u32,
    /// The run identity envelopes bind (`auth::run_identity`).
    pub run: &'s [u8; 32],
    /// Reused envelope buffer: signing and hashing do not allocate once it has grown.
    pub envelope: &'s mut Vec<u8>,
    /// The injection to apply to this send, if any.
    pub inject: Option<Injection>,
}

/// One session's replay-consumption state. Grows by one identity per message
/// received under `Nullifier` (bounded by `max_nullifiers_per_session`) and by
/// one counter per directed edge in use under either mode; emptied when the
/// session ends.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Consumption {
    /// Next expected seq per edge in use (indexed like `SessionBody::edges`).
    next_seq: Vec<u64>,
    /// Whether the session runs under a replay mode (both keep `next_seq`).
    sequence: bool,
    /// Identities consumed (`Nullifier` only).
    nullifiers: BTreeSet<[u8; 32]>,
    /// Running root: `post = SHA-256(pre || identity)`, from all zeros at open.
    root: [u8; 32],
}

/// The root transition a consumption recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    /// SHA-256 of the message's envelope.
    pub identity: [u8; 32],
    /// The session's consumption root before.
    pub pre_root: [u8; 32],
    /// The root after: SHA-256(pre_root || identity).
    pub post_root: [u8; 32],
}

impl Consumption {
    /// Fresh state for a new session. Sequence counters are kept per edge
    /// in use (indexed like `SessionBody::edges`), grown as edges appear.
    pub(crate) fn reset(&mut self, mode: ReplayMode) {
        self.prune();
        self.sequence = mode != ReplayMode::Off;
    }

    /// Drops every counter and identity (session end).
    pub(crate) fn prune(&mut self) {
        self.next_seq.clear();
        self.sequence = false;
        self.nullifiers.clear();
        self.root = [0; 32];
    }

    /// Counters plus identities held.
    pub fn len(&self) -> usize {
        self.next_seq.len() + self.nullifiers.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current consumption root.
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The next expected seq on edge `edge` (under a replay mode).
    pub fn next_seq(&self, edge: usize) -> Option<u64> {
        self.sequence.then(|| self.next_seq.get(edge).copied().unwrap_or(0))
    }

    /// `lost`: messages the edge's own buffer policy discarded (`Dropped`,
    /// `Overwritten`) that no delivery has skipped over yet.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        tr: &Transport<'_>,
        ep: Endpoint,
        from: u16,
        edge: usize,
        lost: u64,
        msg: &Message,
        id: &[u8; 32],
    ) -> Result<(), Fault> {
        match tr.replay_mode {
            ReplayMode::Off => Ok(()),
            ReplayMode::Sequence => {
                let expected = self.next_seq(edge).unwrap_or(0);
                match msg.seq.cmp(&expected) {
                    std::cmp::Ordering::Equal => Ok(()),
                    std::cmp::Ordering::Less => Err(Fault::ReplayedSequence { ep, from, expected, found: msg.seq }),
                    std::cmp::Ordering::Greater => Err(Fault::SequenceGap { ep, from, expected, found: msg.seq }),
                }
            }
            ReplayMode::Nullifier => {
                // A message's seq may pass the next expected one only by as
                // many messages as the buffer itself discarded: anything else
                // is a message the transport lost or delivered out of order.
                let expected = self.next_seq(edge).unwrap_or(0);
                if self.nullifiers.contains(id) {
                    Err(Fault::NullifierReused { ep, from, seq: msg.seq })
                } else if msg.seq < expected || msg.seq - expected > lost {
                    Err(Fault::SequenceGap { ep, from, expected, found: msg.seq })
                } else if self.nullifiers.len() >= tr.max_nullifiers as usize {
                    Err(Fault::NullifierSetFull { ep, max: tr.max_nullifiers })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Nullifier mode, at the transport boundary: whether a copy of a
    /// message with identity `id` arriving on the session is refused, because
    /// that identity was already admitted — consumed (in the nullifier set)
    /// or queued on its edge and not yet consumed (`in_flight`). A refused
    /// copy never enters the buffer: the session's buffers, types, sequence
    /// counters, nullifiers and consumption root do not change, the receiver
    /// never sees it, and nothing faults.
    pub(crate) fn refuses_copy(&self, id: &[u8; 32], in_flight: bool) -> bool {
        in_flight || self.nullifiers.contains(id)
    }

    fn commit(&mut self, mode: ReplayMode, edge: usize, seq: u64, id: [u8; 32]) -> Consumed {
        if mode != ReplayMode::Off {
            if self.next_seq.len() <= edge {
                self.next_seq.resize(edge + 1, 0);
            }
            self.next_seq[edge] = seq.saturating_add(1);
        }
        if mode == ReplayMode::Nullifier {
            self.nullifiers.insert(id);
        }
        let pre_root = self.root;
        self.root = Sha256::new().chain_update(pre_root).chain_update(id).finalize().into();
        Consumed { identity: id, pre_root, post_root: self.root }
    }
}

/// What [`admit`] returns: the envelope identity where one is computed,
/// and the identity again when a consumption will be recorded.
type Admitted = (Option<[u8; 32]>, Option<[u8; 32]>);

/// The receive-side admission of `msg` on edge `from → ep.role`: the
/// signature first (under `Auth::Ed25519`), then the replay policy. Returns
/// the message's envelope identity where the configuration computes one (a
/// signed mode or a replay mode; `None` under `auth` none with replay mode
/// off, where nothing is signed or consumed): what the edge's authenticated
/// history chains; and, when the policy will record a consumption, the
/// identity again.
pub(crate) fn admit(
    body: &SessionBody,
    ep: Endpoint,
    from: u16,
    msg: &Message,
    tr: &mut Transport<'_>,
) -> Result<Admitted, Fault> {
    if !crate::config::hashes_edge_histories(tr.auth, tr.replay_mode) {
        // Nothing to verify or consume, and no history to chain: no envelope.
        return Ok((None, None));
    }
    let fields = EnvelopeFields {
        run: tr.run,
        sid: ep.sid,
        from,
        to: ep.role,
        seq: msg.seq,
        label: msg.label,
        payload: &msg.payload,
    };
    envelope_into(tr.envelope, fields);
    let mut round_id = None;
    if tr.auth == Auth::Ed25519Round {
        let id = identity(tr.envelope);
        let key = body.keys.get(usize::from(from));
        let sealed = msg.batch.as_ref().and_then(|(b, i)| b.sealed().map(|s| (s, *i)));
        // The message's envelope is hashed: its buffer holds the batch's signed bytes next.
        let valid = matches!((key, sealed), (Some(k), Some((s, i))) if s.admits(k, tr.run, i, &id, tr.envelope));
        if !valid {
            return Err(Fault::BadSignature { ep, from, seq: msg.seq });
        }
        round_id = Some(id);
    }
    if tr.auth == Auth::Ed25519 {
        let key = body.keys.get(usize::from(from));
        let valid = matches!((key, &msg.signature), (Some(k), Some(sig)) if k.verify(tr.envelope, sig));
        if !valid {
            return Err(Fault::BadSignature { ep, from, seq: msg.seq });
        }
    }
    let id = round_id.unwrap_or_else(|| identity(tr.envelope));
    if tr.replay_mode == ReplayMode::Off {
        return Ok((Some(id), None));
    }
    let edge = body.edge_index(from, ep.role).unwrap_or(usize::MAX);
    let lost = body.edges.get(edge).map_or(0, |e| e.lost);
    body.consumption.check(tr, ep, from, edge, lost, msg, &id)?;
    Ok((Some(id), Some(id)))
}

impl SessionStore {
    /// Records the consumption of the message `seq` from `from` that was just
    /// taken on `ep` (receive commit path).
    pub fn consume(&mut self, mode: ReplayMode, ep: Endpoint, from: u16, seq: u64, id: [u8; 32]) -> Option<Consumed> {
        let body = &mut self.get_mut(ep.sid)?.body;
        let edge = body.edge_index(from, ep.role)?;
        // A delivery past the next expected seq skips messages the buffer discarded.
        let skipped = body.consumption.next_seq(edge).map_or(0, |next| seq.saturating_sub(next));
        let e = &mut body.edges[edge];
        e.lost = e.lost.saturating_sub(skipped);
        Some(body.consumption.commit(mode, edge, seq, id))
    }

    /// Replay-consumption entries (sequence counters and nullifiers) held
    /// over all sessions; zero once every session has ended.
    pub fn consumption_len(&self) -> usize {
        self.sessions.iter().map(|s| s.body.consumption.len()).sum()
    }
}
