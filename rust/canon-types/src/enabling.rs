//! Choice enabling as Scribble defines it: the first action of a branch is
//! found by looking through nested choices at the same subject, `rec`
//! binders and `continue` (unfolding). [`normalize_choices`] rewrites a
//! global type into an equivalent one where every such branch begins with a
//! message, so that well-formedness ([`crate::wf`]) and projection only have
//! to look at branch heads:
//!
//! - a branch that is itself `choice at S` (same subject `S`) is flattened
//!   into the enclosing choice;
//! - a branch that begins with `rec X { body }` is unfolded once, to
//!   `body[continue X := rec X { body }]`;
//! - a `rec X { m; rest }` (its body begins with a message `m`) in which some
//!   choice branch is `continue X` is rotated to `m; rec X { rest' }`, where
//!   `rest'` replaces each `continue X` by `m; continue X`. Both unfold to
//!   the same sequences of messages;
//! - a `rec X { choice at S { .. } }` in which one nested choice `N` at `S`
//!   has a branch `continue X` turns `N` into `rec X' { choice at S { N's
//!   other branches, the body's branches with `N` replaced by `continue X'` }
//!   }`.
//!
//! Protocols that need none of this are returned unchanged. A rewrite that
//! would grow the type beyond [`MAX_NORMALIZED_NODES`] is not made (the
//! protocol is then refused by the usual well-formedness check).

use crate::global::GlobalType;

/// The largest global type (in nodes) normalisation produces by unfolding.
pub const MAX_NORMALIZED_NODES: usize = 20_000;

/// Rewrites `g` so that every choice branch begins with a message where
/// Scribble's enabling rules find one (see the module docs). A type with no
/// branch to rewrite is returned as is, without recursion.
pub fn normalize_choices(g: GlobalType) -> GlobalType {
    if !needs_rewrite(&g) {
        return g;
    }
    let mut budget = MAX_NORMALIZED_NODES.saturating_sub(size(&g));
    norm(&g, &mut budget)
}

/// Whether some choice branch is a choice at the same subject, a `rec` or a
/// `continue` (checked without recursion).
fn needs_rewrite(g: &GlobalType) -> bool {
    let mut stack = vec![g];
    while let Some(g) = stack.pop() {
        match g {
            GlobalType::End | GlobalType::Continue { .. } => {}
            GlobalType::Message { cont, on_timeout, .. } => {
                stack.push(cont);
                stack.extend(on_timeout.as_deref());
            }
            GlobalType::Invoke { cont, .. } => stack.push(cont),
            GlobalType::Rec { body, .. } => stack.push(body),
            GlobalType::Choice { at, branches, .. } => {
                for b in branches {
                    match b {
                        GlobalType::Choice { at: inner, .. } if inner == at => return true,
                        GlobalType::Rec { .. } | GlobalType::Continue { .. } => return true,
                        _ => stack.push(b),
                    }
                }
            }
        }
    }
    false
}

