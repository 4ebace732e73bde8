//! Projection laws on random protocols.

use canon_types::{Branch, GlobalType, LocalType, Payload, Protocol, Span, TIMEOUT_LABEL, project, project_all};
use proptest::prelude::*;

/// Builds a random well-formed two-party protocol from a byte stream, so
/// proptest shrinks the bytes.
struct Gen<'a> {
    bytes: &'a [u8],
    pos: usize,
    fresh: u32,
}

const ROLES: [&str; 2] = ["A", "B"];

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}{}", self.fresh)
    }

    fn msg(&mut self, from: usize, label: String, cont: GlobalType) -> GlobalType {
        let payload = match self.byte() % 3 {
            0 => vec![],
            1 => vec![Payload { name: None, ty: "Int".into(), refinement: None }],
            _ => vec![Payload { name: Some("x".into()), ty: "String".into(), refinement: None }],
        };
        GlobalType::Message {
            from: ROLES[from].into(),
            to: ROLES[1 - from].into(),
            label,
            payload,
            timeout_ticks: None,
            cont: Box::new(cont),
            span: Span::default(),
            same_payload: false,
            on_timeout: None,
            on_cancel: Vec::new(),
        }
    }

    fn global(&mut self, depth: u32) -> GlobalType {
        let kind = if depth == 0 { 0 } else { self.byte() % 5 };
        let from = usize::from(self.byte() % 2);
        match kind {
            0 => GlobalType::End,
            1 => {
                let label = self.fresh("M");
                let cont = self.global(depth - 1);
                self.msg(from, label, cont)
            }
            2 => {
                let n = 2 + usize::from(self.byte() % 2);
                let branches = (0..n)
                    .map(|_| {
                        let label = self.fresh("C");
                        let cont = self.global(depth - 1);
                        self.msg(from, label, cont)
                    })
                    .collect();
                GlobalType::Choice { at: ROLES[from].into(), branches, span: Span::default() }
            }
            4 => {
                // `M from from to other within N on timeout { }`: with two
                // roles the branch can only end (the sender is out of it).
                let label = self.fresh("T");
                let cont = self.global(depth - 1);
                let mut m = self.msg(from, label, cont);
                if let GlobalType::Message { timeout_ticks, on_timeout, .. } = &mut m {
                    *timeout_ticks = Some(1 + u32::from(self.byte() % 3));
                    *on_timeout = Some(Box::new(GlobalType::End));
                }
                m
            }
            _ => {
                let var = self.fresh("X");
                let again = GlobalType::Continue { var: var.clone(), span: Span::default() };
                let ack = self.fresh("Ack");
                let again = self.msg(1 - from, ack, again);
                let (l1, l2) = (self.fresh("Again"), self.fresh("Exit"));
                let again = self.msg(from, l1, again);
                let exit = self.global(depth - 1);
                let exit = self.msg(from, l2, exit);
                let choice =
                    GlobalType::Choice { at: ROLES[from].into(), branches: vec![again, exit], span: Span::default() };
                GlobalType::Rec { var, body: Box::new(choice), span: Span::default() }
            }
        }
    }
}

/// `ty` without its timeout branches (the `@timeout` branches of receives).
fn without_timeouts(ty: &LocalType) -> LocalType {
    let branches = |bs: &[Branch]| -> Vec<Branch> {
        bs.iter()
            .filter(|b| b.label != TIMEOUT_LABEL)
            .map(|b| Branch { label: b.label.clone(), payload: b.payload.clone(), cont: without_timeouts(&b.cont) })
            .collect()
    };
    match ty {
        LocalType::Send { to, branches: bs } => LocalType::Send { to: to.clone(), branches: branches(bs) },
        LocalType::Recv { from, branches: bs } => LocalType::Recv { from: from.clone(), branches: branches(bs) },
        LocalType::Mu { var, body } => LocalType::Mu { var: var.clone(), body: Box::new(without_timeouts(body)) },
        LocalType::Choose { arms } => LocalType::Choose { arms: arms.iter().map(without_timeouts).collect() },
        LocalType::End | LocalType::Var { .. } => ty.clone(),
    }
}

/// Every `@timeout` branch of `ty` continues with `end`.
fn timeout_branches_end(ty: &LocalType) -> bool {
    match ty {
        LocalType::Send { branches, .. } | LocalType::Recv { branches, .. } => branches
            .iter()
            .all(|b| if b.label == TIMEOUT_LABEL { b.cont == LocalType::End } else { timeout_branches_end(&b.cont) }),
        LocalType::Mu { body, .. } => timeout_branches_end(body),
        LocalType::Choose { arms } => arms.iter().all(timeout_branches_end),
        LocalType::End | LocalType::Var { .. } => true,
    }
}

