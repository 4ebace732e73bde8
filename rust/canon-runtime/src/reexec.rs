//! Re-execution: run a program again from a replay's recorded host answers
//! and compare the result with the recording, group by group.
//!
//! Groups are contiguous in a replay, so re-execution streams: it reads one
//! recorded group, builds its host answers in one pass, runs the group, and
//! compares its events with the recording in lockstep before reading the
//! next. Work is linear in the replay's length, and memory is one group's
//! events, whatever the number of groups.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Config, CoroutineFault, Event, EventKind, Group, GroupStatus, KeySource, ProgramImage, RecordedKeys, run_identity,
};
use canon_replay::{
    Divergence, Lockstep, Replay, ReplayDiff, ReplayEnd, ReplayError, ReplayHeader, ReplayReader, ReplayWriter, Side,
    header_diffs,
};

use crate::host::ReplayHost;

/// Why re-execution could not run (a divergence is not an error: it is a
/// [`ReplayDiff`] that is not identical).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReexecError {
    /// The recorded replay could not be read.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// What re-executing a recording found.
#[derive(Debug, Clone)]
pub struct Reexecution {
    /// The recording (`a`) against the re-execution (`b`): headers, and the
    /// first divergent event; comparison stops there.
    pub diff: ReplayDiff,
    /// The recording's counts and root, when it was read to its end (always,
    /// unless the comparison stopped at a divergence or `each_group` stopped it).
    pub recorded: Option<ReplayEnd>,
    /// Groups re-executed.
    pub groups: u64,
    /// Events visited: recorded events read, re-executed events produced.
    pub visited: u64,
}

/// Runs one group of `image` from its recorded events: host answers from
/// [`ReplayHost::from_group_events`], recorded `Injected` transport faults
/// applied again. Appends the events it emits to `out`.
///
/// No secret is needed: endpoint verifying keys come from the recorded
/// `Opened` events and signatures from the recorded `Sent` events of run
/// `run` ([`RecordedKeys`], [`run_identity`]), so a run signed with a key seed
/// or host-supplied keys re-executes to the same bytes; a message whose
/// re-executed envelope was never recorded gets an invalid signature (its
/// `Sent` differs and its receiver faults `BadSignature`).
pub fn reexecute_group(
    image: &Arc<ProgramImage>,
    config: &Config,
    run: &[u8; 32],
    id: u32,
    recorded: &[Event],
    out: &mut Vec<Event>,
) {
    replay_run(image, config, run, id, recorded, out);
}

/// Group `id` of `image`, re-run to its end from its recorded events (host
/// answers, injections, host-side ownership operations); its events are
/// appended to `out`. Returns the finished group (for its faults).
fn replay_run(
    image: &Arc<ProgramImage>,
    config: &Config,
    run: &[u8; 32],
    id: u32,
    recorded: &[Event],
    out: &mut Vec<Event>,
) -> Group {
    let mut group = Group::with_image(Arc::clone(image), id, config, Box::new(ReplayHost::from_group_events(recorded)));
    group.set_key_source(KeySource::Recorded(Arc::new(RecordedKeys::from_events(run, recorded))));
    // Host-side ownership operations are inputs: applied again at the tick
    // they were made, before that round runs (where a host makes them).
    let mut ops = Vec::new();
    for e in recorded {
        if let EventKind::Injected { injection, nth, .. } = e.kind {
            group.inject(nth, injection);
        }
        // (A coroutine's `check`/`consume` records are outputs of its step.)
        if let EventKind::Ownership { record } = &e.kind
            && record.is_operation()
            && e.site.coroutine == u32::MAX
        {
            ops.push((e.site.tick, e.site.sid, record.clone()));
        }
    }
    let mut ops = ops.into_iter().peekable();
    loop {
        while let Some((_, sid, op)) = ops.next_if(|(tick, _, _)| *tick <= group.tick()) {
            // A refusal is recorded in the events, as it was when recorded.
            let _refused = group.apply_ownership(sid, op);
        }
        if *group.status() != GroupStatus::Running {
            break;
        }
        group.run_round();
        group.drain_events(out);
    }
    for (_, sid, op) in ops {
        let _refused = group.apply_ownership(sid, op);
    }
    group.drain_events(out);
    group
}

/// Re-executes every group of the replay `recorded` streams with `program`
/// (under the recorded configuration) and calls `each(group, fault)` for
/// every coroutine fault, in group order: where each recorded `Faulted`
/// event happened (procedure and instruction), which the replay itself does
/// not store. Memory is one group's events. Meaningful when `program` is the
/// recorded program (same digest); otherwise the faults are those of
/// `program` run on the recorded answers.
pub fn reexecute_faults<R: Read>(
    program: &Arc<VerifiedProgram>,
    mut recorded: ReplayReader<R>,
    each: &mut dyn FnMut(u32, &CoroutineFault),
) -> Result<(), ReexecError> {
    let header = recorded.header().clone();
    let image = Arc::new(ProgramImage::new(Arc::clone(program)));
    let run = run_identity(&header.program_digest, &header.config.digest());
    let (mut events, mut buf) = (Vec::new(), Vec::new());
    while let Some(id) = recorded.next_group(&mut events)? {
        buf.clear();
        let group = replay_run(&image, &header.config, &run, id, &events, &mut buf);
        for f in group.faults() {
            each(id, f);
        }
    }
    Ok(())
}

