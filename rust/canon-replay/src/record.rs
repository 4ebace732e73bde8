//! Event records: the fixed-layout encoding of one [`Event`].
//!
//! Every record starts with the common site fields (27 bytes), then the
//! kind-specific fields. Payloads are written inline in their canonical
//! value encoding. See `bytecode-spec/replay.md` for the table.

use canon_machine::event::{Event, EventKind, EventSite, HostPoint, OwnershipRecord, TerminalReason};
use canon_machine::{Injection, ReplayMode, Scope};
use canon_types::value::ValueDecodeError;
use canon_types::{SymId, Value};

use crate::cursor::{Cursor, Short};
use crate::error::ReplayError;
use crate::header::len_u32;

/// Bytes of the common prefix: kind u8, group u32, tick u64, coroutine u32, sid u64, role u16.
pub const SITE_BYTES: usize = 1 + 4 + 8 + 4 + 8 + 2;

/// Stable event-kind bytes, one per [`EventKind`] variant.
pub mod kind {
    /// The kind byte of [`canon_machine::EventKind::Spawned`].
    pub const SPAWNED: u8 = 0x01;
    /// The kind byte of [`canon_machine::EventKind::Halted`].
    pub const HALTED: u8 = 0x02;
    /// The kind byte of [`canon_machine::EventKind::Opened`].
    pub const OPENED: u8 = 0x03;
    /// The kind byte of [`canon_machine::EventKind::Sent`].
    pub const SENT: u8 = 0x10;
    /// The kind byte of [`canon_machine::EventKind::Received`].
    pub const RECEIVED: u8 = 0x11;
    /// The kind byte of [`canon_machine::EventKind::Dropped`].
    pub const DROPPED: u8 = 0x12;
    /// The kind byte of [`canon_machine::EventKind::Overwritten`].
    pub const OVERWRITTEN: u8 = 0x13;
    /// The kind byte of [`canon_machine::EventKind::Consumed`].
    pub const CONSUMED: u8 = 0x14;
    /// The kind byte of [`canon_machine::EventKind::Injected`].
    pub const INJECTED: u8 = 0x15;
    /// The kind byte of [`canon_machine::EventKind::DuplicateRefused`].
    pub const DUPLICATE_REFUSED: u8 = 0x18;
    /// The kind byte of [`canon_machine::EventKind::HostAnswer`].
    pub const HOST_ANSWER: u8 = 0x20;
    /// The kind byte of [`canon_machine::EventKind::TimeoutIssued`].
    pub const TIMEOUT_ISSUED: u8 = 0x30;
    /// The kind byte of [`canon_machine::EventKind::CancellationRequested`].
    pub const CANCELLATION_REQUESTED: u8 = 0x31;
    /// The kind byte of [`canon_machine::EventKind::Cancelled`].
    pub const CANCELLED: u8 = 0x32;
    /// The kind byte of [`canon_machine::EventKind::Aborted`].
    pub const ABORTED: u8 = 0x33;
    /// The kind byte of [`canon_machine::EventKind::FailureBranchEntered`].
    pub const FAILURE_BRANCH_ENTERED: u8 = 0x34;
    /// The kind byte of [`canon_machine::EventKind::Faulted`].
    pub const FAULTED: u8 = 0x35;
    /// The kind byte of [`canon_machine::EventKind::Closed`].
    pub const CLOSED: u8 = 0x36;
    /// The kind byte of [`canon_machine::EventKind::SessionTerminal`].
    pub const SESSION_TERMINAL: u8 = 0x37;
    /// The kind byte of [`canon_machine::EventKind::EpochAdvanced`].
    pub const EPOCH_ADVANCED: u8 = 0x38;
    /// The kind byte of [`canon_machine::EventKind::TimeoutExpired`].
    pub const TIMEOUT_EXPIRED: u8 = 0x39;
    /// The kind byte of [`canon_machine::EventKind::TimeoutWithdrawn`].
    pub const TIMEOUT_WITHDRAWN: u8 = 0x3a;
    /// The kind byte of [`canon_machine::EventKind::EndpointClosed`].
    pub const ENDPOINT_CLOSED: u8 = 0x3b;
    /// The kind byte of [`canon_machine::EventKind::Draining`].
    pub const DRAINING: u8 = 0x3c;
    /// The kind byte of [`canon_machine::EventKind::Discarded`].
    pub const DISCARDED: u8 = 0x3d;
    /// The kind byte of [`canon_machine::EventKind::EdgeHistory`].
    pub const EDGE_HISTORY: u8 = 0x3e;
    /// The kind byte of [`canon_machine::EventKind::Delegated`].
    pub const DELEGATED: u8 = 0x16;
    /// The kind byte of [`canon_machine::EventKind::DelegationCompleted`].
    pub const DELEGATION_COMPLETED: u8 = 0x17;
    /// The kind byte of [`canon_machine::EventKind::Ownership`].
    pub const OWNERSHIP: u8 = 0x40;
}

