//! Runtime faults (3xxx): what a coroutine did wrong, naming the endpoint and,
//! for protocol mismatches, the action the local type expected and the one
//! attempted. Codes are stable; [`FAULT_CODES`] lists every one.

use canon_types::{CodeEntry, Endpoint, ErrorCode, SymId, ValueKind};

/// A session operation, as named in faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Send,
    Recv,
    Select,
    Offer,
    RecvTimeout,
    Produce,
    Close,
}

/// What an endpoint's local type expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A send (or select) to `peer`.
    Send { peer: SymId },
    /// A receive (or offer) from `peer`.
    Recv { peer: SymId },
    /// Nothing but `close`.
    End,
}

/// A runtime fault. Every variant has a stable code (see [`FAULT_CODES`]).
/// Its message (`Display`, and [`Fault::describe`] with names from the
/// program) is in `fault_message.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    NotAnEndpoint {
        reg: u16,
        found: ValueKind,
    },
    NotOwner {
        ep: Endpoint,
        owner: u32,
        coroutine: u32,
    },
    UnknownSession {
        sid: u64,
    },
    SessionClosed {
        ep: Endpoint,
    },
    SendWhereRecvExpected {
        ep: Endpoint,
        label: SymId,
        peer: SymId,
    },
    RecvWhereSendExpected {
        ep: Endpoint,
        attempted: Op,
        peer: SymId,
    },
    LabelNotOffered {
        ep: Endpoint,
        label: SymId,
        expected: Expected,
    },
    ActionAfterEnd {
        ep: Endpoint,
        attempted: Op,
    },
    CloseBeforeEnd {
        ep: Endpoint,
        expected: Expected,
    },
    UnexpectedLabel {
        ep: Endpoint,
        label: SymId,
        attempted: Op,
    },
    PayloadKindMismatch {
        ep: Endpoint,
        label: SymId,
        expected: SymId,
        found: ValueKind,
    },
    PayloadArityMismatch {
        ep: Endpoint,
        label: SymId,
        expected: u32,
        found: u32,
    },
    PayloadTooLarge {
        ep: Endpoint,
        len_bytes: u64,
        max_bytes: u32,
    },
    BufferFull {
        ep: Endpoint,
        to: u16,
        capacity: u32,
    },
    HostRejected {
        ep: Endpoint,
        label: SymId,
    },
    BadChoice {
        ep: Endpoint,
        index: u64,
        arms: u32,
    },
    ArithmeticTypeError {
        op: &'static str,
        a: ValueKind,
        b: ValueKind,
    },
    CallDepthExceeded {
        depth: u32,
    },
    TooManySessions {
        max: u32,
    },
    TooManyCoroutines {
        max: u32,
    },
    DuplicateRole {
        role: SymId,
    },
    MissingHandler {
        role: SymId,
    },
    OpenArity {
        roles: u32,
        types: u32,
        dsts: u32,
    },
    BadEdgeBuffer {
        from: u16,
        to: u16,
    },
    UnknownPeer {
        ep: Endpoint,
        peer: SymId,
    },
    EndpointClosed {
        ep: Endpoint,
    },
    BadOperand {
        what: &'static str,
    },
    BadSignature {
        ep: Endpoint,
        from: u16,
        seq: u64,
    },
    ReplayedSequence {
        ep: Endpoint,
        from: u16,
        expected: u64,
        found: u64,
    },
    SequenceGap {
        ep: Endpoint,
        from: u16,
        expected: u64,
        found: u64,
    },
    NullifierReused {
        ep: Endpoint,
        from: u16,
        seq: u64,
    },
    NullifierSetFull {
        ep: Endpoint,
        max: u32,
    },
    HostEndpoint {
        forged: Endpoint,
    },
    ForgedEndpoint {
        ep: Endpoint,
        forged: Endpoint,
    },
    LateEffect {
        ep: Endpoint,
        effect: SymId,
    },
    TooManyRoles {
        roles: u32,
        max: u32,
    },
    /// `open` under `Auth::Ed25519` found no signing key for a role: no key
    /// seed and no host-supplied key (keys never derive from the seed).
    NoEndpointKey {
        role: u16,
    },
}

