//! Procedure headers and bodies: labels and one instruction per line.

use std::collections::BTreeMap;

use canon_types::SymId;

use super::cursor::Cursor;
use super::lex::{Line, Tok};
use super::operand::{buffer_config, number_operand, raw, reg_list, reg_operand};
use super::{AsmError, AsmErrorKind, Assembler};
use crate::instr::{Arm, EdgeBuffer, Instr, Opcode};
use crate::module::Param;

/// What instructions of one procedure may refer to.
pub(crate) struct ProcCtx {
    pub reg_count: u16,
    /// Label name to instruction index.
    pub labels: BTreeMap<String, u32>,
}

/// Strips `name:` label definitions off the body lines; returns the labels and
/// one cursor per instruction.
pub(crate) fn collect_labels<'a>(body: &[&'a Line]) -> Result<(BTreeMap<String, u32>, Vec<Cursor<'a>>), AsmError> {
    let mut labels = BTreeMap::new();
    let mut instrs = Vec::new();
    for line in body {
        let mut skip = 0;
        while let (Some(Tok::Ident(name)), Some(Tok::Punct(':'))) =
            (line.toks.get(skip).map(|t| &t.tok), line.toks.get(skip + 1).map(|t| &t.tok))
        {
            let index = u32::try_from(instrs.len()).unwrap_or(u32::MAX);
            if labels.insert(name.clone(), index).is_some() {
                return Err(line.err(line.toks[skip].col, AsmErrorKind::DuplicateLabel(name.clone())));
            }
            skip += 2;
        }
        if skip < line.toks.len() {
            instrs.push(Cursor::new(line, skip));
        }
    }
    Ok((labels, instrs))
}

/// A jump target: a label of the procedure or a raw index `@N`.
fn target(ctx: &ProcCtx, c: &mut Cursor<'_>) -> Result<u32, AsmError> {
    match c.peek() {
        Some(Tok::Target(n)) => {
            let t = u32::try_from(*n).map_err(|_| c.err(AsmErrorKind::BadNumber(format!("@{n}"))))?;
            c.bump();
            Ok(t)
        }
        Some(Tok::Ident(name)) => {
            let t = ctx.labels.get(name).copied().ok_or_else(|| c.err(AsmErrorKind::UndefinedLabel(name.clone())))?;
            c.bump();
            Ok(t)
        }
        _ => Err(c.expected("a label or @N")),
    }
}

fn target_operand(ctx: &ProcCtx, mut c: Cursor<'_>) -> Result<u32, AsmError> {
    let t = target(ctx, &mut c)?;
    c.finish()?;
    Ok(t)
}

/// The operand counts of each form, for the "wrong operand count" error.
fn operand_count(op: Opcode) -> (&'static str, &'static [usize]) {
    use Opcode::*;
    match op {
        Nop | Ret | Yield | Halt => ("no", &[0]),
        Jmp | Close | Cancel | Abort => ("1", &[1]),
        JmpIf | Call | Spawn | Const | Mov | Select | Consume => ("2", &[2]),
        Add | Sub | Eq | Lt | Send | Recv | Offer | Invoke | Produce => ("3", &[3]),
        Check => ("4", &[4]),
        Open => ("4 or 5", &[4, 5]),
        RecvTimeout => ("5", &[5]),
    }
}

/// The opcode of an instruction line, its operands (counted), and an empty
/// operand at the end of the line.
fn mnemonic_and_operands(mut c: Cursor<'_>) -> Result<(Opcode, Vec<Cursor<'_>>, Cursor<'_>), AsmError> {
    let col = c.col();
    let mnemonic = c.ident("a mnemonic")?;
    let op = Opcode::from_mnemonic(mnemonic)
        .ok_or_else(|| c.line.err(col, AsmErrorKind::UnknownMnemonic(mnemonic.to_owned())))?;
    let mut ops = c.operands();
    let (expected, counts) = operand_count(op);
    if !counts.contains(&ops.len()) {
        let mnemonic = op.mnemonic();
        return Err(c.line.err(col, AsmErrorKind::OperandCount { mnemonic, expected, found: ops.len() }));
    }
    // An operand past the end (only `open`'s optional fifth) reads as empty.
    if ops.len() < 5 && op == Opcode::Open {
        ops.push(c.exhausted());
    }
    Ok((op, ops, c.exhausted()))
}