/// The kind byte of `k`.
pub fn kind_byte(k: &EventKind) -> u8 {
    use EventKind as K;
    match k {
        K::Spawned { .. } => kind::SPAWNED,
        K::Halted => kind::HALTED,
        K::Opened { .. } => kind::OPENED,
        K::Sent { .. } => kind::SENT,
        K::Received { .. } => kind::RECEIVED,
        K::Dropped { .. } => kind::DROPPED,
        K::Overwritten { .. } => kind::OVERWRITTEN,
        K::Consumed { .. } => kind::CONSUMED,
        K::Injected { .. } => kind::INJECTED,
        K::DuplicateRefused { .. } => kind::DUPLICATE_REFUSED,
        K::HostAnswer { .. } => kind::HOST_ANSWER,
        K::TimeoutIssued { .. } => kind::TIMEOUT_ISSUED,
        K::CancellationRequested { .. } => kind::CANCELLATION_REQUESTED,
        K::Cancelled { .. } => kind::CANCELLED,
        K::Aborted => kind::ABORTED,
        K::FailureBranchEntered { .. } => kind::FAILURE_BRANCH_ENTERED,
        K::Faulted { .. } => kind::FAULTED,
        K::Closed => kind::CLOSED,
        K::SessionTerminal { .. } => kind::SESSION_TERMINAL,
        K::EpochAdvanced { .. } => kind::EPOCH_ADVANCED,
        K::TimeoutExpired { .. } => kind::TIMEOUT_EXPIRED,
        K::TimeoutWithdrawn { .. } => kind::TIMEOUT_WITHDRAWN,
        K::EndpointClosed => kind::ENDPOINT_CLOSED,
        K::Draining { .. } => kind::DRAINING,
        K::Discarded { .. } => kind::DISCARDED,
        K::EdgeHistory { .. } => kind::EDGE_HISTORY,
        K::Delegated { .. } => kind::DELEGATED,
        K::DelegationCompleted { .. } => kind::DELEGATION_COMPLETED,
        K::Ownership { .. } => kind::OWNERSHIP,
    }
}

/// Appends the record of `ev` to `out`. Allocates only if `out` must grow.
pub fn encode_event(ev: &Event, out: &mut Vec<u8>) {
    let s = &ev.site;
    // One fixed-size copy instead of six growing pushes.
    let mut site = [0u8; SITE_BYTES];
    site[0] = kind_byte(&ev.kind);
    site[1..5].copy_from_slice(&s.group.to_le_bytes());
    site[5..13].copy_from_slice(&s.tick.to_le_bytes());
    site[13..17].copy_from_slice(&s.coroutine.to_le_bytes());
    site[17..25].copy_from_slice(&s.sid.to_le_bytes());
    site[25..27].copy_from_slice(&s.role.to_le_bytes());
    out.extend_from_slice(&site);
    encode_kind(&ev.kind, out);
}

