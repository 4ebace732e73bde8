//! The runners. They schedule groups; the machine's `Group::run_round` does
//! all the executing. Output order is canonical: groups by id, and within a
//! group the machine's own event order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use canon_machine::{CoroutineFault, Event, EventKind, Group, GroupOutcome, GroupStatus, SessionStatus};
use canon_replay::{BlockEncoder, EncodedBlocks, ReplayHeader, ReplayWriter};

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
    interrupted: bool,
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

    /// Whether the run was stopped through [`Runner::run_until`]'s flag
    /// before every group ended: the replay then holds every round run so
    /// far, and the group that was running reports `GroupStatus::Running`.
    pub fn interrupted(&self) -> bool {
        self.interrupted
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
    fn run(&self, machine: &mut Machine) -> RunOutcome {
        self.run_observed(machine, &mut |_| {})
    }

    /// [`Runner::run`], telling `observe` how far it got: after every
    /// finished group (or batch of groups), and every [`PROGRESS_ROUNDS`]
    /// rounds of a long group. Observation is for display only; it never
    /// changes the run.
    fn run_observed(&self, machine: &mut Machine, observe: &mut dyn FnMut(Progress)) -> RunOutcome {
        self.run_until(machine, observe, &AtomicBool::new(false))
    }

    /// [`Runner::run_observed`] that stops at the next round boundary once
    /// `stop` is set (by a signal handler, say): no group starts another
    /// round, groups not yet started are left out, and the outcome is
    /// [`RunOutcome::interrupted`] with a valid replay of the rounds run.
    fn run_until(&self, machine: &mut Machine, observe: &mut dyn FnMut(Progress), stop: &AtomicBool) -> RunOutcome;
}

/// Whether a run ended before every one of `total` groups finished.
fn cut_short(reports: &[GroupReport], total: usize) -> bool {
    reports.len() < total || reports.iter().any(|r| r.outcome.status == GroupStatus::Running)
}

/// How far a run has got, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Groups finished and written.
    pub groups_done: usize,
    pub groups_total: usize,
    /// Rounds run by the group in progress (cooperative runner only; 0 otherwise).
    pub rounds: u64,
}

/// A long group reports progress every this many rounds.
pub const PROGRESS_ROUNDS: u64 = 1 << 16;

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
    fn run_until(&self, machine: &mut Machine, observe: &mut dyn FnMut(Progress), stop: &AtomicBool) -> RunOutcome {
        let mut writer = ReplayWriter::new(&header(machine));
        let mut buf = Vec::new();
        let total = machine.groups.len();
        let mut reports = Vec::with_capacity(total);
        for group in &mut machine.groups {
            let mut messages = 0;
            while *group.status() == GroupStatus::Running && !stop.load(Ordering::Relaxed) {
                let round = group.run_round();
                group.drain_events(&mut buf);
                messages += count_messages(&buf);
                buf.iter().for_each(|e| writer.push(e));
                buf.clear();
                if (round.tick + 1) % PROGRESS_ROUNDS == 0 {
                    observe(Progress { groups_done: reports.len(), groups_total: total, rounds: round.tick + 1 });
                }
            }
            group.drain_events(&mut buf);
            messages += count_messages(&buf);
            buf.drain(..).for_each(|e| writer.push(&e));
            reports.push(report(group, messages));
            observe(Progress { groups_done: reports.len(), groups_total: total, rounds: 0 });
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let events = writer.event_count();
        let interrupted = cut_short(&reports, total);
        RunOutcome { groups: reports, replay: writer.finish_bytes(), events, interrupted }
    }
}

/// Runs whole groups on `workers` OS threads while the calling thread writes
/// the replay. Each worker claims the next batch of consecutive unrun groups,
/// runs each to its end, encodes their events into canonical blocks and
/// digests them (blocks never span groups, so this needs nothing from other
/// workers), and hands the blocks to the calling thread, which chains
/// finished batches in group order as soon as every earlier group is written
/// — one 64-byte hash per block. The bytes equal the cooperative runner's.
#[derive(Debug, Clone, Copy)]
pub struct ThreadedRunner {
    /// Worker threads; `0` is treated as `1`.
    pub workers: usize,
}

impl ThreadedRunner {
    pub fn new(workers: usize) -> Self {
        ThreadedRunner { workers: workers.max(1) }
    }
}

/// Finished batches a worker may hand over before it waits for the writer:
/// bounds the events held in memory when writing is slower than running.
const BATCHES_IN_FLIGHT: usize = 16;

/// Most groups a worker claims at once. Claiming (and handing over) groups
/// in batches amortises the atomic claim, the channel hand-over and the
/// writer's wake-up over many small groups.
const MAX_BATCH: usize = 64;

