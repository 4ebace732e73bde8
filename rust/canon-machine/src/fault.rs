//! Runtime faults (3xxx): what a coroutine did wrong, naming the endpoint and,
//! for protocol mismatches, the action the local type expected and the one
//! attempted. Codes are stable; [`FAULT_CODES`] lists every one.

use canon_types::{Endpoint, SymId, ValueKind};

/// A session operation, as named in faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `send`.
    Send,
    /// `recv`.
    Recv,
    /// `select`.
    Select,
    /// `offer`.
    Offer,
    /// `recv_timeout`.
    RecvTimeout,
    /// `produce`.
    Produce,
    /// `close`.
    Close,
}

/// What an endpoint's local type expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Expected {
    /// A send (or select) to `peer`.
    Send {
        /// The peer role's name.
        peer: SymId,
    },
    /// A receive (or offer) from `peer`.
    Recv {
        /// The peer role's name.
        peer: SymId,
    },
    /// A send (or select) to one of several peers: a choice whose arms
    /// send to different roles.
    Choose,
    /// Nothing but `close`.
    End,
}

/// A runtime fault. Every variant has a stable code (see [`FAULT_CODES`]).
/// Its message (`Display`, and [`Fault::describe`] with names from the
/// program) is in `fault_message.rs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Fault {
    /// A session operand register does not hold an endpoint.
    NotAnEndpoint {
        /// The operand register.
        reg: u16,
        /// The kind of value the register holds.
        found: ValueKind,
    },
    /// The endpoint is owned by another coroutine.
    NotOwner {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The coroutine that owns the endpoint.
        owner: u32,
        /// The coroutine that used it.
        coroutine: u32,
    },
    /// The endpoint names no session of this group.
    UnknownSession {
        /// The session id used.
        sid: u64,
    },
    /// Operation on a closed session.
    SessionClosed {
        /// The endpoint the instruction used.
        ep: Endpoint,
    },
    /// Send where the local type expects a receive.
    SendWhereRecvExpected {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
        /// The role the endpoint's type expects to receive from.
        peer: SymId,
    },
    /// Receive where the local type expects a send.
    RecvWhereSendExpected {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The session operation the coroutine attempted.
        attempted: Op,
        /// The role the endpoint's type expects to send to.
        peer: SymId,
    },
    /// The label is not one the local type offers.
    LabelNotOffered {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
        /// What the endpoint's type allows instead.
        expected: Expected,
    },
    /// Communication after the local type reached end.
    ActionAfterEnd {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The session operation the coroutine attempted.
        attempted: Op,
    },
    /// Close while the local type is not end.
    CloseBeforeEnd {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// What the endpoint's type still expects.
        expected: Expected,
    },
    /// An arrived message's label has no arm.
    UnexpectedLabel {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
        /// The session operation the coroutine attempted.
        attempted: Op,
    },
    /// Payload value kind differs from its type name.
    PayloadKindMismatch {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
        /// The payload type the endpoint's type names.
        expected: SymId,
        /// The kind of value sent.
        found: ValueKind,
    },
    /// Payload item count differs from the type.
    PayloadArityMismatch {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
        /// The number of payload items the type names.
        expected: u32,
        /// The number of items sent.
        found: u32,
    },
    /// Payload encoding exceeds max_payload_bytes.
    PayloadTooLarge {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The payload's encoded size.
        len_bytes: u64,
        /// The configured limit (`Limits::max_payload_bytes`).
        max_bytes: u32,
    },
    /// Buffer full under the Error or exhausted Resize policy.
    BufferFull {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The receiving role's index in the session.
        to: u16,
        /// The buffer's capacity, in messages.
        capacity: u32,
    },
    /// The host refused a delivered message.
    HostRejected {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The message label involved.
        label: SymId,
    },
    /// The host chose an arm index out of range.
    BadChoice {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The arm index the host chose.
        index: u64,
        /// How many arms there were.
        arms: u32,
    },
    /// Integer operation on a non-integer.
    ArithmeticTypeError {
        /// The operation (`add`, `sub`, `lt`).
        #[serde(with = "static_text")]
        op: StaticText,
        /// The kind of the left operand.
        a: ValueKind,
        /// The kind of the right operand.
        b: ValueKind,
    },
    /// Call stack deeper than max_call_depth.
    CallDepthExceeded {
        /// The call depth reached (`Limits::max_call_depth`).
        depth: u32,
    },
    /// Open beyond max_sessions live sessions.
    TooManySessions {
        /// The limit (`Limits::max_sessions`).
        max: u32,
    },
    /// Spawn beyond max_coroutines.
    TooManyCoroutines {
        /// The limit (`Limits::max_coroutines`).
        max: u32,
    },
    /// Open names a role twice.
    DuplicateRole {
        /// The role named.
        role: SymId,
    },
    /// Open leaves a role without a handler.
    MissingHandler {
        /// The role named.
        role: SymId,
    },
    /// Open's roles, types and destinations differ in length.
    OpenArity {
        /// Length of the open's role list.
        roles: u32,
        /// Length of its local-type list.
        types: u32,
        /// Length of its destination-register list.
        dsts: u32,
    },
    /// Open's buffer override names a role out of range.
    BadEdgeBuffer {
        /// The edge's sending role index.
        from: u16,
        /// The edge's receiving role index.
        to: u16,
    },
    /// The local type names a peer outside the session.
    UnknownPeer {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The peer its type names.
        peer: SymId,
    },
    /// Operation on an endpoint already closed.
    EndpointClosed {
        /// The endpoint the instruction used.
        ep: Endpoint,
    },
    /// Malformed operand in an unverified program.
    BadOperand {
        /// What is wrong with the operand.
        #[serde(with = "static_text")]
        what: StaticText,
    },
    /// A received message's signature is missing or does not verify.
    BadSignature {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The sending role's index in the session.
        from: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// Sequence mode: a message seq below the next expected.
    ReplayedSequence {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The sending role's index in the session.
        from: u16,
        /// The next sequence number the edge expects.
        expected: u64,
        /// The sequence number the message carries.
        found: u64,
    },
    /// Sequence or nullifier mode: a message lost or out of order on its edge.
    SequenceGap {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The sending role's index in the session.
        from: u16,
        /// The next sequence number the edge expects.
        expected: u64,
        /// The sequence number the message carries.
        found: u64,
    },
    /// Nullifier mode: a message identity consumed before.
    NullifierReused {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The sending role's index in the session.
        from: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// Nullifier mode: max_nullifiers_per_session reached.
    NullifierSetFull {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The limit (`Limits::max_nullifiers_per_session`).
        max: u32,
    },
    /// A host answer contains an endpoint value.
    HostEndpoint {
        /// The endpoint value that was not delegated.
        forged: Endpoint,
    },
    /// A received payload carries an endpoint that was not delegated to it.
    ForgedEndpoint {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The endpoint value that was not delegated.
        forged: Endpoint,
    },
    /// Invoke by a coroutine whose session was cancelled or faulted.
    LateEffect {
        /// The endpoint the instruction used.
        ep: Endpoint,
        /// The effect invoked.
        effect: SymId,
    },
    /// Open names more roles than max_roles_per_open.
    TooManyRoles {
        /// How many roles the open names.
        roles: u32,
        /// The limit (`Limits::max_roles_per_open`).
        max: u32,
    },
    /// `open` under `Auth::Ed25519` found no signing key for a role: no key
    /// seed and no host-supplied key (keys never derive from the seed).
    NoEndpointKey {
        /// The role's index in the `open`.
        role: u16,
    },
    /// A readiness check the host answered with anything but `true`.
    CheckFailed {
        /// The endpoint whose session the check is for.
        ep: Endpoint,
        /// The check (`Effect.op`).
        effect: SymId,
    },
    /// The session's ownership refused to issue or consume a readiness
    /// witness (no owner, scope too narrow, or a forged, reused or stale
    /// witness); the refusal is recorded with its ownership code.
    CheckRefused {
        /// The endpoint whose session the witness is for.
        ep: Endpoint,
        /// The ownership error's code (4xxx).
        code: u16,
    },
}

canon_types::error_codes! {
    /// Every fault code, in code order. Pinned by a snapshot test.
    pub FAULT_CODES for Fault {
        NotAnEndpoint = 3001: "a session operand register does not hold an endpoint",
        NotOwner = 3002: "the endpoint is owned by another coroutine",
        UnknownSession = 3003: "the endpoint names no session of this group",
        SessionClosed = 3004: "operation on a closed session",
        SendWhereRecvExpected = 3005: "send where the local type expects a receive",
        RecvWhereSendExpected = 3006: "receive where the local type expects a send",
        LabelNotOffered = 3007: "the label is not one the local type offers",
        ActionAfterEnd = 3008: "communication after the local type reached end",
        CloseBeforeEnd = 3009: "close while the local type is not end",
        UnexpectedLabel = 3010: "an arrived message's label has no arm",
        PayloadKindMismatch = 3011: "payload value kind differs from its type name",
        PayloadArityMismatch = 3012: "payload item count differs from the type",
        PayloadTooLarge = 3013: "payload encoding exceeds max_payload_bytes",
        BufferFull = 3014: "buffer full under the Error or exhausted Resize policy",
        HostRejected = 3015: "the host refused a delivered message",
        BadChoice = 3016: "the host chose an arm index out of range",
        ArithmeticTypeError = 3017: "integer operation on a non-integer",
        CallDepthExceeded = 3018: "call stack deeper than max_call_depth",
        TooManySessions = 3019: "open beyond max_sessions live sessions",
        TooManyCoroutines = 3020: "spawn beyond max_coroutines",
        DuplicateRole = 3021: "open names a role twice",
        MissingHandler = 3022: "open leaves a role without a handler",
        OpenArity = 3023: "open's roles, types and destinations differ in length",
        BadEdgeBuffer = 3024: "open's buffer override names a role out of range",
        UnknownPeer = 3025: "the local type names a peer outside the session",
        EndpointClosed = 3026: "operation on an endpoint already closed",
        BadOperand = 3027: "malformed operand in an unverified program",
        BadSignature = 3028: "a received message's signature is missing or does not verify",
        ReplayedSequence = 3029: "sequence mode: a message seq below the next expected",
        SequenceGap = 3030: "sequence or nullifier mode: a message lost or out of order on its edge",
        NullifierReused = 3031: "nullifier mode: a message identity consumed before",
        NullifierSetFull = 3032: "nullifier mode: max_nullifiers_per_session reached",
        HostEndpoint = 3033: "a host answer contains an endpoint value",
        ForgedEndpoint = 3034: "a received payload carries an endpoint that was not delegated to it",
        LateEffect = 3035: "invoke by a coroutine whose session was cancelled or faulted",
        TooManyRoles = 3036: "open names more roles than max_roles_per_open",
        NoEndpointKey = 3037: "open under ed25519 with no key seed or host-supplied key for a role",
        CheckFailed = 3038: "a readiness check the host answered with anything but true",
        CheckRefused = 3039: "the session's ownership refused to issue or consume a readiness witness",
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
            | Fault::LateEffect { ep, .. }
            | Fault::CheckFailed { ep, .. }
            | Fault::CheckRefused { ep, .. } => Some(ep),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canon_types::ErrorCode;

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
            Fault::CheckFailed { ep, effect: s },
            Fault::CheckRefused { ep, code: 4017 },
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

/// A fault's fixed text (an alias, so that serde does not take it for a
/// borrow of the input: restoring looks it up in [`FAULT_TEXTS`]).
pub type StaticText = &'static str;

/// Every text a [`Fault`]'s `&'static str` field can hold. A checkpoint
/// saves the text and restoring maps it back to this table's entry; a text
/// not in it is refused (no string is leaked to make it `'static`). The
/// machine's tests check that every literal the source uses is listed.
pub const FAULT_TEXTS: &[&str] = &[
    "add",
    "sub",
    "lt",
    "constant out of range",
    "endpoint nested in a payload",
    "expect_send on a receive operation",
    "local type out of range or unguarded",
    "local type out of range",
    "more arguments than callee registers",
    "more arguments than spawned registers",
    "not a session instruction",
    "open has more handlers than roles",
    "procedure out of range",
    "program counter out of range",
    "register out of range",
    "ret to a frame not at a call",
    "take on a non-receive type",
    "take without a visible message",
    "type out of range",
    "x",
];

mod static_text {
    pub fn serialize<S: serde::Serializer>(text: &&'static str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(text)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        super::FAULT_TEXTS
            .iter()
            .copied()
            .find(|t| *t == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown fault text {text:?}")))
    }
}
