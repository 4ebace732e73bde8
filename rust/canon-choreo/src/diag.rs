//! Diagnostics: stable codes (6001..=6099), spans, and their rendering.
//!
//! A [`Diagnostic`] points at a byte [`Span`] of the source, optionally with
//! a label under it and related spans; [`Diagnostics`] keeps the file name
//! and source text so that it can render every entry. Rendering is done by
//! `annotate-snippets` (the renderer of rustc's own diagnostics), so the
//! output is the layout Rust users already read:
//!
//! ```text
//! error[E6003]: unknown role `Selr` in message
//!  --> shop.canon:4:32
//!   |
//! 4 |   Title(String) from Buyer1 to Selr;
//!   |                                ^^^^ not a role of protocol `Shop`
//!   |
//!   = note: protocol `Shop` declares the roles Buyer1, Buyer2, Seller
//!   = help: did you mean `Seller`?
//! ```
//!
//! [`Diagnostics::render`] is plain text (what tests and files hold);
//! [`Diagnostics::render_styled`] adds ANSI colours for a terminal.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use canon_types::{ErrorCode, Span};

canon_types::code_enum! {
    /// The diagnostic codes this crate owns. The numbers are stable: a code never
    /// changes meaning once published (see [`CHOREO_CODES`]).
    pub enum Code;
    /// Every code of this crate, pinned by a snapshot test in the workspace.
    pub CHOREO_CODES {
        UnexpectedToken = 6001: "the parser found a token it did not expect",
        InvalidToken = 6002: "a character, string or number that is not a valid token",
        UnknownRole = 6003: "a role that the protocol does not declare",
        DuplicateRole = 6004: "a role declared, or passed to `do`, twice",
        SelfSend = 6005: "a message or buffer from a role to itself",
        UnboundContinue = 6006: "`continue` names no enclosing `rec`",
        UndefinedProtocol = 6007: "`do` names a protocol the file does not define",
        DoArity = 6008: "`do` passes a different number of roles than declared",
        DuplicateProtocol = 6009: "two protocols with the same name",
        UnusedRole = 6010: "a declared role that takes part in no interaction",
        EmptyChoice = 6011: "a `choice` branch with no interaction",
        NoEntryProtocol = 6012: "the entry protocol is missing, unknown or ambiguous",
        NestingTooDeep = 6013: "blocks nested deeper than the parser allows",
        UnterminatedComment = 6014: "a `/*` or `(*` comment that never ends",
        DuplicateBuffer = 6015: "two buffer declarations for the same edge",
        InvalidBuffer = 6016: "a buffer capacity of 0, or a resize maximum below the capacity",
        ExpansionTooLarge = 6017: "inlining `do` and continuations exceeds the size or depth limit",
        NonTailRecursiveDo = 6018: "a recursive `do` followed by more interactions",
        UnreachableAfterContinue = 6019: "statements after `continue` in the same block",
        MisplacedBuffer = 6020: "a buffer declaration inside a nested block",
        Unsupported = 6021: "a Scribble construct canon does not support (`par`, ...)",
        UnreachableAfterLoop = 6022: "statements after a `rec` or `choice` that never exits",
        UnresolvedImport = 6023: "an imported module found under no import root",
        NotConnected = 6024: "explicit protocol: a message or disconnect between roles not connected",
        AlreadyConnected = 6025: "explicit protocol: a connect between roles that may already be connected",
        ConnectOutsideExplicit = 6026: "`connect`/`disconnect` in a protocol not declared `explicit`",
        ParamMismatch = 6027: "`do` passes the wrong number or kind of `sig`/`type` arguments",
        UnsupportedDeadlineHandler = 6028: "`on timeout`/`on cancel` on a multicast, or both on one message",
        CancelHandlerNotLocal = 6029: "an `on cancel` block doing more than host effects at the receiver",
    }
}

impl Code {
    /// The stable number of this code.
    pub fn number(self) -> u16 {
        self as u16
    }
}

/// A secondary place a diagnostic points at (a first declaration, the
/// block a statement belongs to), with the text shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where, as a byte range of the source.
    pub span: Span,
    /// What this place has to do with the error.
    pub text: String,
}

