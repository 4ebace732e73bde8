//! The `.casm` tokenizer: one source line at a time, with 1-based columns.

use super::{AsmError, AsmErrorKind};

/// One token of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: `[A-Za-z_][A-Za-z0-9_]*`.
    Ident(String),
    /// A raw id: `sym#7`, `type#3`, `reg#12`, ...
    Raw(String, u64),
    /// A quoted string with escapes resolved.
    Str(String),
    /// A byte string `x"0a0b"`.
    Bytes(Vec<u8>),
    /// An integer literal (decimal or `0x` hex, optional leading `-`).
    Int(i128),
    /// A raw instruction index `@5`.
    Target(u64),
    /// `.name` as the first token of a line.
    Directive(String),
    /// One of `, [ ] ( ) { } : = ! ? .`
    Punct(char),
    /// `->`
    Arrow,
}

/// A token and the column where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: u32,
}

/// The tokens of one non-empty source line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// 1-based line number.
    pub no: u32,
    pub toks: Vec<Token>,
    /// The column just past the last character (where "end of line" errors point).
    pub end_col: u32,
}

impl Line {
    /// An error at column `col` of this line.
    pub fn err(&self, col: u32, kind: AsmErrorKind) -> AsmError {
        AsmError { line: self.no, col, kind }
    }
}

/// Tokenizes every line of `src`, dropping lines that hold only blanks and comments.
pub(crate) fn lex(src: &str) -> Result<Vec<Line>, AsmError> {
    let mut lines = Vec::new();
    for (i, text) in src.split('\n').enumerate() {
        let no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let chars: Vec<char> = text.strip_suffix('\r').unwrap_or(text).chars().collect();
        let toks = Lexer { chars: &chars, pos: 0, no }.run()?;
        if !toks.is_empty() {
            lines.push(Line { no, toks, end_col: col_of(chars.len()) });
        }
    }
    Ok(lines)
}

fn col_of(pos: usize) -> u32 {
    u32::try_from(pos + 1).unwrap_or(u32::MAX)
}

/// Whether `c` may continue a name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `s` can be written as a bare name (otherwise it is quoted).
pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(is_name_char)
}

/// Writes `s` as a quoted string literal that [`lex`] reads back exactly.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    no: u32,
}

impl Lexer<'_> {
    fn err(&self, pos: usize, kind: AsmErrorKind) -> AsmError {
        AsmError { line: self.no, col: col_of(pos), kind }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn run(mut self) -> Result<Vec<Token>, AsmError> {
        let mut toks = Vec::new();
        while let Some(c) = self.peek(0) {
            if c == ';' {
                break;
            }
            if c.is_whitespace() {
                self.pos += 1;
                continue;
            }
            let start = self.pos;
            let tok = self.token(c, toks.is_empty())?;
            toks.push(Token { tok, col: col_of(start) });
        }
        Ok(toks)
    }

    fn token(&mut self, c: char, first: bool) -> Result<Tok, AsmError> {
        match c {
            '"' => self.string().map(Tok::Str),
            '@' => {
                self.pos += 1;
                self.digits().map(Tok::Target)
            }
            '-' if self.peek(1) == Some('>') => {
                self.pos += 2;
                Ok(Tok::Arrow)
            }
            '-' | '0'..='9' => self.number(),
            '.' if first && self.peek(1).is_some_and(|d| d.is_ascii_alphabetic()) => {
                self.pos += 1;
                Ok(Tok::Directive(self.name()))
            }
            ',' | '[' | ']' | '(' | ')' | '{' | '}' | ':' | '=' | '!' | '?' | '.' | '+' => {
                self.pos += 1;
                Ok(Tok::Punct(c))
            }
            c if c.is_ascii_alphabetic() || c == '_' => self.word(),
            c => Err(self.err(self.pos, AsmErrorKind::UnexpectedChar(c))),
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek(0).is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A name, a raw id `kind#N`, or a byte string `x"..."`.
    fn word(&mut self) -> Result<Tok, AsmError> {
        let name = self.name();
        match self.peek(0) {
            Some('#') => {
                self.pos += 1;
                Ok(Tok::Raw(name, self.digits()?))
            }
            Some('"') if name == "x" => self.bytes().map(Tok::Bytes),
            _ => Ok(Tok::Ident(name)),
        }
    }

    /// One or more decimal digits as a `u64`.
    fn digits(&mut self) -> Result<u64, AsmError> {
        let start = self.pos;
        while self.peek(0).is_some_and(is_name_char) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let ok = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
        ok.then(|| text.parse::<u64>().ok()).flatten().ok_or_else(|| self.err(start, AsmErrorKind::BadNumber(text)))
    }

    fn number(&mut self) -> Result<Tok, AsmError> {
        let start = self.pos;
        let negative = self.peek(0) == Some('-');
        if negative {
            self.pos += 1;
        }
        let body_start = self.pos;
        while self.peek(0).is_some_and(is_name_char) {
            self.pos += 1;
        }
        let body: String = self.chars[body_start..self.pos].iter().collect();
        let text: String = self.chars[start..self.pos].iter().collect();
        let magnitude = match body.strip_prefix("0x") {
            Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                u64::from_str_radix(hex, 16).ok()
            }
            Some(_) => None,
            None if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit()) => body.parse::<u64>().ok(),
            None => None,
        };
        let magnitude = magnitude.ok_or_else(|| self.err(start, AsmErrorKind::BadNumber(text)))?;
        let value = i128::from(magnitude);
        Ok(Tok::Int(if negative { -value } else { value }))
    }

    fn string(&mut self) -> Result<String, AsmError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.err(open, AsmErrorKind::UnterminatedString));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, AsmError> {
        let at = self.pos - 1;
        let bad = |s: &Self| s.err(at, AsmErrorKind::BadEscape);
        let c = self.peek(0).ok_or_else(|| bad(self))?;
        self.pos += 1;
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '0' => '\0',
            'u' => {
                if self.peek(0) != Some('{') {
                    return Err(bad(self));
                }
                self.pos += 1;
                let start = self.pos;
                while self.peek(0).is_some_and(|d| d.is_ascii_hexdigit()) && self.pos - start < 6 {
                    self.pos += 1;
                }
                let hex: String = self.chars[start..self.pos].iter().collect();
                if self.peek(0) != Some('}') {
                    return Err(bad(self));
                }
                self.pos += 1;
                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or_else(|| bad(self))?
            }
            _ => return Err(bad(self)),
        })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, AsmError> {
        let open = self.pos - 1;
        self.pos += 1;
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c != '"') {
            self.pos += 1;
        }
        if self.peek(0).is_none() {
            return Err(self.err(open, AsmErrorKind::UnterminatedString));
        }
        let hex = &self.chars[start..self.pos];
        self.pos += 1;
        if !hex.len().is_multiple_of(2) || !hex.iter().all(char::is_ascii_hexdigit) {
            return Err(self.err(open, AsmErrorKind::BadBytes));
        }
        Ok(hex
            .chunks(2)
            .map(|pair| {
                let digit = |c: char| c.to_digit(16).unwrap_or(0) as u8;
                digit(pair[0]) << 4 | digit(pair[1])
            })
            .collect())
    }
}
