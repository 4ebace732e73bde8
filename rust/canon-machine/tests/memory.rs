//! Memory per session, measured with a counting allocator (never timed):
//! edges are allocated only when used, an idle session is small, and an
//! ended group keeps no buffers or edge tables.
//!
//! The allocator counts every thread's allocations, so the tests of this
//! file take one lock and run one at a time.

mod common;

use std::alloc::System;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use canon_bytecode::BufferConfig;
use canon_machine::{
    Auth, Config, Group, GroupStatus, KeySource, NullHost, OpenRequest, ReplayMode, Security, SessionStore,
};
use canon_types::{SymId, TypeId};
use common::*;
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: PeakMemAlloc<&StatsAlloc<System>> = PeakMemAlloc::new(&INSTRUMENTED_SYSTEM);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Bytes live now (allocated minus freed, over the whole process).
fn live_bytes() -> i64 {
    let s = INSTRUMENTED_SYSTEM.stats();
    // `bytes_allocated`/`bytes_deallocated` include the growth and shrinkage of reallocations.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// The largest growth of the live heap while `f` runs, and what it returns.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    GLOBAL.reset_peak_memory();
    let out = f();
    (GLOBAL.get_peak_memory(), out)
}

fn unsigned() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

/// A program whose entry opens one session of `roles` roles (every local
/// type `end`), closes every endpoint and halts.
fn open_only(roles: usize) -> Arc<canon_bytecode::VerifiedProgram> {
    let names: Vec<String> = (0..roles).map(|i| format!("R{i}")).collect();
    let regs: Vec<String> = (0..roles).map(|i| format!("r{i}")).collect();
    let closes: String = regs.iter().map(|r| format!("    close {r}\n")).collect();
    let src = format!(
        ".type e = end\n.entry main\n.proc main() regs {roles}\n    open roles [{}], types [{}], handlers [{}], dsts [{}]\n{closes}    halt\n.end\n",
        names.join(", "),
        vec!["e"; roles].join(", "),
        vec!["default"; roles].join(", "),
        regs.join(", "),
    );
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(&src).expect("assembles")).expect("verifies"))
}

#[test]
fn a_64_role_open_allocates_at_most_64_kib() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let program = open_only(64);
    let mut group = Group::new(program, 0, &unsigned(), Box::new(NullHost));
    let (peak, _) = peak_of(|| group.run_round());
    assert_eq!(group.store().len(), 1, "the session was opened");
    eprintln!("64-role open: peak {peak} bytes");
    // A dense table of 64² edges alone would be 64 × 64 × 192 bytes ≈ 768 KiB.
    assert!(peak <= 64 * 1024, "a 64-role open peaked at {peak} bytes");
}

#[test]
fn a_20000_role_open_allocates_linearly_not_n_squared() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let n = 20_000usize;
    let mut mb = Mb::new();
    let e = mb.ty(&end());
    let roles: Vec<SymId> = (0..n).map(|i| mb.s(&format!("R{i}"))).collect();
    let types: Vec<TypeId> = vec![e; n];
    let handlers = vec![mb.s("h"); n];
    let req = OpenRequest { roles: &roles, types: &types, handlers: &handlers, dsts_len: n, buffers: &[] };
    let security =
        Security { auth: Auth::None, replay_mode: ReplayMode::Off, keys: &KeySource::None, supplied: &BTreeMap::new() };
    let mut store = SessionStore::new(0);
    let (peak, sid) =
        peak_of(|| store.open(&mb.m.types, &req, 0, BufferConfig::default(), 4, &security).expect("opens"));
    assert!(store.get(sid).is_some());
    eprintln!("20,000-role open: peak {peak} bytes");
    // n² edges would be 400,000,000 edge states; per role the open keeps a
    // name, a handler and an endpoint state.
    assert!(peak <= n * 64, "a {n}-role open peaked at {peak} bytes");
}

#[test]
fn a_live_idle_two_role_session_costs_at_most_1_kib() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], end()));
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let roles = [mb.s("A"), mb.s("B")];
    let h = mb.s("h");
    let req = OpenRequest { roles: &roles, types: &[ta, tb], handlers: &[h, h], dsts_len: 2, buffers: &[] };
    let security =
        Security { auth: Auth::None, replay_mode: ReplayMode::Off, keys: &KeySource::None, supplied: &BTreeMap::new() };
    let sessions = 1_000;
    let before = live_bytes();
    let mut store = SessionStore::new(0);
    for _ in 0..sessions {
        store.open(&mb.m.types, &req, 0, BufferConfig::default(), 1 << 20, &security).expect("opens");
    }
    let per_session = (live_bytes() - before) / sessions;
    assert_eq!(store.live(), sessions as u32);
    eprintln!("idle two-role session: {per_session} bytes");
    assert!(per_session <= 1024, "an idle two-role session holds {per_session} bytes");
}

#[test]
fn an_ended_group_keeps_no_buffers_or_edge_tables() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // Many sessions opened, used and closed one after another, then the group ends.
    let retained = |sessions: i64| {
        let program = churn(sessions);
        let before = live_bytes();
        let mut group = Group::new(program, 0, &unsigned(), Box::new(NullHost));
        let mut events = Vec::new();
        while *group.status() == GroupStatus::Running {
            group.run_round();
            group.drain_events(&mut events);
            events.clear();
        }
        drop(events);
        assert_eq!(*group.status(), GroupStatus::Completed);
        let kept = live_bytes() - before;
        drop(group);
        kept
    };
    let (small, large) = (retained(10), retained(1_000));
    let per_finished = (large - small) / 990;
    eprintln!("ended group: {small} bytes after 10 sessions, {large} after 1,000 ({per_finished} per session)");
    // What stays is the record of every session (status and epoch, for the
    // run's report, in a `Session` whose body is empty), never its buffers,
    // edges or keys; the margin is the session vector's amortised growth.
    let record = std::mem::size_of::<canon_machine::Session>() as i64;
    assert!(per_finished <= record + record / 8, "{per_finished} bytes per finished session (a record is {record})");
    assert!(small <= 16 * 1024, "an ended group of 10 sessions keeps {small} bytes");
}
