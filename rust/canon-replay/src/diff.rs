//! Semantic comparison of two replays: header fields, then the first
//! divergent event with context.
//!
//! Events are compared by meaning, not bytes: when the two string tables
//! differ, symbols are compared by the names they resolve to, so the same run
//! of two builds that intern strings in a different order is identical.

use std::cmp::Ordering;

use canon_machine::event::Event;
use serde_json::json;

use crate::header::ReplayHeader;
use crate::names::{Names, hex};
use crate::render::{event_json, event_line};
use crate::replay::Replay;

/// Events of context shown before the first divergence.
pub const CONTEXT_EVENTS: usize = 3;

/// One header field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderDiff {
    ProgramDigest {
        a: [u8; 32],
        b: [u8; 32],
    },
    ConfigDigest {
        a: [u8; 32],
        b: [u8; 32],
    },
    Seed {
        a: u64,
        b: u64,
    },
    /// The first string-table entry that differs (`None`: that table is shorter).
    String {
        index: usize,
        a: Option<String>,
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
    Event { index: usize, context: Vec<DiffEvent>, a: DiffEvent, b: DiffEvent },
    /// The `shorter` stream is a proper prefix of the other, which continues
    /// with `next` at `index`.
    Prefix { shorter: Side, index: usize, context: Vec<DiffEvent>, next: DiffEvent },
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

/// Compares `a` and `b` semantically.
pub fn diff(a: &Replay, b: &Replay) -> ReplayDiff {
    let header = header_diffs(&a.header, &b.header);
    let events = event_divergence(a, b);
    ReplayDiff { header, events, a_events: a.events.len(), b_events: b.events.len() }
}

fn header_diffs(a: &ReplayHeader, b: &ReplayHeader) -> Vec<HeaderDiff> {
    let mut out = Vec::new();
    if a.program_digest != b.program_digest {
        out.push(HeaderDiff::ProgramDigest { a: a.program_digest, b: b.program_digest });
    }
    if a.config_digest != b.config_digest {
        out.push(HeaderDiff::ConfigDigest { a: a.config_digest, b: b.config_digest });
    }
    if a.seed != b.seed {
        out.push(HeaderDiff::Seed { a: a.seed, b: b.seed });
    }
    let longest = a.strings.len().max(b.strings.len());
    if let Some(index) = (0..longest).find(|&i| a.strings.get(i) != b.strings.get(i)) {
        out.push(HeaderDiff::String { index, a: a.strings.get(index).cloned(), b: b.strings.get(index).cloned() });
    }
    out
}

fn event_divergence(a: &Replay, b: &Replay) -> Divergence {
    let same_strings = a.header.strings == b.header.strings;
    let mut na = Names::new(&a.header.strings);
    let mut nb = Names::new(&b.header.strings);
    let common = a.events.len().min(b.events.len());
    for (i, (ea, eb)) in a.events.iter().zip(&b.events).enumerate() {
        na.observe(ea);
        nb.observe(eb);
        // Same table: ids mean the same names, so structural equality is semantic.
        let equal = if same_strings { ea == eb } else { event_json(&na, i, ea) == event_json(&nb, i, eb) };
        if !equal {
            let context = context(&na, &a.events, i);
            return Divergence::Event {
                index: i,
                context,
                a: DiffEvent::new(&na, i, ea),
                b: DiffEvent::new(&nb, i, eb),
            };
        }
    }
    let (shorter, names, longer) = match a.events.len().cmp(&b.events.len()) {
        Ordering::Equal => return Divergence::None,
        Ordering::Less => (Side::A, &mut nb, &b.events),
        Ordering::Greater => (Side::B, &mut na, &a.events),
    };
    names.observe(&longer[common]);
    let next = DiffEvent::new(names, common, &longer[common]);
    Divergence::Prefix { shorter, index: common, context: context(names, longer, common), next }
}

fn context(names: &Names<'_>, events: &[Event], index: usize) -> Vec<DiffEvent> {
    let from = index.saturating_sub(CONTEXT_EVENTS);
    (from..index).map(|i| DiffEvent::new(names, i, &events[i])).collect()
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
