//! Generators of random well-formed global protocols, for property tests and
//! fuzzing of projection, the compiler and the machine (feature `testgen`).

use crate::{GlobalType, Payload, Protocol, Span};

/// The role names random protocols draw from.
pub const ROLES: [&str; 4] = ["A", "B", "C", "D"];

/// Builds a random well-formed protocol among `k` roles from a byte stream
/// (so proptest shrinks bytes). Choices inform every third party that acts in
/// them or are followed by a tail common to all branches; loops always have
/// an exit branch.
struct Gen<'a> {
    bytes: &'a [u8],
    pos: usize,
    k: usize,
    fresh: u32,
}

fn message(
    from: usize,
    to: usize,
    label: String,
    payload: Vec<Payload>,
    timeout: Option<u32>,
    cont: GlobalType,
) -> GlobalType {
    GlobalType::Message {
        from: ROLES[from].into(),
        to: ROLES[to].into(),
        label,
        payload,
        timeout_ticks: timeout,
        cont: Box::new(cont),
        span: Span::default(),
        same_payload: false,
        on_timeout: None,
        on_cancel: Vec::new(),
    }
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn role(&mut self) -> usize {
        usize::from(self.byte()) % self.k
    }

    fn other(&mut self, not: usize) -> usize {
        (not + 1 + usize::from(self.byte()) % (self.k - 1)) % self.k
    }

    fn label(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}{}", self.fresh)
    }

    fn payload(&mut self) -> Vec<Payload> {
        match self.byte() % 3 {
            0 => vec![],
            1 => vec![Payload { name: None, ty: "Int".into(), refinement: None }],
            _ => {
                vec![
                    Payload { name: Some("s".into()), ty: "String".into(), refinement: None },
                    Payload { name: None, ty: "Bool".into(), refinement: None },
                ]
            }
        }
    }

    fn msg(&mut self, from: usize, to: usize, prefix: &str, cont: GlobalType) -> GlobalType {
        let label = self.label(prefix);
        let payload = self.payload();
        message(from, to, label, payload, None, cont)
    }

    fn global(&mut self, depth: u32) -> GlobalType {
        let kind = if depth == 0 { 0 } else { self.byte() % 6 };
        match kind {
            0 => GlobalType::End,
            1 | 2 => {
                let from = self.role();
                let to = self.other(from);
                let timeout = (self.byte().is_multiple_of(4)).then_some(3);
                let (label, payload) = (self.label("M"), self.payload());
                let cont = self.global(depth - 1);
                message(from, to, label, payload, timeout, cont)
            }
            3 => {
                let role = self.role();
                let effect = self.label("Effect");
                let cont = self.global(depth - 1);
                GlobalType::Invoke {
                    role: ROLES[role].into(),
                    effect,
                    check: false,
                    cont: Box::new(cont),
                    span: Span::default(),
                }
            }
            4 => self.choice(depth),
            _ => self.rec(depth),
        }
    }

    /// `choice at s`: each branch is `s -> r: Li`, then `s` tells the informed
    /// third parties the branch, then a few messages between `s` and `r` only,
    /// then a tail common to every branch. Some branches tell the first
    /// informed party before `r`, so branches may begin with messages to
    /// different receivers.
    fn choice(&mut self, depth: u32) -> GlobalType {
        let s = self.role();
        let r = self.other(s);
        let informed: Vec<usize> = (0..self.k).filter(|&t| t != s && t != r && self.byte().is_multiple_of(2)).collect();
        let tail = self.global(depth - 1);
        let n = 2 + usize::from(self.byte() % 2);
        let branches = (0..n)
            .map(|_| {
                let mut g = tail.clone();
                for _ in 0..self.byte() % 3 {
                    let (from, to) = if self.byte().is_multiple_of(2) { (s, r) } else { (r, s) };
                    g = self.msg(from, to, "Inner", g);
                }
                // Some branches tell a third party first: their first
                // messages then go to different receivers.
                let tell_first = !informed.is_empty() && self.byte().is_multiple_of(2);
                let later = if tell_first { &informed[1..] } else { &informed[..] };
                for &t in later.iter().rev() {
                    g = self.msg(s, t, "Tell", g);
                }
                let g = self.msg(s, r, "Pick", g);
                if tell_first { self.msg(s, informed[0], "Tell", g) } else { g }
            })
            .collect();
        GlobalType::Choice { at: ROLES[s].into(), branches, span: Span::default() }
    }

    /// `rec X { prefix among P; choice at s { again: tell P; continue X } or
    /// { exit: tell P; tell the others; tail } }`. Roles outside `P` are
    /// pruned from the loop and wait for `s` to tell them it is over.
    fn rec(&mut self, depth: u32) -> GlobalType {
        let var = self.label("Loop");
        let s = self.role();
        let r = self.other(s);
        let mut members: Vec<usize> = vec![s, r];
        members.extend((0..self.k).filter(|&t| t != s && t != r && self.byte().is_multiple_of(2)));
        let branch = |g: &mut Self, prefix: &str, cont: GlobalType| {
            let mut body = cont;
            for &t in members[2..].iter().rev() {
                body = g.msg(s, t, "Tell", body);
            }
            g.msg(s, r, prefix, body)
        };
        let again = branch(self, "Again", GlobalType::Continue { var: var.clone(), span: Span::default() });
        let mut tail = self.global(depth - 1);
        // Roles outside the loop are told it ended before the tail, so that
        // none acts before it is enabled (E6115).
        for t in (0..self.k).rev().filter(|t| !members.contains(t)) {
            tail = self.msg(s, t, "Over", tail);
        }
        let exit = branch(self, "Exit", tail);
        let mut body = GlobalType::Choice { at: ROLES[s].into(), branches: vec![again, exit], span: Span::default() };
        for _ in 0..self.byte() % 3 {
            let i = usize::from(self.byte()) % members.len();
            let j = (i + 1 + usize::from(self.byte()) % (members.len() - 1)) % members.len();
            let (from, to) = (members[i], members[j]);
            body = self.msg(from, to, "Step", body);
        }
        GlobalType::Rec { var, body: Box::new(body), span: Span::default() }
    }
}

