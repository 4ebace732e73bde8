//! The one instruction enum and its opcode table.
//!
//! Opcodes are numbered explicitly and never by enum order; [`OPCODES`] is the
//! single table that the encoder, decoder, assembler, disassembler and the
//! spec's opcode table agree with (a tidy test checks the spec).

use canon_types::{SymId, TypeId};

use crate::module::{BufferConfig, ProcId};

/// A register index within the current procedure's frame.
pub type Reg = u16;

/// One arm of a `select`, `offer` or `recv_timeout`: a label and the
/// instruction index to continue at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arm {
    pub label: SymId,
    pub target: u32,
}

/// A per-edge buffer configuration carried by `open`. `from`/`to` are indices
/// into the `open`'s role list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EdgeBuffer {
    pub from: u16,
    pub to: u16,
    pub config: BufferConfig,
}

/// One instruction. Operand meaning and effect are specified per opcode in
/// `bytecode-spec/format.md`; the machine's `step` is the one implementation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instr {
    // ----- control -----
    /// Does nothing.
    Nop,
    /// Continue at `target`.
    Jmp { target: u32 },
    /// Continue at `target` if `cond` holds `Bool(true)` or a non-zero `Int`.
    JmpIf { cond: Reg, target: u32 },
    /// Call `proc` in the same coroutine, copying `args` into its parameter
    /// registers; endpoints passed move with the call and come back on `ret`.
    Call { proc: ProcId, args: Vec<Reg> },
    /// Return from a `call`; in a coroutine's first frame, same as `halt`.
    Ret,
    /// End this coroutine's quantum for the current round.
    Yield,
    /// End this coroutine.
    Halt,

    // ----- data -----
    /// `dst := consts[k]`.
    Const { dst: Reg, k: u32 },
    /// `dst := src`.
    Mov { dst: Reg, src: Reg },
    /// `dst := a + b` (wrapping i64).
    Add { dst: Reg, a: Reg, b: Reg },
    /// `dst := a - b` (wrapping i64).
    Sub { dst: Reg, a: Reg, b: Reg },
    /// `dst := Bool(a == b)` on any values.
    Eq { dst: Reg, a: Reg, b: Reg },
    /// `dst := Bool(a < b)` on i64.
    Lt { dst: Reg, a: Reg, b: Reg },

    // ----- session -----
    /// Open a session: one role per entry of `roles`, with local type
    /// `types[i]`, host handler binding `handlers[i]`, and the new endpoint
    /// written to `dsts[i]`. `buffers` overrides the default buffer
    /// configuration of some directed edges.
    Open { roles: Vec<SymId>, types: Vec<TypeId>, handlers: Vec<SymId>, dsts: Vec<Reg>, buffers: Vec<EdgeBuffer> },
    /// Send `label` with payload `src` on endpoint `ep` (type: `Send` with that label).
    Send { ep: Reg, label: SymId, src: Reg },
    /// Receive `label` on `ep` into `dst`, blocking until a message is visible
    /// (type: `Recv` with that label).
    Recv { ep: Reg, label: SymId, dst: Reg },
    /// Ask the host to choose one of `arms` (type: `Send` offering each arm's
    /// label) and continue at the chosen arm's target. Sends nothing: the
    /// chosen arm's code then performs the `send`.
    Select { ep: Reg, arms: Vec<Arm> },
    /// Receive any message on `ep` (type: `Recv` whose labels are exactly the
    /// arms' labels), payload into `dst`, continue at the arm of its label.
    Offer { ep: Reg, dst: Reg, arms: Vec<Arm> },
    /// Close endpoint `ep` (type: `End`). The session closes when its last
    /// endpoint closes.
    Close { ep: Reg },

    // ----- lifecycle -----
    /// `offer` with a deadline: if no message is visible within
    /// `timeout_ticks` rounds, `TimeoutIssued` is recorded and execution
    /// continues at `on_timeout` with the endpoint's type unchanged.
    RecvTimeout { ep: Reg, dst: Reg, arms: Vec<Arm>, timeout_ticks: u32, on_timeout: u32 },
    /// Cancel `ep`'s session: `CancellationRequested → Cancelled → SessionTerminal{Cancelled}`.
    Cancel { ep: Reg },
    /// Abort `ep`'s session: `Aborted → SessionTerminal{Aborted}`.
    Abort { ep: Reg },

    // ----- host -----
    /// Perform host effect `effect` with argument `arg`; the answer goes to `dst`
    /// and is recorded.
    Invoke { dst: Reg, effect: SymId, arg: Reg },
    /// Start a new coroutine running `proc` with `args` copied into its
    /// parameter registers; endpoints passed move to the new coroutine.
    Spawn { proc: ProcId, args: Vec<Reg> },
    /// Ask the host to produce the payload for sending `label` on `ep`; the
    /// answer goes to `dst` and is recorded (type: `Send` offering `label`;
    /// does not advance it).
    Produce { dst: Reg, ep: Reg, label: SymId },
}

