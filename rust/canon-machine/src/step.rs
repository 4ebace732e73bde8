//! The one `step` function: executes one instruction of one coroutine.
//! Control, data, call and spawn instructions are here; session, lifecycle
//! and host instructions are in `step_session.rs`. Runners never interpret
//! instructions themselves.

use canon_bytecode::{Instr, Module, ProcId};
use canon_types::{Endpoint, Value};

use crate::actions::{Refusal, TypeView};
use crate::coroutine::{Coroutine, Frame};
use crate::event::{Event, EventKind, EventSite};
use crate::fault::Fault;
use crate::group::{CoroutineFault, State};
use crate::host::Host;
use crate::store::PayloadKinds;

/// What an instruction asks of the quantum loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Continue at the next instruction.
    Next,
    /// Continue at this instruction index.
    Jump(u32),
    /// Frames were changed by the instruction itself (`call`, `ret`).
    Stay,
    /// Could not proceed: retry this instruction next round.
    Block,
    /// Next instruction, but end the quantum.
    Yield,
    /// The coroutine ended.
    End,
}

/// Everything one step reads and writes, borrowed from the group.
pub(crate) struct Exec<'a> {
    pub m: &'a Module,
    pub consts: &'a [Value],
    pub kinds: &'a PayloadKinds,
    /// The program's `mu` resolution table (`VerifiedProgram::resolved_table`).
    pub resolved: &'a [canon_types::TypeId],
    pub st: &'a mut State,
    pub host: &'a mut (dyn Host + Send),
}

