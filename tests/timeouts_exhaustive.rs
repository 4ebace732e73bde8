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
//! of its own (no loops, no choices: the timeout is the only branching).

use std::collections::BTreeSet;

use canon_types::{GlobalType, LocalType, Protocol, Span, TIMEOUT_LABEL, project_all};

const ROLES: [&str; 3] = ["A", "B", "C"];

/// One step of a role's local type, flattened.
#[derive(Debug, Clone)]
enum Node {
    End,
    Send { to: usize, label: String, next: usize },
    Recv { from: usize, arms: Vec<(String, usize)>, timeout: Option<usize> },
}

fn role(name: &str) -> usize {
    ROLES.iter().position(|r| *r == name).expect("a known role")
}

/// Flattens `t` into `nodes`; returns its index.
fn flatten(t: &LocalType, nodes: &mut Vec<Node>) -> usize {
    let node = match t {
        LocalType::End => Node::End,
        LocalType::Send { to, branches } => {
            assert_eq!(branches.len(), 1, "no choices in this family");
            let next = flatten(&branches[0].cont, nodes);
            Node::Send { to: role(to), label: branches[0].label.clone(), next }
        }
        LocalType::Recv { from, branches } => {
            let mut arms = Vec::new();
            let mut timeout = None;
            for b in branches {
                let next = flatten(&b.cont, nodes);
                if b.label == TIMEOUT_LABEL { timeout = Some(next) } else { arms.push((b.label.clone(), next)) }
            }
            Node::Recv { from: role(from), arms, timeout }
        }
        other => panic!("not in this family: {other}"),
    };
    nodes.push(node);
    nodes.len() - 1
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    /// Per role, its node, or `None` once revoked.
    at: Vec<Option<usize>>,
    /// Per (from, to) = from * 3 + to, the labels in transit.
    bufs: Vec<Vec<String>>,
}

/// Explores every interleaving; `Err` describes the first bad state.
fn explore(locals: &[(usize, LocalType)]) -> Result<usize, String> {
    let mut nodes = Vec::new();
    let mut at = vec![None; 3];
    for (r, t) in locals {
        at[*r] = Some(flatten(t, &mut nodes));
    }
    let live_roles: Vec<usize> = locals.iter().map(|(r, _)| *r).collect();
    let start = State { at, bufs: vec![Vec::new(); 9] };
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        let mut next = Vec::new();
        for &p in &live_roles {
            let Some(i) = s.at[p] else { continue };
            match &nodes[i] {
                Node::End => {}
                Node::Send { to, label, next: n } => {
                    let mut t = s.clone();
                    t.bufs[p * 3 + to].push(label.clone());
                    t.at[p] = Some(*n);
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
                        t.at[p] = Some(*n);
                        next.push(t);
                    } else if let Some(n) = timeout {
                        let mut t = s.clone();
                        t.at[p] = Some(*n);
                        t.at[*from] = None;
                        next.push(t);
                    }
                }
            }
        }
        if next.is_empty() {
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
                            match explore(&locals) {
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
    let why = explore(&[parse(0, a), parse(1, b), parse(2, c)]).expect_err("the refused shape stalls");
    assert!(why.contains("stall: [\"C\"]"), "{why}");
}
