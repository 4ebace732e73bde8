//! The lexer: source text to tokens with byte spans.
//!
//! Every word is an [`Tok::Ident`]; keywords are recognised by the parser from
//! context, so extension keywords (`within`, `invoke`, `buffer`...) stay usable
//! as role and label names. Comments are `//` to end of line, `/* */`, and
//! nuscr's nestable `(* *)` (which also covers pragmas like `(*# ... #*)`).
//! Errors are collected and the lexer continues after them.

use canon_types::Span;

use crate::diag::{Code, Diagnostic};

/// The kind of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'a> {
    /// A word: identifier or (contextual) keyword, as written in the source.
    Ident(&'a str),
    /// A decimal integer literal.
    Int(u64),
    /// A double-quoted string literal, escapes resolved.
    Str(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `->`
    Arrow,
    /// Any other operator character used inside nuscr refinements
    /// (`x: int{x >= 0 && x != 7}`): one of `= ! & | + - * / % [ ]`.
    Sym(char),
    /// End of input (always the last token).
    Eof,
}

impl Tok<'_> {
    /// How the token is named in "expected ..., found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Eof => "end of input".to_owned(),
            Tok::Sym(c) => format!("`{c}`"),
            other => format!("`{}`", other.punct()),
        }
    }

    fn punct(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::Dot => ".",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Arrow => "->",
            _ => "?",
        }
    }
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token.
    pub tok: Tok<'a>,
    /// Where it was written.
    pub span: Span,
}

/// Splits `src` into tokens (ending with [`Tok::Eof`]) and the lexical errors
/// found on the way. Offsets beyond `u32::MAX` saturate (the parser refuses
/// such inputs before lexing).
pub fn lex(src: &str) -> (Vec<Token<'_>>, Vec<Diagnostic>) {
    // About one token per four bytes of source (a guess that saves the
    // first regrowths; the vector still grows as needed).
    let toks = Vec::with_capacity(src.len() / 4 + 1);
    let mut lx = Lexer { src, pos: 0, toks, diags: Vec::new() };
    lx.run();
    let end = span(src.len(), src.len());
    lx.toks.push(Token { tok: Tok::Eof, span: end });
    (lx.toks, lx.diags)
}

