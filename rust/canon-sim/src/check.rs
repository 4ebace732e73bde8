//! The invariants checked after every round of every group. Each check
//! reads only the group's public state and the round's events, so the
//! machine's own `step` stays the only execution.

use std::collections::BTreeSet;

use canon_bytecode::Backpressure;
use canon_machine::{Event, EventKind, FAULT_CODES, Fault, Group, ReplayMode, SessionStatus};
use canon_types::{ErrorCode, TypeId};

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant, as `canon sim` names it.
    pub invariant: &'static str,
    /// What was seen: the instance, the round and the values that broke it.
    pub detail: String,
}

/// What a live session looked like before a round.
#[derive(Clone)]
struct SessionBefore {
    sid: u64,
    types: Vec<TypeId>,
    root: [u8; 32],
    consumed: usize,
    received: u64,
}

/// The per-group checker: the state before the current round and what it
/// has seen of the group so far.
#[derive(Clone)]
pub struct Checker {
    /// Extra messages the transport may add past a buffer's capacity: a
    /// duplicate and a released reordered message (0 with no transport fault).
    pub buffer_slack: i64,
    replay_mode: ReplayMode,
    before: Vec<SessionBefore>,
    faults_seen: usize,
    /// `(sid, to, from, seq)` of every delivery so far.
    delivered: BTreeSet<(u64, u16, u16, u64)>,
    /// The next seq delivered per `(sid, from, to)` under a replay mode.
    next_seq: std::collections::BTreeMap<(u64, u16, u16), u64>,
    /// Messages a buffer's own policy discarded (`Dropped`, `Overwritten`)
    /// that no delivery has skipped yet, per `(sid, from, to)`.
    lost: std::collections::BTreeMap<(u64, u16, u16), u64>,
}

impl Checker {
    pub fn new(buffer_slack: i64, replay_mode: ReplayMode) -> Checker {
        Checker {
            buffer_slack,
            replay_mode,
            before: Vec::new(),
            faults_seen: 0,
            delivered: BTreeSet::new(),
            next_seq: Default::default(),
            lost: Default::default(),
        }
    }

    /// Records the live sessions' state before a round.
    pub fn before_round(&mut self, group: &Group) {
        self.before.clear();
        for (i, s) in group.store().sessions().iter().enumerate() {
            if s.status != SessionStatus::Active {
                continue;
            }
            self.before.push(SessionBefore {
                sid: u64::from(group.id()) << 32 | i as u64,
                types: s.body.endpoints.iter().map(|e| e.current).collect(),
                root: s.body.consumption.root(),
                consumed: s.body.consumption.len(),
                received: s.body.edges.iter().map(|e| e.recv_seq).sum(),
            });
        }
    }

    /// Checks the group after a round that emitted `events`.
    pub fn after_round(&mut self, group: &Group, events: &[Event], out: &mut Vec<Violation>) {
        self.check_buffers(group, out);
        self.check_ended_sessions(group, out);
        self.check_deliveries(events, out);
        self.check_faults(group, events, out);
        self.check_accounting(group, events, out);
    }

    /// Buffers never exceed their bound.
    fn check_buffers(&self, group: &Group, out: &mut Vec<Violation>) {
        for s in group.store().sessions().iter().filter(|s| s.status == SessionStatus::Active) {
            for (from, to, edge) in s.body.edges_in_order() {
                let config = edge.buffer.config();
                let ceiling = match config.policy {
                    Backpressure::Resize { max_capacity } => max_capacity.max(config.capacity).max(1),
                    _ => config.capacity.max(1),
                };
                let held = edge.buffer.len();
                if edge.buffer.capacity() > ceiling
                    || held as i64 > i64::from(edge.buffer.capacity()) + self.buffer_slack
                {
                    out.push(Violation {
                        invariant: "buffer bound",
                        detail: format!(
                            "group {} tick {}: edge {from}->{to} holds {held} messages, capacity {} (configured {:?})",
                            group.id(),
                            group.tick(),
                            edge.buffer.capacity(),
                            config
                        ),
                    });
                }
            }
        }
    }

    /// Ended sessions hold no buffered data and no replay counters.
    fn check_ended_sessions(&self, group: &Group, out: &mut Vec<Violation>) {
        for (i, s) in group.store().sessions().iter().enumerate() {
            if matches!(s.status, SessionStatus::Active | SessionStatus::Draining) {
                continue;
            }
            let buffered: usize = s.body.edges.iter().map(|e| e.buffer.len()).sum();
            if buffered > 0 || !s.body.consumption.is_empty() {
                out.push(Violation {
                    invariant: "ended sessions pruned",
                    detail: format!(
                        "group {} session {i} is {:?} but holds {buffered} buffered messages and {} replay counters",
                        group.id(),
                        s.status,
                        s.body.consumption.len()
                    ),
                });
            }
        }
    }

