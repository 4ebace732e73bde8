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
    /// The string table holds one string twice.
    #[error("string table: entry {index} duplicates entry {first}")]
    DuplicateString {
        /// The index of the repeated entry.
        index: u32,
        /// The index of its first occurrence.
        first: u32,
    },
    /// The local-type table is not well formed.
    #[error("type table: {source}")]
    BadTypeGraph {
        /// What is wrong with the type table.
        #[source]
        source: GraphError,
    },
    /// A type node names a missing string.
    #[error("type {at}: symbol {sym} out of range ({len} strings)")]
    TypeSymOutOfRange {
        /// The index of the type node in the type table.
        at: u32,
        /// The symbol id (string-table index) used.
        sym: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A str/label constant names a missing string.
    #[error("const {index}: symbol {sym} out of range ({len} strings)")]
    ConstSymOutOfRange {
        /// The index of the constant in the pool.
        index: u32,
        /// The symbol id (string-table index) used.
        sym: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// The entry procedure does not exist.
    #[error("entry procedure {entry} out of range ({procs} procedures)")]
    EntryOutOfRange {
        /// The entry procedure index the module names.
        entry: ProcId,
        /// How many procedures the module has.
        procs: usize,
    },
    /// The entry procedure takes parameters.
    #[error("{at}: the entry procedure takes {params} parameter(s), it must take none")]
    EntryHasParams {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// How many parameters the procedure takes.
        params: usize,
    },
    /// A frame has fewer registers than parameters.
    #[error("{at}: reg_count {reg_count} is smaller than the {params} parameter(s)")]
    RegCountTooSmall {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The procedure's frame size (registers r0 to reg_count-1).
        reg_count: u16,
        /// How many parameters the procedure takes.
        params: usize,
    },
    /// A procedure has no instructions.
    #[error("{at}: the procedure has no code")]
    EmptyCode {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
    },
    /// The last instruction can fall through.
    #[error("{at}: execution can fall off the end (the last instruction must be jmp, ret, halt, select or offer)")]
    FallsOffEnd {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
    },
    /// A register operand is not below reg_count.
    #[error("{at}: register r{reg} out of range (reg_count {reg_count})")]
    RegisterOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The procedure's frame size (registers r0 to reg_count-1).
        reg_count: u16,
    },
    /// A jump, arm or timeout target is outside the code.
    #[error("{at}: jump target {target} out of range ({len} instructions)")]
    TargetOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The instruction index jumped to.
        target: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A symbol id is not in the string table.
    #[error("{at}: symbol {sym} out of range ({len} strings)")]
    SymOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The symbol id (string-table index) used.
        sym: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A type id is not in the type table.
    #[error("{at}: type {ty} out of range ({len} types)")]
    TypeOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The type id used.
        ty: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A constant index is not in the pool.
    #[error("{at}: constant {k} out of range ({len} constants)")]
    ConstOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The constant index used.
        k: u32,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A call or spawn names a missing procedure.
    #[error("{at}: procedure {callee} out of range ({len} procedures)")]
    ProcOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The procedure called or spawned.
        callee: ProcId,
        /// The length of the table or code the index must be below.
        len: usize,
    },
    /// A call or spawn passes the wrong number of arguments.
    #[error("{at}: {found} argument(s) passed to proc {callee}, which takes {expected}")]
    ArgCountMismatch {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The procedure called or spawned.
        callee: ProcId,
        /// How many parameters the callee takes.
        expected: usize,
        /// How many arguments were passed.
        found: usize,
    },
    /// An open's roles/types/handlers/dsts lengths differ.
    #[error("{at}: open has {roles} roles, {types} types, {handlers} handlers and {dsts} destinations")]
    OpenArityMismatch {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// Length of the open's role list.
        roles: usize,
        /// Length of the open's local-type list.
        types: usize,
        /// Length of the open's handler list.
        handlers: usize,
        /// Length of the open's destination-register list.
        dsts: usize,
    },
    /// An open has no roles.
    #[error("{at}: open with no roles")]
    OpenWithoutRoles {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
    },
    /// An open names one role twice.
    #[error("{at}: role `{role}` appears twice in one open")]
    DuplicateRole {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The repeated role name.
        role: String,
    },
    /// An open writes two endpoints to one register.
    #[error("{at}: register r{reg} is the destination of two roles of one open")]
    DuplicateDst {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// A buffer edge names a role index the open lacks.
    #[error("{at}: buffer edge names role index {index}, but the open has {roles} roles")]
    EdgeRoleOutOfRange {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The role index the buffer edge names.
        index: u16,
        /// How many roles the open has.
        roles: usize,
    },
    /// A buffer edge goes from a role to itself.
    #[error("{at}: buffer edge from role index {role} to itself")]
    EdgeSelfLoop {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The role index at both ends of the edge.
        role: u16,
    },
    /// A buffer edge has capacity 0.
    #[error("{at}: buffer edge {from}->{to} has capacity 0")]
    ZeroCapacity {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The sending role's index in the open.
        from: u16,
        /// The receiving role's index in the open.
        to: u16,
    },
    /// A resize buffer's max_capacity is below capacity.
    #[error("{at}: buffer max_capacity {max_capacity} is below its capacity {capacity}")]
    ResizeBelowCapacity {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The most messages a resizing buffer may grow to.
        max_capacity: u32,
        /// The buffer's initial capacity.
        capacity: u32,
    },
    /// An opened local type talks to a role not in the open.
    #[error("{at}: role `{role}`'s local type talks to `{peer}`, which is not a role of this open")]
    UnknownPeer {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The role whose local type is at fault.
        role: String,
        /// The peer its local type names.
        peer: String,
    },
    /// An opened local type talks to its own role.
    #[error("{at}: role `{role}`'s local type talks to itself")]
    SelfCommunication {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The role whose local type talks to itself.
        role: String,
    },
    /// Two arms of one select/offer have the same label.
    #[error("{at}: label `{label}` has two arms")]
    DuplicateArmLabel {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The label of the repeated arm.
        label: String,
    },
    /// A recv_timeout waits 0 ticks.
    #[error("{at}: recv_timeout with timeout_ticks 0")]
    ZeroTimeout {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
    },
    /// A session instruction on a register holding a value.
    #[error("{at}: register r{reg} holds a value, not an endpoint")]
    NotAnEndpoint {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// A session instruction on a moved or finished endpoint.
    #[error("{at}: register r{reg} was moved away or its session ended")]
    UseAfterMove {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// An instruction overwrites a live endpoint.
    #[error("{at}: writing r{reg} would drop the live endpoint it holds")]
    EndpointOverwritten {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// Send/select/produce where the type receives.
    #[error("{at}: r{reg} attempts to send, but its type expects a receive from `{peer}`")]
    SendWhereRecvExpected {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The peer the endpoint's type expects to talk to.
        peer: String,
    },
    /// Recv/offer where the type sends.
    #[error("{at}: r{reg} attempts to receive, but its type expects a send to `{peer}`")]
    RecvWhereSendExpected {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The peer the endpoint's type expects to talk to.
        peer: String,
    },
    /// A label the endpoint's type does not offer.
    #[error("{at}: r{reg}'s type does not offer label `{label}`")]
    LabelNotOffered {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The label the instruction uses.
        label: String,
    },
    /// A label that two arms of a choose among peers send, used by an
    /// instruction that names no receiver (`send`, `produce`, `select`).
    #[error(
        "{at}: r{reg}'s type sends label `{label}` to `{first}` and to `{other}`; name the receiver with select_to first"
    )]
    AmbiguousLabel {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The label the instruction uses.
        label: String,
        /// The first receiver the type sends the label to.
        first: String,
        /// Another receiver the type sends the label to.
        other: String,
    },
    /// A session action on an endpoint whose type is end.
    #[error("{at}: r{reg} attempts a session action, but its type is end")]
    ActionAfterEnd {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// Close on an endpoint whose type is not end.
    #[error("{at}: r{reg} is closed before its type reaches end")]
    CloseBeforeEnd {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// Offer arms differ from the type's label set.
    #[error("{at}: arms of r{reg} do not match its type (missing {missing:?}, not offered {extra:?})")]
    OfferArmsMismatch {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// Labels the type offers that have no arm.
        missing: Vec<String>,
        /// Arm labels the type does not offer.
        extra: Vec<String>,
    },
    /// A procedure ends holding an open endpoint.
    #[error("{at}: r{reg} still holds an open endpoint when the procedure ends")]
    EndpointLeaked {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
    },
    /// Paths join with different endpoint states.
    #[error("{at}: paths join with r{reg} as {first} on one and {second} on another")]
    InconsistentStateAtJoin {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The endpoint's state on one path.
        first: String,
        /// Its state on another path.
        second: String,
    },
    /// An endpoint argument's type is not the parameter's.
    #[error("{at}: argument r{reg} has type {found}, but parameter {param} of proc {callee} expects type {expected}")]
    EndpointTypeMismatch {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The procedure called or spawned.
        callee: ProcId,
        /// The parameter's index.
        param: usize,
        /// The type id the parameter expects.
        expected: u32,
        /// The type id of the argument.
        found: u32,
    },
    /// An endpoint argument talks to another peer than the parameter.
    #[error("{at}: argument r{reg} talks to `{found}`, but parameter {param} of proc {callee} talks to `{expected}`")]
    WrongPeer {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The procedure called or spawned.
        callee: ProcId,
        /// The parameter's index.
        param: usize,
        /// The peer the parameter's type talks to.
        expected: String,
        /// The peer the argument's type talks to.
        found: String,
    },
    /// An endpoint passed to a value parameter.
    #[error("{at}: endpoint r{reg} passed to value parameter {param} of proc {callee}")]
    EndpointToValueParam {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The register operand.
        reg: u16,
        /// The procedure called or spawned.
        callee: ProcId,
        /// The parameter's index.
        param: usize,
    },
    /// The module exceeds the verifier's work budget.
    #[error("{at}: verifying the module reaches {cost} steps here, over the module's limit of {limit}")]
    TooComplex {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// The verification steps spent when the limit was reached.
        cost: u64,
        /// The module's step budget.
        limit: u64,
    },
    /// The local types of one open are not coherent (a message one role may send is not received).
    #[error("{at}: the opened local types are not coherent: {detail}")]
    IncoherentOpen {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// Which message one role may send that no role receives.
        detail: String,
    },
    /// An open names more roles than MAX_ROLES_PER_OPEN.
    #[error("{at}: the open names {roles} roles, over the limit of {limit}")]
    TooManyRoles {
        /// Where: the procedure and, for an instruction-level error, the instruction.
        at: Site,
        /// How many roles the open names.
        roles: usize,
        /// The most roles one open may name (MAX_ROLES_PER_OPEN).
        limit: usize,
    },
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
        AmbiguousLabel = 2046: "a label sent to several receivers, used where no receiver is named",
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
            | E::AmbiguousLabel { at, .. }
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
    use canon_types::ErrorCode;

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
