//! Semantic comparison of two replays: header fields, then the first
//! divergent event with context.
//!
//! Events are compared by meaning, not bytes: when the two string tables
//! differ, symbols are compared by the names they resolve to, so the same run
//! of two builds that intern strings in a different order is identical.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::io::Read;

use canon_machine::event::Event;
use serde_json::json;

use crate::error::ReplayError;
use crate::header::ReplayHeader;
use crate::names::{Names, hex};
use crate::render::{event_json, event_line};
use crate::replay::{Replay, ReplayEnd, ReplayReader};

/// Events of context shown before the first divergence.
pub const CONTEXT_EVENTS: usize = 3;

/// One header field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderDiff {
    /// The replays were recorded from different programs.
    ProgramDigest {
        /// The value in the first replay.
        a: [u8; 32],
        /// The value in the second replay.
        b: [u8; 32],
    },
    /// The replays were recorded under different configurations.
    ConfigDigest {
        /// The value in the first replay.
        a: [u8; 32],
        /// The value in the second replay.
        b: [u8; 32],
    },
    /// The replays were recorded with different seeds.
    Seed {
        /// The value in the first replay.
        a: u64,
        /// The value in the second replay.
        b: u64,
    },
    /// The first string-table entry that differs (`None`: that table is shorter).
    String {
        /// The entry's index in the string table.
        index: usize,
        /// The value in the first replay.
        a: Option<String>,
        /// The value in the second replay.
        b: Option<String>,
    },
}

/// Which replay of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first replay given to [`diff`].
    A,
    /// The second replay given to [`diff`].
    B,
}

/// An event as shown in a diff: its index, the event, and its text line.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffEvent {
    /// Position in its replay's event stream.
    pub index: usize,
    /// The event itself.
    pub event: Event,
    /// Its line in the text view, names resolved against its own replay.
    pub text: String,
    /// Its object in the JSON-lines view.
    pub json: serde_json::Value,
}

impl DiffEvent {
    fn new(names: &Names<'_>, index: usize, event: &Event) -> Self {
        DiffEvent { index, event: event.clone(), text: event_line(names, event), json: event_json(names, index, event) }
    }
}

/// How the event streams compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Divergence {
    /// Both streams hold the same events.
    None,
    /// Event `index` is the first that differs; `context` holds up to
    /// [`CONTEXT_EVENTS`] (equal) events before it.
    Event {
        /// The index of the event.
        index: usize,
        /// Up to `CONTEXT_EVENTS` equal events before it.
        context: Vec<DiffEvent>,
        /// The event in the first stream.
        a: DiffEvent,
        /// The event in the second stream.
        b: DiffEvent,
    },
    /// The `shorter` stream is a proper prefix of the other, which continues
    /// with `next` at `index`.
    Prefix {
        /// Which stream ends first.
        shorter: Side,
        /// The index of the event.
        index: usize,
        /// Up to `CONTEXT_EVENTS` equal events before it.
        context: Vec<DiffEvent>,
        /// The longer stream's next event.
        next: DiffEvent,
    },
}

/// The result of [`diff`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayDiff {
    /// Header fields that differ, in header order.
    pub header: Vec<HeaderDiff>,
    /// Where the event streams part.
    pub events: Divergence,
    /// Number of events in `a`.
    pub a_events: usize,
    /// Number of events in `b`.
    pub b_events: usize,
}

/// Compares `a` and `b` semantically (in memory; `a_events` and `b_events`
/// are the full counts).
pub fn diff(a: &Replay, b: &Replay) -> ReplayDiff {
    let header = header_diffs(&a.header, &b.header);
    let mut lockstep = Lockstep::new(&a.header.strings, &b.header.strings);
    let mut events = Divergence::None;
    for (ea, eb) in a.events.iter().zip(&b.events) {
        if let Some(d) = lockstep.step(ea, eb) {
            events = d;
            break;
        }
    }
    if events == Divergence::None {
        let common = lockstep.compared();
        events = match a.events.len().cmp(&b.events.len()) {
            Ordering::Equal => Divergence::None,
            Ordering::Less => lockstep.prefix(Side::A, &b.events[common]),
            Ordering::Greater => lockstep.prefix(Side::B, &a.events[common]),
        };
    }
    ReplayDiff { header, events, a_events: a.events.len(), b_events: b.events.len() }
}

