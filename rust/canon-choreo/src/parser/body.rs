//! Protocol bodies: blocks and statements, with statement-level recovery.

use super::{MAX_NESTING, PResult, Parser, Reported};
use crate::ast::{
    Block, BufferDecl, ChoiceStmt, ContinueStmt, DeadlineHandler, DisconnectStmt, DoStmt, HandlerKind, Ident,
    InvokeStmt, MessageStmt, ParamArg, PayloadItem, RecStmt, Stmt, Timeout,
};
use crate::diag::{Code, Diagnostic};
use crate::lexer::Tok;
use canon_bytecode::{Backpressure, BufferMode};

/// Scribble statements canon refuses with [`Code::Unsupported`].
const UNSUPPORTED: &[&str] = &["par", "interruptible"];

impl Parser<'_> {
    /// Parses `{ stmt* }`. `buffers` is `Some` only for a protocol's top-level
    /// block, the one place buffer declarations may appear.
    pub(super) fn block(&mut self, mut buffers: Option<&mut Vec<BufferDecl>>) -> PResult<Block> {
        let start = self.span();
        if *self.tok() != Tok::LBrace {
            return Err(self.expected("`{`"));
        }
        if self.depth >= MAX_NESTING {
            let d = Diagnostic::new(Code::NestingTooDeep, start, format!("blocks nested more than {MAX_NESTING} deep"));
            let r = self.report(d);
            self.skip_balanced();
            return Err(r);
        }
        self.bump();
        self.depth += 1;
        let mut stmts = Vec::new();
        while !matches!(self.tok(), Tok::RBrace | Tok::Eof) && !self.too_many() {
            let before = self.pos;
            match self.stmt(buffers.as_deref_mut()) {
                Ok(Some(s)) => stmts.push(s),
                Ok(None) => {}
                Err(Reported) => self.sync_stmt(before),
            }
        }
        self.depth -= 1;
        if *self.tok() == Tok::Eof && !self.too_many() {
            let msg = format!("{}: the file ends before its `}}`", super::UNCLOSED);
            let d = Diagnostic::new(Code::UnexpectedToken, start, msg)
                .with_label("this `{` is never closed")
                .with_related(self.span(), "the file ends here")
                .with_help("add the `}` that closes this block");
            return Err(self.report(d));
        }
        self.expect(Tok::RBrace, "a statement or `}`")?;
        Ok(Block { stmts, span: self.since(start) })
    }

    /// Skips a balanced `{ ... }` group without recursing.
    fn skip_balanced(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.tok() {
                Tok::LBrace => depth += 1,
                Tok::RBrace => depth = depth.saturating_sub(1),
                Tok::Eof => {
                    self.bump();
                    return;
                }
                _ => {}
            }
            self.bump();
            if depth == 0 {
                return;
            }
        }
    }

    /// After a failed statement: skips past the next `;` or balanced block at
    /// this level, stopping before a `}` that closes the enclosing block.
    fn sync_stmt(&mut self, before: usize) {
        let mut depth = 0usize;
        loop {
            match self.tok() {
                Tok::Eof => return,
                Tok::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                Tok::RBrace if depth == 0 => {
                    if self.pos == before {
                        self.bump();
                    }
                    return;
                }
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    depth -= 1;
                    if depth == 0 && !self.is_kw_at(1, "or") {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// One statement; `Ok(None)` for a buffer declaration (stored aside).
    fn stmt(&mut self, buffers: Option<&mut Vec<BufferDecl>>) -> PResult<Option<Stmt>> {
        let next_is_ident = matches!(self.tok_at(1), Tok::Ident(_));
        let stmt = match self.tok() {
            Tok::Ident(kw) if *kw == "choice" && self.is_kw_at(1, "at") => Stmt::Choice(self.choice()?),
            Tok::Ident(kw) if *kw == "rec" && next_is_ident => Stmt::Rec(self.rec()?),
            Tok::Ident(kw) if *kw == "continue" && next_is_ident => Stmt::Continue(self.continue_stmt()?),
            Tok::Ident(kw) if *kw == "do" && next_is_ident => Stmt::Do(self.do_stmt()?),
            Tok::Ident(kw) if *kw == "invoke" && next_is_ident => Stmt::Invoke(self.invoke()?),
            Tok::Ident(kw) if *kw == "check" && next_is_ident && *self.tok_at(2) == Tok::Dot => {
                Stmt::Invoke(self.check()?)
            }
            Tok::Ident(kw) if *kw == "buffer" && next_is_ident => {
                let decl = self.buffer()?;
                match buffers {
                    Some(list) => list.push(decl),
                    None => {
                        let msg = "buffer declarations are allowed only at the top level of a protocol body";
                        return Err(self.report(Diagnostic::new(Code::MisplacedBuffer, decl.span, msg)));
                    }
                }
                return Ok(None);
            }
            Tok::Ident(kw) if *kw == "connect" && next_is_ident && self.is_kw_at(2, "to") => {
                Stmt::Message(self.connect()?)
            }
            Tok::Ident(kw) if *kw == "disconnect" && next_is_ident && self.is_kw_at(2, "and") => {
                Stmt::Disconnect(self.disconnect()?)
            }
            Tok::Ident(kw) if UNSUPPORTED.contains(kw) && self.unsupported_ahead() => {
                return Err(self.unsupported());
            }
            Tok::Ident(_) | Tok::Int(_) | Tok::LParen => Stmt::Message(self.message()?),
            _ => return Err(self.expected("a statement")),
        };
        Ok(Some(stmt))
    }

    /// A message operator: a word, a number, or nothing. A dotted name
    /// (`a.b.M`) names the `sig` `M` of module `a.b`; the label is `M`.
    fn label(&mut self) -> PResult<Option<Ident>> {
        match *self.tok() {
            Tok::Ident(_) if *self.tok_at(1) == Tok::Dot => {
                let name = self.qual_name("a label")?;
                let last = name.parts.last().map_or_else(String::new, |p| p.name.clone());
                Ok(Some(Ident { name: last, span: name.span }))
            }
            Tok::Ident(_) => Ok(Some(self.ident("a label")?)),
            Tok::Int(n) => Ok(Some(Ident { name: n.to_string(), span: self.bump() })),
            _ => Ok(None),
        }
    }

    /// `(payload, ...)`
    fn payload(&mut self) -> PResult<Vec<PayloadItem>> {
        self.expect(Tok::LParen, "`(` and the payload")?;
        let mut payload = Vec::new();
        if *self.tok() != Tok::RParen {
            loop {
                payload.push(self.payload_item()?);
                if *self.tok() != Tok::Comma {
                    break;
                }
                self.bump();
            }
        }
        self.expect(Tok::RParen, "`,` or `)`")?;
        Ok(payload)
    }

    fn message(&mut self) -> PResult<MessageStmt> {
        let start = self.span();
        let label = self.label()?;
        let sig_name = label.is_some() && (self.is_kw("from") || self.is_kw("connect"));
        let payload = if sig_name { Vec::new() } else { self.payload()? };
        let connect = self.is_kw("connect");
        if connect {
            self.bump();
        } else {
            self.expect_kw("from")?;
        }
        let from = self.ident("the sending role")?;
        self.expect_kw("to")?;
        if connect {
            let to = vec![self.ident("the role to connect to")?];
            self.expect(Tok::Semi, "`;`")?;
            let span = self.since(start);
            return Ok(MessageStmt {
                label,
                payload,
                sig_name,
                connect,
                from,
                to,
                within: None,
                handlers: Vec::new(),
                span,
            });
        }
        let mut to = vec![self.ident("a receiving role")?];
        while *self.tok() == Tok::Comma {
            self.bump();
            to.push(self.ident("a receiving role")?);
        }
        let within = if self.is_kw("within") && matches!(self.tok_at(1), Tok::Int(_)) {
            let kw = self.bump();
            let (ticks, _) = self.int_u32("timeout")?;
            Some(Timeout { ticks, span: self.since(kw) })
        } else {
            None
        };
        let handlers = if within.is_some() { self.deadline_handlers()? } else { Vec::new() };
        // A message ending with a handler block needs no `;` (like `choice`).
        if handlers.is_empty() || *self.tok() == Tok::Semi {
            self.expect(Tok::Semi, "`;`")?;
        }
        Ok(MessageStmt {
            label,
            payload,
            sig_name,
            connect: false,
            from,
            to,
            within,
            handlers,
            span: self.since(start),
        })
    }

    /// `on timeout { .. }` and `on cancel { .. }` after `within N`.
    fn deadline_handlers(&mut self) -> PResult<Vec<DeadlineHandler>> {
        let mut handlers = Vec::new();
        while self.is_kw("on") && (self.is_kw_at(1, "timeout") || self.is_kw_at(1, "cancel")) {
            let start = self.bump();
            let kind = if self.is_kw("timeout") { HandlerKind::Timeout } else { HandlerKind::Cancel };
            self.bump();
            let body = self.block(None)?;
            handlers.push(DeadlineHandler { kind, body, span: self.since(start) });
        }
        Ok(handlers)
    }

    /// `connect A to B;`: the empty message that opens a connection.
    fn connect(&mut self) -> PResult<MessageStmt> {
        let start = self.bump();
        let from = self.ident("the connecting role")?;
        self.expect_kw("to")?;
        let to = vec![self.ident("the role to connect to")?];
        self.expect(Tok::Semi, "`;`")?;
        let span = self.since(start);
        Ok(MessageStmt {
            label: None,
            payload: Vec::new(),
            sig_name: false,
            connect: true,
            from,
            to,
            within: None,
            handlers: Vec::new(),
            span,
        })
    }

    /// `disconnect A and B;`
    fn disconnect(&mut self) -> PResult<DisconnectStmt> {
        let start = self.bump();
        let a = self.ident("a role")?;
        self.expect_kw("and")?;
        let b = self.ident("a role")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(DisconnectStmt { a, b, span: self.since(start) })
    }

    /// Whether the unsupported keyword at the cursor starts its construct
    /// (`par {`, `interruptible {` / `interruptible name: {`), rather than
    /// being a label such as `par()`.
    fn unsupported_ahead(&self) -> bool {
        matches!(self.tok_at(1), Tok::LBrace) || matches!((self.tok_at(1), self.tok_at(2)), (Tok::Ident(_), Tok::Colon))
    }

    /// Reports a Scribble construct canon does not support and skips it
    /// (the keyword and every following `{ }` group joined by `and`/`with`).
    fn unsupported(&mut self) -> Reported {
        let start = self.span();
        let kw = self.tok().describe();
        self.bump();
        while !matches!(self.tok(), Tok::LBrace | Tok::Eof | Tok::Semi | Tok::RBrace) {
            self.bump();
        }
        loop {
            if *self.tok() == Tok::LBrace {
                self.skip_balanced();
            }
            if self.is_kw("and") || self.is_kw("with") || self.is_kw("catches") || self.is_kw("throws") {
                self.bump();
                while !matches!(self.tok(), Tok::LBrace | Tok::Eof | Tok::Semi | Tok::RBrace) {
                    self.bump();
                }
                continue;
            }
            break;
        }
        let msg = format!("{kw} is a Scribble construct canon does not support");
        let note = "see the compatibility table in docs/language.md";
        let d = Diagnostic::new(Code::Unsupported, self.since(start), msg).with_note(note);
        self.report(d)
    }

    fn payload_item(&mut self) -> PResult<PayloadItem> {
        let start = self.span();
        let first = self.qual_name("a payload type")?;
        let (name, ty) = if *self.tok() == Tok::Colon && first.parts.len() == 1 {
            self.bump();
            let ty = self.qual_name("a payload type after `:`")?;
            (first.parts.into_iter().next(), ty)
        } else {
            (None, first)
        };
        let refinement = if *self.tok() == Tok::LBrace { Some(self.refinement()?) } else { None };
        Ok(PayloadItem { name, ty, refinement, span: self.since(start) })
    }

    /// nuscr's `{ expr }` after a payload type: kept as written, with runs
    /// of whitespace collapsed to one space.
    fn refinement(&mut self) -> PResult<String> {
        let open = self.bump();
        let mut depth = 1usize;
        loop {
            match self.tok() {
                Tok::Eof | Tok::Semi => return Err(self.expected("`}` closing the refinement")),
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.bump();
        }
        let close = self.bump();
        let text = self.src.get(open.end as usize..close.start as usize).unwrap_or("");
        let words: Vec<&str> = text.split_whitespace().collect();
        Ok(words.join(" "))
    }

    fn choice(&mut self) -> PResult<ChoiceStmt> {
        let start = self.bump();
        self.expect_kw("at")?;
        let at = self.ident("the choosing role")?;
        let mut branches = vec![self.block(None)?];
        while self.is_kw("or") {
            self.bump();
            branches.push(self.block(None)?);
        }
        Ok(ChoiceStmt { at, branches, span: self.since(start) })
    }

    fn rec(&mut self) -> PResult<RecStmt> {
        let start = self.bump();
        let label = self.ident("a recursion label")?;
        let body = self.block(None)?;
        Ok(RecStmt { label, body, span: self.since(start) })
    }

    fn continue_stmt(&mut self) -> PResult<ContinueStmt> {
        let start = self.bump();
        let label = self.ident("a recursion label")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(ContinueStmt { label, span: self.since(start) })
    }

    fn do_stmt(&mut self) -> PResult<DoStmt> {
        let start = self.bump();
        let name = self.qual_name("a protocol name")?;
        let protocol = Ident { name: name.text(), span: name.span };
        let mut params = Vec::new();
        if *self.tok() == Tok::Lt {
            self.bump();
            loop {
                let at = self.span();
                let name = self.qual_name("a message signature or type")?;
                let payload = if *self.tok() == Tok::LParen { Some(self.payload()?) } else { None };
                params.push(ParamArg { name, payload, span: self.since(at) });
                if *self.tok() != Tok::Comma {
                    break;
                }
                self.bump();
            }
            self.expect(Tok::Gt, "`,` or `>`")?;
        }
        self.expect(Tok::LParen, "`(` and the role arguments")?;
        let mut args = Vec::new();
        if *self.tok() != Tok::RParen {
            loop {
                args.push(self.ident("a role")?);
                if *self.tok() != Tok::Comma {
                    break;
                }
                self.bump();
            }
        }
        self.expect(Tok::RParen, "`,` or `)`")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(DoStmt { protocol, params, args, span: self.since(start) })
    }

    fn invoke(&mut self) -> PResult<InvokeStmt> {
        let start = self.bump();
        let effect = self.ident("an effect name")?;
        self.expect_kw("at")?;
        let at = self.ident("the role performing the effect")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(InvokeStmt { effect, check: None, at, span: self.since(start) })
    }

    /// `check Effect.op(arg, ..) at Role;`
    fn check(&mut self) -> PResult<InvokeStmt> {
        let start = self.bump();
        let effect = self.ident("the effect of the check")?;
        self.expect(Tok::Dot, "`.`")?;
        let op = self.ident("the operation of the check")?;
        let effect = Ident { name: format!("{}.{}", effect.name, op.name), span: self.since(effect.span) };
        self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        if *self.tok() != Tok::RParen {
            args.push(self.ident("an argument name")?);
            while *self.tok() == Tok::Comma {
                self.bump();
                args.push(self.ident("an argument name")?);
            }
        }
        self.expect(Tok::RParen, "`,` or `)`")?;
        self.expect_kw("at")?;
        let at = self.ident("the role performing the check")?;
        self.expect(Tok::Semi, "`;`")?;
        Ok(InvokeStmt { effect, check: Some(args), at, span: self.since(start) })
    }

    fn buffer(&mut self) -> PResult<BufferDecl> {
        let start = self.bump();
        let from = self.ident("the sending role")?;
        self.expect(Tok::Arrow, "`->`")?;
        let to = self.ident("the receiving role")?;
        let mode = match self.keyword_of(&["fifo", "latest"])? {
            "fifo" => BufferMode::Fifo,
            _ => BufferMode::LatestValue,
        };
        let policy = self.keyword_of(&["block", "drop", "error", "resize"])?;
        let (capacity, cap_span) = self.int_u32("buffer capacity")?;
        let (policy, capacity_span) = match policy {
            "block" => (Backpressure::Block, cap_span),
            "drop" => (Backpressure::Drop, cap_span),
            "error" => (Backpressure::Error, cap_span),
            _ => {
                self.expect_kw("max")?;
                let (max_capacity, _) = self.int_u32("maximum capacity")?;
                (Backpressure::Resize { max_capacity }, self.since(cap_span))
            }
        };
        self.expect(Tok::Semi, "`;`")?;
        Ok(BufferDecl { from, to, mode, policy, capacity, capacity_span, span: self.since(start) })
    }

    /// Consumes one of `options` (contextual keywords), returning it.
    fn keyword_of(&mut self, options: &[&'static str]) -> PResult<&'static str> {
        if let Some(kw) = options.iter().find(|kw| self.is_kw(kw)) {
            self.bump();
            return Ok(kw);
        }
        let list: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
        Err(self.expected(&list.join(" or ")))
    }
}