/// Every fault code, in code order. Pinned by a snapshot test.
pub const FAULT_CODES: &[CodeEntry] = &[
    CodeEntry { code: 3001, name: "NotAnEndpoint", summary: "a session operand register does not hold an endpoint" },
    CodeEntry { code: 3002, name: "NotOwner", summary: "the endpoint is owned by another coroutine" },
    CodeEntry { code: 3003, name: "UnknownSession", summary: "the endpoint names no session of this group" },
    CodeEntry { code: 3004, name: "SessionClosed", summary: "operation on a closed session" },
    CodeEntry { code: 3005, name: "SendWhereRecvExpected", summary: "send where the local type expects a receive" },
    CodeEntry { code: 3006, name: "RecvWhereSendExpected", summary: "receive where the local type expects a send" },
    CodeEntry { code: 3007, name: "LabelNotOffered", summary: "the label is not one the local type offers" },
    CodeEntry { code: 3008, name: "ActionAfterEnd", summary: "communication after the local type reached end" },
    CodeEntry { code: 3009, name: "CloseBeforeEnd", summary: "close while the local type is not end" },
    CodeEntry { code: 3010, name: "UnexpectedLabel", summary: "an arrived message's label has no arm" },
    CodeEntry { code: 3011, name: "PayloadKindMismatch", summary: "payload value kind differs from its type name" },
    CodeEntry { code: 3012, name: "PayloadArityMismatch", summary: "payload item count differs from the type" },
    CodeEntry { code: 3013, name: "PayloadTooLarge", summary: "payload encoding exceeds max_payload_bytes" },
    CodeEntry { code: 3014, name: "BufferFull", summary: "buffer full under the Error or exhausted Resize policy" },
    CodeEntry { code: 3015, name: "HostRejected", summary: "the host refused a delivered message" },
    CodeEntry { code: 3016, name: "BadChoice", summary: "the host chose an arm index out of range" },
    CodeEntry { code: 3017, name: "ArithmeticTypeError", summary: "integer operation on a non-integer" },
    CodeEntry { code: 3018, name: "CallDepthExceeded", summary: "call stack deeper than max_call_depth" },
    CodeEntry { code: 3019, name: "TooManySessions", summary: "open beyond max_sessions live sessions" },
    CodeEntry { code: 3020, name: "TooManyCoroutines", summary: "spawn beyond max_coroutines" },
    CodeEntry { code: 3021, name: "DuplicateRole", summary: "open names a role twice" },
    CodeEntry { code: 3022, name: "MissingHandler", summary: "open leaves a role without a handler" },
    CodeEntry { code: 3023, name: "OpenArity", summary: "open's roles, types and destinations differ in length" },
    CodeEntry { code: 3024, name: "BadEdgeBuffer", summary: "open's buffer override names a role out of range" },
    CodeEntry { code: 3025, name: "UnknownPeer", summary: "the local type names a peer outside the session" },
    CodeEntry { code: 3026, name: "EndpointClosed", summary: "operation on an endpoint already closed" },
    CodeEntry { code: 3027, name: "BadOperand", summary: "malformed operand in an unverified program" },
    CodeEntry {
        code: 3028,
        name: "BadSignature",
        summary: "a received message's signature is missing or does not verify",
    },
    CodeEntry { code: 3029, name: "ReplayedSequence", summary: "sequence mode: a message seq below the next expected" },
    CodeEntry { code: 3030, name: "SequenceGap", summary: "sequence mode: a message seq above the next expected" },
    CodeEntry { code: 3031, name: "NullifierReused", summary: "nullifier mode: a message identity consumed before" },
    CodeEntry { code: 3032, name: "NullifierSetFull", summary: "nullifier mode: max_nullifiers_per_session reached" },
    CodeEntry { code: 3033, name: "HostEndpoint", summary: "a host answer contains an endpoint value" },
    CodeEntry {
        code: 3034,
        name: "ForgedEndpoint",
        summary: "a received payload carries an endpoint that was not delegated to it",
    },
    CodeEntry {
        code: 3035,
        name: "LateEffect",
        summary: "invoke by a coroutine whose session was cancelled or faulted",
    },
    CodeEntry { code: 3036, name: "TooManyRoles", summary: "open names more roles than max_roles_per_open" },
    CodeEntry {
        code: 3037,
        name: "NoEndpointKey",
        summary: "open under ed25519 with no key seed or host-supplied key for a role",
    },
];

