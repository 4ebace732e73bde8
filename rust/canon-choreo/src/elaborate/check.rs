//! Source-level checks of one protocol: roles, labels, `do` targets, buffers.
//! They run before expansion, so each error is reported once, at the place
//! it was written, whatever the number of `do` calls reaching it.

use std::collections::{BTreeMap, BTreeSet};

use canon_bytecode::Backpressure;

use crate::ast::{
    Block, BufferDecl, ChoiceStmt, DisconnectStmt, DoStmt, HandlerKind, Ident, MessageStmt, ParamKind, ProtocolDecl,
    Stmt,
};
use crate::diag::{Code, Diagnostic};

/// The protocols of a file by name (first definition wins).
pub(super) type Table<'a> = BTreeMap<&'a str, &'a ProtocolDecl>;

pub(super) struct Checker<'a> {
    table: &'a Table<'a>,
    exits: &'a Exits<'a>,
    decl: &'a ProtocolDecl,
    labels: Vec<&'a str>,
    pub(super) diags: Vec<Diagnostic>,
}

/// Checks one protocol, returning its diagnostics.
pub(super) fn check_protocol<'a>(
    table: &'a Table<'a>,
    exits: &'a Exits<'a>,
    decl: &'a ProtocolDecl,
) -> Vec<Diagnostic> {
    let mut c = Checker { table, exits, decl, labels: Vec::new(), diags: Vec::new() };
    c.roles();
    c.buffers();
    c.block(&decl.body);
    let mut conn = Connections { explicit: decl.explicit, loops: Vec::new(), diags: Vec::new() };
    conn.block(&decl.body, ConnState::default());
    c.diags.extend(conn.diags);
    c.diags
}

/// Which protocols of a file may end (some path reaches the end of the body
/// rather than only jumping back): the least fixpoint over `do`, so a
/// protocol whose every path ends in `continue` or in a `do` of a protocol
/// that never ends, itself included, never ends. Each round only turns
/// protocols from "never" to "may", so it stops after at most one round per
/// protocol.
pub(super) type Exits<'a> = BTreeMap<&'a str, bool>;

pub(super) fn protocol_exits<'a>(table: &Table<'a>) -> Exits<'a> {
    let mut exits: Exits<'a> = table.keys().map(|k| (*k, false)).collect();
    loop {
        let mut changed = false;
        for (name, decl) in table {
            if !exits[name] && block_falls_through(&decl.body, &exits) {
                exits.insert(name, true);
                changed = true;
            }
        }
        if !changed {
            return exits;
        }
    }
}

/// Whether control can leave `stmt` at its end (rather than only jumping
/// back with `continue`, or entering a protocol that never ends): Scribble's
/// rule for reachability.
pub(super) fn falls_through(stmt: &Stmt, exits: &Exits<'_>) -> bool {
    match stmt {
        Stmt::Continue(_) => false,
        Stmt::Rec(r) => block_falls_through(&r.body, exits),
        Stmt::Choice(c) => c.branches.iter().any(|b| block_falls_through(b, exits)),
        // An undefined protocol is reported on its own.
        Stmt::Do(d) => exits.get(d.protocol.name.as_str()).copied().unwrap_or(true),
        Stmt::Message(_) | Stmt::Invoke(_) | Stmt::Disconnect(_) => true,
    }
}

fn block_falls_through(block: &Block, exits: &Exits<'_>) -> bool {
    block.stmts.last().is_none_or(|s| falls_through(s, exits))
}

const LOOP_NOTE: &str = "every path of the loop ends in `continue`, so nothing after it runs";

/// The connections of an explicit protocol at one point: those open on
/// every path here (`surely`) and on some path (`maybe`); pairs are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ConnState {
    surely: BTreeSet<(String, String)>,
    maybe: BTreeSet<(String, String)>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) }
}

/// Scribble's explicit-connection rules: in an `explicit` protocol two roles
/// exchange messages only while connected; `connect` opens a connection that
/// is not open on any path, `disconnect` closes one open on every path.
/// Outside `explicit` protocols, `connect`/`disconnect` are errors.
/// A `continue` must find the connections its `rec` started with, or the
/// next iteration would connect twice or talk over a closed connection.
struct Connections {
    explicit: bool,
    /// Enclosing `rec` labels with the state at their start, innermost last.
    loops: Vec<(String, ConnState)>,
    diags: Vec<Diagnostic>,
}

