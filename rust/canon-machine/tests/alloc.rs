//! The steady-state send/receive path does not allocate: a ping-pong of ten
//! times as many messages allocates (almost) exactly as often.

mod common;

use std::alloc::System;
use std::sync::Arc;

use canon_machine::{Config, Event, Group, GroupStatus, NullHost};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made running a ping-pong of `iterations` round trips, draining
/// events each round into one reused vector (as a runner does).
fn allocations(iterations: i64) -> usize {
    let program = common::ping_pong(iterations);
    let mut events: Vec<Event> = Vec::with_capacity(1 << 12);
    let mut group = Group::new(Arc::clone(&program), 0, &Config::default(), Box::new(NullHost));
    group.set_key_source(common::test_keys());
    let region = Region::new(GLOBAL);
    while *group.status() == GroupStatus::Running {
        group.run_round();
        group.drain_events(&mut events);
        events.clear();
    }
    assert_eq!(*group.status(), GroupStatus::Completed);
    region.change().allocations
}

#[test]
fn message_count_does_not_grow_allocations() {
    let small = allocations(500);
    let large = allocations(5_000);
    eprintln!("allocations: {small} for 1,001 messages, {large} for 10,001");
    assert!(large <= small + 8, "1,000 messages: {small} allocations; 10,000 messages: {large}");
    assert!(small < 64, "setup allocations should be a small constant, got {small}");
}
