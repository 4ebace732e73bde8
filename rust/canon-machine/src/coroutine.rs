//! Coroutines: a call stack of frames over one flat register vector, reused
//! across calls so that neither calls nor the send/recv path allocate in the
//! steady state.

use canon_types::{Endpoint, Value};
use smallvec::{SmallVec, smallvec};

use crate::fault::Fault;

/// One activation of a procedure: its registers are `regs[base..base + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub proc: u32,
    pub pc: u32,
    pub base: u32,
    pub len: u32,
}

/// A pending `recv_timeout`: the instruction it belongs to and its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub depth: u32,
    pub pc: u32,
    pub deadline_tick: u64,
    /// The timeout witness issued when the wait began.
    pub witness: u64,
}

/// Frames held without a heap allocation (deeper call stacks spill once and
/// keep the allocation).
const INLINE_FRAMES: usize = 2;

/// Registers held without a heap allocation: a role procedure typically
/// needs an endpoint and a payload register or two.
const INLINE_REGS: usize = 4;

/// One coroutine of a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Coroutine {
    pub frames: SmallVec<[Frame; INLINE_FRAMES]>,
    pub regs: SmallVec<[Value; INLINE_REGS]>,
    /// The current frame's register base and count (a copy of the top
    /// frame's, kept so that register access does not look up the frame).
    base: u32,
    len: u32,
    pub ended: bool,
    /// Parked on an edge: blocked in `recv`/`offer` with nothing visible.
    /// Rounds skip it until the barrier (or its session's end) wakes it.
    pub parked: bool,
    pub wait: Option<Wait>,
    /// Host calls made so far (the `call_index` of the next one).
    pub host_calls: u64,
}

impl Coroutine {
    /// A coroutine about to run `proc` with `reg_count` registers.
    pub fn new(proc: u32, reg_count: u16) -> Self {
        let len = u32::from(reg_count);
        Coroutine {
            frames: smallvec![Frame { proc, pc: 0, base: 0, len }],
            regs: SmallVec::from_elem(Value::Unit, len as usize),
            base: 0,
            len,
            ended: false,
            parked: false,
            wait: None,
            host_calls: 0,
        }
    }

    /// The innermost frame. A live coroutine always has one.
    #[inline]
    pub fn top(&self) -> Frame {
        self.frames.last().copied().unwrap_or(Frame { proc: u32::MAX, pc: u32::MAX, base: 0, len: 0 })
    }

    /// Pushes a callee frame.
    #[inline]
    pub fn push_frame(&mut self, f: Frame) {
        self.frames.push(f);
        (self.base, self.len) = (f.base, f.len);
    }

    /// Pops the innermost frame.
    #[inline]
    pub fn pop_frame(&mut self) -> Option<Frame> {
        let f = self.frames.pop();
        let top = self.top();
        (self.base, self.len) = (top.base, top.len);
        f
    }

    #[inline]
    fn slot(&self, r: u16) -> Result<usize, Fault> {
        if u32::from(r) < self.len {
            Ok(self.base as usize + r as usize)
        } else {
            Err(Fault::BadOperand { what: "register out of range" })
        }
    }

    /// Register `r` of the current frame.
    #[inline]
    pub fn reg(&self, r: u16) -> Result<&Value, Fault> {
        let i = self.slot(r)?;
        self.regs.get(i).ok_or(Fault::BadOperand { what: "register out of range" })
    }

    /// Mutable register `r` of the current frame.
    #[inline]
    pub fn reg_mut(&mut self, r: u16) -> Result<&mut Value, Fault> {
        let i = self.slot(r)?;
        self.regs.get_mut(i).ok_or(Fault::BadOperand { what: "register out of range" })
    }

    /// Writes register `r`.
    #[inline]
    pub fn set(&mut self, r: u16, v: Value) -> Result<(), Fault> {
        *self.reg_mut(r)? = v;
        Ok(())
    }

    /// The endpoint held by register `r`.
    #[inline]
    pub fn endpoint(&self, r: u16) -> Result<Endpoint, Fault> {
        match self.reg(r)? {
            Value::Endpoint(ep) => Ok(*ep),
            other => Err(Fault::NotAnEndpoint { reg: r, found: other.kind() }),
        }
    }

    /// Sets the current frame's program counter.
    #[inline]
    pub fn set_pc(&mut self, pc: u32) {
        if let Some(f) = self.frames.last_mut() {
            f.pc = pc;
        }
    }
}
