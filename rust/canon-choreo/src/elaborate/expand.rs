//! Expansion of a checked protocol into a [`GlobalType`]: multicast becomes
//! one message per receiver (the later ones sending the same payload), statements after a `choice` or `rec` are copied
//! into its open ends, and `do` is inlined with its roles substituted. A `do`
//! of a protocol instance already being expanded (same protocol, same role
//! arguments) becomes `rec`/`continue` (recursion by call); it must be in
//! tail position, or its unfolding would not be a regular protocol.
//!
//! `rec` variables are renamed where needed so that no binder shadows
//! another binder it encloses (which would capture a copied continuation).

use std::collections::BTreeMap;

use canon_types::{GlobalType, Payload, Span};

use super::check::Table;
use super::{MAX_DO_DEPTH, MAX_GLOBAL_NODES};
use crate::ast::{Block, DoStmt, HandlerKind, MessageStmt, ParamKind, ProtocolDecl, Stmt};
use crate::diag::{Code, Diagnostic};

/// One protocol instance being expanded (the root, or a `do`).
struct Frame {
    proto: String,
    /// Actual role names, in the callee's declaration order.
    args: Vec<String>,
    /// Formal role name to actual role name.
    subst: BTreeMap<String, String>,
    /// `sig` parameters: formal name to actual label and, when the argument
    /// was a signature `L(T)`, its payload.
    sigs: BTreeMap<String, (String, Option<Vec<Payload>>)>,
    /// `type` parameters: formal name to actual type name.
    types: BTreeMap<String, String>,
    /// The parameter arguments as text, to recognise a recursive call.
    param_key: Vec<String>,
    /// The `rec` variable a recursive call to this instance continues to.
    var: String,
    used: bool,
    /// Whether the `do` that opened this frame was in tail position.
    caller_tail: bool,
    /// Source `rec` labels in scope in this frame, innermost last, with
    /// their output names.
    labels: Vec<(String, String)>,
}

pub(super) struct Expander<'a> {
    table: &'a Table<'a>,
    frames: Vec<Frame>,
    /// Output `rec` variables of every enclosing binder.
    binders: Vec<String>,
    nodes: usize,
}

/// Expands `decl` (whose whole file passed the source checks).
pub(super) fn expand_protocol(table: &Table<'_>, decl: &ProtocolDecl) -> Result<GlobalType, Diagnostic> {
    let mut x = Expander { table, frames: Vec::new(), binders: Vec::new(), nodes: 0 };
    let roles: Vec<String> = decl.roles.iter().map(|r| r.name.clone()).collect();
    x.call(decl, roles, Vec::new(), GlobalType::End, true, decl.name.span)
}

/// A `sig`/`type` argument after the caller's own substitution.
struct ActualParam {
    name: String,
    payload: Option<Vec<Payload>>,
}

impl ActualParam {
    fn key(&self) -> String {
        match &self.payload {
            None => self.name.clone(),
            Some(p) => {
                let items: Vec<String> = p.iter().map(|p| p.to_string()).collect();
                format!("{}({})", self.name, items.join(", "))
            }
        }
    }
}

/// The number of nodes of `g`, without recursion.
pub fn count_nodes(g: &GlobalType) -> usize {
    let mut stack = vec![g];
    let mut n = 0;
    while let Some(g) = stack.pop() {
        n += 1;
        match g {
            GlobalType::End | GlobalType::Continue { .. } => {}
            GlobalType::Message { cont, on_timeout, .. } => {
                stack.push(cont);
                stack.extend(on_timeout.as_deref());
            }
            GlobalType::Invoke { cont, .. } => stack.push(cont),
            GlobalType::Rec { body, .. } => stack.push(body),
            GlobalType::Choice { branches, .. } => stack.extend(branches.iter()),
        }
    }
    n
}

