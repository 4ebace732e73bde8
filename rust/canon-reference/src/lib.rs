//! A reference interpreter for canon bytecode, written for clarity, not speed.
//!
//! It implements the execution model of `ARCHITECTURE.md` and the instruction
//! table of `bytecode-spec/format.md` directly, without any code of
//! `canon-machine`: only the machine's *vocabulary* is shared (the `Event`
//! types it emits, the `Config` it is given and the `Host` trait it calls), so
//! that the differential tests can compare the two event streams field by
//! field. Everything here is plain data (`Vec`, `VecDeque`, `BTreeMap`),
//! looked up by linear scans where that reads more simply.
//!
//! Used only by tests (`publish = false`).

#![deny(missing_docs)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use canon_bytecode::{BufferConfig, Const, Instr, Param, Reg, VerifiedProgram};
use canon_machine::{Config, Event, EventKind, EventSite, Host, HostCtx, HostPoint, TerminalReason};
use canon_types::{Endpoint, SymId, TypeId, TypeNode, Value, ValueKind};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

pub mod code;

mod checks;
mod sending;
mod session;

/// How a reference run of one group ended: the three endings of
/// bytecode-spec/execution.md, "Rounds and endings".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Completed: every coroutine ended.
    Completed,
    /// Stalled: a whole round in which no coroutine completed an instruction
    /// while no `recv_timeout` was waiting.
    Stalled,
    /// Budget-exhausted: `tick` reached `max_rounds`.
    BudgetExhausted,
}

/// The result of running one group to its end.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every event the group emitted, in emission order: the stream the
    /// differential tests compare with the machine's, field by field.
    pub events: Vec<Event>,
    /// How the group ended (execution.md, "Rounds and endings").
    pub ending: Ending,
    /// The number of rounds run: the tick after the last round
    /// (execution.md, "Rounds and endings").
    pub rounds: u64,
    /// Every opcode mnemonic executed at least once (for coverage tests).
    pub executed: BTreeSet<&'static str>,
}

/// One message in a buffer.
#[derive(Debug, Clone)]
struct Message {
    label: SymId,
    seq: u64,
    payload: Value,
    signature: Option<[u8; 64]>,
    /// Sent before the last round barrier.
    visible: bool,
}

/// The buffer of one directed edge of a session.
#[derive(Debug, Clone)]
struct Edge {
    config: BufferConfig,
    /// Current capacity (grows under `Resize`).
    capacity: u32,
    queue: VecDeque<Message>,
    /// Next sequence number to give a message on this edge.
    next_seq: u64,
    /// Next sequence number the receiver expects (sequence and nullifier modes).
    expected_seq: u64,
    /// Messages this buffer discarded (`Dropped`, `Overwritten`) that no
    /// delivery has skipped yet: how far past `expected_seq` a delivery may
    /// be in nullifier mode.
    lost: u64,
    /// Messages delivered on the edge.
    delivered: u64,
    /// Running hash of the delivered envelopes: `SHA-256(h || SHA-256(envelope))`
    /// from 32 zero bytes (replay.md, `EdgeHistory`), under a signed auth or a
    /// replay mode; 32 zero bytes otherwise.
    history: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    Live,
    Closed,
    Cancelled,
    Aborted,
    Faulted,
}

#[derive(Debug, Clone)]
struct Session {
    roles: Vec<SymId>,
    /// Handler binding per role: every edge a role sends on is bound to it.
    handlers: Vec<SymId>,
    /// The current (unresolved) local type of each role's endpoint.
    types: Vec<TypeId>,
    /// The coroutine that owns each endpoint.
    owners: Vec<u32>,
    /// The expired timeout witness a cancellation consumes (ownership.md).
    expired_timeout: Option<u64>,
    /// Roles whose endpoints a deadline revoked (late senders of receives
    /// that took their timeout branch): their next session operation ends
    /// their coroutine quietly, their effects are late.
    revoked: Vec<u16>,
    closed: Vec<bool>,
    state: SessionState,
    /// `edges[from][to]`.
    edges: Vec<Vec<Edge>>,
    keys: Vec<SigningKey>,
    root: [u8; 32],
    nullifiers: BTreeSet<[u8; 32]>,
}

#[derive(Debug, Clone)]
struct Frame {
    proc: u32,
    pc: u32,
    regs: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Runs in rounds after `born`.
    Alive,
    Ended,
}

