//! Batch results on the wire: what a worker encodes the coordinator decodes
//! to the same blocks, chaining them gives the local replay's bytes, and a
//! changed byte, digest or length is refused.

use std::sync::Arc;

use canon_cluster::wire::{BatchResult, BatchSummary, RunSpec};
use canon_machine::Auth;
use canon_replay::ReplayWriter;
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost};

fn machine(sessions: u32) -> Machine {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_file(root).expect("the fixture compiles"));
    let mut m = Machine::new(Config { auth: Auth::None, ..Config::default() });
    m.load_lazy(&program, sessions, Box::new(|i| Box::new(SeededHost::new(u64::from(i)))), &[]).expect("loads");
    m
}

fn batch(m: &mut Machine, b: u32, range: std::ops::Range<usize>) -> Vec<u8> {
    let mut summary = BatchSummary::default();
    let first = range.start as u64;
    let blocks = canon_runtime::run_groups(m, range, &mut |r| summary.add(r));
    BatchResult { batch: b, first, keys: None, summary, blocks }.encode()
}

#[test]
fn batches_chained_in_order_give_the_local_replay() {
    let local = CooperativeRunner.run(&mut machine(40)).into_replay_bytes();
    let mut m = machine(40);
    let payloads: Vec<Vec<u8>> = (0..4).map(|b| batch(&mut m, b, b as usize * 10..(b as usize + 1) * 10)).collect();
    let mut writer = ReplayWriter::new(&canon_runtime::replay_header(&m));
    let mut sessions = 0;
    for p in &payloads {
        let r = BatchResult::decode(p).expect("decodes");
        sessions += r.summary.sessions;
        writer.append(&r.blocks);
    }
    assert_eq!(sessions, 40);
    assert!(writer.finish_bytes() == local, "chained batches differ from the cooperative run");
}

#[test]
fn a_changed_byte_length_or_digest_is_refused() {
    let mut m = machine(3);
    let payload = batch(&mut m, 0, 0..3);
    assert!(BatchResult::decode(&payload).is_ok());
    // Flip one byte of the last block's events: its digest no longer matches.
    let mut bad = payload.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = BatchResult::decode(&bad).unwrap_err().to_string();
    assert!(e.contains("digest") && e.contains("computed"), "{e}");
    // Truncated, and with bytes after the last block.
    let e = BatchResult::decode(&payload[..payload.len() - 1]).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    let mut long = payload.clone();
    long.push(0);
    assert!(BatchResult::decode(&long).unwrap_err().to_string().contains("trailing"));
    assert!(BatchResult::decode(b"XXXX").unwrap_err().to_string().contains("magic"));
}

#[test]
fn batch_ranges_cover_every_group_once() {
    let spec = RunSpec {
        version: 1,
        program: String::new(),
        sessions: 10,
        batch: 4,
        params: serde_json::Value::Null,
        header: String::new(),
        keys: None,
    };
    assert_eq!(spec.batches(), 3);
    let ranges: Vec<_> = (0..3).map(|b| spec.groups(b)).collect();
    assert_eq!(ranges, vec![0..4, 4..8, 8..10]);
}