fn roles_in(g: &GlobalType, used: &mut [bool; 4]) {
    let mut mark = |r: &str| used[ROLES.iter().position(|x| *x == r).unwrap_or(0)] = true;
    match g {
        GlobalType::End | GlobalType::Continue { .. } => {}
        GlobalType::Message { from, to, cont, .. } => {
            mark(from);
            mark(to);
            roles_in(cont, used);
        }
        GlobalType::Invoke { role, cont, .. } => {
            mark(role);
            roles_in(cont, used);
        }
        GlobalType::Choice { at, branches, .. } => {
            mark(at);
            branches.iter().for_each(|b| roles_in(b, used));
        }
        GlobalType::Rec { body, .. } => roles_in(body, used),
    }
}

/// A random well-formed protocol among `k` (2..=4) roles, built from a byte
/// stream: every byte string gives a protocol, so proptest and fuzzers shrink
/// and mutate bytes. Choices inform every third party that acts in them or
/// are followed by a tail common to all branches; loops always have an exit
/// branch; some messages carry a `within 3` deadline; some roles invoke
/// effects. Reading past the end of `bytes` reads zeros.
pub fn protocol(k: usize, bytes: &[u8]) -> Protocol {
    assert!((2..=4).contains(&k), "2 to 4 roles");
    let mut g = Gen { bytes, pos: 0, k, fresh: 0 };
    let body = g.global(5);
    let body = g.msg(0, 1, "Start", body);
    let mut used = [false; 4];
    roles_in(&body, &mut used);
    let roles = ROLES.iter().zip(used).filter(|(_, u)| *u).map(|(r, _)| r.to_string()).collect();
    Protocol { name: "Random".into(), roles, body }
}
