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
    pub start: u32,
    pub end: u32,
}

/// A global protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind")]
pub enum GlobalType {
    End,
    /// `label(payload) from from to to; cont`. With `timeout_ticks` (the
    /// canon extension `... within N;`), the receiver waits at most that many
    /// rounds and on timeout cancels the session.
    Message {
        from: String,
        to: String,
        label: String,
        payload: Vec<Payload>,
        timeout_ticks: Option<u32>,
        cont: Box<GlobalType>,
        span: Span,
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
        role: String,
        effect: String,
        cont: Box<GlobalType>,
        span: Span,
    },
    /// `choice at at { b0 } or { b1 } ...`: every branch must begin with a
    /// message sent by `at`.
    Choice {
        at: String,
        branches: Vec<GlobalType>,
        span: Span,
    },
    /// `rec var { body }`
    Rec {
        var: String,
        body: Box<GlobalType>,
        span: Span,
    },
    /// `continue var;`
    Continue {
        var: String,
        span: Span,
    },
}

/// A named protocol with its declared roles, ready to project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Protocol {
    pub name: String,
    pub roles: Vec<String>,
    pub body: GlobalType,
}
