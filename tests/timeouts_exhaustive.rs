//! Exhaustive small-scope check of timeout branches: every protocol of a
//! small family with one `within N on timeout { .. }` message is projected,
//! and each one canon accepts runs as communicating automata (its projected
//! local types, unbounded FIFO buffers, every interleaving) where the
//! receiver of the timed message may time out whenever its buffer from the
//! sender is empty, which revokes the sender (it takes no further step).
//! No reachable state may be a stall (a live role not at `end` with nothing
//! enabled), an unspecified reception, or end with a message left between
//! two live roles.
//!
//! The family: roles `A`, `B`, `C`; a prefix of 0–2 messages, the timed
//! message, a timeout branch of 0–2 messages among the roles other than its
//! sender, and a continuation of 0–2 messages, every message with a label
//! of its own (no loops, no choices: the timeout is the only branching):
//! 77,658 protocols, 6,732 accepted and explored (160,944 states), 18,060
//! refused by E6117, the rest by other checks.
//!
//! The looped family puts the timed message inside `rec X { .. continue X }`
//! (the loop goes round while it comes in time; the timeout branch ends
//! it): 0–1 messages before the loop, 0–2 in the loop before the timed
//! message and 0–2 after it, a timeout branch as above, the timed message
//! from `A` to `B` (other pairs are renamings); explored with at most 2
//! messages in transit per channel. 90,601 protocols, 6,892 accepted and
//! explored (279,606 states), 31,563 refused by E6117 (debts from an
//! earlier pass of the loop included), 51,180 by E6105 and 966 by E6115.

use std::collections::BTreeSet;

use canon_types::{GlobalType, LocalType, Protocol, Span, TIMEOUT_LABEL, project_all};

const ROLES: [&str; 3] = ["A", "B", "C"];

/// One step of a role's local type, flattened.
#[derive(Debug, Clone)]
enum Node {
    End,
    Send {
        to: usize,
        label: String,
        next: usize,
    },
    Recv {
        from: usize,
        arms: Vec<(String, usize)>,
        timeout: Option<usize>,
    },
    /// A `μ` binder: the node of its body (a `continue` is the binder's index).
    Loop(usize),
}

fn role(name: &str) -> usize {
    ROLES.iter().position(|r| *r == name).expect("a known role")
}

/// Flattens `t` into `nodes`, with `loops` the binders in scope (innermost
/// last); returns its index.
fn flatten(t: &LocalType, nodes: &mut Vec<Node>, loops: &mut Vec<(String, usize)>) -> usize {
    let node = match t {
        LocalType::End => Node::End,
        LocalType::Send { to, branches } => {
            assert_eq!(branches.len(), 1, "no choices in this family");
            let next = flatten(&branches[0].cont, nodes, loops);
            Node::Send { to: role(to), label: branches[0].label.clone(), next }
        }
        LocalType::Recv { from, branches } => {
            let mut arms = Vec::new();
            let mut timeout = None;
            for b in branches {
                let next = flatten(&b.cont, nodes, loops);
                if b.label == TIMEOUT_LABEL { timeout = Some(next) } else { arms.push((b.label.clone(), next)) }
            }
            Node::Recv { from: role(from), arms, timeout }
        }
        LocalType::Mu { var, body } => {
            let at = nodes.len();
            nodes.push(Node::End);
            loops.push((var.clone(), at));
            let b = flatten(body, nodes, loops);
            loops.pop();
            nodes[at] = Node::Loop(b);
            return at;
        }
        LocalType::Var { var } => {
            return loops.iter().rev().find(|(v, _)| v == var).expect("a bound variable").1;
        }
        other => panic!("not in this family: {other}"),
    };
    nodes.push(node);
    nodes.len() - 1
}

/// The first node of `i` that is not a binder (projection guards every loop).
fn resolve(nodes: &[Node], mut i: usize) -> usize {
    while let Node::Loop(b) = nodes[i] {
        i = b;
    }
    i
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    /// Per role, its node, or `None` once revoked.
    at: Vec<Option<usize>>,
    /// Per (from, to) = from * 3 + to, the labels in transit.
    bufs: Vec<Vec<String>>,
}

