//! The verifier's error family: [`VerifyError`], its stable 2xxx codes
//! ([`VERIFY_CODES`]) and the [`Site`] every procedure-level error names.

use std::fmt;

use canon_types::{CodeEntry, GraphError};

use crate::module::ProcId;

/// Where in a module an error was found: a procedure (index and name) and,
/// for instruction-level errors, the instruction index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Index of the procedure in `Module::procs`.
    pub proc: ProcId,
    /// The procedure's name from the string table (`<bad-sym>` if out of range).
    pub name: String,
    /// Index of the instruction in the procedure's code, if the error is about one.
    pub instr: Option<u32>,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proc {} ({})", self.proc, self.name)?;
        if let Some(i) = self.instr {
            write!(f, " instr {i}")?;
        }
        Ok(())
    }
}

/// Why a module is not a verifiable program. Every procedure-level variant
/// carries a [`Site`] ([`VerifyError::location`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("string table: entry {index} duplicates entry {first}")]
    DuplicateString { index: u32, first: u32 },
    #[error("type table: {source}")]
    BadTypeGraph {
        #[source]
        source: GraphError,
    },
    #[error("type {at}: symbol {sym} out of range ({len} strings)")]
    TypeSymOutOfRange { at: u32, sym: u32, len: usize },
    #[error("const {index}: symbol {sym} out of range ({len} strings)")]
    ConstSymOutOfRange { index: u32, sym: u32, len: usize },
    #[error("entry procedure {entry} out of range ({procs} procedures)")]
    EntryOutOfRange { entry: ProcId, procs: usize },
    #[error("{at}: the entry procedure takes {params} parameter(s), it must take none")]
    EntryHasParams { at: Site, params: usize },
    #[error("{at}: reg_count {reg_count} is smaller than the {params} parameter(s)")]
    RegCountTooSmall { at: Site, reg_count: u16, params: usize },
    #[error("{at}: the procedure has no code")]
    EmptyCode { at: Site },
    #[error("{at}: execution can fall off the end (the last instruction must be jmp, ret, halt, select or offer)")]
    FallsOffEnd { at: Site },
    #[error("{at}: register r{reg} out of range (reg_count {reg_count})")]
    RegisterOutOfRange { at: Site, reg: u16, reg_count: u16 },
    #[error("{at}: jump target {target} out of range ({len} instructions)")]
    TargetOutOfRange { at: Site, target: u32, len: usize },
    #[error("{at}: symbol {sym} out of range ({len} strings)")]
    SymOutOfRange { at: Site, sym: u32, len: usize },
    #[error("{at}: type {ty} out of range ({len} types)")]
    TypeOutOfRange { at: Site, ty: u32, len: usize },
    #[error("{at}: constant {k} out of range ({len} constants)")]
    ConstOutOfRange { at: Site, k: u32, len: usize },
    #[error("{at}: procedure {callee} out of range ({len} procedures)")]
    ProcOutOfRange { at: Site, callee: ProcId, len: usize },
    #[error("{at}: {found} argument(s) passed to proc {callee}, which takes {expected}")]
    ArgCountMismatch { at: Site, callee: ProcId, expected: usize, found: usize },
    #[error("{at}: open has {roles} roles, {types} types, {handlers} handlers and {dsts} destinations")]
    OpenArityMismatch { at: Site, roles: usize, types: usize, handlers: usize, dsts: usize },
    #[error("{at}: open with no roles")]
    OpenWithoutRoles { at: Site },
    #[error("{at}: role `{role}` appears twice in one open")]
    DuplicateRole { at: Site, role: String },
    #[error("{at}: register r{reg} is the destination of two roles of one open")]
    DuplicateDst { at: Site, reg: u16 },
    #[error("{at}: buffer edge names role index {index}, but the open has {roles} roles")]
    EdgeRoleOutOfRange { at: Site, index: u16, roles: usize },
    #[error("{at}: buffer edge from role index {role} to itself")]
    EdgeSelfLoop { at: Site, role: u16 },
    #[error("{at}: buffer edge {from}->{to} has capacity 0")]
    ZeroCapacity { at: Site, from: u16, to: u16 },
    #[error("{at}: buffer max_capacity {max_capacity} is below its capacity {capacity}")]
    ResizeBelowCapacity { at: Site, max_capacity: u32, capacity: u32 },
    #[error("{at}: role `{role}`'s local type talks to `{peer}`, which is not a role of this open")]
    UnknownPeer { at: Site, role: String, peer: String },
    #[error("{at}: role `{role}`'s local type talks to itself")]
    SelfCommunication { at: Site, role: String },
    #[error("{at}: label `{label}` has two arms")]
    DuplicateArmLabel { at: Site, label: String },
    #[error("{at}: recv_timeout with timeout_ticks 0")]
    ZeroTimeout { at: Site },
    #[error("{at}: register r{reg} holds a value, not an endpoint")]
    NotAnEndpoint { at: Site, reg: u16 },
    #[error("{at}: register r{reg} was moved away or its session ended")]
    UseAfterMove { at: Site, reg: u16 },
    #[error("{at}: writing r{reg} would drop the live endpoint it holds")]
    EndpointOverwritten { at: Site, reg: u16 },
    #[error("{at}: r{reg} attempts to send, but its type expects a receive from `{peer}`")]
    SendWhereRecvExpected { at: Site, reg: u16, peer: String },
    #[error("{at}: r{reg} attempts to receive, but its type expects a send to `{peer}`")]
    RecvWhereSendExpected { at: Site, reg: u16, peer: String },
    #[error("{at}: r{reg}'s type does not offer label `{label}`")]
    LabelNotOffered { at: Site, reg: u16, label: String },
    #[error("{at}: r{reg} attempts a session action, but its type is end")]
    ActionAfterEnd { at: Site, reg: u16 },
    #[error("{at}: r{reg} is closed before its type reaches end")]
    CloseBeforeEnd { at: Site, reg: u16 },
    #[error("{at}: arms of r{reg} do not match its type (missing {missing:?}, not offered {extra:?})")]
    OfferArmsMismatch { at: Site, reg: u16, missing: Vec<String>, extra: Vec<String> },
    #[error("{at}: r{reg} still holds an open endpoint when the procedure ends")]
    EndpointLeaked { at: Site, reg: u16 },
    #[error("{at}: paths join with r{reg} as {first} on one and {second} on another")]
    InconsistentStateAtJoin { at: Site, reg: u16, first: String, second: String },
    #[error("{at}: argument r{reg} has type {found}, but parameter {param} of proc {callee} expects type {expected}")]
    EndpointTypeMismatch { at: Site, reg: u16, callee: ProcId, param: usize, expected: u32, found: u32 },
    #[error("{at}: argument r{reg} talks to `{found}`, but parameter {param} of proc {callee} talks to `{expected}`")]
    WrongPeer { at: Site, reg: u16, callee: ProcId, param: usize, expected: String, found: String },
    #[error("{at}: endpoint r{reg} passed to value parameter {param} of proc {callee}")]
    EndpointToValueParam { at: Site, reg: u16, callee: ProcId, param: usize },
    #[error("{at}: verifying the module reaches {cost} steps here, over the module's limit of {limit}")]
    TooComplex { at: Site, cost: u64, limit: u64 },
    #[error("{at}: the opened local types are not coherent: {detail}")]
    IncoherentOpen { at: Site, detail: String },
    #[error("{at}: the open names {roles} roles, over the limit of {limit}")]
    TooManyRoles { at: Site, roles: usize, limit: usize },
}

