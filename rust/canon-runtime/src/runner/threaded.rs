//! The threaded runner: whole groups on worker threads, the replay written
//! in canonical order by the calling thread.

use super::*;

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
///
/// It pauses at a group boundary: once the written groups' rounds reach the
/// segment's budget, workers claim no further batch, and every claimed one
/// is run and written. A host handler's panic on a worker is caught around
/// the group: the groups before it are written, the rest discarded, and the
/// run ends with [`RunError::HostPanicked`].
#[derive(Debug, Clone, Copy)]
pub struct ThreadedRunner {
    /// Worker threads; `0` is treated as `1`.
    pub workers: usize,
}

impl ThreadedRunner {
    /// A runner with `workers` threads (at least 1).
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

/// Written batches a worker keeps for reuse; more are freed.
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
/// blocks and digested and their reports already summed (the parts of
/// replay writing and reporting that parallelise).
struct Batch {
    worker: usize,
    first: usize,
    done: Done,
    /// The rounds of the reported groups, summed.
    rounds: u64,
    /// The group after the reported ones whose host handler panicked.
    panicked: Option<(u32, String)>,
}

/// What a batch hands to the writing thread and gets back once written:
/// its blocks, its groups' reports and their summary.
#[derive(Default)]
struct Done {
    blocks: EncodedBlocks,
    reports: Vec<GroupReport>,
    summary: RunSummary,
}

/// Written batches, returned to the worker that filled them: it reuses
/// their buffers' capacity and drops their reports itself (the memory goes
/// back to the allocator of the thread that allocated it).
type Pool = Mutex<Vec<Done>>;

/// What every worker shares: the machine, the next unclaimed index, the
/// batch size, the written frontier and one buffer pool per worker.
struct Work<'a, 'g> {
    lazy: Builder<'a>,
    /// The eagerly loaded groups from id `base` on.
    slots: &'a [Mutex<&'g mut Group>],
    base: usize,
    total: usize,
    next: AtomicUsize,
    batch: usize,
    /// Groups written so far; workers wait on it to stay within the window.
    written: Mutex<usize>,
    advanced: Condvar,
    /// The sink failed: workers stop, nothing more is written.
    stop: AtomicBool,
    /// Pause (or a panic): workers claim no further batch; claimed ones run.
    pause: AtomicBool,
    pools: Vec<Pool>,
    /// Set from outside to stop at the next round boundary
    /// ([`Runner::run_to_until`]).
    interrupt: &'a AtomicBool,
}

/// How the writing thread's loop ended.
struct Written {
    done: usize,
    panicked: Option<(u32, String)>,
}

impl Runner for ThreadedRunner {
    fn run_segment_until(
        &self,
        machine: &mut Machine,
        sink: &mut dyn Write,
        observe: &mut dyn FnMut(Progress),
        each: &mut dyn FnMut(&GroupReport),
        pause_after: Option<u64>,
        stop: &AtomicBool,
    ) -> Result<Segment, RunError> {
        let Start { mut writer, mut summary, next, inside, in_flight, messages } = start(machine, sink);
        let total = machine.group_count();
        let mut first = next;
        if inside && next < total {
            // A group paused inside runs on this thread: its events continue the open block.
            let (mut buf, mut messages, mut counted, mut built) = (Vec::new(), messages, 0, None);
            let driven = drive_here(
                machine,
                (next, in_flight, &mut built),
                &mut writer,
                &mut buf,
                (&mut messages, &mut counted),
                Until { budget: None, stop },
                &mut |_| {},
            )?;
            if let Driven::Done(r) = driven {
                summary.add(&r);
                each(&r);
            }
            first = next + 1;
            if let Some(e) = failed(&writer) {
                return Err(e.into());
            }
        }
        // Workers reach the eagerly loaded groups through one lock each; the
        // groups themselves stay where they are (no group is moved).
        let mut eager = std::mem::take(&mut machine.groups);
        let slots: Vec<Mutex<&mut Group>> = eager.iter_mut().map(Mutex::new).collect();
        let remaining = total.saturating_sub(first);
        let workers = self.workers.clamp(1, remaining.max(1));
        let work = Work {
            lazy: machine.builder_after(slots.len()),
            slots: &slots,
            base: machine.base,
            total,
            next: AtomicUsize::new(first),
            batch: batch_size(remaining, workers),
            written: Mutex::new(first),
            advanced: Condvar::new(),
            stop: AtomicBool::new(false),
            pause: AtomicBool::new(false),
            pools: (0..workers).map(|_| Pool::default()).collect(),
            interrupt: stop,
        };
        let mut ended = Written { done: first, panicked: None };
        if first < total {
            std::thread::scope(|scope| {
                let (tx, rx) = mpsc::sync_channel(BATCHES_AHEAD);
                for worker in 0..workers {
                    let (tx, work) = (tx.clone(), &work);
                    scope.spawn(move || work.run(worker, &tx));
                }
                drop(tx);
                ended = work.write_in_order(&rx, &mut writer, &mut summary, each, pause_after, &mut |done| {
                    observe(Progress { groups_done: done, groups_total: total, rounds: 0 })
                });
            });
        }
        drop(work);
        drop(slots);
        machine.groups = eager;
        if let Some(e) = failed(&writer) {
            return Err(e.into());
        }
        if let Some((group, message)) = ended.panicked {
            return Err(host_panicked(&mut writer, group, message));
        }
        if stop.load(Ordering::Relaxed) {
            summary.interrupted = cut_short(&summary, total);
            return Ok(Segment::Finished(Box::new(finish(writer, summary)?)));
        }
        if ended.done < total {
            return pause(machine, &mut writer, summary, (ended.done, false, None, 0));
        }
        Ok(Segment::Finished(Box::new(finish(writer, summary)?)))
    }
}

