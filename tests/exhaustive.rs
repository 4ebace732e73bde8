//! Exhaustive small-scope checking of projection (a machine-checked stand-in
//! for the Lean statements in `lean/`, which no toolchain here runs).
//!
//! Every global type up to a bound is enumerated (roles `A`, `B`, `C`;
//! labels `l0`, `l1`; messages, two-branch choices, `rec`/`continue`),
//! checked by `canon_types` well-formedness and projected. For each one that
//! projects, the projected local types run as communicating automata with
//! FIFO buffers of bound `B` and are explored exhaustively together with the
//! global type's asynchronous semantics (sends run ahead of receives; an
//! action of a role not involved in a message may overtake it), in one
//! product of (system state, set of global states):
//!
//! - **no deadlock**: a system state with no enabled action has every local
//!   type at `end` and every buffer empty;
//! - **no unspecified reception**: a receiver at a `Recv` from `p` never
//!   finds at the head of the `p` buffer a label it does not offer;
//! - **soundness**: every action the system can take, the global type can
//!   take from some state consistent with the trace so far;
//! - **completeness (realisability)**: every action the global type can take
//!   there, the system can take.
//!
//! Both semantics are bounded alike (at most `B` messages in transit per
//! channel), so the last two state trace equivalence at that bound.
//!
//! Also the machine: every enumerated protocol that projects is compiled,
//! verified, and run on the machine under every sequence of host choices
//! (DFS over `select` answers) and with each message rejected in turn; no
//! run may raise a type fault (3005–3012), and every run ends completed
//! (every session Closed or Cancelled), at the round budget (recursive
//! protocols only), or — only after a rejection — in a reported stall.
//!
//! Bounds: `cargo test` runs at most 3 messages (a two-branch choice counts
//! two) with one `rec`; `CANON_EXHAUSTIVE_MESSAGES=4 cargo test -p
//! canon-conformance --release --test exhaustive -- --ignored` runs the
//! larger documented bound with two `rec`s (docs/ci.md;
//! `CANON_EXHAUSTIVE_MACHINE=1` adds the machine runs, `CANON_EXHAUSTIVE_STRICT=1`
//! checks soundness for protocols with a pruned loop too, as the small bound
//! always does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use canon_machine::{Auth, Config, Group, GroupStatus, Host, HostCtx, Limits, SessionStatus};
use canon_types::{GlobalType, LocalType, Protocol, Span, SymId, Value, project_all};

const ROLES: [&str; 3] = ["A", "B", "C"];
const LABELS: [&str; 2] = ["l0", "l1"];
const VARS: [&str; 2] = ["X", "Y"];

/// A global type of the enumerated fragment, with in-transit messages
/// (`Transit`) for the asynchronous semantics. Roles and labels are indices.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum G {
    End,
    Var(u8),
    Rec(u8, Box<G>),
    /// `from → to : { label_i . cont_i }` (one branch: a plain message).
    Msg(u8, u8, Vec<(u8, G)>),
    /// `from ⇝ to : label . cont`: sent, not yet received.
    Transit(u8, u8, u8, Box<G>),
}

/// A communication action: `Send(p, q, l)` is `p!q:l`, `Recv(p, q, l)` is `q?p:l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Send(u8, u8, u8),
    Recv(u8, u8, u8),
}

impl Act {
    fn subject(self) -> u8 {
        match self {
            Act::Send(p, _, _) => p,
            Act::Recv(_, q, _) => q,
        }
    }
}

// ----- enumeration -----