canon_types::error_codes! {
    /// Every verify error code: stable numbers in the 2xxx range, in the order of
    /// [`VerifyError`]'s variants.
    pub VERIFY_CODES for VerifyError {
        DuplicateString = 2001: "the string table holds one string twice",
        BadTypeGraph = 2002: "the local-type table is not well formed",
        TypeSymOutOfRange = 2003: "a type node names a missing string",
        ConstSymOutOfRange = 2004: "a str/label constant names a missing string",
        EntryOutOfRange = 2005: "the entry procedure does not exist",
        EntryHasParams = 2006: "the entry procedure takes parameters",
        RegCountTooSmall = 2007: "a frame has fewer registers than parameters",
        EmptyCode = 2008: "a procedure has no instructions",
        FallsOffEnd = 2009: "the last instruction can fall through",
        RegisterOutOfRange = 2010: "a register operand is not below reg_count",
        TargetOutOfRange = 2011: "a jump, arm or timeout target is outside the code",
        SymOutOfRange = 2012: "a symbol id is not in the string table",
        TypeOutOfRange = 2013: "a type id is not in the type table",
        ConstOutOfRange = 2014: "a constant index is not in the pool",
        ProcOutOfRange = 2015: "a call or spawn names a missing procedure",
        ArgCountMismatch = 2016: "a call or spawn passes the wrong number of arguments",
        OpenArityMismatch = 2017: "an open's roles/types/handlers/dsts lengths differ",
        OpenWithoutRoles = 2018: "an open has no roles",
        DuplicateRole = 2019: "an open names one role twice",
        DuplicateDst = 2020: "an open writes two endpoints to one register",
        EdgeRoleOutOfRange = 2021: "a buffer edge names a role index the open lacks",
        EdgeSelfLoop = 2022: "a buffer edge goes from a role to itself",
        ZeroCapacity = 2023: "a buffer edge has capacity 0",
        ResizeBelowCapacity = 2024: "a resize buffer's max_capacity is below capacity",
        UnknownPeer = 2025: "an opened local type talks to a role not in the open",
        SelfCommunication = 2026: "an opened local type talks to its own role",
        DuplicateArmLabel = 2027: "two arms of one select/offer have the same label",
        ZeroTimeout = 2028: "a recv_timeout waits 0 ticks",
        NotAnEndpoint = 2029: "a session instruction on a register holding a value",
        UseAfterMove = 2030: "a session instruction on a moved or finished endpoint",
        EndpointOverwritten = 2031: "an instruction overwrites a live endpoint",
        SendWhereRecvExpected = 2032: "send/select/produce where the type receives",
        RecvWhereSendExpected = 2033: "recv/offer where the type sends",
        LabelNotOffered = 2034: "a label the endpoint's type does not offer",
        ActionAfterEnd = 2035: "a session action on an endpoint whose type is end",
        CloseBeforeEnd = 2036: "close on an endpoint whose type is not end",
        OfferArmsMismatch = 2037: "offer arms differ from the type's label set",
        EndpointLeaked = 2038: "a procedure ends holding an open endpoint",
        InconsistentStateAtJoin = 2039: "paths join with different endpoint states",
        EndpointTypeMismatch = 2040: "an endpoint argument's type is not the parameter's",
        WrongPeer = 2041: "an endpoint argument talks to another peer than the parameter",
        EndpointToValueParam = 2042: "an endpoint passed to a value parameter",
        TooComplex = 2043: "the module exceeds the verifier's work budget",
        IncoherentOpen = 2044: "the local types of one open are not coherent (a message one role may send is not received)",
        TooManyRoles = 2045: "an open names more roles than MAX_ROLES_PER_OPEN",
    }
}

