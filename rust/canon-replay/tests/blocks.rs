//! Block cuts at group boundaries and parallel encoding: blocks encoded and
//! digested elsewhere ([`BlockEncoder`]) and appended give the same bytes as
//! pushing the events one by one; a reader rejects blocks cut anywhere else.

mod common;

use canon_machine::event::Event;
use canon_replay::{BlockEncoder, Replay, ReplayError, ReplayWriter};
use common::{build_file, header, many, records, two_buyer};
use proptest::prelude::*;

/// `two_buyer()` once per group `0..groups`, in group order.
fn groups(groups: u32) -> Vec<Event> {
    (0..groups)
        .flat_map(|g| {
            two_buyer().into_iter().map(move |mut e| {
                e.site.group = g;
                e
            })
        })
        .collect()
}

fn pushed(events: &[Event]) -> Vec<u8> {
    let mut w = ReplayWriter::new(&header());
    events.iter().for_each(|e| w.push(e));
    w.finish_bytes()
}

#[test]
fn every_group_starts_a_block() {
    let replay = Replay::decode(&pushed(&groups(5))).expect("decodes");
    assert_eq!(replay.block_count(), 5, "five small groups, five blocks");
}

proptest! {
    /// Splitting the stream at any group boundaries into separately encoded
    /// runs, then appending them, gives the streaming writer's bytes.
    #[test]
    fn appended_blocks_equal_pushed_events(n in 1u32..12, cuts in proptest::collection::vec(any::<u32>(), 0..4), long in any::<bool>()) {
        let mut events = groups(n);
        if long {
            // One long group in the middle, spanning several full blocks.
            let mut big = many(300);
            big.iter_mut().for_each(|e| e.site.group = n);
            events.extend(big);
            events.extend(groups(1).into_iter().map(|mut e| { e.site.group = n + 1; e }));
        }
        let last_group = events.last().map_or(0, |e| e.site.group);
        let mut cuts: Vec<u32> = cuts.into_iter().map(|c| c % (last_group + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut w = ReplayWriter::new(&header());
        let mut enc = BlockEncoder::new();
        for e in &events {
            if cuts.contains(&e.site.group) && enc_is_between_groups(&events, e) {
                w.append(&std::mem::take(&mut enc).finish());
            }
            enc.push(e);
        }
        w.append(&enc.finish());
        prop_assert_eq!(w.finish_bytes(), pushed(&events));
    }
}

/// Whether `e` is the first event of its group.
fn enc_is_between_groups(events: &[Event], e: &Event) -> bool {
    let i = events.iter().position(|x| std::ptr::eq(x, e)).expect("e is in events");
    i == 0 || events[i - 1].site.group != e.site.group
}

#[test]
fn a_block_holding_two_groups_is_rejected() {
    let events = groups(2);
    let body = records(&events);
    let file = build_file(&header(), &[(events.len() as u32, body)], events.len() as u64);
    let err = Replay::decode(&file).unwrap_err();
    assert!(matches!(err, ReplayError::NonCanonicalBlock { block: 0, .. }), "{err}");
}

#[test]
fn a_short_block_followed_by_its_own_group_is_rejected() {
    let events = two_buyer();
    let (a, b) = events.split_at(4);
    let file = build_file(&header(), &[(4, records(a)), (b.len() as u32, records(b))], events.len() as u64);
    let err = Replay::decode(&file).unwrap_err();
    assert!(matches!(err, ReplayError::NonCanonicalBlock { block: 0, first_event: 0, .. }), "{err}");
}

#[test]
fn a_short_block_followed_by_another_group_is_canonical() {
    let events = groups(2);
    let (a, b) = events.split_at(two_buyer().len());
    let file =
        build_file(&header(), &[(a.len() as u32, records(a)), (b.len() as u32, records(b))], events.len() as u64);
    assert_eq!(file, pushed(&events));
    Replay::decode(&file).expect("decodes");
}