/// Every term with at most `n` messages (a choice of two branches counts
/// two), with `bound` variables in scope and at most `recs` more binders.
fn terms(n: u32, bound: u8, recs: u8) -> Vec<G> {
    let mut out = vec![G::End];
    out.extend((0..bound).map(G::Var));
    if n == 0 {
        return out;
    }
    let subs = terms(n - 1, bound, recs);
    for p in 0..3u8 {
        for q in (0..3u8).filter(|&q| q != p) {
            for l in 0..2u8 {
                for s in &subs {
                    out.push(G::Msg(p, q, vec![(l, s.clone())]));
                }
            }
        }
    }
    // Two-branch choices at `p`: the branches send l0 and l1, to any peers,
    // and share the remaining budget.
    if n >= 2 {
        for k in 0..=(n - 2) {
            let left = terms(k, bound, recs);
            let right = terms(n - 2 - k, bound, recs);
            for p in 0..3u8 {
                for q0 in (0..3u8).filter(|&q| q != p) {
                    for q1 in (0..3u8).filter(|&q| q != p) {
                        for s0 in &left {
                            for s1 in &right {
                                let b0 = G::Msg(p, q0, vec![(0, s0.clone())]);
                                let b1 = G::Msg(p, q1, vec![(1, s1.clone())]);
                                out.push(choice(p, b0, b1));
                            }
                        }
                    }
                }
            }
        }
    }
    // `rec` binds only before a message (a binder right before `end`, a
    // variable or another binder adds nothing the enumeration lacks).
    if recs > 0 {
        for s in terms(n, bound + 1, recs - 1) {
            if matches!(s, G::Msg(..)) {
                out.push(G::Rec(bound, Box::new(s)));
            }
        }
    }
    out
}

/// A choice whose branches start with messages to the same peer is one
/// `Msg` with two branches; otherwise it is kept as a choice node through
/// its conversion to `GlobalType` (see `to_global`): `Msg(p, q0, ..)` and
/// `Msg(p, q1, ..)` under a marker `Msg(p, p, ..)`.
fn choice(p: u8, b0: G, b1: G) -> G {
    match (&b0, &b1) {
        (G::Msg(_, q0, x), G::Msg(_, q1, y)) if q0 == q1 => G::Msg(p, *q0, vec![x[0].clone(), y[0].clone()]),
        _ => G::Msg(p, p, vec![(0, b0), (1, b1)]),
    }
}

/// Roles and labels appear for the first time in increasing order (one
/// representative per renaming).
fn canonical(g: &G) -> bool {
    fn walk(g: &G, roles: &mut Vec<u8>, labels: &mut Vec<u8>) {
        match g {
            G::End | G::Var(_) => {}
            G::Rec(_, b) | G::Transit(_, _, _, b) => walk(b, roles, labels),
            G::Msg(p, q, bs) => {
                for r in [p, q] {
                    if !roles.contains(r) {
                        roles.push(*r);
                    }
                }
                for (l, c) in bs {
                    if p != q && !labels.contains(l) {
                        labels.push(*l);
                    }
                    walk(c, roles, labels);
                }
            }
        }
    }
    let (mut roles, mut labels) = (Vec::new(), Vec::new());
    walk(g, &mut roles, &mut labels);
    roles.iter().enumerate().all(|(i, &r)| usize::from(r) == i)
        && labels.iter().enumerate().all(|(i, &l)| usize::from(l) == i)
}

fn to_global(g: &G) -> GlobalType {
    let span = Span::default();
    match g {
        G::End => GlobalType::End,
        G::Var(x) => GlobalType::Continue { var: VARS[usize::from(*x)].into(), span },
        G::Rec(x, b) => GlobalType::Rec { var: VARS[usize::from(*x)].into(), body: Box::new(to_global(b)), span },
        G::Msg(p, q, bs) if p == q => GlobalType::Choice {
            at: ROLES[usize::from(*p)].into(),
            branches: bs.iter().map(|(_, b)| to_global(b)).collect(),
            span,
        },
        G::Msg(p, q, bs) if bs.len() == 1 => message(*p, *q, bs[0].0, to_global(&bs[0].1)),
        G::Msg(p, q, bs) => GlobalType::Choice {
            at: ROLES[usize::from(*p)].into(),
            branches: bs.iter().map(|(l, c)| message(*p, *q, *l, to_global(c))).collect(),
            span,
        },
        G::Transit(..) => unreachable!("enumerated types hold no message in transit"),
    }
}

fn message(p: u8, q: u8, l: u8, cont: GlobalType) -> GlobalType {
    GlobalType::Message {
        from: ROLES[usize::from(p)].into(),
        to: ROLES[usize::from(q)].into(),
        label: LABELS[usize::from(l)].into(),
        payload: Vec::new(),
        timeout_ticks: None,
        on_timeout: None,
        on_cancel: Vec::new(),
        cont: Box::new(cont),
        span: Span::default(),
        same_payload: false,
    }
}

