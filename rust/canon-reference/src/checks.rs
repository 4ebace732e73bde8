//! `check` and `consume` in the reference interpreter. The reference runs
//! groups without host-side owners, so every session is unclaimed: a `check`
//! that may act is refused before the host is asked, and every `consume` is
//! refused, each with its ownership record and the refusal at the
//! coroutine, then the coroutine faults `CheckRefused` at its endpoint
//! (bytecode-spec/format.md, docs/ownership.md).

use std::sync::Arc;

use canon_bytecode::Reg;
use canon_machine::EventKind;
use canon_machine::event::OwnershipRecord;
use canon_types::{Endpoint, SymId, Value};

use crate::{Exec, Fault, Reference, SessionState, Step, code};

impl Reference<'_> {
    /// `check dst, ep, effect, arg`.
    pub(crate) fn check(&mut self, c: u32, ep: Reg, effect: SymId) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        if let Some(late) = self.late_endpoint(c) {
            return Err(Fault { code: code::LATE_EFFECT, at: Some(late) });
        }
        let check: Arc<str> = Arc::from(self.program.module().sym(effect));
        let none: Arc<str> = Arc::from("");
        let op = OwnershipRecord::IssueReadiness { owner: none.clone(), generation: 0, check };
        self.emit(c, Some(e), EventKind::Ownership { record: op });
        let refusal = OwnershipRecord::Rejected { code: code::UNCLAIMED, owner: none, generation: 0 };
        self.emit(c, Some(e), EventKind::Ownership { record: refusal });
        Err(Fault { code: code::CHECK_REFUSED, at: Some(e) })
    }

    /// `consume ep, witness`.
    pub(crate) fn consume(&mut self, c: u32, ep: Reg, witness: Reg) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        let id = match self.reg(c, witness) {
            Value::Int(n) => u64::try_from(n).unwrap_or(u64::MAX),
            _ => u64::MAX,
        };
        let op = OwnershipRecord::Consume { witness: id, generation: 0, check: Arc::from("") };
        self.emit(c, Some(e), EventKind::Ownership { record: op });
        let refusal = OwnershipRecord::WitnessRejected { witness: id, code: code::UNCLAIMED };
        self.emit(c, Some(e), EventKind::Ownership { record: refusal });
        Err(Fault { code: code::CHECK_REFUSED, at: Some(e) })
    }

    /// A late effect: an endpoint the coroutine holds whose session was
    /// cancelled, aborted or faulted, or whose role was revoked (ownership.md).
    pub(crate) fn late_endpoint(&self, c: u32) -> Option<Endpoint> {
        self.coroutines[c as usize].frames.iter().flat_map(|f| f.regs.iter()).find_map(|v| match v {
            Value::Endpoint(ep)
                if self.session(ep.sid).is_some_and(|s| {
                    matches!(s.state, SessionState::Cancelled | SessionState::Aborted | SessionState::Faulted)
                        || s.revoked.contains(&ep.role)
                }) =>
            {
                Some(*ep)
            }
            _ => None,
        })
    }
}
