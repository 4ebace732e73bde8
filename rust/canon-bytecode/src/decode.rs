//! The binary decoder: untrusted `.cbc` bytes → [`Module`].
//!
//! Decoding checks structure only: every field is present, every tag and
//! opcode is known, every encoding is the canonical one, and nothing follows
//! the last section. It does not check that ids are in range or that code
//! follows its types: that is the verifier's job. Every error names the byte
//! offset where decoding failed, and no count read from the input is trusted
//! with an allocation before it is bounded by the bytes that remain.

use canon_types::{ErrorCode, FlatBranch, SymId, TypeGraph, TypeId, TypeNode};

use crate::debug::{DebugInfo, MAX_DEBUG_FILE_NAME_BYTES, MAX_DEBUG_STATEMENT_BYTES, NO_SPAN, SourceSpan};
use crate::encode::{HEADER_LEN, tag};
use crate::instr::{Arm, EdgeBuffer, Instr, Opcode, Reg};
use crate::module::{Backpressure, BufferConfig, BufferMode, Const, FORMAT_VERSION, MAGIC, Module, Param, Proc};

/// Why a byte string is not a canonical module encoding. Every variant carries
/// the byte `offset` at which decoding failed ([`DecodeError::offset`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is empty.
    #[error("empty input at byte {offset}: expected the magic bytes \"CNBC\"")]
    Empty {
        /// The byte offset in the input where decoding failed.
        offset: usize,
    },
    /// The input ends inside a field.
    #[error("truncated at byte {offset}: {what} needs {needed} more byte(s)")]
    Truncated {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
        /// How many more bytes it needs.
        needed: usize,
    },
    /// The input does not start with "CNBC".
    #[error("bad magic at byte {offset}: expected \"CNBC\" (43 4e 42 43), found {}", hex_bytes(.found))]
    BadMagic {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The first bytes of the input.
        found: Vec<u8>,
    },
    /// The format version is not the one this build reads.
    #[error("unsupported format version {version} at byte {offset}: this build reads version {FORMAT_VERSION}")]
    UnsupportedVersion {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The format version the input declares.
        version: u16,
    },
    /// The header flags are not zero.
    #[error("non-zero header flags 0x{flags:04x} at byte {offset}")]
    BadFlags {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The header flags found.
        flags: u16,
    },
    /// A section id is not one of 1..=5.
    #[error("unknown section id {id} at byte {offset}")]
    UnknownSection {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The section id read.
        id: u8,
    },
    /// A section is missing, repeated or out of order.
    #[error("section {id} at byte {offset} is out of order: expected section {expected}")]
    SectionOutOfOrder {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The section id read.
        id: u8,
        /// The section id that must come next.
        expected: u8,
    },
    /// A section's content is shorter than its length.
    #[error("section {id} declares {declared} body byte(s) but its content ends after {used}, at byte {offset}")]
    SectionLengthMismatch {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The section id read.
        id: u8,
        /// The body length the section header declares.
        declared: u32,
        /// The bytes its content actually took.
        used: usize,
    },
    /// An instruction starts with an unassigned opcode.
    #[error("unknown opcode 0x{byte:02x} at byte {offset}")]
    UnknownOpcode {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The opcode byte read.
        byte: u8,
    },
    /// A type-node, constant, parameter or buffer tag is unknown.
    #[error("unknown {what} tag 0x{tag:02x} at byte {offset}")]
    UnknownTag {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
        /// The tag byte read.
        tag: u8,
    },
    /// A string-table entry is not UTF-8.
    #[error("invalid UTF-8 in a string at byte {offset}")]
    BadUtf8 {
        /// The byte offset in the input where decoding failed.
        offset: usize,
    },
    /// A field has a second, non-canonical encoding.
    #[error("non-canonical {what} at byte {offset}")]
    NonCanonical {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
    },
    /// Bytes follow the entry section.
    #[error("{count} trailing byte(s) after the entry section, at byte {offset}")]
    TrailingBytes {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// How many bytes follow the entry section.
        count: usize,
    },
    /// A count exceeds what the remaining input can hold.
    #[error("{what} count {count} at byte {offset} cannot fit in the {remaining} byte(s) that remain")]
    TooLarge {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
        /// The count read.
        count: u32,
        /// The bytes left in the section or input.
        remaining: usize,
    },
    /// A debug-section string exceeds its named limit.
    #[error("debug section: {what} of {len} bytes at byte {offset} exceeds the limit of {max}")]
    DebugLimit {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
        /// The string's length in bytes.
        len: u32,
        /// The named limit for that string.
        max: usize,
    },
    /// A debug-section index or map does not fit the module's files, spans or code.
    #[error("debug section: {what} {found} at byte {offset} does not fit the module (bound {bound})")]
    DebugMismatch {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// What was being read (a field, a tag kind, a table).
        what: &'static str,
        /// The index or count read.
        found: u32,
        /// The bound it must stay below.
        bound: u32,
    },
}

