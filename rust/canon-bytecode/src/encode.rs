//! The binary encoder: [`Module`] → `.cbc` bytes, and the module digest.
//!
//! The layout is specified byte by byte in `bytecode-spec/format.md`; this
//! file and [`mod@crate::decode`] are its only implementations. The encoding is
//! canonical: [`crate::decode()`] accepts exactly the byte strings this encoder
//! produces, so `encode(decode(b)) == b` for every accepted `b`.

use canon_types::{FlatBranch, TypeGraph, TypeNode};
use sha2::{Digest, Sha256};

use crate::debug::DebugInfo;
use crate::instr::{Arm, EdgeBuffer, Instr, Reg};
use crate::module::{Backpressure, BufferMode, Const, FORMAT_VERSION, MAGIC, Module, Param, Proc};

/// Length in bytes of the fixed header: magic (4), version (2), flags (2).
pub const HEADER_LEN: usize = 8;

/// The tag bytes of the format, shared by the encoder and the decoder.
pub mod tag {
    /// Section ids, in the one order sections appear.
    pub mod section {
        /// The string table.
        pub const STRINGS: u8 = 1;
        /// The local-type table.
        pub const TYPES: u8 = 2;
        /// The constant pool.
        pub const CONSTS: u8 = 3;
        /// The procedures.
        pub const PROCS: u8 = 4;
        /// The entry procedure index.
        pub const ENTRY: u8 = 5;
        /// The optional debug section (source map), after the entry.
        pub const DEBUG: u8 = 6;
    }

    /// Local-type node tags.
    pub mod ty {
        /// The tag of [`canon_types::TypeNode::End`].
        pub const END: u8 = 0;
        /// The tag of [`canon_types::TypeNode::Send`].
        pub const SEND: u8 = 1;
        /// The tag of [`canon_types::TypeNode::Recv`].
        pub const RECV: u8 = 2;
        /// The tag of [`canon_types::TypeNode::Mu`].
        pub const MU: u8 = 3;
        /// The tag of [`canon_types::TypeNode::Var`].
        pub const VAR: u8 = 4;
        /// The tag of [`canon_types::TypeNode::Choose`].
        pub const CHOOSE: u8 = 5;
    }

    /// Constant-pool tags: the value tags of `canon_types::value::tag` for the
    /// kinds a constant can have.
    pub mod konst {
        use canon_types::value::tag;

        /// The tag of [`crate::module::Const::Unit`].
        pub const UNIT: u8 = tag::UNIT;
        /// The tag of [`crate::module::Const::Bool`].
        pub const BOOL: u8 = tag::BOOL;
        /// The tag of [`crate::module::Const::Int`].
        pub const INT: u8 = tag::INT;
        /// The tag of [`crate::module::Const::Bytes`].
        pub const BYTES: u8 = tag::BYTES;
        /// The tag of [`crate::module::Const::Str`].
        pub const STR: u8 = tag::STR;
        /// The tag of [`crate::module::Const::Label`].
        pub const LABEL: u8 = tag::LABEL;
    }

    /// Procedure parameter tags.
    pub mod param {
        /// The tag of [`crate::module::Param::Value`].
        pub const VALUE: u8 = 0;
        /// The tag of [`crate::module::Param::Endpoint`].
        pub const ENDPOINT: u8 = 1;
    }

    /// Buffer mode tags.
    pub mod mode {
        /// The tag of [`crate::module::BufferMode::Fifo`].
        pub const FIFO: u8 = 0;
        /// The tag of [`crate::module::BufferMode::LatestValue`].
        pub const LATEST_VALUE: u8 = 1;
    }

    /// Backpressure policy tags.
    pub mod policy {
        /// The tag of [`crate::module::Backpressure::Block`].
        pub const BLOCK: u8 = 0;
        /// The tag of [`crate::module::Backpressure::Drop`].
        pub const DROP: u8 = 1;
        /// The tag of [`crate::module::Backpressure::Error`].
        pub const ERROR: u8 = 2;
        /// The tag of [`crate::module::Backpressure::Resize`].
        pub const RESIZE: u8 = 3;
    }
}

/// Encodes `m` in the canonical binary format (`bytecode-spec/format.md`).
///
/// The encoding is total for every module that fits in memory. The one limit
/// is the format's: a single list, string, byte constant or section longer
/// than `u32::MAX` entries (bytes) has no encoding, and encoding it panics.
pub fn encode(m: &Module) -> Vec<u8> {
    let mut w = encode_program(m);
    if let Some(debug) = &m.debug {
        w.section(tag::section::DEBUG, |w| debug_section(w, debug));
    }
    w.0
}