/// Compares two replays streamed side by side, in constant memory, and
/// stops at the first divergent event: `a_events` and `b_events` count the
/// events read up to there (the whole streams when they are identical, which
/// also checks both trailers; `a`'s counts and root are then returned too).
/// An error names the side whose file is damaged.
pub fn diff_readers<RA: Read, RB: Read>(
    mut a: ReplayReader<RA>,
    mut b: ReplayReader<RB>,
) -> Result<(ReplayDiff, Option<ReplayEnd>), (Side, ReplayError)> {
    let (ha, hb) = (a.header().clone(), b.header().clone());
    let header = header_diffs(&ha, &hb);
    let mut lockstep = Lockstep::new(&ha.strings, &hb.strings);
    let events = loop {
        let ea = a.next_event().map_err(|e| (Side::A, e))?;
        let eb = b.next_event().map_err(|e| (Side::B, e))?;
        match (ea, eb) {
            (Some(ea), Some(eb)) => {
                if let Some(d) = lockstep.step(&ea, &eb) {
                    break d;
                }
            }
            (None, None) => break Divergence::None,
            (None, Some(next)) => break lockstep.prefix(Side::A, &next),
            (Some(next), None) => break lockstep.prefix(Side::B, &next),
        }
    };
    let (a_events, b_events) = match &events {
        Divergence::None => (lockstep.compared(), lockstep.compared()),
        Divergence::Event { index, .. } => (index + 1, index + 1),
        Divergence::Prefix { shorter: Side::A, index, .. } => (*index, index + 1),
        Divergence::Prefix { shorter: Side::B, index, .. } => (index + 1, *index),
    };
    Ok((ReplayDiff { header, events, a_events, b_events }, a.end()))
}

/// The header fields of `a` and `b` that differ, in header order.
pub fn header_diffs(a: &ReplayHeader, b: &ReplayHeader) -> Vec<HeaderDiff> {
    let mut out = Vec::new();
    if a.program_digest != b.program_digest {
        out.push(HeaderDiff::ProgramDigest { a: a.program_digest, b: b.program_digest });
    }
    // The seed is part of the configuration; a seed alone is reported as the seed.
    let unseeded = |c: &canon_machine::Config| canon_machine::Config { seed: 0, ..*c };
    if unseeded(&a.config) != unseeded(&b.config) {
        out.push(HeaderDiff::ConfigDigest { a: a.config_digest(), b: b.config_digest() });
    }
    if a.seed() != b.seed() {
        out.push(HeaderDiff::Seed { a: a.seed(), b: b.seed() });
    }
    let longest = a.strings.len().max(b.strings.len());
    if let Some(index) = (0..longest).find(|&i| a.strings.get(i) != b.strings.get(i)) {
        out.push(HeaderDiff::String { index, a: a.strings.get(index).cloned(), b: b.strings.get(index).cloned() });
    }
    out
}

/// Compares two event streams one pair at a time, keeping the names in
/// scope and the last [`CONTEXT_EVENTS`] events: constant memory, one
/// comparison per pair. Used by the diffs and by re-execution.
pub struct Lockstep<'a> {
    na: Names<'a>,
    nb: Names<'a>,
    same_strings: bool,
    compared: usize,
    recent: VecDeque<Event>,
}

impl<'a> Lockstep<'a> {
    /// A comparison of streams whose string tables are `a` and `b`.
    pub fn new(a: &'a [String], b: &'a [String]) -> Self {
        Lockstep { na: Names::new(a), nb: Names::new(b), same_strings: a == b, compared: 0, recent: VecDeque::new() }
    }

    /// Pairs compared (and found equal) so far.
    pub fn compared(&self) -> usize {
        self.compared
    }

    /// Compares the next pair; `Some` at the first divergence.
    pub fn step(&mut self, ea: &Event, eb: &Event) -> Option<Divergence> {
        let i = self.compared;
        self.na.observe(ea);
        self.nb.observe(eb);
        // Same table: ids mean the same names, so structural equality is semantic.
        let equal =
            if self.same_strings { ea == eb } else { event_json(&self.na, i, ea) == event_json(&self.nb, i, eb) };
        if !equal {
            return Some(Divergence::Event {
                index: i,
                context: self.context(Side::A),
                a: DiffEvent::new(&self.na, i, ea),
                b: DiffEvent::new(&self.nb, i, eb),
            });
        }
        self.compared += 1;
        self.remember(ea);
        None
    }

    /// Compares `a[i]` with `b[i]` for every `i` of the shorter slice, as
    /// [`Lockstep::step`] on each pair would, without copying events:
    /// `Some` at the first divergence.
    pub fn step_slices(&mut self, a: &[Event], b: &[Event]) -> Option<Divergence> {
        let n = a.len().min(b.len());
        for i in 0..n {
            let (ea, eb) = (&a[i], &b[i]);
            self.na.observe(ea);
            self.nb.observe(eb);
            let at = self.compared;
            let equal =
                if self.same_strings { ea == eb } else { event_json(&self.na, at, ea) == event_json(&self.nb, at, eb) };
            if !equal {
                // Context: the equal events before `i` in this slice, then older ones.
                for e in &a[i.saturating_sub(CONTEXT_EVENTS)..i] {
                    self.remember(e);
                }
                return Some(Divergence::Event {
                    index: at,
                    context: self.context(Side::A),
                    a: DiffEvent::new(&self.na, at, ea),
                    b: DiffEvent::new(&self.nb, at, eb),
                });
            }
            self.compared += 1;
        }
        for e in &a[n.saturating_sub(CONTEXT_EVENTS)..n] {
            self.remember(e);
        }
        None
    }

