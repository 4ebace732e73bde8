//! The recursive-descent parser: tokens to [`crate::ast::File`].
//!
//! This file holds the token cursor, error recovery and the top-level
//! declarations; protocol bodies are parsed in `body`. The parser reports
//! every error it can recover from (up to [`MAX_DIAGNOSTICS`]) and never
//! recurses deeper than [`MAX_NESTING`] blocks.

mod body;

use canon_types::Span;

use crate::ast::{File, Ident, Import, ParamKind, ProtoParam, ProtocolDecl, QualName, TypeDecl, TypeDeclKind};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::lexer::{Tok, Token, lex};

/// The deepest nesting of `{ }` blocks the parser accepts.
pub const MAX_NESTING: usize = 64;
/// The parser stops after this many diagnostics.
pub const MAX_DIAGNOSTICS: usize = 50;
/// The largest source accepted, in bytes (spans are `u32`).
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// Parses a choreography file. On failure returns every diagnostic found
/// (lexical and syntactic), in source order.
pub fn parse(file_name: &str, src: &str) -> Result<File, Diagnostics> {
    if src.len() > MAX_SOURCE_BYTES {
        let d = Diagnostic::new(Code::InvalidToken, Span::default(), "source file is too large")
            .with_note(format!("the limit is {MAX_SOURCE_BYTES} bytes"));
        return Err(Diagnostics::new(file_name, "", vec![d]));
    }
    let (toks, lex_diags) = lex(src);
    let mut p = Parser { src, toks, pos: 0, diags: Vec::new(), depth: 0, prev_end: 0 };
    let file = p.file();
    if p.diags.is_empty() && lex_diags.is_empty() {
        return Ok(file);
    }
    // Syntax errors after a lexical error are most often its echo (the rest
    // of an unterminated comment, the word after a stray character): keep
    // only those before it, and no unclosed block (the end of input it met
    // is the lexical error's doing).
    let first_lex = lex_diags.iter().map(|d| d.span.start).min().unwrap_or(u32::MAX);
    let lexed = lex_diags.is_empty();
    let mut items = lex_diags;
    items.extend(
        p.diags.into_iter().filter(|d| d.span.start < first_lex && (lexed || !d.message.starts_with(UNCLOSED))),
    );
    items.truncate(MAX_DIAGNOSTICS);
    Err(Diagnostics::new(file_name, src, items))
}

/// Marks a parse failure whose diagnostic is already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported;

type PResult<T> = Result<T, Reported>;

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token<'a>>,
    pos: usize,
    diags: Vec<Diagnostic>,
    depth: usize,
    prev_end: u32,
}

const DECL_KEYWORDS: &[&str] =
    &["module", "import", "type", "data", "sig", "global", "aux", "explicit", "local", "nested"];

/// How the message of an unclosed-block diagnostic begins.
pub(crate) const UNCLOSED: &str = "unclosed `{`";

/// Every keyword, for "did you mean" on a misspelt one.
const KEYWORDS: &[&str] = &[
    "module",
    "import",
    "type",
    "data",
    "sig",
    "global",
    "aux",
    "explicit",
    "protocol",
    "role",
    "choice",
    "at",
    "or",
    "rec",
    "continue",
    "do",
    "from",
    "to",
    "buffer",
    "within",
    "invoke",
    "check",
    "par",
    "and",
    "as",
    "local",
    "nested",
    "connect",
    "disconnect",
];