/// The header a re-execution of `program` under `config` writes.
fn header_of(program: &Arc<VerifiedProgram>, config: &Config) -> ReplayHeader {
    ReplayHeader { program_digest: program.digest(), config: *config, strings: program.module().strings.clone() }
}

/// Re-executes the replay `recorded` streams with `program`, under the
/// configuration the replay records, comparing every group with the
/// recording as it goes. `each_group(id, events)` sees every recorded group
/// before it is re-executed and may stop the run by returning `false`
/// (`canon replay verify` checks signatures there). `program` may differ
/// from the recorded one: the first divergent event shows where the two
/// programs behave differently.
pub fn reexecute_reader<R: Read>(
    program: &Arc<VerifiedProgram>,
    mut recorded: ReplayReader<R>,
    each_group: &mut dyn FnMut(u32, &[Event]) -> bool,
) -> Result<Reexecution, ReexecError> {
    let a = recorded.header().clone();
    let config = a.config;
    let b = header_of(program, &config);
    let image = Arc::new(ProgramImage::new(Arc::clone(program)));
    let run = run_identity(&a.program_digest, &config.digest());
    let mut lockstep = Lockstep::new(&a.strings, &b.strings);
    let (mut qa, mut qb) = (VecDeque::<Event>::new(), VecDeque::<Event>::new());
    let (mut events, mut produced) = (Vec::new(), Vec::new());
    let (mut groups, mut visited) = (0u64, 0u64);
    let mut divergence = None;
    while divergence.is_none() {
        let Some(id) = recorded.next_group(&mut events)? else { break };
        if !each_group(id, &events) {
            break;
        }
        produced.clear();
        reexecute_group(&image, &config, &run, id, &events, &mut produced);
        groups += 1;
        visited += (events.len() + produced.len()) as u64;
        if qa.is_empty() && qb.is_empty() {
            // The usual case: the group re-executes to as many events; compare in place.
            divergence = lockstep.step_slices(&events, &produced);
            let n = events.len().min(produced.len());
            qa.extend(events.drain(n..));
            qb.extend(produced.drain(n..));
            continue;
        }
        qa.extend(events.drain(..));
        qb.extend(produced.drain(..));
        while let (Some(ea), Some(eb)) = (qa.front(), qb.front()) {
            if let Some(d) = lockstep.step(ea, eb) {
                divergence = Some(d);
                break;
            }
            qa.pop_front();
            qb.pop_front();
        }
    }
    let end = recorded.end();
    let events = match divergence {
        Some(d) => d,
        None => match (qa.front(), qb.front()) {
            (Some(next), None) => lockstep.prefix(Side::B, next),
            (None, Some(next)) => lockstep.prefix(Side::A, next),
            _ => Divergence::None,
        },
    };
    let compared = lockstep.compared();
    let (a_events, b_events) = match &events {
        Divergence::None => (compared, compared),
        Divergence::Event { index, .. } => (index + 1, index + 1),
        Divergence::Prefix { shorter: Side::A, index, .. } => (*index, index + 1),
        Divergence::Prefix { shorter: Side::B, index, .. } => (index + 1, *index),
    };
    let diff = ReplayDiff { header: header_diffs(&a, &b), events, a_events, b_events };
    Ok(Reexecution { diff, recorded: end, groups, visited })
}

/// Re-executes `recorded` (in memory) with `program` under the recorded
/// configuration and returns the new replay. Identical to `recorded` iff the
/// program's behaviour is fully determined by its recorded answers. Keys and
/// signatures are the recorded ones (see [`reexecute_group`]).
pub fn reexecute(program: &Arc<VerifiedProgram>, recorded: &Replay) -> Result<Replay, ReexecError> {
    let config = recorded.header.config;
    let image = Arc::new(ProgramImage::new(Arc::clone(program)));
    let run = run_identity(&recorded.header.program_digest, &config.digest());
    let mut writer = ReplayWriter::new(&header_of(program, &config));
    let mut out = Vec::new();
    let mut rest = recorded.events.as_slice();
    while let Some(first) = rest.first() {
        let id = first.site.group;
        let len = rest.iter().position(|e| e.site.group != id).unwrap_or(rest.len());
        out.clear();
        reexecute_group(&image, &config, &run, id, &rest[..len], &mut out);
        out.iter().for_each(|e| writer.push(e));
        rest = &rest[len..];
    }
    Ok(Replay::decode(&writer.finish_bytes())?)
}