fn put_msg(out: &mut Vec<u8>, peer: u16, label: SymId, seq: u64) {
    let mut msg = [0u8; 14];
    msg[..2].copy_from_slice(&peer.to_le_bytes());
    msg[2..6].copy_from_slice(&label.0.to_le_bytes());
    msg[6..].copy_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&msg);
}

fn encode_kind(k: &EventKind, out: &mut Vec<u8>) {
    use EventKind as K;
    match k {
        K::Spawned { proc } => out.extend_from_slice(&proc.to_le_bytes()),
        K::Halted | K::Aborted | K::Closed | K::EndpointClosed => {}
        K::Opened { roles, keys } => {
            out.extend_from_slice(&len_u32(roles.len()).to_le_bytes());
            roles.iter().for_each(|r| out.extend_from_slice(&r.0.to_le_bytes()));
            out.extend_from_slice(&len_u32(keys.len()).to_le_bytes());
            keys.iter().for_each(|k| out.extend_from_slice(k));
        }
        K::Sent { to, label, seq, payload, signature } => {
            put_msg(out, *to, *label, *seq);
            match signature {
                Some(sig) => {
                    out.push(1);
                    out.extend_from_slice(sig);
                }
                None => out.push(0),
            }
            payload.encode(out);
        }
        K::Received { from, label, seq, payload } => {
            put_msg(out, *from, *label, *seq);
            payload.encode(out);
        }
        K::Consumed { mode, identity, pre_root, post_root } => {
            out.push(mode.byte());
            out.extend_from_slice(identity);
            out.extend_from_slice(pre_root);
            out.extend_from_slice(post_root);
        }
        K::Injected { injection, nth, to, seq } => {
            out.push(injection.byte());
            out.extend_from_slice(&nth.to_le_bytes());
            out.extend_from_slice(&to.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
        }
        K::DuplicateRefused { to, seq, identity } => {
            out.extend_from_slice(&to.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(identity);
        }
        K::Dropped { to, label, seq } | K::Overwritten { to, label, seq } => put_msg(out, *to, *label, *seq),
        K::HostAnswer { point, answer } => {
            match point {
                HostPoint::Produce { label } => put_tag_sym(out, 0, *label),
                HostPoint::Accept { label } => put_tag_sym(out, 1, *label),
                HostPoint::Choose => out.push(2),
                HostPoint::Invoke { effect } => put_tag_sym(out, 3, *effect),
            }
            answer.encode(out);
        }
        K::TimeoutIssued { witness }
        | K::TimeoutExpired { witness }
        | K::TimeoutWithdrawn { witness }
        | K::CancellationRequested { witness }
        | K::Cancelled { witness } => {
            out.extend_from_slice(&witness.to_le_bytes());
        }
        K::Draining { undelivered } => out.extend_from_slice(&undelivered.to_le_bytes()),
        K::Discarded { from, to, label, seq } => {
            out.extend_from_slice(&from.to_le_bytes());
            put_msg(out, *to, *label, *seq);
        }
        K::EdgeHistory { from, to, sent, delivered, history } => {
            let mut fields = [0u8; 52];
            fields[..2].copy_from_slice(&from.to_le_bytes());
            fields[2..4].copy_from_slice(&to.to_le_bytes());
            fields[4..12].copy_from_slice(&sent.to_le_bytes());
            fields[12..20].copy_from_slice(&delivered.to_le_bytes());
            fields[20..].copy_from_slice(history);
            out.extend_from_slice(&fields);
        }
        K::Delegated { endpoint } | K::DelegationCompleted { endpoint } => {
            out.extend_from_slice(&endpoint.sid.to_le_bytes());
            out.extend_from_slice(&endpoint.role.to_le_bytes());
        }
        K::Ownership { record } => put_ownership(out, record),
        K::FailureBranchEntered { code } | K::Faulted { code } => out.extend_from_slice(&code.to_le_bytes()),
        K::SessionTerminal { reason } => match reason {
            TerminalReason::Closed => out.push(0),
            TerminalReason::Cancelled => out.push(1),
            TerminalReason::Aborted => out.push(2),
            TerminalReason::Faulted { code } => {
                out.push(3);
                out.extend_from_slice(&code.to_le_bytes());
            }
        },
        K::EpochAdvanced { epoch } => out.extend_from_slice(&epoch.to_le_bytes()),
    }
}

fn put_tag_sym(out: &mut Vec<u8>, tag: u8, sym: SymId) {
    out.push(tag);
    out.extend_from_slice(&sym.0.to_le_bytes());
}

/// Where a record is, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub block: usize,
    pub event: u64,
}

impl At {
    fn overrun(self, s: Short) -> ReplayError {
        ReplayError::EventOverrun {
            offset: s.offset,
            block: self.block,
            event: self.event,
            what: s.what,
            needed: s.needed,
        }
    }

    fn bad_tag(self, offset: usize, field: &'static str, tag: u8) -> ReplayError {
        ReplayError::BadEventField { offset, block: self.block, event: self.event, field, tag }
    }
}

/// Decodes exactly one event record, the inverse of [`encode_event`] (for
/// tools and tests that edit records): errors as in a block's first record;
/// bytes after the record are `TrailingBytes`.
pub fn decode_record(bytes: &[u8]) -> Result<Event, ReplayError> {
    let mut c = Cursor::new(bytes, 0);
    let ev = decode_event(&mut c, At { block: 0, event: 0 })?;
    match c.remaining() {
        0 => Ok(ev),
        extra => Err(ReplayError::TrailingBytes { offset: c.offset(), extra }),
    }
}

/// Decodes one record from the front of `c` (a cursor over one block's event bytes).
pub(crate) fn decode_event(c: &mut Cursor<'_>, at: At) -> Result<Event, ReplayError> {
    let start = c.offset();
    let e = |s| at.overrun(s);
    let code = c.u8("event kind").map_err(e)?;
    let site = EventSite {
        group: c.u32("group").map_err(e)?,
        tick: c.u64("tick").map_err(e)?,
        coroutine: c.u32("coroutine").map_err(e)?,
        sid: c.u64("sid").map_err(e)?,
        role: c.u16("role").map_err(e)?,
    };
    let kind = decode_kind(c, code, at).map_err(|err| match err {
        KindError::Unknown => {
            ReplayError::UnknownEventKind { offset: start, block: at.block, event: at.event, kind: code }
        }
        KindError::Replay(r) => r,
    })?;
    Ok(Event { site, kind })
}

enum KindError {
    Unknown,
    Replay(ReplayError),
}

impl From<ReplayError> for KindError {
    fn from(e: ReplayError) -> Self {
        KindError::Replay(e)
    }
}

fn decode_kind(c: &mut Cursor<'_>, code: u8, at: At) -> Result<EventKind, KindError> {
    use EventKind as K;
    let e = |s| at.overrun(s);
    Ok(match code {
        kind::SPAWNED => K::Spawned { proc: c.u32("proc").map_err(e)? },
        kind::HALTED => K::Halted,
        kind::OPENED => K::Opened { roles: decode_roles(c, at)?, keys: decode_keys(c, at)? },
        kind::SENT => {
            let (to, label, seq) = msg(c, at)?;
            let signature = signature(c, at)?;
            K::Sent { to, label, seq, payload: value(c, at)?, signature }
        }
        kind::RECEIVED => {
            let (from, label, seq) = msg(c, at)?;
            K::Received { from, label, seq, payload: value(c, at)? }
        }
        kind::DROPPED => {
            let (to, label, seq) = msg(c, at)?;
            K::Dropped { to, label, seq }
        }
        kind::OVERWRITTEN => {
            let (to, label, seq) = msg(c, at)?;
            K::Overwritten { to, label, seq }
        }
        kind::CONSUMED => consumed(c, at)?,
        kind::INJECTED => {
            let tag_at = c.offset();
            let tag = c.u8("injection").map_err(e)?;
            let injection = Injection::from_byte(tag).ok_or_else(|| at.bad_tag(tag_at, "injection", tag))?;
            let nth = c.u64("nth").map_err(e)?;
            K::Injected { injection, nth, to: c.u16("peer role").map_err(e)?, seq: c.u64("seq").map_err(e)? }
        }
        kind::DUPLICATE_REFUSED => K::DuplicateRefused {
            to: c.u16("peer role").map_err(e)?,
            seq: c.u64("seq").map_err(e)?,
            identity: c.array("identity").map_err(e)?,
        },
        kind::HOST_ANSWER => K::HostAnswer { point: host_point(c, at)?, answer: value(c, at)? },
        kind::TIMEOUT_ISSUED => K::TimeoutIssued { witness: c.u64("witness").map_err(e)? },
        kind::CANCELLATION_REQUESTED => K::CancellationRequested { witness: c.u64("witness").map_err(e)? },
        kind::CANCELLED => K::Cancelled { witness: c.u64("witness").map_err(e)? },
        kind::ABORTED => K::Aborted,
        kind::FAILURE_BRANCH_ENTERED => K::FailureBranchEntered { code: c.u16("fault code").map_err(e)? },
        kind::FAULTED => K::Faulted { code: c.u16("fault code").map_err(e)? },
        kind::CLOSED => K::Closed,
        kind::SESSION_TERMINAL => K::SessionTerminal { reason: terminal_reason(c, at)? },
        kind::EPOCH_ADVANCED => K::EpochAdvanced { epoch: c.u64("epoch").map_err(e)? },
        kind::TIMEOUT_EXPIRED => K::TimeoutExpired { witness: c.u64("witness").map_err(e)? },
        kind::TIMEOUT_WITHDRAWN => K::TimeoutWithdrawn { witness: c.u64("witness").map_err(e)? },
        kind::ENDPOINT_CLOSED => K::EndpointClosed,
        kind::DRAINING => K::Draining { undelivered: c.u32("undelivered").map_err(e)? },
        kind::DISCARDED => {
            let from = c.u16("from role").map_err(e)?;
            let (to, label, seq) = msg(c, at)?;
            K::Discarded { from, to, label, seq }
        }
        kind::EDGE_HISTORY => K::EdgeHistory {
            from: c.u16("from role").map_err(e)?,
            to: c.u16("to role").map_err(e)?,
            sent: c.u64("sent count").map_err(e)?,
            delivered: c.u64("delivered count").map_err(e)?,
            history: c.array("edge history").map_err(e)?,
        },
        kind::DELEGATED => K::Delegated { endpoint: endpoint(c, at)? },
        kind::DELEGATION_COMPLETED => K::DelegationCompleted { endpoint: endpoint(c, at)? },
        kind::OWNERSHIP => K::Ownership { record: ownership(c, at)? },
        _ => return Err(KindError::Unknown),
    })
}

fn msg(c: &mut Cursor<'_>, at: At) -> Result<(u16, SymId, u64), ReplayError> {
    let e = |s| at.overrun(s);
    Ok((c.u16("peer role").map_err(e)?, SymId(c.u32("label").map_err(e)?), c.u64("seq").map_err(e)?))
}

fn endpoint(c: &mut Cursor<'_>, at: At) -> Result<canon_types::Endpoint, ReplayError> {
    let e = |s| at.overrun(s);
    Ok(canon_types::Endpoint { sid: c.u64("endpoint sid").map_err(e)?, role: c.u16("endpoint role").map_err(e)? })
}

/// Writes an ownership record: tag, then its fields (see bytecode-spec/replay.md).
fn put_ownership(out: &mut Vec<u8>, record: &OwnershipRecord) {
    use OwnershipRecord as R;
    let u64s = |out: &mut Vec<u8>, xs: &[u64]| xs.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    let strs =
        |out: &mut Vec<u8>, xs: &[&std::sync::Arc<str>]| xs.iter().for_each(|x| Value::Str((*x).clone()).encode(out));
    let (tag, nums, texts): (u8, Vec<u64>, Vec<&std::sync::Arc<str>>) = match record {
        R::Claimed { owner, generation } => (0, vec![*generation], vec![owner]),
        R::Transferred { from, to, generation } => (1, vec![*generation], vec![from, to]),
        R::Rejected { code, owner, generation } => {
            out.push(2);
            out.extend_from_slice(&code.to_le_bytes());
            u64s(out, &[*generation]);
            strs(out, &[owner]);
            return;
        }
        R::TransferBegun { owner, generation, to } => (3, vec![*generation], vec![owner, to]),
        R::ReceiptIssued { receipt, to } => (4, vec![*receipt], vec![to]),
        R::Commit { receipt } => (5, vec![*receipt], vec![]),
        R::Rollback { receipt } => (6, vec![*receipt], vec![]),
        R::Abandon { receipt } => (7, vec![*receipt], vec![]),
        R::CommitFailed { receipt, reason } => (8, vec![*receipt], vec![reason]),
        R::Attenuate { owner, generation, scope } => {
            out.push(9);
            u64s(out, &[*generation]);
            strs(out, &[owner]);
            put_scope(out, scope);
            return;
        }
        R::IssueReadiness { owner, generation, check } => (10, vec![*generation], vec![owner, check]),
        R::WitnessIssued { witness, generation, check } => (11, vec![*witness, *generation], vec![check]),
        R::Consume { witness, generation, check } => (12, vec![*witness, *generation], vec![check]),
        R::WitnessInvalidated { witness } => (13, vec![*witness], vec![]),
        R::WitnessRejected { witness, code } => {
            out.push(14);
            u64s(out, &[*witness]);
            out.extend_from_slice(&code.to_le_bytes());
            return;
        }
        R::OwnerDied { owner, generation, reason } => (15, vec![*generation], vec![owner, reason]),
        R::Terminal { reason } => (16, vec![], vec![reason]),
        R::SemanticHandoff { revoked, activated, receipt, generation } => {
            (17, vec![*receipt, *generation], vec![revoked, activated])
        }
        R::TransformationObligation { receipt, scope, invalidated_witnesses } => {
            out.push(18);
            u64s(out, &[*receipt]);
            put_scope(out, scope);
            out.extend_from_slice(&len_u32(invalidated_witnesses.len()).to_le_bytes());
            u64s(out, invalidated_witnesses);
            return;
        }
        R::Mutate { owner, generation } => (19, vec![*generation], vec![owner]),
    };
    out.push(tag);
    u64s(out, &nums);
    strs(out, &texts);
}

fn put_scope(out: &mut Vec<u8>, scope: &Scope) {
    let (tag, names): (u8, &[String]) = match scope {
        Scope::Full => (0, &[]),
        Scope::Roles(r) => (1, r),
        Scope::Operations(o) => (2, o),
    };
    out.push(tag);
    out.extend_from_slice(&len_u32(names.len()).to_le_bytes());
    names.iter().for_each(|n| Value::Str(std::sync::Arc::from(n.as_str())).encode(out));
}

fn ownership(c: &mut Cursor<'_>, at: At) -> Result<OwnershipRecord, ReplayError> {
    use OwnershipRecord as R;
    let e = |s| at.overrun(s);
    let tag_at = c.offset();
    let tag = c.u8("ownership record").map_err(e)?;
    let label = |c: &mut Cursor<'_>| -> Result<std::sync::Arc<str>, ReplayError> {
        let (str_at, value_tag) = (c.offset(), c.rest().first().copied().unwrap_or(0));
        match value(c, at)? {
            Value::Str(s) => Ok(s),
            _ => Err(at.bad_tag(str_at, "owner label", value_tag)),
        }
    };
    let n = |c: &mut Cursor<'_>, what| c.u64(what).map_err(e);
    Ok(match tag {
        0 => {
            let generation = n(c, "generation")?;
            R::Claimed { generation, owner: label(c)? }
        }
        1 => {
            let generation = n(c, "generation")?;
            let from = label(c)?;
            R::Transferred { generation, from, to: label(c)? }
        }
        2 => {
            let code = c.u16("ownership code").map_err(e)?;
            let generation = n(c, "generation")?;
            R::Rejected { code, generation, owner: label(c)? }
        }
        3 => {
            let generation = n(c, "generation")?;
            let owner = label(c)?;
            R::TransferBegun { generation, owner, to: label(c)? }
        }
        4 => {
            let receipt = n(c, "receipt")?;
            R::ReceiptIssued { receipt, to: label(c)? }
        }
        5 => R::Commit { receipt: n(c, "receipt")? },
        6 => R::Rollback { receipt: n(c, "receipt")? },
        7 => R::Abandon { receipt: n(c, "receipt")? },
        8 => {
            let receipt = n(c, "receipt")?;
            R::CommitFailed { receipt, reason: label(c)? }
        }
        9 => {
            let generation = n(c, "generation")?;
            let owner = label(c)?;
            R::Attenuate { generation, owner, scope: scope(c, at)? }
        }
        10 => {
            let generation = n(c, "generation")?;
            let owner = label(c)?;
            R::IssueReadiness { generation, owner, check: label(c)? }
        }
        11 | 12 => {
            let witness = n(c, "witness")?;
            let generation = n(c, "generation")?;
            let check = label(c)?;
            if tag == 11 {
                R::WitnessIssued { witness, generation, check }
            } else {
                R::Consume { witness, generation, check }
            }
        }
        13 => R::WitnessInvalidated { witness: n(c, "witness")? },
        14 => {
            let witness = n(c, "witness")?;
            R::WitnessRejected { witness, code: c.u16("ownership code").map_err(e)? }
        }
        15 => {
            let generation = n(c, "generation")?;
            let owner = label(c)?;
            R::OwnerDied { generation, owner, reason: label(c)? }
        }
        16 => R::Terminal { reason: label(c)? },
        17 => {
            let receipt = n(c, "receipt")?;
            let generation = n(c, "generation")?;
            let revoked = label(c)?;
            R::SemanticHandoff { receipt, generation, revoked, activated: label(c)? }
        }
        18 => {
            let receipt = n(c, "receipt")?;
            let scope = scope(c, at)?;
            let count_at = c.offset();
            let count = c.u32("witness count").map_err(e)? as usize;
            if count > c.remaining() / 8 {
                let s = Short {
                    offset: count_at,
                    what: "witness list",
                    needed: count.saturating_mul(8),
                    available: c.remaining(),
                };
                return Err(at.overrun(s));
            }
            let invalidated_witnesses = (0..count).map(|_| n(c, "witness")).collect::<Result<_, _>>()?;
            R::TransformationObligation { receipt, scope, invalidated_witnesses }
        }
        19 => {
            let generation = n(c, "generation")?;
            R::Mutate { generation, owner: label(c)? }
        }
        tag => return Err(at.bad_tag(tag_at, "ownership record", tag)),
    })
}

