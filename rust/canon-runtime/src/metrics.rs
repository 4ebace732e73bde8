//! Run metrics: counters and histograms of one run, for monitoring.
//!
//! Metrics are computed *beside* a run, never inside it: from the events of
//! its replay (read back group by group, [`MetricsCollector::group_events`])
//! and from the group reports a runner hands to its `each` callback
//! ([`MetricsCollector::report`]). The machine's hot path does nothing for
//! them and the canonical replay bytes do not change. They are not canonical
//! output: a dashboard's numbers, not evidence (the replay is the evidence).
//!
//! [`Metrics`] serialises to JSON with serde and encodes to the Prometheus
//! (OpenMetrics) text exposition format with [`Metrics::encode_prometheus`].

use std::collections::BTreeMap;
use std::io::Read;

use canon_bytecode::{Backpressure, BufferConfig, BufferMode, EdgeBuffer, Instr, VerifiedProgram};
use canon_machine::{Event, EventKind, GroupStatus, Injection, TerminalReason};
use canon_replay::{ReplayError, ReplayReader};
use canon_types::SymId;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::runner::GroupReport;

/// Upper bounds (inclusive) of the buckets of every rounds histogram:
/// 1, 2, 4, … 2²⁰ rounds; larger values fall in the implicit `+Inf` bucket.
pub const ROUND_BUCKETS: [u64; 21] = {
    let mut b = [0; 21];
    let mut i = 0;
    while i < 21 {
        b[i] = 1 << i;
        i += 1;
    }
    b
};

/// A histogram over [`ROUND_BUCKETS`]: how many observations fell at or
/// under each bound (cumulative, as Prometheus counts), their count and sum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Histogram {
    /// Observations.
    pub count: u64,
    /// The sum of the observations.
    pub sum: u64,
    /// `(upper bound, observations ≤ bound)` for every bound of
    /// [`ROUND_BUCKETS`], cumulative; `count` is the `+Inf` bucket.
    pub buckets: Vec<Bucket>,
}

/// One cumulative bucket of a [`Histogram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bucket {
    /// The bucket's upper bound (inclusive).
    pub le: u64,
    /// Observations at or under `le`.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { count: 0, sum: 0, buckets: ROUND_BUCKETS.iter().map(|&le| Bucket { le, count: 0 }).collect() }
    }
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, value: u64) {
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        for b in self.buckets.iter_mut().filter(|b| value <= b.le) {
            b.count += 1;
        }
    }
}

/// The instance outcomes [`ReportTotals::outcomes`] counts, in its order
/// (the keys of [`Metrics::instance_outcomes`]).
pub const OUTCOMES: [&str; 6] =
    ["completed", "stalled", "round_budget_exhausted", "instruction_budget_exhausted", "interrupted", "other"];

/// The part of [`Metrics`] that comes from group reports rather than from
/// the replay: instances, rounds, instructions, outcomes and rounds per
/// instance. Fixed-size and order-independent, so that it is aggregated as
/// groups finish ([`crate::RunSummary::totals`]), saved in a checkpoint
/// with the run's summary, and summed over a cluster's batches: a resumed
/// or distributed run's metrics are those of the uninterrupted local run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportTotals {
    /// Instances (groups) reported.
    pub instances: u64,
    /// Rounds, summed over the instances.
    pub rounds: u64,
    /// Instructions completed, summed over the instances.
    pub instructions: u64,
    /// Instances by outcome, indexed like [`OUTCOMES`].
    pub outcomes: [u64; 6],
    /// Instances by rounds run: entry `i < 21` counts those that ran more
    /// than `ROUND_BUCKETS[i - 1]` and at most `ROUND_BUCKETS[i]` rounds
    /// (per bucket, not cumulative), entry 21 those that ran more than 2²⁰.
    pub rounds_buckets: [u64; 22],
}