impl ErrorCode for Fault {
    fn code(&self) -> u16 {
        match self {
            Fault::NotAnEndpoint { .. } => 3001,
            Fault::NotOwner { .. } => 3002,
            Fault::UnknownSession { .. } => 3003,
            Fault::SessionClosed { .. } => 3004,
            Fault::SendWhereRecvExpected { .. } => 3005,
            Fault::RecvWhereSendExpected { .. } => 3006,
            Fault::LabelNotOffered { .. } => 3007,
            Fault::ActionAfterEnd { .. } => 3008,
            Fault::CloseBeforeEnd { .. } => 3009,
            Fault::UnexpectedLabel { .. } => 3010,
            Fault::PayloadKindMismatch { .. } => 3011,
            Fault::PayloadArityMismatch { .. } => 3012,
            Fault::PayloadTooLarge { .. } => 3013,
            Fault::BufferFull { .. } => 3014,
            Fault::HostRejected { .. } => 3015,
            Fault::BadChoice { .. } => 3016,
            Fault::ArithmeticTypeError { .. } => 3017,
            Fault::CallDepthExceeded { .. } => 3018,
            Fault::TooManySessions { .. } => 3019,
            Fault::TooManyCoroutines { .. } => 3020,
            Fault::DuplicateRole { .. } => 3021,
            Fault::MissingHandler { .. } => 3022,
            Fault::OpenArity { .. } => 3023,
            Fault::BadEdgeBuffer { .. } => 3024,
            Fault::UnknownPeer { .. } => 3025,
            Fault::EndpointClosed { .. } => 3026,
            Fault::BadOperand { .. } => 3027,
            Fault::BadSignature { .. } => 3028,
            Fault::ReplayedSequence { .. } => 3029,
            Fault::SequenceGap { .. } => 3030,
            Fault::NullifierReused { .. } => 3031,
            Fault::NullifierSetFull { .. } => 3032,
            Fault::HostEndpoint { .. } => 3033,
            Fault::ForgedEndpoint { .. } => 3034,
            Fault::LateEffect { .. } => 3035,
            Fault::TooManyRoles { .. } => 3036,
            Fault::NoEndpointKey { .. } => 3037,
        }
    }
}

impl Fault {
    /// Whether the fault moves its endpoint's session to `Faulted`. Using a
    /// session one does not own, or one already closed, fails closed: a
    /// typed fault for the coroutine and no change to the session.
    pub fn faults_session(&self) -> bool {
        self.endpoint().is_some() && !matches!(self, Fault::NotOwner { .. } | Fault::SessionClosed { .. })
    }

