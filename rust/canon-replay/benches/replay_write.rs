//! `replay_write`: 1,000,000 Sent/Received events into the writer (time per event).

use std::hint::black_box;

use canon_machine::event::{Event, EventKind, EventSite};
use canon_replay::{ReplayHeader, ReplayWriter};
use canon_types::{SymId, Value};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: u64 = 1_000_000;

/// A send and its delivery, as a two-party ping-pong would emit them.
fn pair(tick: u64) -> [Event; 2] {
    let payload = Value::Int(tick as i64);
    let sent = Event {
        site: EventSite { group: 0, tick, coroutine: 0, sid: 0, role: 0 },
        kind: EventKind::Sent {
            to: 1,
            label: SymId(2),
            seq: tick,
            payload: payload.clone(),
            signature: Some([0x5a; 64]),
        },
    };
    let received = Event {
        site: EventSite { group: 0, tick: tick + 1, coroutine: 1, sid: 0, role: 1 },
        kind: EventKind::Received { from: 0, label: SymId(2), seq: tick, payload },
    };
    [sent, received]
}

fn replay_write(c: &mut Criterion) {
    let header = ReplayHeader {
        program_digest: [7; 32],
        config: canon_machine::Config { seed: 42, ..Default::default() },
        strings: vec!["A".into(), "B".into(), "Ping".into()],
    };
    // Events are built once; the loop measures encoding, block hashing and output growth.
    let events: Vec<Event> = (0..EVENTS / 2).flat_map(pair).collect();
    let mut group = c.benchmark_group("replay_write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("sent_received_1m", |b| {
        b.iter(|| {
            let mut w = ReplayWriter::new(&header);
            for e in &events {
                w.push(e);
            }
            black_box(w.finish_bytes())
        })
    });
    // Streamed to a sink that discards: the writer's memory stays one block plus its flush buffer.
    group.bench_function("sent_received_1m_to_sink", |b| {
        b.iter(|| {
            let mut w = ReplayWriter::to_sink(&header, std::io::sink());
            for e in &events {
                w.push(e);
            }
            black_box(w.finish_sink().map(|done| done.root).ok())
        })
    });
    // The encoding share alone: same records into one reused 4 KiB buffer, no hashing, no output.
    group.bench_function("encode_only_1m", |b| {
        let mut buf = Vec::with_capacity(8192);
        b.iter(|| {
            for e in &events {
                canon_replay::record::encode_event(e, &mut buf);
                if buf.len() >= canon_replay::BLOCK_TARGET_BYTES {
                    buf.clear();
                }
            }
            black_box(buf.len())
        })
    });
    group.finish();
}

criterion_group!(benches, replay_write);
criterion_main!(benches);
