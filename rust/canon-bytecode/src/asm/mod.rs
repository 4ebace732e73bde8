//! The text assembler: `.casm` source to [`Module`]. The grammar, every
//! directive and every instruction form are specified in `bytecode-spec/casm.md`.
//!
//! Assembly runs in two passes over the tokenized lines. Pass 1 reads the
//! table directives (`.string`, `.type`, `.const`, `.entry`) and every
//! `.proc` name, in source order; pass 2 reads each procedure's header and
//! body, so procedures, types and constants may be referenced before the line
//! that defines them. Names are interned into the string table in that order.

mod body;
mod cursor;
mod lex;
mod notation;
mod operand;

use std::collections::BTreeMap;

use canon_types::{GraphError, SymId, TypeId};

use crate::module::{Module, Proc, ProcId};

use cursor::Cursor;
use lex::{Line, Tok};

pub(crate) use lex::{is_ident, quote};

/// Why a `.casm` source does not assemble, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {kind}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// What is wrong there.
    pub kind: AsmErrorKind,
}

/// The cause of an [`AsmError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsmErrorKind {
    /// A character that starts no token.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A string literal with no closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// An escape sequence a string literal does not allow.
    #[error("bad escape in string (use \\\" \\\\ \\n \\t \\r \\0 or \\u{{hex}})")]
    BadEscape,
    /// A byte-string literal that is not an even number of hex digits.
    #[error("bad byte string (an even number of hex digits expected)")]
    BadBytes,
    /// A number that does not parse or does not fit its operand.
    #[error("bad number `{0}`")]
    BadNumber(String),
    /// Brackets that do not pair up.
    #[error("unbalanced brackets")]
    Unbalanced,
    /// Something other than what the syntax needs here.
    #[error("expected {what}, found {found}")]
    Expected {
        /// What the assembler expected.
        what: &'static str,
        /// What it found instead.
        found: String,
    },
    /// A `.directive` the assembler does not know.
    #[error("unknown directive `.{0}`")]
    UnknownDirective(String),
    /// An instruction name the assembler does not know.
    #[error("unknown mnemonic `{0}`")]
    UnknownMnemonic(String),
    /// An instruction with the wrong number of operands.
    #[error("`{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
        /// How many operands it takes.
        expected: &'static str,
        /// How many were written.
        found: usize,
    },
    /// A register at or above the procedure's register count.
    #[error("register r{reg} out of range: the procedure has {reg_count} register(s)")]
    BadRegister {
        /// The register number written.
        reg: u64,
        /// The procedure's register count.
        reg_count: u16,
    },
    /// A jump or arm to a code label the procedure does not define.
    #[error("undefined label `{0}`")]
    UndefinedLabel(String),
    /// A code label defined twice in one procedure.
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    /// A local-type name no `.type` defines.
    #[error("undefined type `{0}`")]
    UndefinedType(String),
    /// A `.type` name defined twice.
    #[error("duplicate type name `{0}`")]
    DuplicateType(String),
    /// A constant name no `.const` defines.
    #[error("undefined constant `{0}`")]
    UndefinedConst(String),
    /// A `.const` name defined twice.
    #[error("duplicate constant name `{0}`")]
    DuplicateConst(String),
    /// A procedure name no `.proc` defines.
    #[error("undefined procedure `{0}`")]
    UndefinedProc(String),
    /// A procedure name several procedures share (write `proc#N`).
    #[error("ambiguous procedure `{0}`: several procedures have that name (use proc#N)")]
    AmbiguousProc(String),
    /// A buffer edge naming a role the `open` does not list.
    #[error("`{0}` is not one of this open's roles")]
    UndefinedRole(String),
    /// A raw id (`kind#N`) of a kind this operand does not take.
    #[error("unknown raw id kind `{kind}#` here (expected {expected}#N)")]
    BadRawKind {
        /// The raw id prefix written (before `#`).
        kind: String,
        /// The prefix this operand takes.
        expected: &'static str,
    },
    /// An explicitly indexed table entry that is not the next index.
    #[error("{table} index {found} out of order: the next entry is {next}")]
    IndexOutOfOrder {
        /// The table the indexed entry belongs to.
        table: &'static str,
        /// The index written.
        found: u64,
        /// The index the next entry must have.
        next: usize,
    },
    /// An instruction before any `.proc`.
    #[error("instruction outside a procedure (start one with `.proc`)")]
    OutsideProc,
    /// A module-level directive inside a procedure.
    #[error("`.{0}` inside a procedure (close it with `.end` first)")]
    DirectiveInProc(String),
    /// `.end` with no open procedure.
    #[error("`.end` without `.proc`")]
    EndWithoutProc,
    /// A procedure the file ends inside.
    #[error("procedure not closed with `.end`")]
    UnclosedProc,
    /// A second `.entry` directive.
    #[error("second `.entry`")]
    DuplicateEntry,
    /// A local type nested deeper than the assembler allows.
    #[error("local type nested too deeply")]
    TooDeep,
    /// A local type that is not well formed.
    #[error("bad local type: {0}")]
    Type(GraphError),
}

