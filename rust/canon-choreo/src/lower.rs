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
//! | choice among peers (`choose`) | the same: one `select` over every arm's labels; each arm's `send` goes to its own peer |
//! | receive `L` | `recv r0, L -> r1` |
//! | external choice | `offer r0 -> r1, [L1 -> a1, ..]`, then per arm the continuation |
//! | receive with deadline `N` | `recv_timeout r0 -> r1, [arms], N, t` with `t: cancel r0 · halt` |
//! | ... with `on cancel { invoke E at R; .. }` | the same, with `t: invoke r1, E, r1 · .. · cancel r0 · halt` |
//! | ... with `on timeout { .. }` | the same, with `t:` the timeout branch's code (no cancel) |
//! | `invoke E` | `invoke r1, E, r1` |
//! | `check E.op(..)` | `check r2, r0, E.op, r1`; then `consume r0, r2` right before the role's next protected step |
//! | `mu X` / `X` | a loop head at the binder / `jmp` back to it |
//! | `end` | `close r0` · `halt` |
//!
//! Every path ends in `halt` or a backward `jmp`, so no code falls through.
//!
//! A check's witness (in `r2`) is consumed by the role's **protected step**:
//! its next send (or `select`) on every path after the check, or, if the
//! path reaches the role's `end`, a loop head or a loop's `jmp` first, right
//! before that `close`, loop or `jmp` (a loop is never entered with a witness
//! outstanding); a second check consumes the first's witness before it is
//! issued. Receives and effects between the check and its protected step
//! leave the witness outstanding. A timeout's `cancel` path drops it (the
//! session ends; the witness stays issued and unconsumed).
//!
//! Each instruction is recorded with the span of the statement it came from
//! (the source map, `bytecode-spec/format.md` section 6): a send, select or
//! receive with its message, an `invoke` with its statement, and the
//! instructions that have no statement of their own (`close`, `halt`, a
//! loop's `jmp`, a timeout's `cancel`) with the statement the role performed
//! last on that path.

use canon_bytecode::{Arm, Instr, Reg};
use canon_types::{ActionBranch, LocalAction, Span};

use crate::compile::{CompileError, Strings};

/// The register holding the role's endpoint (the procedure's parameter).
pub const EP: Reg = 0;
/// The register holding payloads and effect answers.
pub const VAL: Reg = 1;
/// The register holding a check's readiness witness until its protected step.
pub const WITNESS: Reg = 2;
/// Registers a role procedure uses.
pub const ROLE_REG_COUNT: u16 = 2;

/// Registers the role procedure `code` uses: one more for a witness if it
/// has a `check`.
pub fn reg_count(code: &[Instr]) -> u16 {
    if code.iter().any(|i| matches!(i, Instr::Check { .. })) { WITNESS + 1 } else { ROLE_REG_COUNT }
}

/// Lowers `action` (the projection on `role`) to a procedure body.
pub fn lower_role(role: &str, action: &LocalAction, strings: &mut Strings) -> Result<Vec<Instr>, CompileError> {
    lower_role_mapped(role, action, strings, Span::default()).map(|(code, _)| code)
}

/// [`lower_role`], also returning for each instruction the span of the
/// statement it came from; `start` is the span of instructions that precede
/// the role's first statement (the protocol declaration).
pub fn lower_role_mapped(
    role: &str,
    action: &LocalAction,
    strings: &mut Strings,
    start: Span,
) -> Result<(Vec<Instr>, Vec<Span>), CompileError> {
    let mut lowerer =
        Lowerer { role, strings, code: Vec::new(), spans: Vec::new(), at: start, loops: Vec::new(), pending: false };
    lowerer.action(action)?;
    debug_assert_eq!(lowerer.code.len(), lowerer.spans.len());
    Ok((lowerer.code, lowerer.spans))
}

/// A receive's deadline: its rounds, its timeout branch, its `on cancel` effects.
type Deadline<'a> = (u32, Option<&'a LocalAction>, &'a [String]);

struct Lowerer<'a> {
    role: &'a str,
    strings: &'a mut Strings,
    code: Vec<Instr>,
    /// The statement span of each instruction of `code`.
    spans: Vec<Span>,
    /// The span of the statement being lowered.
    at: Span,
    /// Enclosing loop heads: variable and instruction index, innermost last.
    loops: Vec<(String, u32)>,
    /// Whether a check's witness is outstanding in [`WITNESS`] on the path
    /// being lowered.
    pending: bool,
}

