//! The in-memory form of a bytecode module. Byte layout: `bytecode-spec/format.md`.

use canon_types::{SymId, TypeGraph, TypeId};

use crate::debug::DebugInfo;
use crate::instr::Instr;

/// The four magic bytes that start every `.cbc` file: `"CNBC"`.
pub const MAGIC: [u8; 4] = *b"CNBC";

/// The format version this crate writes and the only one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Index of a procedure in [`Module::procs`].
pub type ProcId = u32;

/// A constant-pool entry, loaded into a register by `const`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Const {
    /// The unit value, loaded as `Value::Unit`.
    Unit,
    /// A boolean, loaded as `Value::Bool`.
    Bool(bool),
    /// A 64-bit integer, loaded as `Value::Int`.
    Int(i64),
    /// A string of the module's string table, loaded as `Value::Str`.
    Str(SymId),
    /// A label of the module's string table, loaded as `Value::Label`.
    Label(SymId),
    /// A byte string, loaded as `Value::Bytes`.
    Bytes(Vec<u8>),
}

/// A procedure parameter: a plain value, or an endpoint with the local type the
/// procedure expects it to have on entry (what the verifier walks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Param {
    /// A plain value (never an endpoint).
    Value,
    /// An endpoint whose local type on entry is the given type id.
    Endpoint(TypeId),
}

/// A procedure: parameters arrive in registers `0..params.len()`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proc {
    /// The procedure's name (a string-table id).
    pub name: SymId,
    /// Its parameters, in register order.
    pub params: Vec<Param>,
    /// Total registers in a frame (parameters included).
    pub reg_count: u16,
    /// Its instructions.
    pub code: Vec<Instr>,
}

/// How a buffer orders messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum BufferMode {
    /// First in, first out.
    #[default]
    Fifo,
    /// Holds one message; a new one replaces it.
    LatestValue,
}

/// What a send does when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum Backpressure {
    /// The sender waits until there is room.
    #[default]
    Block,
    /// The message is discarded (recorded as `Dropped`).
    Drop,
    /// The sender faults.
    Error,
    /// The buffer grows, up to `max_capacity` messages, then the sender faults.
    Resize {
        /// The most messages the buffer may grow to.
        max_capacity: u32,
    },
}

/// Configuration of one directed edge's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BufferConfig {
    /// FIFO or latest-value.
    pub mode: BufferMode,
    /// What a send does when the buffer is full.
    pub policy: Backpressure,
    /// Messages held before the policy applies; at least 1.
    pub capacity: u32,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig { mode: BufferMode::Fifo, policy: Backpressure::Block, capacity: 64 }
    }
}

/// A decoded module. Structurally valid (every field decoded) but not
/// checked: only [`crate::VerifiedProgram`] may run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Module {
    /// Interned strings: roles, labels, type names, effect and handler names.
    pub strings: Vec<String>,
    /// The local-type table.
    pub types: TypeGraph,
    /// The constant pool.
    pub consts: Vec<Const>,
    /// The procedures; a `ProcId` is an index into this list.
    pub procs: Vec<Proc>,
    /// The procedure run first; it takes no parameters.
    pub entry: ProcId,
    /// The optional source map (section 6): never read by the verifier or
    /// the machine, and left out of the program digest.
    pub debug: Option<DebugInfo>,
}

impl Module {
    /// The string for a symbol id, or `"<sym#N>"` if out of range.
    pub fn sym(&self, id: SymId) -> &str {
        self.strings.get(id.0 as usize).map(String::as_str).unwrap_or("<bad-sym>")
    }

    /// The id of a string, if interned.
    pub fn find_sym(&self, s: &str) -> Option<SymId> {
        self.strings.iter().position(|t| t == s).map(|i| SymId(i as u32))
    }

    /// Interns `s`, returning its id.
    pub fn intern(&mut self, s: &str) -> SymId {
        match self.find_sym(s) {
            Some(id) => id,
            None => {
                self.strings.push(s.to_owned());
                SymId(self.strings.len() as u32 - 1)
            }
        }
    }
}