fn span(start: usize, end: usize) -> Span {
    let c = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    Span { start: c(start), end: c(end) }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<Token<'a>>,
    diags: Vec<Diagnostic>,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn starts(&self, s: &str) -> bool {
        self.src[self.pos..].starts_with(s)
    }

    fn push(&mut self, tok: Tok<'a>, start: usize) {
        self.toks.push(Token { tok, span: span(start, self.pos) });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                // The whole run of whitespace at once.
                let run = self.src[start..].find(|c: char| !c.is_whitespace());
                self.pos = run.map_or(self.src.len(), |i| start + i);
            } else if c == '/' && self.starts("//") {
                self.pos = self.src[start..].find('\n').map_or(self.src.len(), |i| start + i);
            } else if c == '/' && self.starts("/*") {
                self.block_comment();
            } else if c == '(' && self.starts("(*") {
                self.nested_comment();
            } else if c.is_alphabetic() || c == '_' {
                self.ident(start);
            } else if c.is_ascii_digit() {
                self.number_or_word(start);
            } else if c == '"' {
                self.string(start);
            } else {
                self.punct(c, start);
            }
        }
    }

    fn unterminated(&mut self, start: usize, what: &str) {
        let d =
            Diagnostic::new(Code::UnterminatedComment, span(start, start + 2), format!("unterminated {what} comment"))
                .with_note("the comment runs to the end of the file");
        self.diags.push(d);
        self.pos = self.src.len();
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        match self.src[start + 2..].find("*/") {
            Some(i) => self.pos = start + 2 + i + 2,
            None => self.unterminated(start, "`/*`"),
        }
    }

    fn nested_comment(&mut self) {
        let start = self.pos;
        let mut depth = 0usize;
        while self.pos < self.src.len() {
            if self.starts("(*") {
                depth += 1;
                self.pos += 2;
            } else if self.starts("*)") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += self.peek().map_or(1, char::len_utf8);
            }
        }
        self.unterminated(start, "`(*`");
    }

    fn ident(&mut self, start: usize) {
        let len =
            self.src[start..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(self.src.len() - start);
        self.pos = start + len;
        let src = self.src;
        self.push(Tok::Ident(&src[start..self.pos]), start);
    }

    /// Digits alone are an integer; digits followed by letters (`2xx`, a
    /// Scribble message operator) are a word.
    fn number_or_word(&mut self, start: usize) {
        let digits = self.src[start..].find(|c: char| !c.is_ascii_digit()).unwrap_or(self.src.len() - start);
        let next = self.src[start + digits..].chars().next();
        if next.is_some_and(|c| c.is_alphabetic() || c == '_') {
            self.ident(start);
        } else {
            self.int(start);
        }
    }

    fn int(&mut self, start: usize) {
        let len = self.src[start..].find(|c: char| !c.is_ascii_digit()).unwrap_or(self.src.len() - start);
        self.pos = start + len;
        let text = &self.src[start..self.pos];
        match text.parse::<u64>() {
            Ok(n) => self.push(Tok::Int(n), start),
            Err(_) => {
                let msg = format!("integer `{text}` is too large");
                self.diags.push(Diagnostic::new(Code::InvalidToken, span(start, self.pos), msg));
                self.push(Tok::Int(u64::MAX), start);
            }
        }
    }

    fn string(&mut self, start: usize) {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = start + 1 + i + 1;
                    self.push(Tok::Str(out), start);
                    return;
                }
                '\n' => break,
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        let end = self.src[start..].find('\n').map_or(self.src.len(), |i| start + i);
        self.diags.push(Diagnostic::new(Code::InvalidToken, span(start, start + 1), "unterminated string literal"));
        self.pos = end;
    }

    fn punct(&mut self, c: char, start: usize) {
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            ',' => Tok::Comma,
            ';' => Tok::Semi,
            ':' => Tok::Colon,
            '.' => Tok::Dot,
            '<' => Tok::Lt,
            '>' => Tok::Gt,
            '-' if self.starts("->") => {
                self.pos += 2;
                self.push(Tok::Arrow, start);
                return;
            }
            '=' | '!' | '&' | '|' | '+' | '-' | '*' | '/' | '%' | '[' | ']' => Tok::Sym(c),
            _ => {
                self.pos += c.len_utf8();
                let msg = format!("unexpected character `{}`", c.escape_default());
                self.diags.push(Diagnostic::new(Code::InvalidToken, span(start, self.pos), msg));
                return;
            }
        };
        self.pos += 1;
        self.push(tok, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok<'_>> {
        let (toks, diags) = lex(src);
        assert!(diags.is_empty(), "{diags:?}");
        toks.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_numbers_strings_and_punctuation() {
        let ks = kinds("Quote(x: Int) from S to A, B within 5; buffer A -> B \"a\\\"b\" <java>.{}");
        let id = |s| Tok::Ident(s);
        let want = vec![
            id("Quote"),
            Tok::LParen,
            id("x"),
            Tok::Colon,
            id("Int"),
            Tok::RParen,
            id("from"),
            id("S"),
            id("to"),
            id("A"),
            Tok::Comma,
            id("B"),
            id("within"),
            Tok::Int(5),
            Tok::Semi,
            id("buffer"),
            id("A"),
            Tok::Arrow,
            id("B"),
            Tok::Str("a\"b".to_owned()),
            Tok::Lt,
            id("java"),
            Tok::Gt,
            Tok::Dot,
            Tok::LBrace,
            Tok::RBrace,
            Tok::Eof,
        ];
        assert_eq!(ks, want);
    }

    #[test]
    fn comments_of_all_three_kinds_and_nesting() {
        let ks = kinds("a // x\n b /* y ( * */ c (* (* z *) (*# P #*) *) d (*# NestedProtocols #*)");
        let id = |s| Tok::Ident(s);
        assert_eq!(ks, vec![id("a"), id("b"), id("c"), id("d"), Tok::Eof]);
    }

    #[test]
    fn digit_words_and_refinement_operators() {
        let ks = kinds("250() 2xx x>=0 && y!=1");
        let id = |s| Tok::Ident(s);
        let want = vec![
            Tok::Int(250),
            Tok::LParen,
            Tok::RParen,
            id("2xx"),
            id("x"),
            Tok::Gt,
            Tok::Sym('='),
            Tok::Int(0),
            Tok::Sym('&'),
            Tok::Sym('&'),
            id("y"),
            Tok::Sym('!'),
            Tok::Sym('='),
            Tok::Int(1),
            Tok::Eof,
        ];
        assert_eq!(ks, want);
    }

    #[test]
    fn spans_are_byte_ranges() {
        let (toks, _) = lex("  ab ->");
        assert_eq!(toks[0].span, Span { start: 2, end: 4 });
        assert_eq!(toks[1].span, Span { start: 5, end: 7 });
        assert_eq!(toks[2].span, Span { start: 7, end: 7 });
    }

    #[test]
    fn errors_are_reported_and_lexing_continues() {
        let (toks, diags) = lex("a # b \"open\n c 99999999999999999999999 (* x");
        let codes: Vec<u16> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![6002, 6002, 6002, 6014]);
        assert_eq!(diags[0].span, Span { start: 2, end: 3 });
        let names: Vec<_> =
            toks.iter().filter_map(|t| if let Tok::Ident(s) = t.tok { Some(s) } else { None }).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        let (_, diags) = lex("x /* never closed");
        assert_eq!(diags[0].code, 6014);
        assert_eq!(diags[0].span, Span { start: 2, end: 4 });
    }
}