fn scope(c: &mut Cursor<'_>, at: At) -> Result<Scope, ReplayError> {
    let e = |s| at.overrun(s);
    let tag_at = c.offset();
    let tag = c.u8("scope").map_err(e)?;
    let count_at = c.offset();
    let count = c.u32("scope name count").map_err(e)? as usize;
    // A name is at least a value tag and a length.
    if count > c.remaining() / 5 {
        let s =
            Short { offset: count_at, what: "scope names", needed: count.saturating_mul(5), available: c.remaining() };
        return Err(at.overrun(s));
    }
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let (str_at, value_tag) = (c.offset(), c.rest().first().copied().unwrap_or(0));
        match value(c, at)? {
            Value::Str(s) => names.push(s.to_string()),
            _ => return Err(at.bad_tag(str_at, "scope name", value_tag)),
        }
    }
    match tag {
        0 if names.is_empty() => Ok(Scope::Full),
        1 => Ok(Scope::Roles(names)),
        2 => Ok(Scope::Operations(names)),
        _ => Err(at.bad_tag(tag_at, "scope", tag)),
    }
}

fn decode_roles(c: &mut Cursor<'_>, at: At) -> Result<Vec<SymId>, ReplayError> {
    let e = |s| at.overrun(s);
    let count_at = c.offset();
    let count = c.u32("role count").map_err(e)? as usize;
    if count > c.remaining() / 4 {
        let s =
            Short { offset: count_at, what: "role list", needed: count.saturating_mul(4), available: c.remaining() };
        return Err(at.overrun(s));
    }
    (0..count).map(|_| c.u32("role name").map(SymId).map_err(e)).collect()
}

