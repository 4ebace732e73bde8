//! Operands shared by directives and instructions: symbols, raw ids,
//! registers, type and constant references, constant values, explicit type
//! nodes and buffer configurations.

use canon_types::{FlatBranch, SymId, TypeId, TypeNode};

use super::cursor::Cursor;
use super::lex::Tok;
use super::{AsmError, AsmErrorKind, Assembler, intern};
use crate::instr::Reg;
use crate::module::{Backpressure, BufferConfig, BufferMode, Const};

/// A raw id `kind#N` whose kind must be `kind` and whose number must fit `T`.
pub(crate) fn raw<T: TryFrom<u64>>(c: &mut Cursor<'_>, kind: &'static str) -> Result<T, AsmError> {
    match c.peek() {
        Some(Tok::Raw(k, n)) if k == kind => {
            let value = T::try_from(*n).map_err(|_| c.err(AsmErrorKind::BadNumber(format!("{k}#{n}"))))?;
            c.bump();
            Ok(value)
        }
        Some(Tok::Raw(k, _)) => Err(c.err(AsmErrorKind::BadRawKind { kind: k.clone(), expected: kind })),
        _ => Err(c.expected("a raw id")),
    }
}

/// A register `rN`, checked against `reg_count`, or an unchecked `reg#N`.
pub(crate) fn reg(c: &mut Cursor<'_>, reg_count: u16) -> Result<Reg, AsmError> {
    match c.peek() {
        Some(Tok::Raw(..)) => raw(c, "reg"),
        Some(Tok::Ident(s)) if s.len() > 1 && s.starts_with('r') && s[1..].bytes().all(|b| b.is_ascii_digit()) => {
            let n: u64 = s[1..].parse().map_err(|_| c.err(AsmErrorKind::BadNumber(s.clone())))?;
            if n >= u64::from(reg_count) {
                return Err(c.err(AsmErrorKind::BadRegister { reg: n, reg_count }));
            }
            c.bump();
            Ok(n as Reg)
        }
        _ => Err(c.expected("a register (r0, r1, ...)")),
    }
}

/// A whole operand that is one register.
pub(crate) fn reg_operand(mut c: Cursor<'_>, reg_count: u16) -> Result<Reg, AsmError> {
    let r = reg(&mut c, reg_count)?;
    c.finish()?;
    Ok(r)
}

/// A bracketed register list `[r0, r1]`.
pub(crate) fn reg_list(mut c: Cursor<'_>, reg_count: u16) -> Result<Vec<Reg>, AsmError> {
    let items = c.list()?;
    c.finish()?;
    items.into_iter().map(|item| reg_operand(item, reg_count)).collect()
}

/// A whole operand that is one unsigned number.
pub(crate) fn number_operand<T: TryFrom<i128>>(mut c: Cursor<'_>, what: &'static str) -> Result<T, AsmError> {
    let n = c.number(what)?;
    c.finish()?;
    Ok(n)
}

impl Assembler {
    /// A string-table reference: a name or quoted string (interned) or `sym#N`.
    pub(crate) fn sym(&mut self, c: &mut Cursor<'_>) -> Result<SymId, AsmError> {
        match c.peek() {
            Some(Tok::Raw(..)) => raw(c, "sym").map(SymId),
            Some(Tok::Ident(s) | Tok::Str(s)) => {
                c.bump();
                Ok(intern(&mut self.module.strings, s))
            }
            _ => Err(c.expected("a name, a string or sym#N")),
        }
    }

    /// A whole operand that is one symbol.
    pub(crate) fn sym_operand(&mut self, mut c: Cursor<'_>) -> Result<SymId, AsmError> {
        let s = self.sym(&mut c)?;
        c.finish()?;
        Ok(s)
    }

    /// A bracketed symbol list `[A, B]`.
    pub(crate) fn sym_list(&mut self, mut c: Cursor<'_>) -> Result<Vec<SymId>, AsmError> {
        let items = c.list()?;
        c.finish()?;
        items.into_iter().map(|item| self.sym_operand(item)).collect()
    }

    /// A type reference: a name from `.type NAME = ...` or `type#N`.
    pub(crate) fn type_ref(&self, c: &mut Cursor<'_>) -> Result<TypeId, AsmError> {
        match c.peek() {
            Some(Tok::Raw(..)) => raw(c, "type").map(TypeId),
            Some(Tok::Ident(s)) => {
                let id =
                    self.type_names.get(s).copied().ok_or_else(|| c.err(AsmErrorKind::UndefinedType(s.clone())))?;
                c.bump();
                Ok(id)
            }
            _ => Err(c.expected("a type name or type#N")),
        }
    }