#[derive(Debug, Clone)]
struct Coroutine {
    frames: Vec<Frame>,
    life: Life,
    /// The round it was spawned in (it first runs the round after; the entry
    /// coroutine runs in round 0).
    first_round: u64,
    host_calls: u64,
    /// For a `recv_timeout` waiting at `pc`: the round its wait started.
    waiting_since: Option<(u32, u32, u64, u64)>,
}

/// What executing one instruction did.
enum Step {
    /// Completed; continue with the next instruction.
    Next,
    /// Not completed (nothing visible yet, or backpressure): try again next round.
    Blocked,
    /// Completed, and the coroutine's quantum ends.
    Yield,
    /// The coroutine ended (normally, faulted, or on a finished session).
    Ended,
}

/// A fault, with the endpoint whose session it ends (if any).
struct Fault {
    code: u16,
    at: Option<Endpoint>,
}

type Exec<T> = Result<T, Fault>;

/// One group of the reference interpreter: one instance of the entry
/// procedure and every coroutine and session it creates (ARCHITECTURE.md,
/// "Execution model"), with its sessions' buffers, keys and replay state as
/// plain data.
pub struct Reference<'p> {
    program: &'p VerifiedProgram,
    config: Config,
    group: u32,
    host: Box<dyn Host + 'p>,
    tick: u64,
    coroutines: Vec<Coroutine>,
    sessions: Vec<Session>,
    events: Vec<Event>,
    next_witness: u64,
    /// Host-side ownership of the claimed sessions (checks.rs).
    claims: checks::Claims,
    executed: BTreeSet<&'static str>,
    progressed: bool,
    /// The secret key seed endpoint keys derive from (replay.md, "Signatures
    /// and the message envelope").
    key_seed: [u8; 32],
    /// The run identity every envelope starts with.
    run: [u8; 32],
}

/// The repository's public test key seed (`fixtures/keys/TEST-ONLY-public.key-seed`),
/// which [`Reference::new`] signs with unless [`Reference::with_key_seed`] gives another.
pub const TEST_KEY_SEED: [u8; 32] = *b"canon-PUBLIC-test-key-seed-00000";

impl<'p> Reference<'p> {
    /// A group numbered `group` of `program`, not yet started: the entry
    /// procedure becomes coroutine 0 when [`Reference::run`] starts round 0.
    /// Endpoint keys derive from [`TEST_KEY_SEED`]; the run identity every
    /// message envelope starts with is `SHA-256("canon-run-id" || program
    /// digest || config digest)` (replay.md, "Signatures and the message
    /// envelope").
    pub fn new(program: &'p VerifiedProgram, group: u32, config: Config, host: Box<dyn Host + 'p>) -> Self {
        Reference {
            program,
            config,
            group,
            host,
            tick: 0,
            coroutines: Vec::new(),
            sessions: Vec::new(),
            events: Vec::new(),
            next_witness: 0,
            claims: checks::Claims::new(),
            executed: BTreeSet::new(),
            progressed: false,
            key_seed: TEST_KEY_SEED,
            run: Sha256::new()
                .chain_update(b"canon-run-id")
                .chain_update(program.digest())
                .chain_update(config.digest())
                .finalize()
                .into(),
        }
    }

    /// Signs with endpoint keys derived from `key_seed`.
    pub fn with_key_seed(mut self, key_seed: [u8; 32]) -> Self {
        self.key_seed = key_seed;
        self
    }