impl ReportTotals {
    /// Adds one group's report: its rounds, instructions and outcome.
    /// Counts saturate: totals restored from a crafted checkpoint may start
    /// anywhere.
    pub fn add(&mut self, r: &GroupReport) {
        self.instances = self.instances.saturating_add(1);
        self.rounds = self.rounds.saturating_add(r.outcome.rounds);
        self.instructions = self.instructions.saturating_add(r.outcome.steps);
        let outcome = match r.outcome.status {
            GroupStatus::Completed => 0,
            GroupStatus::Stalled(_) => 1,
            GroupStatus::BudgetExhausted => 2,
            GroupStatus::InstructionBudgetExhausted => 3,
            GroupStatus::Running => 4,
            // `GroupStatus` is non-exhaustive: a status added later.
            _ => 5,
        };
        self.outcomes[outcome] = self.outcomes[outcome].saturating_add(1);
        let bucket = ROUND_BUCKETS.iter().position(|&le| r.outcome.rounds <= le).unwrap_or(ROUND_BUCKETS.len());
        self.rounds_buckets[bucket] = self.rounds_buckets[bucket].saturating_add(1);
    }

    /// Adds the totals of other groups (another batch, a later segment).
    /// Counts saturate, as in [`ReportTotals::add`].
    pub fn merge(&mut self, other: &ReportTotals) {
        self.instances = self.instances.saturating_add(other.instances);
        self.rounds = self.rounds.saturating_add(other.rounds);
        self.instructions = self.instructions.saturating_add(other.instructions);
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.rounds_buckets.iter_mut().zip(other.rounds_buckets) {
            *a = a.saturating_add(b);
        }
    }

    /// The rounds per instance as a cumulative [`Histogram`].
    fn histogram(&self) -> Histogram {
        let mut below = 0u64;
        let buckets = ROUND_BUCKETS
            .iter()
            .zip(self.rounds_buckets)
            .map(|(&le, n)| {
                below = below.saturating_add(n);
                Bucket { le, count: below }
            })
            .collect();
        Histogram { count: self.instances, sum: self.rounds, buckets }
    }
}

/// How many sessions ended how (from `Opened` and `SessionTerminal` events).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionCounts {
    /// Sessions opened.
    pub opened: u64,
    /// Sessions that closed normally.
    pub closed: u64,
    /// Sessions cancelled (a timeout, a `cancel`, an abandoned transfer).
    pub cancelled: u64,
    /// Sessions aborted.
    pub aborted: u64,
    /// Sessions faulted.
    pub faulted: u64,
    /// Sessions opened that had not ended when their instance stopped
    /// (a stall, a budget, an interruption).
    pub unfinished: u64,
}

/// What happened to messages (from the events of each kind).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MessageCounts {
    /// Messages sent (`Sent` events).
    pub sent: u64,
    /// Messages delivered (`Received` events).
    pub delivered: u64,
    /// Sends discarded by a full `drop` buffer (`Dropped`).
    pub dropped: u64,
    /// Undelivered messages replaced on a latest-value edge (`Overwritten`).
    pub overwritten: u64,
    /// Undelivered messages discarded when their session closed (`Discarded`).
    pub discarded: u64,
}

/// Receive timeouts (from the timeout events).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TimeoutCounts {
    /// Timeouts issued (`TimeoutIssued`).
    pub issued: u64,
    /// Timeouts whose deadline passed (`TimeoutExpired`).
    pub expired: u64,
    /// Timeouts withdrawn by a message in time (`TimeoutWithdrawn`).
    pub withdrawn: u64,
}