/// Explores every interleaving with at most `bound` messages in transit per
/// channel (a send that would exceed it is not taken, and a state where
/// only such sends are enabled is not a stall); `Err` describes the first
/// bad state. Loop-free protocols never reach a bound of `usize::MAX`.
fn explore(locals: &[(usize, LocalType)], bound: usize) -> Result<usize, String> {
    let mut nodes = Vec::new();
    let mut at = vec![None; 3];
    for (r, t) in locals {
        let i = flatten(t, &mut nodes, &mut Vec::new());
        at[*r] = Some(resolve(&nodes, i));
    }
    let live_roles: Vec<usize> = locals.iter().map(|(r, _)| *r).collect();
    let start = State { at, bufs: vec![Vec::new(); 9] };
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        let (mut next, mut bounded) = (Vec::new(), false);
        for &p in &live_roles {
            let Some(i) = s.at[p] else { continue };
            match &nodes[i] {
                Node::End => {}
                Node::Loop(_) => unreachable!("roles stand at resolved nodes"),
                Node::Send { to, .. } if s.bufs[p * 3 + to].len() >= bound => bounded = true,
                Node::Send { to, label, next: n } => {
                    let mut t = s.clone();
                    t.bufs[p * 3 + to].push(label.clone());
                    t.at[p] = Some(resolve(&nodes, *n));
                    next.push(t);
                }
                Node::Recv { from, arms, timeout } => {
                    let buf = &s.bufs[from * 3 + p];
                    if let Some(head) = buf.first() {
                        let Some((_, n)) = arms.iter().find(|(l, _)| l == head) else {
                            return Err(format!("{} receives unexpected {head} in {s:?}", ROLES[p]));
                        };
                        let mut t = s.clone();
                        t.bufs[from * 3 + p].remove(0);
                        t.at[p] = Some(resolve(&nodes, *n));
                        next.push(t);
                    } else if let Some(n) = timeout {
                        let mut t = s.clone();
                        t.at[p] = Some(resolve(&nodes, *n));
                        t.at[*from] = None;
                        next.push(t);
                    }
                }
            }
        }
        if next.is_empty() && !bounded {
            let stuck: Vec<&str> = live_roles
                .iter()
                .filter(|&&p| s.at[p].is_some_and(|i| !matches!(nodes[i], Node::End)))
                .map(|&p| ROLES[p])
                .collect();
            if !stuck.is_empty() {
                return Err(format!("stall: {stuck:?} wait for good in {s:?}"));
            }
            for (e, buf) in s.bufs.iter().enumerate() {
                let (from, to) = (e / 3, e % 3);
                if !buf.is_empty() && s.at[from].is_some() && s.at[to].is_some() {
                    return Err(format!("orphan {buf:?} from {} to {} in {s:?}", ROLES[from], ROLES[to]));
                }
            }
        }
        stack.extend(next);
    }
    Ok(seen.len())
}

fn message(from: usize, to: usize, label: String, cont: GlobalType) -> GlobalType {
    GlobalType::Message {
        from: ROLES[from].into(),
        to: ROLES[to].into(),
        label,
        payload: vec![],
        timeout_ticks: None,
        cont: Box::new(cont),
        span: Span::default(),
        same_payload: false,
        on_timeout: None,
        on_cancel: Vec::new(),
    }
}

/// Every sequence of 0..=max messages among `roles`.
fn sequences(roles: &[usize], max: usize) -> Vec<Vec<(usize, usize)>> {
    let pairs: Vec<(usize, usize)> =
        roles.iter().flat_map(|&a| roles.iter().filter(move |&&b| b != a).map(move |&b| (a, b))).collect();
    let mut out = vec![Vec::new()];
    let mut last = vec![Vec::new()];
    for _ in 0..max {
        let mut grown = Vec::new();
        for s in &last {
            for &p in &pairs {
                let mut t: Vec<(usize, usize)> = s.clone();
                t.push(p);
                grown.push(t);
            }
        }
        out.extend(grown.iter().cloned());
        last = grown;
    }
    out
}

fn build(seq: &[(usize, usize)], prefix: &str, end: GlobalType) -> GlobalType {
    seq.iter().enumerate().rev().fold(end, |g, (i, &(a, b))| message(a, b, format!("{prefix}{i}"), g))
}