    /// Runs the group to its end: rounds of every runnable coroutine in id
    /// order, each followed by the barrier that makes the round's sends
    /// visible, until the group completes, stalls or exhausts `max_rounds`
    /// (execution.md, "Rounds and endings").
    pub fn run(mut self) -> Run {
        let entry = self.program.module().entry;
        self.start_coroutine(entry, Vec::new(), 0);
        let none =
            EventSite { group: self.group, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
        self.events.push(Event { site: none, kind: EventKind::Spawned { proc: entry } });
        self.record_claims();
        let ending = loop {
            if self.coroutines.iter().all(|c| c.life == Life::Ended) {
                break Ending::Completed;
            }
            if self.tick >= self.config.limits.max_rounds {
                break Ending::BudgetExhausted;
            }
            self.progressed = false;
            self.round();
            let waiting_timeout = self.coroutines.iter().any(|c| c.life == Life::Alive && c.waiting_since.is_some());
            if !self.progressed && !waiting_timeout && self.coroutines.iter().any(|c| c.life == Life::Alive) {
                self.tick += 1;
                break Ending::Stalled;
            }
            self.tick += 1;
        };
        Run { events: self.events, ending, rounds: self.tick, executed: self.executed }
    }

    fn start_coroutine(&mut self, proc: u32, args: Vec<Value>, first_round: u64) {
        let p = &self.program.module().procs[proc as usize];
        let mut regs = vec![Value::Unit; usize::from(p.reg_count)];
        for (r, v) in regs.iter_mut().zip(args) {
            *r = v;
        }
        self.coroutines.push(Coroutine {
            frames: vec![Frame { proc, pc: 0, regs }],
            life: Life::Alive,
            first_round,
            host_calls: 0,
            waiting_since: None,
        });
    }

    /// One round: every coroutine that exists and may run, in id order, then
    /// the barrier that makes this round's sends visible.
    fn round(&mut self) {
        let count = self.coroutines.len();
        for c in 0..count {
            let co = &self.coroutines[c];
            if co.life != Life::Alive || co.first_round > self.tick {
                continue;
            }
            self.run_quantum(c as u32);
        }
        for s in &mut self.sessions {
            for row in &mut s.edges {
                for e in row {
                    for m in &mut e.queue {
                        m.visible = true;
                    }
                }
            }
        }
    }

    fn run_quantum(&mut self, c: u32) {
        let mut fuel = self.config.limits.fuel_per_quantum;
        while fuel > 0 {
            let step = match self.step(c) {
                Ok(step) => step,
                Err(fault) => {
                    self.fault(c, fault);
                    Step::Ended
                }
            };
            match step {
                Step::Next => {
                    self.progressed = true;
                    fuel -= 1;
                }
                Step::Blocked => return,
                Step::Yield => {
                    self.progressed = true;
                    return;
                }
                Step::Ended => {
                    self.progressed = true;
                    self.coroutines[c as usize].life = Life::Ended;
                    return;
                }
            }
        }
    }

    // ----- events -----

    fn site(&self, c: u32, at: Option<Endpoint>) -> EventSite {
        let (sid, role) = match at {
            Some(ep) => (ep.sid, ep.role),
            None => (EventSite::NO_SID, EventSite::NO_ROLE),
        };
        EventSite { group: self.group, tick: self.tick, coroutine: c, sid, role }
    }

    fn emit(&mut self, c: u32, at: Option<Endpoint>, kind: EventKind) {
        let site = self.site(c, at);
        self.events.push(Event { site, kind });
    }

    /// A fault ends the coroutine: `FailureBranchEntered → Faulted`, and when
    /// it concerns an endpoint whose session is live, `SessionTerminal{Faulted}`.
    fn fault(&mut self, c: u32, fault: Fault) {
        self.withdraw_timeout(c);
        let code = fault.code;
        self.emit(c, fault.at, EventKind::FailureBranchEntered { code });
        self.emit(c, fault.at, EventKind::Faulted { code });
        if let Some(ep) = fault.at
            && let Some(s) = self.session_mut(ep.sid)
            && s.state == SessionState::Live
        {
            s.state = SessionState::Faulted;
            self.end_session(ep.sid);
            self.emit(c, fault.at, EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } });
            self.edge_histories(c, ep);
        }
        // Owner death: every other live session in which `c` owns an open endpoint.
        for n in 0..self.sessions.len() {
            let s = &self.sessions[n];
            if s.state != SessionState::Live {
                continue;
            }
            let Some(role) = (0..s.owners.len()).find(|&r| s.owners[r] == c && !s.closed[r]) else { continue };
            let sid = u64::from(self.group) << 32 | n as u64;
            self.sessions[n].state = SessionState::Faulted;
            self.end_session(sid);
            let at = Endpoint { sid, role: role as u16 };
            self.emit(c, Some(at), EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } });
            self.edge_histories(c, at);
        }
    }

    // ----- registers and frames -----

    fn frame(&self, c: u32) -> &Frame {
        self.coroutines[c as usize].frames.last().expect("a live coroutine has a frame")
    }

    fn frame_mut(&mut self, c: u32) -> &mut Frame {
        self.coroutines[c as usize].frames.last_mut().expect("a live coroutine has a frame")
    }

    fn reg(&self, c: u32, r: Reg) -> Value {
        self.frame(c).regs[usize::from(r)].clone()
    }

    fn set(&mut self, c: u32, r: Reg, v: Value) {
        self.frame_mut(c).regs[usize::from(r)] = v;
    }

    fn advance(&mut self, c: u32) {
        self.frame_mut(c).pc += 1;
    }

    fn jump(&mut self, c: u32, target: u32) {
        self.frame_mut(c).pc = target;
    }

    fn int(&self, c: u32, r: Reg) -> Exec<i64> {
        match self.reg(c, r) {
            Value::Int(i) => Ok(i),
            _ => Err(Fault { code: code::ARITHMETIC_TYPE_ERROR, at: None }),
        }
    }

    // ----- sessions -----

    fn session_index(&self, sid: u64) -> Option<usize> {
        if sid >> 32 != u64::from(self.group) {
            return None;
        }
        let n = (sid & 0xFFFF_FFFF) as usize;
        (n < self.sessions.len()).then_some(n)
    }

    fn session(&self, sid: u64) -> Option<&Session> {
        self.session_index(sid).map(|i| &self.sessions[i])
    }

    fn session_mut(&mut self, sid: u64) -> Option<&mut Session> {
        self.session_index(sid).map(|i| &mut self.sessions[i])
    }

    /// Drops what an ended session holds (buffers, replay state).
    fn end_session(&mut self, sid: u64) {
        if let Some(s) = self.session_mut(sid) {
            for row in &mut s.edges {
                for e in row {
                    e.queue.clear();
                }
            }
            s.nullifiers.clear();
        }
    }

    /// The local-type node `ty` unfolds to (follows `Mu` and `Var`).
    fn node(&self, ty: TypeId) -> &TypeNode {
        let graph = &self.program.module().types;
        let mut id = ty;
        loop {
            match graph.get(id).expect("verified type id") {
                TypeNode::Mu { body, .. } => id = *body,
                TypeNode::Var { mu } => id = *mu,
                node => return node,
            }
        }
    }

    /// Checks that register `r` holds an endpoint this coroutine may use on a
    /// live session. `Ok(None)`: the session has ended (cancelled, aborted or
    /// faulted by another coroutine): the coroutine ends quietly.
    fn endpoint(&self, c: u32, r: Reg) -> Exec<Option<Endpoint>> {
        let Value::Endpoint(ep) = self.reg(c, r) else {
            return Err(Fault { code: code::NOT_AN_ENDPOINT, at: None });
        };
        let Some(s) = self.session(ep.sid) else {
            return Err(Fault { code: code::UNKNOWN_SESSION, at: None });
        };
        let role = usize::from(ep.role);
        if s.revoked.contains(&ep.role) {
            return Ok(None);
        }
        if role >= s.roles.len() {
            return Err(Fault { code: code::UNKNOWN_SESSION, at: None });
        }
        if s.owners[role] != c {
            return Err(Fault { code: code::NOT_OWNER, at: None });
        }
        if s.closed[role] {
            return Err(Fault { code: code::ENDPOINT_CLOSED, at: Some(ep) });
        }
        if s.state != SessionState::Live {
            return Ok(None);
        }
        Ok(Some(ep))
    }

    /// The peer role index and branches of a `Recv` node (`sending == false`),
    /// or of a `Send` node (`sending`; a `choose` is read through
    /// [`Reference::send_options`] instead).
    fn expect(&self, ep: Endpoint, sending: bool) -> Exec<(u16, Vec<canon_types::FlatBranch>)> {
        let s = self.session(ep.sid).expect("checked session");
        let at = Some(ep);
        match (self.node(s.types[usize::from(ep.role)]), sending) {
            (TypeNode::Send { peer, branches }, true) | (TypeNode::Recv { peer, branches }, false) => {
                let peer_index = s.roles.iter().position(|r| r == peer).expect("verified peer") as u16;
                Ok((peer_index, branches.clone()))
            }
            (TypeNode::End, _) => Err(Fault { code: code::ACTION_AFTER_END, at }),
            (_, true) => Err(Fault { code: code::SEND_WHERE_RECV_EXPECTED, at }),
            (_, false) => Err(Fault { code: code::RECV_WHERE_SEND_EXPECTED, at }),
        }
    }

    fn branch(branches: &[canon_types::FlatBranch], label: SymId, at: Endpoint) -> Exec<canon_types::FlatBranch> {
        branches.iter().find(|b| b.label == label).cloned().ok_or(Fault { code: code::LABEL_NOT_OFFERED, at: Some(at) })
    }

    /// The payload check of format.md: no type names → `Unit`; one → a value
    /// of its kind; several → a tuple of that many values of their kinds.
    /// Unknown type names accept any kind.
    fn check_payload(&self, types: &[SymId], v: &Value, at: Endpoint) -> Exec<()> {
        let module = self.program.module();
        let kind_ok = |ty: &SymId, v: &Value| match ValueKind::for_type_name(module.sym(*ty)) {
            Some(k) => k == v.kind(),
            None => true,
        };
        let at = Some(at);
        match types {
            [] => {
                if *v == Value::Unit {
                    Ok(())
                } else {
                    Err(Fault { code: code::PAYLOAD_ARITY_MISMATCH, at })
                }
            }
            [one] => {
                if kind_ok(one, v) {
                    Ok(())
                } else {
                    Err(Fault { code: code::PAYLOAD_KIND_MISMATCH, at })
                }
            }
            many => {
                let Value::Tuple(items) = v else {
                    return Err(Fault { code: code::PAYLOAD_ARITY_MISMATCH, at });
                };
                if items.len() != many.len() {
                    return Err(Fault { code: code::PAYLOAD_ARITY_MISMATCH, at });
                }
                if many.iter().zip(items.iter()).all(|(t, v)| kind_ok(t, v)) {
                    Ok(())
                } else {
                    Err(Fault { code: code::PAYLOAD_KIND_MISMATCH, at })
                }
            }
        }
    }

    /// Site and role names of the host context; the peer is the one the
    /// endpoint's type faces, or for a `choose`, the peer of the arm that
    /// sends `label` (none without a label).
    fn host_ctx_parts(&self, c: u32, at: Option<Endpoint>, label: Option<SymId>) -> (u64, u16, SymId, Option<SymId>) {
        match at {
            Some(ep) => {
                let s = self.session(ep.sid).expect("checked session");
                let role_name = s.roles[usize::from(ep.role)];
                let peer = match self.node(s.types[usize::from(ep.role)]) {
                    TypeNode::Send { peer, .. } | TypeNode::Recv { peer, .. } => Some(*peer),
                    TypeNode::Choose { arms } => arms.iter().find_map(|&a| match self.program.module().types.get(a) {
                        Some(TypeNode::Send { peer, branches }) if branches.iter().any(|b| Some(b.label) == label) => {
                            Some(*peer)
                        }
                        _ => None,
                    }),
                    _ => None,
                };
                let _ = c;
                (ep.sid, ep.role, role_name, peer)
            }
            None => (EventSite::NO_SID, EventSite::NO_ROLE, SymId::default(), None),
        }
    }

    /// The edge `(from, to)` of the interaction at `at` facing `peer` (from
    /// the peer for a receive, to it otherwise) and the handler bound to it
    /// (its sending role's).
    fn host_ctx_edge(&self, at: Option<Endpoint>, peer: Option<SymId>) -> (Option<(u16, u16)>, SymId) {
        let Some(ep) = at else { return (None, SymId::default()) };
        let s = self.session(ep.sid).expect("checked session");
        let Some(p) = peer.and_then(|p| s.roles.iter().position(|&r| r == p)) else {
            return (None, SymId::default());
        };
        let edge = match self.node(s.types[usize::from(ep.role)]) {
            TypeNode::Recv { .. } => (p as u16, ep.role),
            _ => (ep.role, p as u16),
        };
        (Some(edge), s.handlers[usize::from(edge.0)])
    }

    /// Calls the host at one of its four points; `f` gets the context.
    fn ask<T>(
        &mut self,
        c: u32,
        at: Option<Endpoint>,
        label: Option<SymId>,
        payload: &[SymId],
        f: impl FnOnce(&mut dyn Host, &HostCtx<'_>) -> T,
    ) -> T {
        let (sid, role, role_name, peer) = self.host_ctx_parts(c, at, label);
        let (edge, handler) = self.host_ctx_edge(at, peer);
        let call_index = self.coroutines[c as usize].host_calls;
        self.coroutines[c as usize].host_calls += 1;
        let ctx = HostCtx {
            group: self.group,
            tick: self.tick,
            coroutine: c,
            sid,
            role,
            role_name,
            peer,
            edge,
            handler,
            module: self.program.module(),
            payload,
            receivers: &[],
            call_index,
        };
        f(self.host.as_mut(), &ctx)
    }

    /// The canonical envelope of replay.md: run identity, sid, from, to, seq, label, payload.
    fn envelope(run: &[u8; 32], sid: u64, from: u16, to: u16, seq: u64, label: SymId, payload: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(run);
        out.extend_from_slice(&sid.to_le_bytes());
        out.extend_from_slice(&from.to_le_bytes());
        out.extend_from_slice(&to.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&label.0.to_le_bytes());
        payload.encode(&mut out);
        out
    }

    fn endpoint_key(&self, sid: u64, role: u16) -> SigningKey {
        let mut h = Sha256::new();
        h.update(b"canon-endpoint-key-v2");
        h.update(self.key_seed);
        h.update(sid.to_le_bytes());
        h.update(role.to_le_bytes());
        SigningKey::from_bytes(&h.finalize().into())
    }

    // ----- the instructions -----

    fn step(&mut self, c: u32) -> Exec<Step> {
        let frame = self.frame(c);
        let proc = &self.program.module().procs[frame.proc as usize];
        let instr = proc.code[frame.pc as usize].clone();
        self.executed.insert(mnemonic(&instr));
        match instr {
            Instr::Nop => {
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Jmp { target } => {
                self.jump(c, target);
                Ok(Step::Next)
            }
            Instr::JmpIf { cond, target } => {
                let holds = matches!(self.reg(c, cond), Value::Bool(true))
                    || matches!(self.reg(c, cond), Value::Int(i) if i != 0);
                if holds {
                    self.jump(c, target);
                } else {
                    self.advance(c);
                }
                Ok(Step::Next)
            }
            Instr::Call { proc, args } => {
                if self.coroutines[c as usize].frames.len() as u32 >= self.config.limits.max_call_depth {
                    return Err(Fault { code: code::CALL_DEPTH_EXCEEDED, at: None });
                }
                let values: Vec<Value> = args.iter().map(|&r| self.reg(c, r)).collect();
                self.advance(c);
                let p = &self.program.module().procs[proc as usize];
                let mut regs = vec![Value::Unit; usize::from(p.reg_count)];
                for (r, v) in regs.iter_mut().zip(values) {
                    *r = v;
                }
                self.coroutines[c as usize].frames.push(Frame { proc, pc: 0, regs });
                Ok(Step::Next)
            }
            Instr::Ret => {
                let co = &mut self.coroutines[c as usize];
                if co.frames.len() == 1 {
                    self.emit(c, None, EventKind::Halted);
                    return Ok(Step::Ended);
                }
                co.frames.pop();
                Ok(Step::Next)
            }
            Instr::Yield => {
                self.advance(c);
                Ok(Step::Yield)
            }
            Instr::Halt => {
                self.emit(c, None, EventKind::Halted);
                Ok(Step::Ended)
            }
            Instr::Const { dst, k } => {
                let v = match &self.program.module().consts[k as usize] {
                    Const::Unit => Value::Unit,
                    Const::Bool(b) => Value::Bool(*b),
                    Const::Int(i) => Value::Int(*i),
                    Const::Str(s) => Value::Str(Arc::from(self.program.module().sym(*s))),
                    Const::Label(l) => Value::Label(*l),
                    Const::Bytes(b) => Value::Bytes(Arc::from(b.as_slice())),
                };
                self.set(c, dst, v);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Mov { dst, src } => {
                let v = self.reg(c, src);
                self.set(c, dst, v);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Add { dst, a, b } => {
                let v = self.int(c, a)?.wrapping_add(self.int(c, b)?);
                self.set(c, dst, Value::Int(v));
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Sub { dst, a, b } => {
                let v = self.int(c, a)?.wrapping_sub(self.int(c, b)?);
                self.set(c, dst, Value::Int(v));
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Eq { dst, a, b } => {
                let v = self.reg(c, a) == self.reg(c, b);
                self.set(c, dst, Value::Bool(v));
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Lt { dst, a, b } => {
                let v = self.int(c, a)? < self.int(c, b)?;
                self.set(c, dst, Value::Bool(v));
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Open { roles, types, handlers, dsts, buffers } => {
                self.open(c, &roles, &types, &handlers, &dsts, &buffers)
            }
            Instr::Send { ep, label, src } => self.send(c, ep, label, src),
            Instr::Recv { ep, label, dst } => self.receive(c, ep, dst, &[(label, None)], None),
            Instr::Offer { ep, dst, arms } => {
                let arms: Vec<(SymId, Option<u32>)> = arms.iter().map(|a| (a.label, Some(a.target))).collect();
                self.receive(c, ep, dst, &arms, None)
            }
            Instr::RecvTimeout { ep, dst, arms, timeout_ticks, on_timeout } => {
                let arms: Vec<(SymId, Option<u32>)> = arms.iter().map(|a| (a.label, Some(a.target))).collect();
                self.receive(c, ep, dst, &arms, Some((timeout_ticks, on_timeout)))
            }
            Instr::Select { ep, arms } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                let options = self.send_options(e)?;
                for a in &arms {
                    Self::send_option(options.clone(), a.label, e)?;
                }
                let labels: Vec<SymId> = arms.iter().map(|a| a.label).collect();
                let i = self.ask(c, Some(e), None, &[], |h, ctx| h.choose(ctx, &labels));
                let Some(arm) = arms.get(i) else {
                    return Err(Fault { code: code::BAD_CHOICE, at: Some(e) });
                };
                self.emit(
                    c,
                    Some(e),
                    EventKind::HostAnswer { point: HostPoint::Choose, answer: Value::Label(arm.label) },
                );
                self.jump(c, arm.target);
                Ok(Step::Next)
            }
            Instr::SelectTo { ep, arms } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                self.send_options(e)?;
                let labels: Vec<SymId> = arms.iter().map(|a| a.label).collect();
                let receivers: Vec<SymId> = arms.iter().map(|a| a.to).collect();
                let i = self
                    .ask(c, Some(e), None, &[], |h, ctx| h.choose(&HostCtx { receivers: &receivers, ..*ctx }, &labels));
                let Some(arm) = arms.get(i) else {
                    return Err(Fault { code: code::BAD_CHOICE, at: Some(e) });
                };
                let point = HostPoint::ChooseTo { to: arm.to };
                self.emit(c, Some(e), EventKind::HostAnswer { point, answer: Value::Label(arm.label) });
                let narrowed = self.arm_to(e, arm.to, arm.label)?;
                self.session_mut(e.sid).expect("checked").types[usize::from(e.role)] = narrowed;
                self.jump(c, arm.target);
                Ok(Step::Next)
            }
            Instr::Produce { dst, ep, label } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                let (_, b) = Self::send_option(self.send_options(e)?, label, e)?;
                let v = self.ask(c, Some(e), Some(label), &b.payload, |h, ctx| h.produce(ctx, label));
                self.emit(c, Some(e), EventKind::HostAnswer { point: HostPoint::Produce { label }, answer: v.clone() });
                self.set(c, dst, v);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Close { ep } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                let s = self.session(e.sid).expect("checked");
                if !matches!(self.node(s.types[usize::from(e.role)]), TypeNode::End) {
                    return Err(Fault { code: code::CLOSE_BEFORE_END, at: Some(e) });
                }
                let s = self.session_mut(e.sid).expect("checked");
                s.closed[usize::from(e.role)] = true;
                let last = s.closed.iter().all(|&x| x);
                // Undelivered messages, edges in (from, to) order, oldest first.
                let left: Vec<(u16, u16, SymId, u64)> = s
                    .edges
                    .iter()
                    .enumerate()
                    .flat_map(|(f, row)| {
                        row.iter().enumerate().flat_map(move |(t, edge)| {
                            edge.queue.iter().map(move |m| (f as u16, t as u16, m.label, m.seq))
                        })
                    })
                    .collect();
                self.emit(c, Some(e), EventKind::EndpointClosed);
                if last {
                    self.session_mut(e.sid).expect("checked").state = SessionState::Closed;
                    self.end_session(e.sid);
                    if !left.is_empty() {
                        self.emit(c, Some(e), EventKind::Draining { undelivered: left.len() as u32 });
                        for (from, to, label, seq) in left {
                            self.emit(c, Some(e), EventKind::Discarded { from, to, label, seq });
                        }
                    }
                    self.emit(c, Some(e), EventKind::Closed);
                    self.emit(c, Some(e), EventKind::SessionTerminal { reason: TerminalReason::Closed });
                    self.emit(c, Some(e), EventKind::EpochAdvanced { epoch: 1 });
                    self.edge_histories(c, e);
                }
                self.set(c, ep, Value::Unit);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Cancel { ep } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                let witness = match self.session_mut(e.sid).expect("checked").expired_timeout.take() {
                    Some(w) => w,
                    None => {
                        self.next_witness += 1;
                        self.next_witness - 1
                    }
                };
                self.session_mut(e.sid).expect("checked").state = SessionState::Cancelled;
                self.end_session(e.sid);
                self.emit(c, Some(e), EventKind::CancellationRequested { witness });
                self.emit(c, Some(e), EventKind::Cancelled { witness });
                self.emit(c, Some(e), EventKind::SessionTerminal { reason: TerminalReason::Cancelled });
                self.edge_histories(c, e);
                self.set(c, ep, Value::Unit);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Abort { ep } => {
                let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
                self.session_mut(e.sid).expect("checked").state = SessionState::Aborted;
                self.end_session(e.sid);
                self.emit(c, Some(e), EventKind::Aborted);
                self.emit(c, Some(e), EventKind::SessionTerminal { reason: TerminalReason::Aborted });
                self.edge_histories(c, e);
                self.set(c, ep, Value::Unit);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Invoke { dst, effect, arg } => {
                let a = self.reg(c, arg);
                if let Some(ep) = self.late_endpoint(c) {
                    return Err(Fault { code: code::LATE_EFFECT, at: Some(ep) });
                }
                let v = self.ask(c, None, None, &[], |h, ctx| h.invoke(ctx, effect, &a));
                self.emit(c, None, EventKind::HostAnswer { point: HostPoint::Invoke { effect }, answer: v.clone() });
                self.set(c, dst, v);
                self.advance(c);
                Ok(Step::Next)
            }
            Instr::Check { dst, ep, effect, arg } => self.check(c, dst, ep, effect, arg),
            Instr::Consume { ep, witness } => self.consume(c, ep, witness),
            Instr::Spawn { proc, args } => {
                if self.coroutines.len() as u64 >= u64::from(self.config.limits.max_coroutines) {
                    return Err(Fault { code: code::TOO_MANY_COROUTINES, at: None });
                }
                let new_id = self.coroutines.len() as u32;
                let params = self.program.module().procs[proc as usize].params.clone();
                let mut values = Vec::new();
                for (&r, param) in args.iter().zip(&params) {
                    let v = self.reg(c, r);
                    if let (Param::Endpoint(_), Value::Endpoint(e)) = (param, &v) {
                        // The endpoint moves: the new coroutine owns it, the
                        // source register becomes Unit.
                        if let Some(s) = self.session_mut(e.sid)
                            && let Some(o) = s.owners.get_mut(usize::from(e.role))
                        {
                            *o = new_id;
                        }
                        self.set(c, r, Value::Unit);
                    }
                    values.push(v);
                }
                self.start_coroutine(proc, values, self.tick + 1);
                self.emit(c, None, EventKind::Spawned { proc });
                self.advance(c);
                Ok(Step::Next)
            }
        }
    }
}

/// The mnemonic of an instruction, as in the opcode table (format.md,
/// "Opcode table") and canon-bytecode's `OPCODES`.
pub fn mnemonic(i: &Instr) -> &'static str {
    match i {
        Instr::Nop => "nop",
        Instr::Jmp { .. } => "jmp",
        Instr::JmpIf { .. } => "jmp_if",
        Instr::Call { .. } => "call",
        Instr::Ret => "ret",
        Instr::Yield => "yield",
        Instr::Halt => "halt",
        Instr::Const { .. } => "const",
        Instr::Mov { .. } => "mov",
        Instr::Add { .. } => "add",
        Instr::Sub { .. } => "sub",
        Instr::Eq { .. } => "eq",
        Instr::Lt { .. } => "lt",
        Instr::Open { .. } => "open",
        Instr::Send { .. } => "send",
        Instr::Recv { .. } => "recv",
        Instr::Select { .. } => "select",
        Instr::SelectTo { .. } => "select_to",
        Instr::Offer { .. } => "offer",
        Instr::Close { .. } => "close",
        Instr::RecvTimeout { .. } => "recv_timeout",
        Instr::Cancel { .. } => "cancel",
        Instr::Abort { .. } => "abort",
        Instr::Invoke { .. } => "invoke",
        Instr::Spawn { .. } => "spawn",
        Instr::Produce { .. } => "produce",
        Instr::Check { .. } => "check",
        Instr::Consume { .. } => "consume",
    }
}

/// Runs group `group` of `program` under `config` with `host` on the reference interpreter.
pub fn run_group<'p>(program: &'p VerifiedProgram, group: u32, config: Config, host: Box<dyn Host + 'p>) -> Run {
    Reference::new(program, group, config, host).run()
}