/// The metrics of one run. Every field is a function of the run's replay
/// and group reports; see docs/cli.md (`--metrics`) for each field's
/// Prometheus name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metrics {
    /// Instances (groups) reported.
    pub instances: u64,
    /// Rounds, summed over the instances reported.
    pub rounds: u64,
    /// Instructions completed, summed over the instances reported.
    pub instructions: u64,
    /// Instances by how they ended: `completed`, `stalled`,
    /// `round_budget_exhausted`, `instruction_budget_exhausted`,
    /// `interrupted`.
    pub instance_outcomes: BTreeMap<String, u64>,
    /// Sessions by how they ended.
    pub sessions: SessionCounts,
    /// Messages by what happened to them.
    pub messages: MessageCounts,
    /// Host calls answered: `produce`, `choose`, `invoke` and `accept`
    /// (one per `HostAnswer` and one per `Received`).
    pub host_calls: u64,
    /// Receive timeouts.
    pub timeouts: TimeoutCounts,
    /// Events recorded.
    pub events: u64,
    /// Coroutine faults by code (one per `FailureBranchEntered`).
    pub faults_by_code: BTreeMap<u16, u64>,
    /// The most messages any one directed edge held at once, by edge kind
    /// (its buffer mode and policy: `fifo_block`, `fifo_drop`, `fifo_error`,
    /// `fifo_resize`, `latest`; `unresolved` when two `open`s of the same
    /// roles declare different buffers). Only edges a message was sent on
    /// count.
    pub buffer_high_water: BTreeMap<String, u64>,
    /// The replay's length in bytes.
    pub replay_bytes: u64,
    /// The replay's blocks.
    pub replay_blocks: u64,
    /// Rounds from each session's `Opened` to its `SessionTerminal`
    /// (sessions that ended only).
    pub session_rounds: Histogram,
    /// Rounds each instance ran.
    pub instance_rounds: Histogram,
}

/// The buffer declarations of one `open` of the program.
struct OpenSite {
    roles: Vec<SymId>,
    buffers: Vec<EdgeBuffer>,
}

/// One directed edge of a live session: messages held now and at most.
#[derive(Default)]
struct EdgeLevel {
    held: u64,
    high: u64,
    /// `high` before the last send: a send that replaced a message on a
    /// latest-value edge (`Sent`, then `Overwritten`) never held one more.
    before_send: u64,
}

/// A live session of the group being read.
struct LiveSession {
    opened_at: u64,
    /// The `open`'s buffer declarations, or `None` when unresolved.
    buffers: Option<Vec<EdgeBuffer>>,
    /// Edges a message was sent on, by (from, to) role index.
    edges: BTreeMap<(u16, u16), EdgeLevel>,
}

/// Builds [`Metrics`] from a run's group reports and its replay's events.
/// Feed every report (in any order) and every group's events (each group
/// whole, in one call), then [`MetricsCollector::finish`].
pub struct MetricsCollector {
    opens: Vec<OpenSite>,
    default_buffer: BufferConfig,
    totals: ReportTotals,
    metrics: Metrics,
}

impl MetricsCollector {
    /// A collector for runs of `program` whose edges default to
    /// `default_buffer` (`Config::default_buffer`, recorded in the replay
    /// header).
    pub fn new(program: &VerifiedProgram, default_buffer: BufferConfig) -> Self {
        let opens = program
            .module()
            .procs
            .iter()
            .flat_map(|p| &p.code)
            .filter_map(|i| match i {
                Instr::Open { roles, buffers, .. } => Some(OpenSite { roles: roles.clone(), buffers: buffers.clone() }),
                _ => None,
            })
            .collect();
        MetricsCollector { opens, default_buffer, totals: ReportTotals::default(), metrics: Metrics::default() }
    }

    /// Adds one group's report: its rounds, instructions and outcome.
    pub fn report(&mut self, r: &GroupReport) {
        self.totals.add(r);
    }

    /// Adds the report totals of many groups at once: a run's
    /// [`crate::RunSummary::totals`] (a resumed run's include the groups
    /// finished before its checkpoint), a cluster's batches.
    pub fn report_totals(&mut self, totals: &ReportTotals) {
        self.totals.merge(totals);
    }

    /// Adds the events of one whole group (as `ReplayReader::next_group`
    /// gives them).
    pub fn group_events(&mut self, events: &[Event]) {
        let mut live: BTreeMap<u64, LiveSession> = BTreeMap::new();
        for e in events {
            self.event(e, &mut live);
        }
        // Sessions still open when the group stopped.
        for (_, s) in std::mem::take(&mut live) {
            self.metrics.sessions.unfinished += 1;
            self.fold_edges(&s);
        }
    }

