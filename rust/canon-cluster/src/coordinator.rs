//! `canon run --cluster`: publishes a run, then collects the results of its
//! batches in group order and chains their blocks into the replay.
//!
//! The coordinator builds the same machine a local run builds (lazily: no
//! group is built unless needed) for the replay header and for the few
//! groups whose full report the summary prints (faulted and stalled ones),
//! which it re-runs itself: everything else arrives as counters.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use canon_replay::ReplayWriter;
use canon_runtime::{GroupReport, Machine, Progress, RunSummary, SUMMARY_FAULTS, replay_header};
use canon_types::hex;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::store::spec_key;
use crate::wire::{BatchResult, Conflict, Manifest, Refusal, RunSpec, WorkItem};
use crate::{Cluster, ClusterError, WORK_SUBJECT};

/// SHA-256 of the encoded replay header of `machine`, in hex.
pub fn header_digest(machine: &Machine) -> String {
    let mut bytes = Vec::new();
    replay_header(machine).encode(&mut bytes);
    hex(&Sha256::digest(&bytes))
}

/// A run to publish (or resume).
pub struct Submission {
    /// The run id (16 hex digits), the key of everything stored for the run.
    pub run: String,
    /// What workers need to rebuild the run's machine.
    pub spec: RunSpec,
    /// The program's canonical encoding.
    pub program: Vec<u8>,
    /// Resume a run already on the server rather than start one.
    pub resume: bool,
    /// Give up when the connection stays lost this long.
    pub lost_after: Duration,
}

/// What a finished run gave back.
pub struct Collected {
    /// The totals of the run, as a local run reports them.
    pub summary: RunSummary,
    /// Batches whose results were already on the server when collection began.
    pub reused: u32,
}

/// Publishes (or resumes) `sub`, collects every batch and writes the replay
/// to `sink`, telling `observe` how far it got.
pub async fn coordinate(
    cluster: &Cluster,
    sub: &Submission,
    machine: &mut Machine,
    sink: &mut dyn Write,
    observe: &mut dyn FnMut(Progress),
) -> Result<Collected, ClusterError> {
    let run = sub.run.as_str();
    if sub.resume {
        let stored = cluster.spec(run).await?.ok_or_else(|| ClusterError::UnknownRun(run.to_owned()))?;
        if let Some(what) = differs(&stored, &sub.spec) {
            return Err(ClusterError::ResumeMismatch { run: run.to_owned(), what });
        }
    }
    publish_program(cluster, &sub.spec.program, &sub.program).await?;
    let spec_bytes = Bytes::from(serde_json::to_vec(&sub.spec).expect("a spec serialises"));
    if !sub.resume {
        cluster.runs.create(spec_key(run), spec_bytes).await.map_err(|e| ClusterError::Nats(e.to_string()))?;
    }
    let batches = sub.spec.batches();
    let mut pending = BTreeMap::new();
    let mut watch =
        cluster.runs.watch_with_history(format!("{run}.>")).await.map_err(|e| ClusterError::Nats(e.to_string()))?;
    // What is already done (a resumed run), then enqueue the rest.
    let mut caught_up = false;
    while !caught_up {
        match tokio::time::timeout(Duration::from_secs(5), watch.next()).await {
            Ok(Some(Ok(entry))) => {
                caught_up = entry.seen_current || entry.delta == 0;
                note(run, &sub.spec, &entry, &mut pending)?;
            }
            Ok(Some(Err(e))) => return Err(ClusterError::Nats(e.to_string())),
            Ok(None) | Err(_) => caught_up = true,
        }
    }
    let reused = pending.len() as u32;
    enqueue(cluster, run, (0..batches).filter(|b| !pending.contains_key(b))).await?;
    eprintln!("canon: run {run}: {batches} batches of {} instances ({reused} already done)", sub.spec.batch);
    let mut collector = Collector::new(machine, sink, batches, sub.spec.sessions as usize);
    // Consecutive one-second waits spent disconnected.
    let mut lost_waits = 0u64;
    loop {
        while let Some(manifest) = pending.remove(&collector.next) {
            let payload = cluster.load_result(run, collector.next, &manifest).await?;
            collector.append(&sub.spec, &payload)?;
            observe(Progress {
                groups_done: collector.summary.groups as usize,
                groups_total: collector.total,
                rounds: 0,
            });
        }
        if collector.next == batches {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(1), watch.next()).await {
            Ok(Some(Ok(entry))) => {
                lost_waits = 0;
                note(run, &sub.spec, &entry, &mut pending)?;
            }
            Ok(Some(Err(e))) => return Err(ClusterError::Nats(e.to_string())),
            Ok(None) => return Err(ClusterError::Nats("the result watch ended".into())),
            Err(_) => {
                if cluster.client.connection_state() == async_nats::connection::State::Connected {
                    lost_waits = 0;
                } else if Duration::from_secs(lost_waits.saturating_add(1)) > sub.lost_after {
                    return Err(ClusterError::Disconnected(sub.lost_after));
                } else {
                    lost_waits += 1;
                }
            }
        }
    }
    let summary = collector.finish()?;
    let _ = cluster.runs.put(format!("{run}.root"), Bytes::from(hex(&summary.root))).await;
    Ok(Collected { summary, reused })
}

