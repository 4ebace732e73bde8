//! Diagnostics: stable codes (6001..=6099), spans, and rustc-style rendering.
//!
//! A [`Diagnostic`] points at a byte [`Span`] of the source; [`Diagnostics`]
//! keeps the file name and source text so that it can render every entry as
//!
//! ```text
//! shop.canon:4:32: error[E6003]: unknown role `Selr` in message
//!   |
//! 4 |   Title(String) from Buyer1 to Selr;
//!   |                                ^^^^
//!   = note: the declared roles are Buyer1, Buyer2, Seller
//! ```

use std::fmt;

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

/// One error found in a choreography source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code (6001..=6099 here; 61xx from projection).
    pub code: u16,
    /// One line saying what is wrong.
    pub message: String,
    /// Where, as a byte range of the source.
    pub span: Span,
    /// Extra lines rendered as `= note: ...`.
    pub notes: Vec<String>,
    /// Suggestions rendered as `= help: ...` (after the notes).
    pub help: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic with one of this crate's codes.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic { code: code.number(), message: message.into(), span, notes: Vec::new(), help: Vec::new() }
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

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo (Jaro-Winkler similarity of at least 0.8, or one edit away in a word
/// of three or more characters), and not
/// `word` itself. Ties go to the first candidate, so the answer is
/// deterministic.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let score = strsim::jaro_winkler(word, c);
        // One edit is a typo only in a word long enough for one edit not to
        // turn it into any other short name (`C` is not a typo of `B`).
        let close = score >= 0.8 || (word.chars().count() >= 3 && strsim::damerau_levenshtein(word, c) <= 1);
        if close && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

impl ErrorCode for Diagnostic {
    fn code(&self) -> u16 {
        self.code
    }
}

/// The diagnostics of one source file, with the file name and text needed to
/// render them. `Display` renders them all, separated by blank lines.
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

    /// Renders every diagnostic, rustc style.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            render_one(&mut out, &self.file_name, &self.source_text, d);
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

fn render_one(out: &mut String, file: &str, src: &str, d: &Diagnostic) {
    use std::fmt::Write as _;
    let start = floor_boundary(src, d.span.start as usize);
    let (line, col) = line_col(src, start);
    let _ = writeln!(out, "{file}:{line}:{col}: error[E{}]: {}", d.code, d.message);
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    let text = src[line_start..line_end].trim_end_matches('\r');
    let gutter = " ".repeat(line.to_string().len());
    let end = floor_boundary(src, (d.span.end as usize).max(start)).min(line_start + text.len());
    let pad: String = src[line_start..start].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let width = src[start.min(end)..end].chars().count().max(1);
    let _ = writeln!(out, "{gutter} |");
    let _ = writeln!(out, "{line} | {text}");
    let _ = writeln!(out, "{gutter} | {pad}{}", "^".repeat(width));
    for note in &d.notes {
        let _ = writeln!(out, "{gutter} = note: {note}");
    }
    for help in &d.help {
        let _ = writeln!(out, "{gutter} = help: {help}");
    }
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
    fn renders_location_line_and_caret() {
        let src = "a\n\tFoo() from A to Selr;\n";
        let start = src.find("Selr").unwrap() as u32;
        let d = Diagnostic::new(Code::UnknownRole, Span { start, end: start + 4 }, "unknown role `Selr`")
            .with_note("declared roles: A, B");
        let text = Diagnostics::new("x.canon", src, vec![d]).render();
        let want = "x.canon:2:18: error[E6003]: unknown role `Selr`\n  |\n2 | \tFoo() from A to Selr;\n  \
                    | \t                ^^^^\n  = note: declared roles: A, B\n";
        assert_eq!(text, want);
    }

    #[test]
    fn suggests_the_closest_name_only_when_close() {
        assert_eq!(did_you_mean("Bider2", ["A", "Bider"]), Some("Bider"));
        assert_eq!(did_you_mean("chioce", ["choice", "continue", "rec"]), Some("choice"));
        assert_eq!(did_you_mean("Selr", ["Buyer1", "Buyer2", "Seller"]), Some("Seller"));
        assert_eq!(did_you_mean("Zebra", ["Buyer1", "Seller"]), None);
        assert_eq!(did_you_mean("A", ["A"]), None);
        assert_eq!(did_you_mean("C", ["A", "B"]), None);
        let d = Diagnostic::new(Code::UnknownRole, Span { start: 0, end: 1 }, "m").with_suggestion("Bidr", ["Bid"]);
        let text = Diagnostics::new("f", "x", vec![d]).render();
        assert!(
            text.ends_with(
                "  = help: did you mean `Bid`?
"
            ),
            "{text}"
        );
    }

    #[test]
    fn renders_at_end_of_input_and_out_of_range_spans() {
        let src = "héllo";
        let d = Diagnostic::new(Code::UnexpectedToken, Span { start: 2, end: 900 }, "x");
        let text = Diagnostics::new("f", src, vec![d]).render();
        assert!(text.starts_with("f:1:2: error[E6001]: x\n"), "{text}");
        let d = Diagnostic::new(Code::UnexpectedToken, Span { start: 900, end: 901 }, "eof");
        let text = Diagnostics::new("f", src, vec![d]).render();
        assert!(text.starts_with("f:1:6: "), "{text}");
        assert!(text.ends_with("|      ^\n"), "{text:?}");
    }
}
