//! Test helpers: build modules in code, verify them, run groups.
#![allow(dead_code)]

use std::sync::Arc;

use canon_bytecode::{Arm, Const, Instr, Module, Param, Proc, ProcId, Reg, VerifiedProgram, verify};
use canon_machine::{Config, Event, Group, GroupOutcome, Host, NullHost};
use canon_types::{Branch, LocalType, Payload, SymId, TypeId};

/// `to!label(ty).cont`
pub fn send(to: &str, label: &str, ty: &[&str], cont: LocalType) -> LocalType {
    LocalType::Send { to: to.into(), branches: vec![branch(label, ty, cont)] }
}

/// `from?label(ty).cont`
pub fn recv(from: &str, label: &str, ty: &[&str], cont: LocalType) -> LocalType {
    LocalType::Recv { from: from.into(), branches: vec![branch(label, ty, cont)] }
}

pub fn branch(label: &str, ty: &[&str], cont: LocalType) -> Branch {
    Branch {
        label: label.into(),
        payload: ty.iter().map(|t| Payload { name: None, ty: (*t).into(), refinement: None }).collect(),
        cont,
    }
}

pub fn end() -> LocalType {
    LocalType::End
}

pub fn mu(var: &str, body: LocalType) -> LocalType {
    LocalType::Mu { var: var.into(), body: Box::new(body) }
}

pub fn var(var: &str) -> LocalType {
    LocalType::Var { var: var.into() }
}

pub fn arm(label: SymId, target: u32) -> Arm {
    Arm { label, target }
}

/// A module under construction.
#[derive(Default)]
pub struct Mb {
    pub m: Module,
}

impl Mb {
    pub fn new() -> Self {
        let mut mb = Mb::default();
        mb.s("h");
        mb
    }

    pub fn s(&mut self, name: &str) -> SymId {
        self.m.intern(name)
    }

    pub fn ty(&mut self, t: &LocalType) -> TypeId {
        let Mb { m } = self;
        let mut strings = std::mem::take(&mut m.strings);
        let id = m
            .types
            .lower(t, &mut |s: &str| match strings.iter().position(|x| x == s) {
                Some(i) => SymId(i as u32),
                None => {
                    strings.push(s.to_owned());
                    SymId(strings.len() as u32 - 1)
                }
            })
            .expect("type lowers");
        m.strings = strings;
        id
    }

    pub fn konst(&mut self, c: Const) -> u32 {
        self.m.consts.push(c);
        self.m.consts.len() as u32 - 1
    }

    pub fn proc(&mut self, name: &str, params: Vec<Param>, reg_count: u16, code: Vec<Instr>) -> ProcId {
        let name = self.s(name);
        self.m.procs.push(Proc { name, params, reg_count, code });
        self.m.procs.len() as ProcId - 1
    }

    /// `open` of `roles` with `types` into `dsts`, handler `h` for every role.
    pub fn open(&mut self, roles: &[&str], types: &[TypeId], dsts: &[Reg]) -> Instr {
        let roles: Vec<SymId> = roles.iter().map(|r| self.s(r)).collect();
        let h = self.s("h");
        Instr::Open {
            handlers: vec![h; roles.len()],
            roles,
            types: types.to_vec(),
            dsts: dsts.to_vec(),
            buffers: vec![],
        }
    }

    pub fn verified(self) -> Arc<VerifiedProgram> {
        match verify(self.m) {
            Ok(p) => Arc::new(p),
            Err(e) => panic!("test module does not verify: {e}"),
        }
    }
}

/// Runs a group to its end with `host`; returns the outcome, the events and the group.
pub fn run_with(
    program: &Arc<VerifiedProgram>,
    config: &Config,
    host: Box<dyn Host + Send>,
) -> (GroupOutcome, Vec<Event>, Group) {
    let mut g = Group::new(Arc::clone(program), 0, config, host);
    g.set_key_source(test_keys());
    let outcome = g.run_to_end();
    let mut events = Vec::new();
    g.drain_events(&mut events);
    (outcome, events, g)
}

