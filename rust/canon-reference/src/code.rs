//! The fault codes the reference interpreter raises, by name: the runtime
//! faults (3xxx) of `docs/errors.md` that bytecode-spec/execution.md assigns
//! to the instructions, plus the ownership code (4xxx) of an unclaimed
//! session (the other refusal reasons live with the readiness checks). The machine's `Fault` enum has the same numbers; the reference
//! keeps its own table so that it shares no execution code with the machine.

/// A session operand register does not hold an endpoint (execution.md,
/// "Endpoint checks", first check).
pub const NOT_AN_ENDPOINT: u16 = 3001;
/// The endpoint is owned by another coroutine (execution.md, "Endpoint
/// checks", third check).
pub const NOT_OWNER: u16 = 3002;
/// The endpoint names no session of this group (execution.md, "Endpoint
/// checks", second check).
pub const UNKNOWN_SESSION: u16 = 3003;
/// A send-side instruction where the endpoint's local type expects a
/// receive (format.md, the opcode table's type-action column).
pub const SEND_WHERE_RECV_EXPECTED: u16 = 3005;
/// A receive where the endpoint's local type expects a send (format.md,
/// the opcode table's type-action column).
pub const RECV_WHERE_SEND_EXPECTED: u16 = 3006;
/// The label is not one the endpoint's local type offers (execution.md,
/// "Send", "Receive" and `select_to` under "Host calls").
pub const LABEL_NOT_OFFERED: u16 = 3007;
/// A session instruction after the endpoint's local type reached `End`.
pub const ACTION_AFTER_END: u16 = 3008;
/// `close` while the endpoint's local type is not `End` (execution.md,
/// "Close, cancel, abort").
pub const CLOSE_BEFORE_END: u16 = 3009;
/// A delivered message's label has no arm in the receiving instruction
/// (execution.md, "Receive").
pub const UNEXPECTED_LABEL: u16 = 3010;
/// A payload value's kind differs from the branch's payload type name
/// (execution.md, "Send").
pub const PAYLOAD_KIND_MISMATCH: u16 = 3011;
/// A payload's item count differs from the branch's payload types
/// (execution.md, "Send").
pub const PAYLOAD_ARITY_MISMATCH: u16 = 3012;
/// A payload's canonical encoding exceeds `max_payload_bytes`
/// (execution.md, "Send").
pub const PAYLOAD_TOO_LARGE: u16 = 3013;
/// A send to a full edge under the `Error` policy, or under a `Resize`
/// policy already at its maximum capacity (format.md, buffer modes).
pub const BUFFER_FULL: u16 = 3014;
/// The host's `accept` refused a delivered message (execution.md,
/// "Receive").
pub const HOST_REJECTED: u16 = 3015;
/// The host's `choose` answered an arm index out of range (execution.md,
/// "Host calls").
pub const BAD_CHOICE: u16 = 3016;
/// `add`, `sub` or `lt` on a register that does not hold an integer.
pub const ARITHMETIC_TYPE_ERROR: u16 = 3017;
/// A `call` beyond `max_call_depth` frames.
pub const CALL_DEPTH_EXCEEDED: u16 = 3018;
/// An `open` beyond `max_sessions` live sessions.
pub const TOO_MANY_SESSIONS: u16 = 3019;
/// A `spawn` beyond `max_coroutines` coroutines.
pub const TOO_MANY_COROUTINES: u16 = 3020;
/// A session instruction on an endpoint already closed (execution.md,
/// "Endpoint checks", fourth check).
pub const ENDPOINT_CLOSED: u16 = 3026;
/// A received message's signature is missing or does not verify against
/// the sender's endpoint key (replay.md, "Signatures and the message
/// envelope").
pub const BAD_SIGNATURE: u16 = 3028;
/// Sequence mode: a received message's seq is below the next expected
/// one (replay.md).
pub const REPLAYED_SEQUENCE: u16 = 3029;
/// Sequence or nullifier mode: a message was lost or arrived out of
/// order on its edge (replay.md).
pub const SEQUENCE_GAP: u16 = 3030;
/// Nullifier mode: a message identity the session consumed before
/// (replay.md).
pub const NULLIFIER_REUSED: u16 = 3031;
/// Nullifier mode: the session's nullifier set holds
/// `max_nullifiers_per_session` identities (replay.md).
pub const NULLIFIER_SET_FULL: u16 = 3032;
/// An `invoke` or `check` by a coroutine holding an endpoint of a
/// cancelled, aborted or faulted session, or a revoked endpoint
/// (execution.md, "Receive" and "Close, cancel, abort").
pub const LATE_EFFECT: u16 = 3035;
/// The host answered a readiness check `false`: no witness is issued
/// (format.md, `check`; execution.md, "Readiness checks").
pub const CHECK_FAILED: u16 = 3038;
/// The session's host-side ownership refused to issue or consume a
/// readiness witness; the ownership record carries the 4xxx reason
/// (format.md, `check` and `consume`).
pub const CHECK_REFUSED: u16 = 3039;
/// A `send`, `produce` or `select` whose label two arms of the endpoint's
/// `Choose` offer (execution.md, "Host calls").
pub const AMBIGUOUS_LABEL: u16 = 3040;
/// Ownership (4xxx): the session has no host-side owner, so its `check`
/// and `consume` are refused (execution.md, "Readiness checks"; the other
/// refusal reasons are in the readiness-check module).
pub const UNCLAIMED: u16 = 4007;
