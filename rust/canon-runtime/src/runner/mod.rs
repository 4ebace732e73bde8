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

use canon_machine::{CoroutineFault, Event, EventKind, Group, GroupOutcome, GroupStatus, RoundReport, SessionStatus};
use canon_replay::{BlockEncoder, EncodedBlocks, ReplayHeader, ReplayWriter};

use crate::checkpoint::ResumePoint;
use crate::machine::{Builder, Machine};

mod threaded;
pub use threaded::{BATCHES_AHEAD, ThreadedRunner};

/// What happened to one group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupReport {
    /// The group's id.
    pub group: u32,
    /// How the group ended: status, rounds, instructions.
    pub outcome: GroupOutcome,
    /// Final status of every session the group opened, by sid.
    pub sessions: Vec<(u64, SessionStatus)>,
    /// Every coroutine fault, in the order they happened.
    pub faults: Vec<CoroutineFault>,
    /// Messages delivered (`Received` events).
    pub messages: u64,
}

/// Faults a [`RunSummary`] keeps in full (the rest are counted).
pub const SUMMARY_FAULTS: usize = 16;

/// The totals of a run, aggregated group by group as groups finish: its size
/// does not depend on the number of groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The report of the first group that stalled.
    pub first_stalled: Option<GroupReport>,
    /// Groups stopped by the round budget.
    pub budget_exhausted: u64,
    /// Groups stopped by the instruction budget.
    pub instruction_budget_exhausted: u64,
    /// The replay's root (the last chain hash).
    pub root: [u8; 32],
    /// What the groups' reports add to the run's metrics (instances,
    /// rounds, instructions, outcomes, rounds per instance).
    pub totals: crate::metrics::ReportTotals,
    /// Whether the run was stopped through [`Runner::run_to_until`]'s flag
    /// before every group ended: the replay holds every round run so far,
    /// the group cut short reports [`GroupStatus::Running`] and later
    /// groups are left out.
    pub interrupted: bool,
}

impl RunSummary {
    /// Adds one finished group. Counts saturate: a summary restored from a
    /// crafted checkpoint may start anywhere.
    pub fn add(&mut self, r: &GroupReport) {
        self.groups = self.groups.saturating_add(1);
        self.sessions = self.sessions.saturating_add(r.sessions.len() as u64);
        self.messages = self.messages.saturating_add(r.messages);
        self.rounds = self.rounds.max(r.outcome.rounds);
        self.totals.add(r);
        for (_, status) in &r.sessions {
            match self.statuses.iter_mut().find(|(s, _)| s == status) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => self.statuses.push((*status, 1)),
            }
        }
        self.faults = self.faults.saturating_add(r.faults.len() as u64);
        for f in r.faults.iter().take(SUMMARY_FAULTS.saturating_sub(self.first_faults.len())) {
            self.first_faults.push((r.group, f.clone()));
        }
        match r.outcome.status {
            GroupStatus::Stalled(_) => {
                self.stalled = self.stalled.saturating_add(1);
                self.first_stalled.get_or_insert_with(|| r.clone());
            }
            GroupStatus::BudgetExhausted => self.budget_exhausted = self.budget_exhausted.saturating_add(1),
            GroupStatus::InstructionBudgetExhausted => {
                self.instruction_budget_exhausted = self.instruction_budget_exhausted.saturating_add(1)
            }
            // Only a run stopped through its flag leaves a group running.
            GroupStatus::Running => self.interrupted = true,
            // Completed, and statuses added later, count nowhere special.
            _ => {}
        }
    }

    /// Whether any coroutine faulted.
    pub fn faulted(&self) -> bool {
        self.faults > 0
    }

    /// Adds the totals of groups that follow every group added so far,
    /// aggregated (by [`RunSummary::add`], in group order) elsewhere: the
    /// result is the same as adding those groups here one by one. The
    /// threaded runner's workers aggregate their batches, so the writing
    /// thread adds one summary per batch.
    pub(crate) fn merge(&mut self, later: &RunSummary) {
        self.groups = self.groups.saturating_add(later.groups);
        self.sessions = self.sessions.saturating_add(later.sessions);
        self.messages = self.messages.saturating_add(later.messages);
        self.events = self.events.saturating_add(later.events);
        self.rounds = self.rounds.max(later.rounds);
        self.totals.merge(&later.totals);
        for (status, count) in &later.statuses {
            match self.statuses.iter_mut().find(|(s, _)| s == status) {
                Some((_, n)) => *n = n.saturating_add(*count),
                None => self.statuses.push((*status, *count)),
            }
        }
        self.faults = self.faults.saturating_add(later.faults);
        let room = SUMMARY_FAULTS.saturating_sub(self.first_faults.len());
        self.first_faults.extend(later.first_faults.iter().take(room).cloned());
        self.stalled = self.stalled.saturating_add(later.stalled);
        if self.first_stalled.is_none() {
            self.first_stalled.clone_from(&later.first_stalled);
        }
        self.budget_exhausted = self.budget_exhausted.saturating_add(later.budget_exhausted);
        self.instruction_budget_exhausted =
            self.instruction_budget_exhausted.saturating_add(later.instruction_budget_exhausted);
        self.interrupted |= later.interrupted;
    }

    /// Empties the summary, keeping its allocations for reuse.
    fn clear(&mut self) {
        let (mut statuses, mut first_faults) =
            (std::mem::take(&mut self.statuses), std::mem::take(&mut self.first_faults));
        statuses.clear();
        first_faults.clear();
        *self = RunSummary { statuses, first_faults, ..RunSummary::default() };
    }
}

