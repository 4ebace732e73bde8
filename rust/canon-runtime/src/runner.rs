//! The runners. They schedule groups; the machine's `Group::run_round` does
//! all the executing. Output order is canonical: groups by id, and within a
//! group the machine's own event order.
//!
//! Every runner streams: each finished block goes to a `std::io::Write`
//! sink as soon as its turn in canonical order comes
//! ([`Runner::run_to`]), a finished group is reported once and dropped (when
//! it was loaded lazily, [`Machine::load_lazy`]), and the run's totals are
//! aggregated as groups finish ([`RunSummary`]). [`Runner::run`] is the
//! in-memory convenience built on it.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Condvar, Mutex, PoisonError};

use canon_machine::{CoroutineFault, Event, EventKind, Group, GroupOutcome, GroupStatus, SessionStatus};
use canon_replay::{BlockEncoder, EncodedBlocks, ReplayHeader, ReplayWriter};

use crate::machine::{Builder, Machine};

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

/// Faults a [`RunSummary`] keeps in full (the rest are counted).
pub const SUMMARY_FAULTS: usize = 16;

/// The totals of a run, aggregated group by group as groups finish: its size
/// does not depend on the number of groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Groups run.
    pub groups: u64,
    /// Sessions opened, over all groups.
    pub sessions: u64,
    /// Messages delivered, over all groups.
    pub messages: u64,
    /// Events recorded.
    pub events: u64,
    /// The largest round count of any group.
    pub rounds: u64,
    /// Final session statuses and how many sessions ended in each, in order
    /// of first appearance.
    pub statuses: Vec<(SessionStatus, u64)>,
    /// Coroutines that faulted, over all groups.
    pub faults: u64,
    /// The first [`SUMMARY_FAULTS`] faults, with their group.
    pub first_faults: Vec<(u32, CoroutineFault)>,
    /// Groups that stalled, and the first of them.
    pub stalled: u64,
    pub first_stalled: Option<GroupReport>,
    /// Groups stopped by the round budget.
    pub budget_exhausted: u64,
    /// Groups stopped by the instruction budget.
    pub instruction_budget_exhausted: u64,
    /// The replay's root (the last chain hash).
    pub root: [u8; 32],
    /// Whether the run was stopped through [`Runner::run_to_until`]'s flag
    /// before every group ended: the replay holds every round run so far,
    /// the group cut short reports [`GroupStatus::Running`] and later
    /// groups are left out.
    pub interrupted: bool,
}

impl RunSummary {
    /// Adds one finished group.
    pub fn add(&mut self, r: &GroupReport) {
        self.groups += 1;
        self.sessions += r.sessions.len() as u64;
        self.messages += r.messages;
        self.rounds = self.rounds.max(r.outcome.rounds);
        for (_, status) in &r.sessions {
            match self.statuses.iter_mut().find(|(s, _)| s == status) {
                Some((_, n)) => *n += 1,
                None => self.statuses.push((*status, 1)),
            }
        }
        self.faults += r.faults.len() as u64;
        for f in r.faults.iter().take(SUMMARY_FAULTS.saturating_sub(self.first_faults.len())) {
            self.first_faults.push((r.group, f.clone()));
        }
        match r.outcome.status {
            GroupStatus::Stalled(_) => {
                self.stalled += 1;
                self.first_stalled.get_or_insert_with(|| r.clone());
            }
            GroupStatus::BudgetExhausted => self.budget_exhausted += 1,
            GroupStatus::InstructionBudgetExhausted => self.instruction_budget_exhausted += 1,
            // Only a run stopped through its flag leaves a group running.
            GroupStatus::Running => self.interrupted = true,
            GroupStatus::Completed => {}
        }
    }

    /// Whether any coroutine faulted.
    pub fn faulted(&self) -> bool {
        self.faults > 0
    }
}