/// Assembles `.casm` source text into a module. Never panics; every error
/// names its line and column.
pub fn assemble(src: &str) -> Result<Module, AsmError> {
    let lines = lex::lex(src)?;
    let mut asm = Assembler::default();
    let procs = asm.pass1(&lines)?;
    for (id, src) in procs.iter().enumerate() {
        asm.assemble_proc(id, src)?;
    }
    Ok(asm.module)
}

/// The lines of one procedure: its `.proc` header and its body.
pub(crate) struct ProcSrc<'a> {
    header: &'a Line,
    body: Vec<&'a Line>,
}

/// The module under construction and the names that are not kept in it.
#[derive(Default)]
pub(crate) struct Assembler {
    module: Module,
    type_names: BTreeMap<String, TypeId>,
    const_names: BTreeMap<String, u32>,
}

/// Appends `s` to `strings` unless present; returns its id.
pub(crate) fn intern(strings: &mut Vec<String>, s: &str) -> SymId {
    match strings.iter().position(|t| t == s) {
        Some(i) => SymId(i as u32),
        None => {
            strings.push(s.to_owned());
            SymId(strings.len() as u32 - 1)
        }
    }
}

impl Assembler {
    /// Pass 1: table directives and procedure names, in source order.
    fn pass1<'a>(&mut self, lines: &'a [Line]) -> Result<Vec<ProcSrc<'a>>, AsmError> {
        let mut procs = Vec::new();
        let mut open: Option<ProcSrc<'a>> = None;
        let mut entry: Option<&'a Line> = None;
        for line in lines {
            let directive = match &line.toks[0].tok {
                Tok::Directive(d) => d.as_str(),
                _ => match open.as_mut() {
                    Some(p) => {
                        p.body.push(line);
                        continue;
                    }
                    None => return Err(line.err(line.toks[0].col, AsmErrorKind::OutsideProc)),
                },
            };
            let at = line.toks[0].col;
            match (directive, open.is_some()) {
                ("end", true) => procs.extend(open.take()),
                ("end", false) => return Err(line.err(at, AsmErrorKind::EndWithoutProc)),
                (d, true) => return Err(line.err(at, AsmErrorKind::DirectiveInProc(d.to_owned()))),
                ("proc", false) => {
                    self.proc_name(line)?;
                    open = Some(ProcSrc { header: line, body: Vec::new() });
                }
                ("entry", false) if entry.is_some() => return Err(line.err(at, AsmErrorKind::DuplicateEntry)),
                ("entry", false) => entry = Some(line),
                ("string", false) => self.string_directive(line)?,
                ("type", false) => self.type_directive(line)?,
                ("const", false) => self.const_directive(line)?,
                (d, false) => return Err(line.err(at, AsmErrorKind::UnknownDirective(d.to_owned()))),
            }
        }
        if let Some(p) = open {
            return Err(p.header.err(p.header.toks[0].col, AsmErrorKind::UnclosedProc));
        }
        if let Some(line) = entry {
            let mut c = Cursor::new(line, 1);
            self.module.entry = self.proc_ref(&mut c)?;
            c.finish()?;
        }
        Ok(procs)
    }

    /// `.proc NAME ...`: interns the name and appends an empty procedure.
    fn proc_name(&mut self, line: &Line) -> Result<(), AsmError> {
        let mut c = Cursor::new(line, 1);
        let name = self.sym(&mut c)?;
        self.module.procs.push(Proc { name, params: Vec::new(), reg_count: 0, code: Vec::new() });
        Ok(())
    }

    /// Checks an explicit table index `N` against the next free slot.
    fn explicit_index(c: &mut Cursor<'_>, table: &'static str, next: usize) -> Result<(), AsmError> {
        let col = c.col();
        let found: u64 = c.number("an index")?;
        if found != next as u64 {
            return Err(c.line.err(col, AsmErrorKind::IndexOutOfOrder { table, found, next }));
        }
        Ok(())
    }

    /// `.string N "text"`: appends a string table entry (duplicates allowed).
    fn string_directive(&mut self, line: &Line) -> Result<(), AsmError> {
        let mut c = Cursor::new(line, 1);
        Self::explicit_index(&mut c, "string", self.module.strings.len())?;
        let text = match c.peek() {
            Some(Tok::Str(s) | Tok::Ident(s)) => s.clone(),
            _ => return Err(c.expected("a string")),
        };
        c.bump();
        c.finish()?;
        self.module.strings.push(text);
        Ok(())
    }

    /// `.const N VALUE` or `.const NAME = VALUE`.
    fn const_directive(&mut self, line: &Line) -> Result<(), AsmError> {
        let mut c = Cursor::new(line, 1);
        let next = self.module.consts.len();
        if matches!(c.peek(), Some(Tok::Ident(_))) {
            let col = c.col();
            let name = c.ident("a constant name")?;
            c.punct('=', "`=`")?;
            if self.const_names.contains_key(name) {
                return Err(line.err(col, AsmErrorKind::DuplicateConst(name.to_owned())));
            }
            self.const_names.insert(name.to_owned(), next as u32);
        } else {
            Self::explicit_index(&mut c, "const", next)?;
        }
        let value = self.const_value(&mut c)?;
        c.finish()?;
        self.module.consts.push(value);
        Ok(())
    }

    /// `.type N NODE` or `.type NAME = LOCAL-TYPE`.
    fn type_directive(&mut self, line: &Line) -> Result<(), AsmError> {
        let mut c = Cursor::new(line, 1);
        if matches!(c.peek(), Some(Tok::Ident(_))) {
            let col = c.col();
            let name = c.ident("a type name")?;
            c.punct('=', "`=`")?;
            if self.type_names.contains_key(name) {
                return Err(line.err(col, AsmErrorKind::DuplicateType(name.to_owned())));
            }
            let ty_col = c.col();
            let ty = notation::parse(&mut c)?;
            c.finish()?;
            let Module { types, strings, .. } = &mut self.module;
            let root =
                types.lower(&ty, &mut |s| intern(strings, s)).map_err(|e| line.err(ty_col, AsmErrorKind::Type(e)))?;
            self.type_names.insert(name.to_owned(), root);
            return Ok(());
        }
        Self::explicit_index(&mut c, "type", self.module.types.nodes.len())?;
        let node = self.type_node(&mut c)?;
        c.finish()?;
        self.module.types.nodes.push(node);
        Ok(())
    }

    /// Pass 2 for one procedure: header, labels, then instructions.
    fn assemble_proc(&mut self, id: usize, src: &ProcSrc<'_>) -> Result<(), AsmError> {
        let mut header = Cursor::new(src.header, 1);
        let _ = self.sym(&mut header)?;
        let (params, reg_count) = self.proc_header(&mut header)?;
        let (labels, instrs) = body::collect_labels(&src.body)?;
        let ctx = body::ProcCtx { reg_count, labels };
        let mut code = Vec::with_capacity(instrs.len());
        for c in instrs {
            code.push(self.instr(&ctx, c)?);
        }
        let proc = &mut self.module.procs[id];
        proc.params = params;
        proc.reg_count = reg_count;
        proc.code = code;
        Ok(())
    }

    /// Resolves a procedure reference: a name (unique among the procedures)
    /// or `proc#N`.
    fn proc_ref(&self, c: &mut Cursor<'_>) -> Result<ProcId, AsmError> {
        let col = c.col();
        let name = match c.peek() {
            Some(Tok::Raw(..)) => return operand::raw(c, "proc"),
            Some(Tok::Ident(s) | Tok::Str(s)) => s,
            _ => return Err(c.expected("a procedure name or proc#N")),
        };
        c.bump();
        let mut hits = self
            .module
            .procs
            .iter()
            .enumerate()
            .filter(|(_, p)| self.module.strings.get(p.name.0 as usize) == Some(name));
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Ok(i as ProcId),
            (Some(_), Some(_)) => Err(c.line.err(col, AsmErrorKind::AmbiguousProc(name.clone()))),
            (None, _) => Err(c.line.err(col, AsmErrorKind::UndefinedProc(name.clone()))),
        }
    }
}