impl<'a> Exec<'a> {
    #[inline]
    pub fn tv(&self) -> TypeView<'a> {
        TypeView { graph: &self.m.types, kinds: self.kinds, resolved: self.resolved }
    }

    #[inline]
    pub fn co(&mut self, co: usize) -> &mut Coroutine {
        &mut self.st.coroutines[co]
    }

    /// Appends an event at the running coroutine's site.
    #[inline]
    pub fn emit(&mut self, co: usize, ep: Option<Endpoint>, kind: EventKind) {
        let (sid, role) = ep.map_or((EventSite::NO_SID, EventSite::NO_ROLE), |e| (e.sid, e.role));
        let site = EventSite { group: self.st.group, tick: self.st.tick, coroutine: co as u32, sid, role };
        self.st.outbox.push(Event { site, kind });
    }

    /// Runs coroutine `co` for up to one fuel quantum. Returns the number of
    /// instructions that made progress and whether the quantum ended blocked.
    /// The current frame and its procedure's code are looked up once, and
    /// again only after an instruction that changed the frames (`call`, `ret`).
    pub fn run_quantum(&mut self, co: usize) -> (u64, bool) {
        let fuel = self.st.limits.fuel_per_quantum.max(1);
        let m = self.m;
        let mut frame = self.st.coroutines[co].top();
        let mut code = proc_code(m, frame.proc);
        let mut steps = 0;
        for _ in 0..fuel {
            match self.step(co, frame, code) {
                Flow::Block => return (steps, true),
                Flow::Yield | Flow::End => return (steps + 1, false),
                Flow::Jump(pc) => frame.pc = pc,
                _ => {
                    frame = self.st.coroutines[co].top();
                    code = proc_code(m, frame.proc);
                }
            }
            steps += 1;
        }
        (steps, false)
    }

    /// Executes the instruction of coroutine `co` at `frame` (its current
    /// frame; `code` is the frame's procedure's code), applying faults and
    /// session endings, and moves its program counter. Returns `Jump` with
    /// the new program counter when the instruction continues in the frame
    /// (`Next` or `Jump`), `Stay` when it changed the frames.
    fn step(&mut self, co: usize, frame: Frame, code: &'a [Instr]) -> Flow {
        let instr = code.get(frame.pc as usize);
        let flow = match instr {
            Some(instr) => self.exec(co, instr),
            None => Err(Fault::BadOperand { what: "program counter out of range" }.into()),
        };
        match flow {
            Ok(Flow::Next) => {
                let pc = frame.pc + 1;
                self.co(co).set_pc(pc);
                Flow::Jump(pc)
            }
            Ok(Flow::Yield) => {
                self.co(co).set_pc(frame.pc + 1);
                Flow::Yield
            }
            Ok(Flow::Jump(t)) => {
                self.co(co).set_pc(t);
                Flow::Jump(t)
            }
            Ok(f) => f,
            Err(Refusal::Fault(fault)) => {
                self.fault(co, frame, fault);
                Flow::End
            }
            Err(Refusal::SessionEnded(_) | Refusal::Revoked) => {
                let ep = self.blocking_endpoint(co, instr);
                self.withdraw_timeout(co, ep);
                self.emit(co, ep, EventKind::Halted);
                self.end(co);
                Flow::End
            }
        }
    }

    fn exec(&mut self, co: usize, instr: &'a Instr) -> Result<Flow, Refusal> {
        match instr {
            Instr::Nop => Ok(Flow::Next),
            Instr::Jmp { target } => Ok(Flow::Jump(*target)),
            Instr::JmpIf { cond, target } => {
                let taken =
                    matches!(self.co(co).reg(*cond)?, Value::Bool(true)) || int_nonzero(self.co(co).reg(*cond)?);
                Ok(if taken { Flow::Jump(*target) } else { Flow::Next })
            }
            Instr::Call { proc, args } => self.call(co, *proc, args),
            Instr::Ret => self.ret(co),
            Instr::Yield => Ok(Flow::Yield),
            Instr::Halt => {
                self.emit(co, None, EventKind::Halted);
                self.end(co);
                Ok(Flow::End)
            }
            Instr::Const { dst, k } => {
                let v = self.consts.get(*k as usize).ok_or(Fault::BadOperand { what: "constant out of range" })?;
                self.co(co).set(*dst, v.clone())?;
                Ok(Flow::Next)
            }
            Instr::Mov { dst, src } => {
                self.co(co).reg(*dst)?;
                let v = take_arg(self.co(co).reg_mut(*src)?);
                self.co(co).set(*dst, v)?;
                Ok(Flow::Next)
            }
            Instr::Add { dst, a, b } => self.arith(co, "add", *dst, *a, *b, |x, y| Value::Int(x.wrapping_add(y))),
            Instr::Sub { dst, a, b } => self.arith(co, "sub", *dst, *a, *b, |x, y| Value::Int(x.wrapping_sub(y))),
            Instr::Lt { dst, a, b } => self.arith(co, "lt", *dst, *a, *b, |x, y| Value::Bool(x < y)),
            Instr::Eq { dst, a, b } => {
                let c = self.co(co);
                let v = Value::Bool(c.reg(*a)? == c.reg(*b)?);
                c.set(*dst, v)?;
                Ok(Flow::Next)
            }
            Instr::Spawn { proc, args } => self.spawn(co, *proc, args),
            _ => self.exec_session(co, instr),
        }
    }

    fn arith(
        &mut self,
        co: usize,
        op: &'static str,
        dst: u16,
        a: u16,
        b: u16,
        f: fn(i64, i64) -> Value,
    ) -> Result<Flow, Refusal> {
        let c = self.co(co);
        let v = match (c.reg(a)?, c.reg(b)?) {
            (Value::Int(x), Value::Int(y)) => f(*x, *y),
            (x, y) => return Err(Fault::ArithmeticTypeError { op, a: x.kind(), b: y.kind() }.into()),
        };
        c.set(dst, v)?;
        Ok(Flow::Next)
    }

    fn reg_count(&self, proc: ProcId) -> Result<u16, Fault> {
        self.m.procs.get(proc as usize).map(|p| p.reg_count).ok_or(Fault::BadOperand { what: "procedure out of range" })
    }

    fn call(&mut self, co: usize, proc: ProcId, args: &[u16]) -> Result<Flow, Refusal> {
        let reg_count = self.reg_count(proc)?;
        let max_depth = self.st.limits.max_call_depth;
        let c = self.co(co);
        if c.frames.len() as u32 >= max_depth {
            return Err(Fault::CallDepthExceeded { depth: c.frames.len() as u32 + 1 }.into());
        }
        if args.len() > usize::from(reg_count) {
            return Err(Fault::BadOperand { what: "more arguments than callee registers" }.into());
        }
        let top = c.top();
        let base = top.base + top.len;
        c.regs.resize(base as usize + usize::from(reg_count), Value::Unit);
        for (i, &a) in args.iter().enumerate() {
            let v = take_arg(c.reg_mut(a)?);
            c.regs[base as usize + i] = v;
        }
        c.push_frame(Frame { proc, pc: 0, base, len: u32::from(reg_count) });
        Ok(Flow::Stay)
    }

    fn ret(&mut self, co: usize) -> Result<Flow, Refusal> {
        let m = self.m;
        let c = self.co(co);
        if c.frames.len() <= 1 {
            self.emit(co, None, EventKind::Halted);
            self.end(co);
            return Ok(Flow::End);
        }
        let callee = c.pop_frame().unwrap_or(Frame { proc: 0, pc: 0, base: 0, len: 0 });
        let caller = c.top();
        let Some(Instr::Call { args, .. }) =
            m.procs.get(caller.proc as usize).and_then(|p| p.code.get(caller.pc as usize))
        else {
            return Err(Fault::BadOperand { what: "ret to a frame not at a call" }.into());
        };
        for (i, &a) in args.iter().enumerate() {
            let v = std::mem::take(&mut c.regs[callee.base as usize + i]);
            if matches!(v, Value::Endpoint(_)) {
                c.set(a, v)?;
            }
        }
        c.regs.truncate(callee.base as usize);
        c.set_pc(caller.pc + 1);
        Ok(Flow::Stay)
    }

    fn spawn(&mut self, co: usize, proc: ProcId, args: &[u16]) -> Result<Flow, Refusal> {
        let reg_count = self.reg_count(proc)?;
        let max = self.st.limits.max_coroutines;
        if self.st.coroutines.len() >= max as usize {
            return Err(Fault::TooManyCoroutines { max }.into());
        }
        if args.len() > usize::from(reg_count) {
            return Err(Fault::BadOperand { what: "more arguments than spawned registers" }.into());
        }
        let new_id = self.st.coroutines.len() as u32;
        let mut child = Coroutine::new(proc, reg_count);
        for (i, &a) in args.iter().enumerate() {
            self.check_delegation(co, self.st.coroutines[co].reg(a)?)?;
            let v = take_arg(self.co(co).reg_mut(a)?);
            if let Value::Endpoint(ep) = v {
                self.st.store.set_owner(ep, new_id);
            }
            child.regs[i] = v;
        }
        self.st.coroutines.push(child);
        self.st.alive += 1;
        self.emit(co, None, EventKind::Spawned { proc });
        Ok(Flow::Next)
    }

    /// A coroutine leaving a `recv_timeout` whose timeout is active by
    /// another way than a message or the deadline (its session ended, or
    /// the receive faulted): the issued witness is withdrawn
    /// (`TimeoutWithdrawn`), so every `TimeoutIssued` is followed by exactly
    /// one `TimeoutWithdrawn` or `TimeoutExpired`.
    fn withdraw_timeout(&mut self, co: usize, at: Option<Endpoint>) {
        if let Some(w) = self.st.coroutines[co].wait.take() {
            self.emit(co, at, EventKind::TimeoutWithdrawn { witness: w.witness });
        }
    }

    /// Ends coroutine `co`.
    pub fn end(&mut self, co: usize) {
        let c = self.co(co);
        if !c.ended {
            c.ended = true;
            c.wait = None;
            self.st.alive -= 1;
        }
    }

    /// Fault handling: `FailureBranchEntered → Faulted`, the session (if the
    /// fault concerns one) becomes Faulted, then every other live session in
    /// which the coroutine owns an open endpoint (owner death, `lifecycle.rs`),
    /// and the coroutine ends.
    fn fault(&mut self, co: usize, frame: Frame, fault: Fault) {
        use canon_types::ErrorCode;
        if self.st.coroutines[co].wait.is_some() {
            let m = self.m;
            let instr = m.procs.get(frame.proc as usize).and_then(|p| p.code.get(frame.pc as usize));
            let at = self.blocking_endpoint(co, instr);
            self.withdraw_timeout(co, at);
        }
        let code = fault.code();
        let ep = fault.endpoint();
        self.emit(co, ep, EventKind::FailureBranchEntered { code });
        self.emit(co, ep, EventKind::Faulted { code });
        if let Some(ep) = ep.filter(|_| fault.faults_session())
            && self.st.store.finish(ep.sid, crate::store::SessionStatus::Faulted { code }).is_some()
        {
            let reason = crate::event::TerminalReason::Faulted { code };
            self.emit(co, Some(ep), EventKind::SessionTerminal { reason });
            self.emit_edge_histories(co, ep);
        }
        self.fault_owned_sessions(co, code);
        self.fault_orphaned_sessions(co, code);
        let tick = self.st.tick;
        self.st.faults.push(CoroutineFault { coroutine: co as u32, proc: frame.proc, pc: frame.pc, tick, fault });
        self.end(co);
    }
}

/// The code of procedure `proc` (empty if there is none: the step faults).
#[inline]
fn proc_code(m: &Module, proc: u32) -> &[Instr] {
    m.procs.get(proc as usize).map_or(&[], |p| &p.code[..])
}

/// Endpoints move (the source becomes `Unit`); other values are copied.
fn take_arg(slot: &mut Value) -> Value {
    if matches!(slot, Value::Endpoint(_)) { std::mem::take(slot) } else { slot.clone() }
}

fn int_nonzero(v: &Value) -> bool {
    matches!(v, Value::Int(i) if *i != 0)
}
