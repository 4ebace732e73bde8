//! Running a range of groups on its own: the unit of work of a runner that
//! spreads a run over processes or machines (`canon-cluster`).
//!
//! A batch is exactly what one worker of the [`crate::ThreadedRunner`]
//! produces for its claim: the groups run to their end one after another by
//! [`run_group`], their events cut into canonical blocks and digested by one
//! [`BlockEncoder`]. Blocks never span groups, so the batches of consecutive
//! ranges, appended in order with [`canon_replay::ReplayWriter::append`], give
//! the bytes of a cooperative run.

use std::ops::Range;

use canon_replay::{BlockEncoder, EncodedBlocks};

use crate::machine::Machine;
use crate::runner::{GroupReport, report, run_group};

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
