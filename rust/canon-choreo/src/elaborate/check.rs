//! Source-level checks of one protocol: roles, labels, `do` targets, buffers.
//! They run before expansion, so each error is reported once, at the place
//! it was written, whatever the number of `do` calls reaching it.

use std::collections::BTreeMap;

use canon_bytecode::Backpressure;

use crate::ast::{Block, BufferDecl, ChoiceStmt, DoStmt, Ident, MessageStmt, ProtocolDecl, Stmt};
use crate::diag::{Code, Diagnostic};

/// The protocols of a file by name (first definition wins).
pub(super) type Table<'a> = BTreeMap<&'a str, &'a ProtocolDecl>;

pub(super) struct Checker<'a> {
    table: &'a Table<'a>,
    decl: &'a ProtocolDecl,
    labels: Vec<&'a str>,
    pub(super) diags: Vec<Diagnostic>,
}

/// Checks one protocol, returning its diagnostics.
pub(super) fn check_protocol<'a>(table: &'a Table<'a>, decl: &'a ProtocolDecl) -> Vec<Diagnostic> {
    let mut c = Checker { table, decl, labels: Vec::new(), diags: Vec::new() };
    c.roles();
    c.buffers();
    c.block(&decl.body);
    c.diags
}

fn role_list(decl: &ProtocolDecl) -> String {
    let names: Vec<&str> = decl.roles.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
}

impl<'a> Checker<'a> {
    fn roles(&mut self) {
        for (i, r) in self.decl.roles.iter().enumerate() {
            if self.decl.roles[..i].iter().any(|p| p.name == r.name) {
                let msg = format!("role `{}` is declared twice in protocol `{}`", r.name, self.decl.name.name);
                self.diags.push(Diagnostic::new(Code::DuplicateRole, r.span, msg));
            }
        }
    }

    /// Reports `role` if the protocol does not declare it; `what` says where.
    fn role(&mut self, role: &Ident, what: &str) -> bool {
        if self.decl.roles.iter().any(|r| r.name == role.name) {
            return true;
        }
        let msg = format!("unknown role `{}` in {what}", role.name);
        let note = format!("protocol `{}` declares the roles {}", self.decl.name.name, role_list(self.decl));
        let d = Diagnostic::new(Code::UnknownRole, role.span, msg).with_note(note);
        let d = d.with_suggestion(&role.name, self.decl.roles.iter().map(|r| r.name.as_str()));
        self.diags.push(d);
        false
    }

    fn buffers(&mut self) {
        for (i, b) in self.decl.buffers.iter().enumerate() {
            let known = self.role(&b.from, "buffer declaration") & self.role(&b.to, "buffer declaration");
            if known && b.from.name == b.to.name {
                let msg = format!("buffer declared from role `{}` to itself", b.from.name);
                self.diags.push(Diagnostic::new(Code::SelfSend, b.span, msg));
            }
            let same_edge = |p: &BufferDecl| p.from.name == b.from.name && p.to.name == b.to.name;
            if self.decl.buffers[..i].iter().any(same_edge) {
                let msg = format!("edge `{} -> {}` has two buffer declarations", b.from.name, b.to.name);
                self.diags.push(Diagnostic::new(Code::DuplicateBuffer, b.span, msg));
            }
            self.buffer_sizes(b);
        }
    }

    fn buffer_sizes(&mut self, b: &BufferDecl) {
        if b.capacity == 0 {
            let d = Diagnostic::new(Code::InvalidBuffer, b.capacity_span, "buffer capacity must be at least 1");
            self.diags.push(d);
        }
        if let Backpressure::Resize { max_capacity } = b.policy
            && max_capacity < b.capacity
        {
            let msg = format!("resize maximum {max_capacity} is below the initial capacity {}", b.capacity);
            self.diags.push(Diagnostic::new(Code::InvalidBuffer, b.capacity_span, msg));
        }
    }

