//! Typed actions: every send, receive, select, offer, produce and close is
//! checked against the endpoint's current local type, then applied to the
//! store. A mismatch is a [`Fault`] naming the endpoint, what the type
//! expected and what was attempted. The machine's `step` calls exactly these.

use canon_bytecode::Arm;
use canon_types::{Endpoint, FlatBranch, SymId, TypeGraph, TypeId, TypeNode, Value, ValueKind};

use std::sync::Arc;

use crate::auth::{EnvelopeFields, envelope_into, identity};
use crate::buffer::{BoundedBuffer, Message, PushOutcome};
use crate::config::{Auth, ReplayMode};
use crate::consume::{Transport, admit};
use crate::fault::{Expected, Fault, Op};
use crate::inject::{Injection, corrupt_value};
use crate::store::{PayloadKinds, PendingBatch, SessionBody, SessionStatus, SessionStore, unfold};

/// Why an action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The coroutine faults.
    Fault(Fault),
    /// The session was cancelled, aborted or faulted: the coroutine ends.
    SessionEnded(SessionStatus),
    /// The endpoint was revoked (its owner sent too late: the receiver took
    /// its timeout branch): the coroutine ends, as on an ended session.
    Revoked,
}

impl From<Fault> for Refusal {
    fn from(f: Fault) -> Self {
        Refusal::Fault(f)
    }
}

/// The program tables the checks read.
#[derive(Debug, Clone, Copy)]
pub struct TypeView<'a> {
    /// The program's local-type table.
    pub graph: &'a TypeGraph,
    /// The payload kinds of every message type.
    pub kinds: &'a PayloadKinds,
    /// The `mu` resolution of every type id, computed once at verification.
    pub resolved: &'a [TypeId],
}

/// What a send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued (visible after the barrier); `overwrote` under `LatestValue`
    /// when it replaced an undelivered message. `signature` is the sender's
    /// signature of the envelope (`None` under `Auth::None`). A requested
    /// injection was applied exactly when the outcome is `Sent`.
    Sent {
        /// The receiving role's index.
        to: u16,
        /// The message's sequence number on its edge.
        seq: u64,
        /// Whether it replaced an undelivered message (`LatestValue`).
        overwrote: bool,
        /// The sender's signature of the envelope (`None` under `Auth::None`).
        signature: Option<[u8; 64]>,
        /// Under `ReplayMode::Nullifier`, the identity of a copy of the
        /// message the transport delivered again (`Injection::Duplicate`)
        /// and the session's [`Consumption`](crate::consume::Consumption)
        /// refused at arrival as already admitted: the copy never entered
        /// the buffer.
        refused: Option<[u8; 32]>,
    },
    /// Discarded under `Drop`.
    Dropped {
        /// The receiving role's index.
        to: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// Full under `Block`: retry next round.
    Blocked,
}

/// What a receive would take, before the host accepts it (the payload is
/// [`SessionStore::peek_payload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeked {
    /// The sending role's index.
    pub from: u16,
    /// The message label.
    pub label: SymId,
    /// The message's sequence number on its edge.
    pub seq: u64,
    /// The arm index (offer) or 0 (recv).
    pub arm: usize,
    /// The message identity, when the replay mode will record its consumption.
    pub identity: Option<[u8; 32]>,
    /// SHA-256 of the message's canonical envelope, where the
    /// configuration computes it (a signed mode or a replay mode; `None`
    /// under `auth` none with replay mode off): what the edge's
    /// authenticated history chains.
    pub envelope_id: Option<[u8; 32]>,
}

/// A visible message as [`SessionStore::peek_visible`] found it: the
/// [`Peeked`] summary, the type branch its label matched, its payload and
/// the session's role names (for the host context).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visible<'s, 'g> {
    pub peeked: Peeked,
    pub branch: &'g FlatBranch,
    pub payload: &'s Value,
    pub roles: &'s [SymId],
    /// The handler bound to the message's edge.
    pub handler: SymId,
    /// The index of the message's edge in the session's edges.
    pub edge: usize,
}

/// What [`SessionStore::peek_visible`] found on the edge a receive waits on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Looked<'s, 'g> {
    /// A visible message.
    Visible(Visible<'s, 'g>),
    /// Nothing visible on the edge `from → ep.role` (at index `edge` of the
    /// session's edges, when a message was ever sent on it): where the
    /// receiver parks.
    Nothing {
        /// The sending role's index.
        from: u16,
        /// The edge's index, if it exists.
        edge: Option<usize>,
    },
}

