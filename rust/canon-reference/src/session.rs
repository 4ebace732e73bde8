//! The session instructions of the reference interpreter: `open`, `send`
//! and the three receives, and the quiet end on a session another coroutine
//! ended (bytecode-spec/execution.md).

use std::collections::{BTreeSet, VecDeque};

use canon_bytecode::{Backpressure, BufferMode, Instr, Reg};
use canon_machine::{Auth, Event, EventKind, EventSite, HostPoint, ReplayMode};
use canon_types::{Endpoint, SymId, TIMEOUT_LABEL, TypeId, Value};
use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::{Edge, Exec, Fault, Message, Reference, Session, SessionState, Step, code};

impl Reference<'_> {
    /// A coroutine leaving a `recv_timeout` whose timeout is active without
    /// a message or the deadline (its session ended, or the receive faulted):
    /// `TimeoutWithdrawn` of the issued witness, at the receive's endpoint.
    pub(crate) fn withdraw_timeout(&mut self, c: u32) {
        let Some((_, _, _, witness)) = self.coroutines[c as usize].waiting_since.take() else { return };
        let frame = self.frame(c);
        let instr = &self.program.module().procs[frame.proc as usize].code[frame.pc as usize];
        let at = match instr {
            Instr::RecvTimeout { ep, .. } => match self.reg(c, *ep) {
                Value::Endpoint(e) => Some(e),
                _ => None,
            },
            _ => None,
        };
        self.emit(c, at, EventKind::TimeoutWithdrawn { witness });
    }

    /// After a session's terminal events: one `EdgeHistory` per edge a
    /// message was sent or delivered on, in `(from, to)` order, at `at`.
    pub(crate) fn edge_histories(&mut self, c: u32, at: Endpoint) {
        let Some(s) = self.session(at.sid) else { return };
        let mut traces = Vec::new();
        for (from, row) in s.edges.iter().enumerate() {
            for (to, e) in row.iter().enumerate() {
                if e.next_seq > 0 || e.delivered > 0 {
                    traces.push(EventKind::EdgeHistory {
                        from: from as u16,
                        to: to as u16,
                        sent: e.next_seq,
                        delivered: e.delivered,
                        history: e.history,
                    });
                }
            }
        }
        for kind in traces {
            self.emit(c, Some(at), kind);
        }
    }

    /// A session instruction on an endpoint whose session another coroutine
    /// ended: the coroutine ends with `Halted` at that endpoint.
    pub(crate) fn quiet_end(&mut self, c: u32, r: Reg) -> Exec<Step> {
        let at = match self.reg(c, r) {
            Value::Endpoint(e) => Some(e),
            _ => None,
        };
        self.withdraw_timeout(c);
        self.emit(c, at, EventKind::Halted);
        Ok(Step::Ended)
    }

    pub(crate) fn open(
        &mut self,
        c: u32,
        roles: &[SymId],
        types: &[TypeId],
        handlers: &[SymId],
        dsts: &[Reg],
        buffers: &[canon_bytecode::EdgeBuffer],
    ) -> Exec<Step> {
        let live = self.sessions.iter().filter(|s| s.state == SessionState::Live).count();
        if live as u64 >= u64::from(self.config.limits.max_sessions) {
            return Err(Fault { code: code::TOO_MANY_SESSIONS, at: None });
        }
        let sid = (u64::from(self.group) << 32) | self.sessions.len() as u64;
        let n = roles.len();
        let mut edges = Vec::new();
        for from in 0..n {
            let mut row = Vec::new();
            for to in 0..n {
                let config = buffers
                    .iter()
                    .rev()
                    .find(|b| usize::from(b.from) == from && usize::from(b.to) == to)
                    .map(|b| b.config)
                    .unwrap_or(self.config.default_buffer);
                row.push(Edge {
                    config,
                    capacity: config.capacity,
                    queue: VecDeque::new(),
                    next_seq: 0,
                    lost: 0,
                    expected_seq: 0,
                    delivered: 0,
                    history: [0; 32],
                });
            }
            edges.push(row);
        }
        let keys: Vec<SigningKey> = (0..n as u16).map(|r| self.endpoint_key(sid, r)).collect();
        let recorded_keys = match self.config.auth {
            // Round-batched signing is not modelled: the reference signs per message.
            Auth::Ed25519 | Auth::Ed25519Round => keys.iter().map(|k| k.verifying_key().to_bytes()).collect(),
            Auth::None => Vec::new(),
        };
        self.sessions.push(Session {
            roles: roles.to_vec(),
            handlers: handlers.to_vec(),
            types: types.to_vec(),
            owners: vec![c; n],
            expired_timeout: None,
            revoked: Vec::new(),
            closed: vec![false; n],
            state: SessionState::Live,
            edges,
            keys,
            root: [0; 32],
            nullifiers: BTreeSet::new(),
        });
        for (i, &d) in dsts.iter().enumerate() {
            self.set(c, d, Value::Endpoint(Endpoint { sid, role: i as u16 }));
        }
        let site = EventSite { group: self.group, tick: self.tick, coroutine: c, sid, role: EventSite::NO_ROLE };
        self.events.push(Event { site, kind: EventKind::Opened { roles: roles.to_vec(), keys: recorded_keys } });
        self.advance(c);
        Ok(Step::Next)
    }

    pub(crate) fn send(&mut self, c: u32, ep: Reg, label: SymId, src: Reg) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        let (to, b) = Self::send_option(self.send_options(e)?, label, e)?;
        let payload = self.reg(c, src);
        self.check_payload(&b.payload, &payload, e)?;
        if payload.encoded_len() as u64 > u64::from(self.config.limits.max_payload_bytes) {
            return Err(Fault { code: code::PAYLOAD_TOO_LARGE, at: Some(e) });
        }
        let (auth, run) = (self.config.auth, self.run);
        let s = self.session_mut(e.sid).expect("checked");
        let edge = &mut s.edges[usize::from(e.role)][usize::from(to)];
        let seq = edge.next_seq;
        // A latest-value edge keeps the newest `capacity` messages: a new one
        // replaces the oldest undelivered one (ownership.md, buffers).
        let full = edge.queue.len() as u64 >= u64::from(edge.capacity.max(1));
        // What the buffer does with the message.
        enum Fate {
            Queue,
            Overwrite,
            Drop,
        }
        let fate = match (edge.config.mode, full) {
            (_, false) => Fate::Queue,
            (BufferMode::LatestValue, true) => Fate::Overwrite,
            (BufferMode::Fifo, true) => match edge.config.policy {
                Backpressure::Block => return Ok(Step::Blocked),
                Backpressure::Drop => Fate::Drop,
                Backpressure::Error => return Err(Fault { code: code::BUFFER_FULL, at: Some(e) }),
                Backpressure::Resize { max_capacity } => {
                    if edge.capacity >= max_capacity {
                        return Err(Fault { code: code::BUFFER_FULL, at: Some(e) });
                    }
                    edge.capacity = edge.capacity.saturating_mul(2).min(max_capacity);
                    Fate::Queue
                }
            },
        };
        edge.next_seq += 1;
        let envelope = Self::envelope(&run, e.sid, e.role, to, seq, label, &payload);
        let signature = match auth {
            Auth::Ed25519 | Auth::Ed25519Round => Some(s.keys[usize::from(e.role)].sign(&envelope).to_bytes()),
            Auth::None => None,
        };
        let edge = &mut s.edges[usize::from(e.role)][usize::from(to)];
        let message = Message { label, seq, payload: payload.clone(), signature, visible: false };
        let overwritten = match fate {
            Fate::Queue => {
                edge.queue.push_back(message);
                None
            }
            Fate::Overwrite => {
                let old = edge.queue.pop_front();
                edge.queue.push_back(message);
                edge.lost += u64::from(old.is_some());
                old.map(|_| ())
            }
            Fate::Drop => {
                edge.lost += 1;
                None
            }
        };
        s.types[usize::from(e.role)] = b.cont;
        // A dropped message is recorded as `Dropped` instead of `Sent`: it
        // never left the sender (but it used its sequence number).
        match fate {
            Fate::Drop => self.emit(c, Some(e), EventKind::Dropped { to, label, seq }),
            Fate::Overwrite => {
                self.emit(c, Some(e), EventKind::Sent { to, label, seq, payload: payload.clone(), signature });
                // `Overwritten` names the new message (label and seq), which
                // replaced the oldest undelivered one.
                if overwritten.is_some() {
                    self.emit(c, Some(e), EventKind::Overwritten { to, label, seq });
                }
            }
            Fate::Queue => {
                self.emit(c, Some(e), EventKind::Sent { to, label, seq, payload: payload.clone(), signature })
            }
        }
        if let (false, Value::Endpoint(moved)) = (matches!(fate, Fate::Drop), &payload) {
            self.emit(c, Some(e), EventKind::Delegated { endpoint: *moved });
        }
        self.advance(c);
        Ok(Step::Next)
    }

    /// `recv` (one arm without a target), `offer` and `recv_timeout`.
    pub(crate) fn receive(
        &mut self,
        c: u32,
        ep: Reg,
        dst: Reg,
        arms: &[(SymId, Option<u32>)],
        timeout: Option<(u32, u32)>,
    ) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        let (from, branches) = self.expect(e, false)?;
        for (label, _) in arms {
            Self::branch(&branches, *label, e)?;
        }
        let s = self.session(e.sid).expect("checked");
        let edge = &s.edges[usize::from(from)][usize::from(e.role)];
        let Some(m) = edge.queue.front().filter(|m| m.visible).cloned() else {
            if let Some((ticks, on_timeout)) = timeout {
                let frame = self.frame(c);
                let here = (frame.proc, frame.pc);
                let co = &mut self.coroutines[c as usize];
                // The witness is issued when the timeout becomes active
                // (ownership.md) and is the one that expires.
                let (since, witness) = match co.waiting_since {
                    Some((p, pc, t, w)) if (p, pc) == here => (t, w),
                    _ => {
                        let w = self.next_witness;
                        self.next_witness += 1;
                        self.coroutines[c as usize].waiting_since = Some((here.0, here.1, self.tick, w));
                        self.emit(c, Some(e), EventKind::TimeoutIssued { witness: w });
                        (self.tick, w)
                    }
                };
                if self.tick >= since + u64::from(ticks) {
                    self.coroutines[c as usize].waiting_since = None;
                    // A timeout branch (a branch labelled `@timeout`): the
                    // receiver continues with it and the late sender's
                    // endpoint is revoked (closed if it was open).
                    let timeout = branches.iter().find(|b| self.program.module().sym(b.label) == TIMEOUT_LABEL);
                    if let Some(b) = timeout {
                        let s = self.session_mut(e.sid).expect("checked");
                        s.types[usize::from(e.role)] = b.cont;
                        s.revoked.push(from);
                        let was_open = !s.closed[usize::from(from)];
                        s.closed[usize::from(from)] = true;
                        self.emit(c, Some(e), EventKind::TimeoutExpired { witness });
                        if was_open {
                            self.emit(c, Some(Endpoint { sid: e.sid, role: from }), EventKind::EndpointClosed);
                        }
                    } else {
                        self.session_mut(e.sid).expect("checked").expired_timeout = Some(witness);
                        self.emit(c, Some(e), EventKind::TimeoutExpired { witness });
                    }
                    self.jump(c, on_timeout);
                    return Ok(Step::Next);
                }
            }
            return Ok(Step::Blocked);
        };
        let frame = self.frame(c);
        let here = (frame.proc, frame.pc);
        // An active timeout stays armed until the message is taken: a fault
        // before that withdraws it (`withdraw_timeout`).
        let armed = self.coroutines[c as usize].waiting_since.filter(|w| (w.0, w.1) == here).map(|w| w.3);
        let s = self.session(e.sid).expect("checked");
        let edge = &s.edges[usize::from(from)][usize::from(e.role)];
        // Authentication before anything else, then replay consumption
        // (replay.md), then the label.
        let envelope = Self::envelope(&self.run, e.sid, from, e.role, m.seq, m.label, &m.payload);
        if self.config.auth != Auth::None {
            let key = s.keys[usize::from(from)].verifying_key();
            let ok = m.signature.is_some_and(|sig| key.verify_strict(&envelope, &Signature::from_bytes(&sig)).is_ok());
            if !ok {
                return Err(Fault { code: code::BAD_SIGNATURE, at: Some(e) });
            }
        }
        let identity: [u8; 32] = Sha256::digest(&envelope).into();
        match self.config.replay_mode {
            ReplayMode::Off => {}
            ReplayMode::Sequence => {
                if m.seq < edge.expected_seq {
                    return Err(Fault { code: code::REPLAYED_SEQUENCE, at: Some(e) });
                }
                if m.seq > edge.expected_seq {
                    return Err(Fault { code: code::SEQUENCE_GAP, at: Some(e) });
                }
            }
            ReplayMode::Nullifier => {
                if s.nullifiers.contains(&identity) {
                    return Err(Fault { code: code::NULLIFIER_REUSED, at: Some(e) });
                }
                // Past the next expected seq only by what the buffer discarded.
                if m.seq < edge.expected_seq || m.seq - edge.expected_seq > edge.lost {
                    return Err(Fault { code: code::SEQUENCE_GAP, at: Some(e) });
                }
                if s.nullifiers.len() as u64 >= u64::from(self.config.limits.max_nullifiers_per_session) {
                    return Err(Fault { code: code::NULLIFIER_SET_FULL, at: Some(e) });
                }
            }
        }
        let Some(&(_, target)) = arms.iter().find(|(l, _)| *l == m.label) else {
            return Err(Fault { code: code::UNEXPECTED_LABEL, at: Some(e) });
        };
        let b = Self::branch(&branches, m.label, e)?;
        let accepted = self.ask(c, Some(e), Some(m.label), &b.payload, |h, ctx| h.accept(ctx, m.label, &m.payload));
        if !accepted {
            self.emit(
                c,
                Some(e),
                EventKind::HostAnswer { point: HostPoint::Accept { label: m.label }, answer: Value::Bool(false) },
            );
            return Err(Fault { code: code::HOST_REJECTED, at: Some(e) });
        }
        // Take the message.
        self.coroutines[c as usize].waiting_since = None;
        let mode = self.config.replay_mode;
        // The history hashes the envelope where its identity is computed
        // anyway: a signed auth, or a replay mode other than off (replay.md,
        // "Edge histories"); otherwise it stays 32 zero bytes.
        let hashes_history = self.config.auth != Auth::None || mode != ReplayMode::Off;
        let s = self.session_mut(e.sid).expect("checked");
        let edge = &mut s.edges[usize::from(from)][usize::from(e.role)];
        edge.queue.pop_front();
        edge.lost -= m.seq.saturating_sub(edge.expected_seq).min(edge.lost);
        edge.expected_seq = m.seq + 1;
        edge.delivered += 1;
        if hashes_history {
            edge.history = Sha256::new().chain_update(edge.history).chain_update(identity).finalize().into();
        }
        s.types[usize::from(e.role)] = b.cont;
        let pre_root = s.root;
        let consumed = match mode {
            ReplayMode::Off => None,
            _ => {
                if mode == ReplayMode::Nullifier {
                    s.nullifiers.insert(identity);
                }
                let mut h = Sha256::new();
                h.update(pre_root);
                h.update(identity);
                s.root = h.finalize().into();
                Some(s.root)
            }
        };
        if let Value::Endpoint(moved) = &m.payload
            && let Some(s2) = self.session_mut(moved.sid)
            && let Some(o) = s2.owners.get_mut(usize::from(moved.role))
        {
            *o = c;
        }
        self.emit(c, Some(e), EventKind::Received { from, label: m.label, seq: m.seq, payload: m.payload.clone() });
        if let Value::Endpoint(moved) = &m.payload {
            self.emit(c, Some(e), EventKind::DelegationCompleted { endpoint: *moved });
        }
        if let Some(post_root) = consumed {
            self.emit(c, Some(e), EventKind::Consumed { mode, identity, pre_root, post_root });
        }
        if let Some(witness) = armed {
            self.emit(c, Some(e), EventKind::TimeoutWithdrawn { witness });
        }
        self.set(c, dst, m.payload);
        match target {
            Some(t) => self.jump(c, t),
            None => self.advance(c),
        }
        Ok(Step::Next)
    }
}