    /// Keeps `e` as the newest of the last [`CONTEXT_EVENTS`] events.
    fn remember(&mut self, e: &Event) {
        if self.recent.len() == CONTEXT_EVENTS {
            self.recent.pop_front();
        }
        if CONTEXT_EVENTS > 0 {
            self.recent.push_back(e.clone());
        }
    }

    /// The `shorter` stream ended; the other continues with `next`.
    pub fn prefix(&mut self, shorter: Side, next: &Event) -> Divergence {
        let longer = if shorter == Side::A { Side::B } else { Side::A };
        let index = self.compared;
        let names = if longer == Side::A { &mut self.na } else { &mut self.nb };
        names.observe(next);
        let next = DiffEvent::new(names, index, next);
        Divergence::Prefix { shorter, index, context: self.context(longer), next }
    }

    fn context(&self, side: Side) -> Vec<DiffEvent> {
        let names = if side == Side::A { &self.na } else { &self.nb };
        let from = self.compared - self.recent.len();
        self.recent.iter().enumerate().map(|(k, e)| DiffEvent::new(names, from + k, e)).collect()
    }
}

impl ReplayDiff {
    /// True when headers and events are the same.
    pub fn is_identical(&self) -> bool {
        self.header.is_empty() && self.events == Divergence::None
    }

    /// The first divergent event index (or where the shorter stream ends).
    pub fn first_divergence(&self) -> Option<usize> {
        match &self.events {
            Divergence::None => None,
            Divergence::Event { index, .. } | Divergence::Prefix { index, .. } => Some(*index),
        }
    }

    /// The diff as text: header differences, then `a`/`b` lines at the first divergence.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            out.push_str(&header_text(h));
        }
        match &self.events {
            Divergence::None => out.push_str(&format!("events: identical ({} events)\n", self.a_events)),
            Divergence::Event { index, context, a, b } => {
                out.push_str(&format!("events: first divergence at event {index}\n"));
                push_lines(&mut out, "  ", context);
                out.push_str(&format!("a [{}] {}\nb [{}] {}\n", a.index, a.text, b.index, b.text));
            }
            Divergence::Prefix { shorter, index, context, next } => {
                let (short, long) = if *shorter == Side::A { ("a", "b") } else { ("b", "a") };
                out.push_str(&format!("events: {short} ends after {index} events; {long} continues\n"));
                push_lines(&mut out, "  ", context);
                out.push_str(&format!("{short} [{index}] (end)\n{long} [{}] {}\n", next.index, next.text));
            }
        }
        out
    }

    /// The diff as one JSON object.
    pub fn render_json(&self) -> serde_json::Value {
        let header: Vec<_> = self.header.iter().map(header_json).collect();
        let ctx = |c: &[DiffEvent]| c.iter().map(|e| e.json.clone()).collect::<Vec<_>>();
        let events = match &self.events {
            Divergence::None => json!({ "status": "identical" }),
            Divergence::Event { index, context, a, b } => {
                json!({ "status": "divergent", "index": index, "context": ctx(context), "a": a.json, "b": b.json })
            }
            Divergence::Prefix { shorter, index, context, next } => {
                let shorter = if *shorter == Side::A { "a" } else { "b" };
                json!({ "status": "prefix", "shorter": shorter, "index": index, "context": ctx(context), "next": next.json })
            }
        };
        json!({
            "identical": self.is_identical(),
            "a_events": self.a_events,
            "b_events": self.b_events,
            "header": header,
            "events": events,
        })
    }
}

fn push_lines(out: &mut String, prefix: &str, events: &[DiffEvent]) {
    for e in events {
        out.push_str(&format!("{prefix}[{}] {}\n", e.index, e.text));
    }
}

fn header_text(h: &HeaderDiff) -> String {
    match h {
        HeaderDiff::ProgramDigest { a, b } => {
            format!("header: program digest differs\n  a {}\n  b {}\n", hex(a), hex(b))
        }
        HeaderDiff::ConfigDigest { a, b } => format!("header: config digest differs\n  a {}\n  b {}\n", hex(a), hex(b)),
        HeaderDiff::Seed { a, b } => format!("header: seed differs\n  a {a}\n  b {b}\n"),
        HeaderDiff::String { index, a, b } => {
            let show = |s: &Option<String>| s.as_ref().map_or_else(|| "(none)".to_owned(), |s| format!("{s:?}"));
            format!("header: string {index} differs\n  a {}\n  b {}\n", show(a), show(b))
        }
    }
}

fn header_json(h: &HeaderDiff) -> serde_json::Value {
    match h {
        HeaderDiff::ProgramDigest { a, b } => json!({ "field": "program_digest", "a": hex(a), "b": hex(b) }),
        HeaderDiff::ConfigDigest { a, b } => json!({ "field": "config_digest", "a": hex(a), "b": hex(b) }),
        HeaderDiff::Seed { a, b } => json!({ "field": "seed", "a": a, "b": b }),
        HeaderDiff::String { index, a, b } => json!({ "field": "strings", "index": index, "a": a, "b": b }),
    }
}
