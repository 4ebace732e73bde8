//! Machine benchmarks on named workloads:
//! - `ping_pong`: one two-role session exchanging 1,000,000 messages in a
//!   `mu` loop (throughput in messages);
//! - `session_churn`: open, one message, close, 10,000 times (throughput in
//!   sessions).
//!
//! Both drive `Group::run_to_end` with a trivial host; `ping_pong/drained`
//! drives rounds and drains events into a reused vector, as a runner does.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use canon_machine::{Config, Group, GroupStatus, NullHost};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PING_PONG_ITERATIONS: i64 = 500_000;
const CHURN_SESSIONS: i64 = 10_000;

fn ping_pong(c: &mut Criterion) {
    let program = common::ping_pong(PING_PONG_ITERATIONS);
    let mut g = c.benchmark_group("ping_pong");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * PING_PONG_ITERATIONS as u64 + 1));
    g.bench_function("run_to_end", |b| {
        b.iter(|| {
            let mut group = Group::new(Arc::clone(&program), 0, &Config::default(), Box::new(NullHost));
            let outcome = group.run_to_end();
            assert_eq!(outcome.status, GroupStatus::Completed);
            group
        })
    });
    let mut events = Vec::with_capacity(1 << 12);
    g.bench_function("drained", |b| {
        b.iter(|| {
            let mut group = Group::new(Arc::clone(&program), 0, &Config::default(), Box::new(NullHost));
            while *group.status() == GroupStatus::Running {
                group.run_round();
                group.drain_events(&mut events);
                events.clear();
            }
            group
        })
    });
    g.finish();
}

fn session_churn(c: &mut Criterion) {
    let program = common::churn(CHURN_SESSIONS);
    let mut g = c.benchmark_group("session_churn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CHURN_SESSIONS as u64));
    g.bench_function("run_to_end", |b| {
        b.iter(|| {
            let mut group = Group::new(Arc::clone(&program), 0, &Config::default(), Box::new(NullHost));
            let outcome = group.run_to_end();
            assert_eq!(outcome.status, GroupStatus::Completed);
            group
        })
    });
    g.finish();
}

criterion_group!(benches, ping_pong, session_churn);
criterion_main!(benches);