fn used_roles(g: &G, out: &mut BTreeSet<u8>) {
    match g {
        G::End | G::Var(_) => {}
        G::Rec(_, b) | G::Transit(_, _, _, b) => used_roles(b, out),
        G::Msg(p, q, bs) => {
            out.insert(*p);
            out.insert(*q);
            for (_, c) in bs {
                used_roles(c, out);
            }
        }
    }
}

/// A compact text form, e.g. `rec X.A->B:{l0.end, l1.X}`.
fn show(g: &G) -> String {
    match g {
        G::End => "end".into(),
        G::Var(x) => VARS[usize::from(*x)].into(),
        G::Rec(x, b) => format!("rec {}.{}", VARS[usize::from(*x)], show(b)),
        G::Transit(p, q, l, c) => {
            format!("{}~>{}:{}.{}", ROLES[usize::from(*p)], ROLES[usize::from(*q)], LABELS[usize::from(*l)], show(c))
        }
        G::Msg(p, q, bs) if p == q => {
            let bs: Vec<String> = bs.iter().map(|(_, b)| show(b)).collect();
            format!("choice at {} {{{}}}", ROLES[usize::from(*p)], bs.join(" or "))
        }
        G::Msg(p, q, bs) => {
            let bs: Vec<String> = bs.iter().map(|(l, c)| format!("{}.{}", LABELS[usize::from(*l)], show(c))).collect();
            format!("{}->{}:{{{}}}", ROLES[usize::from(*p)], ROLES[usize::from(*q)], bs.join(", "))
        }
    }
}

// ----- the global type's asynchronous semantics -----

/// `g` with `Var(x)` replaced by `by` (no capture: binders are numbered by depth).
fn subst(g: &G, x: u8, by: &G) -> G {
    match g {
        G::End => G::End,
        G::Var(y) if *y == x => by.clone(),
        G::Var(y) => G::Var(*y),
        G::Rec(y, _) if *y == x => g.clone(),
        G::Rec(y, b) => G::Rec(*y, Box::new(subst(b, x, by))),
        G::Msg(p, q, bs) => G::Msg(*p, *q, bs.iter().map(|(l, c)| (*l, subst(c, x, by))).collect()),
        G::Transit(p, q, l, c) => G::Transit(*p, *q, *l, Box::new(subst(c, x, by))),
    }
}

/// Unfolds top-level `rec`s.
fn unfold(g: &G) -> G {
    let mut g = g.clone();
    for _ in 0..8 {
        match &g {
            G::Rec(x, b) => g = subst(b, *x, &g.clone()),
            _ => return g,
        }
    }
    g
}

/// A choice node's branches as (sender, receiver, label, continuation).
fn branches(p: u8, q: u8, bs: &[(u8, G)]) -> Vec<(u8, u8, G)> {
    if p == q {
        bs.iter()
            .flat_map(|(_, b)| match b {
                G::Msg(_, q2, inner) => inner.iter().map(|(l, c)| (*q2, *l, c.clone())).collect::<Vec<_>>(),
                _ => unreachable!("choice branches are messages"),
            })
            .map(|(q2, l, c)| (p, q2, l, c))
            .map(|(_, q2, l, c)| (q2, l, c))
            .collect()
    } else {
        bs.iter().map(|(l, c)| (q, *l, c.clone())).collect()
    }
}

/// Messages in transit from `p` to `q` anywhere in `g` (the most over the
/// branches of a choice).
fn in_transit(g: &G, p: u8, q: u8) -> usize {
    match g {
        G::Transit(a, b, _, c) => usize::from(*a == p && *b == q) + in_transit(c, p, q),
        G::Msg(_, _, bs) => bs.iter().map(|(_, c)| in_transit(c, p, q)).max().unwrap_or(0),
        G::End | G::Var(_) | G::Rec(..) => 0,
    }
}

/// The global type's steps with at most `bound` messages in transit per channel.
fn global_steps(g: &G, bound: usize) -> Vec<(Act, G)> {
    let mut out = steps(g, 12);
    out.retain(|(a, n)| match a {
        Act::Send(p, q, _) => in_transit(n, *p, *q) <= bound,
        Act::Recv(..) => true,
    });
    out.sort();
    out.dedup();
    out
}

