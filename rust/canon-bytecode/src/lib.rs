//! canon bytecode: the module format, the one instruction enum and its opcode
//! table, binary encode/decode, the text assembly (`.casm`), and the verifier
//! that turns an untrusted [`Module`] into a [`VerifiedProgram`] — the only
//! thing the machine accepts.
//!
//! Trust boundary: `decode(&[u8]) -> Module` (untrusted bytes become a
//! structurally valid but unchecked module), `verify(Module) ->
//! VerifiedProgram` (checked module). The byte layout is specified in
//! `bytecode-spec/format.md`.
#![deny(missing_docs)]

pub mod debug;
pub mod instr;
pub mod module;
pub mod names;

pub use debug::{DebugInfo, MAX_DEBUG_FILE_NAME_BYTES, MAX_DEBUG_STATEMENT_BYTES, NO_SPAN, SourceLoc, SourceSpan};
pub use instr::{Arm, EdgeBuffer, Instr, OPCODES, Opcode, PeerArm, Reg};
pub use module::{Backpressure, BufferConfig, BufferMode, Const, FORMAT_VERSION, MAGIC, Module, Param, Proc, ProcId};
pub use names::{NAME_CODES, NameKind, UnknownName};

pub mod decode;
pub mod encode;
#[cfg(feature = "testgen")]
pub mod testgen;

pub use decode::{DECODE_CODES, DecodeError, decode};
pub use encode::encode;

pub mod asm;
pub mod disasm;
pub mod workloads;

pub use asm::{AsmError, AsmErrorKind, assemble};
pub use disasm::disassemble;

pub mod verify;
pub use verify::{
    MAX_ROLES_PER_OPEN, MAX_VERIFY_WORK, Site, VERIFY_CODES, VerifiedProgram, VerifyError, verify, verify_counted,
};