    /// Records the replay's size: its bytes and blocks.
    pub fn replay_size(&mut self, bytes: u64, blocks: u64) {
        self.metrics.replay_bytes = bytes;
        self.metrics.replay_blocks = blocks;
    }

    /// Reads a whole replay from `src`, group by group (memory bounded by
    /// the largest group): every group's events, then its size. Edges
    /// without a declared buffer take the default its header records.
    pub fn read_replay<R: Read>(&mut self, src: R) -> Result<(), ReplayError> {
        let mut counted = Counted { inner: src, bytes: 0 };
        let mut reader = ReplayReader::new(&mut counted)?;
        self.default_buffer = reader.header().config.default_buffer;
        let mut events = Vec::new();
        while reader.next_group(&mut events)?.is_some() {
            self.group_events(&events);
        }
        let blocks = reader.end().map_or(0, |e| e.blocks as u64);
        drop(reader);
        self.replay_size(counted.bytes, blocks);
        Ok(())
    }

    /// The metrics collected.
    pub fn finish(mut self) -> Metrics {
        let (m, t) = (&mut self.metrics, &self.totals);
        m.instances = t.instances;
        m.rounds = t.rounds;
        m.instructions = t.instructions;
        m.instance_outcomes =
            OUTCOMES.iter().zip(t.outcomes).filter(|(_, n)| *n > 0).map(|(k, n)| ((*k).to_owned(), n)).collect();
        m.instance_rounds = t.histogram();
        self.metrics
    }

    fn event(&mut self, e: &Event, live: &mut BTreeMap<u64, LiveSession>) {
        let m = &mut self.metrics;
        m.events += 1;
        let (sid, role) = (e.site.sid, e.site.role);
        match &e.kind {
            EventKind::Opened { roles, .. } => {
                m.sessions.opened += 1;
                let buffers = self.buffers_of(roles);
                live.insert(sid, LiveSession { opened_at: e.site.tick, buffers, edges: BTreeMap::new() });
            }
            EventKind::Sent { to, .. } => {
                m.messages.sent += 1;
                if let Some(edge) = edge(live, sid, (role, *to)) {
                    edge.before_send = edge.high;
                    edge.add(1);
                }
            }
            EventKind::Received { from, .. } => {
                m.messages.delivered += 1;
                m.host_calls += 1;
                level(live, sid, (*from, role), -1);
            }
            EventKind::Dropped { .. } => m.messages.dropped += 1,
            EventKind::Overwritten { to, .. } => {
                m.messages.overwritten += 1;
                if let Some(edge) = edge(live, sid, (role, *to)) {
                    edge.held = edge.held.saturating_sub(1);
                    edge.high = edge.before_send.max(edge.held);
                }
            }
            EventKind::Discarded { from, to, .. } => {
                m.messages.discarded += 1;
                level(live, sid, (*from, *to), -1);
            }
            // A duplicated message is pushed twice, a dropped one taken
            // back; a reordered one is held back and pushed behind the
            // edge's next message (counted in place here).
            EventKind::Injected { injection: Injection::Duplicate, to, .. } => level(live, sid, (role, *to), 1),
            EventKind::Injected { injection: Injection::Drop, to, .. } => level(live, sid, (role, *to), -1),
            // ...unless the nullifier check refused the copy at arrival.
            EventKind::DuplicateRefused { to, .. } => level(live, sid, (role, *to), -1),
            EventKind::HostAnswer { .. } => m.host_calls += 1,
            EventKind::TimeoutIssued { .. } => m.timeouts.issued += 1,
            EventKind::TimeoutExpired { .. } => m.timeouts.expired += 1,
            EventKind::TimeoutWithdrawn { .. } => m.timeouts.withdrawn += 1,
            EventKind::FailureBranchEntered { code } => *m.faults_by_code.entry(*code).or_default() += 1,
            EventKind::SessionTerminal { reason } => {
                match reason {
                    TerminalReason::Closed => m.sessions.closed += 1,
                    TerminalReason::Cancelled => m.sessions.cancelled += 1,
                    TerminalReason::Aborted => m.sessions.aborted += 1,
                    TerminalReason::Faulted { .. } => m.sessions.faulted += 1,
                }
                // An ended session's buffers are emptied.
                if let Some(s) = live.remove(&sid) {
                    self.metrics.session_rounds.observe(e.site.tick.saturating_sub(s.opened_at));
                    self.fold_edges(&s);
                }
            }
            _ => {}
        }
    }

