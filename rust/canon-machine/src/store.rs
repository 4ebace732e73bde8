//! The session store: every session of one group, indexed by its local
//! session number (never searched), with open admission, per-endpoint local
//! types, per-edge buffers and the lifecycle status. The typed actions that
//! check operations against local types live in `actions.rs`.

use std::collections::BTreeMap;

use smallvec::SmallVec;

use canon_bytecode::{BufferConfig, EdgeBuffer};
use canon_types::{Endpoint, SymId, TypeId, ValueKind};

use crate::auth::{EndpointKey, KeySource};
use crate::buffer::{BoundedBuffer, Message};
use crate::config::{Auth, ReplayMode};
use crate::consume::Consumption;
use crate::fault::Fault;

/// Lifecycle phase of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SessionStatus {
    /// Open: endpoints may still act.
    Active,
    /// The last endpoint closed with undelivered messages: they are
    /// reported (`Draining`, `Discarded` events), then the session is `Closed`.
    Draining,
    /// Every endpoint closed and every message was delivered or reported.
    Closed,
    /// Cancelled (`cancel`, a timeout, an abandoned transfer).
    Cancelled,
    /// Ended by an explicit `abort` (distinct from `Cancelled` so the terminal
    /// reason survives in the status).
    Aborted,
    /// Ended by a fault of one of its endpoints, or an ownership fault.
    Faulted {
        /// The fault code (3xxx, or 4xxx for the ownership faults).
        code: u16,
    },
}

impl SessionStatus {
    /// Cancelled, aborted or faulted: a coroutine touching it ends.
    pub fn is_abnormal(self) -> bool {
        matches!(self, SessionStatus::Cancelled | SessionStatus::Aborted | SessionStatus::Faulted { .. })
    }
}

/// One endpoint's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointState {
    /// Current local type, always resolved to a `Send`, `Recv` or `End` node.
    pub current: TypeId,
    /// The type the endpoint was opened with.
    pub original: TypeId,
    /// The coroutine (id within the group) that owns the endpoint.
    pub owner: u32,
    /// Whether the endpoint has closed.
    pub closed: bool,
}

/// One directed edge: its buffer and sequence counters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Edge {
    /// The edge's buffered messages.
    pub buffer: BoundedBuffer,
    /// Sequence number of the next message sent on the edge.
    pub send_seq: u64,
    /// Messages delivered on the edge.
    pub recv_seq: u64,
    /// Messages the buffer's own policy discarded (`Dropped`, `Overwritten`)
    /// that no delivery has skipped over yet: how far a delivery may pass the
    /// next expected seq under `ReplayMode::Nullifier`.
    pub(crate) lost: u64,
    /// Whether the edge is on the store's dirty list for the next barrier.
    pub(crate) dirty: bool,
    /// A message the transport holds back (`Injection::Reorder`) until the
    /// next message on the edge.
    pub(crate) held: Option<Message>,
    /// The coroutine parked on the edge waiting for a message
    /// ([`NO_WAITER`]: none). The barrier wakes it when the edge's messages
    /// become visible; nothing else makes a blocked receive succeed.
    pub(crate) waiter: u32,
    /// The edge's authenticated history: a running hash of the envelopes
    /// delivered on it, `h = SHA-256(h || identity)` from 32 zero bytes
    /// (`identity` = SHA-256 of the message's canonical envelope). Recorded
    /// in `EdgeHistory` when the session ends.
    pub history: [u8; 32],
}

/// The trace of one directed edge of a session that ended: what the
/// `EdgeHistory` event records (bytecode-spec/replay.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeTrace {
    /// Sending role index.
    pub from: u16,
    /// Receiving role index.
    pub to: u16,
    /// Messages sent on the edge (`Sent` and `Dropped`).
    pub sent: u64,
    /// Messages delivered on the edge (`Received`).
    pub delivered: u64,
    /// The edge's authenticated history ([`Edge::history`]).
    pub history: [u8; 32],
}