/// The header and the five program sections: everything but the debug section.
fn encode_program(m: &Module) -> Writer {
    let mut w = Writer(Vec::with_capacity(256));
    w.0.extend_from_slice(&MAGIC);
    w.u16(FORMAT_VERSION);
    w.u16(0);
    w.section(tag::section::STRINGS, |w| w.list(&m.strings, |w, s| w.bytes(s.as_bytes())));
    w.section(tag::section::TYPES, |w| types(w, &m.types));
    w.section(tag::section::CONSTS, |w| w.list(&m.consts, konst));
    w.section(tag::section::PROCS, |w| w.list(&m.procs, proc));
    w.section(tag::section::ENTRY, |w| w.u32(m.entry));
    w
}

impl Module {
    /// SHA-256 of the module's canonical encoding ([`encode`]) without its
    /// debug section: the program digest that replays record. A source map
    /// changes no behaviour, so it does not change the digest.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(encode_program(self).0).into()
    }
}

/// Section 6: `files list<string>`, `spans list<span>`, `procs list<list<u32>>`.
fn debug_section(w: &mut Writer, d: &DebugInfo) {
    w.list(&d.files, |w, f| w.bytes(f.as_bytes()));
    w.list(&d.spans, |w, s| {
        w.u32(s.file);
        w.u32(s.line);
        w.u32(s.col);
        w.bytes(s.statement.as_bytes());
    });
    w.list(&d.procs, |w, p| w.list(p, |w, i| w.u32(*i)));
}

/// An output buffer with the format's fixed-width little-endian writers.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn len_u32(&mut self, len: usize) {
        let len = u32::try_from(len).expect("format limit: a list or string has at most u32::MAX entries");
        self.u32(len);
    }

    /// A length-prefixed byte string: `len u32, bytes`.
    fn bytes(&mut self, b: &[u8]) {
        self.len_u32(b.len());
        self.0.extend_from_slice(b);
    }

    /// A counted list: `count u32, items`.
    fn list<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) {
        self.len_u32(items.len());
        for it in items {
            item(self, it);
        }
    }

    fn regs(&mut self, regs: &[Reg]) {
        self.list(regs, |w, r| w.u16(*r));
    }

    /// `id u8, body_len u32, body`.
    fn section(&mut self, id: u8, body: impl FnOnce(&mut Writer)) {
        self.u8(id);
        let len_at = self.0.len();
        self.u32(0);
        body(self);
        let body_len = self.0.len() - len_at - 4;
        let body_len = u32::try_from(body_len).expect("format limit: a section has at most u32::MAX bytes");
        self.0[len_at..len_at + 4].copy_from_slice(&body_len.to_le_bytes());
    }
}

fn types(w: &mut Writer, graph: &TypeGraph) {
    w.list(&graph.nodes, |w, node| match node {
        TypeNode::End => w.u8(tag::ty::END),
        TypeNode::Send { peer, branches } => choice(w, tag::ty::SEND, peer.0, branches),
        TypeNode::Recv { peer, branches } => choice(w, tag::ty::RECV, peer.0, branches),
        TypeNode::Mu { var, body } => {
            w.u8(tag::ty::MU);
            w.u32(var.0);
            w.u32(body.0);
        }
        TypeNode::Var { mu } => {
            w.u8(tag::ty::VAR);
            w.u32(mu.0);
        }
        TypeNode::Choose { arms } => {
            w.u8(tag::ty::CHOOSE);
            w.list(arms, |w, a| w.u32(a.0));
        }
    });
}

fn choice(w: &mut Writer, node_tag: u8, peer: u32, branches: &[FlatBranch]) {
    w.u8(node_tag);
    w.u32(peer);
    w.list(branches, |w, b| {
        w.u32(b.label.0);
        w.list(&b.payload, |w, p| w.u32(p.0));
        w.u32(b.cont.0);
    });
}

fn konst(w: &mut Writer, c: &Const) {
    match c {
        Const::Unit => w.u8(tag::konst::UNIT),
        Const::Bool(b) => {
            w.u8(tag::konst::BOOL);
            w.u8(u8::from(*b));
        }
        Const::Int(i) => {
            w.u8(tag::konst::INT);
            w.0.extend_from_slice(&i.to_le_bytes());
        }
        Const::Bytes(b) => {
            w.u8(tag::konst::BYTES);
            w.bytes(b);
        }
        Const::Str(s) => {
            w.u8(tag::konst::STR);
            w.u32(s.0);
        }
        Const::Label(l) => {
            w.u8(tag::konst::LABEL);
            w.u32(l.0);
        }
    }
}

