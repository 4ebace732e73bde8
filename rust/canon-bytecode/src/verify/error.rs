//! The verifier's error family: [`VerifyError`], its stable 2xxx codes
//! ([`VERIFY_CODES`]) and the [`Site`] every procedure-level error names.

use std::fmt;

use canon_types::{CodeEntry, ErrorCode, GraphError};

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

/// Every verify error code: stable numbers in the 2xxx range, in the order of
/// [`VerifyError`]'s variants.
pub const VERIFY_CODES: &[CodeEntry] = &[
    CodeEntry { code: 2001, name: "DuplicateString", summary: "the string table holds one string twice" },
    CodeEntry { code: 2002, name: "BadTypeGraph", summary: "the local-type table is not well formed" },
    CodeEntry { code: 2003, name: "TypeSymOutOfRange", summary: "a type node names a missing string" },
    CodeEntry { code: 2004, name: "ConstSymOutOfRange", summary: "a str/label constant names a missing string" },
    CodeEntry { code: 2005, name: "EntryOutOfRange", summary: "the entry procedure does not exist" },
    CodeEntry { code: 2006, name: "EntryHasParams", summary: "the entry procedure takes parameters" },
    CodeEntry { code: 2007, name: "RegCountTooSmall", summary: "a frame has fewer registers than parameters" },
    CodeEntry { code: 2008, name: "EmptyCode", summary: "a procedure has no instructions" },
    CodeEntry { code: 2009, name: "FallsOffEnd", summary: "the last instruction can fall through" },
    CodeEntry { code: 2010, name: "RegisterOutOfRange", summary: "a register operand is not below reg_count" },
    CodeEntry { code: 2011, name: "TargetOutOfRange", summary: "a jump, arm or timeout target is outside the code" },
    CodeEntry { code: 2012, name: "SymOutOfRange", summary: "a symbol id is not in the string table" },
    CodeEntry { code: 2013, name: "TypeOutOfRange", summary: "a type id is not in the type table" },
    CodeEntry { code: 2014, name: "ConstOutOfRange", summary: "a constant index is not in the pool" },
    CodeEntry { code: 2015, name: "ProcOutOfRange", summary: "a call or spawn names a missing procedure" },
    CodeEntry { code: 2016, name: "ArgCountMismatch", summary: "a call or spawn passes the wrong number of arguments" },
    CodeEntry { code: 2017, name: "OpenArityMismatch", summary: "an open's roles/types/handlers/dsts lengths differ" },
    CodeEntry { code: 2018, name: "OpenWithoutRoles", summary: "an open has no roles" },
    CodeEntry { code: 2019, name: "DuplicateRole", summary: "an open names one role twice" },
    CodeEntry { code: 2020, name: "DuplicateDst", summary: "an open writes two endpoints to one register" },
    CodeEntry { code: 2021, name: "EdgeRoleOutOfRange", summary: "a buffer edge names a role index the open lacks" },
    CodeEntry { code: 2022, name: "EdgeSelfLoop", summary: "a buffer edge goes from a role to itself" },
    CodeEntry { code: 2023, name: "ZeroCapacity", summary: "a buffer edge has capacity 0" },
    CodeEntry { code: 2024, name: "ResizeBelowCapacity", summary: "a resize buffer's max_capacity is below capacity" },
    CodeEntry { code: 2025, name: "UnknownPeer", summary: "an opened local type talks to a role not in the open" },
    CodeEntry { code: 2026, name: "SelfCommunication", summary: "an opened local type talks to its own role" },
    CodeEntry { code: 2027, name: "DuplicateArmLabel", summary: "two arms of one select/offer have the same label" },
    CodeEntry { code: 2028, name: "ZeroTimeout", summary: "a recv_timeout waits 0 ticks" },
    CodeEntry { code: 2029, name: "NotAnEndpoint", summary: "a session instruction on a register holding a value" },
    CodeEntry { code: 2030, name: "UseAfterMove", summary: "a session instruction on a moved or finished endpoint" },
    CodeEntry { code: 2031, name: "EndpointOverwritten", summary: "an instruction overwrites a live endpoint" },
    CodeEntry { code: 2032, name: "SendWhereRecvExpected", summary: "send/select/produce where the type receives" },
    CodeEntry { code: 2033, name: "RecvWhereSendExpected", summary: "recv/offer where the type sends" },
    CodeEntry { code: 2034, name: "LabelNotOffered", summary: "a label the endpoint's type does not offer" },
    CodeEntry { code: 2035, name: "ActionAfterEnd", summary: "a session action on an endpoint whose type is end" },
    CodeEntry { code: 2036, name: "CloseBeforeEnd", summary: "close on an endpoint whose type is not end" },
    CodeEntry { code: 2037, name: "OfferArmsMismatch", summary: "offer arms differ from the type's label set" },
    CodeEntry { code: 2038, name: "EndpointLeaked", summary: "a procedure ends holding an open endpoint" },
    CodeEntry { code: 2039, name: "InconsistentStateAtJoin", summary: "paths join with different endpoint states" },
    CodeEntry {
        code: 2040,
        name: "EndpointTypeMismatch",
        summary: "an endpoint argument's type is not the parameter's",
    },
    CodeEntry {
        code: 2041,
        name: "WrongPeer",
        summary: "an endpoint argument talks to another peer than the parameter",
    },
    CodeEntry { code: 2042, name: "EndpointToValueParam", summary: "an endpoint passed to a value parameter" },
    CodeEntry { code: 2043, name: "TooComplex", summary: "the module exceeds the verifier's work budget" },
    CodeEntry {
        code: 2044,
        name: "IncoherentOpen",
        summary: "the local types of one open are not coherent (a message one role may send is not received)",
    },
    CodeEntry { code: 2045, name: "TooManyRoles", summary: "an open names more roles than MAX_ROLES_PER_OPEN" },
];

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
        &VERIFY_CODES[self.index()]
    }

    fn index(&self) -> usize {
        use VerifyError as E;
        match self {
            E::DuplicateString { .. } => 0,
            E::BadTypeGraph { .. } => 1,
            E::TypeSymOutOfRange { .. } => 2,
            E::ConstSymOutOfRange { .. } => 3,
            E::EntryOutOfRange { .. } => 4,
            E::EntryHasParams { .. } => 5,
            E::RegCountTooSmall { .. } => 6,
            E::EmptyCode { .. } => 7,
            E::FallsOffEnd { .. } => 8,
            E::RegisterOutOfRange { .. } => 9,
            E::TargetOutOfRange { .. } => 10,
            E::SymOutOfRange { .. } => 11,
            E::TypeOutOfRange { .. } => 12,
            E::ConstOutOfRange { .. } => 13,
            E::ProcOutOfRange { .. } => 14,
            E::ArgCountMismatch { .. } => 15,
            E::OpenArityMismatch { .. } => 16,
            E::OpenWithoutRoles { .. } => 17,
            E::DuplicateRole { .. } => 18,
            E::DuplicateDst { .. } => 19,
            E::EdgeRoleOutOfRange { .. } => 20,
            E::EdgeSelfLoop { .. } => 21,
            E::ZeroCapacity { .. } => 22,
            E::ResizeBelowCapacity { .. } => 23,
            E::UnknownPeer { .. } => 24,
            E::SelfCommunication { .. } => 25,
            E::DuplicateArmLabel { .. } => 26,
            E::ZeroTimeout { .. } => 27,
            E::NotAnEndpoint { .. } => 28,
            E::UseAfterMove { .. } => 29,
            E::EndpointOverwritten { .. } => 30,
            E::SendWhereRecvExpected { .. } => 31,
            E::RecvWhereSendExpected { .. } => 32,
            E::LabelNotOffered { .. } => 33,
            E::ActionAfterEnd { .. } => 34,
            E::CloseBeforeEnd { .. } => 35,
            E::OfferArmsMismatch { .. } => 36,
            E::EndpointLeaked { .. } => 37,
            E::InconsistentStateAtJoin { .. } => 38,
            E::EndpointTypeMismatch { .. } => 39,
            E::WrongPeer { .. } => 40,
            E::EndpointToValueParam { .. } => 41,
            E::TooComplex { .. } => 42,
            E::IncoherentOpen { .. } => 43,
            E::TooManyRoles { .. } => 44,
        }
    }
}

impl ErrorCode for VerifyError {
    fn code(&self) -> u16 {
        self.entry().code
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
