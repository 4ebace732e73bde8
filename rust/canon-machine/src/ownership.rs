//! Host-side session ownership (seed 003): who may drive session-local host
//! mutation, how ownership moves (staged transfers with receipts), how it
//! narrows (fragment scopes), the readiness witnesses an owner issues, and
//! how ownership failures end a session.
//!
//! The state is per session ([`SessionOwnership`], kept in the session store
//! by session id, so a claim may precede the session's `open`). Every
//! operation is an [`OwnershipRecord`] *input*: `apply` checks it against
//! the state, changes the state, and emits the input followed by its
//! outputs (a refusal, an issued receipt or witness, invalidated witnesses,
//! a semantic handoff, a terminal ownership reason, the session's terminal
//! events). Re-execution applies the recorded inputs again at their ticks and
//! reproduces the outputs. Rules (docs/ownership.md):
//!
//! - a session has at most one current owner (label, generation, scope) and
//!   at most one pending transfer receipt;
//! - the generation increments on a committed transfer and on attenuation;
//!   a handle of another generation or label fails closed (`StaleOwner`),
//!   and outstanding readiness witnesses of the old generation are invalidated;
//! - a readiness witness is single-use and bound to the generation that
//!   issued it: a forged, reused or stale one is refused with an audit record;
//! - rollback is claim-specific: it clears this session's pending receipt only;
//! - owner death faults the session (`OwnerDied`, reason "ownership owner
//!   `…` died: …"), an abandoned transfer cancels it, a failed commit faults
//!   it (`TransferCommitFailed`, reason "ownership transfer commit failed: …").

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, EventSite, OwnershipRecord, TerminalReason};
use crate::store::{SessionStatus, SessionStore};

/// What an owner may do: the whole session, or a fragment of it (a set of
/// roles, or a set of operations). A fragment scope grants no host-side
/// mutation of the session (keys, injections).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Every interaction of the session.
    Full,
    /// Only these roles' interactions.
    Roles(Vec<String>),
    /// Only these operations (readiness checks may be issued only for them).
    Operations(Vec<String>),
}

impl Scope {
    /// Whether `self` is no wider than `wider`.
    pub fn within(&self, wider: &Scope) -> bool {
        match (self, wider) {
            (_, Scope::Full) => true,
            (Scope::Roles(a), Scope::Roles(b)) | (Scope::Operations(a), Scope::Operations(b)) => {
                a.iter().all(|x| b.contains(x))
            }
            _ => false,
        }
    }

    /// Whether an owner with this scope may issue a readiness witness for `check`.
    pub fn allows_check(&self, check: &str) -> bool {
        match self {
            Scope::Operations(ops) => ops.iter().any(|o| o == check),
            Scope::Full | Scope::Roles(_) => true,
        }
    }
}

/// The live owner capability of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerCap {
    /// The owner's label.
    pub label: String,
    /// The owner's generation; every transfer or attenuation increments it.
    pub generation: u64,
    /// The fragment of the session the owner may act on.
    pub scope: Scope,
}

/// A staged transfer: it must be committed, rolled back, abandoned or fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTransfer {
    /// The receipt id, unique within the session.
    pub receipt: u64,
    /// The owner the session is handed to on commit.
    pub to: String,
}

/// An issued readiness witness not consumed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedWitness {
    /// The witness id, unique within the session.
    pub id: u64,
    /// The owner generation it is bound to.
    pub generation: u64,
    /// The readiness check it attests.
    pub check: String,
}

/// The ownership state of one session (seed 003's ownership elements).
/// Timeout and cancellation witnesses are in the session's
/// [`crate::lifecycle::Lifecycle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOwnership {
    /// The live owner capability.
    pub owner: OwnerCap,
    /// At most one pending transfer per claim.
    pub pending: Option<PendingTransfer>,
    /// Readiness witnesses issued and not yet consumed or invalidated.
    pub issued: Vec<IssuedWitness>,
    /// Readiness witness ids consumed, in order.
    pub consumed: Vec<u64>,
    /// Readiness witness ids invalidated by a generation change, in order.
    pub invalidated: Vec<u64>,
    /// Why ownership ended the session (owner death, abandoned transfer,
    /// failed commit); `None` while it did not.
    pub terminal: Option<String>,
    /// Receipts issued so far (the next receipt id).
    pub receipts: u64,
    /// Readiness witnesses issued so far (the next witness id).
    pub witnesses: u64,
}

