//! Running a range of groups on its own: the unit of work of a runner that
//! spreads a run over processes or machines (`canon-cluster`).
//!
//! A batch is exactly what one worker of the [`crate::ThreadedRunner`]
//! produces for its claim: the groups run to their end one after another by
//! [`run_group`], their events cut into canonical blocks and digested by one
//! [`BlockEncoder`]. Blocks never span groups, so the batches of consecutive
//! ranges, appended in order with [`canon_replay::ReplayWriter::append`], give
//! the bytes of a cooperative run.
//!
//! A long batch can instead be run in segments ([`Batch`]): it pauses at a
//! round boundary every so many rounds, is checkpointed in the checkpoint
//! format (`bytecode-spec/checkpoint.md`), and another process can resume it
//! from that checkpoint; the blocks are the same either way.

use std::ops::Range;

use canon_replay::writer::{BLOCK_HEAD_BYTES, TRAILER_BYTES};
use canon_replay::{BlockEncoder, EncodedBlocks, WriterPosition};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, CheckpointError, ResumePoint};
use crate::machine::Machine;
use crate::runner::{
    CooperativeRunner, GroupReport, RunError, RunSummary, Runner, Segment, replay_header, report, run_group,
};

/// Runs groups `groups` of `machine` (loaded or lazily loaded; ids past the
/// last group are skipped) to their end, handing each group's report to
/// `each` in group order, and returns their events as encoded, digested,
/// not yet chained blocks.
pub fn run_groups(machine: &mut Machine, groups: Range<usize>, each: &mut dyn FnMut(&GroupReport)) -> EncodedBlocks {
    let mut encoder = BlockEncoder::new();
    let mut events = Vec::new();
    for id in groups {
        machine.with_group(id, &mut |group| {
            let messages =
                run_group(group, &mut events, &mut |evs| evs.iter().for_each(|e| encoder.push(e)), &mut |_| {});
            each(&report(group, messages));
        });
    }
    encoder.finish()
}

/// One batch of a run — groups `first..end` of a lazily loaded machine —
/// run in segments that pause at a round boundary, so that it can be
/// checkpointed and resumed by another process.
///
/// The batch is run by the [`CooperativeRunner`] on a machine restricted to
/// its groups: the groups before `first` count as finished elsewhere, those
/// from `end` on are left out. Its checkpoints are ordinary checkpoints
/// ([`Machine::checkpoint`]) of that machine: `next group` lies inside the
/// batch, the summary counts the groups before `first` as finished (its
/// other totals are the batch's own), and the replay position is that of
/// the batch's own stream — the run's replay header followed by the batch's
/// blocks — whose running root chains only the batch's blocks. The blocks
/// themselves are the run's: a block never spans groups.
pub struct Batch {
    machine: Machine,
    groups: Range<usize>,
}

/// How a segment of a [`Batch`] ended: the blocks closed during it (encoded
/// and digested, not chained; a group paused inside keeps its open block in
/// the checkpoint), and whether the batch is finished.
#[derive(Debug)]
pub enum BatchSegment {
    /// Paused at a round boundary: [`Batch::checkpoint`] saves it; the next
    /// [`Batch::run`] continues.
    Paused(EncodedBlocks),
    /// Every group of the batch ran to its end.
    Finished(EncodedBlocks),
}

fn bad(reason: String) -> CheckpointError {
    CheckpointError::BadPosition { reason }
}

/// Checks `machine` is as a run's loader builds it — a program, every group
/// loaded lazily from id 0, nothing run — with at least `groups.end` groups.
fn check_fresh(machine: &Machine, groups: &Range<usize>) -> Result<(), CheckpointError> {
    let image = machine.image.is_some();
    let lazy = machine.lazy.as_ref().map_or(0, |l| l.count as usize);
    if !image || !machine.groups.is_empty() || machine.base != 0 || machine.resume.is_some() {
        return Err(bad("a batch runs on a machine whose groups are all loaded lazily and not yet run".into()));
    }
    if groups.start >= groups.end || groups.end > lazy {
        return Err(bad(format!("batch {}..{} is not inside the run's {lazy} groups", groups.start, groups.end)));
    }
    Ok(())
}

/// `h_0` of the stream of `machine`'s runs, and its header's length.
fn stream_start(machine: &Machine) -> WriterPosition {
    WriterPosition::start(&replay_header(machine))
}

impl Batch {
    /// Batch `groups` of `machine`, a machine as the run's loader builds it
    /// (every group loaded lazily, none run), from its first group.
    pub fn start(mut machine: Machine, groups: Range<usize>) -> Result<Batch, CheckpointError> {
        check_fresh(&machine, &groups)?;
        let writer = stream_start(&machine);
        machine.base = groups.start;
        if let Some(lazy) = machine.lazy.as_mut() {
            lazy.count = (groups.end - groups.start) as u32;
        }
        let summary = RunSummary { groups: groups.start as u64, ..RunSummary::default() };
        machine.resume =
            Some(ResumePoint { next: groups.start, inside: false, in_flight: None, messages: 0, writer, summary });
        Ok(Batch { machine, groups })
    }

