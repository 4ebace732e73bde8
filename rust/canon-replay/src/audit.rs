//! Audit surfaces derived from a canonical replay (a function of the replay
//! alone, so an auditor computes them offline):
//!
//! - [`semantic_audit_log`]: the lifecycle-visible events (timeouts,
//!   cancellation, abort, failure, close, draining, terminal states, epochs),
//!   witness issuance and consumption, and delegation completion;
//! - [`capability_lifecycle_audit_log`]: the stricter lifecycle of the
//!   first-class authority objects: owner claims and transfers, rejected
//!   owner handles, and timeout/cancellation witnesses (issued, consumed,
//!   expired, invalidated).
//!
//! Entries are in replay order; each names the index of the event it comes
//! from. See docs/ownership.md.

use canon_machine::event::{EventKind, EventSite, OwnershipRecord, TerminalReason};
use serde_json::json;

use crate::replay::Replay;

/// The object an audit entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditObject {
    /// A session (`sid`).
    Session { sid: u64 },
    /// A timeout or cancellation witness of the group.
    Witness { id: u64 },
    /// An endpoint that was delegated.
    Endpoint { sid: u64, role: u16 },
    /// A host-side owner of the group (the instance).
    Owner { label: String, generation: u64 },
    /// A coroutine (a fault).
    Coroutine { id: u32 },
}

/// One audit entry: which event, where, about what, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Index of the event in the replay.
    pub event: usize,
    pub site: EventSite,
    pub object: AuditObject,
    /// What happened (e.g. `issued`, `consumed`, `expired`, `Closed`).
    pub action: String,
}

fn entry(event: usize, site: EventSite, object: AuditObject, action: impl Into<String>) -> AuditEntry {
    AuditEntry { event, site, object, action: action.into() }
}

fn terminal(reason: &TerminalReason) -> String {
    match reason {
        TerminalReason::Faulted { code } => format!("SessionTerminal Faulted code={code}"),
        other => format!("SessionTerminal {other:?}"),
    }
}

/// Ownership entries (both logs).
fn ownership(i: usize, site: EventSite, record: &OwnershipRecord, out: &mut Vec<AuditEntry>) {
    let owner = |label: &str, generation: u64| AuditObject::Owner { label: label.to_owned(), generation };
    match record {
        OwnershipRecord::Claimed { owner: o, generation } => out.push(entry(i, site, owner(o, *generation), "claimed")),
        OwnershipRecord::Transferred { from, to, generation } => {
            out.push(entry(i, site, owner(from, generation.saturating_sub(1)), "revoked"));
            out.push(entry(i, site, owner(to, *generation), "activated"));
        }
        OwnershipRecord::Rejected { code, owner: o, generation } => {
            out.push(entry(i, site, owner(o, *generation), format!("rejected code={code}")));
        }
    }
}

/// The semantic audit log of `replay`.
pub fn semantic_audit_log(replay: &Replay) -> Vec<AuditEntry> {
    use EventKind as K;
    let mut out = Vec::new();
    for (i, e) in replay.events.iter().enumerate() {
        let site = e.site;
        let session = AuditObject::Session { sid: site.sid };
        let witness = |id: u64| AuditObject::Witness { id };
        match &e.kind {
            K::TimeoutIssued { witness: w } => out.push(entry(i, site, witness(*w), "TimeoutIssued")),
            K::TimeoutExpired { witness: w } => out.push(entry(i, site, witness(*w), "TimeoutExpired")),
            K::TimeoutWithdrawn { witness: w } => out.push(entry(i, site, witness(*w), "TimeoutWithdrawn")),
            K::CancellationRequested { witness: w } => {
                out.push(entry(i, site, witness(*w), "CancellationRequested"));
            }
            K::Cancelled { witness: w } => out.push(entry(i, site, witness(*w), "Cancelled (consumed)")),
            K::Aborted => out.push(entry(i, site, session, "Aborted")),
            K::FailureBranchEntered { code } => {
                out.push(entry(
                    i,
                    site,
                    AuditObject::Coroutine { id: site.coroutine },
                    format!("FailureBranchEntered code={code}"),
                ));
            }
            K::Faulted { code } => {
                out.push(entry(i, site, AuditObject::Coroutine { id: site.coroutine }, format!("Faulted code={code}")));
            }
            K::EndpointClosed => out.push(entry(i, site, session, format!("EndpointClosed role={}", site.role))),
            K::Draining { undelivered } => {
                out.push(entry(i, site, session, format!("Draining undelivered={undelivered}")))
            }
            K::Discarded { from, to, seq, .. } => {
                out.push(entry(i, site, session, format!("Discarded {from}->{to} seq={seq}")));
            }
            K::Closed => out.push(entry(i, site, session, "Closed")),
            K::SessionTerminal { reason } => out.push(entry(i, site, session, terminal(reason))),
            K::EpochAdvanced { epoch } => out.push(entry(i, site, session, format!("EpochAdvanced epoch={epoch}"))),
            K::DelegationCompleted { endpoint } => out.push(entry(
                i,
                site,
                AuditObject::Endpoint { sid: endpoint.sid, role: endpoint.role },
                format!("DelegationCompleted to coroutine {}", site.coroutine),
            )),
            K::Ownership { record } => ownership(i, site, record, &mut out),
            _ => {}
        }
    }
    out
}