/// Every `(action, successor)` of `g`; `fuel` bounds the look-through of
/// the permutation rules (recursion is unfolded under it).
fn steps(g: &G, fuel: u32) -> Vec<(Act, G)> {
    let mut out = Vec::new();
    if fuel == 0 {
        return out;
    }
    match unfold(g) {
        G::End | G::Var(_) | G::Rec(..) => {}
        G::Msg(p, q, bs) => {
            for (to, l, c) in branches(p, q, &bs) {
                out.push((Act::Send(p, to, l), G::Transit(p, to, l, Box::new(c))));
            }
            // An action of a role that is neither the chooser nor any
            // receiver overtakes the choice when every branch allows it to
            // the same successor... per branch, kept as a choice.
            let bs2 = branches(p, q, &bs);
            let involved: BTreeSet<u8> = std::iter::once(p).chain(bs2.iter().map(|b| b.0)).collect();
            let per_branch: Vec<Vec<(Act, G)>> = bs2.iter().map(|(_, _, c)| steps(c, fuel - 1)).collect();
            if let Some(first) = per_branch.first() {
                for (a, _) in first {
                    if involved.contains(&a.subject()) {
                        continue;
                    }
                    // The same action in every branch, each to one successor.
                    let succs: Vec<Option<G>> =
                        per_branch.iter().map(|s| s.iter().find(|(b, _)| b == a).map(|(_, g)| g.clone())).collect();
                    if succs.iter().all(Option::is_some) {
                        let succs: Vec<G> = succs.into_iter().map(Option::unwrap).collect();
                        let rebuilt = rebuild(p, q, &bs, &succs);
                        if !out.iter().any(|(b, g)| b == a && *g == rebuilt) {
                            out.push((*a, rebuilt));
                        }
                    }
                }
            }
        }
        G::Transit(p, q, l, c) => {
            out.push((Act::Recv(p, q, l), (*c).clone()));
            for (a, next) in steps(&c, fuel - 1) {
                if a.subject() != q {
                    out.push((a, G::Transit(p, q, l, Box::new(next))));
                }
            }
        }
    }
    out
}

/// The choice `p → q : bs` with its branch continuations replaced by `succs`.
fn rebuild(p: u8, q: u8, bs: &[(u8, G)], succs: &[G]) -> G {
    if p == q {
        let mut i = 0;
        let nb = bs
            .iter()
            .map(|(l, b)| match b {
                G::Msg(p2, q2, inner) => {
                    let inner2 = inner
                        .iter()
                        .map(|(l2, _)| {
                            let s = succs[i].clone();
                            i += 1;
                            (*l2, s)
                        })
                        .collect();
                    (*l, G::Msg(*p2, *q2, inner2))
                }
                _ => unreachable!(),
            })
            .collect();
        G::Msg(p, q, nb)
    } else {
        G::Msg(p, q, bs.iter().zip(succs).map(|((l, _), s)| (*l, s.clone())).collect())
    }
}

// ----- the projected local types as communicating automata -----

fn lsubst(t: &LocalType, x: &str, by: &LocalType) -> LocalType {
    match t {
        LocalType::Var { var } if var == x => by.clone(),
        LocalType::Mu { var, .. } if var == x => t.clone(),
        LocalType::Mu { var, body } => LocalType::Mu { var: var.clone(), body: Box::new(lsubst(body, x, by)) },
        LocalType::Send { to, branches } => LocalType::Send { to: to.clone(), branches: lbranches(branches, x, by) },
        LocalType::Recv { from, branches } => {
            LocalType::Recv { from: from.clone(), branches: lbranches(branches, x, by) }
        }
        LocalType::Choose { arms } => LocalType::Choose { arms: arms.iter().map(|a| lsubst(a, x, by)).collect() },
        other => other.clone(),
    }
}

fn lbranches(bs: &[canon_types::Branch], x: &str, by: &LocalType) -> Vec<canon_types::Branch> {
    bs.iter()
        .map(|b| canon_types::Branch {
            label: b.label.clone(),
            payload: b.payload.clone(),
            cont: lsubst(&b.cont, x, by),
        })
        .collect()
}

fn lunfold(t: &LocalType) -> LocalType {
    let mut t = t.clone();
    for _ in 0..8 {
        match &t {
            LocalType::Mu { var, body } => t = lsubst(body, var, &t.clone()),
            _ => return t,
        }
    }
    t
}

