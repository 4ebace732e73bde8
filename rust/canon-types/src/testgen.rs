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
    fresh: u32,
    /// The roles the part being generated may use: all `k`, or, inside a
    /// timeout branch, all but the late sender (it lost its place).
    allowed: Vec<usize>,
    /// Whether a timed message's sender first tells its receiver (`Sync`),
    /// so that it owes nobody anything when the deadline may pass.
    sync: bool,
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
        let b = usize::from(self.byte());
        self.allowed[b % self.allowed.len()]
    }

    fn other(&mut self, not: usize) -> usize {
        let at = self.allowed.iter().position(|&r| r == not).unwrap_or(0);
        let n = self.allowed.len();
        let b = usize::from(self.byte());
        self.allowed[(at + 1 + b % (n - 1)) % n]
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
        // Messages need two roles; inside a timeout branch there may be one.
        let kind = if depth == 0 || self.allowed.len() < 2 { 0 } else { self.byte() % 7 };
        match kind {
            0 => match self.allowed.first().copied() {
                Some(role) if depth > 0 && self.byte().is_multiple_of(4) => {
                    let effect = self.label("Effect");
                    let cont = Box::new(GlobalType::End);
                    GlobalType::Invoke { role: ROLES[role].into(), effect, check: false, cont, span: Span::default() }
                }
                _ => GlobalType::End,
            },
            1 | 2 => {
                let from = self.role();
                let to = self.other(from);
                let timeout = (self.byte().is_multiple_of(4)).then_some(3);
                let (label, payload) = (self.label("M"), self.payload());
                let on_cancel = match timeout {
                    Some(_) if self.byte().is_multiple_of(2) => {
                        (0..1 + self.byte() % 2).map(|_| self.label("Cancelled")).collect()
                    }
                    _ => Vec::new(),
                };
                let cont = self.global(depth - 1);
                let mut m = message(from, to, label, payload, timeout, cont);
                if let GlobalType::Message { on_cancel: c, .. } = &mut m {
                    *c = on_cancel;
                }
                m
            }
            6 => self.timed(depth),
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

    /// `Sync from f to t; [Delay from g to f;] M from f to t within 1|2 on
    /// timeout { B }; cont`. `Sync` comes first so that `t` starts waiting
    /// only once `f` owes nobody anything (E6117); on each path `t` tells every other allowed
    /// role which one was taken (`Got` or `Late`), so third parties merge;
    /// `B` is a random protocol among the allowed roles but `f`, which never
    /// jumps back to a loop around the message.
    fn timed(&mut self, depth: u32) -> GlobalType {
        let f = self.role();
        let t = self.other(f);
        let told: Vec<usize> = self.allowed.iter().copied().filter(|&r| r != f && r != t).collect();
        let mut cont = self.global(depth - 1);
        for &r in told.iter().rev() {
            cont = self.msg(t, r, "Got", cont);
        }
        let inner: Vec<usize> = self.allowed.iter().copied().filter(|&r| r != f).collect();
        let outer = std::mem::replace(&mut self.allowed, inner);
        let mut branch = self.global(depth - 1);
        self.allowed = outer;
        for &r in told.iter().rev() {
            branch = self.msg(t, r, "Late", branch);
        }
        let (label, payload) = (self.label("Timed"), self.payload());
        let ticks = 1 + u32::from(self.byte() % 2);
        let mut m = message(f, t, label, payload, Some(ticks), cont);
        if let GlobalType::Message { on_timeout, .. } = &mut m {
            *on_timeout = Some(Box::new(branch));
        }
        // Mostly `f` first waits for another role (`t` itself or a third),
        // so that the deadline may pass at run time (a message to `f` is no
        // debt of `f`'s).
        if !self.byte().is_multiple_of(4) {
            let pick = usize::from(self.byte()) % (told.len() + 1);
            let g = told.get(pick).copied().unwrap_or(t);
            m = self.msg(g, f, "Delay", m);
        }
        if self.sync { self.msg(f, t, "Sync", m) } else { m }
    }

    /// `choice at s`: each branch is `s -> r: Li`, then `s` tells the informed
    /// third parties the branch, then a few messages between `s` and `r` only,
    /// then a tail common to every branch. Some branches tell the first
    /// informed party before `r`, so branches may begin with messages to
    /// different receivers.
    fn choice(&mut self, depth: u32) -> GlobalType {
        let s = self.role();
        let r = self.other(s);
        let informed: Vec<usize> =
            self.allowed.clone().into_iter().filter(|&t| t != s && t != r && self.byte().is_multiple_of(2)).collect();
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
        members.extend(self.allowed.clone().into_iter().filter(|&t| t != s && t != r && self.byte().is_multiple_of(2)));
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
        for t in self.allowed.clone().into_iter().rev().filter(|t| !members.contains(t)) {
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
        GlobalType::Message { from, to, cont, on_timeout, .. } => {
            mark(from);
            mark(to);
            roles_in(cont, used);
            if let Some(t) = on_timeout {
                roles_in(t, used);
            }
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
/// branch; some messages carry a `within 3` deadline, some of them with an
/// `on cancel` handler, and some a timeout branch (`within 3 on timeout`);
/// some roles invoke effects. Reading past the end of `bytes` reads zeros.
pub fn protocol(k: usize, bytes: &[u8]) -> Protocol {
    generate(k, bytes, true)
}

/// Like [`protocol`], but a timed message with a timeout branch is not
/// preceded by its sender telling the receiver, so the sender may still owe
/// other roles messages when the receiver starts waiting: some of these
/// protocols are refused (E6117, `OwedByLateSender`), the others must run
/// without a stall whatever the deadline does.
pub fn protocol_with_debts(k: usize, bytes: &[u8]) -> Protocol {
    generate(k, bytes, false)
}

fn generate(k: usize, bytes: &[u8], sync: bool) -> Protocol {
    assert!((2..=4).contains(&k), "2 to 4 roles");
    let mut g = Gen { bytes, pos: 0, fresh: 0, allowed: (0..k).collect(), sync };
    let body = g.global(5);
    let body = g.msg(0, 1, "Start", body);
    let mut used = [false; 4];
    roles_in(&body, &mut used);
    let roles = ROLES.iter().zip(used).filter(|(_, u)| *u).map(|(r, _)| r.to_string()).collect();
    Protocol { name: "Random".into(), roles, body }
}