/// [`Edge::waiter`] of an edge no coroutine is parked on.
pub(crate) const NO_WAITER: u32 = u32::MAX;

impl Default for Edge {
    fn default() -> Self {
        Edge {
            buffer: BoundedBuffer::default(),
            send_seq: 0,
            recv_seq: 0,
            lost: 0,
            dirty: false,
            held: None,
            waiter: NO_WAITER,
            history: [0; 32],
        }
    }
}

/// The storage of a live session; recycled when the session ends so that
/// churning sessions reuses its allocations.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionBody {
    /// The role names, in the `open`'s order.
    pub roles: SmallVec<[SymId; 4]>,
    /// Edge handler binding per role.
    pub handlers: SmallVec<[SymId; 4]>,
    /// The state of each role's endpoint.
    pub endpoints: SmallVec<[EndpointState; 4]>,
    /// The edges in use, in the order of their first send (sparse: an edge
    /// exists once a message was sent on it, so an open of n roles never
    /// allocates n² edge states). Found through `edge_slots`.
    pub edges: Vec<Edge>,
    /// `(from << 16 | to, index into edges)`, sorted by key (inline up to
    /// the six edges of a three-role session).
    edge_slots: SmallVec<[(u32, u32); 6]>,
    /// The open's per-edge buffer overrides, applied when an edge is created.
    buffers: Vec<EdgeBuffer>,
    /// The buffer of an edge without an override.
    default_buffer: BufferConfig,
    /// Edges of an ended session, emptied, kept (with their buffers'
    /// storage) for the next session this body serves: churning sessions
    /// reuse them instead of allocating. Freed with the body when the group ends.
    #[serde(skip)]
    spare_edges: Vec<Edge>,
    /// Key pair per role, bound at open (empty under `Auth::None`).
    pub keys: Vec<EndpointKey>,
    /// Replay-consumption state (seed 002/003).
    pub consumption: Consumption,
    pub(crate) open_endpoints: u16,
}

impl SessionBody {
    /// Index of role `name`.
    #[inline]
    pub fn role_index(&self, name: SymId) -> Option<u16> {
        self.roles.iter().position(|&r| r == name).map(|i| i as u16)
    }

    /// Index into `edges` of the edge `from → to`, if a message was ever sent on it.
    #[inline]
    pub fn edge_index(&self, from: u16, to: u16) -> Option<usize> {
        let key = edge_key(from, to);
        // Two-role sessions have at most two edges: a scan beats a search.
        if self.edge_slots.len() <= 4 {
            return self.edge_slots.iter().find(|(k, _)| *k == key).map(|(_, i)| *i as usize);
        }
        self.edge_slots.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| self.edge_slots[i].1 as usize)
    }

    /// The handler bound to the edge `from → to`. The bytecode binds a
    /// handler per role (`open`'s `handlers`); every edge a role sends on is
    /// bound to that role's handler, so both ends of an interaction on the
    /// edge name the same one.
    #[inline]
    pub fn edge_handler(&self, from: u16, _to: u16) -> Option<SymId> {
        self.handlers.get(usize::from(from)).copied()
    }

    /// Every edge in use with its `(from, to)`, in `(from, to)` order.
    pub fn edges_in_order(&self) -> impl Iterator<Item = (u16, u16, &Edge)> {
        self.edge_slots.iter().map(|&(key, i)| ((key >> 16) as u16, key as u16, &self.edges[i as usize]))
    }

    /// The roles `(from, to)` of the edge at index `i` of `edges`, if a slot names it.
    pub(crate) fn edge_roles(&self, i: usize) -> Option<(u16, u16)> {
        self.edge_slots.iter().find(|&&(_, j)| j as usize == i).map(|&(key, _)| ((key >> 16) as u16, key as u16))
    }

    /// The edge `from → to`, if a message was ever sent on it.
    #[inline]
    pub fn edge(&self, from: u16, to: u16) -> Option<&Edge> {
        self.edge_index(from, to).map(|i| &self.edges[i])
    }

    /// Index of the edge `from → to`, created (with its buffer
    /// configuration) if this is its first message.
    pub(crate) fn edge_index_or_insert(&mut self, from: u16, to: u16) -> usize {
        if let Some(i) = self.edge_index(from, to) {
            return i;
        }
        let key = edge_key(from, to);
        match self.edge_slots.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(i) => self.edge_slots[i].1 as usize,
            Err(at) => {
                let index = self.edges.len();
                let config = self
                    .buffers
                    .iter()
                    .rev()
                    .find(|b| (b.from, b.to) == (from, to))
                    .map_or(self.default_buffer, |b| b.config);
                let mut edge = self.spare_edges.pop().unwrap_or_default();
                edge.buffer.reset(config);
                if self.edges.capacity() == 0 {
                    // Every edge of a small session in one allocation (n roles have n(n-1) edges).
                    let roles = self.roles.len();
                    self.edges.reserve((roles * roles.saturating_sub(1)).clamp(1, 8));
                }
                self.edges.push(edge);
                self.edge_slots.insert(at, (key, index as u32));
                index
            }
        }
    }
}

