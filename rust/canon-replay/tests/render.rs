//! Text and JSON-lines views.

mod common;

use canon_machine::event::{EventKind, EventSite, HostPoint, TerminalReason};
use canon_machine::{Injection, ReplayMode};
use canon_replay::{Replay, render_jsonl, render_text};
use canon_types::{SymId, Value};
use common::{ev, header, site, two_buyer};

/// The two-buyer run plus one event of each remaining kind.
fn sample() -> Replay {
    let mut events = two_buyer();
    let s = site(4, 3, 1);
    let tuple =
        Value::Tuple(vec![Value::Label(SymId(2)), Value::Bytes(vec![0xde, 0xad].into()), Value::Bool(true)].into());
    let entry = EventSite { group: 0, tick: 3, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
    events.extend([
        ev(entry, EventKind::Spawned { proc: 3 }),
        ev(s, EventKind::Dropped { to: 0, label: SymId(3), seq: 4 }),
        ev(s, EventKind::Overwritten { to: 0, label: SymId(3), seq: 5 }),
        ev(s, EventKind::HostAnswer { point: HostPoint::Accept { label: SymId(2) }, answer: Value::Bool(false) }),
        ev(s, EventKind::HostAnswer { point: HostPoint::Choose, answer: Value::Label(SymId(3)) }),
        ev(s, EventKind::HostAnswer { point: HostPoint::Invoke { effect: SymId(5) }, answer: tuple.clone() }),
        ev(s, EventKind::Sent { to: 0, label: SymId(99), seq: 6, payload: tuple, signature: None }),
        ev(s, EventKind::TimeoutIssued { witness: 1 }),
        ev(s, EventKind::CancellationRequested { witness: 1 }),
        ev(s, EventKind::Cancelled { witness: 1 }),
        ev(s, EventKind::Aborted),
        ev(s, EventKind::FailureBranchEntered { code: 3001 }),
        ev(s, EventKind::Faulted { code: 3001 }),
        ev(s, EventKind::SessionTerminal { reason: TerminalReason::Faulted { code: 3001 } }),
        ev(
            site(4, 0, EventSite::NO_ROLE),
            EventKind::Opened { roles: vec![SymId(0), SymId(1)], keys: vec![[0xab; 32], [0xcd; 32]] },
        ),
        ev(s, EventKind::Injected { injection: Injection::CorruptSignature, nth: 9, to: 0, seq: 7 }),
        ev(s, EventKind::DuplicateRefused { to: 0, seq: 7, identity: [0x11; 32] }),
        ev(
            s,
            EventKind::Consumed {
                mode: ReplayMode::Nullifier,
                identity: [0x11; 32],
                pre_root: [0; 32],
                post_root: [0x22; 32],
            },
        ),
        ev(
            EventSite { group: 1, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: 7 },
            EventKind::Spawned { proc: 0 },
        ),
        ev(EventSite { group: 1, tick: 0, coroutine: 0, sid: 1 << 32, role: 7 }, EventKind::Halted),
    ]);
    Replay::from_events(&header(), &events)
}

#[test]
fn text_view_snapshot() {
    insta::assert_snapshot!(render_text(&sample()));
}

#[test]
fn jsonl_has_a_header_line_then_one_object_per_event() {
    let replay = sample();
    let out = render_jsonl(&replay);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2 + replay.events.len());
    let h = &lines[0];
    assert_eq!(h["type"], "header");
    assert_eq!(h["seed"], 42);
    assert_eq!(h["config"]["seed"], 42);
    assert_eq!(h["config"]["auth"], "ed25519");
    assert_eq!(h["config"]["max_rounds"], 1_000_000);
    assert_eq!(h["strings"][2], "Title");
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["events"], replay.events.len());
    assert_eq!(end["blocks"], replay.block_count());
    assert_eq!(end["root"].as_str().map(str::len), Some(64));
    for (i, line) in lines[1..lines.len() - 1].iter().enumerate() {
        assert_eq!(line["type"], "event");
        assert_eq!(line["index"], i);
    }
    let sent = &lines[6];
    assert_eq!(sent["kind"], "Sent");
    assert_eq!(sent["role_name"], "Buyer1");
    assert_eq!(sent["to_name"], "Seller");
    assert_eq!(sent["label"], "Title");
    assert_eq!(sent["payload"], serde_json::json!({ "str": "x" }));
    assert_eq!(lines[1]["sid"], serde_json::Value::Null);
    let choose = &lines[18];
    assert_eq!(choose["point"]["point"], "choose");
    assert_eq!(choose["answer"]["label"], "Quote");
    assert_eq!(sent["signature"], serde_json::Value::Null);
    assert_eq!(lines[8]["signature"], "07".repeat(64));
    let n = lines.len();
    let (opened, injected, refused, consumed) = (&lines[n - 7], &lines[n - 6], &lines[n - 5], &lines[n - 4]);
    assert_eq!((refused["kind"].as_str(), refused["seq"].as_u64()), (Some("DuplicateRefused"), Some(7)));
    assert_eq!(refused["identity"], "11".repeat(32));
    assert_eq!(opened["keys"], serde_json::json!(["ab".repeat(32), "cd".repeat(32)]));
    assert_eq!((injected["injection"].as_str(), injected["nth"].as_u64()), (Some("corrupt-signature"), Some(9)));
    assert_eq!(injected["to_name"], "Buyer1");
    assert_eq!(consumed["mode"], "nullifier");
    assert_eq!(consumed["identity"], "11".repeat(32));
    assert_eq!(consumed["post_root"], "22".repeat(32));
}

#[test]
fn streamed_views_equal_the_in_memory_views() {
    let replay = sample();
    let bytes = replay.to_bytes();
    let mut text = Vec::new();
    let end = canon_replay::write_text(canon_replay::ReplayReader::new(bytes.as_slice()).unwrap(), &mut text).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), render_text(&replay));
    assert_eq!((end.events, end.root), (replay.events.len() as u64, replay.root));
    let mut jsonl = Vec::new();
    canon_replay::write_jsonl(canon_replay::ReplayReader::new(bytes.as_slice()).unwrap(), &mut jsonl).unwrap();
    assert_eq!(String::from_utf8(jsonl).unwrap(), render_jsonl(&replay));
}