pub fn run(program: &Arc<VerifiedProgram>) -> (GroupOutcome, Vec<Event>, Group) {
    run_with(program, &Config::default(), Box::new(NullHost))
}

/// The ping-pong program: A sends `Ping(i)` and receives `Pong(i)` `iterations`
/// times, then sends `Stop`; B echoes. `2 * iterations + 1` messages.
pub fn ping_pong(iterations: i64) -> Arc<VerifiedProgram> {
    let mut mb = Mb::new();
    let ta = mb.ty(&mu(
        "X",
        LocalType::Send {
            to: "B".into(),
            branches: vec![branch("Ping", &["Int"], recv("B", "Pong", &["Int"], var("X"))), branch("Stop", &[], end())],
        },
    ));
    let tb = mb.ty(&mu(
        "X",
        LocalType::Recv {
            from: "A".into(),
            branches: vec![branch("Ping", &["Int"], send("A", "Pong", &["Int"], var("X"))), branch("Stop", &[], end())],
        },
    ));
    let (ping, pong, stop) = (mb.s("Ping"), mb.s("Pong"), mb.s("Stop"));
    let (k0, k1, kn) = (mb.konst(Const::Int(0)), mb.konst(Const::Int(1)), mb.konst(Const::Int(iterations)));
    let a = mb.proc(
        "a",
        vec![Param::Endpoint(ta)],
        7,
        vec![
            Instr::Const { dst: 1, k: k0 },
            Instr::Const { dst: 2, k: k1 },
            Instr::Const { dst: 3, k: kn },
            Instr::Lt { dst: 4, a: 1, b: 3 },
            Instr::JmpIf { cond: 4, target: 8 },
            Instr::Send { ep: 0, label: stop, src: 6 },
            Instr::Close { ep: 0 },
            Instr::Halt,
            Instr::Send { ep: 0, label: ping, src: 1 },
            Instr::Recv { ep: 0, label: pong, dst: 5 },
            Instr::Add { dst: 1, a: 1, b: 2 },
            Instr::Jmp { target: 3 },
        ],
    );
    let b = mb.proc(
        "b",
        vec![Param::Endpoint(tb)],
        2,
        vec![
            Instr::Offer { ep: 0, dst: 1, arms: vec![arm(ping, 1), arm(stop, 3)] },
            Instr::Send { ep: 0, label: pong, src: 1 },
            Instr::Jmp { target: 0 },
            Instr::Close { ep: 0 },
            Instr::Halt,
        ],
    );
    let open = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let main = mb.proc(
        "main",
        vec![],
        2,
        vec![open, Instr::Spawn { proc: a, args: vec![0] }, Instr::Spawn { proc: b, args: vec![1] }, Instr::Halt],
    );
    mb.m.entry = main;
    mb.verified()
}

/// Session churn: the entry opens a two-role session, sends one message,
/// receives it and closes both endpoints, `sessions` times, in one coroutine.
pub fn churn(sessions: i64) -> Arc<VerifiedProgram> {
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], end()));
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let m = mb.s("M");
    let (k0, k1, kn) = (mb.konst(Const::Int(0)), mb.konst(Const::Int(1)), mb.konst(Const::Int(sessions)));
    let open = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let main = mb.proc(
        "main",
        vec![],
        7,
        vec![
            Instr::Const { dst: 2, k: k0 },
            Instr::Const { dst: 3, k: k1 },
            Instr::Const { dst: 4, k: kn },
            Instr::Lt { dst: 5, a: 2, b: 4 },
            Instr::JmpIf { cond: 5, target: 6 },
            Instr::Halt,
            open,
            Instr::Send { ep: 0, label: m, src: 2 },
            Instr::Recv { ep: 1, label: m, dst: 6 },
            Instr::Close { ep: 0 },
            Instr::Close { ep: 1 },
            Instr::Add { dst: 2, a: 2, b: 3 },
            Instr::Jmp { target: 3 },
        ],
    );
    mb.m.entry = main;
    mb.verified()
}

/// The committed public test key seed (signatures made with it prove nothing).
#[allow(dead_code)]
pub fn test_keys() -> canon_machine::KeySource {
    canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC)
}