fn edge_key(from: u16, to: u16) -> u32 {
    u32::from(from) << 16 | u32::from(to)
}

/// One session: status, epoch and (while live) its body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// Advances when the session closes.
    pub epoch: u64,
    /// Its roles, endpoints, edges and keys.
    pub body: SessionBody,
    /// Timeout and cancellation witnesses (kept after the session ends).
    pub lifecycle: crate::lifecycle::Lifecycle,
}

/// The operands of an `open`, for [`SessionStore::open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenRequest<'a> {
    /// The role names.
    pub roles: &'a [SymId],
    /// Each role's local type.
    pub types: &'a [TypeId],
    /// Each role's host handler binding.
    pub handlers: &'a [SymId],
    /// Number of destination registers.
    pub dsts_len: usize,
    /// Per-edge buffer overrides.
    pub buffers: &'a [EdgeBuffer],
}

/// What `open` binds besides types and buffers: endpoint keys and the
/// replay-consumption policy.
#[derive(Debug, Clone, Copy)]
pub struct Security<'a> {
    /// Whether messages are signed.
    pub auth: Auth,
    /// How receives are checked for replays.
    pub replay_mode: ReplayMode,
    /// Where keys come from when the host supplied none (never the seed).
    pub keys: &'a KeySource,
    /// Host-supplied secrets by `(sid, role)`; they take precedence over the key source.
    pub supplied: &'a BTreeMap<(u64, u16), [u8; 32]>,
}

impl Security<'_> {
    /// The key of endpoint `role` of session `sid`, if there is one.
    fn key(&self, sid: u64, role: u16) -> Option<EndpointKey> {
        match self.supplied.get(&(sid, role)) {
            Some(secret) => Some(EndpointKey::from_secret(secret)),
            None => self.keys.key(sid, role),
        }
    }
}

/// Payload kinds per symbol: `kinds[s]` is the [`ValueKind`] that type name
/// `s` denotes (`None`: any kind). Built once per program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadKinds(pub Vec<Option<ValueKind>>);

impl PayloadKinds {
    /// The table for a module's string table.
    pub fn new(strings: &[String]) -> Self {
        PayloadKinds(strings.iter().map(|s| ValueKind::for_type_name(s)).collect())
    }

    /// The kind type name `s` denotes.
    pub fn get(&self, s: SymId) -> Option<ValueKind> {
        self.0.get(s.0 as usize).copied().flatten()
    }
}

/// Resolves `id` through `Mu`/`Var` to a communication or `End` node (the
/// seed's `unfold_mu`/`unfold_if_var`) by one lookup in `resolved`, the
/// table the verifier computed once for every type id
/// (`VerifiedProgram::resolved_table`): the machine never walks a `mu`
/// chain, however deep the nesting.
#[inline]
pub fn unfold(resolved: &[TypeId], id: TypeId) -> Result<TypeId, Fault> {
    resolved.get(id.0 as usize).copied().ok_or(Fault::BadOperand { what: "local type out of range" })
}