impl SessionOwnership {
    fn new(label: &str) -> Self {
        SessionOwnership {
            owner: OwnerCap { label: label.to_owned(), generation: 0, scope: Scope::Full },
            pending: None,
            issued: Vec::new(),
            consumed: Vec::new(),
            invalidated: Vec::new(),
            terminal: None,
            receipts: 0,
            witnesses: 0,
        }
    }
}

/// Why an ownership operation was refused (4xxx). Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipError {
    /// An owner handle of an old generation or another owner was used.
    #[error(
        "stale owner for session {sid:#x}: `{label}` generation {presented}, current is `{current}` generation {generation}"
    )]
    StaleOwner {
        /// The session id.
        sid: u64,
        /// The owner label presented.
        label: String,
        /// The generation presented.
        presented: u64,
        /// The session's current owner label.
        current: String,
        /// The current owner generation.
        generation: u64,
    },
    /// The session has no host-side owner.
    #[error("session {sid:#x} has no owner")]
    Unclaimed {
        /// The session id.
        sid: u64,
    },
    /// The session already has an owner.
    #[error("session {sid:#x} is already claimed")]
    AlreadyClaimed {
        /// The session id.
        sid: u64,
    },
    /// A transfer is already staged for the session (one per claim).
    #[error("session {sid:#x} already has a pending transfer (receipt {receipt}): commit or roll it back first")]
    TransferPending {
        /// The session id.
        sid: u64,
        /// The receipt id.
        receipt: u64,
    },
    /// The receipt is not the session's pending transfer.
    #[error("receipt {receipt} is not the pending transfer of session {sid:#x}")]
    UnknownReceipt {
        /// The session id.
        sid: u64,
        /// The receipt id.
        receipt: u64,
    },
    /// An attenuation asked for a scope outside the owner's.
    #[error("scope {requested:?} is not within the owner's scope {current:?}")]
    ScopeTooWide {
        /// The scope asked for.
        requested: Scope,
        /// The owner's scope.
        current: Scope,
    },
    /// The owner's fragment scope does not allow the operation.
    #[error("the owner's scope {scope:?} does not allow {what}")]
    ScopeTooNarrow {
        /// The owner's scope.
        scope: Scope,
        /// The operation refused.
        what: String,
    },
    /// A readiness witness that was never issued as presented.
    #[error("readiness witness {witness} of session {sid:#x} was never issued as presented")]
    ForgedWitness {
        /// The session id.
        sid: u64,
        /// The readiness witness id presented.
        witness: u64,
    },
    /// A readiness witness consumed twice.
    #[error("readiness witness {witness} of session {sid:#x} was already consumed")]
    ReusedWitness {
        /// The session id.
        sid: u64,
        /// The readiness witness id presented.
        witness: u64,
    },
    /// A readiness witness of an old owner generation.
    #[error("readiness witness {witness} of session {sid:#x} belongs to an old owner generation")]
    StaleWitness {
        /// The session id.
        sid: u64,
        /// The readiness witness id presented.
        witness: u64,
    },
    /// The session has ended: its ownership no longer changes.
    #[error("session {sid:#x} has ended: its ownership can no longer change")]
    SessionEnded {
        /// The session id.
        sid: u64,
    },
    /// The session is not open yet: it cannot be ended.
    #[error("session {sid:#x} is not open yet: it cannot be ended")]
    NotOpen {
        /// The session id.
        sid: u64,
    },
    /// The session does not belong to the instance.
    #[error("session {sid:#x} does not belong to group {group}")]
    ForeignSession {
        /// The session id.
        sid: u64,
        /// The group (instance) asked about.
        group: u32,
    },
}

canon_types::error_codes! {
    /// Stable codes of refused ownership operations: 4xxx (ownership and
    /// authority), shared with `canon_runtime::LOAD_CODES` and
    /// [`OWNERSHIP_FAULT_CODES`].
    pub OWNERSHIP_CODES for OwnershipError {
        StaleOwner = 4005: "an owner handle of an old generation or another owner was used",
        Unclaimed = 4007: "the session has no host-side owner",
        AlreadyClaimed = 4008: "the session already has an owner",
        TransferPending = 4009: "a transfer is already staged for the session (one per claim)",
        UnknownReceipt = 4010: "the receipt is not the session's pending transfer",
        ScopeTooWide = 4013: "an attenuation asked for a scope outside the owner's",
        ScopeTooNarrow = 4014: "the owner's fragment scope does not allow the operation",
        ForgedWitness = 4015: "a readiness witness that was never issued as presented",
        ReusedWitness = 4016: "a readiness witness consumed twice",
        StaleWitness = 4017: "a readiness witness of an old owner generation",
        SessionEnded = 4018: "the session has ended: its ownership no longer changes",
        NotOpen = 4019: "the session is not open yet: it cannot be ended",
        ForeignSession = 4020: "the session does not belong to the instance",
    }
}

