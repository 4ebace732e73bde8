//! Observable events: what the machine emits and the replay records.
//!
//! Every event carries its logical position: the run group it belongs to
//! (`group`: one entry-procedure instance and everything it spawns and
//! opens), the group's round counter (`tick`), the coroutine that caused it
//! (`coroutine`, numbered per group in spawn order) and, where there is one,
//! the session (`sid`) and role index. The canonical replay orders events by
//! `(group, tick, coroutine, emission order)`; `canon-replay` specifies the
//! bytes.

use canon_types::{Endpoint, SymId, Value};

use crate::config::ReplayMode;
use crate::inject::Injection;

/// Why a session reached a terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminalReason {
    Closed,
    Cancelled,
    Aborted,
    /// Faulted with a 3xxx/4xxx code.
    Faulted {
        code: u16,
    },
}

/// Which host point produced a recorded answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostPoint {
    /// `produce`: the payload for `label`.
    Produce { label: SymId },
    /// `recv`/`offer` delivery accepted by the host (answer: `Bool`).
    Accept { label: SymId },
    /// `select`: the chosen label (answer: `Value::Label`).
    Choose,
    /// `invoke` of an effect.
    Invoke { effect: SymId },
}

/// A host-side ownership operation on a loaded instance (recorded so that
/// the replay shows who drove the instance; see docs/ownership.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnershipRecord {
    /// The instance was claimed by `owner` at `generation` (at load).
    Claimed { owner: std::sync::Arc<str>, generation: u64 },
    /// The owner `from` handed the instance to `to`, now at `generation`.
    Transferred { from: std::sync::Arc<str>, to: std::sync::Arc<str>, generation: u64 },
    /// A handle (`owner`, `generation`) was refused with ownership error
    /// `code` (4xxx); nothing changed.
    Rejected { code: u16, owner: std::sync::Arc<str>, generation: u64 },
}

/// Where an event happened. `sid` is `u64::MAX` and `role` is `u16::MAX`
/// when the event has no session (e.g. a coroutine that holds none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSite {
    pub group: u32,
    pub tick: u64,
    pub coroutine: u32,
    pub sid: u64,
    pub role: u16,
}

impl EventSite {
    pub const NO_SID: u64 = u64::MAX;
    pub const NO_ROLE: u16 = u16::MAX;
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A coroutine started running `proc` (the entry procedure or a `spawn`).
    Spawned {
        proc: u32,
    },
    /// A coroutine ended normally (`halt`, or `ret` from its first frame).
    Halted,
    /// `open` succeeded: a session with `roles` role names. Under
    /// `Auth::Ed25519`, `keys[i]` is the Ed25519 verifying key bound to role
    /// `i` at open (so a replay's signatures verify without the seed);
    /// empty under `Auth::None`.
    Opened {
        roles: Vec<SymId>,
        keys: Vec<[u8; 32]>,
    },
    /// A message left `role` for role index `to` (it becomes visible at the
    /// next round barrier). `seq` counts messages on the directed edge from 0.
    /// `signature` is the sender's Ed25519 signature of the message's
    /// canonical envelope (`None` under `Auth::None`).
    Sent {
        to: u16,
        label: SymId,
        seq: u64,
        payload: Value,
        signature: Option<[u8; 64]>,
    },
    /// A message from role index `from` was delivered to `role`.
    Received {
        from: u16,
        label: SymId,
        seq: u64,
        payload: Value,
    },
    /// A send found the buffer full under `Drop` and discarded the message.
    Dropped {
        to: u16,
        label: SymId,
        seq: u64,
    },
    /// Under `LatestValue`, message `seq` replaced an undelivered one.
    Overwritten {
        to: u16,
        label: SymId,
        seq: u64,
    },
    /// A received message was consumed under a replay mode (never `Off`):
    /// `identity` is SHA-256 of its envelope; the session's consumption root
    /// went from `pre_root` to `post_root = SHA-256(pre_root || identity)`.
    Consumed {
        mode: ReplayMode,
        identity: [u8; 32],
        pre_root: [u8; 32],
        post_root: [u8; 32],
    },
    /// A fault was injected at the transport boundary into the group's
    /// `nth` sent message (seq `seq` to role index `to`); see `Group::inject`.
    Injected {
        injection: Injection,
        nth: u64,
        to: u16,
        seq: u64,
    },
    /// A host handler answered at a named point. Re-execution feeds these
    /// answers back instead of asking the host.
    HostAnswer {
        point: HostPoint,
        answer: Value,
    },
    /// A timeout became active at this tick (the first attempt of a
    /// `recv_timeout` that found no message); `witness` is the issued timeout
    /// witness id (unique per group). Exactly one of `TimeoutExpired` or
    /// `TimeoutWithdrawn` with the same witness follows.
    TimeoutIssued {
        witness: u64,
    },
    /// The deadline of timeout `witness` passed: the issued witness expired
    /// and is stored in the session; a `cancel` of the session consumes it.
    TimeoutExpired {
        witness: u64,
    },
    /// A message arrived before the deadline: timeout `witness` is withdrawn unused.
    TimeoutWithdrawn {
        witness: u64,
    },
    /// An endpoint sent as a payload left its sender, which no longer owns
    /// it: the endpoint is in transit (delegation begins).
    Delegated {
        endpoint: Endpoint,
    },
    /// A delegated endpoint was received: the receiving coroutine owns it
    /// (delegation completed).
    DelegationCompleted {
        endpoint: Endpoint,
    },
    CancellationRequested {
        witness: u64,
    },
    Cancelled {
        witness: u64,
    },
    Aborted,
    /// A coroutine fault became visible, before terminal fault handling.
    FailureBranchEntered {
        code: u16,
    },
    /// The session (or, with no session, the coroutine) faulted.
    Faulted {
        code: u16,
    },
    /// One endpoint (the site's role) closed.
    EndpointClosed,
    /// The last endpoint closed while `undelivered` messages were still in
    /// the session's buffers: the session is `Draining`. Every endpoint's
    /// type is `end`, so no one can receive them: each is reported by a
    /// `Discarded` event, then the session closes.
    Draining {
        undelivered: u32,
    },
    /// An undelivered message on edge `from → to` discarded while draining.
    Discarded {
        from: u16,
        to: u16,
        label: SymId,
        seq: u64,
    },
    /// The last endpoint of the session closed.
    Closed,
    SessionTerminal {
        reason: TerminalReason,
    },
    /// A host-side ownership operation (site: the group's current tick,
    /// coroutine `u32::MAX`, no session).
    Ownership {
        record: OwnershipRecord,
    },
    /// The session's epoch advanced to `epoch` (after close).
    EpochAdvanced {
        epoch: u64,
    },
}

/// One event: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub site: EventSite,
    pub kind: EventKind,
}
