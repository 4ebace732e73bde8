//! A cursor over the tokens of one line (or one operand of it), with the small
//! parsers every directive and instruction shares.

use super::lex::{Line, Tok, Token};
use super::{AsmError, AsmErrorKind};

/// Reads tokens `toks` of `line` left to right. `end_col` is where an
/// "unexpected end" error points (the end of the line or the next comma).
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    pub line: &'a Line,
    toks: &'a [Token],
    pos: usize,
    end_col: u32,
}

/// A short description of a token for error messages.
pub(crate) fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Raw(kind, n) => format!("`{kind}#{n}`"),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Bytes(_) => "a byte string".to_owned(),
        Tok::Int(n) => format!("`{n}`"),
        Tok::Target(n) => format!("`@{n}`"),
        Tok::Directive(d) => format!("`.{d}`"),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Arrow => "`->`".to_owned(),
    }
}

fn closer(c: char) -> Option<char> {
    match c {
        '[' => Some(']'),
        '(' => Some(')'),
        '{' => Some('}'),
        _ => None,
    }
}

impl<'a> Cursor<'a> {
    /// A cursor over the whole of `line`, starting after `skip` tokens.
    pub fn new(line: &'a Line, skip: usize) -> Self {
        let toks = line.toks.get(skip..).unwrap_or(&[]);
        Cursor { line, toks, pos: 0, end_col: line.end_col }
    }

    /// The column of the current token (or the end).
    pub fn col(&self) -> u32 {
        self.toks.get(self.pos).map_or(self.end_col, |t| t.col)
    }

    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Moves back one token (to point an error at the token just read).
    pub fn step_back(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// Consumes and returns the current token.
    pub fn bump(&mut self) -> Option<&'a Tok> {
        let tok = self.peek();
        if tok.is_some() {
            self.pos += 1;
        }
        tok
    }

    /// An error at the current token.
    pub fn err(&self, kind: AsmErrorKind) -> AsmError {
        self.line.err(self.col(), kind)
    }

    /// "expected X, found Y" at the current token.
    pub fn expected(&self, what: &'static str) -> AsmError {
        let found = self.peek().map_or_else(|| "end of operand".to_owned(), describe);
        self.err(AsmErrorKind::Expected { what, found })
    }

    /// Requires that every token was consumed.
    pub fn finish(&self) -> Result<(), AsmError> {
        if self.at_end() { Ok(()) } else { Err(self.expected("end of operand")) }
    }

    pub fn eat_punct(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Tok::Punct(c));
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub fn punct(&mut self, c: char, what: &'static str) -> Result<(), AsmError> {
        if self.eat_punct(c) { Ok(()) } else { Err(self.expected(what)) }
    }

    pub fn arrow(&mut self) -> Result<(), AsmError> {
        if self.peek() == Some(&Tok::Arrow) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected("`->`"))
        }
    }

    /// Consumes the bare word `kw` if it is next.
    pub fn eat_keyword(&mut self, kw: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Ident(s)) if s == kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub fn keyword(&mut self, kw: &str, what: &'static str) -> Result<(), AsmError> {
        if self.eat_keyword(kw) { Ok(()) } else { Err(self.expected(what)) }
    }

    /// A bare word.
    pub fn ident(&mut self, what: &'static str) -> Result<&'a str, AsmError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// An integer literal that fits `T`.
    pub fn number<T: TryFrom<i128>>(&mut self, what: &'static str) -> Result<T, AsmError> {
        match self.peek() {
            Some(Tok::Int(n)) => {
                let value = T::try_from(*n).map_err(|_| self.err(AsmErrorKind::BadNumber(n.to_string())))?;
                self.pos += 1;
                Ok(value)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Splits the remaining tokens at top-level commas into one cursor per
    /// operand. No tokens give no operands.
    pub fn operands(&self) -> Vec<Cursor<'a>> {
        let rest = &self.toks[self.pos.min(self.toks.len())..];
        if rest.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        for (i, t) in rest.iter().enumerate() {
            match t.tok {
                Tok::Punct(c) if closer(c).is_some() => depth += 1,
                Tok::Punct(']' | ')' | '}') => depth = depth.saturating_sub(1),
                Tok::Punct(',') if depth == 0 => {
                    out.push(self.sub(&rest[start..i], t.col));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(self.sub(&rest[start..], self.end_col));
        out
    }

    fn sub(&self, toks: &'a [Token], end_col: u32) -> Cursor<'a> {
        Cursor { line: self.line, toks, pos: 0, end_col }
    }

    /// A cursor with nothing left to read, ending where `self` ends.
    pub fn exhausted(&self) -> Cursor<'a> {
        Cursor { line: self.line, toks: &[], pos: 0, end_col: self.end_col }
    }

    /// A bracketed, comma-separated list `[a, b]`: one cursor per item.
    pub fn list(&mut self) -> Result<Vec<Cursor<'a>>, AsmError> {
        self.group('[', "`[`")
    }

    /// A group opened by `open` (`[`, `(` or `{`) up to its matching closer:
    /// one cursor per comma-separated item.
    pub fn group(&mut self, open: char, what: &'static str) -> Result<Vec<Cursor<'a>>, AsmError> {
        let open_col = self.col();
        self.punct(open, what)?;
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(tok) = self.bump() {
            match tok {
                Tok::Punct(c) if closer(*c).is_some() => depth += 1,
                Tok::Punct(']' | ')' | '}') => {
                    depth -= 1;
                    if depth == 0 {
                        let close = &self.toks[self.pos - 1];
                        if close.tok != Tok::Punct(closer(open).unwrap_or(open)) {
                            return Err(self.line.err(close.col, AsmErrorKind::Unbalanced));
                        }
                        let inner = self.sub(&self.toks[start..self.pos - 1], close.col);
                        return Ok(inner.operands());
                    }
                }
                _ => {}
            }
        }
        Err(self.line.err(open_col, AsmErrorKind::Unbalanced))
    }
}