canon_types::code_enum! {
    /// The ownership family's session faults: a session ends `Faulted` with
    /// one of these codes (its owner died, or a staged transfer failed).
    pub enum OwnershipFault;
    /// The codes of [`OwnershipFault`] (4xxx).
    pub OWNERSHIP_FAULT_CODES {
        OwnerDied = 4011: "session fault: its host-side owner died (ownership owner ... died)",
        TransferCommitFailed = 4012: "session fault: a staged ownership transfer failed to commit",
    }
}

/// The fault code of a session whose owner died (`Faulted { code }`).
pub const OWNER_DIED: u16 = OwnershipFault::OwnerDied as u16;
/// The fault code of a session whose staged transfer failed to commit.
pub const TRANSFER_COMMIT_FAILED: u16 = OwnershipFault::TransferCommitFailed as u16;

/// What a successful operation produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing new to hand back (claim, rollback, consume, session ended).
    Done,
    /// The owner's new generation (commit, attenuate).
    Generation(u64),
    /// The receipt of a staged transfer.
    Receipt(u64),
    /// The id of an issued readiness witness.
    Witness(u64),
}

impl Applied {
    /// The number the operation produced (generation, receipt or witness id; 0 for `Done`).
    pub fn number(self) -> u64 {
        match self {
            Applied::Done => 0,
            Applied::Generation(n) | Applied::Receipt(n) | Applied::Witness(n) => n,
        }
    }
}

/// Where [`apply`] writes: the group, its tick and outbox, the group's
/// timeout/cancellation witness counter, and who acts: the host (coroutine
/// `u32::MAX`, no role) or a coroutine's `check`/`consume` at its role.
pub(crate) struct Sink<'a> {
    pub group: u32,
    pub tick: u64,
    pub out: &'a mut Vec<Event>,
    pub next_witness: &'a mut u64,
    pub coroutine: u32,
    pub role: u16,
}

impl Sink<'_> {
    fn emit(&mut self, sid: u64, kind: EventKind) {
        let site = EventSite { group: self.group, tick: self.tick, coroutine: self.coroutine, sid, role: self.role };
        self.out.push(Event { site, kind });
    }

    /// Records the edge traces of the session `store.finish` just ended.
    fn edge_histories(&mut self, sid: u64) {
        crate::store::drain_ended_edges(|t| {
            let (from, to, sent, delivered, history) = (t.from, t.to, t.sent, t.delivered, t.history);
            let site =
                EventSite { group: self.group, tick: self.tick, coroutine: u32::MAX, sid, role: EventSite::NO_ROLE };
            self.out.push(Event { site, kind: EventKind::EdgeHistory { from, to, sent, delivered, history } });
        });
    }
}

fn s(x: &str) -> Arc<str> {
    Arc::from(x)
}

/// Applies host ownership operation `op` to session `sid`: records `op`,
/// then its outputs. A refusal is recorded too (`Rejected`, or
/// `WitnessRejected` for a witness) and changes nothing else.
pub(crate) fn apply(
    store: &mut SessionStore,
    sink: &mut Sink<'_>,
    sid: u64,
    op: OwnershipRecord,
) -> Result<Applied, OwnershipError> {
    sink.emit(sid, EventKind::Ownership { record: op.clone() });
    let result = check_and_apply(store, sink, sid, &op);
    if let Err(e) = &result {
        use canon_types::ErrorCode;
        let code = e.code();
        let record = match &op {
            OwnershipRecord::Consume { witness, .. } => OwnershipRecord::WitnessRejected { witness: *witness, code },
            other => {
                let (owner, generation) = presented(other);
                OwnershipRecord::Rejected { code, owner, generation }
            }
        };
        sink.emit(sid, EventKind::Ownership { record });
    }
    result
}