fn dual(ty: &LocalType, me: &str) -> LocalType {
    let branches = |bs: &[Branch]| -> Vec<Branch> {
        bs.iter()
            .map(|b| Branch { label: b.label.clone(), payload: b.payload.clone(), cont: dual(&b.cont, me) })
            .collect()
    };
    match ty {
        LocalType::End => LocalType::End,
        LocalType::Send { branches: bs, .. } => LocalType::Recv { from: me.into(), branches: branches(bs) },
        LocalType::Recv { branches: bs, .. } => LocalType::Send { to: me.into(), branches: branches(bs) },
        LocalType::Mu { var, body } => LocalType::Mu { var: var.clone(), body: Box::new(dual(body, me)) },
        LocalType::Var { var } => LocalType::Var { var: var.clone() },
        LocalType::Choose { .. } => panic!("a two-party protocol has no choice among peers"),
    }
}

fn protocol(bytes: &[u8]) -> Protocol {
    let mut g = Gen { bytes, pos: 0, fresh: 0 };
    // Start with a message so both roles are used.
    let first = g.fresh("Hello");
    let body = g.global(5);
    let body = g.msg(0, first, body);
    Protocol { name: "Random".into(), roles: ROLES.iter().map(|r| r.to_string()).collect(), body }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// In a two-party protocol each role's local type is the other's dual,
    /// but for the receiver's timeout branches (the sender's type never
    /// mentions the deadline), which end: the late sender is out of them.
    #[test]
    fn two_party_projections_are_dual(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = protocol(&bytes);
        let a = project(&p, "A").unwrap();
        let b = project(&p, "B").unwrap();
        prop_assert!(timeout_branches_end(&a) && timeout_branches_end(&b), "{a}\n{b}");
        prop_assert_eq!(dual(&without_timeouts(&b), "B"), without_timeouts(&a));
    }

    /// A bystander that is only told goodbye at every `end` sees exactly that
    /// (the loops it takes no part in are pruned), and the others' local types
    /// change only at their ends.
    #[test]
    fn a_late_bystander_prunes_loops_and_changes_only_ends(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = protocol(&bytes);
        // `A` tells `C` goodbye at every end, timeout branches included: it
        // cannot in the timeout branch of a message it sends (it is out of it).
        prop_assume!(!a_sends_a_timed_message(&p.body));
        let mut with_c = p.clone();
        with_c.roles.push("C".into());
        append_at_ends(&mut with_c.body);
        let all = project_all(&with_c).unwrap();
        prop_assert_eq!(all[2].1.to_string(), "A?Bye().end");
        let a = project(&p, "A").unwrap().to_string();
        prop_assert_eq!(all[0].1.to_string(), a.replace("end", "C!Bye().end"));
        prop_assert_eq!(&all[1].1, &project(&p, "B").unwrap());
    }
}

fn append_at_ends(g: &mut GlobalType) {
    match g {
        GlobalType::End => {
            *g = GlobalType::Message {
                from: "A".into(),
                to: "C".into(),
                label: "Bye".into(),
                payload: vec![],
                timeout_ticks: None,
                cont: Box::new(GlobalType::End),
                span: Span::default(),
                same_payload: false,
                on_timeout: None,
                on_cancel: Vec::new(),
            }
        }
        GlobalType::Message { cont, on_timeout, .. } => {
            append_at_ends(cont);
            if let Some(t) = on_timeout {
                append_at_ends(t);
            }
        }
        GlobalType::Invoke { cont, .. } => append_at_ends(cont),
        GlobalType::Choice { branches, .. } => branches.iter_mut().for_each(append_at_ends),
        GlobalType::Rec { body, .. } => append_at_ends(body),
        GlobalType::Continue { .. } => {}
    }
}

fn a_sends_a_timed_message(g: &GlobalType) -> bool {
    match g {
        GlobalType::Message { from, cont, on_timeout, .. } => {
            (on_timeout.is_some() && from == "A") || a_sends_a_timed_message(cont)
        }
        GlobalType::Invoke { cont, .. } => a_sends_a_timed_message(cont),
        GlobalType::Choice { branches, .. } => branches.iter().any(a_sends_a_timed_message),
        GlobalType::Rec { body, .. } => a_sends_a_timed_message(body),
        GlobalType::End | GlobalType::Continue { .. } => false,
    }
}