impl Assembler {
    /// `(PARAM, ..) regs N` after the procedure name; a parameter is `value`
    /// or `ep TYPE`.
    pub(crate) fn proc_header(&mut self, c: &mut Cursor<'_>) -> Result<(Vec<Param>, u16), AsmError> {
        let mut params = Vec::new();
        for mut p in c.group('(', "`(` and the parameter list")? {
            if p.eat_keyword("value") {
                params.push(Param::Value);
            } else if p.eat_keyword("ep") {
                params.push(Param::Endpoint(self.type_ref(&mut p)?));
            } else {
                return Err(p.expected("a parameter (`value` or `ep TYPE`)"));
            }
            p.finish()?;
        }
        c.keyword("regs", "`regs`")?;
        let reg_count = c.number("a register count")?;
        c.finish()?;
        Ok((params, reg_count))
    }

    /// One instruction line.
    pub(crate) fn instr(&mut self, ctx: &ProcCtx, c: Cursor<'_>) -> Result<Instr, AsmError> {
        let (op, ops, empty) = mnemonic_and_operands(c)?;
        let mut ops = ops.into_iter();
        // The count was checked, so `empty` is never read.
        let mut next = move || ops.next().unwrap_or_else(|| empty.clone());
        let n = ctx.reg_count;
        Ok(match op {
            Opcode::Nop => Instr::Nop,
            Opcode::Ret => Instr::Ret,
            Opcode::Yield => Instr::Yield,
            Opcode::Halt => Instr::Halt,
            Opcode::Jmp => Instr::Jmp { target: target_operand(ctx, next())? },
            Opcode::JmpIf => Instr::JmpIf { cond: reg_operand(next(), n)?, target: target_operand(ctx, next())? },
            Opcode::Call => Instr::Call { proc: self.proc_operand(next())?, args: reg_list(next(), n)? },
            Opcode::Spawn => Instr::Spawn { proc: self.proc_operand(next())?, args: reg_list(next(), n)? },
            Opcode::Const => Instr::Const { dst: reg_operand(next(), n)?, k: self.const_operand(next())? },
            Opcode::Mov => Instr::Mov { dst: reg_operand(next(), n)?, src: reg_operand(next(), n)? },
            Opcode::Add | Opcode::Sub | Opcode::Eq | Opcode::Lt => {
                let (dst, a, b) = (reg_operand(next(), n)?, reg_operand(next(), n)?, reg_operand(next(), n)?);
                match op {
                    Opcode::Add => Instr::Add { dst, a, b },
                    Opcode::Sub => Instr::Sub { dst, a, b },
                    Opcode::Eq => Instr::Eq { dst, a, b },
                    _ => Instr::Lt { dst, a, b },
                }
            }
            Opcode::Open => self.open(ctx, &mut next)?,
            Opcode::Send => Instr::Send {
                ep: reg_operand(next(), n)?,
                label: self.sym_operand(next())?,
                src: reg_operand(next(), n)?,
            },
            Opcode::Recv => Instr::Recv {
                ep: reg_operand(next(), n)?,
                label: self.sym_operand(next())?,
                dst: reg_operand(next(), n)?,
            },
            Opcode::Select => Instr::Select { ep: reg_operand(next(), n)?, arms: self.arms(ctx, next())? },
            Opcode::Offer => Instr::Offer {
                ep: reg_operand(next(), n)?,
                dst: reg_operand(next(), n)?,
                arms: self.arms(ctx, next())?,
            },
            Opcode::Close => Instr::Close { ep: reg_operand(next(), n)? },
            Opcode::Cancel => Instr::Cancel { ep: reg_operand(next(), n)? },
            Opcode::Abort => Instr::Abort { ep: reg_operand(next(), n)? },
            Opcode::RecvTimeout => Instr::RecvTimeout {
                ep: reg_operand(next(), n)?,
                dst: reg_operand(next(), n)?,
                arms: self.arms(ctx, next())?,
                timeout_ticks: number_operand(next(), "a timeout in ticks")?,
                on_timeout: target_operand(ctx, next())?,
            },
            Opcode::Invoke => Instr::Invoke {
                dst: reg_operand(next(), n)?,
                effect: self.sym_operand(next())?,
                arg: reg_operand(next(), n)?,
            },
            Opcode::Produce => Instr::Produce {
                dst: reg_operand(next(), n)?,
                ep: reg_operand(next(), n)?,
                label: self.sym_operand(next())?,
            },
            Opcode::Check => Instr::Check {
                dst: reg_operand(next(), n)?,
                ep: reg_operand(next(), n)?,
                effect: self.sym_operand(next())?,
                arg: reg_operand(next(), n)?,
            },
            Opcode::Consume => Instr::Consume { ep: reg_operand(next(), n)?, witness: reg_operand(next(), n)? },
        })
    }

