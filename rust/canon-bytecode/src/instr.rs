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
    /// The label this arm handles.
    pub label: SymId,
    /// The instruction index to continue at.
    pub target: u32,
}

/// A per-edge buffer configuration carried by `open`. `from`/`to` are indices
/// into the `open`'s role list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EdgeBuffer {
    /// The sending role's index in the `open`'s role list.
    pub from: u16,
    /// The receiving role's index in the `open`'s role list.
    pub to: u16,
    /// The edge's buffer configuration.
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
    Jmp {
        /// The instruction index to continue at.
        target: u32,
    },
    /// Continue at `target` if `cond` holds `Bool(true)` or a non-zero `Int`.
    JmpIf {
        /// The register holding the condition.
        cond: Reg,
        /// The instruction index to continue at.
        target: u32,
    },
    /// Call `proc` in the same coroutine, copying `args` into its parameter
    /// registers; endpoints passed move with the call and come back on `ret`.
    Call {
        /// The procedure called.
        proc: ProcId,
        /// The registers copied into the callee's parameters, in order.
        args: Vec<Reg>,
    },
    /// Return from a `call`; in a coroutine's first frame, same as `halt`.
    Ret,
    /// End this coroutine's quantum for the current round.
    Yield,
    /// End this coroutine.
    Halt,

    // ----- data -----
    /// `dst := consts[k]`.
    Const {
        /// The register written.
        dst: Reg,
        /// The index of the constant in the module's pool.
        k: u32,
    },
    /// `dst := src`.
    Mov {
        /// The register written.
        dst: Reg,
        /// The register read.
        src: Reg,
    },
    /// `dst := a + b` (wrapping i64).
    Add {
        /// The register written.
        dst: Reg,
        /// The left operand register.
        a: Reg,
        /// The right operand register.
        b: Reg,
    },
    /// `dst := a - b` (wrapping i64).
    Sub {
        /// The register written.
        dst: Reg,
        /// The left operand register.
        a: Reg,
        /// The right operand register.
        b: Reg,
    },
    /// `dst := Bool(a == b)` on any values.
    Eq {
        /// The register written.
        dst: Reg,
        /// The left operand register.
        a: Reg,
        /// The right operand register.
        b: Reg,
    },
    /// `dst := Bool(a < b)` on i64.
    Lt {
        /// The register written.
        dst: Reg,
        /// The left operand register.
        a: Reg,
        /// The right operand register.
        b: Reg,
    },

    // ----- session -----
    /// Open a session: one role per entry of `roles`, with local type
    /// `types[i]`, host handler binding `handlers[i]`, and the new endpoint
    /// written to `dsts[i]`. `buffers` overrides the default buffer
    /// configuration of some directed edges.
    Open {
        /// The roles opened, one endpoint each.
        roles: Vec<SymId>,
        /// The local type of each role's endpoint.
        types: Vec<TypeId>,
        /// The host handler binding of each role.
        handlers: Vec<SymId>,
        /// The register each role's endpoint is written to.
        dsts: Vec<Reg>,
        /// Buffer configurations of the edges that do not use the default.
        buffers: Vec<EdgeBuffer>,
    },
    /// Send `label` with payload `src` on endpoint `ep` (type: `Send` with that label).
    Send {
        /// The register holding the endpoint.
        ep: Reg,
        /// The message label.
        label: SymId,
        /// The register read.
        src: Reg,
    },
    /// Receive `label` on `ep` into `dst`, blocking until a message is visible
    /// (type: `Recv` with that label).
    Recv {
        /// The register holding the endpoint.
        ep: Reg,
        /// The message label.
        label: SymId,
        /// The register written.
        dst: Reg,
    },
    /// Ask the host to choose one of `arms` (type: `Send` offering each arm's
    /// label) and continue at the chosen arm's target. Sends nothing: the
    /// chosen arm's code then performs the `send`.
    Select {
        /// The register holding the endpoint.
        ep: Reg,
        /// The labels accepted, each with the instruction to continue at.
        arms: Vec<Arm>,
    },
    /// Receive any message on `ep` (type: `Recv` whose labels are exactly the
    /// arms' labels), payload into `dst`, continue at the arm of its label.
    Offer {
        /// The register holding the endpoint.
        ep: Reg,
        /// The register the received payload is written to.
        dst: Reg,
        /// The labels accepted, each with the instruction to continue at.
        arms: Vec<Arm>,
    },
    /// Close endpoint `ep` (type: `End`). The session closes when its last
    /// endpoint closes.
    Close {
        /// The register holding the endpoint.
        ep: Reg,
    },

    // ----- lifecycle -----
    /// `offer` with a deadline: if no message is visible within
    /// `timeout_ticks` rounds, `TimeoutIssued` is recorded and execution
    /// continues at `on_timeout` with the endpoint's type unchanged.
    RecvTimeout {
        /// The register holding the endpoint.
        ep: Reg,
        /// The register the received payload is written to.
        dst: Reg,
        /// The labels accepted, each with the instruction to continue at.
        arms: Vec<Arm>,
        /// How many rounds to wait for a message (at least 1).
        timeout_ticks: u32,
        /// The instruction to continue at when no message arrived in time.
        on_timeout: u32,
    },
    /// Cancel `ep`'s session: `CancellationRequested → Cancelled → SessionTerminal{Cancelled}`.
    Cancel {
        /// The register holding the endpoint.
        ep: Reg,
    },
    /// Abort `ep`'s session: `Aborted → SessionTerminal{Aborted}`.
    Abort {
        /// The register holding the endpoint.
        ep: Reg,
    },

    // ----- host -----
    /// Perform host effect `effect` with argument `arg`; the answer goes to `dst`
    /// and is recorded.
    Invoke {
        /// The register the host's answer is written to.
        dst: Reg,
        /// The host effect's name.
        effect: SymId,
        /// The register holding the effect's argument.
        arg: Reg,
    },
    /// Start a new coroutine running `proc` with `args` copied into its
    /// parameter registers; endpoints passed move to the new coroutine.
    Spawn {
        /// The procedure the new coroutine runs.
        proc: ProcId,
        /// The registers copied into the callee's parameters, in order.
        args: Vec<Reg>,
    },
    /// Ask the host to produce the payload for sending `label` on `ep`; the
    /// answer goes to `dst` and is recorded (type: `Send` offering `label`;
    /// does not advance it).
    Produce {
        /// The register the host's payload is written to.
        dst: Reg,
        /// The register holding the endpoint.
        ep: Reg,
        /// The message label.
        label: SymId,
    },
    /// Readiness check `effect` (a choreography's `check Effect.op(..)`):
    /// ask the host to perform `effect` with argument `arg`; an answer of
    /// `true` issues a readiness witness for `ep`'s session through its
    /// host-side owner (docs/ownership.md), whose id goes to `dst`.
    Check {
        /// The register the witness id is written to.
        dst: Reg,
        /// The register holding the endpoint whose session the check is for.
        ep: Reg,
        /// The check's name (`Effect.op`).
        effect: SymId,
        /// The register holding the check's argument.
        arg: Reg,
    },
    /// Consume the readiness witness whose id is in `witness` for `ep`'s
    /// session: the step the check protects. Single use, bound to the owner
    /// generation that issued it.
    Consume {
        /// The register holding the endpoint.
        ep: Reg,
        /// The register holding the witness id.
        witness: Reg,
    },
}