fn role_index(name: &str) -> u8 {
    ROLES.iter().position(|r| *r == name).expect("a known role") as u8
}

fn label_index(name: &str) -> u8 {
    LABELS.iter().position(|l| *l == name).expect("a known label") as u8
}

/// A system state: each role's local type and each channel's FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sys {
    locals: Vec<LocalType>,
    /// `queues[(p, q)]`: labels sent by p to q, oldest first.
    queues: BTreeMap<(u8, u8), Vec<u8>>,
}

#[derive(Debug)]
enum Violation {
    Deadlock,
    UnspecifiedReception,
    /// The system takes an action the global type does not allow.
    Unsound(#[allow(dead_code)] Act),
    /// The global type allows an action the system cannot take.
    Unrealised(#[allow(dead_code)] Act),
}

/// The enabled actions of `s` (and their successors), or an unspecified reception.
fn sys_steps(s: &Sys, roles: &[u8], bound: usize) -> Result<Vec<(Act, Sys)>, Violation> {
    let mut out = Vec::new();
    for (i, &r) in roles.iter().enumerate() {
        let local = lunfold(&s.locals[i]);
        // A send, or each arm (a send to its own peer) of a choice among peers.
        let sends: Vec<&LocalType> = match &local {
            LocalType::Choose { arms } => arms.iter().collect(),
            other => vec![other],
        };
        for send in sends {
            let LocalType::Send { to, branches } = send else { continue };
            let q = role_index(to);
            if s.queues.get(&(r, q)).map_or(0, Vec::len) < bound {
                for b in branches {
                    let l = label_index(&b.label);
                    let mut n = s.clone();
                    n.locals[i] = b.cont.clone();
                    n.queues.entry((r, q)).or_default().push(l);
                    out.push((Act::Send(r, q, l), n));
                }
            }
        }
        if let LocalType::Recv { from, branches } = local {
            let p = role_index(&from);
            if let Some(&l) = s.queues.get(&(p, r)).and_then(|q| q.first()) {
                let Some(b) = branches.iter().find(|b| label_index(&b.label) == l) else {
                    return Err(Violation::UnspecifiedReception);
                };
                let mut n = s.clone();
                n.locals[i] = b.cont.clone();
                let queue = n.queues.get_mut(&(p, r)).expect("non-empty");
                queue.remove(0);
                if queue.is_empty() {
                    n.queues.remove(&(p, r));
                }
                out.push((Act::Recv(p, r, l), n));
            }
        }
    }
    Ok(out)
}

/// Explores the product of the system and the (determinised) global type;
/// returns the number of product states, or the first violation.
fn check_protocol(g: &G, locals: Vec<LocalType>, roles: &[u8], bound: usize, sound: bool) -> Result<usize, Violation> {
    let start = (Sys { locals, queues: BTreeMap::new() }, BTreeSet::from([g.clone()]));
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some((sys, globals)) = stack.pop() {
        if !seen.insert((sys.clone(), globals.clone())) {
            continue;
        }
        let sys_next = sys_steps(&sys, roles, bound)?;
        let mut global_next: BTreeMap<Act, BTreeSet<G>> = BTreeMap::new();
        for gs in &globals {
            for (a, n) in global_steps(gs, bound) {
                global_next.entry(a).or_default().insert(n);
            }
        }
        if sys_next.is_empty() {
            let finished = sys.queues.is_empty() && sys.locals.iter().all(|t| matches!(lunfold(t), LocalType::End));
            if !finished {
                return Err(Violation::Deadlock);
            }
        }
        for a in global_next.keys() {
            if !sys_next.iter().any(|(b, _)| b == a) {
                return Err(Violation::Unrealised(*a));
            }
        }
        for (a, n) in sys_next {
            match global_next.get(&a) {
                Some(gs) => stack.push((n, gs.clone())),
                None if sound => return Err(Violation::Unsound(a)),
                // Without the soundness check the global side can no longer
                // follow; the system is still explored for deadlocks and
                // unspecified receptions.
                None => stack.push((n, BTreeSet::new())),
            }
        }
    }
    Ok(seen.len())
}

// ----- the machine under every host answer sequence -----

/// A host that answers `select` from a script (then 0) and records how many
/// options each choice had; it rejects the `reject`-th delivery, if any.
struct ScriptHost {
    script: Vec<usize>,
    taken: Arc<std::sync::Mutex<Vec<usize>>>,
    reject: Option<u64>,
    accepts: u64,
}

impl Host for ScriptHost {
    fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value {
        Value::Unit
    }
    fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        let n = self.accepts;
        self.accepts += 1;
        self.reject != Some(n)
    }
    fn choose(&mut self, _: &HostCtx<'_>, labels: &[SymId]) -> usize {
        let mut taken = self.taken.lock().expect("not poisoned");
        let i = taken.len();
        taken.push(labels.len());
        self.script.get(i).copied().unwrap_or(0)
    }
    fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, arg: &Value) -> Value {
        arg.clone()
    }
}