/// Groups per claim: small enough that every worker gets about eight
/// batches (so the tail stays balanced), at most [`MAX_BATCH`].
fn batch_size(groups: usize, workers: usize) -> usize {
    (groups / (workers * 8)).clamp(1, MAX_BATCH)
}

/// Consecutive finished groups `first..first + reports.len()`, from a worker
/// to the writing thread, with their events already encoded into canonical
/// blocks and digested (the part of replay writing that parallelises).
struct Batch {
    worker: usize,
    first: usize,
    blocks: EncodedBlocks,
    reports: Vec<GroupReport>,
}

/// Block buffers the writer has written, returned to the worker that filled
/// them so their capacity is reused.
type Pool = Mutex<Vec<EncodedBlocks>>;

/// What every worker shares: the groups, the next unclaimed index, the batch
/// size and one buffer pool per worker.
struct Work<'a, 'm> {
    slots: &'a [Mutex<&'m mut Group>],
    next: AtomicUsize,
    batch: usize,
    pools: Vec<Pool>,
    /// Set to stop at the next round boundary ([`Runner::run_until`]).
    stop: &'a AtomicBool,
}

impl Runner for ThreadedRunner {
    fn run_until(&self, machine: &mut Machine, observe: &mut dyn FnMut(Progress), stop: &AtomicBool) -> RunOutcome {
        let mut writer = ReplayWriter::new(&header(machine));
        let slots: Vec<Mutex<&mut Group>> = machine.groups.iter_mut().map(Mutex::new).collect();
        let workers = self.workers.clamp(1, slots.len().max(1));
        let work = Work {
            slots: &slots,
            next: AtomicUsize::new(0),
            batch: batch_size(slots.len(), workers),
            pools: (0..workers).map(|_| Pool::default()).collect(),
            stop,
        };
        let mut reports = Vec::with_capacity(slots.len());
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
            for worker in 0..workers {
                let (tx, work) = (tx.clone(), &work);
                scope.spawn(move || work.run(worker, &tx));
            }
            drop(tx);
            write_in_order(&rx, &mut writer, &work.pools, &mut reports, &mut |done| {
                observe(Progress { groups_done: done, groups_total: slots.len(), rounds: 0 })
            });
        });
        assert!(reports.len() == slots.len() || stop.load(Ordering::Relaxed), "every group is written exactly once");
        let events = writer.event_count();
        let interrupted = cut_short(&reports, slots.len());
        RunOutcome { groups: reports, replay: writer.finish_bytes(), events, interrupted }
    }
}

impl Work<'_, '_> {
    /// A worker: claims batches of unrun groups and runs each to its end
    /// until none is left.
    fn run(&self, worker: usize, tx: &SyncSender<Batch>) {
        let mut events = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            let first = self.next.fetch_add(self.batch, Ordering::Relaxed);
            let Some(claimed) = self.slots.get(first..(first + self.batch).min(self.slots.len())) else { return };
            if claimed.is_empty() {
                return;
            }
            let reuse = self.pools[worker].lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
            let mut encoder = BlockEncoder::with_buffers(reuse);
            let mut reports = Vec::with_capacity(claimed.len());
            for slot in claimed {
                // Each index is claimed by one worker, so the lock is never contended.
                let mut group = slot.lock().unwrap_or_else(PoisonError::into_inner);
                let mut messages = 0;
                loop {
                    let running = *group.status() == GroupStatus::Running && !self.stop.load(Ordering::Relaxed);
                    if running {
                        group.run_round();
                    }
                    group.drain_events(&mut events);
                    messages += count_messages(&events);
                    events.drain(..).for_each(|e| encoder.push(&e));
                    if !running {
                        break;
                    }
                }
                reports.push(report(&group, messages));
            }
            if tx.send(Batch { worker, first, blocks: encoder.finish(), reports }).is_err() {
                return; // the writer is gone: nothing would be written
            }
        }
    }
}

/// The calling thread: writes each finished batch once every earlier group
/// is written; returns when every worker has hung up.
fn write_in_order(
    rx: &Receiver<Batch>,
    writer: &mut ReplayWriter,
    pools: &[Pool],
    reports: &mut Vec<GroupReport>,
    written: &mut dyn FnMut(usize),
) {
    let mut pending = BTreeMap::new();
    for batch in rx {
        pending.insert(batch.first, batch);
        while let Some(mut batch) = pending.remove(&reports.len()) {
            writer.append(&batch.blocks);
            pools[batch.worker].lock().unwrap_or_else(PoisonError::into_inner).push(batch.blocks);
            reports.append(&mut batch.reports);
            written(reports.len());
        }
    }
}