    fn proc_operand(&self, mut c: Cursor<'_>) -> Result<u32, AsmError> {
        let p = self.proc_ref(&mut c)?;
        c.finish()?;
        Ok(p)
    }

    fn const_operand(&self, mut c: Cursor<'_>) -> Result<u32, AsmError> {
        let k = self.const_ref(&mut c)?;
        c.finish()?;
        Ok(k)
    }

    /// `[Label -> target, ..]`.
    fn arms(&mut self, ctx: &ProcCtx, mut c: Cursor<'_>) -> Result<Vec<Arm>, AsmError> {
        let items = c.list()?;
        c.finish()?;
        let mut arms = Vec::with_capacity(items.len());
        for mut item in items {
            let label = self.sym(&mut item)?;
            item.arrow()?;
            let target = target(ctx, &mut item)?;
            item.finish()?;
            arms.push(Arm { label, target });
        }
        Ok(arms)
    }

    /// `open roles [..], types [..], handlers [..], dsts [..][, buffers [..]]`.
    fn open<'a>(&mut self, ctx: &ProcCtx, next: &mut impl FnMut() -> Cursor<'a>) -> Result<Instr, AsmError> {
        let mut c = next();
        c.keyword("roles", "`roles [...]`")?;
        let roles = self.sym_list(c)?;
        let mut c = next();
        c.keyword("types", "`types [...]`")?;
        let types = c.list()?.into_iter().map(|mut t| {
            let id = self.type_ref(&mut t)?;
            t.finish()?;
            Ok(id)
        });
        let types = types.collect::<Result<_, AsmError>>()?;
        c.finish()?;
        let mut c = next();
        c.keyword("handlers", "`handlers [...]`")?;
        let handlers = self.sym_list(c)?;
        let mut c = next();
        c.keyword("dsts", "`dsts [...]`")?;
        let dsts = reg_list(c, ctx.reg_count)?;
        let mut c = next();
        let buffers = if c.at_end() { Vec::new() } else { self.buffers(&roles, &mut c)? };
        Ok(Instr::Open { roles, types, handlers, dsts, buffers })
    }

    /// `buffers [A -> B fifo block cap 4, ..]`.
    fn buffers(&self, roles: &[SymId], c: &mut Cursor<'_>) -> Result<Vec<EdgeBuffer>, AsmError> {
        c.keyword("buffers", "`buffers [...]`")?;
        let items = c.list()?;
        c.finish()?;
        let mut out = Vec::with_capacity(items.len());
        for mut item in items {
            let from = self.role_index(roles, &mut item)?;
            item.arrow()?;
            let to = self.role_index(roles, &mut item)?;
            let config = buffer_config(&mut item)?;
            item.finish()?;
            out.push(EdgeBuffer { from, to, config });
        }
        Ok(out)
    }

    /// A role of the enclosing `open`, by name (its first occurrence) or `role#N`.
    fn role_index(&self, roles: &[SymId], c: &mut Cursor<'_>) -> Result<u16, AsmError> {
        let name = match c.peek() {
            Some(Tok::Raw(..)) => return raw(c, "role"),
            Some(Tok::Ident(s) | Tok::Str(s)) => s,
            _ => return Err(c.expected("a role name or role#N")),
        };
        let strings = &self.module.strings;
        let index = roles.iter().position(|r| strings.get(r.0 as usize) == Some(name));
        let index = index.and_then(|i| u16::try_from(i).ok());
        let index = index.ok_or_else(|| c.err(AsmErrorKind::UndefinedRole(name.clone())))?;
        c.bump();
        Ok(index)
    }
}
