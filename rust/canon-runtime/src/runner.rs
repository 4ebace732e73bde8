//! The runners. They schedule groups; the machine's `Group::run_round` does
//! all the executing. Output order is canonical: groups by id, and within a
//! group the machine's own event order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use canon_machine::{CoroutineFault, Event, EventKind, Group, GroupOutcome, GroupStatus, SessionStatus};
use canon_replay::{ReplayHeader, ReplayWriter};

use crate::machine::Machine;

/// What happened to one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub group: u32,
    pub outcome: GroupOutcome,
    /// Final status of every session the group opened, by sid.
    pub sessions: Vec<(u64, SessionStatus)>,
    pub faults: Vec<CoroutineFault>,
    /// Messages delivered (`Received` events).
    pub messages: u64,
}

/// The result of a run: per-group reports and the canonical replay bytes.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub groups: Vec<GroupReport>,
    replay: Vec<u8>,
    events: u64,
}

impl RunOutcome {
    /// The canonical replay fragment (see `bytecode-spec/replay.md`).
    pub fn replay_bytes(&self) -> &[u8] {
        &self.replay
    }

    /// Consumes the outcome, returning the replay bytes.
    pub fn into_replay_bytes(self) -> Vec<u8> {
        self.replay
    }

    /// The replay's root hash (the last 32 bytes of the fragment).
    pub fn root(&self) -> [u8; 32] {
        let tail = &self.replay[self.replay.len() - 32..];
        tail.try_into().expect("a replay ends with its 32-byte root")
    }

    /// Events recorded.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// Sessions opened, over all groups.
    pub fn session_count(&self) -> usize {
        self.groups.iter().map(|g| g.sessions.len()).sum()
    }

    /// Messages delivered, over all groups.
    pub fn message_count(&self) -> u64 {
        self.groups.iter().map(|g| g.messages).sum()
    }

    /// The largest round count of any group.
    pub fn rounds(&self) -> u64 {
        self.groups.iter().map(|g| g.outcome.rounds).max().unwrap_or(0)
    }

    /// Whether any coroutine faulted.
    pub fn faulted(&self) -> bool {
        self.groups.iter().any(|g| !g.faults.is_empty())
    }

    /// The first group that stalled, if any.
    pub fn stalled(&self) -> Option<&GroupReport> {
        self.groups.iter().find(|g| matches!(g.outcome.status, GroupStatus::Stalled(_)))
    }

    /// Whether any group stopped at the round budget.
    pub fn budget_exhausted(&self) -> bool {
        self.groups.iter().any(|g| g.outcome.status == GroupStatus::BudgetExhausted)
    }
}

/// A scheduler of groups.
pub trait Runner {
    /// Runs every loaded group to its end and returns the outcome with the
    /// canonical replay.
    fn run(&self, machine: &mut Machine) -> RunOutcome;
}

fn header(machine: &Machine) -> ReplayHeader {
    let (program_digest, strings) = match machine.program() {
        Some(p) => (p.digest(), p.module().strings.clone()),
        None => ([0; 32], Vec::new()),
    };
    ReplayHeader { program_digest, config_digest: machine.config().digest(), seed: machine.config().seed, strings }
}

fn count_messages(events: &[Event]) -> u64 {
    events.iter().filter(|e| matches!(e.kind, EventKind::Received { .. })).count() as u64
}

fn report(group: &Group, messages: u64) -> GroupReport {
    GroupReport {
        group: group.id(),
        outcome: group.outcome(),
        sessions: group
            .store()
            .sessions()
            .iter()
            .enumerate()
            .map(|(i, s)| ((u64::from(group.id()) << 32) | i as u64, s.status))
            .collect(),
        faults: group.faults().to_vec(),
        messages,
    }
}

/// Runs groups one after another on the calling thread, streaming each
/// round's events into the replay writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeRunner;

impl Runner for CooperativeRunner {
    fn run(&self, machine: &mut Machine) -> RunOutcome {
        let mut writer = ReplayWriter::new(&header(machine));
        let mut buf = Vec::new();
        let mut reports = Vec::with_capacity(machine.groups.len());
        for group in &mut machine.groups {
            let mut messages = 0;
            while *group.status() == GroupStatus::Running {
                group.run_round();
                group.drain_events(&mut buf);
                messages += count_messages(&buf);
                buf.iter().for_each(|e| writer.push(e));
                buf.clear();
            }
            group.drain_events(&mut buf);
            messages += count_messages(&buf);
            buf.drain(..).for_each(|e| writer.push(&e));
            reports.push(report(group, messages));
        }
        let events = writer.event_count();
        RunOutcome { groups: reports, replay: writer.finish_bytes(), events }
    }
}

/// Runs whole groups on `workers` OS threads. Each worker takes the next
/// unrun group, runs it to its end and keeps its events; the events are then
/// written in group order, so the bytes equal the cooperative runner's.
#[derive(Debug, Clone, Copy)]
pub struct ThreadedRunner {
    pub workers: usize,
}

impl ThreadedRunner {
    pub fn new(workers: usize) -> Self {
        ThreadedRunner { workers: workers.max(1) }
    }
}

impl Runner for ThreadedRunner {
    fn run(&self, machine: &mut Machine) -> RunOutcome {
        let header = header(machine);
        let slots: Vec<Mutex<(&mut Group, Vec<Event>)>> =
            machine.groups.iter_mut().map(|g| Mutex::new((g, Vec::new()))).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.workers.min(slots.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slots.get(i) else { break };
                        let mut slot = slot.lock().expect("a slot is locked by one worker at a time");
                        let (group, events) = &mut *slot;
                        while *group.status() == GroupStatus::Running {
                            group.run_round();
                            group.drain_events(events);
                        }
                        group.drain_events(events);
                    }
                });
            }
        });
        let mut writer = ReplayWriter::new(&header);
        let mut reports = Vec::with_capacity(slots.len());
        for slot in slots {
            let (group, events) = slot.into_inner().expect("workers finished");
            events.iter().for_each(|e| writer.push(e));
            reports.push(report(group, count_messages(&events)));
        }
        let events = writer.event_count();
        RunOutcome { groups: reports, replay: writer.finish_bytes(), events }
    }
}
