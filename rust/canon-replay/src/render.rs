//! Human and JSON-lines views of a replay, streamed: the header first, one
//! line per event as it is read, and the counts and root (known only at the
//! end of the file) last.

use std::io::{Read, Write};

use canon_bytecode::{Backpressure, BufferMode};
use canon_machine::event::{Event, EventKind, EventSite, HostPoint, RecordField, TerminalReason};
use canon_machine::{Auth, Config, ReplayMode};
use canon_types::Value;
use serde_json::{Map, json};

use crate::error::ReplayError;
use crate::header::{FORMAT_VERSION, ReplayHeader};
use crate::names::{Names, hex, sid_text};
use crate::replay::{Replay, ReplayEnd, ReplayReader};

/// Why a streamed view stopped.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The replay is damaged at this point (everything before it was shown).
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Every field of a configuration as `(name, value)` text, in encoding order.
/// The names are those `canon replay verify` reports a mismatch with.
pub fn config_fields(c: &Config) -> Vec<(&'static str, String)> {
    let l = &c.limits;
    let b = &c.default_buffer;
    vec![
        ("seed", c.seed.to_string()),
        ("auth", auth_name(c.auth).to_owned()),
        ("replay_mode", mode_name(c.replay_mode).to_owned()),
        ("max_sessions", l.max_sessions.to_string()),
        ("max_coroutines", l.max_coroutines.to_string()),
        ("max_payload_bytes", l.max_payload_bytes.to_string()),
        ("fuel_per_quantum", l.fuel_per_quantum.to_string()),
        ("max_rounds", l.max_rounds.to_string()),
        ("max_call_depth", l.max_call_depth.to_string()),
        ("max_nullifiers_per_session", l.max_nullifiers_per_session.to_string()),
        ("max_roles_per_open", l.max_roles_per_open.to_string()),
        ("max_instructions", l.max_instructions.to_string()),
        (
            "buffer_mode",
            match b.mode {
                BufferMode::Fifo => "fifo",
                BufferMode::LatestValue => "latest-value",
            }
            .to_owned(),
        ),
        (
            "buffer_policy",
            match b.policy {
                Backpressure::Block => "block".to_owned(),
                Backpressure::Drop => "drop".to_owned(),
                Backpressure::Error => "error".to_owned(),
                Backpressure::Resize { max_capacity } => format!("resize(max {max_capacity})"),
            },
        ),
        ("buffer_capacity", b.capacity.to_string()),
    ]
}

/// The `--auth` name of `auth`.
pub fn auth_name(auth: Auth) -> &'static str {
    match auth {
        Auth::Ed25519 => "ed25519",
        Auth::None => "none",
        Auth::Ed25519Round => "ed25519-round",
    }
}

/// The header lines of the text view.
fn header_text(h: &ReplayHeader) -> String {
    let mut out = format!(
        "canon replay v{FORMAT_VERSION}\nprogram {}\nconfig  {}\n",
        hex(&h.program_digest),
        hex(&h.config_digest())
    );
    for (name, value) in config_fields(&h.config) {
        out.push_str(&format!("  {name} {value}\n"));
    }
    out.push_str(&format!("strings {}\n", h.strings.len()));
    out
}

/// The closing lines of the text view.
fn end_text(end: &ReplayEnd) -> String {
    format!("events  {}\nblocks  {}\nroot    {}\n", end.events, end.blocks, hex(&end.root))
}

fn end_of(replay: &Replay) -> ReplayEnd {
    ReplayEnd { blocks: replay.block_count(), events: replay.events.len() as u64, root: replay.root }
}

/// The text view: the header and configuration, one line per event, e.g.
/// `t=3 g0 c1 s0:Buyer1 Sent -> Seller Title("x") seq=0 sig=1a2b3c4d`, then
/// the event and block counts and the root. Keys, signatures and hashes show
/// their first 4 bytes in hex (the JSON view has them whole).
pub fn render_text(replay: &Replay) -> String {
    let mut out = header_text(&replay.header);
    let mut names = Names::new(&replay.header.strings);
    for ev in &replay.events {
        names.observe(ev);
        out.push_str(&event_line(&names, ev));
        out.push('\n');
    }
    out.push_str(&end_text(&end_of(replay)));
    out
}

