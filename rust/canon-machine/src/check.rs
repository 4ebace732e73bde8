//! `check` and `consume`: a choreography's `check Effect.op(..)` lowered to
//! the session's readiness witnesses (docs/ownership.md, "Readiness checks
//! in choreographies").
//!
//! `check` asks the host to perform the check ([`Host::check_readiness`], recorded as
//! the `HostAnswer` of an `invoke` of the check, `Bool`); `true` issues a readiness
//! witness through the session's host-side owner, exactly as
//! `Machine::issue_readiness` would for the current owner handle. `consume`
//! is the protected step: it consumes that witness, single use, bound to the
//! owner generation that issued it. Both go through [`ownership::apply`], so
//! the records, refusals and audit entries are those of the host API; they
//! are sited at the coroutine (not `host`), which tells re-execution that
//! they are outputs of the coroutine's step, not host inputs to apply again.
//!
//! [`Host::check_readiness`]: crate::host::Host::check_readiness

use std::sync::Arc;

use canon_types::{ErrorCode, SymId, Value};

use crate::actions::Refusal;
use crate::event::{EventKind, HostPoint, OwnershipRecord};
use crate::fault::Fault;
use crate::ownership::{self, Sink};
use crate::step::{Exec, Flow};

impl Exec<'_> {
    /// `check dst, ep, effect, arg`.
    pub(crate) fn check(&mut self, co: usize, dst: u16, ep: u16, effect: SymId, arg: u16) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        self.co(co).reg(dst)?;
        let arg = self.co(co).reg(arg)?.clone();
        self.st.store.live_body(ep, co as u32)?;
        self.check_effect(co, effect)?;
        let name: Arc<str> = Arc::from(self.m.sym(effect));
        // Authority first: no effect is performed for a check the session's
        // owner could not attest.
        let (owner, generation) = match ownership::issuer(&self.st.store, ep.sid, &name) {
            Ok(o) => o,
            Err(_) => {
                let presented =
                    self.st.store.ownership.get(&ep.sid).map_or_else(
                        || (Arc::from(""), 0),
                        |o| (Arc::from(o.owner.label.as_str()), o.owner.generation),
                    );
                let op = OwnershipRecord::IssueReadiness { owner: presented.0, generation: presented.1, check: name };
                return Err(self.refused(co, ep, op));
            }
        };
        let ctx = self.ctx(co, Some(ep), None, None);
        let ok = self.host.check_readiness(&ctx, effect, &arg);
        self.co(co).host_calls = self.co(co).host_calls.saturating_add(1);
        self.emit(co, Some(ep), EventKind::HostAnswer { point: HostPoint::Invoke { effect }, answer: Value::Bool(ok) });
        if !ok {
            return Err(Fault::CheckFailed { ep, effect }.into());
        }
        let op = OwnershipRecord::IssueReadiness { owner, generation, check: name };
        match self.apply_at(co, ep, op) {
            Ok(applied) => {
                let witness = i64::try_from(applied.number()).unwrap_or(i64::MAX);
                self.co(co).set(dst, Value::Int(witness))?;
                Ok(Flow::Next)
            }
            Err(code) => Err(Fault::CheckRefused { ep, code }.into()),
        }
    }

    /// `consume ep, witness`.
    pub(crate) fn consume_witness(&mut self, co: usize, ep: u16, witness: u16) -> Result<Flow, Refusal> {
        let ep = self.co(co).endpoint(ep)?;
        // A witness id is a non-negative `Int`; anything else was never issued.
        let id = match self.co(co).reg(witness)? {
            Value::Int(n) => u64::try_from(*n).unwrap_or(u64::MAX),
            _ => u64::MAX,
        };
        self.st.store.live_body(ep, co as u32)?;
        let (generation, check) = ownership::presented_consume(&self.st.store, ep.sid, id);
        let op = OwnershipRecord::Consume { witness: id, generation, check };
        match self.apply_at(co, ep, op) {
            Ok(_) => Ok(Flow::Next),
            Err(code) => Err(Fault::CheckRefused { ep, code }.into()),
        }
    }

    /// Records `op` (which must be refused: the check found it so) and the
    /// refusal, and returns the coroutine's fault.
    fn refused(&mut self, co: usize, ep: canon_types::Endpoint, op: OwnershipRecord) -> Refusal {
        match self.apply_at(co, ep, op) {
            Err(code) => Fault::CheckRefused { ep, code }.into(),
            // Unreachable by `issuer`'s contract; fail closed all the same.
            Ok(_) => {
                Fault::CheckRefused { ep, code: ownership::OwnershipError::Unclaimed { sid: ep.sid }.code() }.into()
            }
        }
    }

    /// Applies ownership operation `op` to `ep`'s session at coroutine
    /// `co`'s site; a refusal is recorded and returned as its code.
    fn apply_at(
        &mut self,
        co: usize,
        ep: canon_types::Endpoint,
        op: OwnershipRecord,
    ) -> Result<ownership::Applied, u16> {
        let mut sink = Sink {
            group: self.st.group,
            tick: self.st.tick,
            out: &mut self.st.outbox,
            next_witness: &mut self.st.next_witness,
            coroutine: co as u32,
            role: ep.role,
        };
        ownership::apply(&mut self.st.store, &mut sink, ep.sid, op).map_err(|e| e.code())
    }
}
