//! The replay cross-check: every receive against its send, consumption
//! roots, and the edge histories recomputed from the events.

use super::*;

/// What [`cross_check`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrossCheckReport {
    /// `Received` events matched to their `Sent` (payload and label as sent,
    /// or as the recorded `CorruptPayload` injection alters them).
    pub received: u64,
    /// `Consumed` events whose identity and roots were recomputed.
    pub consumed: u64,
    /// `EdgeHistory` events whose counts and running hash were recomputed.
    pub edges: u64,
}

/// Why a recorded event stream is internally inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrossCheckError {
    /// A receive of a message no earlier event sent.
    #[error("event {index}: session {sid:#x} role {to} received seq {seq} from role {from}, which was never sent")]
    NeverSent {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The sending role's index.
        from: u16,
        /// The receiving role's index.
        to: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// A receive whose label or payload differs from the send.
    #[error(
        "event {index}: session {sid:#x} role {to} received seq {seq} from role {from} with another label or payload than was sent"
    )]
    NotAsSent {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The sending role's index.
        from: u16,
        /// The receiving role's index.
        to: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// A `Consumed` event not right after its `Received`.
    #[error("event {index}: `Consumed` does not directly follow the `Received` of the same endpoint")]
    ConsumedWithoutReceive {
        /// The event's index in the replay.
        index: usize,
    },
    /// A `Consumed` identity that is not the hash of the received envelope.
    #[error("event {index}: `Consumed` identity is not the SHA-256 of the received message's envelope")]
    WrongIdentity {
        /// The event's index in the replay.
        index: usize,
    },
    /// `Consumed` roots that do not chain.
    #[error(
        "event {index}: `Consumed` roots of session {sid:#x} do not chain (pre-root or post-root recomputed differently)"
    )]
    WrongRoot {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
    },
    /// An `EdgeHistory` that is not the one recomputed from the edge's events.
    #[error(
        "event {index}: `EdgeHistory` of session {sid:#x} is not the one recomputed for edge {from}->{to} (site, counts or running hash of the delivered envelopes)"
    )]
    WrongEdgeHistory {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The edge's sending role.
        from: u16,
        /// The edge's receiving role.
        to: u16,
    },
    /// A session that ended without the `EdgeHistory` of an edge that carried traffic.
    #[error("event {index}: session {sid:#x} ended without the `EdgeHistory` of edge {from}->{to}")]
    MissingEdgeHistory {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The edge's sending role.
        from: u16,
        /// The edge's receiving role.
        to: u16,
    },
    /// An `EdgeHistory` in a place where none is due.
    #[error("event {index}: `EdgeHistory` does not follow the terminal events of its session")]
    UnexpectedEdgeHistory {
        /// The event's index in the replay.
        index: usize,
    },
}

/// One edge's trace recomputed from `Sent`/`Dropped`/`Received` events:
/// `(sent, delivered, history)`.
type EdgeTally = (u64, u64, [u8; 32]);

/// The `EdgeHistory` events a session that just ended must record next,
/// as [`cross_check`] expects them.
struct ExpectedHistories {
    /// The site of the session's `SessionTerminal` (theirs too).
    site: crate::event::EventSite,
    /// Whether an `EpochAdvanced` (a close) may still come first.
    epoch_pending: bool,
    /// `(from, to, tally)`, in `(from, to)` order, still to come.
    rest: std::collections::VecDeque<(u16, u16, EdgeTally)>,
}

/// `(sid, from, to, seq)`: one message of a replay.
type MessageKey = (u64, u16, u16, u64);