impl Work<'_, '_> {
    /// A worker: claims batches of unrun groups and runs each to its end
    /// until none is left or the run pauses.
    fn run(&self, worker: usize, tx: &SyncSender<Batch>) {
        let mut events = Vec::new();
        let halted = || self.stop.load(Ordering::Relaxed) || self.interrupt.load(Ordering::Relaxed);
        loop {
            if self.pause.load(Ordering::Relaxed) {
                return;
            }
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
            let Done { blocks, mut reports, mut summary } =
                self.pools[worker].lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
            let mut encoder = BlockEncoder::with_buffers(blocks);
            reports.clear();
            reports.reserve(end - first);
            summary.clear();
            let (mut rounds, mut panicked) = (0, None);
            for id in first..end {
                if self.interrupt.load(Ordering::Relaxed) {
                    break; // later groups are left out of an interrupted run
                }
                let mark = encoder.mark();
                let mut run = |group: &mut Group| {
                    let (mut messages, mut counted) = (0, 0);
                    let mut emit = |e: &Event| encoder.push(e);
                    drive(
                        group,
                        &mut events,
                        &mut emit,
                        &mut messages,
                        &mut counted,
                        Until { budget: None, stop: self.interrupt },
                        &mut |_| {},
                    )
                };
                let end = match self.slots.get(id - self.base) {
                    // Each index is claimed by one worker, so the lock is never contended;
                    // a panic is caught inside, so it is never poisoned.
                    Some(slot) => Some(run(&mut slot.lock().unwrap_or_else(PoisonError::into_inner))),
                    None => self.lazy.build(id).as_mut().map(&mut run),
                };
                encoder.end_group();
                match end {
                    Some(GroupEnd::Done(r)) => {
                        summary.add(&r);
                        rounds += r.outcome.rounds;
                        reports.push(r);
                    }
                    Some(GroupEnd::Panicked(message)) => {
                        encoder.truncate(mark);
                        events.clear();
                        panicked = Some((id as u32, message));
                        self.pause.store(true, Ordering::Relaxed);
                        break;
                    }
                    Some(GroupEnd::Paused) | None => {}
                }
            }
            let done = Done { blocks: encoder.finish(), reports, summary };
            let batch = Batch { worker, first, done, rounds, panicked };
            if tx.send(batch).is_err() {
                return; // the writer is gone: nothing would be written
            }
        }
    }

    /// The calling thread: writes each finished batch once every earlier group
    /// is written, pausing the workers once the written groups' rounds reach
    /// `pause_after`; returns when every worker has hung up.
    fn write_in_order<W: Write>(
        &self,
        rx: &Receiver<Batch>,
        writer: &mut ReplayWriter<W>,
        summary: &mut RunSummary,
        each: &mut dyn FnMut(&GroupReport),
        pause_after: Option<u64>,
        progress: &mut dyn FnMut(usize),
    ) -> Written {
        let mut pending = BTreeMap::new();
        let mut ended = Written { done: *self.written.lock().unwrap_or_else(PoisonError::into_inner), panicked: None };
        let mut counted = 0;
        for batch in rx {
            if self.stop.load(Ordering::Relaxed) || ended.panicked.is_some() {
                continue; // stopped: let the workers finish their batch and stop
            }
            pending.insert(batch.first, batch);
            while let Some(batch) = pending.remove(&ended.done) {
                writer.append(&batch.done.blocks);
                summary.merge(&batch.done.summary);
                batch.done.reports.iter().for_each(&mut *each);
                counted += batch.rounds;
                ended.done += batch.done.reports.len();
                let mut pool = self.pools[batch.worker].lock().unwrap_or_else(PoisonError::into_inner);
                if pool.len() < POOLED_PER_WORKER {
                    pool.push(batch.done);
                }
                drop(pool);
                *self.written.lock().unwrap_or_else(PoisonError::into_inner) = ended.done;
                self.advanced.notify_all();
                progress(ended.done);
                if batch.panicked.is_some() {
                    ended.panicked = batch.panicked;
                    pending.clear();
                    self.pause.store(true, Ordering::Relaxed);
                    break;
                }
                if pause_after.is_some_and(|n| counted >= n) {
                    self.pause.store(true, Ordering::Relaxed);
                }
            }
            if writer.io_error().is_some() {
                self.stop.store(true, Ordering::Relaxed);
                self.advanced.notify_all();
                pending.clear();
            }
        }
        ended
    }
}