/// The result of an in-memory run: per-group reports and the canonical
/// replay bytes.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One report per group, in group order.
    pub groups: Vec<GroupReport>,
    /// The counts aggregated over every group.
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

/// Why a run stopped before its end, other than by pausing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sink failed; the run stopped early.
    #[error("writing the replay failed: {0}")]
    Io(#[from] std::io::Error),
    /// A host handler panicked while group `group` ran. The run stopped
    /// cleanly: every group before it (and, under the cooperative runner,
    /// every closed block of it) is written, the replay has no trailer,
    /// and the machine holds no poisoned lock. Resume from the last
    /// checkpoint to complete the run.
    #[error("a host handler panicked in group {group}: {message}")]
    HostPanicked {
        /// The group that was running.
        group: u32,
        /// The panic's message.
        message: String,
    },
}

/// How a run segment ([`Runner::run_segment`]) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Paused at a round boundary after the requested rounds: the machine
    /// holds where to continue ([`Machine::checkpoint`] saves it; a further
    /// `run_segment` with the same sink continues the stream).
    Paused,
    /// Every group ran to its end; the replay is complete.
    Finished(Box<RunSummary>),
}

/// A scheduler of groups.
pub trait Runner {
    /// Runs the loaded groups, streaming the canonical replay to `sink` block
    /// by block in canonical order, telling `observe` how far it got (after
    /// every finished group or batch of groups, and every
    /// [`PROGRESS_ROUNDS`] rounds of a long group; for display only) and
    /// handing every group's report to `each`, in group order. With
    /// `pause_after = Some(n)` it pauses once about `n` rounds (summed over
    /// groups) have run — the cooperative runner at the round boundary where
    /// the count is reached, the threaded runner at the next group boundary
    /// of its written frontier — and returns [`Segment::Paused`]; the next
    /// call continues from there on the same sink, and the bytes are those
    /// of an uninterrupted run. A machine restored from a checkpoint
    /// continues where the checkpoint was taken.
    fn run_segment(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        pause_after: Option<u64>,
    ) -> Result<Segment, RunError> {
        self.run_segment_until(machine, sink, observe, each, pause_after, &AtomicBool::new(false))
    }

