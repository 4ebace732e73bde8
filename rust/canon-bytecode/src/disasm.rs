//! The disassembler: [`Module`] to `.casm` text that assembles back to exactly
//! the same module, for every module (even one the verifier would reject).
//!
//! Tables are written explicitly and in order (`.string N`, `.type N`,
//! `.const N`), so ids survive. A name is written where it reads back as the
//! same id (the first occurrence of a string; a procedure name no other
//! procedure shares); otherwise the raw form (`sym#7`, `proc#2`, `role#1`).
//! Registers beyond the procedure's `regs` are written `reg#N`, jump targets
//! beyond its end `@N`; every other target gets a label `LN:`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use canon_types::{SymId, TypeId, TypeNode};

use crate::asm::{is_ident, quote};
use crate::instr::{Arm, EdgeBuffer, Instr, Reg};
use crate::module::{Backpressure, BufferMode, Const, Module, Param, Proc};

/// How many type nodes a root's notation comment may print before it is left out.
const NOTATION_BUDGET: usize = 48;

/// Disassembles `m` into `.casm` text; `assemble(&disassemble(m)) == Ok(m)`.
pub fn disassemble(m: &Module) -> String {
    let names = Names::new(m);
    let mut out = String::from("; canon assembly (disassembled)\n");
    if !m.strings.is_empty() {
        out.push('\n');
    }
    for (i, s) in m.strings.iter().enumerate() {
        let _ = writeln!(out, ".string {i} {}", quote(s));
    }
    names.types(&mut out);
    if !m.consts.is_empty() {
        out.push('\n');
    }
    for (i, k) in m.consts.iter().enumerate() {
        let _ = writeln!(out, ".const {i} {}", names.const_value(k));
    }
    let _ = writeln!(out, "\n.entry {}", names.proc_ref(m.entry));
    for proc in &m.procs {
        out.push('\n');
        names.proc(proc, &mut out);
    }
    out
}

/// The module plus the precomputed printable form of each procedure reference.
struct Names<'m> {
    m: &'m Module,
    procs: Vec<Option<String>>,
}

impl<'m> Names<'m> {
    fn new(m: &'m Module) -> Self {
        let name_of = |p: &Proc| m.strings.get(p.name.0 as usize);
        let procs = m
            .procs
            .iter()
            .map(|p| {
                let name = name_of(p)?;
                let unique = m.procs.iter().filter(|q| name_of(q) == Some(name)).count() == 1;
                unique.then(|| bare_or_quoted(name))
            })
            .collect();
        Names { m, procs }
    }

    /// A string-table reference.
    fn sym(&self, id: SymId) -> String {
        match self.m.strings.get(id.0 as usize) {
            Some(s) if self.m.find_sym(s) == Some(id) => bare_or_quoted(s),
            _ => format!("sym#{}", id.0),
        }
    }

    fn proc_ref(&self, id: u32) -> String {
        match self.procs.get(id as usize) {
            Some(Some(name)) => name.clone(),
            _ => format!("proc#{id}"),
        }
    }

    fn const_value(&self, k: &Const) -> String {
        match k {
            Const::Unit => "unit".to_owned(),
            Const::Bool(b) => format!("bool {b}"),
            Const::Int(i) => format!("int {i}"),
            Const::Str(id) => match self.m.strings.get(id.0 as usize) {
                Some(s) if self.m.find_sym(s) == Some(*id) => format!("str {}", quote(s)),
                _ => format!("str sym#{}", id.0),
            },
            Const::Label(id) => format!("label {}", self.sym(*id)),
            Const::Bytes(b) => {
                format!("bytes x\"{}\"", canon_types::Hex(b))
            }
        }
    }

