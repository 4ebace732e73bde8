//! Session lifecycle safety (seed 003): what happens to sessions when the
//! coroutine owning their endpoints dies, where endpoint values may come
//! from, how delegation moves them, when an effect is too late, and the
//! timeout witness each session keeps for its cancellation.
//!
//! Rules (see docs/ownership.md):
//! - every fault of a coroutine faults the live sessions in which it owns an
//!   open endpoint (`SessionTerminal { Faulted { code } }` after the
//!   coroutine's `FailureBranchEntered → Faulted`), so no session stays
//!   `Active` with a dead owner;
//! - endpoint values never come from the host: a `produce` or `invoke`
//!   answer containing one is recorded and refused (`HostEndpoint`, 3033);
//! - sending an endpoint requires owning it (`NotOwner`, 3002) and moves it
//!   (`Delegated`, then `DelegationCompleted` at the receiver); a received
//!   endpoint that was not in transit is refused (`ForgedEndpoint`, 3034);
//! - `invoke` by a coroutine holding an endpoint of a cancelled, aborted or
//!   faulted session is refused before the host is asked (`LateEffect`, 3035);
//! - the timeout witness `TimeoutIssued` names is the one that expires and
//!   the one the session's next cancellation consumes;
//! - a receive whose type has a timeout branch continues with it when the
//!   deadline passes (consuming the witness) and revokes the late sender's
//!   endpoint: `EndpointClosed` at that endpoint; its owner's next operation
//!   on the session ends it quietly (`Halted`) and its effects are late.

use canon_types::{Endpoint, Value};

use crate::event::{EventKind, TerminalReason};
use crate::fault::Fault;
use crate::step::Exec;
use crate::step_session::IN_TRANSIT;
use crate::store::{SessionStatus, SessionStore};

/// Per-session lifecycle evidence; kept after the session ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lifecycle {
    /// The most recent expired timeout witness of the session not yet
    /// consumed by a cancellation.
    pub expired_timeout: Option<u64>,
    /// Witness ids consumed by the session's cancellation (or by a timeout
    /// branch), in order.
    pub consumed: Vec<u64>,
    /// The roles whose endpoints were revoked at a deadline (late senders
    /// of receives that took their timeout branch), in order.
    pub revoked: Vec<u16>,
}

/// The first endpoint value inside `v` (tuples searched depth-first).
#[inline]
pub fn first_endpoint(v: &Value) -> Option<Endpoint> {
    match v {
        Value::Endpoint(ep) => Some(*ep),
        Value::Tuple(items) => items.iter().find_map(first_endpoint),
        _ => None,
    }
}

