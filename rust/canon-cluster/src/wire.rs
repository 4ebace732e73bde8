//! What travels on the bus: the run specification, the work items, and the
//! result of one batch (its summary and its encoded replay blocks). The
//! layouts are described in `docs/cluster.md`.

use canon_machine::GroupStatus;
use canon_machine::SessionStatus;
use canon_replay::EncodedBlocks;
use canon_runtime::{GroupReport, ReportTotals, RunSummary, SUMMARY_FAULTS};
use canon_types::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ClusterError;

/// Version of the result payload and of the specification.
pub const WIRE_VERSION: u32 = 1;

/// Magic of a batch result payload.
pub const RESULT_MAGIC: [u8; 4] = *b"CNCB";

/// Largest result payload accepted (a batch of groups whose replay is
/// larger must be split into smaller batches).
pub const MAX_RESULT_BYTES: usize = 1 << 30;

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Everything a worker needs to rebuild the coordinator's machine, stored
/// once per run. Nothing in it is secret: the key seed stays on each machine
/// and only the fingerprint of the verifying keys it derives travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The version of this specification's layout.
    pub version: u32,
    /// SHA-256 of the program's canonical encoding (its object name).
    pub program: String,
    /// Instances (groups) in the run.
    pub sessions: u32,
    /// Groups per batch.
    pub batch: u32,
    /// How the front end rebuilds the machine (seed, limits, auth, injections…):
    /// opaque to the cluster, read by the [`crate::MachineFactory`].
    pub params: serde_json::Value,
    /// SHA-256 of the replay header the machine gives (program digest,
    /// canonical configuration, string table): a worker whose machine differs
    /// refuses the run.
    pub header: String,
    /// The verifying key of endpoint (sid 0, role 0) under the run's key
    /// seed, in hex: public, and equal only when the key seeds are.
    pub keys: Option<String>,
}

impl RunSpec {
    /// Batches in the run.
    pub fn batches(&self) -> u32 {
        self.sessions.div_ceil(self.batch.max(1))
    }

    /// The group range of batch `b`.
    pub fn groups(&self, b: u32) -> std::ops::Range<usize> {
        let first = b as usize * self.batch.max(1) as usize;
        first..(first + self.batch.max(1) as usize).min(self.sessions as usize)
    }
}

/// One work item: run batch `batch` of run `run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The run id.
    pub run: String,
    /// The batch number within the run.
    pub batch: u32,
}

/// The stored record that a batch is done: where its payload is and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// SHA-256 of the whole result payload.
    pub digest: String,
    /// Payload bytes.
    pub bytes: u64,
    /// The parts the payload is split into.
    pub parts: u32,
    /// The worker that stored it (for messages only).
    pub worker: String,
}

/// The latest checkpoint of a batch (`RUN.B.latest` in the checkpoints
/// bucket): where its parts are, and the totals of the groups it finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    /// The worker that stored it (for messages only).
    pub worker: String,
    /// The group the batch continues with.
    pub next_group: u64,
    /// The totals of the batch's groups finished before the checkpoint.
    pub summary: BatchSummary,
    /// The blocks closed before the checkpoint: batch result payloads
    /// (`CNCB`, with an empty summary), in order.
    pub segments: Vec<Manifest>,
    /// The checkpoint file (`bytecode-spec/checkpoint.md`).
    pub checkpoint: Manifest,
}

/// A checkpoint taken by a worker, to store: the blocks closed since the
/// previous one as a result payload, the checkpoint file and the totals.
#[derive(Debug, Clone)]
pub struct SavedCheckpoint {
    /// The group the batch continues with.
    pub next_group: u64,
    /// The totals of the batch's groups finished before the checkpoint.
    pub summary: BatchSummary,
    /// Blocks in `segment`.
    pub blocks: usize,
    /// The blocks closed since the previous checkpoint, as a result payload.
    pub segment: Vec<u8>,
    /// The checkpoint file (`bytecode-spec/checkpoint.md`).
    pub checkpoint: Vec<u8>,
}

/// Two different results for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The batch.
    pub batch: u32,
    /// The digest of the result kept.
    pub kept: String,
    /// The digest of the other result.
    pub other: String,
    /// The worker that produced the other result.
    pub worker: String,
}