/// The handle an input presents (label, generation); receipts present none.
fn presented(op: &OwnershipRecord) -> (Arc<str>, u64) {
    match op {
        OwnershipRecord::Claimed { owner, generation }
        | OwnershipRecord::TransferBegun { owner, generation, .. }
        | OwnershipRecord::Attenuate { owner, generation, .. }
        | OwnershipRecord::IssueReadiness { owner, generation, .. }
        | OwnershipRecord::OwnerDied { owner, generation, .. }
        | OwnershipRecord::Mutate { owner, generation } => (owner.clone(), *generation),
        _ => (s(""), 0),
    }
}

/// The session's ownership, live: claimed, and its session not ended.
fn live_ref(store: &SessionStore, sid: u64) -> Result<&SessionOwnership, OwnershipError> {
    let ended = store.get(sid).is_some_and(|x| !matches!(x.status, SessionStatus::Active | SessionStatus::Draining));
    let o = store.ownership.get(&sid).ok_or(OwnershipError::Unclaimed { sid })?;
    if ended || o.terminal.is_some() {
        return Err(OwnershipError::SessionEnded { sid });
    }
    Ok(o)
}

fn live(store: &mut SessionStore, sid: u64) -> Result<&mut SessionOwnership, OwnershipError> {
    live_ref(store, sid)?;
    store.ownership.get_mut(&sid).ok_or(OwnershipError::Unclaimed { sid })
}

/// The current owner (label, generation) of session `sid` if it may issue a
/// readiness witness for `check` now (claimed, live, scope allowing it),
/// without recording anything: what a coroutine's `check` presents.
pub(crate) fn issuer(store: &SessionStore, sid: u64, check: &str) -> Result<(Arc<str>, u64), OwnershipError> {
    let o = live_ref(store, sid)?;
    if !o.owner.scope.allows_check(check) {
        let what = format!("readiness check `{check}`");
        return Err(OwnershipError::ScopeTooNarrow { scope: o.owner.scope.clone(), what });
    }
    Ok((s(&o.owner.label), o.owner.generation))
}

/// What a coroutine's `consume` of witness `witness` presents for session
/// `sid`: the current owner generation (the step runs under the current
/// owner) and the check the witness was issued for (empty if it is not
/// outstanding, which the consume then refuses as forged, reused or stale).
pub(crate) fn presented_consume(store: &SessionStore, sid: u64, witness: u64) -> (u64, Arc<str>) {
    let Some(o) = store.ownership.get(&sid) else { return (0, s("")) };
    let check = o.issued.iter().find(|w| w.id == witness).map_or_else(|| s(""), |w| s(&w.check));
    (o.owner.generation, check)
}

/// Whether the handle (`label`, `generation`) may mutate session `sid`
/// host-side (current, full scope, session live), without recording anything.
pub fn check_mutation(store: &SessionStore, sid: u64, label: &str, generation: u64) -> Result<(), OwnershipError> {
    let o = live_ref(store, sid)?;
    check_handle(o, sid, label, generation)?;
    if o.owner.scope != Scope::Full {
        let what = "host-side mutation of the session".to_owned();
        return Err(OwnershipError::ScopeTooNarrow { scope: o.owner.scope.clone(), what });
    }
    Ok(())
}

fn check_handle(o: &SessionOwnership, sid: u64, label: &str, generation: u64) -> Result<(), OwnershipError> {
    if o.owner.label != label || o.owner.generation != generation {
        return Err(OwnershipError::StaleOwner {
            sid,
            label: label.to_owned(),
            presented: generation,
            current: o.owner.label.clone(),
            generation: o.owner.generation,
        });
    }
    Ok(())
}

fn check_receipt(o: &SessionOwnership, sid: u64, receipt: u64) -> Result<(), OwnershipError> {
    match &o.pending {
        Some(p) if p.receipt == receipt => Ok(()),
        _ => Err(OwnershipError::UnknownReceipt { sid, receipt }),
    }
}

/// Moves every outstanding readiness witness to `invalidated` (a new
/// generation), recording each.
fn invalidate_witnesses(o: &mut SessionOwnership, sink: &mut Sink<'_>, sid: u64) -> Vec<u64> {
    let ids: Vec<u64> = o.issued.drain(..).map(|w| w.id).collect();
    for &witness in &ids {
        o.invalidated.push(witness);
        sink.emit(sid, EventKind::Ownership { record: OwnershipRecord::WitnessInvalidated { witness } });
    }
    ids
}

