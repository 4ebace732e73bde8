//! Observable events: what the machine emits and the replay records.
//!
//! Every event carries its logical position: the run group it belongs to
//! (`group`: one entry-procedure instance and everything it spawns and
//! opens), the group's round counter (`tick`), the coroutine that caused it
//! (`coroutine`, numbered per group in spawn order) and, where there is one,
//! the session (`sid`) and role index. The canonical replay orders events by
//! `(group, tick, coroutine, emission order)`; `canon-replay` specifies the
//! bytes.

use std::sync::Arc;

use canon_types::{Endpoint, SymId, Value};

use crate::config::ReplayMode;
use crate::inject::Injection;

/// Why a session reached a terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TerminalReason {
    /// Every endpoint closed.
    Closed,
    /// The session was cancelled (`cancel`, a timeout, an abandoned transfer).
    Cancelled,
    /// The session was aborted (`abort`).
    Aborted,
    /// Faulted with a 3xxx/4xxx code.
    Faulted {
        /// The fault code.
        code: u16,
    },
}

/// Which host point produced a recorded answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HostPoint {
    /// `produce`: the payload for `label`.
    Produce {
        /// The message label.
        label: SymId,
    },
    /// `recv`/`offer` delivery accepted by the host (answer: `Bool`).
    Accept {
        /// The message label.
        label: SymId,
    },
    /// `select`: the chosen label (answer: `Value::Label`).
    Choose,
    /// `invoke` of an effect.
    Invoke {
        /// The effect invoked.
        effect: SymId,
    },
}

/// A host-side ownership record of one session (site: the session, the
/// group's current tick, coroutine `u32::MAX`). Operations (inputs; see
/// [`OwnershipRecord::is_operation`]) are applied again by re-execution;
/// the others are their outputs. See docs/ownership.md.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OwnershipRecord {
    /// Operation: the session was claimed by `owner` at `generation` 0.
    Claimed {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
    },
    /// Output of a commit: the owner `from` handed the session to `to`, now at `generation`.
    Transferred {
        /// The previous owner.
        from: Arc<str>,
        /// The owner the session goes to.
        to: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
    },
    /// Output: the operation just recorded, presenting handle (`owner`,
    /// `generation`; empty and 0 for a receipt), was refused with ownership
    /// error `code` (4xxx); nothing changed.
    Rejected {
        /// The ownership error code (4xxx).
        code: u16,
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
    },
    /// Operation: the owner (`owner`, `generation`) stages a transfer to `to`.
    TransferBegun {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
        /// The owner the session goes to.
        to: Arc<str>,
    },
    /// Output: the staged transfer's receipt.
    ReceiptIssued {
        /// The receipt id of the staged transfer.
        receipt: u64,
        /// The owner the session goes to.
        to: Arc<str>,
    },
    /// Operation: commit the staged transfer `receipt`.
    Commit {
        /// The receipt id of the staged transfer.
        receipt: u64,
    },
    /// Operation: roll back the staged transfer `receipt` (the owner stays).
    Rollback {
        /// The receipt id of the staged transfer.
        receipt: u64,
    },
    /// Operation: the staged transfer `receipt` was abandoned (the session is cancelled).
    Abandon {
        /// The receipt id of the staged transfer.
        receipt: u64,
    },
    /// Operation: the staged transfer `receipt` failed to commit (the session faults).
    CommitFailed {
        /// The receipt id of the staged transfer.
        receipt: u64,
        /// Why, as the host stated it.
        reason: Arc<str>,
    },
    /// Operation: the owner narrows its scope to `scope` (the generation increments).
    Attenuate {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
        /// The fragment scope.
        scope: crate::ownership::Scope,
    },
    /// Operation: the owner issues a readiness witness for `check`.
    IssueReadiness {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
        /// The readiness check the witness attests.
        check: Arc<str>,
    },
    /// Output: readiness witness `witness`, bound to `generation`, for `check`.
    WitnessIssued {
        /// The readiness witness id.
        witness: u64,
        /// The owner generation presented, or reached.
        generation: u64,
        /// The readiness check the witness attests.
        check: Arc<str>,
    },
    /// Operation: readiness witness `witness` (as presented) is consumed.
    Consume {
        /// The readiness witness id.
        witness: u64,
        /// The owner generation presented, or reached.
        generation: u64,
        /// The readiness check the witness attests.
        check: Arc<str>,
    },
    /// Output: an outstanding readiness witness was invalidated by a new generation.
    WitnessInvalidated {
        /// The readiness witness id.
        witness: u64,
    },
    /// Output: a presented readiness witness was refused (forged, reused, stale).
    WitnessRejected {
        /// The readiness witness id.
        witness: u64,
        /// The ownership error code (4xxx).
        code: u16,
    },
    /// Operation: the owner (`owner`, `generation`) died for `reason`.
    OwnerDied {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
        /// Why, as the host stated it.
        reason: Arc<str>,
    },
    /// Output: the terminal ownership reason, before the session's terminal events.
    Terminal {
        /// Why, as the host stated it.
        reason: Arc<str>,
    },
    /// Output of a commit: the old owner revoked, the new one activated.
    SemanticHandoff {
        /// The owner label revoked.
        revoked: Arc<str>,
        /// The owner label activated.
        activated: Arc<str>,
        /// The receipt id of the staged transfer.
        receipt: u64,
        /// The owner generation presented, or reached.
        generation: u64,
    },
    /// Output of a commit: the obligations the handoff induces: the
    /// fragment transferred (`scope`) and the readiness witnesses of the old
    /// generation invalidated (witnesses are never transported).
    TransformationObligation {
        /// The receipt id of the staged transfer.
        receipt: u64,
        /// The fragment scope.
        scope: crate::ownership::Scope,
        /// The old generation's witnesses invalidated.
        invalidated_witnesses: Vec<u64>,
    },
    /// Operation: a host-side mutation presented handle (`owner`,
    /// `generation`); recorded only when refused.
    Mutate {
        /// The owner label presented (or claiming).
        owner: Arc<str>,
        /// The owner generation presented, or reached.
        generation: u64,
    },
}