/// The result of an in-memory run: per-group reports and the canonical
/// replay bytes.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub groups: Vec<GroupReport>,
    pub summary: RunSummary,
    replay: Vec<u8>,
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
        self.summary.root
    }

    /// Events recorded.
    pub fn event_count(&self) -> u64 {
        self.summary.events
    }

    /// Sessions opened, over all groups.
    pub fn session_count(&self) -> usize {
        self.summary.sessions as usize
    }

    /// Messages delivered, over all groups.
    pub fn message_count(&self) -> u64 {
        self.summary.messages
    }

    /// The largest round count of any group.
    pub fn rounds(&self) -> u64 {
        self.summary.rounds
    }

    /// Whether any coroutine faulted.
    pub fn faulted(&self) -> bool {
        self.summary.faulted()
    }

    /// The first group that stalled, if any.
    pub fn stalled(&self) -> Option<&GroupReport> {
        self.summary.first_stalled.as_ref()
    }

    /// Whether any group stopped at the round or the instruction budget.
    pub fn budget_exhausted(&self) -> bool {
        self.summary.budget_exhausted > 0 || self.summary.instruction_budget_exhausted > 0
    }

    /// Whether the run was stopped before every group ended
    /// ([`RunSummary::interrupted`]).
    pub fn interrupted(&self) -> bool {
        self.summary.interrupted
    }
}

/// A scheduler of groups.
pub trait Runner {
    /// Runs every loaded group to its end, streaming the canonical replay to
    /// `sink` block by block in canonical order, telling `observe` how far it
    /// got (after every finished group or batch of groups, and every
    /// [`PROGRESS_ROUNDS`] rounds of a long group; for display only) and
    /// handing every group's report to `each`, in group order. Returns the
    /// run's totals, or the sink's first write error (the run stops early).
    fn run_to(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
    ) -> std::io::Result<RunSummary>;

    /// [`Runner::run_to`] that stops at the next round boundary once `stop`
    /// is set (by a signal handler, say): no group starts another round,
    /// groups not yet started are left out, the replay is finished (a valid
    /// replay of the rounds run) and the summary is
    /// [`RunSummary::interrupted`]. A runner that cannot stop early runs to
    /// the end (the default).
    fn run_to_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        stop: &AtomicBool,
    ) -> std::io::Result<RunSummary> {
        let _ = stop;
        self.run_to(machine, sink, observe, each)
    }

    /// Runs every loaded group to its end and returns the outcome with the
    /// canonical replay, in memory.
    fn run(&self, machine: &mut Machine) -> RunOutcome {
        self.run_observed(machine, &mut |_| {})
    }

    /// [`Runner::run`], telling `observe` how far it got.
    fn run_observed(&self, machine: &mut Machine, observe: &mut dyn FnMut(Progress)) -> RunOutcome {
        let mut replay = Vec::new();
        let mut groups = Vec::new();
        let summary = self
            .run_to(machine, &mut replay, observe, &mut |r| groups.push(r.clone()))
            .expect("writing to memory does not fail");
        RunOutcome { groups, summary, replay }
    }
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

/// The replay header of a run of `machine`.
pub fn replay_header(machine: &Machine) -> ReplayHeader {
    let (program_digest, strings) = match machine.program() {
        Some(p) => (p.digest(), p.module().strings.clone()),
        None => ([0; 32], Vec::new()),
    };
    ReplayHeader { program_digest, config: *machine.config(), strings }
}

fn count_messages(events: &[Event]) -> u64 {
    events.iter().filter(|e| matches!(e.kind, EventKind::Received { .. })).count() as u64
}