/// What a receive expects: one label (`recv`) or one of some arms (`offer`).
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// A send or receive of this label.
    Label(SymId),
    /// One of these arms, for this operation (`select`, `offer`, `recv_timeout`).
    Arms(&'a [Arm], Op),
}

/// What a close did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// This endpoint closed; others are still open.
    EndpointClosed,
    /// The last endpoint closed: the session is Closed with this epoch.
    SessionClosed {
        /// The session's epoch after closing.
        epoch: u64,
    },
    /// The last endpoint closed while messages were undelivered: the
    /// session is `Draining` until [`SessionStore::drain`] reports them and
    /// closes it.
    Draining,
}

fn expected_of(node: &TypeNode) -> Expected {
    match node {
        TypeNode::Send { peer, .. } => Expected::Send { peer: *peer },
        TypeNode::Recv { peer, .. } => Expected::Recv { peer: *peer },
        TypeNode::Choose { .. } => Expected::Choose,
        _ => Expected::End,
    }
}

#[inline]
fn find(branches: &[FlatBranch], label: SymId) -> Option<&FlatBranch> {
    branches.iter().find(|b| b.label == label)
}

impl SessionStore {
    /// The live body of `ep`'s session, checking status and ownership.
    #[inline(always)]
    pub fn live_body(&self, ep: Endpoint, co: u32) -> Result<&SessionBody, Refusal> {
        let s = self.get(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        if s.lifecycle.revoked.contains(&ep.role) {
            return Err(Refusal::Revoked);
        }
        match s.status {
            SessionStatus::Active | SessionStatus::Draining => {}
            SessionStatus::Closed => return Err(Fault::SessionClosed { ep }.into()),
            other => return Err(Refusal::SessionEnded(other)),
        }
        let e = s.body.endpoints.get(ep.role as usize).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        if e.owner != co {
            return Err(Fault::NotOwner { ep, owner: e.owner, coroutine: co }.into());
        }
        if e.closed {
            return Err(Fault::EndpointClosed { ep }.into());
        }
        Ok(&s.body)
    }

    /// The resolved current type node of a live, owned endpoint.
    pub fn current_node<'g>(&self, g: &'g TypeGraph, ep: Endpoint, co: u32) -> Result<&'g TypeNode, Refusal> {
        let body = self.live_body(ep, co)?;
        let id = body.endpoints[ep.role as usize].current;
        Ok(g.get(id).ok_or(Fault::BadOperand { what: "local type out of range" })?)
    }

    /// Checks that `ep`'s type is a send offering `label` (`select`, `produce`);
    /// with `label == None`, only that it is a send. Returns the role index
    /// of the peer the label goes to (`None` for a choose among peers asked
    /// without a label).
    pub fn expect_send(
        &self,
        g: &TypeGraph,
        ep: Endpoint,
        co: u32,
        label: Option<SymId>,
        op: Op,
    ) -> Result<Option<u16>, Refusal> {
        let body = self.live_body(ep, co)?;
        let id = body.endpoints[ep.role as usize].current;
        let node = g.get(id).ok_or(Fault::BadOperand { what: "local type out of range" })?;
        match node {
            TypeNode::Send { .. } | TypeNode::Choose { .. } => {
                let peer = match label {
                    Some(label) => match g.send_branch(id, label) {
                        Some(_) if let Some((first, other)) = g.ambiguous_receivers(id, label) => {
                            return Err(Fault::AmbiguousLabel { ep, label, first, other }.into());
                        }
                        Some((peer, _)) => peer,
                        None => return Err(Fault::LabelNotOffered { ep, label, expected: expected_of(node) }.into()),
                    },
                    None => match node {
                        TypeNode::Send { peer, .. } => *peer,
                        _ => return Ok(None),
                    },
                };
                Ok(Some(body.role_index(peer).ok_or(Fault::UnknownPeer { ep, peer })?))
            }
            TypeNode::Recv { peer, .. } => {
                let label = label.unwrap_or_default();
                Err(match op {
                    Op::Send | Op::Select | Op::Produce => Fault::SendWhereRecvExpected { ep, label, peer: *peer },
                    _ => Fault::BadOperand { what: "expect_send on a receive operation" },
                }
                .into())
            }
            _ => Err(Fault::ActionAfterEnd { ep, attempted: op }.into()),
        }
    }

    /// `select_to`'s chosen arm: checks that `ep`'s type sends `label` to
    /// `to` (its own `Send` node, or the `Choose` arm to `to`) and narrows
    /// the endpoint's type to that `Send` node.
    pub fn narrow_to(
        &mut self,
        tv: TypeView<'_>,
        ep: Endpoint,
        co: u32,
        to: SymId,
        label: SymId,
    ) -> Result<(), Refusal> {
        let g = tv.graph;
        self.expect_send(g, ep, co, None, Op::Select)?;
        let body = self.live_body(ep, co)?;
        let current = body.endpoints[ep.role as usize].current;
        let Some(arm) = g.send_arm_to(current, to, label) else {
            let expected = g.get(current).map_or(Expected::End, expected_of);
            return Err(Fault::LabelNotOffered { ep, label, expected }.into());
        };
        // An arm is a `Send` node: it resolves to itself.
        self.update_type(tv.resolved, ep, arm)?;
        Ok(())
    }

    /// `send`: checks the type and the payload, signs the envelope (under
    /// `Auth::Ed25519`; the payload limit is `tr.max_payload_bytes`), hands the message to the transport (applying
    /// `tr.inject`) and advances the type (unless the buffer blocks).
    pub fn send(
        &mut self,
        tv: TypeView<'_>,
        ep: Endpoint,
        co: u32,
        label: SymId,
        payload: Value,
        tr: &mut Transport<'_>,
    ) -> Result<SendOutcome, Refusal> {
        let max_payload_bytes = tr.max_payload_bytes;
        let body = self.live_body(ep, co)?;
        let current = body.endpoints[ep.role as usize].current;
        let (peer, branch) = match tv.graph.get(current) {
            Some(node @ (TypeNode::Send { .. } | TypeNode::Choose { .. })) => {
                match tv.graph.send_branch(current, label) {
                    Some(_) if let Some((first, other)) = tv.graph.ambiguous_receivers(current, label) => {
                        return Err(Fault::AmbiguousLabel { ep, label, first, other }.into());
                    }
                    Some(found) => found,
                    None => return Err(Fault::LabelNotOffered { ep, label, expected: expected_of(node) }.into()),
                }
            }
            Some(TypeNode::Recv { peer, .. }) => {
                return Err(Fault::SendWhereRecvExpected { ep, label, peer: *peer }.into());
            }
            _ => return Err(Fault::ActionAfterEnd { ep, attempted: Op::Send }.into()),
        };
        let to = body.role_index(peer).ok_or(Fault::UnknownPeer { ep, peer })?;
        check_payload(tv.kinds, ep, branch, &payload)?;
        let len_bytes = payload.encoded_len() as u64;
        if len_bytes > u64::from(max_payload_bytes) {
            return Err(Fault::PayloadTooLarge { ep, len_bytes, max_bytes: max_payload_bytes }.into());
        }
        let cont = unfold(tv.resolved, branch.cont)?;
        // `live_body` succeeded: the session exists at this index.
        let n = ep.sid as u32;
        let body = &mut self.sessions[n as usize].body;
        let edge_index = body.edge_index_or_insert(ep.role, to);
        if body.edges[edge_index].buffer.would_block() {
            return Ok(SendOutcome::Blocked);
        }
        let seq = body.edges[edge_index].send_seq;
        let (mut signature, mut batch) = (None, None);
        match (tr.auth, body.keys.get(ep.role as usize)) {
            (Auth::Ed25519, Some(key)) => {
                envelope_into(
                    tr.envelope,
                    EnvelopeFields { run: tr.run, sid: ep.sid, from: ep.role, to, seq, label, payload: &payload },
                );
                signature = Some(key.sign(tr.envelope));
            }
            (Auth::Ed25519Round, Some(key)) => {
                envelope_into(
                    tr.envelope,
                    EnvelopeFields { run: tr.run, sid: ep.sid, from: ep.role, to, seq, label, payload: &payload },
                );
                let id = identity(tr.envelope);
                let at = match self.pending_batches.iter().position(|p| p.sid == ep.sid && p.role == ep.role) {
                    Some(at) => at,
                    None => {
                        let key = key.clone();
                        let (batch, ids) = self.spare_batches.pop().unwrap_or_default();
                        self.pending_batches.push(PendingBatch { sid: ep.sid, role: ep.role, batch, ids, key });
                        self.pending_batches.len() - 1
                    }
                };
                let p = &self.pending_batches[at];
                batch = Some((Arc::clone(&p.batch), p.ids.len() as u32, at, id));
            }
            _ => {}
        }
        // A copy the transport delivers again arrives carrying the identity
        // of the message queued just before it: under nullifier mode the
        // consumption check refuses it at arrival (computed only then).
        let copy = match (tr.inject, tr.replay_mode) {
            (Some(Injection::Duplicate), ReplayMode::Nullifier) => {
                envelope_into(
                    tr.envelope,
                    EnvelopeFields { run: tr.run, sid: ep.sid, from: ep.role, to, seq, label, payload: &payload },
                );
                let id = identity(tr.envelope);
                body.consumption.refuses_copy(&id, true).then_some(id)
            }
            _ => None,
        };
        let inject = if copy.is_some() { None } else { tr.inject };
        let edge = &mut body.edges[edge_index];
        let msg = Message { label, seq, payload, signature, batch: batch.as_ref().map(|b| (Arc::clone(&b.0), b.1)) };
        let outcome = match transmit(&mut edge.buffer, &mut edge.held, msg, inject) {
            PushOutcome::Blocked => return Ok(SendOutcome::Blocked),
            PushOutcome::Full { capacity } => return Err(Fault::BufferFull { ep, to, capacity }.into()),
            PushOutcome::Dropped => SendOutcome::Dropped { to, seq },
            PushOutcome::Queued => SendOutcome::Sent { to, seq, overwrote: false, signature, refused: copy },
            PushOutcome::Overwritten => SendOutcome::Sent { to, seq, overwrote: true, signature, refused: copy },
        };
        edge.send_seq = edge.send_seq.saturating_add(1);
        if matches!(outcome, SendOutcome::Dropped { .. } | SendOutcome::Sent { overwrote: true, .. }) {
            edge.lost = edge.lost.saturating_add(1);
        }
        if matches!(outcome, SendOutcome::Sent { .. }) && !edge.dirty {
            edge.dirty = true;
            self.dirty.push((n, edge_index as u32));
        }
        // A round batch lists exactly the messages recorded as `Sent`.
        if let (Some((_, _, at, id)), SendOutcome::Sent { .. }) = (batch, &outcome) {
            self.pending_batches[at].ids.push(id);
        }
        body.endpoints[ep.role as usize].current = cont;
        Ok(outcome)
    }

    /// `recv`/`offer`: checks the type and looks at the oldest visible
    /// message from the peer without taking it. `None`: nothing visible.
    /// The message's signature and replay identity are checked (in that
    /// order) before its label is matched against the type: an unauthentic
    /// or replayed message is rejected as such, whatever its label.
    pub fn peek(
        &self,
        g: &TypeGraph,
        ep: Endpoint,
        co: u32,
        expect: Expect<'_>,
        tr: &mut Transport<'_>,
    ) -> Result<Option<Peeked>, Refusal> {
        Ok(match self.peek_visible(g, ep, co, expect, tr)? {
            Looked::Visible(v) => Some(v.peeked),
            Looked::Nothing { .. } => None,
        })
    }

    /// [`SessionStore::peek`], also returning what the receive path needs
    /// next (the matched branch, the payload, the role names and the edge),
    /// or where to park when nothing is visible, so that it looks nothing
    /// up twice.
    pub(crate) fn peek_visible<'s, 'g>(
        &'s self,
        g: &'g TypeGraph,
        ep: Endpoint,
        co: u32,
        expect: Expect<'_>,
        tr: &mut Transport<'_>,
    ) -> Result<Looked<'s, 'g>, Refusal> {
        let op = match expect {
            Expect::Label(_) => Op::Recv,
            Expect::Arms(_, op) => op,
        };
        let body = self.live_body(ep, co)?;
        let node =
            g.get(body.endpoints[ep.role as usize].current).ok_or(Fault::BadOperand { what: "type out of range" })?;
        let (peer, branches) = match node {
            TypeNode::Recv { peer, branches } => (*peer, branches),
            TypeNode::Send { peer, .. } => {
                return Err(Fault::RecvWhereSendExpected { ep, attempted: op, peer: *peer }.into());
            }
            TypeNode::Choose { arms } => {
                let peer = match arms.first().and_then(|&a| g.get(a)) {
                    Some(TypeNode::Send { peer, .. }) => *peer,
                    _ => SymId::default(),
                };
                return Err(Fault::RecvWhereSendExpected { ep, attempted: op, peer }.into());
            }
            _ => return Err(Fault::ActionAfterEnd { ep, attempted: op }.into()),
        };
        if let Expect::Label(label) = expect
            && find(branches, label).is_none()
        {
            return Err(Fault::LabelNotOffered { ep, label, expected: expected_of(node) }.into());
        }
        let from = body.role_index(peer).ok_or(Fault::UnknownPeer { ep, peer })?;
        let edge = body.edge_index(from, ep.role);
        let Some(msg) = edge.and_then(|i| body.edges[i].buffer.front_visible()) else {
            return Ok(Looked::Nothing { from, edge });
        };
        let edge = edge.unwrap_or(usize::MAX);
        let (envelope_id, identity) = admit(body, ep, from, msg, tr)?;
        let unexpected = Fault::UnexpectedLabel { ep, label: msg.label, attempted: op };
        let Some(branch) = find(branches, msg.label) else {
            return Err(unexpected.into());
        };
        let arm = match expect {
            Expect::Label(label) if label == msg.label => 0,
            Expect::Label(_) => return Err(unexpected.into()),
            Expect::Arms(arms, _) => arms.iter().position(|a| a.label == msg.label).ok_or(unexpected)?,
        };
        let peeked = Peeked { from, label: msg.label, seq: msg.seq, arm, identity, envelope_id };
        let handler = body.edge_handler(from, ep.role).unwrap_or_default();
        Ok(Looked::Visible(Visible { peeked, branch, payload: &msg.payload, roles: &body.roles, handler, edge }))
    }

    /// The payload of the message [`SessionStore::peek`] found.
    pub fn peek_payload(&self, ep: Endpoint, from: u16) -> Option<&Value> {
        let body = &self.get(ep.sid)?.body;
        body.edge(from, ep.role)?.buffer.front_visible().map(|m| &m.payload)
    }

    /// Takes the message [`SessionStore::peek`] returned (whose envelope
    /// identity is `envelope_id`) and advances the endpoint's type past its label.
    pub fn take(
        &mut self,
        tv: TypeView<'_>,
        ep: Endpoint,
        from: u16,
        envelope_id: Option<[u8; 32]>,
    ) -> Result<Message, Fault> {
        let g = tv.graph;
        let session = self.get(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        let endpoint = session.body.endpoints.get(ep.role as usize).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        let Some(TypeNode::Recv { branches, .. }) = g.get(endpoint.current) else {
            return Err(Fault::BadOperand { what: "take on a non-receive type" });
        };
        let edge = session.body.edge(from, ep.role);
        let label = edge
            .and_then(|e| e.buffer.front_visible())
            .ok_or(Fault::BadOperand { what: "take without a visible message" })?
            .label;
        let branch = find(branches, label).ok_or(Fault::UnexpectedLabel { ep, label, attempted: Op::Recv })?;
        let edge_index = session.body.edge_index(from, ep.role).unwrap_or(usize::MAX);
        self.take_branch(tv.resolved, ep, edge_index, branch, envelope_id)
    }

    /// Takes the visible message on `ep`'s session's edge at index
    /// `edge_index` (the edge [`SessionStore::peek_visible`] found it on),
    /// advances the endpoint's type to `branch`'s continuation (the branch
    /// it matched) and chains the message's envelope identity, if the
    /// configuration computed one, into the edge's authenticated history.
    pub(crate) fn take_branch(
        &mut self,
        resolved: &[TypeId],
        ep: Endpoint,
        edge_index: usize,
        branch: &FlatBranch,
        envelope_id: Option<[u8; 32]>,
    ) -> Result<Message, Fault> {
        let cont = unfold(resolved, branch.cont)?;
        let session = self.get_mut(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        let body = &mut session.body;
        let edge =
            body.edges.get_mut(edge_index).ok_or(Fault::BadOperand { what: "take without a visible message" })?;
        let msg = edge.buffer.pop_visible().ok_or(Fault::BadOperand { what: "take without a visible message" })?;
        edge.recv_seq = edge.recv_seq.saturating_add(1);
        if let Some(id) = envelope_id {
            edge.history = crate::auth::chain(&edge.history, &id);
        }
        let endpoint = body.endpoints.get_mut(ep.role as usize).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        endpoint.current = cont;
        Ok(msg)
    }

    /// `close`: the type must be `End`. Closing the last endpoint closes the
    /// session (status Closed, buffers cleared, epoch advanced).
    pub fn close(&mut self, g: &TypeGraph, ep: Endpoint, co: u32) -> Result<CloseOutcome, Refusal> {
        let node = self.current_node(g, ep, co)?;
        if !matches!(node, TypeNode::End) {
            return Err(Fault::CloseBeforeEnd { ep, expected: expected_of(node) }.into());
        }
        if !self.remove_type(ep)? {
            return Ok(CloseOutcome::EndpointClosed);
        }
        if let Some(session) = self.get_mut(ep.sid)
            && session.body.edges.iter().any(|e| !e.buffer.is_empty() || e.held.is_some())
        {
            session.status = SessionStatus::Draining;
            return Ok(CloseOutcome::Draining);
        }
        let epoch = self.finish(ep.sid, SessionStatus::Closed).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        Ok(CloseOutcome::SessionClosed { epoch })
    }

    /// What a live endpoint's type waits for: the peer role name, whether
    /// it sends, and the labels offered (for stall reports).
    pub fn expectation(&self, g: &TypeGraph, ep: Endpoint) -> Option<(Expected, Vec<SymId>)> {
        let e = self.endpoint(ep)?;
        let node = g.get(e.current)?;
        let labels = match node {
            TypeNode::Send { branches, .. } | TypeNode::Recv { branches, .. } => {
                branches.iter().map(|b| b.label).collect()
            }
            TypeNode::Choose { arms } => arms
                .iter()
                .filter_map(|&a| match g.get(a) {
                    Some(TypeNode::Send { branches, .. }) => Some(branches.iter().map(|b| b.label)),
                    _ => None,
                })
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        Some((expected_of(node), labels))
    }
}

/// The transport boundary: pushes `msg` into `buffer`, applying `inject`
/// (only when the push succeeds), then releases a message held back for
/// reordering behind it.
fn transmit(
    buffer: &mut BoundedBuffer,
    held: &mut Option<Message>,
    mut msg: Message,
    inject: Option<Injection>,
) -> PushOutcome {
    if inject.is_none() && held.is_none() {
        // Nothing to apply and nothing held back: a plain push.
        return buffer.push(msg);
    }
    match inject {
        Some(Injection::CorruptPayload) => msg.payload = corrupt_value(&msg.payload),
        Some(Injection::CorruptSignature) => {
            if let Some(sig) = &mut msg.signature {
                sig[0] ^= 1;
            }
            // Round-batched: the message claims another position in its batch.
            if let Some((_, index)) = &mut msg.batch {
                *index ^= 1;
            }
        }
        _ => {}
    }
    let duplicate = (inject == Some(Injection::Duplicate)).then(|| msg.clone());
    let outcome = buffer.push(msg);
    if !matches!(outcome, PushOutcome::Queued | PushOutcome::Overwritten) {
        return outcome;
    }
    let release = held.take();
    match inject {
        Some(Injection::Drop) => drop(buffer.pop_pending()),
        Some(Injection::Reorder) => *held = buffer.pop_pending(),
        _ => {}
    }
    if let Some(m) = release {
        buffer.push_forced(m);
    }
    if let Some(m) = duplicate {
        buffer.push_forced(m);
    }
    outcome
}

/// Payload arity and kinds: no item is `Unit`, one item is the value itself,
/// several are a `Tuple` of that arity. Unknown type names accept any kind.
fn check_payload(kinds: &PayloadKinds, ep: Endpoint, branch: &FlatBranch, payload: &Value) -> Result<(), Fault> {
    let label = branch.label;
    let kind_of = |ty: SymId, v: &Value| match kinds.get(ty) {
        Some(k) if k != v.kind() => Err(Fault::PayloadKindMismatch { ep, label, expected: ty, found: v.kind() }),
        _ => Ok(()),
    };
    match branch.payload.as_slice() {
        [] if payload.kind() == ValueKind::Unit => Ok(()),
        [] => Err(Fault::PayloadArityMismatch { ep, label, expected: 0, found: arity(payload) }),
        [ty] => kind_of(*ty, payload),
        tys => match payload {
            Value::Tuple(items) if items.len() == tys.len() => {
                tys.iter().zip(items.iter()).try_for_each(|(ty, v)| kind_of(*ty, v))
            }
            _ => Err(Fault::PayloadArityMismatch { ep, label, expected: tys.len() as u32, found: arity(payload) }),
        },
    }
}

fn arity(v: &Value) -> u32 {
    match v {
        Value::Unit => 0,
        Value::Tuple(items) => items.len() as u32,
        _ => 1,
    }
}
