//! Semantic diff of two replays.

mod common;

use canon_machine::event::EventKind;
use canon_replay::{Divergence, HeaderDiff, Replay, ReplayHeader, Side, diff};
use canon_types::{SymId, Value};
use common::{header, many, two_buyer};

fn replay(header: &ReplayHeader, events: &[canon_machine::event::Event]) -> Replay {
    Replay::from_events(header, events)
}

#[test]
fn identical_replays() {
    let a = replay(&header(), &two_buyer());
    let d = diff(&a, &a.clone());
    assert!(d.is_identical());
    assert_eq!(d.first_divergence(), None);
    assert_eq!(d.render_text(), "events: identical (13 events)\n");
    assert_eq!(d.render_json()["identical"], true);
}

#[test]
fn a_changed_payload_is_reported_at_its_index_with_context() {
    let a_events = two_buyer();
    let mut b_events = a_events.clone();
    let k = 7;
    let EventKind::Sent { payload, .. } = &mut b_events[k].kind else { panic!("event 7 is a Sent") };
    *payload = Value::Int(16);
    let d = diff(&replay(&header(), &a_events), &replay(&header(), &b_events));
    assert!(!d.is_identical());
    assert!(d.header.is_empty());
    assert_eq!(d.first_divergence(), Some(k));
    let Divergence::Event { index, context, a, b } = &d.events else { panic!("expected an event divergence") };
    assert_eq!(*index, k);
    assert_eq!(context.iter().map(|e| e.index).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(a.event, a_events[k]);
    assert_eq!(b.event, b_events[k]);
    let text = d.render_text();
    assert!(text.contains("a [7] t=2 g0 c2 s0:Seller Sent -> Buyer1 Quote(15) seq=0 sig=07070707\n"), "{text}");
    assert!(text.contains("b [7] t=2 g0 c2 s0:Seller Sent -> Buyer1 Quote(16) seq=0 sig=07070707\n"), "{text}");
    let json = d.render_json();
    assert_eq!(json["events"]["index"], 7);
    assert_eq!(json["events"]["b"]["payload"]["int"], 16);
    assert_eq!(json["events"]["context"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["events"]["b"]["signature"], "07".repeat(64));
}

#[test]
fn a_changed_signature_is_a_divergence() {
    let a_events = two_buyer();
    let mut b_events = a_events.clone();
    let EventKind::Sent { signature, .. } = &mut b_events[7].kind else { panic!("event 7 is a Sent") };
    *signature = None;
    let d = diff(&replay(&header(), &a_events), &replay(&header(), &b_events));
    assert_eq!(d.first_divergence(), Some(7));
    assert!(d.render_text().contains("b [7] t=2 g0 c2 s0:Seller Sent -> Buyer1 Quote(15) seq=0\n"));
}

#[test]
fn divergence_at_event_zero_has_no_context() {
    let a = many(3);
    let mut b = a.clone();
    b[0].kind = EventKind::Spawned { proc: 9 };
    let d = diff(&replay(&header(), &a), &replay(&header(), &b));
    let Divergence::Event { index: 0, context, .. } = &d.events else { panic!("{d:?}") };
    assert!(context.is_empty());
}

#[test]
fn header_differences_are_listed_separately() {
    let h2 = ReplayHeader {
        config: canon_machine::Config { seed: 43, ..header().config },
        program_digest: [0; 32],
        ..header()
    };
    let mut strings = header().strings;
    strings.push("extra".into());
    let h3 = ReplayHeader { strings, ..header() };
    let a = replay(&header(), &two_buyer());
    let d = diff(&a, &replay(&h2, &two_buyer()));
    assert_eq!(d.header, [HeaderDiff::ProgramDigest { a: [0xAB; 32], b: [0; 32] }, HeaderDiff::Seed { a: 42, b: 43 }]);
    assert_eq!(d.events, Divergence::None);
    assert!(!d.is_identical());
    assert!(d.render_text().starts_with("header: program digest differs\n"));
    let d = diff(&a, &replay(&h3, &two_buyer()));
    assert_eq!(d.header, [HeaderDiff::String { index: 6, a: None, b: Some("extra".into()) }]);
    assert_eq!(d.render_json()["header"][0]["field"], "strings");
}

#[test]
fn one_stream_a_prefix_of_the_other() {
    let long = two_buyer();
    let short = &long[..7];
    let d = diff(&replay(&header(), short), &replay(&header(), &long));
    let Divergence::Prefix { shorter: Side::A, index: 7, context, next } = &d.events else { panic!("{d:?}") };
    assert_eq!(context.len(), 3);
    assert_eq!(next.event, long[7]);
    assert_eq!(d.first_divergence(), Some(7));
    assert!(d.render_text().contains("events: a ends after 7 events; b continues\n"));
    let d = diff(&replay(&header(), &long), &replay(&header(), short));
    assert!(matches!(d.events, Divergence::Prefix { shorter: Side::B, index: 7, .. }));
    assert_eq!(d.render_json()["events"]["shorter"], "b");
}

#[test]
fn symbols_are_compared_by_name_across_string_tables() {
    // b's program interns the same names in another order.
    let mut hb = header();
    hb.strings.swap(2, 3); // Title <-> Quote
    let remap = |s: SymId| match s.0 {
        2 => SymId(3),
        3 => SymId(2),
        other => SymId(other),
    };
    let b_events: Vec<_> = two_buyer()
        .into_iter()
        .map(|mut e| {
            match &mut e.kind {
                EventKind::Sent { label, .. } | EventKind::Received { label, .. } => *label = remap(*label),
                EventKind::HostAnswer { point: canon_machine::event::HostPoint::Produce { label }, .. } => {
                    *label = remap(*label)
                }
                _ => {}
            }
            e
        })
        .collect();
    let d = diff(&replay(&header(), &two_buyer()), &replay(&hb, &b_events));
    assert_eq!(d.header.len(), 1, "only the string table differs");
    assert_eq!(d.events, Divergence::None);
    // Same ids but different names do diverge.
    let d = diff(&replay(&header(), &two_buyer()), &replay(&hb, &two_buyer()));
    assert_eq!(d.first_divergence(), Some(4));
}

#[test]
fn slices_compared_in_place_report_what_pairwise_steps_report() {
    let a_events = two_buyer();
    for k in 0..a_events.len() {
        let mut b_events = a_events.clone();
        b_events[k].site.tick += 100;
        let h = header();
        let mut pairwise = canon_replay::Lockstep::new(&h.strings, &h.strings);
        let expected = a_events.iter().zip(&b_events).find_map(|(x, y)| pairwise.step(x, y));
        // In two pieces, split anywhere, as re-execution compares group by group.
        for cut in 0..=k {
            let mut sliced = canon_replay::Lockstep::new(&h.strings, &h.strings);
            let first = sliced.step_slices(&a_events[..cut], &b_events[..cut]);
            assert_eq!(first, None);
            let got = sliced.step_slices(&a_events[cut..], &b_events[cut..]);
            assert_eq!(got, expected, "divergence at {k}, cut at {cut}");
        }
    }
}