    /// A constant reference: a name from `.const NAME = ...` or `const#N`.
    pub(crate) fn const_ref(&self, c: &mut Cursor<'_>) -> Result<u32, AsmError> {
        match c.peek() {
            Some(Tok::Raw(..)) => raw(c, "const"),
            Some(Tok::Ident(s)) => {
                let k =
                    self.const_names.get(s).copied().ok_or_else(|| c.err(AsmErrorKind::UndefinedConst(s.clone())))?;
                c.bump();
                Ok(k)
            }
            _ => Err(c.expected("a constant name or const#N")),
        }
    }

    /// `unit`, `bool true`, `int -3`, `str "text"`, `label Ping`, `bytes x"0a0b"`.
    pub(crate) fn const_value(&mut self, c: &mut Cursor<'_>) -> Result<Const, AsmError> {
        let kind = c.ident("a constant kind (unit, bool, int, str, label, bytes)")?;
        Ok(match kind {
            "unit" => Const::Unit,
            "bool" if c.eat_keyword("true") => Const::Bool(true),
            "bool" if c.eat_keyword("false") => Const::Bool(false),
            "bool" => return Err(c.expected("`true` or `false`")),
            "int" => Const::Int(c.number("an integer")?),
            "str" => Const::Str(self.sym(c)?),
            "label" => Const::Label(self.sym(c)?),
            "bytes" => match c.peek() {
                Some(Tok::Bytes(b)) => {
                    c.bump();
                    Const::Bytes(b.clone())
                }
                _ => return Err(c.expected("a byte string x\"..\"")),
            },
            _ => {
                let mut back = c.clone();
                back.step_back();
                return Err(back.expected("a constant kind (unit, bool, int, str, label, bytes)"));
            }
        })
    }

    /// An explicit type node: `end`, `send PEER { L(T, ..) -> N, .. }`,
    /// `recv PEER { .. }`, `choose { N, .. }`, `mu VAR -> N`, `var N`.
    pub(crate) fn type_node(&mut self, c: &mut Cursor<'_>) -> Result<TypeNode, AsmError> {
        let what = "a type node (end, send, recv, choose, mu, var)";
        let kind = c.ident(what)?;
        Ok(match kind {
            "end" => TypeNode::End,
            "send" | "recv" => {
                let peer = self.sym(c)?;
                let branches =
                    c.group('{', "`{`")?.into_iter().map(|b| self.flat_branch(b)).collect::<Result<_, _>>()?;
                if kind == "send" { TypeNode::Send { peer, branches } } else { TypeNode::Recv { peer, branches } }
            }
            "mu" => {
                let var = self.sym(c)?;
                c.arrow()?;
                TypeNode::Mu { var, body: TypeId(c.number("a type index")?) }
            }
            "var" => TypeNode::Var { mu: TypeId(c.number("a type index")?) },
            "choose" => {
                let mut arms = Vec::new();
                for mut a in c.group('{', "`{`")? {
                    arms.push(TypeId(a.number("a type index")?));
                    a.finish()?;
                }
                TypeNode::Choose { arms }
            }
            _ => {
                let mut back = c.clone();
                back.step_back();
                return Err(back.expected(what));
            }
        })
    }

    /// `Label(T1, T2) -> N`.
    fn flat_branch(&mut self, mut c: Cursor<'_>) -> Result<FlatBranch, AsmError> {
        let label = self.sym(&mut c)?;
        let payload = c.group('(', "`(`")?.into_iter().map(|p| self.sym_operand(p)).collect::<Result<_, _>>()?;
        c.arrow()?;
        let cont = TypeId(c.number("a type index")?);
        c.finish()?;
        Ok(FlatBranch { label, payload, cont })
    }
}

/// `fifo block cap 4`, `latest drop cap 1`, `fifo resize cap 2 max 8`.
pub(crate) fn buffer_config(c: &mut Cursor<'_>) -> Result<BufferConfig, AsmError> {
    let mode = if c.eat_keyword("fifo") {
        BufferMode::Fifo
    } else if c.eat_keyword("latest") {
        BufferMode::LatestValue
    } else {
        return Err(c.expected("a buffer mode (fifo, latest)"));
    };
    let resize = c.eat_keyword("resize");
    let policy = if resize {
        Backpressure::Resize { max_capacity: 0 }
    } else if c.eat_keyword("block") {
        Backpressure::Block
    } else if c.eat_keyword("drop") {
        Backpressure::Drop
    } else if c.eat_keyword("error") {
        Backpressure::Error
    } else {
        return Err(c.expected("a backpressure policy (block, drop, error, resize)"));
    };
    c.keyword("cap", "`cap`")?;
    let capacity = c.number("a capacity")?;
    let policy = if resize {
        c.keyword("max", "`max`")?;
        Backpressure::Resize { max_capacity: c.number("a maximum capacity")? }
    } else {
        policy
    };
    Ok(BufferConfig { mode, policy, capacity })
}
