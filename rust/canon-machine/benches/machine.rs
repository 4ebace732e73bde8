//! Machine benchmarks on named workloads:
//! - `ping_pong`: one two-role session exchanging 1,000,000 messages in a
//!   `mu` loop (throughput in messages), unsigned (`Auth::None`);
//! - `ping_pong_auth`: the same loop, 4,001 messages, per authentication and
//!   replay mode: `none`, `ed25519` (sign + verify every message),
//!   `ed25519_sequence`, `ed25519_nullifier`;
//! - `session_churn`: open, one message, close, 10,000 times (throughput in
//!   sessions).
//!
//! Both drive `Group::run_to_end` with a trivial host; `ping_pong/drained`
//! drives rounds and drains events into a reused vector, as a runner does.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use canon_machine::{Auth, Config, Group, GroupStatus, KeySeed, KeySource, NullHost, ReplayMode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PING_PONG_ITERATIONS: i64 = 500_000;
const PING_PONG_AUTH_ITERATIONS: i64 = 2_000;
const CHURN_SESSIONS: i64 = 10_000;

/// The unsigned configuration the throughput workloads run under.
fn unsigned() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

fn ping_pong(c: &mut Criterion) {
    let program = common::ping_pong(PING_PONG_ITERATIONS);
    let mut g = c.benchmark_group("ping_pong");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * PING_PONG_ITERATIONS as u64 + 1));
    g.bench_function("run_to_end", |b| {
        b.iter(|| {
            let mut group = Group::new(Arc::clone(&program), 0, &unsigned(), Box::new(NullHost));
            let outcome = group.run_to_end();
            assert_eq!(outcome.status, GroupStatus::Completed);
            group
        })
    });
    let mut events = Vec::with_capacity(1 << 12);
    g.bench_function("drained", |b| {
        b.iter(|| {
            let mut group = Group::new(Arc::clone(&program), 0, &unsigned(), Box::new(NullHost));
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
            let mut group = Group::new(Arc::clone(&program), 0, &unsigned(), Box::new(NullHost));
            let outcome = group.run_to_end();
            assert_eq!(outcome.status, GroupStatus::Completed);
            group
        })
    });
    g.finish();
}

fn ping_pong_auth(c: &mut Criterion) {
    let program = common::ping_pong(PING_PONG_AUTH_ITERATIONS);
    let mut g = c.benchmark_group("ping_pong_auth");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * PING_PONG_AUTH_ITERATIONS as u64 + 1));
    let variants = [
        ("none", Auth::None, ReplayMode::Off),
        ("ed25519", Auth::Ed25519, ReplayMode::Off),
        ("ed25519_sequence", Auth::Ed25519, ReplayMode::Sequence),
        ("ed25519_nullifier", Auth::Ed25519, ReplayMode::Nullifier),
    ];
    for (name, auth, replay_mode) in variants {
        let config = Config { auth, replay_mode, ..Config::default() };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut group = Group::new(Arc::clone(&program), 0, &config, Box::new(NullHost));
                group.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
                let outcome = group.run_to_end();
                assert_eq!(outcome.status, GroupStatus::Completed);
                group
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ping_pong, ping_pong_auth, session_churn);
criterion_main!(benches);