/// Checks what ties the events of a replay together without re-execution:
/// every `Received` matches a `Sent` on the same session, edge and seq (label
/// and payload as sent, or as a recorded `CorruptPayload` injection of that
/// message changes them); every `Consumed` directly follows its
/// `Received`, names the identity of that message's envelope, and continues
/// its session's consumption root (`post = SHA-256(pre ‖ identity)` from all
/// zeros); and every session that ended is followed (after its
/// `SessionTerminal`, and `EpochAdvanced` for a close) by exactly the
/// `EdgeHistory` events recomputed from its `Sent`, `Dropped` and `Received`
/// events, at the terminal's site. `run` is the run identity of the
/// envelopes ([`run_identity`]); `config` the run's configuration, whose
/// `auth` and replay mode say whether the histories hash the delivered
/// envelopes or keep the all-zero hash ([`crate::hashes_edge_histories`]).
pub fn cross_check(
    run: &[u8; 32],
    config: &crate::Config,
    events: &[Event],
) -> Result<CrossCheckReport, CrossCheckError> {
    let hashed = crate::hashes_edge_histories(config.auth, config.replay_mode);
    // (sid, from, to, seq) -> (identity of the envelope as sent, as corrupted if injected).
    let mut sent: BTreeMap<MessageKey, ([u8; 32], [u8; 32])> = BTreeMap::new();
    let mut roots: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    // (sid, from, to) -> the edge's trace so far.
    let mut edges: BTreeMap<(u64, u16, u16), EdgeTally> = BTreeMap::new();
    let mut expected: Option<ExpectedHistories> = None;
    let mut report = CrossCheckReport::default();
    let mut envelope = Vec::new();
    let mut id_of = |sid, from, to, seq, label, payload: &Value| {
        envelope_into(&mut envelope, EnvelopeFields { run, sid, from, to, seq, label, payload });
        identity(&envelope)
    };
    let mut last_received: Option<(usize, [u8; 32])> = None;
    for (index, ev) in events.iter().enumerate() {
        let (sid, role) = (ev.site.sid, ev.site.role);
        // The edge histories of a session that just ended come next.
        if let Some(x) = &mut expected {
            let close_epoch =
                x.epoch_pending && ev.site == x.site && matches!(ev.kind, EventKind::EpochAdvanced { .. });
            x.epoch_pending = false;
            if close_epoch {
                continue;
            }
            match (&ev.kind, x.rest.pop_front()) {
                (EventKind::EdgeHistory { from, to, sent: n, delivered, history }, Some((f, t, tally))) => {
                    if ev.site != x.site || (*from, *to) != (f, t) || (*n, *delivered, *history) != tally {
                        return Err(CrossCheckError::WrongEdgeHistory { index, sid: x.site.sid, from: f, to: t });
                    }
                    report.edges += 1;
                    if x.rest.is_empty() {
                        expected = None;
                    }
                    continue;
                }
                (_, Some((from, to, _))) => {
                    return Err(CrossCheckError::MissingEdgeHistory { index, sid: x.site.sid, from, to });
                }
                (_, None) => expected = None,
            }
        }
        match &ev.kind {
            EventKind::SessionTerminal { reason } => {
                let rest: std::collections::VecDeque<_> = edges
                    .range((sid, 0, 0)..=(sid, u16::MAX, u16::MAX))
                    .map(|(&(_, from, to), &tally)| (from, to, tally))
                    .collect();
                let epoch_pending = *reason == crate::event::TerminalReason::Closed;
                expected = Some(ExpectedHistories { site: ev.site, epoch_pending, rest });
            }
            EventKind::EdgeHistory { .. } => return Err(CrossCheckError::UnexpectedEdgeHistory { index }),
            EventKind::Dropped { to, .. } => edges.entry((sid, role, *to)).or_insert((0, 0, [0; 32])).0 += 1,
            _ => {}
        }
        match &ev.kind {
            EventKind::Sent { to, label, seq, payload, .. } => {
                edges.entry((sid, role, *to)).or_insert((0, 0, [0; 32])).0 += 1;
                let corrupted = id_of(sid, role, *to, *seq, *label, &crate::inject::corrupt_value(payload));
                let id = id_of(sid, role, *to, *seq, *label, payload);
                sent.insert((sid, role, *to, *seq), (id, corrupted));
            }
            EventKind::Injected { injection: crate::inject::Injection::CorruptPayload, to, seq, .. } => {
                if let Some(entry) = sent.get_mut(&(sid, role, *to, *seq)) {
                    entry.0 = entry.1;
                }
            }
            EventKind::Received { from, label, seq, payload } => {
                let key = (sid, *from, role, *seq);
                let (want, _) = sent.get(&key).ok_or(CrossCheckError::NeverSent {
                    index,
                    sid,
                    from: *from,
                    to: role,
                    seq: *seq,
                })?;
                let got = id_of(sid, *from, role, *seq, *label, payload);
                if got != *want {
                    return Err(CrossCheckError::NotAsSent { index, sid, from: *from, to: role, seq: *seq });
                }
                let tally = edges.entry((sid, *from, role)).or_insert((0, 0, [0; 32]));
                tally.1 += 1;
                if hashed {
                    tally.2 = chain(&tally.2, &got);
                }
                report.received += 1;
                last_received = Some((index, got));
                continue;
            }
            EventKind::Consumed { identity: id, pre_root, post_root, .. } => {
                let prev = index.checked_sub(1).and_then(|i| events.get(i));
                let same_site = prev.is_some_and(|p| p.site == ev.site);
                let Some((_, received)) = last_received.filter(|(at, _)| *at + 1 == index && same_site) else {
                    return Err(CrossCheckError::ConsumedWithoutReceive { index });
                };
                if *id != received {
                    return Err(CrossCheckError::WrongIdentity { index });
                }
                let root = roots.entry(sid).or_insert([0; 32]);
                let post: [u8; 32] = Sha256::new().chain_update(*root).chain_update(id).finalize().into();
                if pre_root != root || *post_root != post {
                    return Err(CrossCheckError::WrongRoot { index, sid });
                }
                *root = post;
                report.consumed += 1;
            }
            _ => {}
        }
        last_received = None;
    }
    if let Some(mut x) = expected
        && let Some((from, to, _)) = x.rest.pop_front()
    {
        return Err(CrossCheckError::MissingEdgeHistory { index: events.len(), sid: x.site.sid, from, to });
    }
    Ok(report)
}
