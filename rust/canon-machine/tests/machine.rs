//! Group-level behaviour: rounds, visibility, completion, determinism.

mod common;

use canon_machine::{Config, EventKind, Group, GroupStatus, NullHost, SessionStatus, TerminalReason};
use canon_types::Value;
use common::*;

#[test]
fn ping_pong_completes_with_sequenced_events() {
    let program = ping_pong(3);
    let (outcome, events, group) = run(&program);
    assert_eq!(outcome.status, GroupStatus::Completed);
    assert_eq!(outcome.faults, 0);
    let sent: Vec<(u16, u64, Value)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Sent { to, seq, payload, .. } => Some((*to, *seq, payload.clone())),
            _ => None,
        })
        .collect();
    // A→B: Ping 0,1,2 then Stop (seq 3); B→A: Pong 0,1,2.
    assert_eq!(sent.len(), 7);
    assert_eq!(sent.iter().filter(|s| s.0 == 1).map(|s| s.1).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(
        sent.iter().filter(|s| s.0 == 0).map(|s| s.2.clone()).collect::<Vec<_>>(),
        vec![Value::Int(0), Value::Int(1), Value::Int(2)]
    );
    let received = events.iter().filter(|e| matches!(e.kind, EventKind::Received { .. })).count();
    assert_eq!(received, 7);
    // The last events, leaving out the session's edge histories (tested in canon-runtime).
    let kept: Vec<&EventKind> =
        events.iter().filter(|e| !matches!(e.kind, EventKind::EdgeHistory { .. })).map(|e| &e.kind).collect();
    let tail = kept[kept.len() - 4..].to_vec();
    assert_eq!(
        tail,
        vec![
            &EventKind::Closed,
            &EventKind::SessionTerminal { reason: TerminalReason::Closed },
            &EventKind::EpochAdvanced { epoch: 1 },
            &EventKind::Halted
        ]
    );
    assert_eq!(group.store().get(0).map(|s| s.status), Some(SessionStatus::Closed));
}

#[test]
fn a_message_sent_in_round_r_is_received_in_round_r_plus_one() {
    let (_, events, _) = run(&ping_pong(2));
    for e in &events {
        if let EventKind::Received { from, seq, .. } = e.kind {
            let sent = events
                .iter()
                .find(|s| matches!(s.kind, EventKind::Sent { to, seq: q, .. } if to == e.site.role && q == seq && s.site.role == from))
                .expect("every receive has a send");
            assert_eq!(e.site.tick, sent.site.tick + 1, "{e:?}");
        }
    }
}

#[test]
fn events_are_in_canonical_order() {
    let (_, events, _) = run(&ping_pong(4));
    for w in events.windows(2) {
        assert!((w[0].site.tick, w[0].site.coroutine) <= (w[1].site.tick, w[1].site.coroutine), "{w:?}");
    }
    assert_eq!(events[0].kind, EventKind::Spawned { proc: 2 });
}

#[test]
fn same_program_twice_gives_equal_event_streams() {
    let program = ping_pong(20);
    let (o1, e1, _) = run(&program);
    let (o2, e2, _) = run(&program);
    assert_eq!(o1, o2);
    assert_eq!(e1, e2);
    // Round-by-round driving with draining gives the same stream.
    let mut g = Group::new(program.clone(), 0, &Config::default(), Box::new(NullHost));
    g.set_key_source(test_keys());
    let mut e3 = Vec::new();
    while *g.status() == GroupStatus::Running {
        g.run_round();
        g.drain_events(&mut e3);
    }
    assert_eq!(e1, e3);
}

#[test]
fn small_fuel_changes_rounds_not_messages() {
    let program = ping_pong(5);
    let mut config = Config::default();
    config.limits.fuel_per_quantum = 1;
    let (outcome, events, _) = run_with(&program, &config, Box::new(NullHost));
    assert_eq!(outcome.status, GroupStatus::Completed);
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::Sent { .. })).count(), 11);
    let (fast, _, _) = run(&program);
    assert!(outcome.rounds > fast.rounds);
}

#[test]
fn round_budget_exhausts() {
    let mut config = Config::default();
    config.limits.max_rounds = 4;
    let (outcome, _, _) = run_with(&ping_pong(100), &config, Box::new(NullHost));
    assert_eq!(outcome.status, GroupStatus::BudgetExhausted);
    assert_eq!(outcome.rounds, 4);
}

#[test]
fn session_churn_closes_every_session_and_advances_epochs() {
    let (outcome, events, group) = run(&churn(50));
    assert_eq!(outcome.status, GroupStatus::Completed);
    assert_eq!(group.store().len(), 50);
    assert_eq!(group.store().live(), 0);
    assert_eq!(events.iter().filter(|e| e.kind == EventKind::EpochAdvanced { epoch: 1 }).count(), 50);
    let sids: Vec<u64> =
        events.iter().filter(|e| matches!(e.kind, EventKind::Opened { .. })).map(|e| e.site.sid).collect();
    assert_eq!(sids, (0..50).collect::<Vec<u64>>());
}

#[test]
fn group_id_is_in_sids_and_sites() {
    let program = churn(2);
    let mut g = Group::new(program, 7, &Config::default(), Box::new(NullHost));
    g.set_key_source(test_keys());
    g.run_to_end();
    let mut events = Vec::new();
    g.drain_events(&mut events);
    assert!(events.iter().all(|e| e.site.group == 7));
    let opened: Vec<u64> =
        events.iter().filter(|e| matches!(e.kind, EventKind::Opened { .. })).map(|e| e.site.sid).collect();
    assert_eq!(opened, vec![7 << 32, (7 << 32) | 1]);
}

#[test]
fn group_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Group>();
}
