//! Re-execution: run a program again from a replay's recorded host answers
//! and produce a fresh replay to compare with the recording.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Config, EventKind};
use canon_replay::{Replay, ReplayError};

use crate::host::ReplayHost;
use crate::machine::{LoadError, Machine};
use crate::runner::{CooperativeRunner, Runner};

/// Why re-execution could not start (a divergence is not an error: it is a
/// different replay, found by `canon_replay::diff`).
#[derive(Debug, thiserror::Error)]
pub enum ReexecError {
    #[error("the replay was recorded with another configuration (config digest differs); pass the run's limits")]
    ConfigMismatch,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("re-execution produced an unreadable replay: {0}")]
    Replay(#[from] ReplayError),
}

/// Re-executes `program` under `config` with every host answer taken from
/// `recorded`, one [`ReplayHost`] per recorded group, and every recorded
/// transport injection (`Injected` events) and host-side ownership operation
/// (`Ownership` events, made before the run) applied again, and returns the new
/// replay. Keys are derived from the seed again: a run with host-supplied
/// endpoint keys re-executes with different signatures. Identical to
/// `recorded` iff the program's behaviour is fully determined by its recorded
/// answers — which is what `canon replay verify` checks. `program` may differ
/// from the recorded one (the headers then differ too): the first divergent
/// event shows where the two programs behave differently.
pub fn reexecute(program: &Arc<VerifiedProgram>, config: Config, recorded: &Replay) -> Result<Replay, ReexecError> {
    if config.digest() != recorded.header.config_digest {
        return Err(ReexecError::ConfigMismatch);
    }
    let groups = recorded.events.iter().map(|e| e.site.group + 1).max().unwrap_or(0);
    let mut machine = Machine::new(config);
    for g in 0..groups {
        machine.load(program, Box::new(ReplayHost::for_group(recorded, g)))?;
    }
    for e in &recorded.events {
        if let EventKind::Injected { injection, nth, .. } = e.kind
            && let Some(group) = machine.groups.get_mut(e.site.group as usize)
        {
            group.inject(nth, injection);
        }
        // Host-side ownership operations are inputs: recorded again, in order,
        // before the run (where a host makes them).
        if let EventKind::Ownership { record } = &e.kind
            && let Some(group) = machine.groups.get_mut(e.site.group as usize)
        {
            group.record_ownership(record.clone());
        }
    }
    let outcome = CooperativeRunner.run(&mut machine);
    Ok(Replay::decode(outcome.replay_bytes())?)
}