canon_types::error_codes! {
    /// Every decode error code: stable numbers in the 1xxx range.
    pub DECODE_CODES for DecodeError {
        Empty = 1001: "the input is empty",
        Truncated = 1002: "the input ends inside a field",
        BadMagic = 1003: "the input does not start with \"CNBC\"",
        UnsupportedVersion = 1004: "the format version is not the one this build reads",
        BadFlags = 1005: "the header flags are not zero",
        UnknownSection = 1006: "a section id is not one of 1..=5",
        SectionOutOfOrder = 1007: "a section is missing, repeated or out of order",
        SectionLengthMismatch = 1008: "a section's content is shorter than its length",
        UnknownOpcode = 1009: "an instruction starts with an unassigned opcode",
        UnknownTag = 1010: "a type-node, constant, parameter or buffer tag is unknown",
        BadUtf8 = 1011: "a string-table entry is not UTF-8",
        NonCanonical = 1012: "a field has a second, non-canonical encoding",
        TrailingBytes = 1013: "bytes follow the entry section",
        TooLarge = 1014: "a count exceeds what the remaining input can hold",
        DebugLimit = 1015: "a debug-section string exceeds its named limit",
        DebugMismatch = 1016: "a debug-section index or map does not fit the module's files, spans or code",
    }
}

impl DecodeError {
    /// The byte offset in the input at which decoding failed.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Empty { offset }
            | DecodeError::Truncated { offset, .. }
            | DecodeError::BadMagic { offset, .. }
            | DecodeError::UnsupportedVersion { offset, .. }
            | DecodeError::BadFlags { offset, .. }
            | DecodeError::UnknownSection { offset, .. }
            | DecodeError::SectionOutOfOrder { offset, .. }
            | DecodeError::SectionLengthMismatch { offset, .. }
            | DecodeError::UnknownOpcode { offset, .. }
            | DecodeError::UnknownTag { offset, .. }
            | DecodeError::BadUtf8 { offset }
            | DecodeError::NonCanonical { offset, .. }
            | DecodeError::TrailingBytes { offset, .. }
            | DecodeError::TooLarge { offset, .. }
            | DecodeError::DebugLimit { offset, .. }
            | DecodeError::DebugMismatch { offset, .. } => *offset,
        }
    }

    /// The variant name, as listed in [`DECODE_CODES`].
    pub fn name(&self) -> &'static str {
        let code = self.code();
        DECODE_CODES.iter().find(|e| e.code == code).map_or("?", |e| e.name)
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Decodes a module from its canonical encoding (`bytecode-spec/format.md`).
/// Accepts exactly the byte strings [`crate::encode()`] produces.
pub fn decode(bytes: &[u8]) -> Result<Module> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty { offset: 0 });
    }
    let mut r = Reader { bytes, pos: 0, end: bytes.len() };
    header(&mut r)?;
    let strings = section(&mut r, tag::section::STRINGS, |r| r.list("string", 4, string))?;
    let types = section(&mut r, tag::section::TYPES, |r| r.list("type node", 1, type_node))?;
    let consts = section(&mut r, tag::section::CONSTS, |r| r.list("constant", 1, konst))?;
    let procs = section(&mut r, tag::section::PROCS, |r| r.list("procedure", 14, proc))?;
    let entry = section(&mut r, tag::section::ENTRY, |r| r.u32("entry procedure"))?;
    let debug = match bytes.get(r.pos) {
        Some(&tag::section::DEBUG) => Some(section(&mut r, tag::section::DEBUG, |r| debug_section(r, &procs))?),
        _ => None,
    };
    if r.pos < bytes.len() {
        return Err(DecodeError::TrailingBytes { offset: r.pos, count: bytes.len() - r.pos });
    }
    Ok(Module { strings, types: TypeGraph { nodes: types }, consts, procs, entry, debug })
}