    /// The endpoint the fault concerns, if any.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match *self {
            Fault::NotOwner { ep, .. }
            | Fault::SessionClosed { ep }
            | Fault::SendWhereRecvExpected { ep, .. }
            | Fault::RecvWhereSendExpected { ep, .. }
            | Fault::LabelNotOffered { ep, .. }
            | Fault::ActionAfterEnd { ep, .. }
            | Fault::CloseBeforeEnd { ep, .. }
            | Fault::UnexpectedLabel { ep, .. }
            | Fault::PayloadKindMismatch { ep, .. }
            | Fault::PayloadArityMismatch { ep, .. }
            | Fault::PayloadTooLarge { ep, .. }
            | Fault::BufferFull { ep, .. }
            | Fault::HostRejected { ep, .. }
            | Fault::BadChoice { ep, .. }
            | Fault::UnknownPeer { ep, .. }
            | Fault::EndpointClosed { ep }
            | Fault::BadSignature { ep, .. }
            | Fault::ReplayedSequence { ep, .. }
            | Fault::SequenceGap { ep, .. }
            | Fault::NullifierReused { ep, .. }
            | Fault::NullifierSetFull { ep, .. }
            | Fault::ForgedEndpoint { ep, .. }
            | Fault::LateEffect { ep, .. } => Some(ep),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<Fault> {
        let ep = Endpoint { sid: 0, role: 0 };
        let (s, k) = (SymId(0), ValueKind::Int);
        vec![
            Fault::NotAnEndpoint { reg: 0, found: k },
            Fault::NotOwner { ep, owner: 0, coroutine: 1 },
            Fault::UnknownSession { sid: 0 },
            Fault::SessionClosed { ep },
            Fault::SendWhereRecvExpected { ep, label: s, peer: s },
            Fault::RecvWhereSendExpected { ep, attempted: Op::Recv, peer: s },
            Fault::LabelNotOffered { ep, label: s, expected: Expected::End },
            Fault::ActionAfterEnd { ep, attempted: Op::Send },
            Fault::CloseBeforeEnd { ep, expected: Expected::End },
            Fault::UnexpectedLabel { ep, label: s, attempted: Op::Offer },
            Fault::PayloadKindMismatch { ep, label: s, expected: s, found: k },
            Fault::PayloadArityMismatch { ep, label: s, expected: 2, found: 1 },
            Fault::PayloadTooLarge { ep, len_bytes: 9, max_bytes: 1 },
            Fault::BufferFull { ep, to: 1, capacity: 1 },
            Fault::HostRejected { ep, label: s },
            Fault::BadChoice { ep, index: 3, arms: 2 },
            Fault::ArithmeticTypeError { op: "add", a: k, b: k },
            Fault::CallDepthExceeded { depth: 1 },
            Fault::TooManySessions { max: 1 },
            Fault::TooManyCoroutines { max: 1 },
            Fault::DuplicateRole { role: s },
            Fault::MissingHandler { role: s },
            Fault::OpenArity { roles: 1, types: 1, dsts: 0 },
            Fault::BadEdgeBuffer { from: 0, to: 2 },
            Fault::UnknownPeer { ep, peer: s },
            Fault::EndpointClosed { ep },
            Fault::BadOperand { what: "x" },
            Fault::BadSignature { ep, from: 1, seq: 0 },
            Fault::ReplayedSequence { ep, from: 1, expected: 2, found: 1 },
            Fault::SequenceGap { ep, from: 1, expected: 2, found: 3 },
            Fault::NullifierReused { ep, from: 1, seq: 0 },
            Fault::NullifierSetFull { ep, max: 1 },
            Fault::HostEndpoint { forged: Endpoint { sid: 0, role: 1 } },
            Fault::ForgedEndpoint { ep, forged: Endpoint { sid: 0, role: 1 } },
            Fault::LateEffect { ep, effect: s },
            Fault::TooManyRoles { roles: 2, max: 1 },
            Fault::NoEndpointKey { role: 1 },
        ]
    }

    #[test]
    fn code_table_matches_every_variant() {
        let faults = one_of_each();
        assert_eq!(faults.len(), FAULT_CODES.len());
        for (f, entry) in faults.iter().zip(FAULT_CODES) {
            let name = format!("{f:?}");
            let name = name.split([' ', '{']).next().unwrap_or_default();
            assert_eq!((f.code(), name), (entry.code, entry.name));
        }
        for w in FAULT_CODES.windows(2) {
            assert_eq!(w[0].code + 1, w[1].code, "codes are dense and ordered");
        }
        assert_eq!(FAULT_CODES[0].code, 3001);
    }

    #[test]
    fn every_fault_has_a_message_template_naming_its_endpoint() {
        for f in one_of_each() {
            let (text, debug) = (f.to_string(), format!("{f:?}"));
            let name = debug.split([' ', '{']).next().unwrap_or_default();
            assert!(!text.contains(name) && !text.contains('{'), "{name} has no template: {text}");
            assert_eq!(f.endpoint().is_some(), text.contains("endpoint s0.r0"), "{text}");
        }
    }

    #[test]
    fn only_protocol_faults_fault_the_session() {
        let ep = Endpoint { sid: 0, role: 0 };
        assert!(Fault::BufferFull { ep, to: 1, capacity: 1 }.faults_session());
        assert!(!Fault::NotOwner { ep, owner: 0, coroutine: 1 }.faults_session());
        assert!(!Fault::SessionClosed { ep }.faults_session());
        assert!(!Fault::CallDepthExceeded { depth: 1 }.faults_session());
    }
}
