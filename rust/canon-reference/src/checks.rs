//! `check` and `consume` in the reference interpreter (bytecode-spec/format.md,
//! opcodes 0x33 and 0x34 and their records; execution.md, "Readiness
//! checks"; docs/ownership.md).
//!
//! A run may claim its group's first session (sid `group << 32`) for an
//! owner label before it starts ([`Reference::with_owner`]): the claim is
//! recorded as the host operation `Claimed` right after the entry's
//! `Spawned`. Every other session is unclaimed. The reference models no
//! other host ownership operation (transfers, attenuation, owner death), so
//! an owner keeps generation 0 and the full scope, and no witness is ever
//! invalidated: a `check` on a claimed live session asks the host and, on
//! `true`, issues the session's next readiness witness; `consume` takes an
//! outstanding witness once. Refusals (unclaimed 4007, ended 4018, forged
//! 4015, reused 4016) are recorded and fault the coroutine `CheckRefused`
//! (3039) at its endpoint; a host answer other than `true` faults it
//! `CheckFailed` (3038).

use std::collections::BTreeMap;
use std::sync::Arc;

use canon_bytecode::Reg;
use canon_machine::event::OwnershipRecord;
use canon_machine::{Event, EventKind, EventSite, HostCtx, HostPoint};
use canon_types::{Endpoint, SymId, Value};

use crate::{Exec, Fault, Reference, SessionState, Step, code};

/// The host-side ownership of one claimed session.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    label: Arc<str>,
    /// Always 0 here: nothing changes an owner's generation in the reference.
    generation: u64,
    /// Outstanding readiness witnesses: id and the check each attests.
    issued: Vec<(u64, Arc<str>)>,
    /// Consumed witness ids.
    consumed: Vec<u64>,
    /// Witnesses issued so far: the next id (ids count per session from 0).
    witnesses: u64,
}

/// Claims by session id.
pub(crate) type Claims = BTreeMap<u64, Claim>;

/// Ownership error codes (4xxx, docs/errors.md) the reference can meet.
mod refusal {
    pub const FORGED: u16 = 4015;
    pub const REUSED: u16 = 4016;
    pub const ENDED: u16 = 4018;
}