/// The report of a finished group.
pub fn report(group: &Group, messages: u64) -> GroupReport {
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

/// Runs `group` to its end, handing its events (in canonical order) to
/// `emit` round by round (it may take them out of the vector), and `tick`
/// after every [`PROGRESS_ROUNDS`] rounds. Returns the messages delivered.
pub fn run_group(
    group: &mut Group,
    buf: &mut Vec<Event>,
    emit: &mut dyn FnMut(&mut Vec<Event>),
    tick: &mut dyn FnMut(u64),
) -> u64 {
    run_group_until(group, buf, emit, tick, &AtomicBool::new(false))
}

/// [`run_group`] that starts no further round once `stop` is set (the group
/// then stays [`GroupStatus::Running`]).
pub fn run_group_until(
    group: &mut Group,
    buf: &mut Vec<Event>,
    emit: &mut dyn FnMut(&mut Vec<Event>),
    tick: &mut dyn FnMut(u64),
    stop: &AtomicBool,
) -> u64 {
    let mut messages = 0;
    loop {
        let running = *group.status() == GroupStatus::Running && !stop.load(Ordering::Relaxed);
        let round = running.then(|| group.run_round());
        group.drain_events(buf);
        messages += count_messages(buf);
        emit(buf);
        buf.clear();
        match round {
            Some(r) if (r.tick + 1) % PROGRESS_ROUNDS == 0 => tick(r.tick + 1),
            Some(_) => {}
            None => return messages,
        }
    }
}

fn finish<W: Write>(writer: ReplayWriter<W>, mut summary: RunSummary) -> std::io::Result<RunSummary> {
    let written = writer.finish_sink()?;
    summary.events = written.events;
    summary.root = written.root;
    Ok(summary)
}

/// Whether a run ended before every one of `total` groups ran to its end.
fn cut_short(summary: &RunSummary, total: usize) -> bool {
    summary.groups < total as u64 || summary.interrupted
}

fn failed<W: Write>(writer: &ReplayWriter<W>) -> Option<std::io::Error> {
    writer.io_error().map(|e| std::io::Error::new(e.kind(), e.to_string()))
}

/// Runs groups one after another on the calling thread, streaming each
/// round's events into the replay writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeRunner;

impl Runner for CooperativeRunner {
    fn run_to(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
    ) -> std::io::Result<RunSummary> {
        self.run_to_until(machine, sink, observe, each, &AtomicBool::new(false))
    }

    fn run_to_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        stop: &AtomicBool,
    ) -> std::io::Result<RunSummary> {
        let mut writer = ReplayWriter::to_sink(&replay_header(machine), sink);
        let mut buf = Vec::new();
        let total = machine.group_count();
        let mut summary = RunSummary::default();
        for id in 0..total {
            let done = summary.groups as usize;
            machine.with_group(id, &mut |group| {
                let messages = run_group_until(
                    group,
                    &mut buf,
                    &mut |events| events.iter().for_each(|e| writer.push(e)),
                    &mut |rounds| observe(Progress { groups_done: done, groups_total: total, rounds }),
                    stop,
                );
                let r = report(group, messages);
                summary.add(&r);
                each(&r);
            });
            if let Some(e) = failed(&writer) {
                return Err(e);
            }
            observe(Progress { groups_done: summary.groups as usize, groups_total: total, rounds: 0 });
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        summary.interrupted = cut_short(&summary, total);
        finish(writer, summary)
    }
}

/// Runs whole groups on `workers` OS threads while the calling thread writes
/// the replay. Each worker claims the next batch of consecutive unrun groups,
/// runs each to its end, encodes their events into canonical blocks and
/// digests them (blocks never span groups, so this needs nothing from other
/// workers), and hands the blocks to the calling thread, which chains
/// finished batches in group order as soon as every earlier group is written
/// — one 64-byte hash per block. A worker does not start a batch more than
/// [`BATCHES_AHEAD`] batches past the earliest unwritten one, so the batches
/// waiting for an earlier one are bounded. The bytes equal the cooperative
/// runner's.
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

/// How many batches past the earliest unwritten group a worker may start:
/// bounds the finished batches held (in the channel, or waiting for an
/// earlier one) while an early, long group runs.
pub const BATCHES_AHEAD: usize = 4;

/// How often a worker waiting for the written frontier looks at the
/// interrupt flag.
const INTERRUPT_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Written block buffers a worker keeps for reuse; more are freed.
const POOLED_PER_WORKER: usize = 2;

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

/// What every worker shares: the machine, the next unclaimed index, the
/// batch size, the written frontier and one buffer pool per worker.
struct Work<'a> {
    lazy: Builder<'a>,
    slots: &'a [Mutex<Option<Group>>],
    total: usize,
    next: AtomicUsize,
    batch: usize,
    /// Groups written so far; workers wait on it to stay within the window.
    written: Mutex<usize>,
    advanced: Condvar,
    stop: AtomicBool,
    pools: Vec<Pool>,
    /// Set from outside to stop at the next round boundary
    /// ([`Runner::run_to_until`]).
    interrupt: &'a AtomicBool,
}

impl Runner for ThreadedRunner {
    fn run_to(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
    ) -> std::io::Result<RunSummary> {
        self.run_to_until(machine, sink, observe, each, &AtomicBool::new(false))
    }

