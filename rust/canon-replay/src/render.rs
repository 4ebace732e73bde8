//! Human and JSON-lines views of a replay.

use canon_machine::ReplayMode;
use canon_machine::event::{Event, EventKind, EventSite, HostPoint, OwnershipRecord, TerminalReason};
use canon_types::Value;
use serde_json::{Map, json};

use crate::header::FORMAT_VERSION;
use crate::names::{Names, hex, sid_text};
use crate::replay::Replay;

/// The text view: a header summary, then one line per event, e.g.
/// `t=3 g0 c1 s0:Buyer1 Sent -> Seller Title("x") seq=0 sig=1a2b3c4d`.
/// Keys, signatures and hashes show their first 4 bytes in hex (the JSON
/// view has them whole).
pub fn render_text(replay: &Replay) -> String {
    let mut out = header_text(replay);
    let mut names = Names::new(&replay.header.strings);
    for ev in &replay.events {
        names.observe(ev);
        out.push_str(&event_line(&names, ev));
        out.push('\n');
    }
    out
}

fn header_text(replay: &Replay) -> String {
    let h = &replay.header;
    format!(
        "canon replay v{FORMAT_VERSION}\nprogram {}\nconfig  {}\nseed    {}\nstrings {}\nevents  {}\nblocks  {}\nroot    {}\n",
        hex(&h.program_digest),
        hex(&h.config_digest),
        h.seed,
        h.strings.len(),
        replay.events.len(),
        replay.block_count(),
        hex(&replay.root),
    )
}

/// One event as a text line (no newline). `names` must have observed every
/// event up to and including `ev`.
pub(crate) fn event_line(names: &Names<'_>, ev: &Event) -> String {
    let s = &ev.site;
    let at = if s.sid == EventSite::NO_SID {
        "-".to_owned()
    } else if s.role == EventSite::NO_ROLE {
        sid_text(s)
    } else {
        format!("{}:{}", sid_text(s), names.role(s.sid, s.role))
    };
    format!("t={} g{} c{} {at} {}", s.tick, s.group, s.coroutine, kind_text(names, s, &ev.kind))
}

fn kind_text(names: &Names<'_>, s: &EventSite, kind: &EventKind) -> String {
    use EventKind as K;
    let role = |r: u16| names.role(s.sid, r);
    match kind {
        K::Spawned { proc } => format!("Spawned proc={proc}"),
        K::Opened { roles, keys } => {
            let list: Vec<String> = roles.iter().map(|r| names.sym(*r)).collect();
            if keys.is_empty() {
                format!("Opened [{}]", list.join(", "))
            } else {
                let keys: Vec<String> = keys.iter().map(|k| short(k)).collect();
                format!("Opened [{}] keys=[{}]", list.join(", "), keys.join(", "))
            }
        }
        K::Sent { to, label, seq, payload, signature } => {
            let sig = signature.map_or(String::new(), |s| format!(" sig={}", short(&s)));
            format!("Sent -> {} {} seq={seq}{sig}", role(*to), names.message(*label, payload))
        }
        K::Consumed { mode, identity, pre_root, post_root } => {
            format!(
                "Consumed {} id={} root={}->{}",
                mode_name(*mode),
                short(identity),
                short(pre_root),
                short(post_root)
            )
        }
        K::Injected { injection, nth, to, seq } => {
            format!("Injected {} nth={nth} -> {} seq={seq}", injection.name(), role(*to))
        }
        K::Received { from, label, seq, payload } => {
            format!("Received <- {} {} seq={seq}", role(*from), names.message(*label, payload))
        }
        K::Dropped { to, label, seq } => format!("Dropped -> {} {} seq={seq}", role(*to), names.sym(*label)),
        K::Overwritten { to, label, seq } => format!("Overwritten -> {} {} seq={seq}", role(*to), names.sym(*label)),
        K::HostAnswer { point, answer } => {
            let point = match point {
                HostPoint::Produce { label } => format!("produce {}", names.sym(*label)),
                HostPoint::Accept { label } => format!("accept {}", names.sym(*label)),
                HostPoint::Choose => "choose".to_owned(),
                HostPoint::Invoke { effect } => format!("invoke {}", names.sym(*effect)),
            };
            format!("HostAnswer {point} = {}", names.value(answer))
        }
        K::TimeoutIssued { witness } => format!("TimeoutIssued witness={witness}"),
        K::CancellationRequested { witness } => format!("CancellationRequested witness={witness}"),
        K::Cancelled { witness } => format!("Cancelled witness={witness}"),
        K::FailureBranchEntered { code } => format!("FailureBranchEntered code={code}"),
        K::Faulted { code } => format!("Faulted code={code}"),
        K::SessionTerminal { reason } => match reason {
            TerminalReason::Faulted { code } => format!("SessionTerminal Faulted code={code}"),
            other => format!("SessionTerminal {other:?}"),
        },
        K::EpochAdvanced { epoch } => format!("EpochAdvanced epoch={epoch}"),
        K::TimeoutExpired { witness } => format!("TimeoutExpired witness={witness}"),
        K::TimeoutWithdrawn { witness } => format!("TimeoutWithdrawn witness={witness}"),
        K::Draining { undelivered } => format!("Draining undelivered={undelivered}"),
        K::Discarded { from, to, label, seq } => {
            format!("Discarded {from}->{to} {} seq={seq}", names.sym(*label))
        }
        K::Delegated { endpoint } => format!("Delegated endpoint={endpoint}"),
        K::Ownership { record } => match record {
            OwnershipRecord::Claimed { owner, generation } => {
                format!("OwnerClaimed owner={owner:?} generation={generation}")
            }
            OwnershipRecord::Transferred { from, to, generation } => {
                format!("OwnerTransferred from={from:?} to={to:?} generation={generation}")
            }
            OwnershipRecord::Rejected { code, owner, generation } => {
                format!("OwnershipRejected code={code} owner={owner:?} generation={generation}")
            }
        },
        K::DelegationCompleted { endpoint } => format!("DelegationCompleted endpoint={endpoint}"),
        K::Halted | K::Aborted | K::Closed | K::EndpointClosed => format!("{kind:?}"),
    }
}