/// Ends session `sid` (which must be open and live) with `status`, recording
/// the terminal ownership reason first.
fn end_session(
    store: &mut SessionStore,
    sink: &mut Sink<'_>,
    sid: u64,
    status: SessionStatus,
    reason: String,
) -> Result<(), OwnershipError> {
    if store.get(sid).is_none() {
        return Err(OwnershipError::NotOpen { sid });
    }
    if let Some(o) = store.ownership.get_mut(&sid) {
        o.pending = None;
        o.terminal = Some(reason.clone());
    }
    sink.emit(sid, EventKind::Ownership { record: OwnershipRecord::Terminal { reason: Arc::from(reason) } });
    if status == SessionStatus::Cancelled {
        let stored = store.get_mut(sid).and_then(|x| x.lifecycle.expired_timeout.take());
        let w = stored.unwrap_or_else(|| {
            let w = *sink.next_witness;
            *sink.next_witness = sink.next_witness.saturating_add(1);
            w
        });
        if let Some(x) = store.get_mut(sid) {
            x.lifecycle.consumed.push(w);
        }
        sink.emit(sid, EventKind::CancellationRequested { witness: w });
        store.finish(sid, status);
        sink.emit(sid, EventKind::Cancelled { witness: w });
        sink.emit(sid, EventKind::SessionTerminal { reason: TerminalReason::Cancelled });
        sink.edge_histories(sid);
    } else if let SessionStatus::Faulted { code } = status {
        store.finish(sid, status);
        sink.emit(sid, EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } });
        sink.edge_histories(sid);
    }
    Ok(())
}