fn protocol(
    pre: &[(usize, usize)],
    timed: (usize, usize),
    branch: &[(usize, usize)],
    post: &[(usize, usize)],
) -> Protocol {
    let cont = build(post, "c", GlobalType::End);
    let branch_type = build(branch, "t", GlobalType::End);
    let mut m = message(timed.0, timed.1, "m".into(), cont);
    if let GlobalType::Message { timeout_ticks, on_timeout, .. } = &mut m {
        *timeout_ticks = Some(2);
        *on_timeout = Some(Box::new(branch_type));
    }
    let body = build(pre, "p", m);
    let mut used = BTreeSet::from([timed.0, timed.1]);
    for &(a, b) in pre.iter().chain(branch).chain(post) {
        used.insert(a);
        used.insert(b);
    }
    Protocol { name: "T".into(), roles: used.iter().map(|&r| ROLES[r].to_string()).collect(), body }
}

#[test]
fn accepted_timeout_branches_never_stall() {
    let all = [0usize, 1, 2];
    let (mut checked, mut refused_owed, mut refused_other, mut states) = (0, 0, 0, 0);
    let around = sequences(&all, 2);
    for &(s, r) in &[(0usize, 1usize), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)] {
        let others: Vec<usize> = all.iter().copied().filter(|&x| x != s).collect();
        for branch in sequences(&others, 2) {
            for pre in &around {
                for post in &around {
                    let p = protocol(pre, (s, r), &branch, post);
                    match project_all(&p) {
                        Err(e) if canon_types::ErrorCode::code(&e) == 6117 => refused_owed += 1,
                        Err(_) => refused_other += 1,
                        Ok(locals) => {
                            let locals: Vec<(usize, LocalType)> =
                                locals.into_iter().map(|(n, t)| (role(&n), t)).collect();
                            match explore(&locals, usize::MAX) {
                                Ok(n) => states += n,
                                Err(why) => panic!("{why}\n{p:#?}"),
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "timeout branches: {checked} protocols accepted and explored ({states} states), {refused_owed} refused by E6117, {refused_other} refused otherwise"
    );
    assert!(checked > 1000 && refused_owed > 100, "{checked} checked, {refused_owed} refused by E6117");
}

/// `outer`, then `rec X { pre; timed within 2 on timeout { branch }; post;
/// continue X }`: the loop goes round while the timed message comes in
/// time and ends on its timeout branch.
fn looped(
    outer: &[(usize, usize)],
    pre: &[(usize, usize)],
    timed: (usize, usize),
    branch: &[(usize, usize)],
    post: &[(usize, usize)],
) -> Protocol {
    let span = Span::default();
    let again = GlobalType::Continue { var: "X".into(), span };
    let mut m = message(timed.0, timed.1, "m".into(), build(post, "c", again));
    if let GlobalType::Message { timeout_ticks, on_timeout, .. } = &mut m {
        *timeout_ticks = Some(2);
        *on_timeout = Some(Box::new(build(branch, "t", GlobalType::End)));
    }
    let body = GlobalType::Rec { var: "X".into(), body: Box::new(build(pre, "p", m)), span };
    let mut used = BTreeSet::from([timed.0, timed.1]);
    for &(a, b) in outer.iter().chain(pre).chain(branch).chain(post) {
        used.insert(a);
        used.insert(b);
    }
    Protocol {
        name: "L".into(),
        roles: used.iter().map(|&r| ROLES[r].to_string()).collect(),
        body: build(outer, "o", body),
    }
}

/// Buffers of the looped family's exploration: a sender in a loop with no
/// answer could otherwise run ahead without end.
const LOOP_BUFFERS: usize = 2;

/// Messages before the loop, at most.
const OUTER: usize = 1;

/// The same check for timed messages inside a loop, where a late sender's
/// debts may be left from an earlier pass: every `looped` protocol with
/// the timed message from `A` to `B` (any other pair is a renaming), an
/// `outer` prefix of 0–1 messages, `pre` and `post` of 0–2 messages each
/// and a timeout branch of 0–2 messages among `B` and `C`, explored with
/// buffers of [`LOOP_BUFFERS`].
#[test]
fn accepted_timeout_branches_in_loops_never_stall() {
    let all = [0usize, 1, 2];
    let (mut checked, mut refused_owed, mut refused_other, mut states) = (0, 0, 0, 0);
    let around = sequences(&all, 2);
    let (s, r) = (0usize, 1usize);
    let mut codes = std::collections::BTreeMap::new();
    let others: Vec<usize> = all.iter().copied().filter(|&x| x != s).collect();
    for outer in sequences(&all, OUTER) {
        for branch in sequences(&others, 2) {
            for pre in &around {
                for post in &around {
                    let p = looped(&outer, pre, (s, r), &branch, post);
                    match project_all(&p) {
                        Err(e) if canon_types::ErrorCode::code(&e) == 6117 => refused_owed += 1,
                        Err(e) => {
                            refused_other += 1;
                            *codes.entry(canon_types::ErrorCode::code(&e)).or_insert(0) += 1;
                        }
                        Ok(locals) => {
                            let locals: Vec<(usize, LocalType)> =
                                locals.into_iter().map(|(n, t)| (role(&n), t)).collect();
                            match explore(&locals, LOOP_BUFFERS) {
                                Ok(n) => states += n,
                                Err(why) => panic!("{why}\n{p:#?}"),
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "timeout branches in loops: {checked} protocols accepted and explored ({states} states), {refused_owed} refused by E6117, {refused_other} refused otherwise {codes:?}"
    );
    assert!(checked > 1000 && refused_owed > 100, "{checked} checked, {refused_owed} refused by E6117");
}

/// The explorer is not vacuous: the local types of the protocol E6117
/// refuses (written by hand, since projection refuses it) stall.
#[test]
fn the_refused_shape_stalls_in_the_model() {
    let parse = |role: usize, t: LocalType| (role, t);
    let send = |to: &str, label: &str, cont: LocalType| LocalType::Send {
        to: to.into(),
        branches: vec![canon_types::Branch { label: label.into(), payload: vec![], cont }],
    };
    let recv = |from: &str, arms: Vec<(&str, LocalType)>| LocalType::Recv {
        from: from.into(),
        branches: arms
            .into_iter()
            .map(|(l, cont)| canon_types::Branch { label: l.into(), payload: vec![], cont })
            .collect(),
    };
    // S = A, R = B, T = C: B starts waiting for Done right after Job.
    let a = recv("B", vec![("Job", send("C", "Note", send("B", "Done", LocalType::End)))]);
    let b = send(
        "A",
        "Job",
        recv("A", vec![("Done", send("C", "Ok", LocalType::End)), (TIMEOUT_LABEL, send("C", "Gone", LocalType::End))]),
    );
    let c = recv("A", vec![("Note", recv("B", vec![("Ok", LocalType::End), ("Gone", LocalType::End)]))]);
    let why = explore(&[parse(0, a), parse(1, b), parse(2, c)], usize::MAX).expect_err("the refused shape stalls");
    assert!(why.contains("stall: [\"C\"]"), "{why}");
}

/// The looped check is not vacuous either: a debt left from an earlier
/// pass. In `rec X { m from A to B within 2 on timeout {}; x from A to C;
/// continue X }`, `B` waits for the next `m` as soon as it has the last
/// one, and `A` may miss that deadline before it sends `x`: projection
/// refuses it (E6117), and its local types, written by hand, stall `C`.
#[test]
fn a_debt_from_an_earlier_pass_is_refused_and_stalls_in_the_model() {
    let p = looped(&[], &[], (0, 1), &[], &[(0, 2)]);
    let err = project_all(&p).expect_err("refused");
    assert_eq!(canon_types::ErrorCode::code(&err), 6117, "{err}");
    let branch = |label: &str, cont: LocalType| canon_types::Branch { label: label.into(), payload: vec![], cont };
    let again = || LocalType::Var { var: "X".into() };
    let mu = |body: LocalType| LocalType::Mu { var: "X".into(), body: Box::new(body) };
    let send =
        |to: &str, label: &str, cont: LocalType| LocalType::Send { to: to.into(), branches: vec![branch(label, cont)] };
    let a = mu(send("B", "m", send("C", "c0", again())));
    let b = mu(LocalType::Recv {
        from: "A".into(),
        branches: vec![branch("m", again()), branch(TIMEOUT_LABEL, LocalType::End)],
    });
    let c = mu(LocalType::Recv { from: "A".into(), branches: vec![branch("c0", again())] });
    let why = explore(&[(0, a), (1, b), (2, c)], LOOP_BUFFERS).expect_err("the refused shape stalls");
    assert!(why.contains("stall: [\"C\"]"), "{why}");
}