impl Connections {
    /// The state after `block`, or `None` if no path leaves it.
    fn block(&mut self, block: &Block, mut st: ConnState) -> Option<ConnState> {
        for stmt in &block.stmts {
            st = self.stmt(stmt, st)?;
        }
        Some(st)
    }

    fn stmt(&mut self, stmt: &Stmt, st: ConnState) -> Option<ConnState> {
        match stmt {
            Stmt::Message(m) => {
                let st = self.message(m, st);
                for h in &m.handlers {
                    self.block(&h.body, st.clone());
                }
                Some(st)
            }
            Stmt::Disconnect(d) => Some(self.disconnect(d, st)),
            Stmt::Choice(c) => {
                let outs: Vec<ConnState> = c.branches.iter().filter_map(|b| self.block(b, st.clone())).collect();
                let mut it = outs.into_iter();
                let first = it.next()?;
                Some(it.fold(first, |mut acc, o| {
                    acc.surely.retain(|p| o.surely.contains(p));
                    acc.maybe.extend(o.maybe);
                    acc
                }))
            }
            Stmt::Rec(r) => {
                self.loops.push((r.label.name.clone(), st.clone()));
                let out = self.block(&r.body, st);
                self.loops.pop();
                out
            }
            Stmt::Continue(c) => {
                let start = self.loops.iter().rev().find(|(l, _)| *l == c.label.name).map(|(_, s)| s);
                if self.explicit && start.is_some_and(|s| *s != st) {
                    let msg = format!(
                        "`continue {}` with other connections open than at the start of the loop",
                        c.label.name
                    );
                    let note = "connect and disconnect inside a loop so that each iteration ends as it began";
                    self.diags.push(Diagnostic::new(Code::AlreadyConnected, c.span, msg).with_note(note));
                }
                None
            }
            Stmt::Do(_) | Stmt::Invoke(_) => Some(st),
        }
    }

    fn message(&mut self, m: &MessageStmt, mut st: ConnState) -> ConnState {
        if m.connect && !self.explicit {
            let msg = "`connect` is allowed only in an `explicit` protocol";
            let note = "declare the protocol `explicit global protocol ...`, or send with `from`";
            self.diags.push(Diagnostic::new(Code::ConnectOutsideExplicit, m.span, msg).with_note(note));
            return st;
        }
        if !self.explicit {
            return st;
        }
        for to in &m.to {
            let p = pair(&m.from.name, &to.name);
            if m.connect {
                if st.maybe.contains(&p) {
                    let msg = format!("`{}` and `{}` may already be connected here", m.from.name, to.name);
                    let note = "a connection is opened once; `disconnect` it first";
                    self.diags.push(Diagnostic::new(Code::AlreadyConnected, m.span, msg).with_note(note));
                }
                st.surely.insert(p.clone());
                st.maybe.insert(p);
            } else if !st.surely.contains(&p) {
                let msg = format!("`{}` and `{}` are not connected here", m.from.name, to.name);
                let note = "in an `explicit` protocol, roles exchange messages only after `connect`";
                self.diags.push(Diagnostic::new(Code::NotConnected, m.span, msg).with_note(note));
            }
        }
        st
    }

    fn disconnect(&mut self, d: &DisconnectStmt, mut st: ConnState) -> ConnState {
        if !self.explicit {
            let msg = "`disconnect` is allowed only in an `explicit` protocol";
            self.diags.push(Diagnostic::new(Code::ConnectOutsideExplicit, d.span, msg));
            return st;
        }
        let p = pair(&d.a.name, &d.b.name);
        if !st.surely.contains(&p) {
            let msg = format!("`{}` and `{}` are not connected here", d.a.name, d.b.name);
            self.diags.push(Diagnostic::new(Code::NotConnected, d.span, msg));
        }
        st.surely.remove(&p);
        st.maybe.remove(&p);
        st
    }
}

fn role_list(decl: &ProtocolDecl) -> String {
    let names: Vec<&str> = decl.roles.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
}