/// A cursor over the input. Offsets are absolute; `end` is the end of the
/// current section (or of the input).
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let remaining = self.end - self.pos;
        if n > remaining {
            return Err(DecodeError::Truncated { offset: self.pos, what, needed: n - remaining });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn sym(&mut self, what: &'static str) -> Result<SymId> {
        self.u32(what).map(SymId)
    }

    fn type_id(&mut self, what: &'static str) -> Result<TypeId> {
        self.u32(what).map(TypeId)
    }

    /// A `count u32` followed by that many items, each at least `min_item_len`
    /// bytes long: the count is checked against the remaining bytes before
    /// anything is allocated.
    fn list<T>(
        &mut self,
        what: &'static str,
        min_item_len: usize,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let offset = self.pos;
        let count = self.u32(what)?;
        let remaining = self.end - self.pos;
        if (count as usize).saturating_mul(min_item_len) > remaining {
            return Err(DecodeError::TooLarge { offset, what, count, remaining });
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn regs(&mut self, what: &'static str) -> Result<Vec<Reg>> {
        self.list(what, 2, |r| r.u16(what))
    }

    fn syms(&mut self, what: &'static str) -> Result<Vec<SymId>> {
        self.list(what, 4, |r| r.sym(what))
    }
}

fn header(r: &mut Reader) -> Result<()> {
    let found = &r.bytes[..r.bytes.len().min(MAGIC.len())];
    if found != &MAGIC[..found.len()] {
        return Err(DecodeError::BadMagic { offset: 0, found: found.to_vec() });
    }
    r.take(MAGIC.len(), "magic")?;
    let version = r.u16("format version")?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { offset: 4, version });
    }
    let flags = r.u16("header flags")?;
    if flags != 0 {
        return Err(DecodeError::BadFlags { offset: 6, flags });
    }
    debug_assert_eq!(r.pos, HEADER_LEN);
    Ok(())
}

/// `id u8, body_len u32, body`; the body must be exactly `body_len` bytes.
fn section<T>(r: &mut Reader, expected: u8, body: impl FnOnce(&mut Reader) -> Result<T>) -> Result<T> {
    let offset = r.pos;
    let id = r.u8("section id")?;
    if !(tag::section::STRINGS..=tag::section::DEBUG).contains(&id) {
        return Err(DecodeError::UnknownSection { offset, id });
    }
    if id != expected {
        return Err(DecodeError::SectionOutOfOrder { offset, id, expected });
    }
    let declared = r.u32("section length")?;
    let start = r.pos;
    r.take(declared as usize, "section body")?;
    let mut sub = Reader { bytes: r.bytes, pos: start, end: r.pos };
    let value = body(&mut sub)?;
    if sub.pos != sub.end {
        return Err(DecodeError::SectionLengthMismatch { offset: sub.pos, id, declared, used: sub.pos - start });
    }
    Ok(value)
}

fn string(r: &mut Reader) -> Result<String> {
    let len = r.u32("string length")?;
    let at = r.pos;
    let raw = r.take(len as usize, "string")?;
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(DecodeError::BadUtf8 { offset: at + e.valid_up_to() }),
    }
}

/// A string of at most `max` bytes (checked before anything is copied).
fn limited_string(r: &mut Reader, what: &'static str, max: usize) -> Result<String> {
    let at = r.pos;
    let len = r.u32(what)?;
    if len as usize > max {
        return Err(DecodeError::DebugLimit { offset: at, what, len, max });
    }
    r.pos = at;
    string(r)
}

/// Section 6 (`bytecode-spec/format.md`): files, spans, and one map per
/// procedure of `procs`, as long as its code. Every index is checked, so a
/// decoded source map never points outside itself.
fn debug_section(r: &mut Reader, procs: &[Proc]) -> Result<DebugInfo> {
    let files = r.list("debug file", 4, |r| limited_string(r, "file name", MAX_DEBUG_FILE_NAME_BYTES))?;
    let file_count = files.len() as u32;
    let spans = r.list("debug span", 16, |r| {
        let at = r.pos;
        let file = r.u32("span file")?;
        if file >= file_count {
            return Err(DecodeError::DebugMismatch { offset: at, what: "file index", found: file, bound: file_count });
        }
        let (line_at, line, col) = (r.pos, r.u32("span line")?, r.u32("span column")?);
        if line == 0 || col == 0 {
            return Err(DecodeError::NonCanonical { offset: line_at, what: "debug line or column (counted from 1)" });
        }
        let statement = limited_string(r, "statement", MAX_DEBUG_STATEMENT_BYTES)?;
        Ok(SourceSpan { file, line, col, statement })
    })?;
    let span_count = spans.len() as u32;
    let at = r.pos;
    let mut next = 0usize;
    let maps = r.list("debug procedure map", 4, |r| {
        let map_at = r.pos;
        let code_len = procs.get(next).map_or(0, |p| p.code.len()) as u32;
        next += 1;
        let map = r.list("debug instruction map", 4, |r| {
            let index_at = r.pos;
            let index = r.u32("span index")?;
            if index != NO_SPAN && index >= span_count {
                return Err(DecodeError::DebugMismatch {
                    offset: index_at,
                    what: "span index",
                    found: index,
                    bound: span_count,
                });
            }
            Ok(index)
        })?;
        if map.len() as u32 != code_len {
            let found = map.len() as u32;
            return Err(DecodeError::DebugMismatch {
                offset: map_at,
                what: "instruction map length",
                found,
                bound: code_len,
            });
        }
        Ok(map)
    })?;
    if maps.len() != procs.len() {
        let (found, bound) = (maps.len() as u32, procs.len() as u32);
        return Err(DecodeError::DebugMismatch { offset: at, what: "procedure map count", found, bound });
    }
    Ok(DebugInfo { files, spans, procs: maps })
}