    /// Every fault is typed (a code of the table) and recorded (its
    /// `FailureBranchEntered` and `Faulted` events by its coroutine, this
    /// round); a faulted coroutine owns no endpoint of a live session; a
    /// rejected message is never delivered.
    fn check_faults(&mut self, group: &Group, events: &[Event], out: &mut Vec<Violation>) {
        let new = &group.faults()[self.faults_seen..];
        self.faults_seen = group.faults().len();
        for f in new {
            let code = f.fault.code();
            let by = |e: &&Event| e.site.coroutine == f.coroutine;
            let recorded = events.iter().filter(by).any(|e| e.kind == EventKind::FailureBranchEntered { code })
                && events.iter().filter(by).any(|e| e.kind == EventKind::Faulted { code });
            if !FAULT_CODES.iter().any(|c| c.code == code) || !recorded {
                out.push(Violation {
                    invariant: "faults typed and recorded",
                    detail: format!("group {} coroutine {}: fault {code} {:?}", group.id(), f.coroutine, f.fault),
                });
            }
            if let Some((ep, from, seq)) = rejected(&f.fault)
                && self.delivered.contains(&(ep.sid, ep.role, from, seq))
                && !matches!(f.fault, Fault::ReplayedSequence { .. } | Fault::NullifierReused { .. })
            {
                out.push(Violation {
                    invariant: "rejected message changes nothing",
                    detail: format!(
                        "group {}: message {from}->{} seq {seq} was rejected ({code}) and delivered",
                        group.id(),
                        ep.role
                    ),
                });
            }
        }
        for f in group.faults() {
            for (i, s) in group.store().sessions().iter().enumerate() {
                let owned = s.body.endpoints.iter().any(|e| e.owner == f.coroutine && !e.closed);
                if s.status == SessionStatus::Active && owned {
                    out.push(Violation {
                        invariant: "owner death",
                        detail: format!(
                            "group {} session {i} is still active with an open endpoint of faulted coroutine {}",
                            group.id(),
                            f.coroutine
                        ),
                    });
                }
            }
        }
    }

    /// A live session's state changes only through events: its deliveries
    /// are its `Received` events, its consumption root moves only by its
    /// `Consumed` events, and an endpoint's type advances only with an
    /// event at that endpoint.
    fn check_accounting(&self, group: &Group, events: &[Event], out: &mut Vec<Violation>) {
        for b in &self.before {
            let Some(s) = group.store().get(b.sid) else { continue };
            if s.status != SessionStatus::Active {
                continue;
            }
            let at = |e: &&Event| e.site.sid == b.sid;
            let received = events.iter().filter(at).filter(|e| matches!(e.kind, EventKind::Received { .. })).count();
            let consumed: Vec<[u8; 32]> = events
                .iter()
                .filter(at)
                .filter_map(|e| match e.kind {
                    EventKind::Consumed { post_root, .. } => Some(post_root),
                    _ => None,
                })
                .collect();
            let now: u64 = s.body.edges.iter().map(|e| e.recv_seq).sum();
            let root = consumed.last().copied().unwrap_or(b.root);
            let mut wrong = Vec::new();
            if now.checked_sub(b.received) != Some(received as u64) {
                wrong.push(format!("{} deliveries, {received} Received events", now.wrapping_sub(b.received)));
            }
            // Consumptions add an identity each (nullifier mode) and edge
            // counters (at most one per edge in use).
            let held = s.body.consumption.len();
            let grew = held >= b.consumed && held - b.consumed <= consumed.len() + s.body.edges.len();
            if s.body.consumption.root() != root || !grew || (consumed.is_empty() && held != b.consumed) {
                wrong.push(format!("consumption moved by {} Consumed events", consumed.len()));
            }
            for (role, (was, e)) in b.types.iter().zip(&s.body.endpoints).enumerate() {
                let touched = events.iter().filter(at).any(|ev| usize::from(ev.site.role) == role);
                if *was != e.current && !touched {
                    wrong.push(format!("role {role}'s type advanced with no event"));
                }
            }
            if !wrong.is_empty() {
                out.push(Violation {
                    invariant: "state changes only by recorded events",
                    detail: format!(
                        "group {} tick {} session {:#x}: {}",
                        group.id(),
                        group.tick(),
                        b.sid,
                        wrong.join("; ")
                    ),
                });
            }
        }
    }

    /// Under a replay mode every message is delivered at most once, and in
    /// order: a delivery's seq is the next one on its edge, or passes it by
    /// no more messages than the buffer's own policy discarded (`Dropped`,
    /// `Overwritten`) — a transport loss, reordering or duplicate is refused.
    fn check_deliveries(&mut self, events: &[Event], out: &mut Vec<Violation>) {
        for e in events {
            let (sid, role) = (e.site.sid, e.site.role);
            match &e.kind {
                EventKind::Dropped { to, .. } | EventKind::Overwritten { to, .. } => {
                    *self.lost.entry((sid, role, *to)).or_insert(0) += 1;
                }
                EventKind::Received { from, seq, .. } => {
                    let fresh = self.delivered.insert((sid, role, *from, *seq));
                    if self.replay_mode == ReplayMode::Off {
                        continue;
                    }
                    let next = self.next_seq.entry((sid, *from, role)).or_insert(0);
                    let lost = self.lost.entry((sid, *from, role)).or_insert(0);
                    let skipped = seq.saturating_sub(*next);
                    let passes = *seq >= *next && skipped <= *lost;
                    *lost -= skipped.min(*lost);
                    if !fresh || !passes {
                        out.push(Violation {
                            invariant: "replay mode delivers once and in order",
                            detail: format!(
                                "session {sid:#x} edge {from}->{role}: seq {seq} delivered at tick {} \
                                 (expected {next}{})",
                                e.site.tick,
                                if fresh { "" } else { ", a second time" }
                            ),
                        });
                    }
                    *next = (*seq).max(*next) + 1;
                }
                _ => {}
            }
        }
    }
}

/// The endpoint, sender and seq of a message a receive refused.
fn rejected(f: &Fault) -> Option<(canon_types::Endpoint, u16, u64)> {
    match *f {
        Fault::BadSignature { ep, from, seq }
        | Fault::ReplayedSequence { ep, from, found: seq, .. }
        | Fault::SequenceGap { ep, from, found: seq, .. }
        | Fault::NullifierReused { ep, from, seq } => Some((ep, from, seq)),
        _ => None,
    }
}
