//! The host: the only way the machine reaches the outside world, at four
//! named points. Every answer is recorded as a `HostAnswer` event.

use canon_bytecode::Module;
use canon_types::{SymId, Value};

/// Where a host call happens. Everything a deterministic handler may depend
/// on is here; nothing here depends on scheduling beyond the group's rounds.
#[derive(Debug, Clone, Copy)]
pub struct HostCtx<'a> {
    /// The group (instance) making the call.
    pub group: u32,
    /// The group's current tick.
    pub tick: u64,
    /// The coroutine making the call.
    pub coroutine: u32,
    /// Session id, or `EventSite::NO_SID` for `invoke` outside a session.
    pub sid: u64,
    /// Role index, or `EventSite::NO_ROLE`.
    pub role: u16,
    /// The role's name (`SymId::default()` without a session).
    pub role_name: SymId,
    /// The peer role's name at this point of the local type, if any.
    pub peer: Option<SymId>,
    /// The directed edge `(from, to)` (role indices) the interaction is on:
    /// `produce` and `choose` the edge to the peer (when the choice names
    /// one), `accept` the edge from the sender; `None` for `invoke`.
    pub edge: Option<(u16, u16)>,
    /// The handler bound to that edge (`open`'s binding of its sending
    /// role; `SymId::default()` without an edge).
    pub handler: SymId,
    /// The program, for names and payload type names.
    pub module: &'a Module,
    /// Payload type names of the message at hand (`produce`: the one to be
    /// sent; `accept`: the one delivered), in order; empty elsewhere.
    pub payload: &'a [SymId],
    /// How many host calls this coroutine made before this one.
    pub call_index: u64,
}

/// A host handler. Implementations must be deterministic functions of their
/// inputs (and their own seeded state) for replays to be meaningful.
///
/// Only [`Host::produce`] must be written; the others default to accepting
/// every message, taking the first branch of a choice and answering an
/// effect with its argument.
pub trait Host {
    /// The payload to send with `label`.
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value;
    /// Whether to accept a delivered message; `false` faults the receiver.
    /// Default: accept.
    fn accept(&mut self, ctx: &HostCtx<'_>, label: SymId, payload: &Value) -> bool {
        let _ = (ctx, label, payload);
        true
    }
    /// The index into `labels` of the branch to take. Default: the first.
    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        let _ = (ctx, labels);
        0
    }
    /// Performs effect `effect` with argument `arg`. Default: the argument.
    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, arg: &Value) -> Value {
        let _ = (ctx, effect);
        arg.clone()
    }
    /// Performs readiness check `check` (`Effect.op`) with argument `arg`
    /// for the session in `ctx`: `true` if it succeeded (a readiness witness
    /// is then issued). Recorded as the `HostAnswer` of an `invoke` of
    /// `check` with answer `Bool`. Default: [`Host::invoke`] answered
    /// `Bool(true)` (so a host replaying recorded answers needs nothing more).
    fn check_readiness(&mut self, ctx: &HostCtx<'_>, check: SymId, arg: &Value) -> bool {
        self.invoke(ctx, check, arg) == Value::Bool(true)
    }

    /// The host's own state, saved beside a machine checkpoint (the bytes
    /// are the host's; the checkpoint stores them as given). The default
    /// refuses: a host that keeps state it cannot save must not be
    /// checkpointed, or the resumed run would answer differently.
    fn save_state(&self) -> Result<Vec<u8>, HostStateError> {
        Err(HostStateError::Unsupported)
    }

    /// Restores what [`Host::save_state`] saved, on a fresh host made for
    /// the same group. The default refuses.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), HostStateError> {
        let _ = state;
        Err(HostStateError::Unsupported)
    }
}

/// Why a host's state was not saved or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostStateError {
    /// The host does not save or restore state (the default).
    #[error("the host cannot save or restore its state")]
    Unsupported,
    /// The host refused the saved state it was given.
    #[error("the host refused its saved state: {reason}")]
    Invalid {
        /// Why, as the host states it.
        reason: String,
    },
}

/// A host that produces `Unit`, accepts everything, always picks the first
/// branch and answers every effect with its argument. For tests and benches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullHost;

impl Host for NullHost {
    fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value {
        Value::Unit
    }
    fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        true
    }
    fn choose(&mut self, _: &HostCtx<'_>, _: &[SymId]) -> usize {
        0
    }
    fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, arg: &Value) -> Value {
        arg.clone()
    }
    /// Stateless: nothing to save.
    fn save_state(&self) -> Result<Vec<u8>, HostStateError> {
        Ok(Vec::new())
    }
    fn restore_state(&mut self, _: &[u8]) -> Result<(), HostStateError> {
        Ok(())
    }
}