    /// [`Runner::run_segment`] that also stops at the next round boundary
    /// once `stop` is set (by a signal handler, say): no group starts
    /// another round, groups not yet started are left out, the replay is
    /// finished (a valid replay of the rounds run) and the segment is
    /// [`Segment::Finished`] with [`RunSummary::interrupted`] set.
    fn run_segment_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        pause_after: Option<u64>,
        stop: &AtomicBool,
    ) -> Result<Segment, RunError>;

    /// Runs every loaded group to its end ([`Runner::run_segment`] without
    /// pausing). Returns the run's totals, or the sink's first write error
    /// (the run stops early); a host handler's panic is an error of kind
    /// `Other` wrapping [`RunError::HostPanicked`].
    fn run_to(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
    ) -> std::io::Result<RunSummary> {
        self.run_to_until(machine, sink, observe, each, &AtomicBool::new(false))
    }

    /// [`Runner::run_to`] that stops at the next round boundary once `stop`
    /// is set ([`Runner::run_segment_until`]): the replay written is
    /// finished and valid, and the summary is [`RunSummary::interrupted`].
    fn run_to_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        stop: &AtomicBool,
    ) -> std::io::Result<RunSummary> {
        loop {
            match self.run_segment_until(machine, sink, observe, each, None, stop) {
                Ok(Segment::Finished(summary)) => return Ok(*summary),
                Ok(Segment::Paused) => {}
                Err(RunError::Io(e)) => return Err(e),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
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
            .expect("writing to memory does not fail and the runtime's hosts do not panic");
        RunOutcome { groups, summary, replay }
    }
}

/// How far a run has got, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Groups finished and written.
    pub groups_done: usize,
    /// Groups in the run.
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

/// A replay writer to `sink` for a run of `machine` (the header of
/// [`replay_header`], encoded from the program's own strings).
fn writer_for<W: Write>(machine: &Machine, sink: W) -> ReplayWriter<W> {
    match machine.program() {
        Some(p) => ReplayWriter::to_sink_parts(&p.digest(), machine.config(), &p.module().strings, sink),
        None => ReplayWriter::to_sink_parts(&[0; 32], machine.config(), &[], sink),
    }
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
    let mut messages = 0;
    loop {
        let running = *group.status() == GroupStatus::Running;
        let round = running.then(|| group.run_round());
        group.drain_events(buf);
        messages += count_messages(buf);
        emit(buf);
        buf.clear();
        match round {
            Some(r) if r.tick.saturating_add(1) % PROGRESS_ROUNDS == 0 => tick(r.tick.saturating_add(1)),
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

/// Where a segment starts: the writer (new, or resumed on the sink), the
/// totals so far, the first group to run and, when the run paused inside
/// that group, its progress.
struct Start<'s> {
    writer: ReplayWriter<&'s mut dyn Write>,
    summary: RunSummary,
    next: usize,
    /// Group `next` is part-run.
    inside: bool,
    /// Group `next` when it is a lazily built one, part-run.
    in_flight: Option<Group>,
    /// Messages group `next` delivered before the pause.
    messages: u64,
}

fn start<'s>(machine: &mut Machine, sink: &'s mut dyn Write) -> Start<'s> {
    match machine.resume.take() {
        Some(r) => Start {
            writer: ReplayWriter::resume(&r.writer, sink),
            summary: r.summary,
            next: r.next,
            inside: r.inside,
            in_flight: r.in_flight,
            messages: r.messages,
        },
        None => Start {
            writer: writer_for(machine, sink),
            summary: RunSummary::default(),
            next: machine.base,
            inside: false,
            in_flight: None,
            messages: 0,
        },
    }
}

/// Pauses: hands the closed blocks to the sink and leaves in the machine
/// where to continue.
fn pause(
    machine: &mut Machine,
    writer: &mut ReplayWriter<&mut dyn Write>,
    summary: RunSummary,
    at: (usize, bool, Option<Group>, u64),
) -> Result<Segment, RunError> {
    let (next, inside, in_flight, messages) = at;
    let position = writer.pause()?;
    machine.resume = Some(ResumePoint { next, inside, in_flight, messages, writer: position, summary });
    Ok(Segment::Paused)
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}

/// One round of `group`, with a host handler's panic caught (the group is
/// then unusable: the run stops).
fn round_caught(group: &mut Group) -> Result<RoundReport, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| group.run_round())).map_err(panic_message)
}

/// When driving a group stops before its end: at the round boundary where
/// `budget` rounds are counted (a pause), or once `stop` is set (the group
/// stays `Running`: an interrupted run).
#[derive(Clone, Copy)]
struct Until<'s> {
    budget: Option<u64>,
    stop: &'s AtomicBool,
}