impl SessionBody {
    /// Whether the counters and indexes derived from a live session's
    /// endpoints and edges agree with them (checked on a restored store):
    /// the open-endpoint count is the endpoints not closed, and every edge
    /// slot names an edge, in key order.
    pub(crate) fn is_consistent(&self) -> bool {
        let open = self.endpoints.iter().filter(|e| !e.closed).count();
        open == usize::from(self.open_endpoints)
            && self.edge_slots.iter().all(|&(_, i)| (i as usize) < self.edges.len())
            && self.edge_slots.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// Every session of one group.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionStore {
    group: u32,
    pub(crate) sessions: Vec<Session>,
    /// The storage of the last session that ended, reused by the next open
    /// (sessions that end one at a time need no pool allocation).
    #[serde(skip)]
    spare: Option<SessionBody>,
    /// Further recycled storage.
    #[serde(skip)]
    pool: Vec<SessionBody>,
    pub(crate) dirty: Vec<(u32, u32)>,
    live: u32,
    /// Coroutines whose parking ended (a message became visible on their
    /// edge, or their session ended), for the group to run again.
    pub(crate) woken: Vec<u32>,
    /// `Auth::Ed25519Round`: the batches of the endpoints that sent in the
    /// current round, sealed at its barrier ([`SessionStore::seal_round`]).
    pub(crate) pending_batches: Vec<PendingBatch>,
    /// Round batching's reused storage: sealed batches some message may
    /// still hold, unsealed batches and identity vectors ready for reuse,
    /// the signed bytes being built, and the last round's signatures. None
    /// of it is state: a checkpoint leaves it out (a restored store starts
    /// with nothing to reuse).
    #[serde(skip)]
    batches_in_flight: Vec<std::sync::Arc<crate::auth::RoundBatch>>,
    #[serde(skip)]
    pub(crate) spare_batches: Vec<(std::sync::Arc<crate::auth::RoundBatch>, Vec<[u8; 32]>)>,
    #[serde(skip)]
    batch_bytes: Vec<u8>,
    #[serde(skip)]
    sealed: Vec<(u64, u16, [u8; 64])>,
    /// Host-side ownership per session id (a claim may precede the
    /// session's `open`; kept after the session ends). See `ownership.rs`.
    pub(crate) ownership: BTreeMap<u64, crate::ownership::SessionOwnership>,
}

thread_local! {
    /// The edge traces of the session [`SessionStore::finish`] just ended,
    /// for its caller to record (`EdgeHistory`) right after the session's
    /// terminal events, in the same step on the same thread
    /// ([`drain_ended_edges`]). Empty between steps, so not state; kept per
    /// thread so that no group allocates it.
    static ENDED_EDGES: std::cell::RefCell<Vec<EdgeTrace>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hands the edge traces of the session [`SessionStore::finish`] just ended
/// to `f`, in `(from, to)` order, and forgets them.
pub(crate) fn drain_ended_edges(mut f: impl FnMut(EdgeTrace)) {
    ENDED_EDGES.with(|v| v.borrow_mut().drain(..).for_each(&mut f));
}

/// An endpoint's round batch being filled (`Auth::Ed25519Round`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingBatch {
    /// The session id.
    pub sid: u64,
    /// The sending role's index.
    pub role: u16,
    /// The round's batch of message identities.
    pub batch: std::sync::Arc<crate::auth::RoundBatch>,
    /// Identities of the messages recorded as `Sent`, in order.
    pub ids: Vec<[u8; 32]>,
    /// The sender's key, which signs the batch at the barrier.
    pub key: EndpointKey,
}

impl SessionStore {
    /// An empty store for group `group`.
    pub fn new(group: u32) -> Self {
        SessionStore { group, ..SessionStore::default() }
    }

    /// The host-side ownership state of session `sid`, if it was claimed.
    pub fn ownership(&self, sid: u64) -> Option<&crate::ownership::SessionOwnership> {
        self.ownership.get(&sid)
    }

