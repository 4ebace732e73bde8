//! `step` for session, lifecycle and host instructions: each checks the
//! endpoint against its local type through the store's typed actions, emits
//! the events, and reaches the host only at its four named points.

use canon_bytecode::{Arm, Instr, PeerArm};
use canon_types::{Endpoint, SymId, TypeNode, Value};

use crate::actions::{CloseOutcome, Expect, Looked, Refusal, SendOutcome};
use crate::coroutine::Wait;
use crate::event::{EventKind, EventSite, HostPoint, TerminalReason};
use crate::fault::{Fault, Op};
use crate::host::HostCtx;
use crate::step::{Exec, Flow};
use crate::store::{OpenRequest, Security, SessionStatus};

/// Owner of an endpoint sent as a payload and not yet received.
pub const IN_TRANSIT: u32 = u32::MAX;

/// What a receive did.
enum Delivery {
    /// Took a message: the arm index (offer) or 0 (recv).
    Arm(usize),
    /// Nothing visible on the edge `from → ep.role` (at index `edge` of the
    /// session's edges, when it exists).
    Nothing { from: u16, edge: Option<usize> },
}

impl<'a> Exec<'a> {
    pub(crate) fn exec_session(&mut self, co: usize, instr: &'a Instr) -> Result<Flow, Refusal> {
        match instr {
            Instr::Open { roles, types, handlers, dsts, buffers } => {
                let req = OpenRequest { roles, types, handlers, dsts_len: dsts.len(), buffers };
                self.open(co, &req, dsts)
            }
            Instr::Send { ep, label, src } => self.send(co, *ep, *label, *src),
            Instr::Recv { ep, label, dst } => {
                let ep = self.co(co).endpoint(*ep)?;
                match self.deliver(co, ep, Expect::Label(*label), *dst)? {
                    Delivery::Arm(_) => Ok(Flow::Next),
                    Delivery::Nothing { from, edge } => Ok(self.park(co, ep, from, edge)),
                }
            }
            Instr::Offer { ep, dst, arms } => {
                let ep = self.co(co).endpoint(*ep)?;
                match self.deliver(co, ep, Expect::Arms(arms, Op::Offer), *dst)? {
                    Delivery::Arm(a) => Ok(arm_jump(arms, a)),
                    Delivery::Nothing { from, edge } => Ok(self.park(co, ep, from, edge)),
                }
            }
            Instr::RecvTimeout { ep, dst, arms, timeout_ticks, on_timeout } => {
                self.recv_timeout(co, *ep, *dst, arms, *timeout_ticks, *on_timeout)
            }
            Instr::Select { ep, arms } => self.select(co, *ep, arms),
            Instr::SelectTo { ep, arms } => self.select_to(co, *ep, arms),
            Instr::Produce { dst, ep, label } => {
                let ep = self.co(co).endpoint(*ep)?;
                let to = self.st.store.expect_send(&self.m.types, ep, co as u32, Some(*label), Op::Produce)?;
                let ctx = self.ctx(co, Some(ep), to, Some(*label));
                let v = self.host.produce(&ctx, *label);
                self.co(co).host_calls = self.co(co).host_calls.saturating_add(1);
                self.emit(
                    co,
                    Some(ep),
                    EventKind::HostAnswer { point: HostPoint::Produce { label: *label }, answer: v.clone() },
                );
                Self::check_host_answer(&v)?;
                self.co(co).set(*dst, v)?;
                Ok(Flow::Next)
            }
            Instr::Close { ep } => self.close(co, *ep),
            Instr::Cancel { ep } => self.terminate(co, *ep, SessionStatus::Cancelled),
            Instr::Abort { ep } => self.terminate(co, *ep, SessionStatus::Aborted),
            Instr::Invoke { dst, effect, arg } => {
                let arg = self.co(co).reg(*arg)?.clone();
                self.check_effect(co, *effect)?;
                let ctx = self.ctx(co, None, None, None);
                let v = self.host.invoke(&ctx, *effect, &arg);
                self.co(co).host_calls = self.co(co).host_calls.saturating_add(1);
                self.emit(
                    co,
                    None,
                    EventKind::HostAnswer { point: HostPoint::Invoke { effect: *effect }, answer: v.clone() },
                );
                Self::check_host_answer(&v)?;
                self.co(co).set(*dst, v)?;
                Ok(Flow::Next)
            }
            Instr::Check { dst, ep, effect, arg } => self.check(co, *dst, *ep, *effect, *arg),
            Instr::Consume { ep, witness } => self.consume_witness(co, *ep, *witness),
            _ => Err(Fault::BadOperand { what: "not a session instruction" }.into()),
        }
    }