impl<'a> Parser<'a> {
    fn tok(&self) -> &Tok<'a> {
        self.tok_at(0)
    }

    fn tok_at(&self, n: usize) -> &Tok<'a> {
        let last = self.toks.len() - 1;
        &self.toks[(self.pos + n).min(last)].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].span
    }

    /// Moves past the current token; returns its span.
    fn bump(&mut self) -> Span {
        let span = self.span();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        self.prev_end = span.end;
        span
    }

    /// A span from `start` to the end of the last consumed token.
    fn since(&self, start: Span) -> Span {
        Span { start: start.start, end: self.prev_end.max(start.start) }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.tok(), Tok::Ident(s) if *s == kw)
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.tok_at(n), Tok::Ident(s) if *s == kw)
    }

    fn too_many(&self) -> bool {
        self.diags.len() >= MAX_DIAGNOSTICS
    }

    fn report(&mut self, d: Diagnostic) -> Reported {
        if !self.too_many() {
            self.diags.push(d);
        }
        Reported
    }

    /// Records "expected {what}, found {token}" at the current token, with
    /// "did you mean" when the previous word is a misspelt keyword.
    fn expected(&mut self, what: &str) -> Reported {
        let msg = format!("expected {what}, found {}", self.tok().describe());
        let mut d = Diagnostic::new(Code::UnexpectedToken, self.span(), msg);
        if let Some(Tok::Ident(prev)) = self.pos.checked_sub(1).map(|i| &self.toks[i].tok)
            && let Some(kw) = crate::diag::did_you_mean(prev, KEYWORDS.iter().copied())
        {
            d = d.with_help(format!("`{prev}` is not a keyword; did you mean `{kw}`?"));
        }
        self.report(d)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> PResult<Span> {
        if *self.tok() == tok {
            return Ok(self.bump());
        }
        if tok == Tok::Semi && self.pos > 0 {
            // The `;` belongs right after the statement that lacks it, not at
            // the next token (often on the next line).
            let at = Span { start: self.prev_end, end: self.prev_end + 1 };
            let msg = format!("expected `;` after this statement, found {}", self.tok().describe());
            let d =
                Diagnostic::new(Code::UnexpectedToken, at, msg).with_label("expected `;`").with_help("add `;` here");
            return Err(self.report(d));
        }
        Err(self.expected(what))
    }

    fn expect_kw(&mut self, kw: &str) -> PResult<Span> {
        if self.is_kw(kw) { Ok(self.bump()) } else { Err(self.expected(&format!("`{kw}`"))) }
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.tok() {
            Tok::Ident(name) => {
                let name = (*name).to_owned();
                Ok(Ident { name, span: self.bump() })
            }
            _ => Err(self.expected(what)),
        }
    }

    fn string(&mut self, what: &str) -> PResult<String> {
        match self.tok() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// An integer literal that fits in `u32`.
    fn int_u32(&mut self, what: &str) -> PResult<(u32, Span)> {
        let Tok::Int(n) = *self.tok() else { return Err(self.expected(what)) };
        let span = self.bump();
        match u32::try_from(n) {
            Ok(v) => Ok((v, span)),
            Err(_) => Err(self.report(Diagnostic::new(
                Code::InvalidToken,
                span,
                format!("{what} {n} does not fit in 32 bits"),
            ))),
        }
    }

    fn qual_name(&mut self, what: &str) -> PResult<QualName> {
        let first = self.ident(what)?;
        let start = first.span;
        let mut parts = vec![first];
        while *self.tok() == Tok::Dot {
            self.bump();
            parts.push(self.ident("a name after `.`")?);
        }
        Ok(QualName { parts, span: self.since(start) })
    }

    fn file(&mut self) -> File {
        let mut file =
            File { module: None, imports: Vec::new(), types: Vec::new(), protocols: Vec::new(), span: Span::default() };
        while *self.tok() != Tok::Eof && !self.too_many() {
            let before = self.pos;
            if self.decl(&mut file).is_err() {
                self.sync_decl(before);
            }
        }
        file.span = Span { start: 0, end: self.span().end };
        file
    }

    fn decl(&mut self, file: &mut File) -> PResult<()> {
        let start = self.span();
        if self.is_kw("module") {
            self.bump();
            let name = self.qual_name("a module name")?;
            self.expect(Tok::Semi, "`;`")?;
            if file.module.is_some() || !file.protocols.is_empty() || !file.imports.is_empty() {
                let d = Diagnostic::new(Code::UnexpectedToken, start, "`module` must be the first declaration, once");
                return Err(self.report(d));
            }
            file.module = Some(name);
        } else if self.is_kw("import") {
            self.bump();
            let name = self.qual_name("a module name")?;
            let alias = if self.is_kw("as") {
                self.bump();
                Some(self.ident("an alias name")?)
            } else {
                None
            };
            self.expect(Tok::Semi, "`;`")?;
            file.imports.push(Import { name, alias, span: self.since(start) });
        } else if self.is_kw("type") || self.is_kw("data") || self.is_kw("sig") {
            let decl = self.type_decl()?;
            file.types.push(decl);
        } else {
            let decl = self.protocol_decl()?;
            file.protocols.push(decl);
        }
        Ok(())
    }

    fn type_decl(&mut self) -> PResult<TypeDecl> {
        let start = self.span();
        let kind = match self.tok() {
            Tok::Ident("data") => TypeDeclKind::Data,
            Tok::Ident("sig") => TypeDeclKind::Sig,
            _ => TypeDeclKind::Type,
        };
        self.bump();
        self.expect(Tok::Lt, "`<`")?;
        let schema = self.ident("a schema name such as `java`")?;
        self.expect(Tok::Gt, "`>`")?;
        let extern_name = self.string("the external type name, a string")?;
        self.expect_kw("from")?;
        let source = self.string("the type's source, a string")?;
        self.expect_kw("as")?;
        let alias = self.ident("the type's name")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(TypeDecl { kind, schema, extern_name, source, alias, span: self.since(start) })
    }

    fn protocol_decl(&mut self) -> PResult<ProtocolDecl> {
        let start = self.span();
        let (mut aux, mut explicit) = (false, false);
        loop {
            if self.is_kw("aux") && !aux {
                aux = true;
            } else if self.is_kw("explicit") && !explicit {
                explicit = true;
            } else {
                break;
            }
            self.bump();
        }
        if (self.is_kw("local") || self.is_kw("nested")) && self.is_kw_at(1, "protocol") {
            let kw = self.tok().describe();
            let msg = format!("{kw} protocols are a Scribble/nuscr construct canon does not support");
            let note = "see the compatibility table in docs/language.md";
            return Err(self.report(Diagnostic::new(Code::Unsupported, self.span(), msg).with_note(note)));
        }
        if !self.is_kw("global") {
            return Err(self.expected("a declaration (`module`, `import`, `type`, `global protocol`)"));
        }
        self.bump();
        self.expect_kw("protocol")?;
        let name = self.ident("a protocol name")?;
        let params = self.param_decls()?;
        let roles = self.role_decls()?;
        let mut buffers = Vec::new();
        let body = self.block(Some(&mut buffers))?;
        Ok(ProtocolDecl { name, aux, explicit, params, roles, buffers, body, span: self.since(start) })
    }

    /// `<sig M, type T>` after a protocol name (absent: no parameters).
    fn param_decls(&mut self) -> PResult<Vec<ProtoParam>> {
        let mut params = Vec::new();
        if *self.tok() != Tok::Lt {
            return Ok(params);
        }
        self.bump();
        loop {
            let kind = if self.is_kw("sig") {
                ParamKind::Sig
            } else if self.is_kw("type") {
                ParamKind::Type
            } else {
                return Err(self.expected("`sig` or `type` (a protocol parameter)"));
            };
            self.bump();
            params.push(ProtoParam { kind, name: self.ident("a parameter name")? });
            if *self.tok() != Tok::Comma {
                break;
            }
            self.bump();
        }
        self.expect(Tok::Gt, "`,` or `>`")?;
        Ok(params)
    }

    fn role_decls(&mut self) -> PResult<Vec<Ident>> {
        self.expect(Tok::LParen, "`(` and the role list")?;
        let mut roles = Vec::new();
        if *self.tok() != Tok::RParen {
            loop {
                self.expect_kw("role")?;
                roles.push(self.ident("a role name")?);
                if *self.tok() != Tok::Comma {
                    break;
                }
                self.bump();
            }
        }
        self.expect(Tok::RParen, "`,` or `)`")?;
        Ok(roles)
    }

    /// After a failed declaration: skips to the next declaration keyword at
    /// brace depth 0 (always making progress).
    fn sync_decl(&mut self, before: usize) {
        if self.pos == before {
            self.bump();
        }
        let mut depth = 0usize;
        loop {
            match self.tok() {
                Tok::Eof => return,
                Tok::LBrace => depth += 1,
                Tok::RBrace => depth = depth.saturating_sub(1),
                Tok::Ident(s) if depth == 0 && DECL_KEYWORDS.contains(s) => return,
                _ => {}
            }
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests;