impl<'a> Checker<'a> {
    fn roles(&mut self) {
        for (i, r) in self.decl.roles.iter().enumerate() {
            if let Some(first) = self.decl.roles[..i].iter().find(|p| p.name == r.name) {
                let msg = format!("role `{}` is declared twice in protocol `{}`", r.name, self.decl.name.name);
                let d = Diagnostic::new(Code::DuplicateRole, r.span, msg).with_label("declared again");
                self.diags.push(d.with_related(first.span, "first declared here"));
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
        let d = Diagnostic::new(Code::UnknownRole, role.span, msg).with_label("not a declared role").with_note(note);
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
            if i > 0
                && !matches!(block.stmts[i - 1], Stmt::Continue(_))
                && !falls_through(&block.stmts[i - 1], self.exits)
            {
                let (what, note) = match &block.stmts[i - 1] {
                    Stmt::Rec(r) => (format!("`rec {}`, whose body never exits", r.label.name), LOOP_NOTE),
                    Stmt::Do(d) => (
                        format!("`do {}`, a protocol that never ends", d.protocol.name),
                        "every path of that protocol ends in `continue` or in a `do` of a protocol that never ends, so nothing after the `do` runs",
                    ),
                    _ => ("a `choice` whose every branch ends in `continue`".to_owned(), LOOP_NOTE),
                };
                let msg = format!("unreachable statement after {what}");
                self.diags.push(Diagnostic::new(Code::UnreachableAfterLoop, stmt.span(), msg).with_note(note));
                // Report the first unreachable statement only.
                for s in &block.stmts[i..] {
                    self.stmt(s);
                }
                return;
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
                self.role(&inv.at, if inv.check.is_some() { "check" } else { "invoke" });
            }
            Stmt::Disconnect(d) => {
                self.role(&d.a, "disconnect");
                self.role(&d.b, "disconnect");
            }
        }
    }

    fn message(&mut self, m: &'a MessageStmt) {
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
        self.handlers(m);
    }

    /// `on timeout { .. }` / `on cancel { .. }`: one per message, on a
    /// message to one receiver; an `on cancel` block only invokes effects at
    /// the receiver (the session is cancelled right after it).
    fn handlers(&mut self, m: &'a MessageStmt) {
        if let Some(extra) = m.handlers.get(1) {
            let msg = "a message has at most one `on timeout` or `on cancel` block";
            let note = "`on timeout` continues the protocol and `on cancel` ends it: choose one";
            self.diags.push(Diagnostic::new(Code::UnsupportedDeadlineHandler, extra.span, msg).with_note(note));
        }
        if let (Some(h), [_, _, ..]) = (m.handlers.first(), m.to.as_slice()) {
            let msg = "`on timeout`/`on cancel` on a message to several receivers";
            let note = "each receiver would decide on its own; write one message per receiver";
            self.diags.push(Diagnostic::new(Code::UnsupportedDeadlineHandler, h.span, msg).with_note(note));
        }
        for h in &m.handlers {
            if h.kind == HandlerKind::Cancel {
                self.cancel_block(m, &h.body);
            }
            self.block(&h.body);
        }
    }

    fn cancel_block(&mut self, m: &MessageStmt, body: &Block) {
        let receiver = m.to.first().map_or("", |r| r.name.as_str());
        for stmt in &body.stmts {
            let local = matches!(stmt, Stmt::Invoke(inv) if inv.at.name == receiver && inv.check.is_none());
            if !local {
                let msg = format!("an `on cancel` block may only `invoke` effects at `{receiver}`");
                let note = "the session is cancelled when the deadline passes: no message can follow, and only \
                            the receiver knows the deadline passed";
                self.diags.push(Diagnostic::new(Code::CancelHandlerNotLocal, stmt.span(), msg).with_note(note));
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
        let kinds = |k: ParamKind| if k == ParamKind::Sig { "sig" } else { "type" };
        if callee.params.len() != d.params.len() {
            let msg = format!(
                "`do {}` passes {} parameter argument(s) but `{}` declares {}",
                d.protocol.name,
                d.params.len(),
                callee.name.name,
                callee.params.len()
            );
            let declared: Vec<String> =
                callee.params.iter().map(|p| format!("{} {}", kinds(p.kind), p.name.name)).collect();
            let note = format!("`{}` declares <{}>", callee.name.name, declared.join(", "));
            self.diags.push(Diagnostic::new(Code::ParamMismatch, d.span, msg).with_note(note));
        } else {
            for (formal, actual) in callee.params.iter().zip(&d.params) {
                if formal.kind == ParamKind::Type && actual.payload.is_some() {
                    let msg = format!("`type {}` is given a message signature", formal.name.name);
                    self.diags.push(Diagnostic::new(Code::ParamMismatch, actual.span, msg));
                }
            }
        }
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