    /// The host context for coroutine `co` at endpoint `ep` facing role index
    /// `peer`, about message `label` of the endpoint's current type.
    pub(crate) fn ctx(&self, co: usize, ep: Option<Endpoint>, peer: Option<u16>, label: Option<SymId>) -> HostCtx<'a> {
        let body = ep.and_then(|e| self.st.store.get(e.sid)).map(|s| &s.body);
        let graph: &'a canon_types::TypeGraph = &self.m.types;
        let payload = match (ep.and_then(|e| self.st.store.lookup_type(e)), label) {
            (Some(t), Some(l)) => match graph.get(t) {
                Some(TypeNode::Recv { branches, .. }) => {
                    branches.iter().find(|b| b.label == l).map_or(&[][..], |b| b.payload.as_slice())
                }
                _ => graph.send_branch(t, l).map_or(&[][..], |(_, b)| b.payload.as_slice()),
            },
            _ => &[],
        };
        let name = |i: u16| body.and_then(|b| b.roles.get(usize::from(i)).copied());
        let edge = ep.zip(peer).map(|(e, to)| (e.role, to));
        HostCtx {
            group: self.st.group,
            tick: self.st.tick,
            coroutine: co as u32,
            sid: ep.map_or(EventSite::NO_SID, |e| e.sid),
            role: ep.map_or(EventSite::NO_ROLE, |e| e.role),
            role_name: ep.and_then(|e| name(e.role)).unwrap_or_default(),
            peer: peer.and_then(name),
            edge,
            handler: edge.and_then(|(from, to)| body?.edge_handler(from, to)).unwrap_or_default(),
            module: self.m,
            payload,
            receivers: &[],
            call_index: self.st.coroutines[co].host_calls,
        }
    }

    fn open(&mut self, co: usize, req: &OpenRequest<'_>, dsts: &[u16]) -> Result<Flow, Refusal> {
        for &d in dsts {
            self.co(co).reg(d)?;
        }
        let (limits, default) = (self.st.limits, self.st.default_buffer);
        if req.roles.len() > limits.max_roles_per_open as usize {
            let roles = u32::try_from(req.roles.len()).unwrap_or(u32::MAX);
            return Err(Fault::TooManyRoles { roles, max: limits.max_roles_per_open }.into());
        }
        let security = Security {
            auth: self.st.auth,
            replay_mode: self.st.replay_mode,
            keys: &self.st.keys,
            supplied: &self.st.supplied_keys,
        };
        let sid = self.st.store.open(self.resolved, req, co as u32, default, limits.max_sessions, &security)?;
        for (i, &d) in dsts.iter().enumerate() {
            self.co(co).set(d, Value::Endpoint(Endpoint { sid, role: i as u16 }))?;
        }
        let keys =
            self.st.store.get(sid).map_or(Vec::new(), |s| s.body.keys.iter().map(|k| k.verifying_bytes()).collect());
        let ep = Endpoint { sid, role: EventSite::NO_ROLE };
        self.emit(co, Some(ep), EventKind::Opened { roles: req.roles.to_vec(), keys });
        Ok(Flow::Next)
    }

    fn send(&mut self, co: usize, ep: u16, label: SymId, src: u16) -> Result<Flow, Refusal> {
        let c = &self.st.coroutines[co];
        let ep = c.endpoint(ep)?;
        let payload = c.reg(src)?.clone();
        self.check_delegation(co, &payload)?;
        let tv = self.tv();
        let nth = self.st.sent_count;
        let inject = if self.st.injections.is_empty() { None } else { self.st.injections.get(&nth).copied() };
        let (store, mut tr) = self.st.store_and_transport(inject);
        let outcome = store.send(tv, ep, co as u32, label, payload.clone(), &mut tr)?;
        let mut delegated = None;
        if let (Value::Endpoint(moved), false) = (&payload, outcome == SendOutcome::Blocked) {
            // Delegation: the endpoint leaves this coroutine; the receiver takes ownership.
            self.st.store.set_owner(*moved, IN_TRANSIT);
            self.co(co).set(src, Value::Unit)?;
            delegated = Some(*moved);
        }
        match outcome {
            SendOutcome::Blocked => Ok(Flow::Block),
            SendOutcome::Dropped { to, seq } => {
                self.emit(co, Some(ep), EventKind::Dropped { to, label, seq });
                Ok(Flow::Next)
            }
            SendOutcome::Sent { to, seq, overwrote, signature, refused } => {
                self.st.sent_count = self.st.sent_count.saturating_add(1);
                self.emit(co, Some(ep), EventKind::Sent { to, label, seq, payload, signature });
                if let Some(injection) = inject {
                    self.st.injections.remove(&nth);
                    self.emit(co, Some(ep), EventKind::Injected { injection, nth, to, seq });
                }
                if let Some(identity) = refused {
                    self.emit(co, Some(ep), EventKind::DuplicateRefused { to, seq, identity });
                }
                if overwrote {
                    self.emit(co, Some(ep), EventKind::Overwritten { to, label, seq });
                }
                if let Some(endpoint) = delegated {
                    self.emit(co, Some(ep), EventKind::Delegated { endpoint });
                }
                Ok(Flow::Next)
            }
        }
    }

    /// Receives on `ep` if a message is visible: host accept, take, event,
    /// payload into `dst`. Returns the arm index, or, when blocked, the edge
    /// the receive waits on. The session is looked up once for the checks,
    /// the host context and the payload, and once more (mutably) for the take.
    fn deliver(&mut self, co: usize, ep: Endpoint, expect: Expect<'_>, dst: u16) -> Result<Delivery, Refusal> {
        let c = &self.st.coroutines[co];
        c.reg(dst)?;
        let (group, tick, call_index) = (self.st.group, self.st.tick, c.host_calls);
        let graph: &'a canon_types::TypeGraph = &self.m.types;
        let (store, mut tr) = self.st.store_and_transport(None);
        let v = match store.peek_visible(graph, ep, co as u32, expect, &mut tr)? {
            Looked::Visible(v) => v,
            Looked::Nothing { from, edge } => return Ok(Delivery::Nothing { from, edge }),
        };
        let (p, branch, edge) = (v.peeked, v.branch, v.edge);
        Self::check_delivered(store, ep, v.payload)?;
        let ctx = HostCtx {
            group,
            tick,
            coroutine: co as u32,
            sid: ep.sid,
            role: ep.role,
            role_name: v.roles.get(usize::from(ep.role)).copied().unwrap_or_default(),
            peer: v.roles.get(usize::from(p.from)).copied(),
            edge: Some((p.from, ep.role)),
            handler: v.handler,
            module: self.m,
            payload: &branch.payload,
            receivers: &[],
            call_index,
        };
        let accepted = self.host.accept(&ctx, p.label, v.payload);
        self.st.coroutines[co].host_calls = self.st.coroutines[co].host_calls.saturating_add(1);
        if !accepted {
            let point = HostPoint::Accept { label: p.label };
            self.emit(co, Some(ep), EventKind::HostAnswer { point, answer: Value::Bool(false) });
            return Err(Fault::HostRejected { ep, label: p.label }.into());
        }
        let msg = self.st.store.take_branch(self.resolved, ep, edge, branch, p.envelope_id)?;
        let payload = msg.payload.clone();
        self.emit(co, Some(ep), EventKind::Received { from: p.from, label: p.label, seq: p.seq, payload });
        if let Value::Endpoint(delegated) = msg.payload
            && self.st.store.endpoint(delegated).is_some_and(|e| e.owner == IN_TRANSIT)
        {
            self.st.store.set_owner(delegated, co as u32);
            self.emit(co, Some(ep), EventKind::DelegationCompleted { endpoint: delegated });
        }
        if let Some(id) = p.identity {
            self.commit_consumption(co, ep, p.from, p.seq, id);
        }
        self.st.coroutines[co].set(dst, msg.payload)?;
        Ok(Delivery::Arm(p.arm))
    }

    /// Parks coroutine `co`, whose `recv`/`offer` on `ep` found nothing
    /// visible, on the edge from the peer its type waits for (`from`, at
    /// index `edge` when the edge exists, as the receive found them): rounds skip it
    /// until the barrier makes a message on that edge visible or the session
    /// ends (`SessionStore::woken`). Nothing else can make the receive
    /// succeed or fail: only the endpoint's owner changes its type or takes
    /// its messages, and messages become visible only at the barrier. So the
    /// events are those of polling it every round. `recv_timeout` is not
    /// parked: its deadline counts rounds.
    fn park(&mut self, co: usize, ep: Endpoint, from: u16, edge: Option<usize>) -> Flow {
        self.st.store.park(ep, from, edge, co as u32);
        self.st.coroutines[co].parked = true;
        Flow::Block
    }

    /// Records a replay consumption and its `Consumed` event (never under `ReplayMode::Off`).
    fn commit_consumption(&mut self, co: usize, ep: Endpoint, from: u16, seq: u64, id: [u8; 32]) {
        let mode = self.st.replay_mode;
        if let Some(c) = self.st.store.consume(mode, ep, from, seq, id) {
            let kind = EventKind::Consumed { mode, identity: c.identity, pre_root: c.pre_root, post_root: c.post_root };
            self.emit(co, Some(ep), kind);
        }
    }

    fn recv_timeout(
        &mut self,
        co: usize,
        ep: u16,
        dst: u16,
        arms: &[Arm],
        timeout_ticks: u32,
        on_timeout: u32,
    ) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        let c = self.co(co);
        let here = (c.frames.len() as u32, c.top().pc);
        let armed = c.wait.filter(|w| (w.depth, w.pc) == here);
        if let Delivery::Arm(arm) = self.deliver(co, ep, Expect::Arms(arms, Op::RecvTimeout), dst)? {
            self.co(co).wait = None;
            if let Some(w) = armed {
                self.emit(co, Some(ep), EventKind::TimeoutWithdrawn { witness: w.witness });
            }
            return Ok(arm_jump(arms, arm));
        }
        let tick = self.st.tick;
        let wait = match armed {
            Some(w) => w,
            None => {
                // The timeout becomes active now: its witness is issued here and
                // is the one that expires (or is withdrawn) later.
                let witness = self.next_witness();
                let deadline_tick = tick.saturating_add(u64::from(timeout_ticks));
                let w = Wait { depth: here.0, pc: here.1, deadline_tick, witness };
                self.co(co).wait = Some(w);
                self.emit(co, Some(ep), EventKind::TimeoutIssued { witness });
                w
            }
        };
        if tick < wait.deadline_tick {
            return Ok(Flow::Block);
        }
        self.co(co).wait = None;
        if let Some((cont, late)) = self.timeout_branch(ep) {
            // The timeout branch: the receiver continues the protocol, the
            // late sender loses its endpoint.
            let closed = self.take_timeout_branch(ep, cont, late, wait.witness)?;
            self.emit(co, Some(ep), EventKind::TimeoutExpired { witness: wait.witness });
            if closed {
                self.emit(co, Some(late), EventKind::EndpointClosed);
            }
            return Ok(Flow::Jump(on_timeout));
        }
        self.expire_timeout(ep, wait.witness);
        self.emit(co, Some(ep), EventKind::TimeoutExpired { witness: wait.witness });
        Ok(Flow::Jump(on_timeout))
    }

    fn select(&mut self, co: usize, ep: u16, arms: &[Arm]) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        let to = self.st.store.expect_send(&self.m.types, ep, co as u32, None, Op::Select)?;
        let mut labels = std::mem::take(&mut self.st.scratch_labels);
        labels.clear();
        labels.extend(arms.iter().map(|a| a.label));
        let ctx = self.ctx(co, Some(ep), to, None);
        let index = self.host.choose(&ctx, &labels);
        self.st.scratch_labels = labels;
        self.co(co).host_calls = self.co(co).host_calls.saturating_add(1);
        let Some(arm) = arms.get(index) else {
            let answer = Value::Int(i64::try_from(index).unwrap_or(i64::MAX));
            self.emit(co, Some(ep), EventKind::HostAnswer { point: HostPoint::Choose, answer });
            return Err(Fault::BadChoice { ep, index: index as u64, arms: arms.len() as u32 }.into());
        };
        self.emit(co, Some(ep), EventKind::HostAnswer { point: HostPoint::Choose, answer: Value::Label(arm.label) });
        self.st.store.expect_send(&self.m.types, ep, co as u32, Some(arm.label), Op::Select)?;
        Ok(Flow::Jump(arm.target))
    }

    /// `select_to`: the host picks an arm by index (told each arm's label
    /// and receiver); the record names the receiver and the label, and the
    /// endpoint's type narrows to the receiver's `Send` node.
    fn select_to(&mut self, co: usize, ep: u16, arms: &[PeerArm]) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        let to = self.st.store.expect_send(&self.m.types, ep, co as u32, None, Op::Select)?;
        let mut labels = std::mem::take(&mut self.st.scratch_labels);
        let mut receivers = std::mem::take(&mut self.st.scratch_receivers);
        labels.clear();
        receivers.clear();
        labels.extend(arms.iter().map(|a| a.label));
        receivers.extend(arms.iter().map(|a| a.to));
        let ctx = HostCtx { receivers: &receivers, ..self.ctx(co, Some(ep), to, None) };
        let index = self.host.choose(&ctx, &labels);
        self.st.scratch_labels = labels;
        self.st.scratch_receivers = receivers;
        self.co(co).host_calls = self.co(co).host_calls.saturating_add(1);
        let Some(arm) = arms.get(index) else {
            let answer = Value::Int(i64::try_from(index).unwrap_or(i64::MAX));
            self.emit(co, Some(ep), EventKind::HostAnswer { point: HostPoint::Choose, answer });
            return Err(Fault::BadChoice { ep, index: index as u64, arms: arms.len() as u32 }.into());
        };
        let point = HostPoint::ChooseTo { to: arm.to };
        self.emit(co, Some(ep), EventKind::HostAnswer { point, answer: Value::Label(arm.label) });
        let tv = self.tv();
        self.st.store.narrow_to(tv, ep, co as u32, arm.to, arm.label)?;
        Ok(Flow::Jump(arm.target))
    }

    fn close(&mut self, co: usize, ep: u16) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        let outcome = self.st.store.close(&self.m.types, ep, co as u32)?;
        self.emit(co, Some(ep), EventKind::EndpointClosed);
        let epoch = match outcome {
            CloseOutcome::EndpointClosed => return Ok(Flow::Next),
            CloseOutcome::SessionClosed { epoch } => epoch,
            CloseOutcome::Draining => {
                let (undelivered, epoch) = self.st.store.drain(ep.sid).ok_or(Fault::UnknownSession { sid: ep.sid })?;
                let count = u32::try_from(undelivered.len()).unwrap_or(u32::MAX);
                self.emit(co, Some(ep), EventKind::Draining { undelivered: count });
                for u in undelivered {
                    let kind = EventKind::Discarded { from: u.from, to: u.to, label: u.label, seq: u.seq };
                    self.emit(co, Some(ep), kind);
                }
                epoch
            }
        };
        self.emit(co, Some(ep), EventKind::Closed);
        self.emit(co, Some(ep), EventKind::SessionTerminal { reason: TerminalReason::Closed });
        self.emit(co, Some(ep), EventKind::EpochAdvanced { epoch });
        self.emit_edge_histories(co, ep);
        Ok(Flow::Next)
    }

    /// `cancel` / `abort`: the owner ends the whole session.
    fn terminate(&mut self, co: usize, ep: u16, status: SessionStatus) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        self.st.store.live_body(ep, co as u32)?;
        let reason = if status == SessionStatus::Cancelled {
            let witness = self.cancellation_witness(ep);
            self.emit(co, Some(ep), EventKind::CancellationRequested { witness });
            self.emit(co, Some(ep), EventKind::Cancelled { witness });
            TerminalReason::Cancelled
        } else {
            self.emit(co, Some(ep), EventKind::Aborted);
            TerminalReason::Aborted
        };
        self.st.store.finish(ep.sid, status);
        self.emit(co, Some(ep), EventKind::SessionTerminal { reason });
        self.emit_edge_histories(co, ep);
        Ok(Flow::Next)
    }

    /// Records the edge traces of the session [`SessionStore::finish`] just
    /// ended (`EdgeHistory`, after its terminal events), at `ep`'s site.
    ///
    /// [`SessionStore::finish`]: crate::store::SessionStore::finish
    pub(crate) fn emit_edge_histories(&mut self, co: usize, ep: Endpoint) {
        crate::store::drain_ended_edges(|t| {
            let kind = EventKind::EdgeHistory {
                from: t.from,
                to: t.to,
                sent: t.sent,
                delivered: t.delivered,
                history: t.history,
            };
            self.emit(co, Some(ep), kind);
        });
    }

    fn next_witness(&mut self) -> u64 {
        let w = self.st.next_witness;
        self.st.next_witness = self.st.next_witness.saturating_add(1);
        w
    }

    /// The endpoint a session instruction operates on, if it names one.
    pub(crate) fn blocking_endpoint(&self, co: usize, instr: Option<&Instr>) -> Option<Endpoint> {
        let reg = match instr? {
            Instr::Send { ep, .. }
            | Instr::Recv { ep, .. }
            | Instr::Select { ep, .. }
            | Instr::SelectTo { ep, .. }
            | Instr::Offer { ep, .. }
            | Instr::Close { ep }
            | Instr::RecvTimeout { ep, .. }
            | Instr::Cancel { ep }
            | Instr::Abort { ep }
            | Instr::Produce { ep, .. }
            | Instr::Check { ep, .. }
            | Instr::Consume { ep, .. } => *ep,
            _ => return None,
        };
        self.st.coroutines[co].endpoint(reg).ok()
    }
}

fn arm_jump(arms: &[Arm], arm: usize) -> Flow {
    arms.get(arm).map_or(Flow::Next, |a| Flow::Jump(a.target))
}
