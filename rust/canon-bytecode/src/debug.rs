//! The optional debug section: for every instruction, the place in the
//! choreography source it was compiled from (a source map). Byte layout:
//! `bytecode-spec/format.md`, section 6.
//!
//! Debug information never changes what a program does: the verifier ignores
//! it, the machine never reads it, and the program digest leaves it out
//! ([`crate::Module::digest`]), so a program compiled with or without a
//! source map is the same program to a replay. Tools read it to name
//! `file:line:col` and the protocol statement of a faulting instruction.

use std::fmt;

/// The longest source file name the decoder accepts, in bytes.
pub const MAX_DEBUG_FILE_NAME_BYTES: usize = 4096;

/// The longest statement text the decoder accepts, in bytes;
/// [`SourceSpan::new`] shortens longer statements to fit.
pub const MAX_DEBUG_STATEMENT_BYTES: usize = 256;

/// The span index of an instruction that has no source position.
pub const NO_SPAN: u32 = u32::MAX;

/// A module's source map: source files, source positions, and, per procedure
/// and instruction, the position it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DebugInfo {
    /// Source file names, referred to by [`SourceSpan::file`].
    pub files: Vec<String>,
    /// Source positions, referred to by index from [`DebugInfo::procs`].
    pub spans: Vec<SourceSpan>,
    /// For procedure `p` and instruction `pc`, `procs[p][pc]` is an index in
    /// [`DebugInfo::spans`], or [`NO_SPAN`]. One list per procedure of the
    /// module, as long as its code.
    pub procs: Vec<Vec<u32>>,
}

/// One source position: a file, a 1-based line and column (in characters),
/// and the text of the protocol statement found there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceSpan {
    /// Index in [`DebugInfo::files`].
    pub file: u32,
    /// Line, counted from 1.
    pub line: u32,
    /// Column, counted from 1 in characters.
    pub col: u32,
    /// The statement's source text, whitespace collapsed, at most
    /// [`MAX_DEBUG_STATEMENT_BYTES`] bytes.
    pub statement: String,
}

impl SourceSpan {
    /// A span whose statement text has its whitespace runs collapsed to one
    /// space and is shortened (on a character boundary, ending in `…`) to
    /// fit [`MAX_DEBUG_STATEMENT_BYTES`].
    pub fn new(file: u32, line: u32, col: u32, statement: &str) -> SourceSpan {
        // Collapsed word by word; words past the limit would be cut anyway.
        let mut text = String::with_capacity(statement.len().min(MAX_DEBUG_STATEMENT_BYTES + 1));
        for word in statement.split_whitespace() {
            if text.len() > MAX_DEBUG_STATEMENT_BYTES {
                break;
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        if text.len() > MAX_DEBUG_STATEMENT_BYTES {
            let ellipsis = '…';
            let mut cut = MAX_DEBUG_STATEMENT_BYTES - ellipsis.len_utf8();
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push(ellipsis);
        }
        SourceSpan { file, line, col, statement: text }
    }
}

/// Where an instruction came from, resolved: what [`DebugInfo::locate`] returns.
/// Displays as `file:line:col` followed by the statement in backquotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLoc<'a> {
    /// The source file name.
    pub file: &'a str,
    /// Line, counted from 1.
    pub line: u32,
    /// Column, counted from 1.
    pub col: u32,
    /// The protocol statement's text.
    pub statement: &'a str,
}

impl fmt::Display for SourceLoc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)?;
        if !self.statement.is_empty() {
            write!(f, " `{}`", self.statement)?;
        }
        Ok(())
    }
}

impl DebugInfo {
    /// The source position of instruction `pc` of procedure `proc`, if the
    /// map has one. Total: any index that is out of range yields `None`.
    pub fn locate(&self, proc: u32, pc: u32) -> Option<SourceLoc<'_>> {
        let index = *self.procs.get(proc as usize)?.get(pc as usize)?;
        let span = self.spans.get(index as usize)?;
        let file = self.files.get(span.file as usize)?;
        Some(SourceLoc { file, line: span.line, col: span.col, statement: &span.statement })
    }
}

impl crate::Module {
    /// The source position of instruction `pc` of procedure `proc`, when the
    /// module carries a source map (a compiled choreography does; an
    /// assembled `.casm` program does not).
    pub fn source_of(&self, proc: u32, pc: u32) -> Option<SourceLoc<'_>> {
        self.debug.as_ref()?.locate(proc, pc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement text as specified: whitespace runs collapsed, then cut
    /// on a character boundary with `…`.
    fn reference(statement: &str) -> String {
        let text = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.len() <= MAX_DEBUG_STATEMENT_BYTES {
            return text;
        }
        let mut cut = MAX_DEBUG_STATEMENT_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &text[..cut])
    }

    #[test]
    fn statements_are_collapsed_and_cut_as_specified() {
        let long_words = "Msg(Int) from A to B;\n\t ".repeat(40);
        let accented = "é ".repeat(300);
        let one_word = "x".repeat(600);
        let near_limit = format!("{} {}", "a".repeat(MAX_DEBUG_STATEMENT_BYTES - 1), "bc");
        let at_limit = format!("{} b", "a".repeat(MAX_DEBUG_STATEMENT_BYTES - 2));
        for s in ["", "  ", " a  b\n c ", "choice at A {\n  One() from A to B;\n}", &long_words, &accented]
            .into_iter()
            .chain([one_word.as_str(), &near_limit, &at_limit])
        {
            let got = SourceSpan::new(0, 1, 1, s).statement;
            assert_eq!(got, reference(s), "{s:?}");
            assert!(got.len() <= MAX_DEBUG_STATEMENT_BYTES);
        }
    }
}
