//! The simulator's host: the seeded default host, except that at a few
//! call positions (a pure function of the seed and the call's position, so
//! re-execution and every runner see the same answers) it misbehaves the way
//! a faulty handler does. Every such answer is recorded like any other, and
//! the machine must turn it into a typed fault.

use std::sync::Arc;

use canon_machine::{Host, HostCtx, HostStateError};
use canon_runtime::SeededHost;
use canon_types::{Endpoint, SymId, Value};

use crate::faults::{FaultKind, FaultSet};
use crate::rng::mix;

/// One in this many host calls of an enabled kind misbehaves.
const HOST_FAULT_RATE: u64 = 12;

/// One in this many host calls of an armed host panics.
const HOST_PANIC_RATE: u64 = 40;

/// The message of a planned handler panic (anything else is a bug).
pub const PLANNED_PANIC: &str = "canon-sim: planned handler panic";

/// The seeded host with handler faults from `faults`.
#[derive(Debug, Clone, Copy)]
pub struct SimHost {
    seed: u64,
    faults: FaultSet,
    /// Whether the host panics at its planned positions (`FaultKind::Panic`):
    /// a recovered run continues with the host disarmed, which otherwise
    /// answers exactly as the armed one.
    armed: bool,
    inner: SeededHost,
}

impl SimHost {
    /// A host answering as `SeededHost` does for `seed`, misbehaving as
    /// `faults` allows (a handler panic when it contains `Panic`).
    pub fn new(seed: u64, faults: FaultSet) -> SimHost {
        SimHost { seed, faults, armed: faults.contains(FaultKind::Panic), inner: SeededHost::new(seed) }
    }

    /// The same host, not panicking.
    pub fn disarmed(self) -> SimHost {
        SimHost { armed: false, ..self }
    }

    /// Panics if the call at `ctx` is a planned panic of an armed host.
    fn maybe_panic(&self, ctx: &HostCtx<'_>) {
        if !self.armed {
            return;
        }
        let x = mix(self.seed ^ mix(u64::from(ctx.group) << 32 | u64::from(ctx.coroutine)) ^ mix(ctx.call_index));
        if mix(x ^ 0x0070_616e_6963).is_multiple_of(HOST_PANIC_RATE) {
            std::panic::panic_any(PLANNED_PANIC);
        }
    }

    /// Whether the call at `ctx` answers with fault `kind`.
    fn misbehaves(&self, ctx: &HostCtx<'_>, kind: FaultKind) -> bool {
        if !self.faults.contains(kind) {
            return false;
        }
        let x = mix(self.seed ^ mix(u64::from(ctx.group) << 32 | u64::from(ctx.coroutine)) ^ mix(ctx.call_index));
        mix(x ^ kind as u64).is_multiple_of(HOST_FAULT_RATE)
    }
}

impl Host for SimHost {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        self.maybe_panic(ctx);
        if self.misbehaves(ctx, FaultKind::BadValue) {
            // Bytes where the protocol declares nothing, or another kind, or
            // a tuple of the wrong arity: a payload check refuses it.
            return match ctx.payload {
                [] => Value::Bytes(Arc::from(&b"x"[..])),
                _ => Value::Tuple(Arc::from(vec![Value::Unit; ctx.payload.len() + 1])),
            };
        }
        self.inner.produce(ctx, label)
    }

    fn accept(&mut self, ctx: &HostCtx<'_>, label: SymId, payload: &Value) -> bool {
        self.maybe_panic(ctx);
        !self.misbehaves(ctx, FaultKind::Reject) && self.inner.accept(ctx, label, payload)
    }

    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        self.maybe_panic(ctx);
        if self.misbehaves(ctx, FaultKind::BadChoice) {
            return labels.len();
        }
        self.inner.choose(ctx, labels)
    }

    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, arg: &Value) -> Value {
        self.maybe_panic(ctx);
        if self.misbehaves(ctx, FaultKind::Forge) {
            // An endpoint value from the host: refused (3033) however it is used.
            let sid = if ctx.sid == canon_machine::EventSite::NO_SID { u64::from(ctx.group) << 32 } else { ctx.sid };
            return Value::Endpoint(Endpoint { sid, role: 0 });
        }
        self.inner.invoke(ctx, effect, arg)
    }

    fn check_readiness(&mut self, ctx: &HostCtx<'_>, check: SymId, arg: &Value) -> bool {
        self.maybe_panic(ctx);
        self.inner.check_readiness(ctx, check, arg)
    }

    /// Answers are functions of the seed and the call's position: the seed
    /// is the whole state (arming is the environment's, not saved).
    fn save_state(&self) -> Result<Vec<u8>, HostStateError> {
        Ok(self.seed.to_le_bytes().to_vec())
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), HostStateError> {
        match state == self.seed.to_le_bytes() {
            true => Ok(()),
            false => Err(HostStateError::Invalid { reason: "saved under another host seed".into() }),
        }
    }
}