impl VerifyError {
    /// The procedure and instruction the error is about; `None` for
    /// module-level errors (string, type and constant tables, entry index).
    pub fn location(&self) -> Option<&Site> {
        use VerifyError as E;
        match self {
            E::DuplicateString { .. } | E::BadTypeGraph { .. } | E::TypeSymOutOfRange { .. } => None,
            E::ConstSymOutOfRange { .. } => None,
            E::EntryOutOfRange { .. } => None,
            E::EntryHasParams { at, .. }
            | E::RegCountTooSmall { at, .. }
            | E::EmptyCode { at }
            | E::FallsOffEnd { at }
            | E::RegisterOutOfRange { at, .. }
            | E::TargetOutOfRange { at, .. }
            | E::SymOutOfRange { at, .. }
            | E::TypeOutOfRange { at, .. }
            | E::ConstOutOfRange { at, .. }
            | E::ProcOutOfRange { at, .. }
            | E::ArgCountMismatch { at, .. }
            | E::OpenArityMismatch { at, .. }
            | E::OpenWithoutRoles { at }
            | E::DuplicateRole { at, .. }
            | E::DuplicateDst { at, .. }
            | E::TooManyRoles { at, .. }
            | E::EdgeRoleOutOfRange { at, .. }
            | E::EdgeSelfLoop { at, .. }
            | E::ZeroCapacity { at, .. }
            | E::ResizeBelowCapacity { at, .. }
            | E::UnknownPeer { at, .. }
            | E::SelfCommunication { at, .. }
            | E::DuplicateArmLabel { at, .. }
            | E::ZeroTimeout { at }
            | E::NotAnEndpoint { at, .. }
            | E::UseAfterMove { at, .. }
            | E::EndpointOverwritten { at, .. }
            | E::SendWhereRecvExpected { at, .. }
            | E::RecvWhereSendExpected { at, .. }
            | E::LabelNotOffered { at, .. }
            | E::ActionAfterEnd { at, .. }
            | E::CloseBeforeEnd { at, .. }
            | E::OfferArmsMismatch { at, .. }
            | E::EndpointLeaked { at, .. }
            | E::InconsistentStateAtJoin { at, .. }
            | E::EndpointTypeMismatch { at, .. }
            | E::WrongPeer { at, .. }
            | E::EndpointToValueParam { at, .. }
            | E::TooComplex { at, .. }
            | E::IncoherentOpen { at, .. } => Some(at),
        }
    }

    /// This error's row of [`VERIFY_CODES`].
    pub fn entry(&self) -> &'static CodeEntry {
        self.code_entry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_contiguous_from_2001_with_unique_names() {
        for (i, e) in VERIFY_CODES.iter().enumerate() {
            assert_eq!(e.code, 2001 + i as u16, "{}", e.name);
            assert!(VERIFY_CODES[..i].iter().all(|o| o.name != e.name), "duplicate name {}", e.name);
        }
    }

    #[test]
    fn site_display_names_proc_and_instr() {
        let at = Site { proc: 2, name: "role_a".into(), instr: Some(5) };
        let e = VerifyError::RegisterOutOfRange { at, reg: 9, reg_count: 4 };
        assert_eq!(e.to_string(), "proc 2 (role_a) instr 5: register r9 out of range (reg_count 4)");
        assert_eq!(e.code(), 2010);
        assert_eq!(e.location().and_then(|s| s.instr), Some(5));
        let proc_level = VerifyError::EmptyCode { at: Site { proc: 0, name: "main".into(), instr: None } };
        assert_eq!(proc_level.to_string(), "proc 0 (main): the procedure has no code");
    }
}