    /// The buffer declarations of the `open` that opened a session of
    /// `roles`: unambiguous when every `open` of those roles declares the same.
    fn buffers_of(&self, roles: &[SymId]) -> Option<Vec<EdgeBuffer>> {
        let mut matching = self.opens.iter().filter(|o| o.roles == roles);
        let first = matching.next()?;
        matching.all(|o| o.buffers == first.buffers).then(|| first.buffers.clone())
    }

    /// Adds the high-water marks of a session's edges to their kinds.
    fn fold_edges(&mut self, s: &LiveSession) {
        for (&(from, to), edge) in &s.edges {
            let kind = match &s.buffers {
                Some(buffers) => {
                    let config =
                        buffers.iter().find(|b| b.from == from && b.to == to).map_or(self.default_buffer, |b| b.config);
                    edge_kind(config)
                }
                None => "unresolved",
            };
            let high = self.metrics.buffer_high_water.entry(kind.to_owned()).or_default();
            *high = (*high).max(edge.high);
        }
    }
}

impl EdgeLevel {
    fn add(&mut self, delta: i64) {
        self.held = self.held.saturating_add_signed(delta);
        self.high = self.high.max(self.held);
    }
}

/// Edge `(from, to)` of live session `sid`.
fn edge(live: &mut BTreeMap<u64, LiveSession>, sid: u64, edge: (u16, u16)) -> Option<&mut EdgeLevel> {
    Some(live.get_mut(&sid)?.edges.entry(edge).or_default())
}

/// A reader counting the bytes read through it.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Changes the messages held on edge `(from, to)` of session `sid` by `delta`.
fn level(live: &mut BTreeMap<u64, LiveSession>, sid: u64, e: (u16, u16), delta: i64) {
    if let Some(edge) = edge(live, sid, e) {
        edge.add(delta);
    }
}

/// The kind of an edge: its buffer mode and, for FIFO edges, its policy.
pub fn edge_kind(config: BufferConfig) -> &'static str {
    match (config.mode, config.policy) {
        (BufferMode::LatestValue, _) => "latest",
        (BufferMode::Fifo, Backpressure::Block) => "fifo_block",
        (BufferMode::Fifo, Backpressure::Drop) => "fifo_drop",
        (BufferMode::Fifo, Backpressure::Error) => "fifo_error",
        (BufferMode::Fifo, Backpressure::Resize { .. }) => "fifo_resize",
    }
}

// ----- the Prometheus text format -----