impl Expander<'_> {
    fn charge(&mut self, n: usize, span: Span) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes <= MAX_GLOBAL_NODES {
            return Ok(());
        }
        let msg = format!("the expanded protocol exceeds {MAX_GLOBAL_NODES} nodes");
        let note = "statements after a `choice` are copied into every branch, and `do` is inlined";
        Err(Diagnostic::new(Code::ExpansionTooLarge, span, msg).with_note(note))
    }

    /// A variable name based on `base` that no enclosing binder uses.
    fn fresh(&self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut n = 2;
        while self.binders.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    fn frame(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn role(&self, formal: &str) -> String {
        let frame = &self.frames[self.frames.len() - 1];
        frame.subst.get(formal).cloned().unwrap_or_else(|| formal.to_owned())
    }

    /// Expands one protocol instance whose end continues with `k`.
    fn call(
        &mut self,
        decl: &ProtocolDecl,
        args: Vec<String>,
        params: Vec<ActualParam>,
        k: GlobalType,
        tail: bool,
        span: Span,
    ) -> Result<GlobalType, Diagnostic> {
        if self.frames.len() >= MAX_DO_DEPTH {
            let msg = format!("`do` calls nested more than {MAX_DO_DEPTH} deep");
            return Err(Diagnostic::new(Code::ExpansionTooLarge, span, msg));
        }
        let subst = decl.roles.iter().map(|r| r.name.clone()).zip(args.iter().cloned()).collect();
        let base = decl.name.name.rsplit('.').next().unwrap_or(&decl.name.name);
        let var = self.fresh(base);
        self.binders.push(var.clone());
        let proto = decl.name.name.clone();
        let param_key = params.iter().map(ActualParam::key).collect();
        let (mut sigs, mut types) = (BTreeMap::new(), BTreeMap::new());
        for (formal, actual) in decl.params.iter().zip(params) {
            match formal.kind {
                ParamKind::Sig => {
                    sigs.insert(formal.name.name.clone(), (actual.name, actual.payload));
                }
                ParamKind::Type => {
                    types.insert(formal.name.name.clone(), actual.name);
                }
            }
        }
        let frame = Frame {
            proto,
            args,
            subst,
            sigs,
            types,
            param_key,
            var,
            used: false,
            caller_tail: tail,
            labels: Vec::new(),
        };
        self.frames.push(frame);
        let body = self.block(&decl.body, k, true);
        self.binders.pop();
        let frame = self.frames.pop().expect("frame pushed above");
        let body = body?;
        if !frame.used {
            return Ok(body);
        }
        self.charge(1, span)?;
        Ok(GlobalType::Rec { var: frame.var, body: Box::new(body), span })
    }

    /// Expands `block` followed by `k`. `tail`: nothing of the current
    /// protocol instance follows the block.
    fn block(&mut self, block: &Block, k: GlobalType, tail: bool) -> Result<GlobalType, Diagnostic> {
        let mut cont = k;
        for (i, stmt) in block.stmts.iter().enumerate().rev() {
            let last = i + 1 == block.stmts.len();
            cont = self.stmt(stmt, cont, tail && last)?;
        }
        Ok(cont)
    }

    fn stmt(&mut self, stmt: &Stmt, k: GlobalType, tail: bool) -> Result<GlobalType, Diagnostic> {
        match stmt {
            Stmt::Message(m) => self.message(m, k),
            Stmt::Invoke(inv) => {
                self.charge(1, inv.span)?;
                let (role, effect) = (self.role(&inv.at.name), inv.effect.name.clone());
                let check = inv.check.is_some();
                Ok(GlobalType::Invoke { role, effect, check, cont: Box::new(k), span: inv.span })
            }
            Stmt::Choice(c) => {
                let copies = c.branches.len().saturating_sub(1);
                self.charge(1 + copies.saturating_mul(count_nodes(&k)), c.span)?;
                let mut branches = Vec::with_capacity(c.branches.len());
                for b in &c.branches {
                    branches.push(self.block(b, k.clone(), tail)?);
                }
                Ok(GlobalType::Choice { at: self.role(&c.at.name), branches, span: c.span })
            }
            Stmt::Rec(r) => {
                self.charge(1, r.span)?;
                let var = self.fresh(&r.label.name);
                self.binders.push(var.clone());
                self.frame().labels.push((r.label.name.clone(), var.clone()));
                let body = self.block(&r.body, k, tail);
                self.frame().labels.pop();
                self.binders.pop();
                Ok(GlobalType::Rec { var, body: Box::new(body?), span: r.span })
            }
            Stmt::Continue(c) => {
                self.charge(1, c.span)?;
                let labels = &self.frames[self.frames.len() - 1].labels;
                let found = labels.iter().rev().find(|(src, _)| *src == c.label.name);
                let var = found.map_or_else(|| c.label.name.clone(), |(_, out)| out.clone());
                Ok(GlobalType::Continue { var, span: c.span })
            }
            Stmt::Do(d) => self.do_stmt(d, k, tail),
            Stmt::Disconnect(_) => Ok(k),
        }
    }

    /// A payload item's type after `type` parameter substitution.
    fn payload_item(&self, p: &crate::ast::PayloadItem) -> Payload {
        let written = p.ty.text();
        let frame = &self.frames[self.frames.len() - 1];
        let ty = frame.types.get(&written).cloned().unwrap_or(written);
        Payload { name: p.name.as_ref().map(|n| n.name.clone()), ty, refinement: p.refinement.clone() }
    }

    fn message(&mut self, m: &MessageStmt, k: GlobalType) -> Result<GlobalType, Diagnostic> {
        self.charge(m.to.len(), m.span)?;
        let from = self.role(&m.from.name);
        let written = m.label.as_ref().map_or_else(String::new, |l| l.name.clone());
        let mut payload: Vec<Payload> = m.payload.iter().map(|p| self.payload_item(p)).collect();
        let frame = &self.frames[self.frames.len() - 1];
        let label = match frame.sigs.get(&written) {
            Some((label, sig_payload)) => {
                if let Some(p) = sig_payload {
                    payload = p.clone();
                }
                label.clone()
            }
            None => written,
        };
        let timeout_ticks = m.within.map(|t| t.ticks);
        // The handlers (source checks allow one, on a message to one
        // receiver). A timeout branch is the whole rest of the protocol on
        // that path: nothing after the message follows it.
        let mut on_timeout = None;
        let mut on_cancel = Vec::new();
        for h in &m.handlers {
            match h.kind {
                HandlerKind::Timeout => {
                    on_timeout = Some(Box::new(self.block(&h.body, GlobalType::End, true)?));
                }
                HandlerKind::Cancel => on_cancel.extend(h.body.stmts.iter().filter_map(|s| match s {
                    Stmt::Invoke(inv) if inv.check.is_none() => Some(inv.effect.name.clone()),
                    _ => None,
                })),
            }
        }
        let mut cont = k;
        for (i, to) in m.to.iter().enumerate().rev() {
            cont = GlobalType::Message {
                same_payload: i > 0,
                from: from.clone(),
                to: self.role(&to.name),
                label: label.clone(),
                payload: payload.clone(),
                timeout_ticks,
                cont: Box::new(cont),
                span: m.span,
                on_timeout: if i == 0 { on_timeout.clone() } else { None },
                on_cancel: if i == 0 { on_cancel.clone() } else { Vec::new() },
            };
        }
        Ok(cont)
    }

    fn do_stmt(&mut self, d: &DoStmt, k: GlobalType, tail: bool) -> Result<GlobalType, Diagnostic> {
        let args: Vec<String> = d.args.iter().map(|a| self.role(&a.name)).collect();
        let params: Vec<ActualParam> = d.params.iter().map(|p| self.actual_param(p)).collect();
        let key: Vec<String> = params.iter().map(ActualParam::key).collect();
        let name = d.protocol.name.as_str();
        if let Some(i) = self.frames.iter().rposition(|f| f.proto == name && f.args == args && f.param_key == key) {
            if !(tail && self.frames[i + 1..].iter().all(|f| f.caller_tail)) {
                let msg = format!("recursive `do {name}` is followed by more interactions");
                let note = "a recursive `do` must be the last statement of its protocol (tail recursion): it \
                            becomes a loop, and with interactions after it every pass would have to remember \
                            what is still owed, which no finite local type can say";
                return Err(Diagnostic::new(Code::NonTailRecursiveDo, d.span, msg).with_note(note));
            }
            self.charge(1, d.span)?;
            self.frames[i].used = true;
            return Ok(GlobalType::Continue { var: self.frames[i].var.clone(), span: d.span });
        }
        let Some(callee) = self.table.get(name).copied() else {
            // Unreachable after the source checks; reported rather than assumed.
            let msg = format!("`do` of undefined protocol `{name}`");
            return Err(Diagnostic::new(Code::UndefinedProtocol, d.protocol.span, msg));
        };
        self.call(callee, args, params, k, tail, d.span)
    }

    /// A `do` parameter argument, substituted by the caller's own parameters.
    fn actual_param(&self, p: &crate::ast::ParamArg) -> ActualParam {
        let written = p.name.text();
        let frame = &self.frames[self.frames.len() - 1];
        let payload = p.payload.as_ref().map(|items| items.iter().map(|i| self.payload_item(i)).collect());
        if let Some((label, sig_payload)) = frame.sigs.get(&written) {
            return ActualParam { name: label.clone(), payload: payload.or_else(|| sig_payload.clone()) };
        }
        let name = frame.types.get(&written).cloned().unwrap_or(written);
        ActualParam { name, payload }
    }
}