fn decode_keys(c: &mut Cursor<'_>, at: At) -> Result<Vec<[u8; 32]>, ReplayError> {
    let e = |s| at.overrun(s);
    let count_at = c.offset();
    let count = c.u32("key count").map_err(e)? as usize;
    if count > c.remaining() / 32 {
        let s =
            Short { offset: count_at, what: "key list", needed: count.saturating_mul(32), available: c.remaining() };
        return Err(at.overrun(s));
    }
    (0..count).map(|_| c.array("verifying key").map_err(e)).collect()
}

fn signature(c: &mut Cursor<'_>, at: At) -> Result<Option<[u8; 64]>, ReplayError> {
    let e = |s| at.overrun(s);
    let tag_at = c.offset();
    match c.u8("signature flag").map_err(e)? {
        0 => Ok(None),
        1 => Ok(Some(c.array("signature").map_err(e)?)),
        tag => Err(at.bad_tag(tag_at, "signature flag", tag)),
    }
}

fn consumed(c: &mut Cursor<'_>, at: At) -> Result<EventKind, ReplayError> {
    let e = |s| at.overrun(s);
    let tag_at = c.offset();
    let tag = c.u8("replay mode").map_err(e)?;
    let mode = match ReplayMode::from_byte(tag) {
        Some(m @ (ReplayMode::Sequence | ReplayMode::Nullifier)) => m,
        _ => return Err(at.bad_tag(tag_at, "replay mode", tag)),
    };
    Ok(EventKind::Consumed {
        mode,
        identity: c.array("identity").map_err(e)?,
        pre_root: c.array("pre-root").map_err(e)?,
        post_root: c.array("post-root").map_err(e)?,
    })
}