    fn run_to_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        stop: &AtomicBool,
    ) -> std::io::Result<RunSummary> {
        let mut writer = ReplayWriter::to_sink(&replay_header(machine), sink);
        let total = machine.group_count();
        // Eagerly loaded groups move into slots for the run and back after it.
        let eager = std::mem::take(&mut machine.groups);
        let slots: Vec<Mutex<Option<Group>>> = eager.into_iter().map(|g| Mutex::new(Some(g))).collect();
        let workers = self.workers.clamp(1, total.max(1));
        let work = Work {
            lazy: machine.builder(),
            slots: &slots,
            total,
            next: AtomicUsize::new(0),
            batch: batch_size(total, workers),
            written: Mutex::new(0),
            advanced: Condvar::new(),
            stop: AtomicBool::new(false),
            pools: (0..workers).map(|_| Pool::default()).collect(),
            interrupt: stop,
        };
        let mut summary = RunSummary::default();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(BATCHES_AHEAD);
            for worker in 0..workers {
                let (tx, work) = (tx.clone(), &work);
                scope.spawn(move || work.run(worker, &tx));
            }
            drop(tx);
            work.write_in_order(&rx, &mut writer, &mut summary, each, &mut |done| {
                observe(Progress { groups_done: done, groups_total: total, rounds: 0 })
            });
        });
        machine.groups =
            slots.into_iter().filter_map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner)).collect();
        if let Some(e) = failed(&writer) {
            return Err(e);
        }
        summary.interrupted = cut_short(&summary, total);
        assert!(summary.groups as usize == total || summary.interrupted, "every group is written exactly once");
        finish(writer, summary)
    }
}

impl Work<'_> {
    /// A worker: claims batches of unrun groups and runs each to its end
    /// until none is left.
    fn run(&self, worker: usize, tx: &SyncSender<Batch>) {
        let mut events = Vec::new();
        let halted = || self.stop.load(Ordering::Relaxed) || self.interrupt.load(Ordering::Relaxed);
        loop {
            let first = self.next.fetch_add(self.batch, Ordering::Relaxed);
            if first >= self.total || halted() {
                return;
            }
            // Wait until the batch is within the window past the written
            // frontier. An interrupt cannot notify the condition variable,
            // so the wait wakes now and then to look at it.
            let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            while first >= *written + BATCHES_AHEAD * self.batch && !halted() {
                written = self.advanced.wait_timeout(written, INTERRUPT_POLL).unwrap_or_else(PoisonError::into_inner).0;
            }
            drop(written);
            if halted() {
                return;
            }
            let end = (first + self.batch).min(self.total);
            let reuse = self.pools[worker].lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
            let mut encoder = BlockEncoder::with_buffers(reuse);
            let mut reports = Vec::with_capacity(end - first);
            for id in first..end {
                if self.interrupt.load(Ordering::Relaxed) {
                    break; // later groups are left out of an interrupted run
                }
                let mut run = |group: &mut Group| {
                    let messages = run_group_until(
                        group,
                        &mut events,
                        &mut |evs| evs.iter().for_each(|e| encoder.push(e)),
                        &mut |_| {},
                        self.interrupt,
                    );
                    reports.push(report(group, messages));
                };
                match self.slots.get(id) {
                    // Each index is claimed by one worker, so the lock is never contended.
                    Some(slot) => {
                        if let Some(group) = slot.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                            run(group);
                        }
                    }
                    None => {
                        if let Some(mut group) = self.lazy.build(id) {
                            run(&mut group);
                        }
                    }
                }
            }
            if tx.send(Batch { worker, first, blocks: encoder.finish(), reports }).is_err() {
                return; // the writer is gone: nothing would be written
            }
        }
    }

    /// The calling thread: writes each finished batch once every earlier group
    /// is written; returns when every worker has hung up.
    fn write_in_order<W: Write>(
        &self,
        rx: &Receiver<Batch>,
        writer: &mut ReplayWriter<W>,
        summary: &mut RunSummary,
        each: &mut dyn FnMut(&GroupReport),
        progress: &mut dyn FnMut(usize),
    ) {
        let mut pending = BTreeMap::new();
        let mut done = 0;
        for batch in rx {
            if self.stop.load(Ordering::Relaxed) {
                continue; // the sink failed: let the workers finish their batch and stop
            }
            pending.insert(batch.first, batch);
            while let Some(batch) = pending.remove(&done) {
                writer.append(&batch.blocks);
                let mut pool = self.pools[batch.worker].lock().unwrap_or_else(PoisonError::into_inner);
                if pool.len() < POOLED_PER_WORKER {
                    pool.push(batch.blocks);
                }
                drop(pool);
                for r in &batch.reports {
                    summary.add(r);
                    each(r);
                }
                done += batch.reports.len();
                *self.written.lock().unwrap_or_else(PoisonError::into_inner) = done;
                self.advanced.notify_all();
                progress(done);
            }
            if writer.io_error().is_some() {
                self.stop.store(true, Ordering::Relaxed);
                self.advanced.notify_all();
                pending.clear();
            }
        }
    }
}
