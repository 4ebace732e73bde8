//! The annotated example in `bytecode-spec/replay.md` decodes to the events it describes.

use std::path::Path;

use canon_machine::event::{Event, EventKind, EventSite};
use canon_machine::{Auth, Config};
use canon_replay::{Replay, ReplayWriter, render_text};
use canon_types::{SymId, Value};

const BEGIN: &str = "<!-- example-replay:begin -->";
const END: &str = "<!-- example-replay:end -->";

/// The hex bytes between the marker lines; `#` starts a comment, fence lines are skipped.
fn example_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bytecode-spec/replay.md");
    let spec = std::fs::read_to_string(&path).expect("bytecode-spec/replay.md");
    let start = spec.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = spec[start..].find(END).expect("end marker") + start;
    let mut bytes = Vec::new();
    for line in spec[start..end].lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.starts_with("```") {
            continue;
        }
        for tok in code.split_whitespace() {
            bytes.push(u8::from_str_radix(tok, 16).unwrap_or_else(|_| panic!("bad hex byte {tok:?} in {line:?}")));
        }
    }
    bytes
}

fn site(tick: u64, coroutine: u32, role: u16) -> EventSite {
    EventSite { group: 0, tick, coroutine, sid: 0, role }
}

#[test]
fn spec_example_decodes_to_its_events() {
    let bytes = example_bytes();
    assert_eq!(bytes.len(), 495);
    let replay = Replay::decode(&bytes).unwrap();
    assert_eq!(replay.header.strings, ["A", "B", "Ping"]);
    let config = Config { seed: 7, auth: Auth::None, ..Config::default() };
    assert_eq!((replay.header.program_digest, replay.header.config), ([0x11; 32], config));
    assert_eq!(replay.header.seed(), 7);
    let ping = SymId(2);
    let spawned = |proc| Event {
        site: EventSite { group: 0, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE },
        kind: EventKind::Spawned { proc },
    };
    let expected = vec![
        spawned(0),
        Event {
            site: site(0, 0, EventSite::NO_ROLE),
            kind: EventKind::Opened { roles: vec![SymId(0), SymId(1)], keys: vec![] },
        },
        spawned(1),
        spawned(2),
        Event {
            site: site(1, 1, 0),
            kind: EventKind::Sent { to: 1, label: ping, seq: 0, payload: Value::Int(5), signature: None },
        },
        Event {
            site: site(2, 2, 1),
            kind: EventKind::Received { from: 0, label: ping, seq: 0, payload: Value::Int(5) },
        },
        Event { site: site(2, 2, 1), kind: EventKind::Halted },
    ];
    assert_eq!(replay.events, expected);
    assert_eq!(replay.block_count(), 1);

    // The writer produces exactly the spec's bytes from those events.
    let mut w = ReplayWriter::new(&replay.header);
    expected.iter().for_each(|e| w.push(e));
    assert_eq!(w.finish_bytes(), bytes);
}

#[test]
fn spec_example_text_view_matches_the_spec() {
    let replay = Replay::decode(&example_bytes()).unwrap();
    let text = render_text(&replay);
    let events: Vec<&str> = text.lines().filter(|l| l.starts_with("t=")).collect();
    assert_eq!(
        events,
        [
            "t=0 g0 c0 - Spawned proc=0",
            "t=0 g0 c0 s0 Opened [A, B]",
            "t=0 g0 c0 - Spawned proc=1",
            "t=0 g0 c0 - Spawned proc=2",
            "t=1 g0 c1 s0:A Sent -> B Ping(5) seq=0",
            "t=2 g0 c2 s0:B Received <- A Ping(5) seq=0",
            "t=2 g0 c2 s0:B Halted",
        ]
    );
}

#[test]
fn spec_header_hash_is_the_documented_h0() {
    use sha2::{Digest, Sha256};
    let bytes = example_bytes();
    let replay = Replay::decode(&bytes).unwrap();
    let mut header = Vec::new();
    replay.header.encode(&mut header);
    assert_eq!(header.len(), 143);
    assert_eq!(&bytes[..header.len()], header.as_slice());
    let h0: [u8; 32] = Sha256::digest(&header).into();
    let spec =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bytecode-spec/replay.md")).unwrap();
    let hex: String = h0.iter().map(|b| format!("{b:02x}")).collect();
    assert!(spec.contains(&hex), "the spec names h_0 = {hex}");
}