    /// The type table, one node per line; roots get their notation as a comment.
    fn types(&self, out: &mut String) {
        if self.m.types.nodes.is_empty() {
            return;
        }
        out.push('\n');
        let roots = self.type_roots();
        for (i, node) in self.m.types.nodes.iter().enumerate() {
            let _ = write!(out, ".type {i} {}", self.type_node(node));
            let id = TypeId(i as u32);
            if roots.contains(&id) {
                let mut text = String::new();
                let mut budget = NOTATION_BUDGET;
                if self.notation(id, &mut budget, &mut text).is_some() {
                    let _ = write!(out, "  ; {text}");
                }
            }
            out.push('\n');
        }
    }

    /// Type ids that procedures and `open`s refer to.
    fn type_roots(&self) -> BTreeSet<TypeId> {
        let mut roots = BTreeSet::new();
        for proc in &self.m.procs {
            roots.extend(proc.params.iter().filter_map(|p| match p {
                Param::Endpoint(t) => Some(*t),
                Param::Value => None,
            }));
            for instr in &proc.code {
                if let Instr::Open { types, .. } = instr {
                    roots.extend(types.iter().copied());
                }
            }
        }
        roots
    }

    fn type_node(&self, node: &TypeNode) -> String {
        match node {
            TypeNode::End => "end".to_owned(),
            TypeNode::Send { peer, branches } | TypeNode::Recv { peer, branches } => {
                let kind = if matches!(node, TypeNode::Send { .. }) { "send" } else { "recv" };
                let arms: Vec<String> = branches
                    .iter()
                    .map(|b| {
                        let payload: Vec<String> = b.payload.iter().map(|t| self.sym(*t)).collect();
                        format!("{}({}) -> {}", self.sym(b.label), payload.join(", "), b.cont.0)
                    })
                    .collect();
                if arms.is_empty() {
                    format!("{kind} {} {{}}", self.sym(*peer))
                } else {
                    format!("{kind} {} {{ {} }}", self.sym(*peer), arms.join(", "))
                }
            }
            TypeNode::Mu { var, body } => format!("mu {} -> {}", self.sym(*var), body.0),
            TypeNode::Var { mu } => format!("var {}", mu.0),
            TypeNode::Choose { arms } => {
                let arms: Vec<String> = arms.iter().map(|a| a.0.to_string()).collect();
                if arms.is_empty() { "choose {}".to_owned() } else { format!("choose {{ {} }}", arms.join(", ")) }
            }
        }
    }

    /// The readable notation of the type rooted at `id`, or `None` if it leaves
    /// the table or needs more than `budget` nodes.
    fn notation(&self, id: TypeId, budget: &mut usize, out: &mut String) -> Option<()> {
        *budget = budget.checked_sub(1)?;
        match self.m.types.get(id)? {
            TypeNode::End => out.push_str("end"),
            TypeNode::Send { peer, branches } | TypeNode::Recv { peer, branches } => {
                let op = if matches!(self.m.types.get(id)?, TypeNode::Send { .. }) { '!' } else { '?' };
                let _ = write!(out, "{}{op}", self.sym(*peer));
                let many = branches.len() != 1;
                out.push_str(if many { "{" } else { "" });
                for (i, b) in branches.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { "" });
                    let payload: Vec<String> = b.payload.iter().map(|t| self.sym(*t)).collect();
                    let _ = write!(out, "{}({}).", self.sym(b.label), payload.join(", "));
                    self.notation(b.cont, budget, out)?;
                }
                out.push_str(if many { "}" } else { "" });
            }
            TypeNode::Mu { var, body } => {
                let _ = write!(out, "mu {}.", self.sym(*var));
                self.notation(*body, budget, out)?;
            }
            TypeNode::Var { mu } => match self.m.types.get(*mu)? {
                TypeNode::Mu { var, .. } => out.push_str(&self.sym(*var)),
                _ => return None,
            },
            TypeNode::Choose { arms } => {
                out.push_str("+{");
                for (i, a) in arms.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { "" });
                    self.notation(*a, budget, out)?;
                }
                out.push('}');
            }
        }
        Some(())
    }

    /// One procedure: header, labelled body, `.end`.
    fn proc(&self, proc: &Proc, out: &mut String) {
        let params: Vec<String> = proc
            .params
            .iter()
            .map(|p| match p {
                Param::Value => "value".to_owned(),
                Param::Endpoint(t) => format!("ep type#{}", t.0),
            })
            .collect();
        let _ = writeln!(out, ".proc {}({}) regs {}", self.sym(proc.name), params.join(", "), proc.reg_count);
        let body = Body { names: self, proc, labels: jump_targets(proc) };
        for (i, instr) in proc.code.iter().enumerate() {
            body.label(i, out);
            let _ = writeln!(out, "    {}", body.instr(instr));
        }
        body.label(proc.code.len(), out);
        out.push_str(".end\n");
    }
}