    /// Batch `groups` of `machine` (as for [`Batch::start`]) continued from
    /// `checkpoint`, taken by [`Batch::checkpoint`] of the same batch in
    /// another process, whose segments gave `before` (the blocks closed up
    /// to the checkpoint, in order). The groups get their hosts and keys from
    /// `machine`. Checked: the checkpoint is of this program, configuration
    /// and batch, with the same transport injections, and `before` is
    /// exactly the stream it records (its block count, its byte count and
    /// its running root); [`Machine::restore`] checks every saved group. A
    /// checkpoint does not record where its batch starts: the caller checks
    /// that its own totals cover groups `first..next` ([`Batch::next_group`]).
    pub fn resume(
        machine: Machine,
        groups: Range<usize>,
        checkpoint: &Checkpoint,
        before: &EncodedBlocks,
    ) -> Result<Batch, CheckpointError> {
        check_fresh(&machine, &groups)?;
        if checkpoint.config()?.digest() != machine.config.digest() {
            return Err(CheckpointError::ConfigMismatch);
        }
        let h = &checkpoint.header;
        let total = checkpoint.group_count()?;
        if total != groups.end as u64 || h.next_group < groups.start as u64 || h.next_group >= total {
            return Err(bad(format!(
                "a checkpoint at group {} of {total} is not one of batch {}..{}",
                h.next_group, groups.start, groups.end
            )));
        }
        let program = machine.program().cloned().expect("checked fresh: a program is loaded");
        let Machine { keys, lazy, .. } = machine;
        let lazy = lazy.expect("checked fresh: the groups are loaded lazily");
        let restored = Machine::restore(&program, checkpoint, lazy.make, keys)?;
        if restored.lazy.as_ref().is_some_and(|l| l.injections != lazy.injections) {
            return Err(bad("the checkpoint's transport injections are not the run's".into()));
        }
        if restored.lazy.as_ref().is_some_and(|l| l.owner != lazy.owner) {
            return Err(bad("the checkpoint's session owner is not the run's".into()));
        }
        let start = stream_start(&restored);
        let mut chain = start.chain;
        let mut bytes = start.bytes;
        for (block, digest) in before.blocks() {
            chain = Sha256::new().chain_update(chain).chain_update(digest).finalize().into();
            bytes += block.len() as u64 + 32;
        }
        if (before.block_count() as u64, bytes, chain) != (h.blocks, h.replay_bytes, h.chain) {
            return Err(bad(format!(
                "the batch's blocks before the checkpoint ({} blocks) are not those it records ({} blocks)",
                before.block_count(),
                h.blocks
            )));
        }
        Ok(Batch { machine: restored, groups })
    }

    /// The batch's groups.
    pub fn groups(&self) -> Range<usize> {
        self.groups.clone()
    }

    /// Runs the batch on until about `every` rounds (summed over its groups)
    /// have run — pausing at that round boundary — or to its end, handing
    /// every finished group's report to `each` in group order.
    pub fn run(&mut self, every: Option<u64>, each: &mut dyn FnMut(&GroupReport)) -> Result<BatchSegment, RunError> {
        let mut stream = Vec::new();
        let segment = CooperativeRunner.run_segment(&mut self.machine, &mut stream, &mut |_| {}, each, every)?;
        let finished = matches!(segment, Segment::Finished(_));
        let blocks = closed_blocks(&stream, finished);
        Ok(if finished { BatchSegment::Finished(blocks) } else { BatchSegment::Paused(blocks) })
    }

    /// A checkpoint of the paused batch (see [`Batch`] for what it holds).
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        self.machine.checkpoint()
    }

    /// The group the batch continues with (its `end` once finished).
    pub fn next_group(&self) -> usize {
        self.machine.resume.as_ref().map_or(self.groups.end, |r| r.next)
    }
}

/// The blocks of a segment of a batch's stream as the replay writer wrote
/// it after the header (each block's head and events, then its chain hash;
/// the trailer when `finished`), digested again.
fn closed_blocks(mut stream: &[u8], finished: bool) -> EncodedBlocks {
    let u32_at = |s: &[u8], at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    let mut blocks = EncodedBlocks::default();
    while !stream.is_empty() {
        if u32_at(stream, 0) == 0 {
            // The end marker of the trailer.
            assert!(finished && stream.len() == TRAILER_BYTES, "the writer's trailer ends its stream");
            break;
        }
        let len = BLOCK_HEAD_BYTES + u32_at(stream, 4) as usize;
        blocks.push_block(&stream[..len]).expect("the writer's blocks have consistent heads");
        stream = &stream[len + 32..];
    }
    blocks
}