/// Where an event happened. `sid` is `u64::MAX` and `role` is `u16::MAX`
/// when the event has no session (e.g. a coroutine that holds none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EventSite {
    /// The group (instance).
    pub group: u32,
    /// The group's round when the event happened.
    pub tick: u64,
    /// The coroutine (`u32::MAX` for host-side ownership records).
    pub coroutine: u32,
    /// The session id, or `EventSite::NO_SID`.
    pub sid: u64,
    /// The role index in the session, or `EventSite::NO_ROLE`.
    pub role: u16,
}

impl EventSite {
    /// The `sid` of an event outside any session.
    pub const NO_SID: u64 = u64::MAX;
    /// The `role` of an event with no session.
    pub const NO_ROLE: u16 = u16::MAX;
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// A coroutine started running `proc` (the entry procedure or a `spawn`).
    Spawned {
        /// The procedure the coroutine runs.
        proc: u32,
    },
    /// A coroutine ended normally (`halt`, or `ret` from its first frame).
    Halted,
    /// `open` succeeded: a session with `roles` role names. Under
    /// `Auth::Ed25519`, `keys[i]` is the Ed25519 verifying key bound to role
    /// `i` at open (so a replay's signatures verify without the seed);
    /// empty under `Auth::None`.
    Opened {
        /// The role names, in the `open`'s order.
        roles: Vec<SymId>,
        /// Each role's Ed25519 verifying key (empty under `Auth::None`).
        keys: Vec<[u8; 32]>,
    },
    /// A message left `role` for role index `to` (it becomes visible at the
    /// next round barrier). `seq` counts messages on the directed edge from 0.
    /// `signature` is the sender's Ed25519 signature of the message's
    /// canonical envelope (`None` under `Auth::None`).
    Sent {
        /// The receiving role's index in the session.
        to: u16,
        /// The message label.
        label: SymId,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
        /// The message payload.
        payload: Value,
        /// The sender's Ed25519 signature of the envelope (`None` under `Auth::None`).
        #[serde(with = "crate::auth::signature_serde")]
        signature: Option<[u8; 64]>,
    },
    /// A message from role index `from` was delivered to `role`.
    Received {
        /// The sending role's index in the session.
        from: u16,
        /// The message label.
        label: SymId,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
        /// The message payload.
        payload: Value,
    },
    /// A send found the buffer full under `Drop` and discarded the message.
    Dropped {
        /// The receiving role's index in the session.
        to: u16,
        /// The message label.
        label: SymId,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
    },
    /// Under `LatestValue`, message `seq` replaced an undelivered one.
    Overwritten {
        /// The receiving role's index in the session.
        to: u16,
        /// The message label.
        label: SymId,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
    },
    /// A received message was consumed under a replay mode (never `Off`):
    /// `identity` is SHA-256 of its envelope; the session's consumption root
    /// went from `pre_root` to `post_root = SHA-256(pre_root || identity)`.
    Consumed {
        /// The replay mode the message was consumed under.
        mode: ReplayMode,
        /// SHA-256 of the message's envelope.
        identity: [u8; 32],
        /// The session's consumption root before.
        pre_root: [u8; 32],
        /// The root after: SHA-256(pre_root || identity).
        post_root: [u8; 32],
    },
    /// A fault was injected at the transport boundary into the group's
    /// `nth` sent message (seq `seq` to role index `to`); see `Group::inject`.
    Injected {
        /// The fault injected.
        injection: Injection,
        /// Which sent message of the group (counted from 0) it hit.
        nth: u64,
        /// The receiving role's index in the session.
        to: u16,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
    },
    /// Under the nullifier replay mode, a copy of the message just sent
    /// (seq `seq` to role index `to`) that the transport delivered again
    /// (the `Injected` duplicate before it) was refused at arrival: its
    /// envelope identity `identity` had already been admitted on the edge.
    /// The copy never entered the buffer; nothing else changed.
    DuplicateRefused {
        /// The receiving role's index in the session.
        to: u16,
        /// The message's sequence number on its directed edge.
        seq: u64,
        /// SHA-256 of the message's envelope (its nullifier).
        identity: [u8; 32],
    },
    /// A host handler answered at a named point. Re-execution feeds these
    /// answers back instead of asking the host.
    HostAnswer {
        /// Where the host was asked.
        point: HostPoint,
        /// What it answered.
        answer: Value,
    },
    /// A timeout became active at this tick (the first attempt of a
    /// `recv_timeout` that found no message); `witness` is the issued timeout
    /// witness id (unique per group). Exactly one of `TimeoutExpired` or
    /// `TimeoutWithdrawn` with the same witness follows.
    TimeoutIssued {
        /// The timeout witness id (unique per group).
        witness: u64,
    },
    /// The deadline of timeout `witness` passed: the issued witness expired
    /// and is stored in the session; a `cancel` of the session consumes it.
    TimeoutExpired {
        /// The timeout witness id (unique per group).
        witness: u64,
    },
    /// A message arrived before the deadline: timeout `witness` is withdrawn unused.
    TimeoutWithdrawn {
        /// The timeout witness id (unique per group).
        witness: u64,
    },
    /// An endpoint sent as a payload left its sender, which no longer owns
    /// it: the endpoint is in transit (delegation begins).
    Delegated {
        /// The endpoint moved.
        endpoint: Endpoint,
    },
    /// A delegated endpoint was received: the receiving coroutine owns it
    /// (delegation completed).
    DelegationCompleted {
        /// The endpoint moved.
        endpoint: Endpoint,
    },
    /// A `cancel` of the session was requested; `witness` is the expired timeout witness it consumes, or a fresh one.
    CancellationRequested {
        /// The timeout witness id (unique per group).
        witness: u64,
    },
    /// The session was cancelled (after `CancellationRequested`).
    Cancelled {
        /// The timeout witness id (unique per group).
        witness: u64,
    },
    /// The session was aborted (`abort`).
    Aborted,
    /// A coroutine fault became visible, before terminal fault handling.
    FailureBranchEntered {
        /// The fault code.
        code: u16,
    },
    /// The session (or, with no session, the coroutine) faulted.
    Faulted {
        /// The fault code.
        code: u16,
    },
    /// One endpoint (the site's role) closed.
    EndpointClosed,
    /// The last endpoint closed while `undelivered` messages were still in
    /// the session's buffers: the session is `Draining`. Every endpoint's
    /// type is `end`, so no one can receive them: each is reported by a
    /// `Discarded` event, then the session closes.
    Draining {
        /// How many messages were still buffered.
        undelivered: u32,
    },
    /// An undelivered message on edge `from → to` discarded while draining.
    Discarded {
        /// The sending role's index in the session.
        from: u16,
        /// The receiving role's index in the session.
        to: u16,
        /// The message label.
        label: SymId,
        /// The message's sequence number on its directed edge, from 0.
        seq: u64,
    },
    /// The last endpoint of the session closed.
    Closed,
    /// The session reached its terminal state, with the reason.
    SessionTerminal {
        /// Why the session ended.
        reason: TerminalReason,
    },
    /// A host-side ownership record (site: the session, the group's current
    /// tick, coroutine `u32::MAX`), or one a coroutine's `check`/`consume`
    /// recorded (site: that coroutine and its endpoint's role).
    Ownership {
        /// The ownership operation or its output.
        record: OwnershipRecord,
    },
    /// The session's epoch advanced to `epoch` (after close).
    EpochAdvanced {
        /// The session's new epoch.
        epoch: u64,
    },
    /// The trace of one directed edge `from → to` of a session that just
    /// ended, recorded after the session's terminal events (one per edge a
    /// message was sent or delivered on, in `(from, to)` order): `sent`
    /// messages (`Sent` and `Dropped`), `delivered` ones (`Received`), and
    /// `history`, the running hash of the delivered envelopes
    /// (`h = SHA-256(h || SHA-256(envelope))` from 32 zero bytes). `canon
    /// replay verify` recomputes all three from the recorded events.
    EdgeHistory {
        /// Sending role index.
        from: u16,
        /// Receiving role index.
        to: u16,
        /// Messages sent on the edge (`Sent` and `Dropped`).
        sent: u64,
        /// Messages delivered on the edge (`Received`).
        delivered: u64,
        /// Running hash of the delivered envelopes.
        history: [u8; 32],
    },
}