/// One error found in a choreography source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code (6001..=6099 here; 61xx from projection).
    pub code: u16,
    /// One line saying what is wrong.
    pub message: String,
    /// Where, as a byte range of the source.
    pub span: Span,
    /// A few words shown under the primary span (what is wrong *there*).
    pub label: Option<Box<str>>,
    /// Other places shown with the primary one, each with its own label
    /// (boxed slices keep a diagnostic small: it is the `Err` of many results).
    pub related: Box<[Label]>,
    /// Extra lines rendered as `= note: ...`.
    pub notes: Vec<String>,
    /// Suggestions rendered as `= help: ...` (after the notes).
    pub help: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic with one of this crate's codes.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::with_code(code.number(), span, message)
    }

    /// A diagnostic with a code of another family (projection's 61xx,
    /// the compiler's 615x).
    pub fn with_code(code: u16, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: None,
            related: Box::default(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// Sets the label shown under the primary span.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into().into_boxed_str());
        self
    }

    /// Adds a related place with its label.
    pub fn with_related(mut self, span: Span, text: impl Into<String>) -> Self {
        let mut related = std::mem::take(&mut self.related).into_vec();
        related.push(Label { span, text: text.into() });
        self.related = related.into_boxed_slice();
        self
    }

    /// Adds a help line (a suggestion).
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds "did you mean `X`?" when one of `candidates` is close to `word`.
    pub fn with_suggestion<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(word, candidates) {
            Some(near) => self.with_help(format!("did you mean `{near}`?")),
            None => self,
        }
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

pub use canon_types::did_you_mean;

impl ErrorCode for Diagnostic {
    fn code(&self) -> u16 {
        self.code
    }
}

/// The diagnostics of one source file, with the file name and text needed to
/// render them. `Display` renders them all (plain), separated by blank lines.
/// With an empty `file_name` (no file at hand) they render without a source
/// excerpt, as [`render_without_source`] does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// The file name shown in rendered locations.
    pub file_name: String,
    /// The full source text the spans point into.
    pub source_text: String,
    /// The diagnostics, ordered by position in the source.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Wraps `items`, sorting them stably by source position.
    pub fn new(file_name: &str, source: &str, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by_key(|d| d.span.start);
        Diagnostics { file_name: file_name.to_owned(), source_text: source.to_owned(), items }
    }

    /// The 1-based line and column (in characters) of byte offset `at`.
    pub fn line_col(&self, at: u32) -> (usize, usize) {
        line_col(&self.source_text, at as usize)
    }

    /// Renders every diagnostic as plain text (no colour), rustc style.
    pub fn render(&self) -> String {
        self.render_styled(false)
    }

    /// Renders every diagnostic, with ANSI colours when `color` is set (for
    /// a terminal; the text is otherwise the same as [`Diagnostics::render`]).
    pub fn render_styled(&self, color: bool) -> String {
        let mut out = String::new();
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if self.file_name.is_empty() {
                out.push_str(&render_without_source(d, color));
            } else {
                out.push_str(&render_one(&self.file_name, &self.source_text, d, color));
            }
        }
        out
    }
}