fn size(g: &GlobalType) -> usize {
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

/// Charges `n` nodes to `budget`; false (and nothing charged) if over.
fn charge(budget: &mut usize, n: usize) -> bool {
    if n > *budget {
        return false;
    }
    *budget -= n;
    true
}

fn norm(g: &GlobalType, budget: &mut usize) -> GlobalType {
    match g {
        GlobalType::End | GlobalType::Continue { .. } => g.clone(),
        GlobalType::Message { .. } | GlobalType::Invoke { .. } => map_children(g, &mut |c| norm(c, budget)),
        GlobalType::Rec { var, body, span } => {
            let body = norm(body, budget);
            rotate(var, body, *span, budget)
        }
        GlobalType::Choice { at, branches, span } => {
            let mut out = Vec::with_capacity(branches.len());
            for b in branches {
                let b = norm(b, budget);
                flatten_into(at, b, &mut out, budget, 0);
            }
            GlobalType::Choice { at: at.clone(), branches: out, span: *span }
        }
    }
}

/// The most `rec` unfoldings made at one branch head.
const MAX_HEAD_UNFOLDS: usize = 8;

/// Appends branch `b` of a choice at `at` to `out`, flattening a nested
/// choice at the same subject and unfolding a `rec` at the head.
fn flatten_into(at: &str, b: GlobalType, out: &mut Vec<GlobalType>, budget: &mut usize, depth: usize) {
    match b {
        GlobalType::Choice { at: inner, branches, .. } if inner == at => {
            for b in branches {
                flatten_into(at, b, out, budget, depth);
            }
        }
        GlobalType::Rec { ref var, ref body, .. } if depth < MAX_HEAD_UNFOLDS && starts_at(body, at) => {
            let cost = size(body).saturating_mul(2);
            if !charge(budget, cost) {
                out.push(b);
                return;
            }
            let unfolded = substitute(body, var, &b);
            flatten_into(at, unfolded, out, budget, depth + 1);
        }
        other => out.push(other),
    }
}

/// Whether `g` begins with `at` acting (a message it sends, or a choice at
/// it), looking through `rec` binders.
fn starts_at(g: &GlobalType, at: &str) -> bool {
    match g {
        GlobalType::Message { from, .. } => from == at,
        GlobalType::Choice { at: c, .. } => c == at,
        GlobalType::Rec { body, .. } => starts_at(body, at),
        _ => false,
    }
}

/// `g` rebuilt with `f` applied to each of its direct children (the
/// continuation, loop body or branches); leaves are cloned.
fn map_children(g: &GlobalType, f: &mut impl FnMut(&GlobalType) -> GlobalType) -> GlobalType {
    match g {
        GlobalType::End | GlobalType::Continue { .. } => g.clone(),
        GlobalType::Message {
            from,
            to,
            label,
            payload,
            timeout_ticks,
            cont,
            span,
            same_payload,
            on_timeout,
            on_cancel,
        } => GlobalType::Message {
            from: from.clone(),
            to: to.clone(),
            label: label.clone(),
            payload: payload.clone(),
            timeout_ticks: *timeout_ticks,
            cont: Box::new(f(cont)),
            span: *span,
            same_payload: *same_payload,
            on_timeout: on_timeout.as_ref().map(|t| Box::new(f(t))),
            on_cancel: on_cancel.clone(),
        },
        GlobalType::Invoke { role, effect, check, cont, span } => GlobalType::Invoke {
            role: role.clone(),
            effect: effect.clone(),
            check: *check,
            cont: Box::new(f(cont)),
            span: *span,
        },
        GlobalType::Rec { var, body, span } => {
            GlobalType::Rec { var: var.clone(), body: Box::new(f(body)), span: *span }
        }
        GlobalType::Choice { at, branches, span } => {
            GlobalType::Choice { at: at.clone(), branches: branches.iter().map(f).collect(), span: *span }
        }
    }
}

/// `g` with every free `continue var` replaced by `with`.
fn substitute(g: &GlobalType, var: &str, with: &GlobalType) -> GlobalType {
    match g {
        GlobalType::Continue { var: v, .. } if v == var => with.clone(),
        GlobalType::Rec { var: v, .. } if v == var => g.clone(),
        _ => map_children(g, &mut |c| substitute(c, var, with)),
    }
}

/// Whether some choice in `g` (not under a rebinding of `var`) has a branch
/// that is `continue var`.
fn has_head_continue(g: &GlobalType, var: &str) -> bool {
    match g {
        GlobalType::End | GlobalType::Continue { .. } => false,
        GlobalType::Message { cont, on_timeout, .. } => {
            has_head_continue(cont, var) || on_timeout.as_ref().is_some_and(|t| has_head_continue(t, var))
        }
        GlobalType::Invoke { cont, .. } => has_head_continue(cont, var),
        GlobalType::Rec { var: v, body, .. } => v != var && has_head_continue(body, var),
        GlobalType::Choice { branches, .. } => branches
            .iter()
            .any(|b| matches!(b, GlobalType::Continue { var: v, .. } if v == var) || has_head_continue(b, var)),
    }
}

/// The distinct choices at `at` in `g` (not under a rebinding of `var`)
/// with a branch that is `continue var`.
fn head_continue_choices(g: &GlobalType, var: &str, at: &str, out: &mut Vec<GlobalType>) {
    match g {
        GlobalType::End | GlobalType::Continue { .. } => {}
        GlobalType::Message { cont, on_timeout, .. } => {
            head_continue_choices(cont, var, at, out);
            if let Some(t) = on_timeout {
                head_continue_choices(t, var, at, out);
            }
        }
        GlobalType::Invoke { cont, .. } => head_continue_choices(cont, var, at, out),
        GlobalType::Rec { var: v, body, .. } => {
            if v != var {
                head_continue_choices(body, var, at, out)
            }
        }
        GlobalType::Choice { at: c, branches, .. } => {
            let head = branches.iter().any(|b| matches!(b, GlobalType::Continue { var: v, .. } if v == var));
            if head && c == at && !out.contains(g) {
                out.push(g.clone());
            }
            for b in branches {
                head_continue_choices(b, var, at, out);
            }
        }
    }
}

/// `g` with every subtree equal to `target` replaced by `with`. Equal
/// subtrees in one loop body are the same state, so this keeps meaning.
fn replace_eq(g: &GlobalType, target: &GlobalType, with: &GlobalType) -> GlobalType {
    if g == target {
        return with.clone();
    }
    map_children(g, &mut |c| replace_eq(c, target, with))
}

/// `rec var { choice at A { b1 } or .. { bn } }` where one nested choice `N`
/// at `A` has a branch `continue var`: `N` becomes
/// `rec var' { choice at A { ..N's other branches, b1', .., bn' } }`, where
/// `bi'` is `bi` with `N` replaced by `continue var'` (unfolding the jump
/// back to the loop's choice, and naming the point `N` it returns to).
fn loop_choice(var: &str, body: GlobalType, budget: &mut usize) -> GlobalType {
    let GlobalType::Choice { at, branches: top, .. } = &body else { return body };
    let mut found = Vec::new();
    head_continue_choices(&body, var, at, &mut found);
    let [target] = found.as_slice() else { return body };
    let GlobalType::Choice { branches: own, span: n_span, .. } = target else { return body };
    if !charge(budget, size(&body).saturating_mul(2)) {
        return body;
    }
    let inner = format!("{var}'");
    let jump = GlobalType::Continue { var: inner.clone(), span: *n_span };
    let mut branches = Vec::with_capacity(own.len() + top.len());
    for b in own {
        if matches!(b, GlobalType::Continue { var: v, .. } if v == var) {
            branches.extend(top.iter().map(|t| replace_eq(t, target, &jump)));
        } else {
            branches.push(b.clone());
        }
    }
    let choice = GlobalType::Choice { at: at.clone(), branches, span: *n_span };
    let named = GlobalType::Rec { var: inner, body: Box::new(choice), span: *n_span };
    replace_eq(&body, target, &named)
}

/// `rec var { body }`, rotated past its first message when a choice branch
/// in `body` is `continue var` (see the module docs).
fn rotate(var: &str, body: GlobalType, span: crate::global::Span, budget: &mut usize) -> GlobalType {
    let body = if matches!(body, GlobalType::Choice { .. }) && has_head_continue(&body, var) {
        loop_choice(var, body, budget)
    } else {
        body
    };
    let rotatable = matches!(body, GlobalType::Message { .. }) && has_head_continue(&body, var);
    if !rotatable || !charge(budget, size(&body)) {
        return GlobalType::Rec { var: var.to_owned(), body: Box::new(body), span };
    }
    let GlobalType::Message {
        from,
        to,
        label,
        payload,
        timeout_ticks,
        cont,
        span: m_span,
        same_payload,
        on_timeout,
        on_cancel,
    } = body
    else {
        return GlobalType::Rec { var: var.to_owned(), body: Box::new(body), span };
    };
    let head = |cont: GlobalType| GlobalType::Message {
        from: from.clone(),
        to: to.clone(),
        label: label.clone(),
        payload: payload.clone(),
        timeout_ticks,
        cont: Box::new(cont),
        span: m_span,
        same_payload,
        on_timeout: on_timeout.clone(),
        on_cancel: on_cancel.clone(),
    };
    let again = head(GlobalType::Continue { var: var.to_owned(), span });
    let rest = substitute(&cont, var, &again);
    head(GlobalType::Rec { var: var.to_owned(), body: Box::new(rest), span })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::Span;

    fn msg(from: &str, to: &str, label: &str, cont: GlobalType) -> GlobalType {
        GlobalType::Message {
            from: from.into(),
            to: to.into(),
            label: label.into(),
            payload: vec![],
            timeout_ticks: None,
            cont: Box::new(cont),
            span: Span::default(),
            same_payload: false,
            on_timeout: None,
            on_cancel: Vec::new(),
        }
    }

    fn cont(var: &str) -> GlobalType {
        GlobalType::Continue { var: var.into(), span: Span::default() }
    }

    fn choice(at: &str, branches: Vec<GlobalType>) -> GlobalType {
        GlobalType::Choice { at: at.into(), branches, span: Span::default() }
    }

    fn rec(var: &str, body: GlobalType) -> GlobalType {
        GlobalType::Rec { var: var.into(), body: Box::new(body), span: Span::default() }
    }

    #[test]
    fn nested_choice_at_the_same_subject_is_flattened() {
        let inner = choice("A", vec![msg("A", "B", "x", GlobalType::End), msg("A", "B", "y", GlobalType::End)]);
        let g = choice("A", vec![inner, msg("A", "B", "z", GlobalType::End)]);
        let GlobalType::Choice { branches, .. } = normalize_choices(g.clone()) else { panic!("a choice") };
        assert_eq!(branches.len(), 3);
    }

    #[test]
    fn continue_at_a_branch_head_rotates_the_loop() {
        // rec X { a; choice at A { continue X } or { b } }
        let g = rec("X", msg("A", "B", "a", choice("A", vec![cont("X"), msg("A", "B", "b", GlobalType::End)])));
        let want = msg(
            "A",
            "B",
            "a",
            rec("X", choice("A", vec![msg("A", "B", "a", cont("X")), msg("A", "B", "b", GlobalType::End)])),
        );
        assert_eq!(normalize_choices(g.clone()), want);
    }

    #[test]
    fn continue_to_a_loop_of_choices_names_the_nested_choice() {
        // rec X { choice at A { m; choice at A { continue X } or { n } } or { s } }
        let nested = choice("A", vec![cont("X"), msg("A", "B", "n", GlobalType::End)]);
        let g = rec("X", choice("A", vec![msg("A", "B", "m", nested), msg("A", "B", "s", GlobalType::End)]));
        let named = rec(
            "X'",
            choice(
                "A",
                vec![
                    msg("A", "B", "m", cont("X'")),
                    msg("A", "B", "s", GlobalType::End),
                    msg("A", "B", "n", GlobalType::End),
                ],
            ),
        );
        let want = rec("X", choice("A", vec![msg("A", "B", "m", named), msg("A", "B", "s", GlobalType::End)]));
        assert_eq!(normalize_choices(g), want);
    }

    #[test]
    fn rec_at_a_branch_head_is_unfolded_once() {
        let r = rec("X", msg("A", "B", "a", cont("X")));
        let g = choice("A", vec![r.clone(), msg("A", "B", "b", GlobalType::End)]);
        let GlobalType::Choice { branches, .. } = normalize_choices(g.clone()) else { panic!("a choice") };
        assert_eq!(branches[0], msg("A", "B", "a", r));
    }

    #[test]
    fn protocols_needing_nothing_are_unchanged() {
        let g = rec("X", choice("A", vec![msg("A", "B", "a", cont("X")), msg("A", "B", "b", GlobalType::End)]));
        assert_eq!(normalize_choices(g.clone()), g);
    }
}
