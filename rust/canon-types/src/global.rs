//! Global types: the checked, role-indexed form of a choreography that
//! projection turns into one [`crate::LocalType`] per role.
//!
//! `canon-choreo` builds these from its AST (multicast already expanded to
//! one message per receiver, the later ones marked `same_payload`; `do`
//! already inlined); spans point back into the source so diagnostics can
//! name `file:line:column`.

use crate::local::Payload;

/// A byte range in the choreography source; `Span::default()` for nodes that
/// have no source (synthesised in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

/// Where a projected action came from: the span of the global statement
/// that produced it, kept so the compiler can write a source map. It takes
/// no part in equality or hashing — two behaviours that differ only in where
/// they were written are the same behaviour (projection merges them) — and
/// is not serialised.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin(pub Span);

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

impl Eq for Origin {}

impl std::hash::Hash for Origin {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A global protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind")]
pub enum GlobalType {
    /// The protocol ends.
    End,
    /// `label(payload) from from to to; cont`. With `timeout_ticks` (the
    /// canon extension `... within N;`), the receiver waits at most that many
    /// rounds; on timeout it cancels the session, or, with `on_timeout`
    /// (`... within N on timeout { .. }`), the protocol continues with
    /// `on_timeout` instead of `cont` (the receiver decides, the sender is
    /// left out of that path).
    Message {
        /// The sending role.
        from: String,
        /// The receiving role.
        to: String,
        /// The message label.
        label: String,
        /// The payload's declared types.
        payload: Vec<Payload>,
        /// The receive deadline in rounds (`within N`), if any.
        timeout_ticks: Option<u32>,
        /// What follows.
        cont: Box<GlobalType>,
        /// Where in the choreography source (`Span::default()` if none).
        span: Span,
        /// The timeout branch: what the protocol does when the deadline
        /// passes (only with `timeout_ticks`). The sender takes no part in it.
        #[serde(skip_serializing_if = "Option::is_none")]
        on_timeout: Option<Box<GlobalType>>,
        /// The cancellation handler (`... within N on cancel { invoke E at
        /// Receiver; .. }`): the effects the receiver invokes, in order,
        /// when the deadline passes, before it cancels the session.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        on_cancel: Vec<String>,
        /// Set on the second and later receivers of a multicast
        /// (`Quote(Int) from S to B1, B2;`): the sender sends the payload of
        /// the message just before this one instead of producing a new one.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        same_payload: bool,
    },
    /// canon extension `invoke Effect at role;`: `role` performs host effect
    /// `effect` (no communication; invisible in local types, lowered to an
    /// `invoke` instruction).
    Invoke {
        /// The role that performs the effect.
        role: String,
        /// The host effect's name.
        effect: String,
        /// `check Effect.op(..) at role;`: a readiness check (the host must
        /// answer `true`; it issues a readiness witness that the role's next
        /// protected step consumes) rather than a plain effect.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        check: bool,
        /// What follows.
        cont: Box<GlobalType>,
        /// Where in the choreography source (`Span::default()` if none).
        span: Span,
    },
    /// `choice at at { b0 } or { b1 } ...`: every branch must begin with a
    /// message sent by `at`.
    Choice {
        /// The role that chooses.
        at: String,
        /// The branches, in source order.
        branches: Vec<GlobalType>,
        /// Where in the choreography source (`Span::default()` if none).
        span: Span,
    },
    /// `rec var { body }`
    Rec {
        /// The recursion variable.
        var: String,
        /// The loop body.
        body: Box<GlobalType>,
        /// Where in the choreography source (`Span::default()` if none).
        span: Span,
    },
    /// `continue var;`
    Continue {
        /// The recursion variable.
        var: String,
        /// Where in the choreography source (`Span::default()` if none).
        span: Span,
    },
}

/// A named protocol with its declared roles, ready to project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Protocol {
    /// The protocol's name.
    pub name: String,
    /// The declared roles, in order.
    pub roles: Vec<String>,
    /// The protocol's interactions.
    pub body: GlobalType,
}