/// The capability lifecycle audit log of `replay`: issuance, consumption,
/// invalidation, rejection and expiry of owners and witnesses.
pub fn capability_lifecycle_audit_log(replay: &Replay) -> Vec<AuditEntry> {
    use EventKind as K;
    let mut out = Vec::new();
    // Witnesses issued so far, per group: a cancellation naming an unissued
    // witness issues it first.
    let mut issued: Vec<(u32, u64)> = Vec::new();
    for (i, e) in replay.events.iter().enumerate() {
        let site = e.site;
        let witness = |id: u64| AuditObject::Witness { id };
        match &e.kind {
            K::TimeoutIssued { witness: w } => {
                issued.push((site.group, *w));
                out.push(entry(i, site, witness(*w), "issued (timeout)"));
            }
            K::TimeoutExpired { witness: w } => out.push(entry(i, site, witness(*w), "expired")),
            K::TimeoutWithdrawn { witness: w } => out.push(entry(i, site, witness(*w), "invalidated (withdrawn)")),
            K::CancellationRequested { witness: w } if !issued.contains(&(site.group, *w)) => {
                issued.push((site.group, *w));
                out.push(entry(i, site, witness(*w), "issued (cancellation)"));
            }
            K::Cancelled { witness: w } => out.push(entry(i, site, witness(*w), "consumed (cancellation)")),
            K::Ownership { record } => ownership(i, site, record, &mut out),
            _ => {}
        }
    }
    out
}

fn object_text(o: &AuditObject) -> String {
    match o {
        AuditObject::Session { sid } if *sid == EventSite::NO_SID => "session -".to_owned(),
        AuditObject::Session { sid } => format!("session {sid:#x}"),
        AuditObject::Witness { id } => format!("witness {id}"),
        AuditObject::Endpoint { sid, role } => format!("endpoint {sid:#x}.r{role}"),
        AuditObject::Owner { label, generation } => format!("owner {label:?} generation {generation}"),
        AuditObject::Coroutine { id } => format!("coroutine {id}"),
    }
}

/// One line per entry: `#event t=tick gN object: action`.
pub fn render_audit_text(entries: &[AuditEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        s.push_str(&format!(
            "#{} t={} g{} {}: {}\n",
            e.event,
            e.site.tick,
            e.site.group,
            object_text(&e.object),
            e.action
        ));
    }
    s
}

/// One JSON object per line.
pub fn render_audit_jsonl(entries: &[AuditEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let object = match &e.object {
            AuditObject::Session { sid } => json!({ "session": sid }),
            AuditObject::Witness { id } => json!({ "witness": id }),
            AuditObject::Endpoint { sid, role } => json!({ "endpoint": { "sid": sid, "role": role } }),
            AuditObject::Owner { label, generation } => json!({ "owner": label, "generation": generation }),
            AuditObject::Coroutine { id } => json!({ "coroutine": id }),
        };
        let line = json!({
            "event": e.event,
            "group": e.site.group,
            "tick": e.site.tick,
            "coroutine": e.site.coroutine,
            "object": object,
            "action": e.action,
        });
        s.push_str(&line.to_string());
        s.push('\n');
    }
    s
}