/// Machine runs per protocol: every choice sequence up to this many, then
/// the rejections.
const MAX_RUNS: usize = 4;

/// Choice points a script varies (later ones take the first option).
const MAX_SCRIPT: usize = 6;

/// Whether some `rec` has a role that can act after entering it (in its body,
/// or — when the body jumps to an outer loop — anywhere in the protocol) but
/// not on every path from the `rec` back to its `continue`: projection prunes
/// that loop for the role, which may then act before the loop's exit is chosen.
fn prunes(g: &G) -> bool {
    fn roles(g: &G) -> BTreeSet<u8> {
        let mut out = BTreeSet::new();
        used_roles(g, &mut out);
        out
    }
    /// Every path from `g` to `continue x` meets role `r`.
    fn every_path(g: &G, x: u8, r: u8) -> bool {
        match g {
            G::Var(y) => *y != x,
            G::End => true,
            G::Rec(_, b) | G::Transit(_, _, _, b) => every_path(b, x, r),
            G::Msg(p, q, bs) if p == q => bs.iter().all(|(_, b)| every_path(b, x, r)),
            G::Msg(p, q, bs) => *p == r || *q == r || bs.iter().all(|(_, c)| every_path(c, x, r)),
        }
    }
    /// Whether `g` jumps to a loop other than `x` bound outside it.
    fn jumps_out(g: &G, x: u8, inner: &mut Vec<u8>) -> bool {
        match g {
            G::Var(y) => *y != x && !inner.contains(y),
            G::End => false,
            G::Rec(y, b) => {
                inner.push(*y);
                let out = jumps_out(b, x, inner);
                inner.pop();
                out
            }
            G::Transit(_, _, _, b) => jumps_out(b, x, inner),
            G::Msg(_, _, bs) => bs.iter().any(|(_, c)| jumps_out(c, x, inner)),
        }
    }
    fn walk(g: &G, all: &BTreeSet<u8>) -> bool {
        match g {
            G::End | G::Var(_) => false,
            G::Rec(x, b) => {
                let candidates = if jumps_out(b, *x, &mut Vec::new()) { all.clone() } else { roles(b) };
                candidates.into_iter().any(|r| !every_path(b, *x, r)) || walk(b, all)
            }
            G::Transit(_, _, _, c) => walk(c, all),
            G::Msg(_, _, bs) => bs.iter().any(|(_, c)| walk(c, all)),
        }
    }
    walk(g, &roles(g))
}

fn has_rec(g: &G) -> bool {
    match g {
        G::End | G::Var(_) => false,
        G::Rec(..) => true,
        G::Transit(_, _, _, c) => has_rec(c),
        G::Msg(_, _, bs) => bs.iter().any(|(_, c)| has_rec(c)),
    }
}