/// A string as a bare name if it lexes as one, else quoted.
fn bare_or_quoted(s: &str) -> String {
    if is_ident(s) { s.to_owned() } else { quote(s) }
}

/// Every jump target of `proc` that lies within it (the end included).
fn jump_targets(proc: &Proc) -> BTreeSet<u32> {
    let len = proc.code.len() as u64;
    let mut targets = BTreeSet::new();
    let mut add = |t: u32| {
        if u64::from(t) <= len {
            targets.insert(t);
        }
    };
    for instr in &proc.code {
        match instr {
            Instr::Jmp { target } | Instr::JmpIf { target, .. } => add(*target),
            Instr::Select { arms, .. } | Instr::Offer { arms, .. } => arms.iter().for_each(|a| add(a.target)),
            Instr::RecvTimeout { arms, on_timeout, .. } => {
                arms.iter().for_each(|a| add(a.target));
                add(*on_timeout);
            }
            _ => {}
        }
    }
    targets
}

/// Printing context of one procedure body.
struct Body<'a> {
    names: &'a Names<'a>,
    proc: &'a Proc,
    labels: BTreeSet<u32>,
}

impl Body<'_> {
    fn label(&self, index: usize, out: &mut String) {
        if self.labels.contains(&(index as u32)) {
            let _ = writeln!(out, "L{index}:");
        }
    }

    fn reg(&self, r: Reg) -> String {
        if r < self.proc.reg_count { format!("r{r}") } else { format!("reg#{r}") }
    }

    fn regs(&self, rs: &[Reg]) -> String {
        let items: Vec<String> = rs.iter().map(|r| self.reg(*r)).collect();
        format!("[{}]", items.join(", "))
    }

    fn target(&self, t: u32) -> String {
        if self.labels.contains(&t) { format!("L{t}") } else { format!("@{t}") }
    }

    fn arms(&self, arms: &[Arm]) -> String {
        let items: Vec<String> =
            arms.iter().map(|a| format!("{} -> {}", self.names.sym(a.label), self.target(a.target))).collect();
        format!("[{}]", items.join(", "))
    }

    fn instr(&self, instr: &Instr) -> String {
        let m = instr.opcode().mnemonic();
        let sym = |s: &SymId| self.names.sym(*s);
        match instr {
            Instr::Nop | Instr::Ret | Instr::Yield | Instr::Halt => m.to_owned(),
            Instr::Jmp { target } => format!("{m} {}", self.target(*target)),
            Instr::JmpIf { cond, target } => format!("{m} {}, {}", self.reg(*cond), self.target(*target)),
            Instr::Call { proc, args } | Instr::Spawn { proc, args } => {
                format!("{m} {}, {}", self.names.proc_ref(*proc), self.regs(args))
            }
            Instr::Const { dst, k } => {
                let comment = self.names.m.consts.get(*k as usize).map(|v| self.names.const_value(v));
                let comment = comment.map(|c| format!("  ; {c}")).unwrap_or_default();
                format!("{m} {}, const#{k}{comment}", self.reg(*dst))
            }
            Instr::Mov { dst, src } => format!("{m} {}, {}", self.reg(*dst), self.reg(*src)),
            Instr::Add { dst, a, b } | Instr::Sub { dst, a, b } | Instr::Eq { dst, a, b } | Instr::Lt { dst, a, b } => {
                format!("{m} {}, {}, {}", self.reg(*dst), self.reg(*a), self.reg(*b))
            }
            Instr::Open { roles, types, handlers, dsts, buffers } => self.open(roles, types, handlers, dsts, buffers),
            Instr::Send { ep, label, src: r } | Instr::Recv { ep, label, dst: r } => {
                format!("{m} {}, {}, {}", self.reg(*ep), sym(label), self.reg(*r))
            }
            Instr::Select { ep, arms } => format!("{m} {}, {}", self.reg(*ep), self.arms(arms)),
            Instr::Offer { ep, dst, arms } => {
                format!("{m} {}, {}, {}", self.reg(*ep), self.reg(*dst), self.arms(arms))
            }
            Instr::Close { ep } | Instr::Cancel { ep } | Instr::Abort { ep } => format!("{m} {}", self.reg(*ep)),
            Instr::RecvTimeout { ep, dst, arms, timeout_ticks, on_timeout } => format!(
                "{m} {}, {}, {}, {timeout_ticks}, {}",
                self.reg(*ep),
                self.reg(*dst),
                self.arms(arms),
                self.target(*on_timeout)
            ),
            Instr::Invoke { dst, effect, arg } => {
                format!("{m} {}, {}, {}", self.reg(*dst), sym(effect), self.reg(*arg))
            }
            Instr::Produce { dst, ep, label } => {
                format!("{m} {}, {}, {}", self.reg(*dst), self.reg(*ep), sym(label))
            }
            Instr::Check { dst, ep, effect, arg } => {
                format!("{m} {}, {}, {}, {}", self.reg(*dst), self.reg(*ep), sym(effect), self.reg(*arg))
            }
            Instr::Consume { ep, witness } => format!("{m} {}, {}", self.reg(*ep), self.reg(*witness)),
        }
    }

    fn open(
        &self,
        roles: &[SymId],
        types: &[TypeId],
        handlers: &[SymId],
        dsts: &[Reg],
        buffers: &[EdgeBuffer],
    ) -> String {
        let syms = |ids: &[SymId]| ids.iter().map(|s| self.names.sym(*s)).collect::<Vec<_>>().join(", ");
        let types: Vec<String> = types.iter().map(|t| format!("type#{}", t.0)).collect();
        let mut text = format!(
            "open roles [{}], types [{}], handlers [{}], dsts {}",
            syms(roles),
            types.join(", "),
            syms(handlers),
            self.regs(dsts)
        );
        if !buffers.is_empty() {
            let items: Vec<String> = buffers.iter().map(|b| self.edge_buffer(roles, b)).collect();
            let _ = write!(text, ", buffers [{}]", items.join(", "));
        }
        text
    }

    fn edge_buffer(&self, roles: &[SymId], b: &EdgeBuffer) -> String {
        let role = |i: u16| {
            let strings = &self.names.m.strings;
            let name = roles.get(usize::from(i)).and_then(|r| strings.get(r.0 as usize));
            match name {
                Some(s) if roles.iter().position(|r| strings.get(r.0 as usize) == Some(s)) == Some(usize::from(i)) => {
                    bare_or_quoted(s)
                }
                _ => format!("role#{i}"),
            }
        };
        let mode = match b.config.mode {
            BufferMode::Fifo => "fifo",
            BufferMode::LatestValue => "latest",
        };
        let cap = b.config.capacity;
        let policy = match b.config.policy {
            Backpressure::Block => format!("block cap {cap}"),
            Backpressure::Drop => format!("drop cap {cap}"),
            Backpressure::Error => format!("error cap {cap}"),
            Backpressure::Resize { max_capacity } => format!("resize cap {cap} max {max_capacity}"),
        };
        format!("{} -> {} {mode} {policy}", role(b.from), role(b.to))
    }
}