/// How driving a group stopped.
enum GroupEnd {
    Done(GroupReport),
    Paused,
    Panicked(String),
}

/// Drives `group` round by round, handing its events to `emit` in
/// canonical order, until it ends, a host handler panics, or (with
/// `budget`) `counted` reaches it at a round boundary.
fn drive(
    group: &mut Group,
    buf: &mut Vec<Event>,
    emit: &mut dyn FnMut(&Event),
    messages: &mut u64,
    counted: &mut u64,
    until: Until<'_>,
    tick: &mut dyn FnMut(u64),
) -> GroupEnd {
    let Until { budget, stop } = until;
    loop {
        // Once `stop` is set no further round starts: the group ends its
        // part of the run still `Running` (an interrupted run).
        let round = match *group.status() == GroupStatus::Running && !stop.load(Ordering::Relaxed) {
            true => match round_caught(group) {
                Ok(r) => Some(r),
                Err(message) => return GroupEnd::Panicked(message),
            },
            false => None,
        };
        group.drain_events(buf);
        // Saturating: a part-run group restored from a crafted checkpoint
        // may bring any count.
        *messages = messages.saturating_add(count_messages(buf));
        buf.iter().for_each(&mut *emit);
        buf.clear();
        let Some(r) = round else { return GroupEnd::Done(report(group, *messages)) };
        if r.tick.saturating_add(1) % PROGRESS_ROUNDS == 0 {
            tick(r.tick.saturating_add(1));
        }
        *counted += 1;
        if budget.is_some_and(|n| *counted >= n) && *group.status() == GroupStatus::Running {
            return GroupEnd::Paused;
        }
    }
}

/// The error of a run whose host handler panicked in `group`: the writer
/// is paused first, so every closed block is handed to the sink (the
/// replay is a prefix of the full one, with no trailer).
fn host_panicked(writer: &mut ReplayWriter<&mut dyn Write>, group: u32, message: String) -> RunError {
    match writer.pause() {
        Ok(_) => RunError::HostPanicked { group, message },
        Err(e) => RunError::Io(e),
    }
}

/// Group `id` of `machine` for a runner driving it on the calling thread:
/// the part-run group handed over from a pause (`handed`), else the
/// eagerly loaded one, else a lazily loaded one built now into `built`
/// (which then owns it). `None` if there is no such group.
fn group_at<'m>(
    machine: &'m mut Machine,
    id: usize,
    handed: Option<Group>,
    built: &'m mut Option<Group>,
) -> Option<&'m mut Group> {
    let eager = id.checked_sub(machine.base).filter(|&i| i < machine.groups.len());
    *built = match handed {
        Some(g) => Some(g),
        None if eager.is_none() => machine.builder().build(id),
        None => None,
    };
    match (built.as_mut(), eager) {
        (Some(g), _) => Some(g),
        (None, Some(i)) => machine.groups.get_mut(i),
        (None, None) => None,
    }
}

/// How driving one group on the calling thread ([`drive_here`]) ended.
enum Driven {
    Done(GroupReport),
    /// The round budget was reached inside the group.
    Paused,
    /// There is no group with that id.
    Absent,
}

/// Drives group `id` ([`group_at`]: handed over, eager, or built into
/// `built`) on the calling thread, streaming its events into `writer`,
/// until it ends or `until` stops it. A host handler's panic pauses the
/// writer and is the error ([`host_panicked`]). Both runners use it: the
/// cooperative one for every group, the threaded one for a group a pause
/// left part-run.
fn drive_here(
    machine: &mut Machine,
    (id, handed, built): (usize, Option<Group>, &mut Option<Group>),
    writer: &mut ReplayWriter<&mut dyn Write>,
    buf: &mut Vec<Event>,
    (messages, counted): (&mut u64, &mut u64),
    until: Until<'_>,
    tick: &mut dyn FnMut(u64),
) -> Result<Driven, RunError> {
    let Some(group) = group_at(machine, id, handed, built) else { return Ok(Driven::Absent) };
    let end = drive(group, buf, &mut |e| writer.push(e), messages, counted, until, tick);
    match end {
        GroupEnd::Done(r) => Ok(Driven::Done(r)),
        GroupEnd::Paused => Ok(Driven::Paused),
        GroupEnd::Panicked(message) => Err(host_panicked(writer, id as u32, message)),
    }
}