/// The first 4 bytes of a key, signature or hash, in hex.
fn short(bytes: &[u8]) -> String {
    hex(&bytes[..bytes.len().min(4)])
}

fn mode_name(mode: ReplayMode) -> &'static str {
    match mode {
        ReplayMode::Off => "off",
        ReplayMode::Sequence => "sequence",
        ReplayMode::Nullifier => "nullifier",
    }
}

/// The JSON-lines view: a header object, then one object per event with
/// named fields (`"type": "header"` / `"type": "event"`).
pub fn render_jsonl(replay: &Replay) -> String {
    let h = &replay.header;
    let header = json!({
        "type": "header",
        "format_version": FORMAT_VERSION,
        "program_digest": hex(&h.program_digest),
        "config_digest": hex(&h.config_digest),
        "seed": h.seed,
        "strings": h.strings,
        "events": replay.events.len(),
        "blocks": replay.block_count(),
        "root": hex(&replay.root),
    });
    let mut out = header.to_string();
    out.push('\n');
    let mut names = Names::new(&h.strings);
    for (index, ev) in replay.events.iter().enumerate() {
        names.observe(ev);
        out.push_str(&event_json(&names, index, ev).to_string());
        out.push('\n');
    }
    out
}

/// One event as a JSON object.
pub(crate) fn event_json(names: &Names<'_>, index: usize, ev: &Event) -> serde_json::Value {
    let s = &ev.site;
    let has_sid = s.sid != EventSite::NO_SID;
    let has_role = has_sid && s.role != EventSite::NO_ROLE;
    let mut obj = Map::new();
    obj.insert("type".into(), json!("event"));
    obj.insert("index".into(), json!(index));
    obj.insert("group".into(), json!(s.group));
    obj.insert("tick".into(), json!(s.tick));
    obj.insert("coroutine".into(), json!(s.coroutine));
    obj.insert("sid".into(), if has_sid { json!(s.sid) } else { json!(null) });
    obj.insert("role".into(), if has_role { json!(s.role) } else { json!(null) });
    obj.insert("role_name".into(), json!(has_role.then(|| names.role_name(s.sid, s.role)).flatten()));
    obj.insert("kind".into(), json!(kind_name(&ev.kind)));
    kind_fields(names, s.sid, &ev.kind, &mut obj);
    serde_json::Value::Object(obj)
}

/// The variant name of `kind`.
pub(crate) fn kind_name(kind: &EventKind) -> &'static str {
    use EventKind as K;
    match kind {
        K::Spawned { .. } => "Spawned",
        K::Halted => "Halted",
        K::Opened { .. } => "Opened",
        K::Sent { .. } => "Sent",
        K::Received { .. } => "Received",
        K::Dropped { .. } => "Dropped",
        K::Overwritten { .. } => "Overwritten",
        K::Consumed { .. } => "Consumed",
        K::Injected { .. } => "Injected",
        K::HostAnswer { .. } => "HostAnswer",
        K::TimeoutIssued { .. } => "TimeoutIssued",
        K::CancellationRequested { .. } => "CancellationRequested",
        K::Cancelled { .. } => "Cancelled",
        K::Aborted => "Aborted",
        K::FailureBranchEntered { .. } => "FailureBranchEntered",
        K::Faulted { .. } => "Faulted",
        K::Closed => "Closed",
        K::SessionTerminal { .. } => "SessionTerminal",
        K::EpochAdvanced { .. } => "EpochAdvanced",
        K::TimeoutExpired { .. } => "TimeoutExpired",
        K::TimeoutWithdrawn { .. } => "TimeoutWithdrawn",
        K::EndpointClosed => "EndpointClosed",
        K::Draining { .. } => "Draining",
        K::Discarded { .. } => "Discarded",
        K::Delegated { .. } => "Delegated",
        K::DelegationCompleted { .. } => "DelegationCompleted",
        K::Ownership { .. } => "Ownership",
    }
}