    fn block(&mut self, block: &'a Block) {
        for (i, stmt) in block.stmts.iter().enumerate() {
            if i > 0
                && let Stmt::Continue(c) = &block.stmts[i - 1]
            {
                let msg = format!("unreachable statement after `continue {}`", c.label.name);
                let d = Diagnostic::new(Code::UnreachableAfterContinue, stmt.span(), msg)
                    .with_note("`continue` must be the last statement of its block");
                self.diags.push(d);
            }
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Message(m) => self.message(m),
            Stmt::Choice(c) => self.choice(c),
            Stmt::Rec(r) => {
                self.labels.push(&r.label.name);
                self.block(&r.body);
                self.labels.pop();
            }
            Stmt::Continue(c) => {
                if !self.labels.contains(&c.label.name.as_str()) {
                    let msg = format!("`continue {}` names no enclosing `rec`", c.label.name);
                    let note = match self.labels.as_slice() {
                        [] => "there is no enclosing `rec` block here".to_owned(),
                        ls => format!("the enclosing `rec` labels are {}", ls.join(", ")),
                    };
                    self.diags.push(Diagnostic::new(Code::UnboundContinue, c.label.span, msg).with_note(note));
                }
            }
            Stmt::Do(d) => self.do_stmt(d),
            Stmt::Invoke(inv) => {
                self.role(&inv.at, "invoke");
            }
        }
    }

    fn message(&mut self, m: &MessageStmt) {
        let from_ok = self.role(&m.from, "message");
        for (i, to) in m.to.iter().enumerate() {
            if !self.role(to, "message") {
                continue;
            }
            if from_ok && to.name == m.from.name {
                let msg = format!("role `{}` sends a message to itself", to.name);
                self.diags.push(Diagnostic::new(Code::SelfSend, to.span, msg));
            }
            if m.to[..i].iter().any(|p| p.name == to.name) {
                let msg = format!("role `{}` is named twice as a receiver", to.name);
                self.diags.push(Diagnostic::new(Code::DuplicateRole, to.span, msg));
            }
        }
    }

    fn choice(&mut self, c: &'a ChoiceStmt) {
        self.role(&c.at, "choice");
        for branch in &c.branches {
            if branch.stmts.is_empty() {
                let msg = format!("empty branch in `choice at {}`", c.at.name);
                let note = "every branch must begin with a message from the choosing role";
                self.diags.push(Diagnostic::new(Code::EmptyChoice, branch.span, msg).with_note(note));
            }
            self.block(branch);
        }
    }

    fn do_stmt(&mut self, d: &DoStmt) {
        let known: Vec<bool> = d.args.iter().map(|a| self.role(a, "`do` arguments")).collect();
        for (i, a) in d.args.iter().enumerate() {
            if known[i] && d.args[..i].iter().any(|p| p.name == a.name) {
                let msg = format!("role `{}` is passed twice to `{}`", a.name, d.protocol.name);
                self.diags.push(Diagnostic::new(Code::DuplicateRole, a.span, msg));
            }
        }
        let Some(callee) = self.table.get(d.protocol.name.as_str()) else {
            let msg = format!("`do` of undefined protocol `{}`", d.protocol.name);
            let names: Vec<&str> = self.table.keys().copied().collect();
            let note = format!("the file defines {}", names.join(", "));
            let diag = Diagnostic::new(Code::UndefinedProtocol, d.protocol.span, msg).with_note(note);
            self.diags.push(diag.with_suggestion(&d.protocol.name, names.iter().copied()));
            return;
        };
        if callee.roles.len() != d.args.len() {
            let msg = format!(
                "`do {}` passes {} role(s) but `{}` declares {}",
                d.protocol.name,
                d.args.len(),
                callee.name.name,
                callee.roles.len()
            );
            let note = format!("`{}` declares the roles {}", callee.name.name, role_list(callee));
            self.diags.push(Diagnostic::new(Code::DoArity, d.span, msg).with_note(note));
        }
    }
}