/// One event: where and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Where and when it happened.
    pub site: EventSite,
    /// What happened.
    pub kind: EventKind,
}

/// One field of an [`OwnershipRecord`], for rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordField<'a> {
    /// A string field.
    Str(&'a str),
    /// A number field.
    U64(u64),
    /// An ownership scope.
    Scope(&'a crate::ownership::Scope),
    /// A list of ids.
    List(&'a [u64]),
}

impl OwnershipRecord {
    /// The record's name as `canon replay show` prints it.
    pub fn name(&self) -> &'static str {
        use OwnershipRecord as R;
        match self {
            R::Claimed { .. } => "OwnerClaimed",
            R::Transferred { .. } => "OwnerTransferred",
            R::Rejected { .. } => "OwnershipRejected",
            R::TransferBegun { .. } => "TransferBegun",
            R::ReceiptIssued { .. } => "ReceiptIssued",
            R::Commit { .. } => "TransferCommit",
            R::Rollback { .. } => "TransferRollback",
            R::Abandon { .. } => "TransferAbandoned",
            R::CommitFailed { .. } => "TransferCommitFailed",
            R::Attenuate { .. } => "OwnerAttenuated",
            R::IssueReadiness { .. } => "ReadinessRequested",
            R::WitnessIssued { .. } => "WitnessIssued",
            R::Consume { .. } => "WitnessConsume",
            R::WitnessInvalidated { .. } => "WitnessInvalidated",
            R::WitnessRejected { .. } => "WitnessRejected",
            R::OwnerDied { .. } => "OwnerDied",
            R::Terminal { .. } => "OwnershipTerminal",
            R::SemanticHandoff { .. } => "SemanticHandoff",
            R::TransformationObligation { .. } => "TransformationObligation",
            R::Mutate { .. } => "OwnerMutate",
        }
    }

    /// The record's fields in encoding order, named.
    pub fn fields(&self) -> Vec<(&'static str, RecordField<'_>)> {
        use OwnershipRecord as R;
        use RecordField as F;
        match self {
            R::Claimed { owner, generation } | R::Mutate { owner, generation } => {
                vec![("owner", F::Str(owner)), ("generation", F::U64(*generation))]
            }
            R::Transferred { from, to, generation } => {
                vec![("from", F::Str(from)), ("to", F::Str(to)), ("generation", F::U64(*generation))]
            }
            R::Rejected { code, owner, generation } => {
                vec![("code", F::U64(u64::from(*code))), ("owner", F::Str(owner)), ("generation", F::U64(*generation))]
            }
            R::TransferBegun { owner, generation, to } => {
                vec![("owner", F::Str(owner)), ("generation", F::U64(*generation)), ("to", F::Str(to))]
            }
            R::ReceiptIssued { receipt, to } => vec![("receipt", F::U64(*receipt)), ("to", F::Str(to))],
            R::Commit { receipt } | R::Rollback { receipt } | R::Abandon { receipt } => {
                vec![("receipt", F::U64(*receipt))]
            }
            R::CommitFailed { receipt, reason } => vec![("receipt", F::U64(*receipt)), ("reason", F::Str(reason))],
            R::Attenuate { owner, generation, scope } => {
                vec![("owner", F::Str(owner)), ("generation", F::U64(*generation)), ("scope", F::Scope(scope))]
            }
            R::IssueReadiness { owner, generation, check } => {
                vec![("owner", F::Str(owner)), ("generation", F::U64(*generation)), ("check", F::Str(check))]
            }
            R::WitnessIssued { witness, generation, check } | R::Consume { witness, generation, check } => {
                vec![("witness", F::U64(*witness)), ("generation", F::U64(*generation)), ("check", F::Str(check))]
            }
            R::WitnessInvalidated { witness } => vec![("witness", F::U64(*witness))],
            R::WitnessRejected { witness, code } => {
                vec![("witness", F::U64(*witness)), ("code", F::U64(u64::from(*code)))]
            }
            R::OwnerDied { owner, generation, reason } => {
                vec![("owner", F::Str(owner)), ("generation", F::U64(*generation)), ("reason", F::Str(reason))]
            }
            R::Terminal { reason } => vec![("reason", F::Str(reason))],
            R::SemanticHandoff { revoked, activated, receipt, generation } => vec![
                ("revoked", F::Str(revoked)),
                ("activated", F::Str(activated)),
                ("receipt", F::U64(*receipt)),
                ("generation", F::U64(*generation)),
            ],
            R::TransformationObligation { receipt, scope, invalidated_witnesses } => vec![
                ("receipt", F::U64(*receipt)),
                ("scope", F::Scope(scope)),
                ("invalidated_witnesses", F::List(invalidated_witnesses)),
            ],
        }
    }
}