/// A worker's refusal of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The refusing worker.
    pub worker: String,
    /// Why it refused.
    pub reason: String,
}

/// Final statuses as they travel: kind and fault code.
fn status_code(s: SessionStatus) -> (u8, u16) {
    #[allow(unreachable_patterns)] // new statuses must get a code here
    match s {
        SessionStatus::Active => (0, 0),
        SessionStatus::Draining => (1, 0),
        SessionStatus::Closed => (2, 0),
        SessionStatus::Cancelled => (3, 0),
        SessionStatus::Aborted => (4, 0),
        SessionStatus::Faulted { code } => (5, code),
        _ => (u8::MAX, 0),
    }
}

fn status_from(kind: u8, code: u16) -> Option<SessionStatus> {
    Some(match kind {
        0 => SessionStatus::Active,
        1 => SessionStatus::Draining,
        2 => SessionStatus::Closed,
        3 => SessionStatus::Cancelled,
        4 => SessionStatus::Aborted,
        5 => SessionStatus::Faulted { code },
        _ => return None,
    })
}

/// The totals of one batch: [`RunSummary`]'s counters, and the groups whose
/// full report the summary shows (faulted and stalled ones), which the
/// coordinator re-runs itself rather than receive faults over the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Groups in the batch.
    pub groups: u64,
    /// Sessions run.
    pub sessions: u64,
    /// Messages delivered.
    pub messages: u64,
    /// The most rounds any group ran.
    pub rounds_max: u64,
    /// The sum of every group's rounds (for metrics).
    pub rounds_total: u64,
    /// (kind, code, count), in order of first appearance.
    pub statuses: Vec<(u8, u16, u64)>,
    /// Coroutine faults.
    pub faults: u64,
    /// Groups with faults, with their fault count, up to [`SUMMARY_FAULTS`] faults.
    pub fault_groups: Vec<(u32, u64)>,
    /// Groups that stalled.
    pub stalled: u64,
    /// The first stalled group, if any.
    pub first_stalled: Option<u32>,
    /// Groups stopped by the round budget.
    pub budget_exhausted: u64,
    /// Groups stopped by the instruction budget.
    pub instruction_budget_exhausted: u64,
    /// What the batch's group reports add to the run's metrics (absent
    /// from a result written before it was added: all zero).
    #[serde(default)]
    pub totals: ReportTotals,
}

impl BatchSummary {
    /// Adds one finished group (as [`RunSummary::add`] does).
    pub fn add(&mut self, r: &GroupReport) {
        self.groups += 1;
        self.sessions += r.sessions.len() as u64;
        self.messages += r.messages;
        self.rounds_max = self.rounds_max.max(r.outcome.rounds);
        self.rounds_total += r.outcome.rounds;
        self.totals.add(r);
        for (_, status) in &r.sessions {
            let (kind, code) = status_code(*status);
            match self.statuses.iter_mut().find(|(k, c, _)| (*k, *c) == (kind, code)) {
                Some((_, _, n)) => *n += 1,
                None => self.statuses.push((kind, code, 1)),
            }
        }
        if !r.faults.is_empty() {
            let listed: u64 = self.fault_groups.iter().map(|(_, n)| n).sum();
            if listed < SUMMARY_FAULTS as u64 {
                self.fault_groups.push((r.group, r.faults.len() as u64));
            }
        }
        self.faults += r.faults.len() as u64;
        match r.outcome.status {
            GroupStatus::Stalled(_) => {
                self.stalled += 1;
                self.first_stalled.get_or_insert(r.group);
            }
            GroupStatus::BudgetExhausted => self.budget_exhausted += 1,
            GroupStatus::InstructionBudgetExhausted => self.instruction_budget_exhausted += 1,
            // Running, Completed (and any later status) count nowhere here.
            _ => {}
        }
    }