    /// Sessions opened so far.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session was opened.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions neither closed nor otherwise terminal.
    pub fn live(&self) -> u32 {
        self.live
    }

    /// Whether the live-session count and every active session's derived
    /// counters and indexes agree with the sessions (checked on a restored store).
    pub(crate) fn is_consistent(&self) -> bool {
        let live = self.sessions.iter().filter(|s| matches!(s.status, SessionStatus::Active | SessionStatus::Draining));
        live.count() == self.live as usize
            && self.sessions.iter().filter(|s| s.status == SessionStatus::Active).all(|s| s.body.is_consistent())
    }

    /// Seals every round batch of the round `tick` (signing each once) and
    /// returns `(sid, role, signature)` per batch. Called at the barrier,
    /// before the round's messages become visible. Batches whose messages
    /// were all taken are kept for reuse (no allocation per round).
    pub fn seal_round(&mut self, run: &[u8; 32], tick: u64) -> &[(u64, u16, [u8; 64])] {
        self.sealed.clear();
        let spare = &mut self.spare_batches;
        self.batches_in_flight.retain_mut(|b| match std::sync::Arc::get_mut(b) {
            Some(unique) => {
                let ids = unique.recycle().unwrap_or_default();
                spare.push((std::sync::Arc::clone(b), ids));
                false
            }
            None => true,
        });
        for p in self.pending_batches.drain(..) {
            crate::auth::batch_envelope_into(&mut self.batch_bytes, run, p.sid, p.role, tick, &p.ids);
            let signature = p.key.sign(&self.batch_bytes);
            p.batch.seal(p.sid, p.role, tick, p.ids, signature);
            self.batches_in_flight.push(p.batch);
            self.sealed.push((p.sid, p.role, signature));
        }
        &self.sealed
    }

    /// The session with id `sid`, if it belongs to this group.
    #[inline]
    pub fn get(&self, sid: u64) -> Option<&Session> {
        if (sid >> 32) as u32 != self.group {
            return None;
        }
        self.sessions.get(sid as u32 as usize)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, sid: u64) -> Option<&mut Session> {
        if (sid >> 32) as u32 != self.group {
            return None;
        }
        self.sessions.get_mut(sid as u32 as usize)
    }

    /// Sessions in open order.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The id the next `open` will give its session.
    pub fn next_sid(&self) -> u64 {
        u64::from(self.group) << 32 | self.sessions.len() as u64
    }

    /// Admits and creates a session (seed 003 open path); endpoint `i` is
    /// owned by `owner` and, under `Auth::Ed25519`, bound to its key.
    /// Returns the new session id.
    pub fn open(
        &mut self,
        resolved: &[TypeId],
        req: &OpenRequest<'_>,
        owner: u32,
        default_buffer: BufferConfig,
        max_sessions: u32,
        security: &Security<'_>,
    ) -> Result<u64, Fault> {
        admit(resolved, req)?;
        if self.live >= max_sessions {
            return Err(Fault::TooManySessions { max: max_sessions });
        }
        let n = u32::try_from(self.sessions.len()).map_err(|_| Fault::TooManySessions { max: u32::MAX })?;
        let sid = u64::from(self.group) << 32 | u64::from(n);
        let mut body = self.spare.take().or_else(|| self.pool.pop()).unwrap_or_default();
        init_body(&mut body, resolved, req, owner, default_buffer)?;
        if security.auth.signs() {
            for role in 0..req.roles.len() as u16 {
                match security.key(sid, role) {
                    Some(key) => body.keys.push(key),
                    None => {
                        body.keys.clear();
                        self.pool.push(body);
                        return Err(Fault::NoEndpointKey { role });
                    }
                }
            }
        }
        body.consumption.reset(security.replay_mode);
        self.sessions.push(Session { status: SessionStatus::Active, epoch: 0, body, lifecycle: Default::default() });
        self.live += 1;
        Ok(sid)
    }

    /// The endpoint's current local type (`lookup_type`).
    pub fn lookup_type(&self, ep: Endpoint) -> Option<TypeId> {
        self.endpoint(ep).map(|e| e.current)
    }

