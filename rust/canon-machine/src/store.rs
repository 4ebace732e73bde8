//! The session store: every session of one group, indexed by its local
//! session number (never searched), with open admission, per-endpoint local
//! types, per-edge buffers and the lifecycle status. The typed actions that
//! check operations against local types live in `actions.rs`.

use std::collections::BTreeMap;

use smallvec::SmallVec;

use canon_bytecode::{BufferConfig, EdgeBuffer};
use canon_types::{Endpoint, SymId, TypeGraph, TypeId, ValueKind};

use crate::auth::EndpointKey;
use crate::buffer::{BoundedBuffer, Message};
use crate::config::{Auth, ReplayMode};
use crate::consume::Consumption;
use crate::fault::Fault;

/// Lifecycle phase of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    Active,
    /// The last endpoint closed with undelivered messages: they are
    /// reported (`Draining`, `Discarded` events), then the session is `Closed`.
    Draining,
    Closed,
    Cancelled,
    /// Ended by an explicit `abort` (distinct from `Cancelled` so the terminal
    /// reason survives in the status).
    Aborted,
    Faulted {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointState {
    /// Current local type, always resolved to a `Send`, `Recv` or `End` node.
    pub current: TypeId,
    /// The type the endpoint was opened with.
    pub original: TypeId,
    /// The coroutine (id within the group) that owns the endpoint.
    pub owner: u32,
    pub closed: bool,
}

/// One directed edge: its buffer and sequence counters.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    pub buffer: BoundedBuffer,
    /// Sequence number of the next message sent on the edge.
    pub send_seq: u64,
    /// Messages delivered on the edge.
    pub recv_seq: u64,
    /// Whether the edge is on the store's dirty list for the next barrier.
    pub(crate) dirty: bool,
    /// A message the transport holds back (`Injection::Reorder`) until the
    /// next message on the edge.
    pub(crate) held: Option<Message>,
}

/// The storage of a live session; recycled when the session ends so that
/// churning sessions reuses its allocations.
#[derive(Debug, Clone, Default)]
pub struct SessionBody {
    pub roles: SmallVec<[SymId; 4]>,
    /// Edge handler binding per role.
    pub handlers: SmallVec<[SymId; 4]>,
    pub endpoints: SmallVec<[EndpointState; 4]>,
    /// `roles.len()²` edges, indexed `[from * n + to]`.
    pub edges: Vec<Edge>,
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

    /// Index of the edge `from → to`.
    #[inline]
    pub fn edge_index(&self, from: u16, to: u16) -> usize {
        from as usize * self.roles.len() + to as usize
    }
}

/// One session: status, epoch and (while live) its body.
#[derive(Debug, Clone)]
pub struct Session {
    pub status: SessionStatus,
    /// Advances when the session closes.
    pub epoch: u64,
    pub body: SessionBody,
    /// Timeout and cancellation witnesses (kept after the session ends).
    pub lifecycle: crate::lifecycle::Lifecycle,
}

/// The operands of an `open`, for [`SessionStore::open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenRequest<'a> {
    pub roles: &'a [SymId],
    pub types: &'a [TypeId],
    pub handlers: &'a [SymId],
    /// Number of destination registers.
    pub dsts_len: usize,
    pub buffers: &'a [EdgeBuffer],
}

/// What `open` binds besides types and buffers: endpoint keys and the
/// replay-consumption policy.
#[derive(Debug, Clone, Copy)]
pub struct Security<'a> {
    pub auth: Auth,
    pub replay_mode: ReplayMode,
    /// Seed of derived keys.
    pub seed: u64,
    /// Host-supplied secrets by `(sid, role)`; they take precedence over derivation.
    pub supplied: &'a BTreeMap<(u64, u16), [u8; 32]>,
}

impl Security<'_> {
    /// The key of endpoint `role` of session `sid`.
    fn key(&self, sid: u64, role: u16) -> EndpointKey {
        match self.supplied.get(&(sid, role)) {
            Some(secret) => EndpointKey::from_secret(secret),
            None => EndpointKey::derive(self.seed, sid, role),
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

/// Resolves `id` through `Mu`/`Var` to a communication or `End` node
/// (the seed's `unfold_mu`/`unfold_if_var`: following indices, no allocation).
pub fn unfold(graph: &TypeGraph, id: TypeId) -> Result<TypeId, Fault> {
    graph.resolve(id).ok_or(Fault::BadOperand { what: "local type out of range or unguarded" })
}

/// Every session of one group.
#[derive(Debug, Clone, Default)]
pub struct SessionStore {
    group: u32,
    pub(crate) sessions: Vec<Session>,
    /// The storage of the last session that ended, reused by the next open
    /// (sessions that end one at a time need no pool allocation).
    spare: Option<SessionBody>,
    /// Further recycled storage.
    pool: Vec<SessionBody>,
    pub(crate) dirty: Vec<(u32, u32)>,
    live: u32,
}

impl SessionStore {
    /// An empty store for group `group`.
    pub fn new(group: u32) -> Self {
        SessionStore { group, ..SessionStore::default() }
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
        graph: &TypeGraph,
        req: &OpenRequest<'_>,
        owner: u32,
        default_buffer: BufferConfig,
        max_sessions: u32,
        security: &Security<'_>,
    ) -> Result<u64, Fault> {
        admit(graph, req)?;
        if self.live >= max_sessions {
            return Err(Fault::TooManySessions { max: max_sessions });
        }
        let n = u32::try_from(self.sessions.len()).map_err(|_| Fault::TooManySessions { max: u32::MAX })?;
        let sid = u64::from(self.group) << 32 | u64::from(n);
        let mut body = self.spare.take().or_else(|| self.pool.pop()).unwrap_or_default();
        init_body(&mut body, graph, req, owner, default_buffer)?;
        if security.auth == Auth::Ed25519 {
            body.keys.extend((0..req.roles.len() as u16).map(|role| security.key(sid, role)));
        }
        body.consumption.reset(security.replay_mode, body.edges.len());
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
    pub fn update_type(&mut self, graph: &TypeGraph, ep: Endpoint, ty: TypeId) -> Result<(), Fault> {
        let ty = unfold(graph, ty)?;
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
            session.epoch += 1;
        }
        let epoch = session.epoch;
        let mut body = std::mem::take(&mut session.body);
        for edge in &mut body.edges {
            edge.buffer.clear();
            edge.held = None;
        }
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
            }
        }
    }
}

/// Open admission: arities, unique roles, a handler per role, types and
/// buffer overrides in range.
fn admit(graph: &TypeGraph, req: &OpenRequest<'_>) -> Result<(), Fault> {
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
        unfold(graph, *ty)?;
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
    graph: &TypeGraph,
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
        let current = unfold(graph, *ty)?;
        body.endpoints.push(EndpointState { current, original: *ty, owner, closed: false });
    }
    body.edges.resize_with(n * n, Edge::default);
    body.edges.truncate(n * n);
    for edge in &mut body.edges {
        edge.buffer.reset(default_buffer);
        edge.send_seq = 0;
        edge.recv_seq = 0;
        edge.dirty = false;
        edge.held = None;
    }
    body.keys.clear();
    for b in req.buffers {
        let i = body.edge_index(b.from, b.to);
        body.edges[i].buffer.reset(b.config);
    }
    body.open_endpoints = n as u16;
    Ok(())
}