/// The first field in which a stored specification differs from this invocation's.
fn differs(stored: &RunSpec, now: &RunSpec) -> Option<String> {
    let fields = [
        ("program", stored.program != now.program),
        ("--sessions", stored.sessions != now.sessions),
        ("--batch", stored.batch != now.batch),
        ("the run parameters (seed, limits, auth, injections)", stored.params != now.params),
        ("the replay header", stored.header != now.header),
        ("the key seed", stored.keys != now.keys),
    ];
    fields.iter().find(|(_, d)| *d).map(|(w, _)| (*w).to_owned())
}

/// Publishes the program under its digest unless the store already holds
/// exactly those bytes (workers verify whatever they fetch regardless).
async fn publish_program(cluster: &Cluster, digest: &str, program: &[u8]) -> Result<(), ClusterError> {
    if let Some(stored) = cluster.program_bytes(digest).await?
        && stored == program
    {
        return Ok(());
    }
    cluster.put_program(digest, program).await
}

/// Puts batches on the work queue (a message id per batch, so a resumed
/// coordinator re-enqueueing within the server's duplicate window adds nothing).
pub async fn enqueue(cluster: &Cluster, run: &str, batches: impl Iterator<Item = u32>) -> Result<(), ClusterError> {
    let mut acks = Vec::new();
    for batch in batches {
        let item = WorkItem { run: run.to_owned(), batch };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{run}.{batch}").as_str());
        let payload = Bytes::from(serde_json::to_vec(&item).expect("a work item serialises"));
        let ack = cluster
            .js
            .publish_with_headers(format!("{WORK_SUBJECT}.{run}"), headers, payload)
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
        acks.push(ack);
        if acks.len() >= 256 {
            for ack in acks.drain(..) {
                ack.await.map_err(|e| ClusterError::JetStream(e.to_string()))?;
            }
        }
    }
    for ack in acks {
        ack.await.map_err(|e| ClusterError::JetStream(e.to_string()))?;
    }
    Ok(())
}

/// Files one entry of the run's keys: a manifest, a conflict, a refusal.
fn note(
    run: &str,
    spec: &RunSpec,
    entry: &kv::Entry,
    pending: &mut BTreeMap<u32, Manifest>,
) -> Result<(), ClusterError> {
    if entry.operation != kv::Operation::Put {
        return Ok(());
    }
    let rest = entry.key.strip_prefix(run).and_then(|k| k.strip_prefix('.')).unwrap_or("");
    let malformed = |e: serde_json::Error| ClusterError::Malformed(format!("{}: {e}", entry.key));
    if let Some(b) = rest.strip_prefix("done.") {
        let batch: u32 = b.parse().map_err(|_| ClusterError::Malformed(entry.key.clone()))?;
        if batch < spec.batches() {
            pending.insert(batch, serde_json::from_slice(&entry.value).map_err(malformed)?);
        }
    } else if rest.starts_with("conflict.") {
        let c: Conflict = serde_json::from_slice(&entry.value).map_err(malformed)?;
        let groups = spec.groups(c.batch);
        return Err(ClusterError::DeterminismViolation {
            batch: c.batch,
            first: groups.start,
            end: groups.end,
            kept: c.kept,
            other: c.other,
            worker: c.worker,
        });
    } else if rest.starts_with("refused.") {
        let r: Refusal = serde_json::from_slice(&entry.value).map_err(malformed)?;
        return Err(ClusterError::Refused { run: run.to_owned(), worker: r.worker, reason: r.reason });
    }
    Ok(())
}