    /// The endpoint's original local type.
    pub fn lookup_original(&self, ep: Endpoint) -> Option<TypeId> {
        self.endpoint(ep).map(|e| e.original)
    }

    /// The endpoint's state, while its session is live.
    pub fn endpoint(&self, ep: Endpoint) -> Option<&EndpointState> {
        self.get(ep.sid)?.body.endpoints.get(ep.role as usize)
    }

    /// Sets the endpoint's current local type (`update_type`), resolved.
    pub fn update_type(&mut self, resolved: &[TypeId], ep: Endpoint, ty: TypeId) -> Result<(), Fault> {
        let ty = unfold(resolved, ty)?;
        self.endpoint_mut(ep)?.current = ty;
        Ok(())
    }

    /// Sets the endpoint's original local type (`update_original`).
    pub fn update_original(&mut self, ep: Endpoint, ty: TypeId) -> Result<(), Fault> {
        self.endpoint_mut(ep)?.original = ty;
        Ok(())
    }

    /// Marks the endpoint closed (`remove_type`); returns whether it was the
    /// session's last open endpoint.
    pub fn remove_type(&mut self, ep: Endpoint) -> Result<bool, Fault> {
        let e = self.endpoint_mut(ep)?;
        if e.closed {
            return Err(Fault::EndpointClosed { ep });
        }
        e.closed = true;
        let body = &mut self.get_mut(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?.body;
        body.open_endpoints -= 1;
        Ok(body.open_endpoints == 0)
    }

    /// Transfers ownership of a live endpoint to coroutine `owner`.
    #[inline]
    pub fn set_owner(&mut self, ep: Endpoint, owner: u32) {
        if let Ok(e) = self.endpoint_mut(ep) {
            e.owner = owner;
        }
    }

    fn endpoint_mut(&mut self, ep: Endpoint) -> Result<&mut EndpointState, Fault> {
        self.get_mut(ep.sid)
            .and_then(|s| s.body.endpoints.get_mut(ep.role as usize))
            .ok_or(Fault::UnknownSession { sid: ep.sid })
    }

    /// Ends a live session with `status`: buffers cleared, storage recycled,
    /// and on `Closed` the epoch advanced. Returns the new epoch, or `None`
    /// if the session was not live.
    pub fn finish(&mut self, sid: u64, status: SessionStatus) -> Option<u64> {
        let session = self.get_mut(sid)?;
        if !matches!(session.status, SessionStatus::Active | SessionStatus::Draining) {
            return None;
        }
        session.status = status;
        if status == SessionStatus::Closed {
            session.epoch = session.epoch.saturating_add(1);
        }
        let epoch = session.epoch;
        let mut body = std::mem::take(&mut session.body);
        // The edge traces, in `(from, to)` order, for `EdgeHistory`.
        ENDED_EDGES.with(|v| {
            let mut v = v.borrow_mut();
            v.clear();
            for (from, to, edge) in body.edges_in_order() {
                if edge.send_seq > 0 || edge.recv_seq > 0 {
                    let (sent, delivered, history) = (edge.send_seq, edge.recv_seq, edge.history);
                    v.push(EdgeTrace { from, to, sent, delivered, history });
                }
            }
        });
        // A receive parked on the session sees it ended in the same round,
        // as it would have polling.
        self.woken.extend(body.edges.iter().map(|e| e.waiter).filter(|&w| w != NO_WAITER));
        // The edges are emptied and kept with the body for its next session
        // (freed when the group ends).
        for edge in &mut body.edges {
            edge.buffer.clear();
            edge.held = None;
            edge.send_seq = 0;
            edge.recv_seq = 0;
            edge.lost = 0;
            edge.dirty = false;
            edge.waiter = NO_WAITER;
            edge.history = [0; 32];
        }
        if body.spare_edges.is_empty() {
            std::mem::swap(&mut body.edges, &mut body.spare_edges);
        } else {
            body.spare_edges.append(&mut body.edges);
        }
        body.edge_slots.clear();
        // Close prunes the per-session replay counters and nullifiers; keys are dropped.
        body.consumption.prune();
        body.keys.clear();
        match self.spare {
            None => self.spare = Some(body),
            Some(_) => self.pool.push(body),
        }
        self.live -= 1;
        Some(epoch)
    }

    /// The round barrier: makes every message pushed since the last barrier
    /// visible. Touches only the edges pushed to.
    pub fn flush(&mut self) {
        for (n, e) in self.dirty.drain(..) {
            if let Some(edge) = self.sessions.get_mut(n as usize).and_then(|s| s.body.edges.get_mut(e as usize)) {
                edge.buffer.flush();
                edge.dirty = false;
                if edge.waiter != NO_WAITER && edge.buffer.visible_len() > 0 {
                    self.woken.push(edge.waiter);
                    edge.waiter = NO_WAITER;
                }
            }
        }
    }

    /// Parks coroutine `co` on the edge `from → ep.role` (at index `edge` of
    /// the session's edges, when it exists) until a message on it becomes
    /// visible (or the session ends). Creates the edge if no message was
    /// sent on it yet.
    pub(crate) fn park(&mut self, ep: Endpoint, from: u16, edge: Option<usize>, co: u32) {
        if let Some(s) = self.get_mut(ep.sid) {
            let i = match edge {
                Some(i) if i < s.body.edges.len() => i,
                _ => s.body.edge_index_or_insert(from, ep.role),
            };
            s.body.edges[i].waiter = co;
        }
    }

    /// Frees what the store keeps for reuse (recycled session storage):
    /// called when the group has ended.
    pub(crate) fn release(&mut self) {
        self.spare = None;
        self.pool = Vec::new();
        self.dirty = Vec::new();
        self.woken = Vec::new();
        self.batches_in_flight = Vec::new();
        self.spare_batches = Vec::new();
        self.batch_bytes = Vec::new();
        self.sealed = Vec::new();
    }
}

/// Open admission: arities, unique roles, a handler per role, types and
/// buffer overrides in range.
fn admit(resolved: &[TypeId], req: &OpenRequest<'_>) -> Result<(), Fault> {
    let n = req.roles.len();
    if req.types.len() != n || req.dsts_len != n || n > usize::from(u16::MAX) {
        return Err(Fault::OpenArity { roles: n as u32, types: req.types.len() as u32, dsts: req.dsts_len as u32 });
    }
    for (i, role) in req.roles.iter().enumerate() {
        if req.roles[..i].contains(role) {
            return Err(Fault::DuplicateRole { role: *role });
        }
    }
    if req.handlers.len() < n {
        return Err(Fault::MissingHandler { role: req.roles[req.handlers.len()] });
    }
    if req.handlers.len() > n {
        return Err(Fault::BadOperand { what: "open has more handlers than roles" });
    }
    for ty in req.types {
        unfold(resolved, *ty)?;
    }
    for b in req.buffers {
        if usize::from(b.from) >= n || usize::from(b.to) >= n {
            return Err(Fault::BadEdgeBuffer { from: b.from, to: b.to });
        }
    }
    Ok(())
}

fn init_body(
    body: &mut SessionBody,
    resolved: &[TypeId],
    req: &OpenRequest<'_>,
    owner: u32,
    default_buffer: BufferConfig,
) -> Result<(), Fault> {
    let n = req.roles.len();
    body.roles.clear();
    body.roles.extend_from_slice(req.roles);
    body.handlers.clear();
    body.handlers.extend_from_slice(req.handlers);
    body.endpoints.clear();
    for ty in req.types {
        let current = unfold(resolved, *ty)?;
        body.endpoints.push(EndpointState { current, original: *ty, owner, closed: false });
    }
    body.edges.clear();
    body.edge_slots.clear();
    body.buffers.clear();
    body.buffers.extend_from_slice(req.buffers);
    body.default_buffer = default_buffer;
    body.keys.clear();
    body.open_endpoints = n as u16;
    Ok(())
}
