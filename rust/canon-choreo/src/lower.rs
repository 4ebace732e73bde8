//! Lowering one role's annotated projection ([`LocalAction`]) to the code of
//! its procedure.
//!
//! The procedure receives its endpoint in `r0` and uses `r1` for payloads and
//! effect answers. Each construct becomes:
//!
//! | local action | code |
//! |---|---|
//! | send `L` | `produce r1, r0, L` · `send r0, L, r1` |
//! | send `L` to a later receiver of a multicast | `send r0, L, r1` (the payload already produced) |
//! | internal choice | `select r0, [L1 -> a1, ..]`, then per arm: produce + send + continuation |
//! | receive `L` | `recv r0, L -> r1` |
//! | external choice | `offer r0 -> r1, [L1 -> a1, ..]`, then per arm the continuation |
//! | receive with deadline `N` | `recv_timeout r0 -> r1, [arms], N, t` with `t: cancel r0 · halt` |
//! | `invoke E` | `invoke r1, E, r1` |
//! | `mu X` / `X` | a loop head at the binder / `jmp` back to it |
//! | `end` | `close r0` · `halt` |
//!
//! Every path ends in `halt` or a backward `jmp`, so no code falls through.

use canon_bytecode::{Arm, Instr, Reg};
use canon_types::{ActionBranch, LocalAction};

use crate::compile::{CompileError, Strings};

/// The register holding the role's endpoint (the procedure's parameter).
pub const EP: Reg = 0;
/// The register holding payloads and effect answers.
pub const VAL: Reg = 1;
/// Registers a role procedure uses.
pub const ROLE_REG_COUNT: u16 = 2;

/// Lowers `action` (the projection on `role`) to a procedure body.
pub fn lower_role(role: &str, action: &LocalAction, strings: &mut Strings) -> Result<Vec<Instr>, CompileError> {
    let mut lowerer = Lowerer { role, strings, code: Vec::new(), loops: Vec::new() };
    lowerer.action(action)?;
    Ok(lowerer.code)
}

struct Lowerer<'a> {
    role: &'a str,
    strings: &'a mut Strings,
    code: Vec<Instr>,
    /// Enclosing loop heads: variable and instruction index, innermost last.
    loops: Vec<(String, u32)>,
}

impl Lowerer<'_> {
    fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    fn emit(&mut self, instr: Instr) -> usize {
        self.code.push(instr);
        self.code.len() - 1
    }

    fn action(&mut self, action: &LocalAction) -> Result<(), CompileError> {
        match action {
            LocalAction::End => {
                self.emit(Instr::Close { ep: EP });
                self.emit(Instr::Halt);
                Ok(())
            }
            LocalAction::Send { branches, .. } => match branches.as_slice() {
                [only] => self.send(only),
                _ => self.select(branches),
            },
            LocalAction::Recv { branches, timeout_ticks: None, .. } => match branches.as_slice() {
                [only] => {
                    let label = self.strings.intern(&only.label);
                    self.emit(Instr::Recv { ep: EP, label, dst: VAL });
                    self.action(&only.cont)
                }
                _ => self.offer(branches, None),
            },
            LocalAction::Recv { branches, timeout_ticks: Some(ticks), .. } => self.offer(branches, Some(*ticks)),
            LocalAction::Invoke { effect, cont } => {
                let effect = self.strings.intern(effect);
                self.emit(Instr::Invoke { dst: VAL, effect, arg: VAL });
                self.action(cont)
            }
            LocalAction::Mu { var, body } => {
                self.loops.push((var.clone(), self.pc()));
                let result = self.action(body);
                self.loops.pop();
                result
            }
            LocalAction::Var { var } => {
                let Some((_, head)) = self.loops.iter().rev().find(|(v, _)| v == var) else {
                    return Err(CompileError::UnboundLoop { role: self.role.to_owned(), var: var.clone() });
                };
                let target = *head;
                self.emit(Instr::Jmp { target });
                Ok(())
            }
        }
    }

    /// `produce` the payload, `send` it, continue.
    fn send(&mut self, branch: &ActionBranch) -> Result<(), CompileError> {
        let label = self.strings.intern(&branch.label);
        if !branch.same_payload {
            self.emit(Instr::Produce { dst: VAL, ep: EP, label });
        }
        self.emit(Instr::Send { ep: EP, label, src: VAL });
        self.action(&branch.cont)
    }

    /// The host chooses a label; each arm sends it and continues.
    fn select(&mut self, branches: &[ActionBranch]) -> Result<(), CompileError> {
        let at = self.emit(Instr::Select { ep: EP, arms: Vec::new() });
        let mut arms = Vec::with_capacity(branches.len());
        for b in branches {
            arms.push(Arm { label: self.strings.intern(&b.label), target: self.pc() });
            self.send(b)?;
        }
        self.code[at] = Instr::Select { ep: EP, arms };
        Ok(())
    }

    /// `offer` (or `recv_timeout` with a deadline), then each arm's
    /// continuation; on timeout the session is cancelled.
    fn offer(&mut self, branches: &[ActionBranch], timeout_ticks: Option<u32>) -> Result<(), CompileError> {
        let at = self.emit(Instr::Nop);
        let mut arms = Vec::with_capacity(branches.len());
        for b in branches {
            arms.push(Arm { label: self.strings.intern(&b.label), target: self.pc() });
            self.action(&b.cont)?;
        }
        self.code[at] = match timeout_ticks {
            None => Instr::Offer { ep: EP, dst: VAL, arms },
            Some(ticks) => {
                let on_timeout = self.pc();
                self.emit(Instr::Cancel { ep: EP });
                self.emit(Instr::Halt);
                Instr::RecvTimeout { ep: EP, dst: VAL, arms, timeout_ticks: ticks, on_timeout }
            }
        };
        Ok(())
    }
}