impl Exec<'_> {
    /// Owner death: faults every live session in which coroutine `co` owns
    /// an open endpoint, in session order, each with `SessionTerminal {
    /// Faulted { code } }` at that endpoint.
    pub(crate) fn fault_owned_sessions(&mut self, co: usize, code: u16) {
        let group = self.st.group;
        for n in 0..self.st.store.sessions.len() {
            let s = &self.st.store.sessions[n];
            if s.status != SessionStatus::Active {
                continue;
            }
            let Some(role) = s.body.endpoints.iter().position(|e| e.owner == co as u32 && !e.closed) else {
                continue;
            };
            let ep = Endpoint { sid: u64::from(group) << 32 | n as u64, role: role as u16 };
            if self.st.store.finish(ep.sid, SessionStatus::Faulted { code }).is_some() {
                let reason = TerminalReason::Faulted { code };
                self.emit(co, Some(ep), EventKind::SessionTerminal { reason });
                self.emit_edge_histories(co, ep);
            }
        }
    }

    /// Lost delegations: faults every live session with an endpoint in
    /// transit that no live buffer carries any more (the carrying session
    /// ended, or the message was corrupted), with `SessionTerminal {
    /// Faulted { code } }` at that endpoint. Runs after faults only.
    pub(crate) fn fault_orphaned_sessions(&mut self, co: usize, code: u16) {
        let store = &self.st.store;
        let live = |s: &&crate::store::Session| s.status == SessionStatus::Active;
        if !store.sessions.iter().filter(live).any(|s| s.body.endpoints.iter().any(|e| e.owner == IN_TRANSIT)) {
            return;
        }
        let mut carried: Vec<Endpoint> = Vec::new();
        for s in store.sessions.iter().filter(live) {
            for edge in &s.body.edges {
                for m in edge.buffer.iter().chain(edge.held.as_ref()) {
                    if let Value::Endpoint(ep) = m.payload {
                        carried.push(ep);
                    }
                }
            }
        }
        let group = self.st.group;
        for n in 0..self.st.store.sessions.len() {
            let s = &self.st.store.sessions[n];
            if s.status != SessionStatus::Active {
                continue;
            }
            let sid = u64::from(group) << 32 | n as u64;
            let lost = s.body.endpoints.iter().enumerate().position(|(role, e)| {
                e.owner == IN_TRANSIT && !e.closed && !carried.contains(&Endpoint { sid, role: role as u16 })
            });
            let Some(role) = lost else { continue };
            let ep = Endpoint { sid, role: role as u16 };
            if self.st.store.finish(sid, SessionStatus::Faulted { code }).is_some() {
                let reason = TerminalReason::Faulted { code };
                self.emit(co, Some(ep), EventKind::SessionTerminal { reason });
                self.emit_edge_histories(co, ep);
            }
        }
    }

    /// A host answer must not contain an endpoint.
    pub(crate) fn check_host_answer(v: &Value) -> Result<(), Fault> {
        match first_endpoint(v) {
            Some(forged) => Err(Fault::HostEndpoint { forged }),
            None => Ok(()),
        }
    }

    /// Before sending `payload`: an endpoint in it must be owned by `co`
    /// (endpoints of sessions that already ended carry no authority and may
    /// be passed on).
    pub(crate) fn check_delegation(&self, co: usize, payload: &Value) -> Result<(), Fault> {
        let Some(moved) = first_endpoint(payload) else { return Ok(()) };
        if !matches!(payload, Value::Endpoint(_)) {
            // Only a top-level endpoint is moved by a send.
            return Err(Fault::BadOperand { what: "endpoint nested in a payload" });
        }
        let Some(session) = self.st.store.get(moved.sid) else {
            return Err(Fault::UnknownSession { sid: moved.sid });
        };
        if session.status != SessionStatus::Active {
            return Ok(());
        }
        match session.body.endpoints.get(usize::from(moved.role)) {
            // A closed endpoint carries no authority.
            Some(e) if e.owner == co as u32 || e.closed => Ok(()),
            Some(e) => Err(Fault::NotOwner { ep: moved, owner: e.owner, coroutine: co as u32 }),
            None => Err(Fault::UnknownSession { sid: moved.sid }),
        }
    }

    /// Before delivering `payload` to `ep`: an endpoint in it must be one in
    /// transit (delegated by a send), or one of a session that has ended.
    pub(crate) fn check_delivered(store: &SessionStore, ep: Endpoint, payload: &Value) -> Result<(), Fault> {
        let Some(forged) = first_endpoint(payload) else { return Ok(()) };
        let ok = matches!(payload, Value::Endpoint(_))
            && store.get(forged.sid).is_some_and(|s| {
                s.status != SessionStatus::Active
                    || s.body.endpoints.get(usize::from(forged.role)).is_some_and(|e| e.owner == IN_TRANSIT)
            });
        if ok { Ok(()) } else { Err(Fault::ForgedEndpoint { ep, forged }) }
    }

    /// Before `invoke`: the invoking coroutine must hold no endpoint of a
    /// session that was cancelled, aborted or faulted (a late effect).
    pub(crate) fn check_effect(&self, co: usize, effect: canon_types::SymId) -> Result<(), Fault> {
        for v in &self.st.coroutines[co].regs {
            if let Value::Endpoint(ep) = v
                && self
                    .st
                    .store
                    .get(ep.sid)
                    .is_some_and(|s| s.status.is_abnormal() || s.lifecycle.revoked.contains(&ep.role))
            {
                return Err(Fault::LateEffect { ep: *ep, effect });
            }
        }
        Ok(())
    }

    /// The timeout branch of `ep`'s current type, if it is a receive with
    /// one: the branch's continuation and the late sender's endpoint.
    pub(crate) fn timeout_branch(&self, ep: Endpoint) -> Option<(canon_types::TypeId, Endpoint)> {
        let s = self.st.store.get(ep.sid)?;
        let current = s.body.endpoints.get(usize::from(ep.role))?.current;
        let canon_types::TypeNode::Recv { peer, branches } = self.m.types.get(current)? else { return None };
        let b = branches.iter().find(|b| self.m.sym(b.label) == canon_types::TIMEOUT_LABEL)?;
        let role = s.body.role_index(*peer)?;
        Some((b.cont, Endpoint { sid: ep.sid, role }))
    }

    /// The receiver `ep` takes its timeout branch (continuation `cont`) with
    /// expired `witness`, which the branch consumes; the late sender's
    /// endpoint is revoked. Returns whether the revocation closed it (it was
    /// still open).
    pub(crate) fn take_timeout_branch(
        &mut self,
        ep: Endpoint,
        cont: canon_types::TypeId,
        late: Endpoint,
        witness: u64,
    ) -> Result<bool, Fault> {
        self.st.store.update_type(self.resolved, ep, cont)?;
        let s = self.st.store.get_mut(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?;
        s.lifecycle.consumed.push(witness);
        s.lifecycle.revoked.push(late.role);
        // The late sender's owner, if parked on an edge of this session,
        // runs again to find its endpoint revoked.
        let owner = s.body.endpoints.get(usize::from(late.role)).map(|e| e.owner);
        let parked = s.body.edges.iter_mut().find(|e| e.waiter != crate::store::NO_WAITER && Some(e.waiter) == owner);
        if let Some(edge) = parked {
            let waiter = edge.waiter;
            edge.waiter = crate::store::NO_WAITER;
            self.st.store.woken.push(waiter);
        }
        let was_open = self.st.store.endpoint(late).is_some_and(|e| !e.closed);
        if was_open {
            self.st.store.remove_type(late)?;
        }
        Ok(was_open)
    }

    /// Records that timeout `witness` of `ep`'s session expired.
    pub(crate) fn expire_timeout(&mut self, ep: Endpoint, witness: u64) {
        if let Some(s) = self.st.store.get_mut(ep.sid) {
            s.lifecycle.expired_timeout = Some(witness);
        }
    }

    /// The witness a cancellation of `ep`'s session uses: the session's
    /// expired timeout witness if it has one (consumed here), else a fresh one.
    pub(crate) fn cancellation_witness(&mut self, ep: Endpoint) -> u64 {
        let stored = self.st.store.get_mut(ep.sid).and_then(|s| s.lifecycle.expired_timeout.take());
        let w = match stored {
            Some(w) => w,
            None => {
                let w = self.st.next_witness;
                self.st.next_witness = self.st.next_witness.saturating_add(1);
                w
            }
        };
        if let Some(s) = self.st.store.get_mut(ep.sid) {
            s.lifecycle.consumed.push(w);
        }
        w
    }
}

/// A message left in a session's buffers when its last endpoint closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undelivered {
    /// The sending role's index.
    pub from: u16,
    /// The receiving role's index.
    pub to: u16,
    /// The message label.
    pub label: canon_types::SymId,
    /// The message's sequence number on its edge.
    pub seq: u64,
}

impl SessionStore {
    /// Ends a `Draining` session: returns its undelivered messages (edges in
    /// `(from, to)` order, each oldest first, a message held back by the
    /// transport last) and the new epoch; the session is then `Closed`.
    /// `None` if the session is not draining.
    pub fn drain(&mut self, sid: u64) -> Option<(Vec<Undelivered>, u64)> {
        let session = self.get(sid)?;
        if session.status != SessionStatus::Draining {
            return None;
        }
        let body = &session.body;
        let mut out = Vec::new();
        // Edges in `(from, to)` order, as the dense table listed them.
        for (from, to, edge) in body.edges_in_order() {
            for m in edge.buffer.iter().chain(edge.held.as_ref()) {
                out.push(Undelivered { from, to, label: m.label, seq: m.seq });
            }
        }
        let epoch = self.finish(sid, SessionStatus::Closed)?;
        Some((out, epoch))
    }
}
