//! Writer → bytes → decode, determinism, and canonical block cuts.

mod common;

use canon_replay::{BLOCK_TARGET_BYTES, Replay, ReplayHeader, ReplayWriter};
use common::{arb_event, header, many, two_buyer};
use proptest::prelude::*;

fn bytes_of(header: &ReplayHeader, events: &[canon_machine::event::Event]) -> Vec<u8> {
    let mut w = ReplayWriter::new(header);
    events.iter().for_each(|e| w.push(e));
    w.finish_bytes()
}

#[test]
fn two_buyer_round_trips() {
    let events = two_buyer();
    let bytes = bytes_of(&header(), &events);
    let replay = Replay::decode(&bytes).unwrap();
    assert_eq!(replay.header, header());
    assert_eq!(replay.events, events);
    assert_eq!(replay.block_count(), 1);
    assert_eq!(replay.root, replay.block_hashes[0]);
    assert_eq!(replay.to_bytes(), bytes);
}

#[test]
fn empty_replay_has_no_blocks_and_root_h0() {
    let bytes = bytes_of(&header(), &[]);
    let replay = Replay::decode(&bytes).unwrap();
    assert!(replay.events.is_empty());
    assert!(replay.block_hashes.is_empty());
    let mut h = Vec::new();
    header().encode(&mut h);
    let h0: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&h).into();
    assert_eq!(replay.root, h0);
}

#[test]
fn many_events_span_canonical_blocks() {
    let events = many(2_000);
    let bytes = bytes_of(&header(), &events);
    let replay = Replay::decode(&bytes).unwrap();
    assert_eq!(replay.events, events);
    // Each Sent record here is 27 + 14 + 9 = 50 bytes: a block closes at the
    // first record reaching 4096 bytes, i.e. after 82 records (4100 bytes).
    let per_block = BLOCK_TARGET_BYTES.div_ceil(50);
    assert_eq!(per_block, 82);
    assert_eq!(replay.block_count(), 2_000usize.div_ceil(per_block));
    assert_eq!(replay.root, *replay.block_hashes.last().unwrap());
}

#[test]
fn finish_and_finish_into_agree_with_finish_bytes() {
    let events = many(300);
    let bytes = bytes_of(&header(), &events);
    let mut w = ReplayWriter::new(&header());
    events.iter().for_each(|e| w.push(e));
    assert_eq!(w.event_count(), 300);
    let mut sink = Vec::new();
    w.finish_into(&mut sink).unwrap();
    assert_eq!(sink, bytes);
    let replay = Replay::from_events(&header(), &events);
    assert_eq!(replay, Replay::decode(&bytes).unwrap());
}

#[test]
fn same_events_same_bytes_and_different_events_different_root() {
    let a = bytes_of(&header(), &many(500));
    let b = bytes_of(&header(), &many(500));
    assert_eq!(a, b);
    let mut changed = many(500);
    changed[250].site.tick += 1;
    let c = Replay::decode(&bytes_of(&header(), &changed)).unwrap();
    assert_ne!(Replay::decode(&a).unwrap().root, c.root);
    let seeded = ReplayHeader { config: canon_machine::Config { seed: 43, ..header().config }, ..header() };
    assert_ne!(Replay::decode(&bytes_of(&seeded, &many(500))).unwrap().root, c.root);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_events_round_trip(events in proptest::collection::vec(arb_event(), 0..40).prop_map(common::canonical)) {
        let bytes = bytes_of(&header(), &events);
        let replay = Replay::decode(&bytes).unwrap();
        prop_assert_eq!(&replay.events, &events);
        prop_assert_eq!(replay.to_bytes(), bytes);
    }
}