fn proc(w: &mut Writer, p: &Proc) {
    w.u32(p.name.0);
    w.list(&p.params, |w, param| match param {
        Param::Value => w.u8(tag::param::VALUE),
        Param::Endpoint(ty) => {
            w.u8(tag::param::ENDPOINT);
            w.u32(ty.0);
        }
    });
    w.u16(p.reg_count);
    w.list(&p.code, instr);
}

fn arms(w: &mut Writer, arms: &[Arm]) {
    w.list(arms, |w, a| {
        w.u32(a.label.0);
        w.u32(a.target);
    });
}

fn edge_buffer(w: &mut Writer, e: &EdgeBuffer) {
    w.u16(e.from);
    w.u16(e.to);
    w.u8(match e.config.mode {
        BufferMode::Fifo => tag::mode::FIFO,
        BufferMode::LatestValue => tag::mode::LATEST_VALUE,
    });
    let (policy, max_capacity) = match e.config.policy {
        Backpressure::Block => (tag::policy::BLOCK, 0),
        Backpressure::Drop => (tag::policy::DROP, 0),
        Backpressure::Error => (tag::policy::ERROR, 0),
        Backpressure::Resize { max_capacity } => (tag::policy::RESIZE, max_capacity),
    };
    w.u8(policy);
    w.u32(e.config.capacity);
    w.u32(max_capacity);
}

/// `opcode u8`, then the operands in declaration order.
fn instr(w: &mut Writer, i: &Instr) {
    w.u8(i.opcode() as u8);
    match i {
        Instr::Nop | Instr::Ret | Instr::Yield | Instr::Halt => {}
        Instr::Jmp { target } => w.u32(*target),
        Instr::JmpIf { cond, target } => {
            w.u16(*cond);
            w.u32(*target);
        }
        Instr::Call { proc, args } | Instr::Spawn { proc, args } => {
            w.u32(*proc);
            w.regs(args);
        }
        Instr::Const { dst, k } => {
            w.u16(*dst);
            w.u32(*k);
        }
        Instr::Mov { dst, src } => {
            w.u16(*dst);
            w.u16(*src);
        }
        Instr::Add { dst, a, b } | Instr::Sub { dst, a, b } | Instr::Eq { dst, a, b } | Instr::Lt { dst, a, b } => {
            w.u16(*dst);
            w.u16(*a);
            w.u16(*b);
        }
        Instr::Open { roles, types, handlers, dsts, buffers } => {
            w.list(roles, |w, s| w.u32(s.0));
            w.list(types, |w, t| w.u32(t.0));
            w.list(handlers, |w, s| w.u32(s.0));
            w.regs(dsts);
            w.list(buffers, edge_buffer);
        }
        Instr::Send { ep, label, src: reg } | Instr::Recv { ep, label, dst: reg } => {
            w.u16(*ep);
            w.u32(label.0);
            w.u16(*reg);
        }
        Instr::Select { ep, arms: a } => {
            w.u16(*ep);
            arms(w, a);
        }
        Instr::Offer { ep, dst, arms: a } => {
            w.u16(*ep);
            w.u16(*dst);
            arms(w, a);
        }
        Instr::Close { ep } | Instr::Cancel { ep } | Instr::Abort { ep } => w.u16(*ep),
        Instr::RecvTimeout { ep, dst, arms: a, timeout_ticks, on_timeout } => {
            w.u16(*ep);
            w.u16(*dst);
            arms(w, a);
            w.u32(*timeout_ticks);
            w.u32(*on_timeout);
        }
        Instr::Invoke { dst, effect, arg } => {
            w.u16(*dst);
            w.u32(effect.0);
            w.u16(*arg);
        }
        Instr::Produce { dst, ep, label } => {
            w.u16(*dst);
            w.u16(*ep);
            w.u32(label.0);
        }
        Instr::Check { dst, ep, effect, arg } => {
            w.u16(*dst);
            w.u16(*ep);
            w.u32(effect.0);
            w.u16(*arg);
        }
        Instr::Consume { ep, witness } => {
            w.u16(*ep);
            w.u16(*witness);
        }
    }
}
