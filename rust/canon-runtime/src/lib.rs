//! canon runners: they only *schedule* — every instruction is executed by the
//! machine's one `step`, through [`canon_machine::Group::run_round`].
//!
//! - [`Machine`] holds the groups of one verified program (one group per
//!   loaded instance of the entry procedure).
//! - [`CooperativeRunner`] runs the groups one after another on the calling
//!   thread; [`ThreadedRunner`] hands whole groups to N worker threads. Both
//!   write the replay in canonical order `(group, tick, coroutine, emission
//!   order)`, so their bytes are identical at every worker count.
//! - [`SeededHost`] is the default host: deterministic answers from an
//!   explicit seed, so any program runs with no host code. [`ReplayHost`]
//!   answers from a recorded replay, for re-execution without the host.
//! - [`MetricsCollector`] computes a run's [`Metrics`] from its group
//!   reports and its replay, beside the run (never inside the machine).
#![deny(missing_docs)]

pub mod batch;
pub mod checkpoint;
pub mod host;
pub mod machine;
pub mod metrics;
pub mod reexec;
pub mod role_host;
pub mod runner;

pub use batch::{Batch, BatchSegment, run_groups};
pub use canon_machine::{Config, Host, HostCtx, Limits};
pub use checkpoint::{
    CHECKPOINT_CODES, CHECKPOINT_HEADER_BYTES, CHECKPOINT_MAGIC, CHECKPOINT_VERSION, Checkpoint, CheckpointError,
    CheckpointHeader, MAX_CHECKPOINT_BODY_BYTES,
};
pub use host::{ReplayHost, SeededHost};
pub use machine::{HostFactory, LoadError, Machine, Owner, Receipt, Witness};
pub use metrics::{Metrics, MetricsCollector, ReportTotals};
pub use reexec::{ReexecError, Reexecution, reexecute, reexecute_faults, reexecute_group, reexecute_reader};
pub use role_host::RoleHost;
pub use runner::{
    BATCHES_AHEAD, CooperativeRunner, GroupReport, PROGRESS_ROUNDS, Progress, RunError, RunOutcome, RunSummary, Runner,
    SUMMARY_FAULTS, Segment, ThreadedRunner, replay_header, report, run_group,
};
