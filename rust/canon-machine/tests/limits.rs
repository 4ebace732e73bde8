//! Per-group work limits: the instruction budget (`Limits::max_instructions`)
//! and the roles-per-open limit (`Limits::max_roles_per_open`), each at its
//! edge. Programs are generated here.

mod common;

use std::sync::Arc;

use canon_bytecode::{Const, Instr, Module, Proc, VerifiedProgram, verify};
use canon_machine::{Config, Fault, GroupStatus, Limits, NullHost};
use canon_types::{TypeGraph, TypeId, TypeNode};
use common::run_with;

fn module() -> Module {
    Module { strings: vec![], types: TypeGraph::default(), consts: vec![], procs: vec![], entry: 0 }
}

fn proc(m: &mut Module, name: &str, reg_count: u16, code: Vec<Instr>) {
    let name = m.intern(name);
    m.procs.push(Proc { name, params: vec![], reg_count, code });
}

fn verified(m: Module) -> Arc<VerifiedProgram> {
    Arc::new(verify(m).unwrap_or_else(|e| panic!("{e}")))
}

/// `main` spawns `n` coroutines that each spin forever (`jmp` to itself),
/// then halts: every round runs `n` full fuel quanta.
fn spinners(n: i64) -> Arc<VerifiedProgram> {
    let mut m = module();
    m.consts = vec![Const::Int(n), Const::Int(1)];
    let main = vec![
        Instr::Const { dst: 0, k: 0 },
        Instr::Const { dst: 1, k: 1 },
        Instr::Spawn { proc: 1, args: vec![] },
        Instr::Sub { dst: 0, a: 0, b: 1 },
        Instr::JmpIf { cond: 0, target: 2 },
        Instr::Halt,
    ];
    proc(&mut m, "main", 2, main);
    proc(&mut m, "spin", 0, vec![Instr::Jmp { target: 0 }]);
    verified(m)
}

fn with_limits(f: impl FnOnce(&mut Limits)) -> Config {
    let mut config = Config::default();
    f(&mut config.limits);
    config
}

#[test]
fn default_instruction_budget_is_interactive() {
    // 2^28 instructions: about a second of spinning, where the round budget
    // alone would allow 10^8 rounds.
    assert_eq!(Limits::default().max_instructions, 1 << 28);
}

/// The program from the report: 65,535 spinning coroutines. It used to run
/// until the round budget (hours); it now stops at the instruction budget,
/// at most one round past it.
#[test]
fn sixty_five_thousand_spinners_stop_at_the_instruction_budget() {
    let program = spinners(65_535);
    let budget = 1 << 24;
    let config = with_limits(|l| l.max_instructions = budget);
    let (outcome, _, _) = run_with(&program, &config, Box::new(NullHost));
    assert_eq!(outcome.status, GroupStatus::InstructionBudgetExhausted);
    let round = 65_536 * u64::from(config.limits.fuel_per_quantum);
    assert!(outcome.steps >= budget && outcome.steps < budget + round, "{} steps", outcome.steps);
}

#[test]
fn instruction_budget_at_its_edge() {
    // One spinner with fuel 10: every round after main halts adds exactly 10
    // steps. Measure the steps of three rounds, then set the budget around it.
    let program = spinners(1);
    let fuel = 10;
    let steps_after = |rounds: u64| {
        let config = with_limits(|l| {
            l.fuel_per_quantum = fuel;
            l.max_rounds = rounds;
        });
        run_with(&program, &config, Box::new(NullHost)).0.steps
    };
    let three = steps_after(3);
    for (budget, rounds) in [(three - 1, 3), (three, 3), (three + 1, 4)] {
        let config = with_limits(|l| {
            l.fuel_per_quantum = fuel;
            l.max_instructions = budget;
        });
        let (outcome, _, _) = run_with(&program, &config, Box::new(NullHost));
        assert_eq!((outcome.status, outcome.rounds), (GroupStatus::InstructionBudgetExhausted, rounds), "{budget}");
    }
}

/// `main` opens `n` roles, each at `end`, and closes them.
fn wide_open(n: usize) -> Arc<VerifiedProgram> {
    let mut m = module();
    let h = m.intern("h");
    let roles = (0..n).map(|i| m.intern(&format!("R{i}"))).collect();
    m.types.nodes.push(TypeNode::End);
    let open = Instr::Open {
        roles,
        types: vec![TypeId(0); n],
        handlers: vec![h; n],
        dsts: (0..n as u16).collect(),
        buffers: vec![],
    };
    let code = std::iter::once(open).chain((0..n as u16).map(|ep| Instr::Close { ep })).chain([Instr::Halt]);
    proc(&mut m, "main", n as u16, code.collect());
    verified(m)
}

#[test]
fn roles_per_open_limit_at_its_edge() {
    assert_eq!(Limits::default().max_roles_per_open as usize, canon_bytecode::MAX_ROLES_PER_OPEN);
    let config = with_limits(|l| l.max_roles_per_open = 3);
    let (at_limit, _, _) = run_with(&wide_open(3), &config, Box::new(NullHost));
    assert_eq!((at_limit.status, at_limit.faults), (GroupStatus::Completed, 0));
    let (_, _, over) = run_with(&wide_open(4), &config, Box::new(NullHost));
    let faults: Vec<&Fault> = over.faults().iter().map(|f| &f.fault).collect();
    assert_eq!(faults, vec![&Fault::TooManyRoles { roles: 4, max: 3 }]);
}