fn type_node(r: &mut Reader) -> Result<TypeNode> {
    let offset = r.pos;
    Ok(match r.u8("type node tag")? {
        tag::ty::END => TypeNode::End,
        tag::ty::SEND => TypeNode::Send { peer: r.sym("peer")?, branches: r.list("branch", 12, branch)? },
        tag::ty::RECV => TypeNode::Recv { peer: r.sym("peer")?, branches: r.list("branch", 12, branch)? },
        tag::ty::MU => TypeNode::Mu { var: r.sym("mu variable")?, body: r.type_id("mu body")? },
        tag::ty::VAR => TypeNode::Var { mu: r.type_id("var binder")? },
        tag::ty::CHOOSE => TypeNode::Choose { arms: r.list("choose arm", 4, |r| r.type_id("choose arm"))? },
        t => return Err(DecodeError::UnknownTag { offset, what: "type node", tag: t }),
    })
}

fn branch(r: &mut Reader) -> Result<FlatBranch> {
    let label = r.sym("branch label")?;
    let payload = r.list("payload", 4, |r| r.sym("payload type"))?;
    let cont = r.type_id("continuation")?;
    Ok(FlatBranch { label, payload, cont })
}

fn konst(r: &mut Reader) -> Result<Const> {
    let offset = r.pos;
    Ok(match r.u8("constant tag")? {
        tag::konst::UNIT => Const::Unit,
        tag::konst::BOOL => {
            let at = r.pos;
            match r.u8("bool")? {
                0 => Const::Bool(false),
                1 => Const::Bool(true),
                _ => return Err(DecodeError::NonCanonical { offset: at, what: "bool (must be 0 or 1)" }),
            }
        }
        tag::konst::INT => Const::Int(i64::from_le_bytes(r.array("int")?)),
        tag::konst::BYTES => {
            let len = r.u32("bytes length")?;
            Const::Bytes(r.take(len as usize, "bytes")?.to_vec())
        }
        tag::konst::STR => Const::Str(r.sym("string constant")?),
        tag::konst::LABEL => Const::Label(r.sym("label constant")?),
        t => return Err(DecodeError::UnknownTag { offset, what: "constant", tag: t }),
    })
}

fn param(r: &mut Reader) -> Result<Param> {
    let offset = r.pos;
    match r.u8("parameter tag")? {
        tag::param::VALUE => Ok(Param::Value),
        tag::param::ENDPOINT => Ok(Param::Endpoint(r.type_id("parameter type")?)),
        t => Err(DecodeError::UnknownTag { offset, what: "parameter", tag: t }),
    }
}

fn proc(r: &mut Reader) -> Result<Proc> {
    let name = r.sym("procedure name")?;
    let params = r.list("parameter", 1, param)?;
    let reg_count = r.u16("register count")?;
    let code = r.list("instruction", 1, instr)?;
    Ok(Proc { name, params, reg_count, code })
}

fn arms(r: &mut Reader) -> Result<Vec<Arm>> {
    r.list("arm", 8, |r| Ok(Arm { label: r.sym("arm label")?, target: r.u32("arm target")? }))
}