fn kind_fields(names: &Names<'_>, sid: u64, kind: &EventKind, obj: &mut Map<String, serde_json::Value>) {
    use EventKind as K;
    let mut put = |k: &str, v: serde_json::Value| {
        obj.insert(k.to_owned(), v);
    };
    match kind {
        K::Spawned { proc } => put("proc", json!(proc)),
        K::Opened { roles, keys } => {
            put("roles", json!(roles.iter().map(|r| names.sym(*r)).collect::<Vec<_>>()));
            put("keys", json!(keys.iter().map(|k| hex(k)).collect::<Vec<_>>()));
        }
        K::Sent { to: peer, label, seq, payload, .. } | K::Received { from: peer, label, seq, payload } => {
            let side = if matches!(kind, K::Sent { .. }) { "to" } else { "from" };
            put(side, json!(peer));
            put(&format!("{side}_name"), json!(names.role_name(sid, *peer)));
            put("label", json!(names.sym(*label)));
            put("seq", json!(seq));
            put("payload", value_json(names, payload));
            if let K::Sent { signature, .. } = kind {
                put("signature", json!(signature.map(|s| hex(&s))));
            }
        }
        K::Consumed { mode, identity, pre_root, post_root } => {
            put("mode", json!(mode_name(*mode)));
            put("identity", json!(hex(identity)));
            put("pre_root", json!(hex(pre_root)));
            put("post_root", json!(hex(post_root)));
        }
        K::Injected { injection, nth, to, seq } => {
            put("injection", json!(injection.name()));
            put("nth", json!(nth));
            put("to", json!(to));
            put("to_name", json!(names.role_name(sid, *to)));
            put("seq", json!(seq));
        }
        K::Dropped { to, label, seq } | K::Overwritten { to, label, seq } => {
            put("to", json!(to));
            put("to_name", json!(names.role_name(sid, *to)));
            put("label", json!(names.sym(*label)));
            put("seq", json!(seq));
        }
        K::HostAnswer { point, answer } => {
            let point = match point {
                HostPoint::Produce { label } => json!({ "point": "produce", "label": names.sym(*label) }),
                HostPoint::Accept { label } => json!({ "point": "accept", "label": names.sym(*label) }),
                HostPoint::Choose => json!({ "point": "choose" }),
                HostPoint::Invoke { effect } => json!({ "point": "invoke", "effect": names.sym(*effect) }),
            };
            put("point", point);
            put("answer", value_json(names, answer));
        }
        K::TimeoutIssued { witness }
        | K::TimeoutExpired { witness }
        | K::TimeoutWithdrawn { witness }
        | K::CancellationRequested { witness }
        | K::Cancelled { witness } => {
            put("witness", json!(witness));
        }
        K::Draining { undelivered } => put("undelivered", json!(undelivered)),
        K::Discarded { from, to, label, seq } => {
            put("from", json!(from));
            put("to", json!(to));
            put("label", json!(names.sym(*label)));
            put("seq", json!(seq));
        }
        K::Delegated { endpoint } | K::DelegationCompleted { endpoint } => {
            put("endpoint", json!({ "sid": endpoint.sid, "role": endpoint.role }));
        }
        K::Ownership { record } => match record {
            OwnershipRecord::Claimed { owner, generation } => {
                put("op", json!("claimed"));
                put("owner", json!(&**owner));
                put("generation", json!(generation));
            }
            OwnershipRecord::Transferred { from, to, generation } => {
                put("op", json!("transferred"));
                put("from", json!(&**from));
                put("to", json!(&**to));
                put("generation", json!(generation));
            }
            OwnershipRecord::Rejected { code, owner, generation } => {
                put("op", json!("rejected"));
                put("code", json!(code));
                put("owner", json!(&**owner));
                put("generation", json!(generation));
            }
        },
        K::FailureBranchEntered { code } | K::Faulted { code } => put("code", json!(code)),
        K::SessionTerminal { reason } => match reason {
            TerminalReason::Faulted { code } => put("reason", json!({ "Faulted": { "code": code } })),
            other => put("reason", json!(format!("{other:?}"))),
        },
        K::EpochAdvanced { epoch } => put("epoch", json!(epoch)),
        K::Halted | K::Aborted | K::Closed | K::EndpointClosed => {}
    }
}

/// A value as JSON, externally tagged by kind: `"unit"`, `{"int": 5}`,
/// `{"str": "x"}`, `{"bytes": "00ff"}`, `{"label": "Title"}`, `{"tuple": [...]}`.
pub(crate) fn value_json(names: &Names<'_>, value: &Value) -> serde_json::Value {
    match value {
        Value::Unit => json!("unit"),
        Value::Bool(b) => json!({ "bool": b }),
        Value::Int(i) => json!({ "int": i }),
        Value::Bytes(b) => json!({ "bytes": hex(b) }),
        Value::Str(s) => json!({ "str": &**s }),
        Value::Label(id) => json!({ "label": names.sym(*id) }),
        Value::Endpoint(ep) => json!({ "endpoint": { "sid": ep.sid, "role": ep.role } }),
        Value::Tuple(items) => json!({ "tuple": items.iter().map(|v| value_json(names, v)).collect::<Vec<_>>() }),
    }
}