/// [`render_text`], streamed from `reader` to `out` event by event.
pub fn write_text<R: Read, W: Write>(reader: ReplayReader<R>, out: &mut W) -> Result<ReplayEnd, RenderError> {
    write_text_annotated(reader, out, &mut |_| None)
}

/// [`write_text`], with `annotate(event)` appended to an event's line when it
/// returns some text (`canon replay show --program` names the source position
/// of each `Faulted` event this way).
pub fn write_text_annotated<R: Read, W: Write>(
    mut reader: ReplayReader<R>,
    out: &mut W,
    annotate: &mut dyn FnMut(&Event) -> Option<String>,
) -> Result<ReplayEnd, RenderError> {
    let header = reader.header().clone();
    out.write_all(header_text(&header).as_bytes())?;
    let mut names = Names::new(&header.strings);
    let mut line = String::new();
    while let Some(ev) = reader.next_event()? {
        names.observe(&ev);
        line.clear();
        line.push_str(&event_line(&names, &ev));
        if let Some(note) = annotate(&ev) {
            line.push(' ');
            line.push_str(&note);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    let end = reader.end().expect("the trailer was read");
    out.write_all(end_text(&end).as_bytes())?;
    Ok(end)
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
    // Host-side operations are made by no coroutine.
    let by = if s.coroutine == u32::MAX { "host".to_owned() } else { format!("c{}", s.coroutine) };
    format!("t={} g{} {by} {at} {}", s.tick, s.group, kind_text(names, s, &ev.kind))
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
        K::DuplicateRefused { to, seq, identity } => {
            format!("DuplicateRefused -> {} seq={seq} id={} (nullifier already admitted)", role(*to), short(identity))
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
        K::EdgeHistory { from, to, sent, delivered, history } => format!(
            "EdgeHistory {}->{} sent={sent} delivered={delivered} history={}",
            role(*from),
            role(*to),
            short(history)
        ),
        K::Delegated { endpoint } => format!("Delegated endpoint={endpoint}"),
        K::Ownership { record } => {
            let mut s = record.name().to_owned();
            for (name, field) in record.fields() {
                let v = match field {
                    RecordField::Str(x) => format!("{x:?}"),
                    RecordField::U64(x) => x.to_string(),
                    RecordField::Scope(x) => scope_text(x),
                    RecordField::List(xs) => format!("{xs:?}"),
                };
                s.push_str(&format!(" {name}={v}"));
            }
            s
        }
        K::DelegationCompleted { endpoint } => format!("DelegationCompleted endpoint={endpoint}"),
        K::Halted | K::Aborted | K::Closed | K::EndpointClosed => format!("{kind:?}"),
    }
}

/// The first 4 bytes of a key, signature or hash, in hex.
fn short(bytes: &[u8]) -> String {
    hex(&bytes[..bytes.len().min(4)])
}

/// The `--replay-mode` name of `mode`.
pub fn mode_name(mode: ReplayMode) -> &'static str {
    match mode {
        ReplayMode::Off => "off",
        ReplayMode::Sequence => "sequence",
        ReplayMode::Nullifier => "nullifier",
    }
}

fn header_json(h: &ReplayHeader) -> serde_json::Value {
    json!({
        "type": "header",
        "format_version": FORMAT_VERSION,
        "program_digest": hex(&h.program_digest),
        "config_digest": hex(&h.config_digest()),
        "config": config_json(&h.config),
        "seed": h.seed(),
        "strings": h.strings,
    })
}

/// The configuration as a JSON object, fields named as in [`config_fields`].
pub fn config_json(c: &Config) -> serde_json::Value {
    let l = &c.limits;
    let fields = config_fields(c);
    let text = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    json!({
        "seed": c.seed,
        "auth": auth_name(c.auth),
        "replay_mode": mode_name(c.replay_mode),
        "max_sessions": l.max_sessions,
        "max_coroutines": l.max_coroutines,
        "max_payload_bytes": l.max_payload_bytes,
        "fuel_per_quantum": l.fuel_per_quantum,
        "max_rounds": l.max_rounds,
        "max_call_depth": l.max_call_depth,
        "max_nullifiers_per_session": l.max_nullifiers_per_session,
        "max_roles_per_open": l.max_roles_per_open,
        "max_instructions": l.max_instructions,
        "buffer_mode": text("buffer_mode"),
        "buffer_policy": text("buffer_policy"),
        "buffer_capacity": c.default_buffer.capacity,
    })
}

fn end_json(end: &ReplayEnd) -> serde_json::Value {
    json!({ "type": "end", "events": end.events, "blocks": end.blocks, "root": hex(&end.root) })
}

/// The JSON-lines view: a header object (with the whole configuration), one
/// object per event with named fields, then an end object with the counts
/// and root (`"type"`: `"header"`, `"event"`, `"end"`).
pub fn render_jsonl(replay: &Replay) -> String {
    let h = &replay.header;
    let mut out = header_json(h).to_string();
    out.push('\n');
    let mut names = Names::new(&h.strings);
    for (index, ev) in replay.events.iter().enumerate() {
        names.observe(ev);
        out.push_str(&event_json(&names, index, ev).to_string());
        out.push('\n');
    }
    out.push_str(&end_json(&end_of(replay)).to_string());
    out.push('\n');
    out
}

/// [`render_jsonl`], streamed from `reader` to `out` event by event.
pub fn write_jsonl<R: Read, W: Write>(reader: ReplayReader<R>, out: &mut W) -> Result<ReplayEnd, RenderError> {
    write_jsonl_annotated(reader, out, &mut |_| None)
}

/// [`write_jsonl`], with the fields of `annotate(event)` added to an event's
/// object when it returns some (`canon replay show --program --json` adds a
/// `fault_site` to each `Faulted` event this way). A field the event already
/// has is kept as recorded.
pub fn write_jsonl_annotated<R: Read, W: Write>(
    mut reader: ReplayReader<R>,
    out: &mut W,
    annotate: &mut dyn FnMut(&Event) -> Option<Map<String, serde_json::Value>>,
) -> Result<ReplayEnd, RenderError> {
    let header = reader.header().clone();
    writeln!(out, "{}", header_json(&header))?;
    let mut names = Names::new(&header.strings);
    let mut index = 0usize;
    while let Some(ev) = reader.next_event()? {
        names.observe(&ev);
        let mut obj = event_json(&names, index, &ev);
        if let (Some(fields), Some(map)) = (annotate(&ev), obj.as_object_mut()) {
            for (k, v) in fields {
                map.entry(k).or_insert(v);
            }
        }
        writeln!(out, "{obj}")?;
        index += 1;
    }
    let end = reader.end().expect("the trailer was read");
    writeln!(out, "{}", end_json(&end))?;
    Ok(end)
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
        K::DuplicateRefused { .. } => "DuplicateRefused",
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
        K::EdgeHistory { .. } => "EdgeHistory",
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
        K::DuplicateRefused { to, seq, identity } => {
            put("to", json!(to));
            put("to_name", json!(names.role_name(sid, *to)));
            put("seq", json!(seq));
            put("identity", json!(hex(identity)));
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
        K::EdgeHistory { from, to, sent, delivered, history } => {
            put("from", json!(from));
            put("to", json!(to));
            put("sent", json!(sent));
            put("delivered", json!(delivered));
            put("history", json!(hex(history)));
        }
        K::Ownership { record } => {
            put("op", json!(record.name()));
            for (name, field) in record.fields() {
                let v = match field {
                    RecordField::Str(x) => json!(x),
                    RecordField::U64(x) => json!(x),
                    RecordField::Scope(x) => json!(scope_text(x)),
                    RecordField::List(xs) => json!(xs),
                };
                put(name, v);
            }
        }
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

/// A scope as `full`, `roles[A,B]` or `operations[x,y]`.
pub fn scope_text(scope: &canon_machine::Scope) -> String {
    match scope {
        canon_machine::Scope::Full => "full".to_owned(),
        canon_machine::Scope::Roles(r) => format!("roles[{}]", r.join(",")),
        canon_machine::Scope::Operations(o) => format!("operations[{}]", o.join(",")),
    }
}
