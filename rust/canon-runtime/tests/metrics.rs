//! `MetricsCollector`: the metrics of a run, from its group reports and its
//! replay, cross-checked against the events and against what the programs
//! do by construction (buffer high-water marks, faults, outcomes).

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::EventKind;
use canon_replay::Replay;
use canon_runtime::{
    Config, CooperativeRunner, Machine, Metrics, MetricsCollector, Runner, SeededHost, ThreadedRunner,
};

fn choreography(src: &str) -> Arc<VerifiedProgram> {
    let choreo = canon_choreo::load("p.canon", src, None).expect("parses");
    let module = canon_choreo::compile_choreography(&choreo).expect("compiles");
    Arc::new(canon_bytecode::verify(module).expect("verifies"))
}

fn assembly(src: &str) -> Arc<VerifiedProgram> {
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(src).expect("assembles")).expect("verifies"))
}

/// Runs `groups` instances of `program` and returns the metrics and the replay.
fn run(program: &Arc<VerifiedProgram>, groups: u32, runner: &dyn Runner) -> (Metrics, Vec<u8>) {
    let config = Config { seed: 3, ..Config::default() };
    let mut machine = Machine::new(config);
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..groups {
        machine.load(program, Box::new(SeededHost::new(u64::from(i)))).expect("loads");
    }
    let mut collector = MetricsCollector::new(program, config.default_buffer);
    let mut bytes = Vec::new();
    runner.run_to(&mut machine, &mut bytes, &mut |_| {}, &mut |r| collector.report(r)).expect("writes to memory");
    collector.read_replay(bytes.as_slice()).expect("the replay reads back");
    (collector.finish(), bytes)
}

/// Three messages sent in one round before any is received: the edge holds three.
const BURST: &str = "global protocol P(role A, role B) {
  buffer A -> B fifo block 4;
  M1(Int) from A to B; M2(Int) from A to B; M3(Int) from A to B;
  Done() from B to A;
}";

#[test]
fn counts_agree_with_the_replay_under_both_runners() {
    let p = choreography(BURST);
    let (m, bytes) = run(&p, 6, &CooperativeRunner);
    let replay = Replay::decode(&bytes).expect("valid");
    let count = |f: fn(&EventKind) -> bool| replay.events.iter().filter(|e| f(&e.kind)).count() as u64;
    assert_eq!(m.instances, 6);
    assert_eq!(m.sessions.opened, 6);
    assert_eq!(m.sessions.closed, 6);
    assert_eq!(m.messages.sent, count(|k| matches!(k, EventKind::Sent { .. })));
    assert_eq!(m.messages.sent, 6 * 4);
    assert_eq!(m.messages.delivered, count(|k| matches!(k, EventKind::Received { .. })));
    let answers = count(|k| matches!(k, EventKind::HostAnswer { .. }));
    assert_eq!(m.host_calls, answers + m.messages.delivered);
    assert_eq!(m.events, replay.events.len() as u64);
    assert_eq!(m.replay_bytes, bytes.len() as u64);
    assert_eq!(m.replay_blocks, replay.block_count() as u64);
    assert_eq!(m.buffer_high_water.get("fifo_block"), Some(&3), "{m:?}");
    assert_eq!(m.session_rounds.count, 6);
    assert_eq!(m.instance_rounds.count, 6);
    assert_eq!(m.instance_outcomes.get("completed"), Some(&6));
    assert!(m.instructions > 0 && m.rounds > 0);
    // A function of the replay and the reports: the same at every worker count.
    for workers in [1, 3] {
        let (threaded, again) = run(&p, 6, &ThreadedRunner::new(workers));
        assert_eq!(again, bytes);
        assert_eq!(threaded, m);
    }
}

/// A latest-value edge of one message. The verifier admits no program in
/// which a message is overwritten unread, so the events are written here:
/// two sends in a round, the second replacing the first, then the delivery.
const LATEST: &str = "
.type ta = B!First(Int).end
.type tb = A?First(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1], buffers [A -> B latest drop cap 1]
    spawn sender, [r0]
    spawn receiver, [r1]
    halt
.end
.proc sender(ep ta) regs 2
    produce r1, r0, First
    send r0, First, r1
    close r0
    halt
.end
.proc receiver(ep tb) regs 2
    recv r0, First, r1
    close r0
    halt
.end
";

#[test]
fn an_overwrite_on_a_latest_value_edge_does_not_raise_its_mark() {
    use canon_machine::{Event, EventSite};
    use canon_types::{SymId, Value};
    let p = assembly(LATEST);
    let roles = p.module().procs[0]
        .code
        .iter()
        .find_map(|i| match i {
            canon_bytecode::Instr::Open { roles, .. } => Some(roles.clone()),
            _ => None,
        })
        .expect("an open");
    let at = |tick, role| EventSite { group: 0, tick, coroutine: 1, sid: 0, role };
    let sent = |seq| EventKind::Sent { to: 1, label: SymId(0), seq, payload: Value::Int(1), signature: None };
    let events = [
        Event { site: at(0, 0), kind: EventKind::Opened { roles, keys: Vec::new() } },
        Event { site: at(1, 0), kind: sent(0) },
        Event { site: at(1, 0), kind: sent(1) },
        Event { site: at(1, 0), kind: EventKind::Overwritten { to: 1, label: SymId(0), seq: 1 } },
        Event {
            site: at(2, 1),
            kind: EventKind::Received { from: 0, label: SymId(0), seq: 1, payload: Value::Int(1) },
        },
    ];
    let mut collector = MetricsCollector::new(&p, Config::default().default_buffer);
    collector.group_events(&events);
    let m = collector.finish();
    assert_eq!((m.messages.sent, m.messages.overwritten, m.messages.delivered), (2, 1, 1));
    assert_eq!(m.buffer_high_water.get("latest"), Some(&1), "{m:?}");
    assert_eq!(m.sessions.unfinished, 1);
}

#[test]
fn faults_are_counted_by_code_and_their_sessions_as_faulted() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/asm/fault_buffer_full.casm"))
            .expect("fixture");
    let (m, _) = run(&assembly(&src), 2, &CooperativeRunner);
    assert_eq!(m.faults_by_code.get(&3014), Some(&2), "{m:?}");
    assert_eq!(m.sessions.faulted, 2);
    assert_eq!(m.buffer_high_water.get("fifo_error"), Some(&1));
}

#[test]
fn the_prometheus_text_names_every_metric_once_and_ends_the_exposition() {
    let (m, _) = run(&choreography(BURST), 2, &CooperativeRunner);
    let text = m.encode_prometheus();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for line in [
        "canon_sessions_opened_total 2",
        "canon_messages_sent_total 8",
        "canon_buffer_high_water_messages{edge_kind=\"fifo_block\"} 3",
        "canon_instance_outcomes_total{outcome=\"completed\"} 2",
        "canon_session_duration_rounds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let mut names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), types, "a metric declared twice");
    assert_eq!(m.encode_prometheus(), text, "the same text every time");
}
