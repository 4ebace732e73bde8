//! Stable numeric error codes, by range:
//!
//! | range | family |
//! |---|---|
//! | 1xxx | bytecode decode (`canon_bytecode::DecodeError`) |
//! | 2xxx | bytecode verify (`canon_bytecode::VerifyError`) |
//! | 3xxx | runtime faults (`canon_machine::Fault`) |
//! | 4xxx | ownership and authority |
//! | 5xxx | replay artifacts (`canon_replay::ReplayError`) |
//! | 6xxx | choreography diagnostics (`canon_choreo`) |
//!
//! A code, once published, never changes meaning. Every family lists its codes
//! in a `CODES` table; a snapshot test pins the union of all tables.

/// One row of a family's code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The stable number.
    pub code: u16,
    /// The variant name, e.g. `"UnknownOpcode"`.
    pub name: &'static str,
    /// One line saying what it means.
    pub summary: &'static str,
}

/// Implemented by every error family that carries a stable code.
pub trait ErrorCode {
    /// The stable numeric code of this error value.
    fn code(&self) -> u16;
}