    /// Adds this batch's counters to `summary` (batches in group order); the
    /// fault and stall reports are filled in by the coordinator.
    pub fn merge_into(&self, summary: &mut RunSummary) -> Result<(), ClusterError> {
        summary.groups += self.groups;
        summary.sessions += self.sessions;
        summary.messages += self.messages;
        summary.rounds = summary.rounds.max(self.rounds_max);
        summary.totals.merge(&self.totals);
        for &(kind, code, n) in &self.statuses {
            let status = status_from(kind, code)
                .ok_or_else(|| ClusterError::Malformed(format!("unknown session status kind {kind}")))?;
            match summary.statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, m)) => *m += n,
                None => summary.statuses.push((status, n)),
            }
        }
        summary.faults += self.faults;
        summary.stalled += self.stalled;
        summary.budget_exhausted += self.budget_exhausted;
        summary.instruction_budget_exhausted += self.instruction_budget_exhausted;
        Ok(())
    }
}

/// The result of one batch, as stored: who ran it, the key fingerprint it
/// ran under, its summary and its blocks.
#[derive(Debug)]
pub struct BatchResult {
    /// The batch number.
    pub batch: u32,
    /// The index of its first group in the run.
    pub first: u64,
    /// The fingerprint of the verifying keys it ran under, if signed.
    pub keys: Option<String>,
    /// Its totals.
    pub summary: BatchSummary,
    /// Its encoded replay blocks.
    pub blocks: EncodedBlocks,
}

#[derive(Serialize, Deserialize)]
struct ResultMeta {
    batch: u32,
    first: u64,
    keys: Option<String>,
    summary: BatchSummary,
    blocks: u64,
}

impl BatchResult {
    /// `CNCB`, version u32, meta length u32, meta (JSON), then each block as
    /// byte length u32, digest (32 bytes), head and events.
    pub fn encode(&self) -> Vec<u8> {
        let meta = ResultMeta {
            batch: self.batch,
            first: self.first,
            keys: self.keys.clone(),
            summary: self.summary.clone(),
            blocks: self.blocks.block_count() as u64,
        };
        let meta = serde_json::to_vec(&meta).expect("the result meta serialises");
        let mut out =
            Vec::with_capacity(12 + meta.len() + self.blocks.blocks().map(|(b, _)| b.len() + 36).sum::<usize>());
        out.extend_from_slice(&RESULT_MAGIC);
        out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        for (block, digest) in self.blocks.blocks() {
            out.extend_from_slice(&(block.len() as u32).to_le_bytes());
            out.extend_from_slice(digest);
            out.extend_from_slice(block);
        }
        out
    }

    /// Decodes a payload, recomputing every block digest: a digest that
    /// differs from the one sent, or any malformed field, is an error.
    pub fn decode(bytes: &[u8]) -> Result<BatchResult, ClusterError> {
        let bad = |what: &str| ClusterError::Malformed(what.to_owned());
        let mut r = Reader(bytes);
        if r.take(4)? != RESULT_MAGIC {
            return Err(bad("not a batch result (magic)"));
        }
        let version = r.u32()?;
        if version != WIRE_VERSION {
            return Err(ClusterError::Malformed(format!("batch result version {version}, expected {WIRE_VERSION}")));
        }
        let len = r.u32()? as usize;
        let meta: ResultMeta =
            serde_json::from_slice(r.take(len)?).map_err(|e| ClusterError::Malformed(format!("result meta: {e}")))?;
        let mut blocks = EncodedBlocks::default();
        for i in 0..meta.blocks {
            let len = r.u32()? as usize;
            let sent: [u8; 32] = r.take(32)?.try_into().map_err(|_| bad("digest"))?;
            let digest = blocks
                .push_block(r.take(len)?)
                .ok_or_else(|| ClusterError::Malformed(format!("block {i}: head does not match its bytes")))?;
            if digest != sent {
                return Err(ClusterError::Malformed(format!(
                    "block {i}: digest {} sent, {} computed",
                    hex(&sent),
                    hex(&digest)
                )));
            }
        }
        if !r.0.is_empty() {
            return Err(bad("trailing bytes after the last block"));
        }
        Ok(BatchResult { batch: meta.batch, first: meta.first, keys: meta.keys, summary: meta.summary, blocks })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClusterError> {
        if self.0.len() < n {
            return Err(ClusterError::Malformed("batch result truncated".to_owned()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, ClusterError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}