impl ErrorCode for Diagnostics {
    /// The code of the first diagnostic (0 if there is none).
    fn code(&self) -> u16 {
        self.items.first().map_or(0, |d| d.code)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Renders `d` without a source excerpt, for a diagnostic whose spans point
/// into a file whose text is not at hand (a protocol of an imported module,
/// reported while checking the file that imports it): the title, notes and
/// help.
pub fn render_without_source(d: &Diagnostic, color: bool) -> String {
    let group = Group::with_title(Level::ERROR.primary_title(d.message.as_str()).id(format!("E{}", d.code)));
    finish(add_messages(group, d), color)
}

/// Clamps `at` to the source and back onto a character boundary.
fn floor_boundary(src: &str, at: usize) -> usize {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn line_col(src: &str, at: usize) -> (usize, usize) {
    let at = floor_boundary(src, at);
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[line_start..at].chars().count() + 1)
}

/// The byte range of `span` in `src`, on character boundaries and cut at the
/// end of its first line (a span over a whole protocol shows its first line).
fn clip(src: &str, span: Span) -> (usize, usize) {
    let start = floor_boundary(src, span.start as usize);
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    let end = floor_boundary(src, (span.end as usize).max(start)).min(line_end);
    (start, end)
}

fn add_messages<'a>(mut group: Group<'a>, d: &'a Diagnostic) -> Group<'a> {
    for note in &d.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    for help in &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    group
}

fn finish(group: Group<'_>, color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut text = renderer.render(&[group]);
    text.push('\n');
    text
}

fn render_one(file: &str, src: &str, d: &Diagnostic, color: bool) -> String {
    // The excerpt is the lines from the first to the last span shown, so the
    // renderer never walks a whole large file; line numbers start there.
    let (start, end) = clip(src, d.span);
    let related: Vec<((usize, usize), &str)> = d.related.iter().map(|l| (clip(src, l.span), l.text.as_str())).collect();
    let first = related.iter().map(|((s, _), _)| *s).fold(start, usize::min);
    let last = related.iter().map(|((_, e), _)| *e).fold(end, usize::max);
    let from = src[..first].rfind('\n').map_or(0, |i| i + 1);
    let to = src[last..].find('\n').map_or(src.len(), |i| last + i);
    let excerpt = &src[from..to];
    let line_start = line_col(src, from).0;
    let mut primary = AnnotationKind::Primary.span(start - from..end - from);
    if let Some(label) = &d.label {
        primary = primary.label(&**label);
    }
    let mut snippet = Snippet::source(excerpt).path(file).line_start(line_start).annotation(primary);
    for ((s, e), text) in related {
        snippet = snippet.annotation(AnnotationKind::Context.span(s - from..e - from).label(text));
    }
    let group = Level::ERROR.primary_title(d.message.as_str()).id(format!("E{}", d.code)).element(snippet);
    finish(add_messages(group, d), color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_in_range_and_match_the_enum() {
        let mut seen = std::collections::BTreeSet::new();
        for e in CHOREO_CODES {
            assert!((6001..=6099).contains(&e.code), "{} out of range", e.code);
            assert!(seen.insert(e.code), "{} twice", e.code);
        }
        assert_eq!(Code::CancelHandlerNotLocal.number() as usize, 6000 + CHOREO_CODES.len());
        assert_eq!(CHOREO_CODES[2].name, "UnknownRole");
        assert_eq!(Code::UnknownRole.number(), 6003);
    }

    #[test]
    fn renders_title_location_line_caret_label_and_notes() {
        let src = "a\n\tFoo() from A to Selr;\n";
        let start = src.find("Selr").unwrap() as u32;
        let d = Diagnostic::new(Code::UnknownRole, Span { start, end: start + 4 }, "unknown role `Selr`")
            .with_label("not declared")
            .with_note("declared roles: A, B");
        let text = Diagnostics::new("x.canon", src, vec![d]).render();
        let want = "error[E6003]: unknown role `Selr`\n --> x.canon:2:18\n  |\n2 |     Foo() from A to Selr;\n  \
                    |                     ^^^^ not declared\n  |\n  = note: declared roles: A, B\n";
        assert_eq!(text, want);
    }

    #[test]
    fn related_spans_are_shown_with_their_labels() {
        let src = "protocol P(role A, role A) {\n}\n";
        let (first, second) = (src.find("A").unwrap() as u32, src.rfind("A").unwrap() as u32);
        let d = Diagnostic::new(Code::DuplicateRole, Span { start: second, end: second + 1 }, "role `A` twice")
            .with_label("declared again")
            .with_related(Span { start: first, end: first + 1 }, "first declared here");
        let text = Diagnostics::new("x.canon", src, vec![d]).render();
        assert!(text.contains("first declared here") && text.contains("declared again"), "{text}");
        assert!(text.contains(" --> x.canon:1:25\n"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let d = Diagnostic::new(Code::UnknownRole, Span { start: 0, end: 1 }, "m").with_help("h");
        let all = Diagnostics::new("f", "x", vec![d]);
        assert!(!all.render().contains('\x1b'));
        assert!(all.render_styled(true).contains('\x1b'));
    }

    #[test]
    fn a_suggestion_is_a_help_line() {
        let d = Diagnostic::new(Code::UnknownRole, Span { start: 0, end: 1 }, "m").with_suggestion("Bidr", ["Bid"]);
        let text = Diagnostics::new("f", "x", vec![d]).render();
        assert!(text.ends_with("  = help: did you mean `Bid`?\n"), "{text}");
    }

    #[test]
    fn renders_at_end_of_input_and_out_of_range_spans() {
        let src = "héllo";
        let d = Diagnostic::new(Code::UnexpectedToken, Span { start: 2, end: 900 }, "x");
        let text = Diagnostics::new("f", src, vec![d]).render();
        assert!(text.starts_with("error[E6001]: x\n --> f:1:2\n"), "{text}");
        let d = Diagnostic::new(Code::UnexpectedToken, Span { start: 900, end: 901 }, "eof");
        let text = Diagnostics::new("f", src, vec![d]).render();
        assert!(text.contains(" --> f:1:6\n"), "{text}");
        let d = Diagnostic::new(Code::InvalidToken, Span::default(), "too large");
        let text = Diagnostics::new("f", "", vec![d]).render();
        assert!(text.starts_with("error[E6002]: too large\n"), "{text}");
    }

    #[test]
    fn a_multi_line_span_shows_its_first_line() {
        let src = "global protocol P(role A) {\n  x\n  y\n}\n";
        let d = Diagnostic::new(Code::UnusedRole, Span { start: 0, end: src.len() as u32 }, "m");
        let text = Diagnostics::new("f", src, vec![d]).render();
        assert!(text.contains("1 | global protocol P(role A) {\n"), "{text}");
        assert!(!text.contains("  x"), "{text}");
    }

    #[test]
    fn without_source_is_title_and_notes() {
        let d = Diagnostic::with_code(6105, Span::default(), "m").with_note("in imported protocol `lib.Q`");
        let text = render_without_source(&d, false);
        assert!(text.starts_with("error[E6105]: m\n"), "{text}");
        assert!(text.contains("= note: in imported protocol `lib.Q`\n"), "{text}");
    }
}