/// Runs groups one after another on the calling thread, streaming each
/// round's events into the replay writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeRunner;

impl Runner for CooperativeRunner {
    fn run_segment_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        pause_after: Option<u64>,
        stop: &AtomicBool,
    ) -> Result<Segment, RunError> {
        let Start { mut writer, mut summary, next, inside, mut in_flight, mut messages } = start(machine, sink);
        let total = machine.group_count();
        let mut buf = Vec::new();
        let mut counted = 0;
        for id in next..total {
            if id != next || !inside {
                messages = 0;
            }
            let handed = if id == next { in_flight.take() } else { None };
            let mut built = None;
            let done = summary.groups as usize;
            let r = match drive_here(
                machine,
                (id, handed, &mut built),
                &mut writer,
                &mut buf,
                (&mut messages, &mut counted),
                Until { budget: pause_after, stop },
                &mut |rounds| observe(Progress { groups_done: done, groups_total: total, rounds }),
            )? {
                Driven::Done(r) => r,
                Driven::Paused => return pause(machine, &mut writer, summary, (id, true, built, messages)),
                Driven::Absent => continue,
            };
            summary.add(&r);
            each(&r);
            if let Some(e) = failed(&writer) {
                return Err(e.into());
            }
            observe(Progress { groups_done: summary.groups as usize, groups_total: total, rounds: 0 });
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if pause_after.is_some_and(|n| counted >= n) && id + 1 < total {
                return pause(machine, &mut writer, summary, (id + 1, false, None, 0));
            }
        }
        summary.interrupted = cut_short(&summary, total);
        Ok(Segment::Finished(Box::new(finish(writer, summary)?)))
    }
}

#[cfg(test)]
mod tests {
    use canon_machine::{Fault, StallReport};

    use super::*;

    /// Group `g`'s report: statuses, sessions and faults vary with `g`.
    fn report_of(g: u32) -> GroupReport {
        let status = match g % 7 {
            0 => GroupStatus::Stalled(StallReport { tick: u64::from(g), blocked: Vec::new() }),
            1 => GroupStatus::BudgetExhausted,
            2 => GroupStatus::InstructionBudgetExhausted,
            3 if g > 20 => GroupStatus::Running,
            _ => GroupStatus::Completed,
        };
        let session_status = match g % 4 {
            0 => SessionStatus::Closed,
            1 => SessionStatus::Cancelled,
            2 => SessionStatus::Faulted { code: 3000 + (g % 3) as u16 },
            _ => SessionStatus::Active,
        };
        let faults: Vec<CoroutineFault> = (0..g % 3)
            .map(|c| CoroutineFault { coroutine: c, proc: 0, pc: g, tick: 1, fault: Fault::UnknownSession { sid: 9 } })
            .collect();
        GroupReport {
            group: g,
            outcome: GroupOutcome { status, rounds: u64::from(g * 13 % 17), steps: u64::from(g), faults: faults.len() },
            sessions: (0..g % 3).map(|i| ((u64::from(g) << 32) | u64::from(i), session_status)).collect(),
            faults,
            messages: u64::from(g % 5),
        }
    }

    #[test]
    fn merging_batch_summaries_equals_adding_every_group() {
        let reports: Vec<GroupReport> = (0..60).map(report_of).collect();
        let mut one_by_one = RunSummary::default();
        reports.iter().for_each(|r| one_by_one.add(r));
        assert!(one_by_one.faults > SUMMARY_FAULTS as u64 && one_by_one.interrupted && one_by_one.stalled > 1);
        for size in [1, 2, 5, 7, 16, 59, 60] {
            let mut merged = RunSummary::default();
            let mut part = RunSummary::default();
            for chunk in reports.chunks(size) {
                part.clear();
                chunk.iter().for_each(|r| part.add(r));
                merged.merge(&part);
            }
            assert_eq!(merged, one_by_one, "batches of {size}");
        }
    }
}
