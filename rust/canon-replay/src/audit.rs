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
    Session {
        /// The session id.
        sid: u64,
    },
    /// A timeout or cancellation witness of the group.
    Witness {
        /// The witness id (unique per group).
        id: u64,
    },
    /// An endpoint that was delegated.
    Endpoint {
        /// The session id.
        sid: u64,
        /// The endpoint's role index in the session.
        role: u16,
    },
    /// A host-side owner of a session (the site's).
    Owner {
        /// The owner's label.
        label: String,
        /// The owner's generation.
        generation: u64,
    },
    /// A staged ownership transfer's receipt.
    Receipt {
        /// The session id.
        sid: u64,
        /// The receipt id, unique within the session.
        id: u64,
    },
    /// A host-issued readiness witness.
    Readiness {
        /// The session id.
        sid: u64,
        /// The witness id, unique within the session.
        id: u64,
    },
    /// A coroutine (a fault).
    Coroutine {
        /// The coroutine id within its group.
        id: u32,
    },
}

/// One audit entry: which event, where, about what, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Index of the event in the replay.
    pub event: usize,
    /// Where and when it happened.
    pub site: EventSite,
    /// The object the entry is about.
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

/// Whether event `i + 1` refuses the operation at event `i`.
fn refused(events: &[canon_machine::Event], i: usize) -> Option<u16> {
    match events.get(i + 1).map(|e| &e.kind) {
        Some(EventKind::Ownership {
            record: OwnershipRecord::Rejected { code, .. } | OwnershipRecord::WitnessRejected { code, .. },
        }) => Some(*code),
        _ => None,
    }
}

/// Ownership entries of event `i` (both logs; `semantic` adds the handoff,
/// obligation and terminal-reason records).
fn ownership(events: &[canon_machine::Event], i: usize, semantic: bool, out: &mut Vec<AuditEntry>) {
    use OwnershipRecord as R;
    let site = events[i].site;
    let EventKind::Ownership { record } = &events[i].kind else { return };
    let owner = |label: &str, generation: u64| AuditObject::Owner { label: label.to_owned(), generation };
    let receipt = |id: u64| AuditObject::Receipt { sid: site.sid, id };
    let readiness = |id: u64| AuditObject::Readiness { sid: site.sid, id };
    let session = AuditObject::Session { sid: site.sid };
    let ok = refused(events, i).is_none();
    let mut push = |object, action: String| out.push(entry(i, site, object, action));
    match record {
        R::Claimed { owner: o, generation } if ok => push(owner(o, *generation), "claimed".into()),
        R::Transferred { from, to, generation } => {
            push(owner(from, generation.saturating_sub(1)), "revoked".into());
            push(owner(to, *generation), "activated".into());
        }
        R::Rejected { code, owner: o, generation } => {
            // The refused operation is the event before.
            let object = match i.checked_sub(1).map(|p| &events[p].kind) {
                Some(EventKind::Ownership {
                    record:
                        R::Commit { receipt: r }
                        | R::Rollback { receipt: r }
                        | R::Abandon { receipt: r }
                        | R::CommitFailed { receipt: r, .. },
                }) => receipt(*r),
                _ => owner(o, *generation),
            };
            push(object, format!("rejected code={code}"));
        }
        R::ReceiptIssued { receipt: r, to } => push(receipt(*r), format!("issued to={to:?}")),
        R::Commit { receipt: r } if ok => push(receipt(*r), "consumed (committed)".into()),
        R::Rollback { receipt: r } if ok => push(receipt(*r), "rolled back".into()),
        R::Abandon { receipt: r } if ok => push(receipt(*r), "invalidated (abandoned)".into()),
        R::CommitFailed { receipt: r, .. } if ok => push(receipt(*r), "invalidated (commit failed)".into()),
        R::Attenuate { owner: o, generation, scope } if ok => {
            push(owner(o, *generation), "revoked (attenuated)".into());
            push(owner(o, generation + 1), format!("activated scope={}", crate::render::scope_text(scope)));
        }
        R::WitnessIssued { witness, generation, check } => {
            push(readiness(*witness), format!("issued check={check:?} generation={generation}"));
        }
        R::Consume { witness, .. } if ok => push(readiness(*witness), "consumed".into()),
        R::WitnessInvalidated { witness } => push(readiness(*witness), "invalidated".into()),
        R::WitnessRejected { witness, code } => push(readiness(*witness), format!("rejected code={code}")),
        R::OwnerDied { owner: o, generation, .. } if ok => push(owner(o, *generation), "revoked (died)".into()),
        R::Terminal { reason } if semantic => push(session, format!("OwnershipTerminal reason={reason:?}")),
        R::SemanticHandoff { revoked, activated, receipt: r, generation } if semantic => push(
            session,
            format!("SemanticHandoff revoked={revoked:?} activated={activated:?} receipt={r} generation={generation}"),
        ),
        R::TransformationObligation { receipt: r, scope, invalidated_witnesses } if semantic => push(
            session,
            format!(
                "TransformationObligation receipt={r} scope={} invalidated_witnesses={invalidated_witnesses:?}",
                crate::render::scope_text(scope)
            ),
        ),
        _ => {}
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
            K::DuplicateRefused { to, seq, identity } => {
                let from = site.role;
                let id = canon_types::hex(&identity[..4]);
                out.push(entry(i, site, session, format!("DuplicateRefused {from}->{to} seq={seq} id={id}")));
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
            K::Ownership { .. } => ownership(&replay.events, i, true, &mut out),
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
            K::Ownership { .. } => ownership(&replay.events, i, false, &mut out),
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
        AuditObject::Receipt { sid, id } => format!("receipt {sid:#x}.{id}"),
        AuditObject::Readiness { sid, id } => format!("readiness {sid:#x}.{id}"),
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
            AuditObject::Receipt { sid, id } => json!({ "receipt": { "sid": sid, "id": id } }),
            AuditObject::Readiness { sid, id } => json!({ "readiness": { "sid": sid, "id": id } }),
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