impl Lowerer<'_> {
    fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    fn emit(&mut self, instr: Instr) -> usize {
        self.code.push(instr);
        self.spans.push(self.at);
        self.code.len() - 1
    }

    /// The protected step: consumes the outstanding witness, if any.
    fn protect(&mut self) {
        if self.pending {
            self.emit(Instr::Consume { ep: EP, witness: WITNESS });
            self.pending = false;
        }
    }

    fn action(&mut self, action: &LocalAction) -> Result<(), CompileError> {
        match action {
            LocalAction::End => {
                self.protect();
                self.emit(Instr::Close { ep: EP });
                self.emit(Instr::Halt);
                Ok(())
            }
            LocalAction::Send { branches, .. } => {
                if let Some(first) = branches.first() {
                    self.at = first.origin.0;
                }
                self.protect();
                match branches.as_slice() {
                    [only] => self.send(only),
                    _ => self.select(branches.iter()),
                }
            }
            LocalAction::Choose { arms } => {
                self.protect();
                let mut branches = Vec::new();
                for (at, arm) in arms.iter().enumerate() {
                    let LocalAction::Send { branches: bs, .. } = arm else {
                        return Err(CompileError::LocalType {
                            role: self.role.to_owned(),
                            source: canon_types::GraphError::ChooseArmNotSend { at: at as u32 },
                        });
                    };
                    branches.extend(bs);
                }
                self.select(branches.into_iter())
            }
            LocalAction::Recv { branches, timeout_ticks: None, .. } => match branches.as_slice() {
                [only] => {
                    self.at = only.origin.0;
                    let label = self.strings.intern(&only.label);
                    self.emit(Instr::Recv { ep: EP, label, dst: VAL });
                    self.action(&only.cont)
                }
                _ => self.offer(branches, None),
            },
            LocalAction::Recv { branches, timeout_ticks: Some(ticks), on_timeout, on_cancel, .. } => {
                self.offer(branches, Some((*ticks, on_timeout.as_deref(), on_cancel.as_slice())))
            }
            LocalAction::Invoke { effect, check: false, cont, origin } => {
                self.at = origin.0;
                let effect = self.strings.intern(effect);
                self.emit(Instr::Invoke { dst: VAL, effect, arg: VAL });
                self.action(cont)
            }
            LocalAction::Invoke { effect, check: true, cont, origin } => {
                self.at = origin.0;
                self.protect();
                let effect = self.strings.intern(effect);
                self.emit(Instr::Check { dst: WITNESS, ep: EP, effect, arg: VAL });
                self.pending = true;
                self.action(cont)
            }
            LocalAction::Mu { var, body } => {
                self.protect();
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
                self.protect();
                self.emit(Instr::Jmp { target });
                Ok(())
            }
        }
    }

    /// `produce` the payload, `send` it, continue.
    fn send(&mut self, branch: &ActionBranch) -> Result<(), CompileError> {
        self.at = branch.origin.0;
        let label = self.strings.intern(&branch.label);
        if !branch.same_payload {
            self.emit(Instr::Produce { dst: VAL, ep: EP, label });
        }
        self.emit(Instr::Send { ep: EP, label, src: VAL });
        self.action(&branch.cont)
    }

    /// The host chooses a label; each arm sends it and continues.
    fn select<'b>(&mut self, branches: impl Iterator<Item = &'b ActionBranch>) -> Result<(), CompileError> {
        let mut branches = branches.peekable();
        if let Some(first) = branches.peek() {
            self.at = first.origin.0;
        }
        let at = self.emit(Instr::Select { ep: EP, arms: Vec::new() });
        let mut arms = Vec::new();
        for b in branches {
            arms.push(Arm { label: self.strings.intern(&b.label), target: self.pc() });
            self.send(b)?;
        }
        self.code[at] = Instr::Select { ep: EP, arms };
        Ok(())
    }

    /// `offer` (or `recv_timeout` with a deadline), then each arm's
    /// continuation; on timeout the role continues with its timeout branch,
    /// or invokes its `on cancel` effects and cancels the session.
    fn offer(&mut self, branches: &[ActionBranch], deadline: Option<Deadline<'_>>) -> Result<(), CompileError> {
        let first = branches.first().map_or(self.at, |b| b.origin.0);
        self.at = first;
        let at = self.emit(Instr::Nop);
        let mut arms = Vec::with_capacity(branches.len());
        // Every arm (and the timeout path) starts with the witness state
        // the receive found.
        let pending = self.pending;
        for b in branches {
            arms.push(Arm { label: self.strings.intern(&b.label), target: self.pc() });
            self.at = b.origin.0;
            self.pending = pending;
            self.action(&b.cont)?;
        }
        self.pending = pending;
        self.at = first;
        self.code[at] = match deadline {
            None => Instr::Offer { ep: EP, dst: VAL, arms },
            Some((ticks, timeout_branch, on_cancel)) => {
                let on_timeout = self.pc();
                match timeout_branch {
                    Some(t) => self.action(t)?,
                    None => {
                        for effect in on_cancel {
                            let effect = self.strings.intern(effect);
                            self.emit(Instr::Invoke { dst: VAL, effect, arg: VAL });
                        }
                        self.emit(Instr::Cancel { ep: EP });
                        self.emit(Instr::Halt);
                    }
                }
                Instr::RecvTimeout { ep: EP, dst: VAL, arms, timeout_ticks: ticks, on_timeout }
            }
        };
        Ok(())
    }
}