/// Chains batch results in order into the replay and the summary.
struct Collector<'a> {
    machine: &'a mut Machine,
    writer: ReplayWriter<&'a mut dyn Write>,
    summary: RunSummary,
    next: u32,
    batches: u32,
    total: usize,
    /// Groups whose report the summary shows: faulted ones (in order, up to
    /// [`SUMMARY_FAULTS`] faults) and the first stalled one.
    fault_groups: Vec<u32>,
    listed_faults: u64,
    first_stalled: Option<u32>,
}

impl<'a> Collector<'a> {
    fn new(machine: &'a mut Machine, sink: &'a mut dyn Write, batches: u32, total: usize) -> Self {
        let writer = ReplayWriter::to_sink(&replay_header(machine), sink);
        Collector {
            machine,
            writer,
            summary: RunSummary::default(),
            next: 0,
            batches,
            total,
            fault_groups: Vec::new(),
            listed_faults: 0,
            first_stalled: None,
        }
    }

    fn append(&mut self, spec: &RunSpec, payload: &[u8]) -> Result<(), ClusterError> {
        let batch = self.next;
        let result =
            BatchResult::decode(payload).map_err(|e| ClusterError::BadResult { batch, what: e.to_string() })?;
        let groups = spec.groups(batch);
        if result.batch != batch || result.first != groups.start as u64 || result.summary.groups != groups.len() as u64
        {
            return Err(ClusterError::BadResult {
                batch,
                what: format!("holds batch {} from group {}", result.batch, result.first),
            });
        }
        if spec.keys.is_some() && result.keys != spec.keys {
            return Err(ClusterError::BadResult {
                batch,
                what: format!("ran under key fingerprint {:?}, the run's is {:?}", result.keys, spec.keys),
            });
        }
        self.writer.append(&result.blocks);
        if let Some(e) = self.writer.io_error() {
            return Err(ClusterError::Io(std::io::Error::new(e.kind(), e.to_string())));
        }
        result.summary.merge_into(&mut self.summary)?;
        for &(group, n) in &result.summary.fault_groups {
            if self.listed_faults < SUMMARY_FAULTS as u64 {
                self.fault_groups.push(group);
                self.listed_faults += n;
            }
        }
        if self.first_stalled.is_none() {
            self.first_stalled = result.summary.first_stalled;
        }
        self.next += 1;
        debug_assert!(self.next <= self.batches);
        Ok(())
    }

    /// Writes the trailer, and re-runs the groups whose reports the summary shows.
    fn finish(mut self) -> Result<RunSummary, ClusterError> {
        let written = self.writer.finish_sink()?;
        self.summary.events = written.events;
        self.summary.root = written.root;
        let mut reports: Vec<GroupReport> = Vec::new();
        let mut wanted = self.fault_groups.clone();
        wanted.extend(self.first_stalled);
        wanted.sort_unstable();
        wanted.dedup();
        for g in wanted {
            canon_runtime::run_groups(&mut *self.machine, g as usize..g as usize + 1, &mut |r| reports.push(r.clone()));
        }
        for r in &reports {
            if self.fault_groups.contains(&r.group) {
                for f in r.faults.iter().take(SUMMARY_FAULTS.saturating_sub(self.summary.first_faults.len())) {
                    self.summary.first_faults.push((r.group, f.clone()));
                }
            }
            if Some(r.group) == self.first_stalled {
                self.summary.first_stalled = Some(r.clone());
            }
        }
        Ok(self.summary)
    }
}