fn host_point(c: &mut Cursor<'_>, at: At) -> Result<HostPoint, ReplayError> {
    let e = |s| at.overrun(s);
    let tag_at = c.offset();
    Ok(match c.u8("host point").map_err(e)? {
        0 => HostPoint::Produce { label: SymId(c.u32("label").map_err(e)?) },
        1 => HostPoint::Accept { label: SymId(c.u32("label").map_err(e)?) },
        2 => HostPoint::Choose,
        3 => HostPoint::Invoke { effect: SymId(c.u32("effect").map_err(e)?) },
        tag => return Err(at.bad_tag(tag_at, "host point", tag)),
    })
}

fn terminal_reason(c: &mut Cursor<'_>, at: At) -> Result<TerminalReason, ReplayError> {
    let tag_at = c.offset();
    Ok(match c.u8("terminal reason").map_err(|s| at.overrun(s))? {
        0 => TerminalReason::Closed,
        1 => TerminalReason::Cancelled,
        2 => TerminalReason::Aborted,
        3 => TerminalReason::Faulted { code: c.u16("fault code").map_err(|s| at.overrun(s))? },
        tag => return Err(at.bad_tag(tag_at, "terminal reason", tag)),
    })
}

fn value(c: &mut Cursor<'_>, at: At) -> Result<Value, ReplayError> {
    let start = c.offset();
    let (v, n) = Value::decode(c.rest()).map_err(|source| ReplayError::BadValue {
        offset: start + value_error_offset(&source),
        block: at.block,
        event: at.event,
        source,
    })?;
    c.skip(n);
    Ok(v)
}

fn value_error_offset(e: &ValueDecodeError) -> usize {
    e.offset()
}