fn edge_buffer(r: &mut Reader) -> Result<EdgeBuffer> {
    let from = r.u16("buffer from")?;
    let to = r.u16("buffer to")?;
    let at = r.pos;
    let mode = match r.u8("buffer mode")? {
        tag::mode::FIFO => BufferMode::Fifo,
        tag::mode::LATEST_VALUE => BufferMode::LatestValue,
        t => return Err(DecodeError::UnknownTag { offset: at, what: "buffer mode", tag: t }),
    };
    let at = r.pos;
    let policy = r.u8("backpressure policy")?;
    if policy > tag::policy::RESIZE {
        return Err(DecodeError::UnknownTag { offset: at, what: "backpressure policy", tag: policy });
    }
    let capacity = r.u32("buffer capacity")?;
    let max_at = r.pos;
    let max_capacity = r.u32("buffer max capacity")?;
    let policy = match policy {
        tag::policy::BLOCK => Backpressure::Block,
        tag::policy::DROP => Backpressure::Drop,
        tag::policy::ERROR => Backpressure::Error,
        _ => Backpressure::Resize { max_capacity },
    };
    if max_capacity != 0 && !matches!(policy, Backpressure::Resize { .. }) {
        return Err(DecodeError::NonCanonical { offset: max_at, what: "max capacity (must be 0 unless resize)" });
    }
    Ok(EdgeBuffer { from, to, config: BufferConfig { mode, policy, capacity } })
}

fn instr(r: &mut Reader) -> Result<Instr> {
    let offset = r.pos;
    let byte = r.u8("opcode")?;
    let op = Opcode::from_byte(byte).ok_or(DecodeError::UnknownOpcode { offset, byte })?;
    let reg = |r: &mut Reader| r.u16("register");
    let target = |r: &mut Reader| r.u32("jump target");
    Ok(match op {
        Opcode::Nop => Instr::Nop,
        Opcode::Jmp => Instr::Jmp { target: target(r)? },
        Opcode::JmpIf => Instr::JmpIf { cond: reg(r)?, target: target(r)? },
        Opcode::Call => Instr::Call { proc: r.u32("procedure")?, args: r.regs("argument")? },
        Opcode::Ret => Instr::Ret,
        Opcode::Yield => Instr::Yield,
        Opcode::Halt => Instr::Halt,
        Opcode::Const => Instr::Const { dst: reg(r)?, k: r.u32("constant index")? },
        Opcode::Mov => Instr::Mov { dst: reg(r)?, src: reg(r)? },
        Opcode::Add => Instr::Add { dst: reg(r)?, a: reg(r)?, b: reg(r)? },
        Opcode::Sub => Instr::Sub { dst: reg(r)?, a: reg(r)?, b: reg(r)? },
        Opcode::Eq => Instr::Eq { dst: reg(r)?, a: reg(r)?, b: reg(r)? },
        Opcode::Lt => Instr::Lt { dst: reg(r)?, a: reg(r)?, b: reg(r)? },
        Opcode::Open => Instr::Open {
            roles: r.syms("role")?,
            types: r.list("local type", 4, |r| r.type_id("local type"))?,
            handlers: r.syms("handler")?,
            dsts: r.regs("destination register")?,
            buffers: r.list("edge buffer", 14, edge_buffer)?,
        },
        Opcode::Send => Instr::Send { ep: reg(r)?, label: r.sym("label")?, src: reg(r)? },
        Opcode::Recv => Instr::Recv { ep: reg(r)?, label: r.sym("label")?, dst: reg(r)? },
        Opcode::Select => Instr::Select { ep: reg(r)?, arms: arms(r)? },
        Opcode::Offer => Instr::Offer { ep: reg(r)?, dst: reg(r)?, arms: arms(r)? },
        Opcode::Close => Instr::Close { ep: reg(r)? },
        Opcode::RecvTimeout => Instr::RecvTimeout {
            ep: reg(r)?,
            dst: reg(r)?,
            arms: arms(r)?,
            timeout_ticks: r.u32("timeout ticks")?,
            on_timeout: target(r)?,
        },
        Opcode::Cancel => Instr::Cancel { ep: reg(r)? },
        Opcode::Abort => Instr::Abort { ep: reg(r)? },
        Opcode::Invoke => Instr::Invoke { dst: reg(r)?, effect: r.sym("effect")?, arg: reg(r)? },
        Opcode::Spawn => Instr::Spawn { proc: r.u32("procedure")?, args: r.regs("argument")? },
        Opcode::Produce => Instr::Produce { dst: reg(r)?, ep: reg(r)?, label: r.sym("label")? },
    })
}

/// Bytes as space-separated hex pairs, for messages.
fn hex_bytes(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.chunks(1).map(canon_types::hex::hex).collect();
    pairs.join(" ")
}