impl Reference<'_> {
    /// Claims the group's first session for `owner` before the run starts
    /// (what `Machine::load_choreography_owned` and `canon run --owner` do).
    pub fn with_owner(mut self, owner: &str) -> Self {
        let sid = u64::from(self.group) << 32;
        let claim =
            Claim { label: Arc::from(owner), generation: 0, issued: Vec::new(), consumed: Vec::new(), witnesses: 0 };
        self.claims.insert(sid, claim);
        self
    }

    /// Records the claims made before the run, each as a host operation at
    /// tick 0 (after the entry's `Spawned`).
    pub(crate) fn record_claims(&mut self) {
        let records: Vec<(u64, Arc<str>)> = self.claims.iter().map(|(&sid, c)| (sid, c.label.clone())).collect();
        for (sid, owner) in records {
            let site = EventSite { group: self.group, tick: 0, coroutine: u32::MAX, sid, role: EventSite::NO_ROLE };
            let record = OwnershipRecord::Claimed { owner, generation: 0 };
            self.events.push(Event { site, kind: EventKind::Ownership { record } });
        }
    }

    /// Whether the ownership of session `sid` may act: claimed and the
    /// session not ended (a claim may precede the `open`). The refusal code
    /// otherwise.
    fn live_claim(&self, sid: u64) -> Result<&Claim, u16> {
        let claim = self.claims.get(&sid).ok_or(code::UNCLAIMED)?;
        if self.session(sid).is_some_and(|s| s.state != SessionState::Live) {
            return Err(refusal::ENDED);
        }
        Ok(claim)
    }

    fn record(&mut self, c: u32, e: Endpoint, record: OwnershipRecord) {
        self.emit(c, Some(e), EventKind::Ownership { record });
    }

    /// `check dst, ep, effect, arg`.
    pub(crate) fn check(&mut self, c: u32, dst: Reg, ep: Reg, effect: SymId, arg: Reg) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        if let Some(late) = self.late_endpoint(c) {
            return Err(Fault { code: code::LATE_EFFECT, at: Some(late) });
        }
        let check: Arc<str> = Arc::from(self.program.module().sym(effect));
        // Authority first: the host is asked only for a check the owner could attest.
        let (owner, generation) = match self.live_claim(e.sid) {
            Ok(claim) => (claim.label.clone(), claim.generation),
            Err(refused) => {
                let (owner, generation) =
                    self.claims.get(&e.sid).map_or((Arc::from(""), 0), |cl| (cl.label.clone(), cl.generation));
                self.record(c, e, OwnershipRecord::IssueReadiness { owner: owner.clone(), generation, check });
                self.record(c, e, OwnershipRecord::Rejected { code: refused, owner, generation });
                return Err(Fault { code: code::CHECK_REFUSED, at: Some(e) });
            }
        };
        let a = self.reg(c, arg);
        let ready = self.ask_check(c, e, effect, &a);
        self.emit(
            c,
            Some(e),
            EventKind::HostAnswer { point: HostPoint::Invoke { effect }, answer: Value::Bool(ready) },
        );
        if !ready {
            return Err(Fault { code: code::CHECK_FAILED, at: Some(e) });
        }
        self.record(c, e, OwnershipRecord::IssueReadiness { owner, generation, check: check.clone() });
        let claim = self.claims.get_mut(&e.sid).expect("a live claim");
        let witness = claim.witnesses;
        claim.witnesses += 1;
        claim.issued.push((witness, check.clone()));
        self.record(c, e, OwnershipRecord::WitnessIssued { witness, generation, check });
        self.set(c, dst, Value::Int(i64::try_from(witness).unwrap_or(i64::MAX)));
        self.advance(c);
        Ok(Step::Next)
    }

    /// Asks the host to perform readiness check `effect` for `e`'s session:
    /// the context names the session, the role and its name (no peer, edge
    /// or handler), and the call counts as one host call.
    fn ask_check(&mut self, c: u32, e: Endpoint, effect: SymId, arg: &Value) -> bool {
        let role_name = self.session(e.sid).expect("checked session").roles[usize::from(e.role)];
        let call_index = self.coroutines[c as usize].host_calls;
        self.coroutines[c as usize].host_calls += 1;
        let ctx = HostCtx {
            group: self.group,
            tick: self.tick,
            coroutine: c,
            sid: e.sid,
            role: e.role,
            role_name,
            peer: None,
            edge: None,
            handler: SymId::default(),
            module: self.program.module(),
            payload: &[],
            receivers: &[],
            call_index,
        };
        self.host.check_readiness(&ctx, effect, arg)
    }

    /// `consume ep, witness`.
    pub(crate) fn consume(&mut self, c: u32, ep: Reg, witness: Reg) -> Exec<Step> {
        let Some(e) = self.endpoint(c, ep)? else { return self.quiet_end(c, ep) };
        // A witness id is a non-negative `Int`; anything else was never issued.
        let id = match self.reg(c, witness) {
            Value::Int(n) => u64::try_from(n).unwrap_or(u64::MAX),
            _ => u64::MAX,
        };
        // Presented: the current generation, and the check the witness was
        // issued for ("" if it is not outstanding).
        let (generation, check) = match self.claims.get(&e.sid) {
            Some(cl) => {
                let check = cl.issued.iter().find(|(w, _)| *w == id).map_or_else(|| Arc::from(""), |(_, k)| k.clone());
                (cl.generation, check)
            }
            None => (0, Arc::from("")),
        };
        self.record(c, e, OwnershipRecord::Consume { witness: id, generation, check });
        let outcome = match self.live_claim(e.sid) {
            Err(refused) => Err(refused),
            Ok(cl) => match cl.issued.iter().position(|(w, _)| *w == id) {
                Some(i) => Ok(i),
                None if cl.consumed.contains(&id) => Err(refusal::REUSED),
                None => Err(refusal::FORGED),
            },
        };
        match outcome {
            Ok(i) => {
                let claim = self.claims.get_mut(&e.sid).expect("a live claim");
                claim.issued.remove(i);
                claim.consumed.push(id);
                self.advance(c);
                Ok(Step::Next)
            }
            Err(code) => {
                self.record(c, e, OwnershipRecord::WitnessRejected { witness: id, code });
                Err(Fault { code: code::CHECK_REFUSED, at: Some(e) })
            }
        }
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