/// An opcode: the stable byte that starts an encoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Opcode {
    Nop = 0x00,
    Jmp = 0x01,
    JmpIf = 0x02,
    Call = 0x03,
    Ret = 0x04,
    Yield = 0x05,
    Halt = 0x06,
    Const = 0x10,
    Mov = 0x11,
    Add = 0x12,
    Sub = 0x13,
    Eq = 0x14,
    Lt = 0x15,
    Open = 0x20,
    Send = 0x21,
    Recv = 0x22,
    Select = 0x23,
    Offer = 0x24,
    Close = 0x25,
    RecvTimeout = 0x28,
    Cancel = 0x29,
    Abort = 0x2A,
    Invoke = 0x30,
    Spawn = 0x31,
    Produce = 0x32,
}

/// Every opcode with its assembly mnemonic and instruction group, in byte order.
pub const OPCODES: &[(Opcode, &str, &str)] = &[
    (Opcode::Nop, "nop", "control"),
    (Opcode::Jmp, "jmp", "control"),
    (Opcode::JmpIf, "jmp_if", "control"),
    (Opcode::Call, "call", "control"),
    (Opcode::Ret, "ret", "control"),
    (Opcode::Yield, "yield", "control"),
    (Opcode::Halt, "halt", "control"),
    (Opcode::Const, "const", "data"),
    (Opcode::Mov, "mov", "data"),
    (Opcode::Add, "add", "data"),
    (Opcode::Sub, "sub", "data"),
    (Opcode::Eq, "eq", "data"),
    (Opcode::Lt, "lt", "data"),
    (Opcode::Open, "open", "session"),
    (Opcode::Send, "send", "session"),
    (Opcode::Recv, "recv", "session"),
    (Opcode::Select, "select", "session"),
    (Opcode::Offer, "offer", "session"),
    (Opcode::Close, "close", "session"),
    (Opcode::RecvTimeout, "recv_timeout", "lifecycle"),
    (Opcode::Cancel, "cancel", "lifecycle"),
    (Opcode::Abort, "abort", "lifecycle"),
    (Opcode::Invoke, "invoke", "host"),
    (Opcode::Spawn, "spawn", "host"),
    (Opcode::Produce, "produce", "host"),
];

impl Opcode {
    /// The opcode for a byte, if it is assigned.
    pub fn from_byte(byte: u8) -> Option<Opcode> {
        OPCODES.iter().map(|(op, _, _)| *op).find(|op| *op as u8 == byte)
    }

    /// The assembly mnemonic.
    pub fn mnemonic(self) -> &'static str {
        OPCODES.iter().find(|(op, _, _)| *op == self).map(|(_, m, _)| *m).expect("every opcode is in OPCODES")
    }

    /// The opcode for an assembly mnemonic.
    pub fn from_mnemonic(m: &str) -> Option<Opcode> {
        OPCODES.iter().find(|(_, name, _)| *name == m).map(|(op, _, _)| *op)
    }
}

impl Instr {
    /// The opcode of this instruction.
    pub fn opcode(&self) -> Opcode {
        match self {
            Instr::Nop => Opcode::Nop,
            Instr::Jmp { .. } => Opcode::Jmp,
            Instr::JmpIf { .. } => Opcode::JmpIf,
            Instr::Call { .. } => Opcode::Call,
            Instr::Ret => Opcode::Ret,
            Instr::Yield => Opcode::Yield,
            Instr::Halt => Opcode::Halt,
            Instr::Const { .. } => Opcode::Const,
            Instr::Mov { .. } => Opcode::Mov,
            Instr::Add { .. } => Opcode::Add,
            Instr::Sub { .. } => Opcode::Sub,
            Instr::Eq { .. } => Opcode::Eq,
            Instr::Lt { .. } => Opcode::Lt,
            Instr::Open { .. } => Opcode::Open,
            Instr::Send { .. } => Opcode::Send,
            Instr::Recv { .. } => Opcode::Recv,
            Instr::Select { .. } => Opcode::Select,
            Instr::Offer { .. } => Opcode::Offer,
            Instr::Close { .. } => Opcode::Close,
            Instr::RecvTimeout { .. } => Opcode::RecvTimeout,
            Instr::Cancel { .. } => Opcode::Cancel,
            Instr::Abort { .. } => Opcode::Abort,
            Instr::Invoke { .. } => Opcode::Invoke,
            Instr::Spawn { .. } => Opcode::Spawn,
            Instr::Produce { .. } => Opcode::Produce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_table_is_sorted_unique_and_round_trips() {
        for w in OPCODES.windows(2) {
            assert!((w[0].0 as u8) < (w[1].0 as u8), "OPCODES must be in strictly increasing byte order");
        }
        for (op, m, _) in OPCODES {
            assert_eq!(Opcode::from_byte(*op as u8), Some(*op));
            assert_eq!(Opcode::from_mnemonic(m), Some(*op));
            assert_eq!(op.mnemonic(), *m);
        }
        assert_eq!(Opcode::from_byte(0xFF), None);
    }
}