/// One metric as `prometheus-client` encodes it. Labelled values are kept
/// in a sorted list (not the crate's `Family`, a hash map), so the text is
/// the same on every run.
#[derive(Debug)]
enum Exported {
    Counter(u64),
    Labeled { counter: bool, label: &'static str, values: Vec<(String, u64)> },
    Histogram(Histogram),
}

impl EncodeMetric for Exported {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Exported::Counter(v) => encoder.encode_counter::<NoLabelSet, _, u64>(v, None),
            Exported::Labeled { counter, label, values } => {
                for (value, n) in values {
                    let labels = [(*label, value.as_str())];
                    let mut e = encoder.encode_family(&labels)?;
                    if *counter {
                        e.encode_counter::<NoLabelSet, _, u64>(n, None)?;
                    } else {
                        e.encode_gauge(n)?;
                    }
                }
                Ok(())
            }
            Exported::Histogram(h) => {
                // prometheus-client takes per-bucket counts and makes them cumulative.
                let mut buckets = Vec::with_capacity(h.buckets.len() + 1);
                // Saturating: totals restored from a crafted checkpoint need not add up.
                let mut below = 0;
                for b in &h.buckets {
                    buckets.push((b.le as f64, b.count.saturating_sub(below)));
                    below = b.count;
                }
                buckets.push((f64::MAX, h.count.saturating_sub(below)));
                encoder.encode_histogram::<NoLabelSet>(h.sum as f64, h.count, &buckets, None)
            }
        }
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Exported::Counter(_) | Exported::Labeled { counter: true, .. } => MetricType::Counter,
            Exported::Labeled { counter: false, .. } => MetricType::Gauge,
            Exported::Histogram(_) => MetricType::Histogram,
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format, as the
    /// `prometheus-client` crate writes it (OpenMetrics 1.0 text, ending in
    /// `# EOF`); every name starts with `canon_`, counters end in `_total`.
    pub fn encode_prometheus(&self) -> String {
        let mut r = Registry::with_prefix("canon");
        let s = &self.sessions;
        let msg = &self.messages;
        let t = &self.timeouts;
        let counters: [(&str, &str, u64); 21] = [
            ("instances", "Instances (groups) run", self.instances),
            ("rounds", "Rounds, summed over instances", self.rounds),
            ("instructions", "Instructions completed", self.instructions),
            ("sessions_opened", "Sessions opened", s.opened),
            ("sessions_closed", "Sessions closed normally", s.closed),
            ("sessions_cancelled", "Sessions cancelled", s.cancelled),
            ("sessions_aborted", "Sessions aborted", s.aborted),
            ("sessions_faulted", "Sessions faulted", s.faulted),
            ("sessions_unfinished", "Sessions not ended when their instance stopped", s.unfinished),
            ("messages_sent", "Messages sent", msg.sent),
            ("messages_delivered", "Messages delivered", msg.delivered),
            ("messages_dropped", "Sends discarded by a full drop buffer", msg.dropped),
            ("messages_overwritten", "Undelivered messages replaced on a latest-value edge", msg.overwritten),
            ("messages_discarded", "Undelivered messages discarded at close", msg.discarded),
            ("host_calls", "Host calls answered (produce, choose, invoke, accept)", self.host_calls),
            ("timeouts_issued", "Receive timeouts issued", t.issued),
            ("timeouts_expired", "Receive timeouts expired", t.expired),
            ("timeouts_withdrawn", "Receive timeouts withdrawn by a message in time", t.withdrawn),
            ("events", "Events recorded", self.events),
            ("replay_blocks", "Blocks of the replay", self.replay_blocks),
            ("replay_bytes", "Bytes of the replay", self.replay_bytes),
        ];
        for (name, help, v) in counters {
            r.register(name, help, Exported::Counter(v));
        }
        let outcomes = self.instance_outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let faults = self.faults_by_code.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let high = self.buffer_high_water.iter().map(|(k, v)| (k.clone(), *v)).collect();
        r.register(
            "instance_outcomes",
            "Instances by how they ended",
            Exported::Labeled { counter: true, label: "outcome", values: outcomes },
        );
        r.register(
            "faults",
            "Coroutine faults by error code",
            Exported::Labeled { counter: true, label: "code", values: faults },
        );
        r.register(
            "buffer_high_water_messages",
            "The most messages one directed edge held at once, by buffer mode and policy",
            Exported::Labeled { counter: false, label: "edge_kind", values: high },
        );
        r.register(
            "session_duration_rounds",
            "Rounds from a session's open to its end",
            Exported::Histogram(self.session_rounds.clone()),
        );
        r.register("instance_rounds", "Rounds each instance ran", Exported::Histogram(self.instance_rounds.clone()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).expect("writing to a String does not fail");
        out
    }
}
