//! The late sender's debts: a role must not wait for good for a message the
//! sender of a timed message (`M from S to R within N on timeout { .. }`)
//! owes it from before `M`.
//!
//! When `R`'s deadline passes, `S` loses its place in the session: whatever
//! it has not sent by then is never sent. `R` starts waiting (and the
//! deadline starts running) as soon as `R` reaches `M`, which may be long
//! before `S` has done everything the protocol orders before `M`. A message
//! `X from S to T` before `M` is therefore safe only if `R` cannot start
//! waiting before `X` is sent: if `X` is in the causal past of `R`'s wait
//! (a chain of messages leads from `S` sending `X` to `R` reaching `M`).
//! Otherwise `T` may wait for `X` forever, and the run stalls. A message
//! `X` that has a deadline of its own is no debt: its receiver stops
//! waiting at that deadline.
//!
//! **The analysis.** Along a path of the global type, a role's knowledge
//! of `S`'s history is a prefix of that history (the causal past is closed
//! downwards and `S`'s actions are totally ordered), so the debts a role
//! does not know of are a suffix of `S`'s sends. Two such suffixes, both
//! non-empty, share `S`'s latest debt; so whether a role may not know of
//! some debt is one bit per role (`stale`), with exact transfer rules: `S`
//! sending a debt makes every other role stale; `a` sending to `b` leaves
//! `b` stale only if `a` was (and `S` never is). A timed message from `S`
//! to a stale receiver is refused (E6117), naming `S`'s latest debt on the
//! path and the role that would wait for it.
//!
//! Paths through loops are followed by joining the bits (or) at each `rec`
//! head until they no longer grow, so the walk is linear in the protocol's
//! size times the number of roles. The join may make a role stale that is
//! not on any single path (a refusal the exact rule would not make); it
//! never misses one.

use std::collections::BTreeMap;

use crate::global::{GlobalType, Protocol};
use crate::project::ProjectionError;

/// What a role may not know: one bit per declared role, and `S`'s latest
/// debt (its label and its receiver's index) on a path that reaches here.
#[derive(Clone)]
struct Debts<'g> {
    stale: Vec<bool>,
    latest: Option<(&'g str, usize)>,
}

impl Debts<'_> {
    /// Joins `other` into `self`; whether `self` grew.
    fn join(&mut self, other: &Self) -> bool {
        let mut grew = false;
        for (a, b) in self.stale.iter_mut().zip(&other.stale) {
            if *b && !*a {
                *a = true;
                grew = true;
            }
        }
        if self.latest.is_none() && other.latest.is_some() {
            self.latest = other.latest;
            grew = true;
        }
        grew
    }
}

/// Checks every timed message with a timeout branch of `protocol` (which is
/// otherwise well-formed: roles declared, `continue`s bound).
pub(crate) fn check(protocol: &Protocol) -> Result<(), ProjectionError> {
    let mut senders: Vec<usize> = Vec::new();
    timed_senders(protocol, &protocol.body, &mut senders);
    senders.sort_unstable();
    senders.dedup();
    for s in senders {
        walk(protocol, s)?;
    }
    Ok(())
}

fn index(protocol: &Protocol, role: &str) -> usize {
    protocol.roles.iter().position(|r| r == role).unwrap_or(0)
}

/// The senders of messages that have a timeout branch.
fn timed_senders(protocol: &Protocol, body: &GlobalType, out: &mut Vec<usize>) {
    let mut stack = vec![body];
    while let Some(g) = stack.pop() {
        match g {
            GlobalType::End | GlobalType::Continue { .. } => {}
            GlobalType::Message { from, cont, on_timeout, .. } => {
                if let Some(t) = on_timeout {
                    out.push(index(protocol, from));
                    stack.push(t);
                }
                stack.push(cont);
            }
            GlobalType::Invoke { cont, .. } => stack.push(cont),
            GlobalType::Choice { branches, .. } => stack.extend(branches),
            GlobalType::Rec { body, .. } => stack.push(body),
        }
    }
}

/// Follows every path of `protocol` tracking the debts of `sender`.
fn walk(protocol: &Protocol, sender: usize) -> Result<(), ProjectionError> {
    let fresh = Debts { stale: vec![false; protocol.roles.len()], latest: None };
    // The enclosing loops of a node: (variable, `rec` node).
    type Env<'g> = Vec<(&'g str, &'g GlobalType)>;
    let mut stack: Vec<(&GlobalType, Debts, Env)> = vec![(&protocol.body, fresh, Vec::new())];
    // The joined debts at each `rec` head reached, by node address (a key
    // only, never output).
    let mut heads: BTreeMap<usize, Debts> = BTreeMap::new();
    while let Some((g, mut debts, mut env)) = stack.pop() {
        match g {
            GlobalType::End => {}
            GlobalType::Message { from, to, label, timeout_ticks, cont, on_timeout, span, .. } => {
                let (f, t) = (index(protocol, from), index(protocol, to));
                if f == sender
                    && on_timeout.is_some()
                    && debts.stale[t]
                    && let Some((owed, waiting)) = debts.latest
                {
                    return Err(ProjectionError::OwedByLateSender {
                        waiting: protocol.roles[waiting].as_str().into(),
                        owed: owed.into(),
                        sender: from.as_str().into(),
                        label: label.as_str().into(),
                        receiver: to.as_str().into(),
                        span: *span,
                    });
                }
                if let Some(o) = on_timeout {
                    // The deadline passed: the message was not delivered.
                    stack.push((o, debts.clone(), env.clone()));
                }
                if f == sender && timeout_ticks.is_none() {
                    for (i, stale) in debts.stale.iter_mut().enumerate() {
                        *stale = i != sender;
                    }
                    debts.latest = Some((label.as_str(), t));
                }
                debts.stale[t] = debts.stale[t] && debts.stale[f];
                stack.push((cont, debts, env));
            }
            GlobalType::Invoke { cont, .. } => stack.push((cont, debts, env)),
            GlobalType::Choice { branches, .. } => {
                for b in branches {
                    stack.push((b, debts.clone(), env.clone()));
                }
            }
            GlobalType::Rec { var, body, .. } => {
                let key = g as *const GlobalType as usize;
                let entry = match heads.get_mut(&key) {
                    None => {
                        heads.insert(key, debts.clone());
                        debts
                    }
                    Some(head) => {
                        if !head.join(&debts) {
                            continue;
                        }
                        head.clone()
                    }
                };
                env.push((var.as_str(), g));
                stack.push((body, entry, env));
            }
            GlobalType::Continue { var, .. } => {
                if let Some(pos) = env.iter().rposition(|(v, _)| *v == var.as_str()) {
                    let rec = env[pos].1;
                    env.truncate(pos);
                    stack.push((rec, debts, env));
                }
            }
        }
    }
    Ok(())
}