/// Runs every choice sequence (up to `max_runs`) and, for the first, every
/// single rejection; returns the number of runs.
fn explore_machine(program: &Arc<canon_bytecode::VerifiedProgram>, recursive: bool, max_runs: usize) -> usize {
    let config =
        Config { auth: Auth::None, limits: Limits { max_rounds: 60, ..Limits::default() }, ..Config::default() };
    let mut runs = 0;
    let mut pending: Vec<(Vec<usize>, Option<u64>)> = vec![(Vec::new(), None)];
    let mut rejections_tried = false;
    while let Some((script, reject)) = pending.pop() {
        if runs >= max_runs {
            break;
        }
        runs += 1;
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = ScriptHost { script: script.clone(), taken: taken.clone(), reject, accepts: 0 };
        let mut group = Group::new(program.clone(), 0, &config, Box::new(host));
        let outcome = group.run_to_end();
        for f in group.faults() {
            let code = canon_types::ErrorCode::code(&f.fault);
            assert!(
                !(3005..=3012).contains(&code),
                "a verified program raised type fault {code} (choices {script:?}, reject {reject:?}): {:?}",
                f.fault
            );
        }
        match &outcome.status {
            GroupStatus::Completed => {
                for s in group.store().sessions() {
                    let ok = matches!(s.status, SessionStatus::Closed | SessionStatus::Cancelled)
                        || (reject.is_some() && s.status == SessionStatus::Faulted { code: 3015 });
                    assert!(ok, "a session ended {:?} (choices {script:?}, reject {reject:?})", s.status);
                }
            }
            // A rejected delivery faults the receiver; its peers may then
            // wait for ever, which the machine reports as a stall naming
            // them. Without a rejection, a projected protocol never stalls.
            GroupStatus::Stalled(report) => {
                assert!(reject.is_some(), "a projected protocol stalled (choices {script:?}): {report:?}");
                assert!(!report.blocked.is_empty(), "a stall reports who is blocked");
            }
            // A recursive protocol may loop for ever under some answers.
            GroupStatus::BudgetExhausted if recursive => {}
            other => panic!("the run ended {other:?} (choices {script:?}, reject {reject:?})"),
        }
        if reject.is_none() {
            // Every other answer at every choice point past the script.
            let taken = taken.lock().expect("not poisoned").clone();
            for (i, &options) in
                taken.iter().enumerate().skip(script.len()).take(MAX_SCRIPT.saturating_sub(script.len()))
            {
                for alt in 1..options {
                    let mut s: Vec<usize> = taken[..i].iter().map(|_| 0).collect();
                    s[..script.len().min(i)].copy_from_slice(&script[..script.len().min(i)]);
                    s.push(alt);
                    pending.push((s, None));
                }
            }
            if !rejections_tried {
                rejections_tried = true;
                for n in 0..2 {
                    pending.push((Vec::new(), Some(n)));
                }
            }
        }
    }
    runs
}

// ----- the driver -----

struct Tally {
    enumerated: usize,
    projected: usize,
    states: usize,
    machine_runs: usize,
    /// Projected protocols with a loop that projection prunes for some role.
    pruned: usize,
    /// Every violation found (the check goes on past one, so that one long
    /// run at the larger bound reports all of them).
    failures: Vec<String>,
}

/// `strict`: check soundness for protocols with a pruned loop too.
fn check_all(messages: u32, bound: usize, recs: u8, projection: bool, machine: bool, strict: bool) -> Tally {
    let mut t = Tally { enumerated: 0, projected: 0, states: 0, machine_runs: 0, pruned: 0, failures: Vec::new() };
    for g in terms(messages, 0, recs) {
        if !canonical(&g) {
            continue;
        }
        t.enumerated += 1;
        let mut roles = BTreeSet::new();
        used_roles(&g, &mut roles);
        if roles.len() < 2 {
            continue;
        }
        let roles: Vec<u8> = roles.into_iter().collect();
        let protocol = Protocol {
            name: "P".into(),
            roles: roles.iter().map(|&r| ROLES[usize::from(r)].to_string()).collect(),
            body: to_global(&g),
        };
        let Ok(projected) = project_all(&protocol) else { continue };
        t.projected += 1;
        let locals = projected.into_iter().map(|(_, l)| l).collect();
        // Projection prunes a loop a role takes no part in (project.rs). It
        // refuses the protocol if such a role would then act before it is
        // told of the loop's exit (E6115), so the pruned role only waits, and
        // its traces are global traces: `strict` checks that too. Otherwise
        // those protocols are checked for everything but soundness. Counted
        // either way.
        let pruned = prunes(&g);
        if pruned {
            t.pruned += 1;
        }
        let sound = strict || !pruned;
        if projection {
            match check_protocol(&g, locals, &roles, bound, sound) {
                Ok(states) => t.states += states,
                Err(v) => {
                    let failure = format!("{v:?} in the system of {}", show(&g));
                    eprintln!("exhaustive: {failure}");
                    t.failures.push(failure);
                }
            }
        }
        if machine {
            let module = canon_choreo::compile_protocol(&protocol, &[]).expect("a projected protocol compiles");
            let program = Arc::new(canon_bytecode::verify(module).expect("a compiled protocol verifies"));
            t.machine_runs += explore_machine(&program, has_rec(&g), MAX_RUNS);
        }
    }
    t
}