fn check_and_apply(
    store: &mut SessionStore,
    sink: &mut Sink<'_>,
    sid: u64,
    op: &OwnershipRecord,
) -> Result<Applied, OwnershipError> {
    use OwnershipRecord as R;
    if (sid >> 32) as u32 != sink.group {
        return Err(OwnershipError::ForeignSession { sid, group: sink.group });
    }
    match op {
        R::Claimed { owner, .. } => {
            if store.ownership.contains_key(&sid) {
                return Err(OwnershipError::AlreadyClaimed { sid });
            }
            if store.get(sid).is_some_and(|x| x.status != SessionStatus::Active) {
                return Err(OwnershipError::SessionEnded { sid });
            }
            store.ownership.insert(sid, SessionOwnership::new(owner));
            Ok(Applied::Done)
        }
        R::TransferBegun { owner, generation, to } => {
            let o = live(store, sid)?;
            check_handle(o, sid, owner, *generation)?;
            if let Some(p) = &o.pending {
                return Err(OwnershipError::TransferPending { sid, receipt: p.receipt });
            }
            let receipt = o.receipts;
            o.receipts = o.receipts.saturating_add(1);
            o.pending = Some(PendingTransfer { receipt, to: to.to_string() });
            sink.emit(sid, EventKind::Ownership { record: R::ReceiptIssued { receipt, to: to.clone() } });
            Ok(Applied::Receipt(receipt))
        }
        R::Commit { receipt } => {
            let o = live(store, sid)?;
            check_receipt(o, sid, *receipt)?;
            let to = o.pending.take().map(|p| p.to).unwrap_or_default();
            let from = std::mem::replace(&mut o.owner.label, to.clone());
            o.owner.generation = o.owner.generation.saturating_add(1);
            let generation = o.owner.generation;
            let scope = o.owner.scope.clone();
            let invalidated = invalidate_witnesses(o, sink, sid);
            let (from, to) = (s(&from), s(&to));
            sink.emit(
                sid,
                EventKind::Ownership { record: R::Transferred { from: from.clone(), to: to.clone(), generation } },
            );
            sink.emit(
                sid,
                EventKind::Ownership {
                    record: R::SemanticHandoff { revoked: from, activated: to, receipt: *receipt, generation },
                },
            );
            sink.emit(
                sid,
                EventKind::Ownership {
                    record: R::TransformationObligation {
                        receipt: *receipt,
                        scope,
                        invalidated_witnesses: invalidated,
                    },
                },
            );
            Ok(Applied::Generation(generation))
        }
        R::Rollback { receipt } => {
            let o = live(store, sid)?;
            check_receipt(o, sid, *receipt)?;
            o.pending = None;
            Ok(Applied::Done)
        }
        R::Abandon { receipt } => {
            check_receipt(live(store, sid)?, sid, *receipt)?;
            let reason = format!("ownership transfer abandoned: receipt {receipt}");
            end_session(store, sink, sid, SessionStatus::Cancelled, reason)?;
            Ok(Applied::Done)
        }
        R::CommitFailed { receipt, reason } => {
            check_receipt(live(store, sid)?, sid, *receipt)?;
            let reason = format!("ownership transfer commit failed: {reason}");
            end_session(store, sink, sid, SessionStatus::Faulted { code: TRANSFER_COMMIT_FAILED }, reason)?;
            Ok(Applied::Done)
        }
        R::Attenuate { owner, generation, scope } => {
            let o = live(store, sid)?;
            check_handle(o, sid, owner, *generation)?;
            if let Some(p) = &o.pending {
                return Err(OwnershipError::TransferPending { sid, receipt: p.receipt });
            }
            if !scope.within(&o.owner.scope) {
                return Err(OwnershipError::ScopeTooWide { requested: scope.clone(), current: o.owner.scope.clone() });
            }
            o.owner.scope = scope.clone();
            o.owner.generation = o.owner.generation.saturating_add(1);
            let generation = o.owner.generation;
            invalidate_witnesses(o, sink, sid);
            Ok(Applied::Generation(generation))
        }
        R::IssueReadiness { owner, generation, check } => {
            let o = live(store, sid)?;
            check_handle(o, sid, owner, *generation)?;
            if !o.owner.scope.allows_check(check) {
                let what = format!("readiness check `{check}`");
                return Err(OwnershipError::ScopeTooNarrow { scope: o.owner.scope.clone(), what });
            }
            let witness = o.witnesses;
            o.witnesses = o.witnesses.saturating_add(1);
            o.issued.push(IssuedWitness { id: witness, generation: *generation, check: check.to_string() });
            let record = R::WitnessIssued { witness, generation: *generation, check: check.clone() };
            sink.emit(sid, EventKind::Ownership { record });
            Ok(Applied::Witness(witness))
        }
        R::Consume { witness, generation, check } => {
            let o = live(store, sid)?;
            match o.issued.iter().position(|w| w.id == *witness) {
                Some(i) if o.issued[i].generation == *generation && *o.issued[i].check == **check => {
                    o.issued.remove(i);
                    o.consumed.push(*witness);
                    Ok(Applied::Done)
                }
                Some(_) => Err(OwnershipError::ForgedWitness { sid, witness: *witness }),
                None if o.consumed.contains(witness) => Err(OwnershipError::ReusedWitness { sid, witness: *witness }),
                None if o.invalidated.contains(witness) => Err(OwnershipError::StaleWitness { sid, witness: *witness }),
                None => Err(OwnershipError::ForgedWitness { sid, witness: *witness }),
            }
        }
        R::OwnerDied { owner, generation, reason } => {
            check_handle(live(store, sid)?, sid, owner, *generation)?;
            let reason = format!("ownership owner `{owner}` died: {reason}");
            end_session(store, sink, sid, SessionStatus::Faulted { code: OWNER_DIED }, reason)?;
            Ok(Applied::Done)
        }
        R::Mutate { owner, generation } => {
            check_mutation(store, sid, owner, *generation)?;
            Ok(Applied::Done)
        }
        // Outputs are not operations.
        R::Rejected { .. }
        | R::Transferred { .. }
        | R::ReceiptIssued { .. }
        | R::WitnessIssued { .. }
        | R::WitnessInvalidated { .. }
        | R::WitnessRejected { .. }
        | R::Terminal { .. }
        | R::SemanticHandoff { .. }
        | R::TransformationObligation { .. } => Ok(Applied::Done),
    }
}

impl OwnershipRecord {
    /// Whether this record is a host operation (an input re-execution applies
    /// again) rather than an output of one.
    pub fn is_operation(&self) -> bool {
        use OwnershipRecord as R;
        matches!(
            self,
            R::Claimed { .. }
                | R::TransferBegun { .. }
                | R::Commit { .. }
                | R::Rollback { .. }
                | R::Abandon { .. }
                | R::CommitFailed { .. }
                | R::Attenuate { .. }
                | R::IssueReadiness { .. }
                | R::Consume { .. }
                | R::OwnerDied { .. }
                | R::Mutate { .. }
        )
    }
}