/// An opcode: the stable byte that starts an encoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// The opcode of [`Instr::Nop`].
    Nop = 0x00,
    /// The opcode of [`Instr::Jmp`].
    Jmp = 0x01,
    /// The opcode of [`Instr::JmpIf`].
    JmpIf = 0x02,
    /// The opcode of [`Instr::Call`].
    Call = 0x03,
    /// The opcode of [`Instr::Ret`].
    Ret = 0x04,
    /// The opcode of [`Instr::Yield`].
    Yield = 0x05,
    /// The opcode of [`Instr::Halt`].
    Halt = 0x06,
    /// The opcode of [`Instr::Const`].
    Const = 0x10,
    /// The opcode of [`Instr::Mov`].
    Mov = 0x11,
    /// The opcode of [`Instr::Add`].
    Add = 0x12,
    /// The opcode of [`Instr::Sub`].
    Sub = 0x13,
    /// The opcode of [`Instr::Eq`].
    Eq = 0x14,
    /// The opcode of [`Instr::Lt`].
    Lt = 0x15,
    /// The opcode of [`Instr::Open`].
    Open = 0x20,
    /// The opcode of [`Instr::Send`].
    Send = 0x21,
    /// The opcode of [`Instr::Recv`].
    Recv = 0x22,
    /// The opcode of [`Instr::Select`].
    Select = 0x23,
    /// The opcode of [`Instr::Offer`].
    Offer = 0x24,
    /// The opcode of [`Instr::Close`].
    Close = 0x25,
    /// The opcode of [`Instr::RecvTimeout`].
    RecvTimeout = 0x28,
    /// The opcode of [`Instr::Cancel`].
    Cancel = 0x29,
    /// The opcode of [`Instr::Abort`].
    Abort = 0x2A,
    /// The opcode of [`Instr::Invoke`].
    Invoke = 0x30,
    /// The opcode of [`Instr::Spawn`].
    Spawn = 0x31,
    /// The opcode of [`Instr::Produce`].
    Produce = 0x32,
    /// The opcode of [`Instr::Check`].
    Check = 0x33,
    /// The opcode of [`Instr::Consume`].
    Consume = 0x34,
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
    (Opcode::Check, "check", "host"),
    (Opcode::Consume, "consume", "host"),
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
            Instr::Check { .. } => Opcode::Check,
            Instr::Consume { .. } => Opcode::Consume,
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