#[test]
fn projection_is_sound_and_complete_at_the_small_bound() {
    let (messages, bound, recs) = (3, 2, 1);
    let t = check_all(messages, bound, recs, true, false, true);
    eprintln!(
        "exhaustive projection: 3 roles, 2 labels, <= {messages} messages, <= {recs} rec, buffers of {bound}: \
         {} global types, {} projected ({} with a pruned loop), {} product states",
        t.enumerated, t.projected, t.pruned, t.states
    );
    assert!(t.failures.is_empty(), "{} violations: {:#?}", t.failures.len(), t.failures);
    assert!(t.projected > 1000, "the enumeration reaches projectable protocols");
}

#[test]
fn the_machine_runs_every_small_protocol_without_a_type_fault() {
    let (messages, bound, recs) = (3, 2, 1);
    let t = check_all(messages, bound, recs, false, true, false);
    eprintln!(
        "exhaustive machine: <= {messages} messages, <= {recs} rec: {} compiled protocols, {} machine runs \
         (every choice sequence up to {MAX_RUNS} runs, then 2 single rejections)",
        t.projected, t.machine_runs
    );
    assert!(t.machine_runs > t.projected, "some protocols run more than once");
}

#[test]
#[ignore = "the larger bound: CANON_EXHAUSTIVE_MESSAGES=4 cargo test --release --test exhaustive -- --ignored"]
fn projection_is_sound_and_complete_at_the_larger_bound() {
    let messages = std::env::var("CANON_EXHAUSTIVE_MESSAGES").ok().and_then(|d| d.parse().ok()).unwrap_or(4);
    let (bound, recs) = (2, 2);
    let strict = std::env::var_os("CANON_EXHAUSTIVE_STRICT").is_some();
    let t = check_all(messages, bound, recs, true, std::env::var_os("CANON_EXHAUSTIVE_MACHINE").is_some(), strict);
    eprintln!(
        "exhaustive: 3 roles, 2 labels, <= {messages} messages, <= {recs} recs, buffers of {bound}: {} global types, {} projected ({} with a pruned loop), {} product states, {} machine runs",
        t.enumerated, t.projected, t.pruned, t.states, t.machine_runs
    );
    assert!(t.failures.is_empty(), "{} violations: {:#?}", t.failures.len(), t.failures);
}

/// Found by `CANON_EXHAUSTIVE_STRICT=1` at the larger bound: a role that
/// takes no part in an inner loop, whose other branch goes back to an outer
/// loop that begins with the role sending, would send again once per pass
/// of the inner loop, before the choice is made. Projection now refuses it
/// (E6115), as Scribble does (the role is not enabled).
#[test]
fn a_role_acting_first_in_the_outer_loop_a_branch_goes_back_to_is_refused() {
    use canon_types::ErrorCode;
    // rec X.A->B:l0.C->A:l1.rec Y.A->B:{l0.X, l1.Y}: C sends l1 again while A and B loop in Y.
    let inner = G::Rec(1, Box::new(G::Msg(0, 1, vec![(0, G::Var(0)), (1, G::Var(1))])));
    let c_first = G::Rec(0, Box::new(G::Msg(0, 1, vec![(0, G::Msg(2, 0, vec![(1, inner)]))])));
    // rec X.A->B:l0.rec Y.C->B:{l0.C->B:l1.Y, l1.X}: A sends l0 again while B and C loop in Y.
    let inner = G::Rec(1, Box::new(G::Msg(2, 1, vec![(0, G::Msg(2, 1, vec![(1, G::Var(1))])), (1, G::Var(0))])));
    let a_first = G::Rec(0, Box::new(G::Msg(0, 1, vec![(0, inner)])));
    for g in [c_first, a_first] {
        let protocol =
            Protocol { name: "P".into(), roles: ROLES.iter().map(|r| r.to_string()).collect(), body: to_global(&g) };
        let err = project_all(&protocol).err().unwrap_or_else(|| panic!("{} projects", show(&g)));
        assert_eq!(err.code(), 6115, "{}: {err}", show(&g));
    }
}
