//! Local session types as trees with names: what projection produces and what
//! `canon project` prints. The machine and the bytecode use the flat
//! [`crate::TypeGraph`] instead; [`crate::TypeGraph::lower`] and
//! [`crate::TypeGraph::lift`] convert between the two.

use std::fmt;

/// The label of a receive's **timeout branch** (`within N on timeout { .. }`):
/// the branch its receiver takes when the deadline passes. No message
/// carries it (a choreography label is a word, a number or empty), so in the
/// flat type table it marks that branch: a `recv_timeout` covers every other
/// label of the node with its arms and continues with this branch's
/// continuation at its timeout target.
pub const TIMEOUT_LABEL: &str = "@timeout";

/// One payload item of a message: an optional name (`x: int`), a type name
/// and an optional nuscr refinement (`x: int{x > 0}`, the text between the
/// braces). Refinements are kept for printing; the flat type graph drops them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Payload {
    /// The item's name (`name: Type`), if given.
    pub name: Option<String>,
    /// The item's type name.
    pub ty: String,
    /// Scribble's refinement annotation, kept as written (canon does not check it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refinement: Option<String>,
}

impl Payload {
    /// An unnamed, unrefined payload of type `ty`.
    pub fn of(ty: impl Into<String>) -> Self {
        Payload { name: None, ty: ty.into(), refinement: None }
    }
}

/// One labelled branch of a send (select) or receive (offer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Branch {
    /// The message label.
    pub label: String,
    /// The payload's declared types.
    pub payload: Vec<Payload>,
    /// The local type after this message.
    pub cont: LocalType,
}

/// A local type: one role's view of a protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(tag = "kind")]
pub enum LocalType {
    /// The role's part ends.
    End,
    /// Internal choice: send one of the branches' labels to `to`.
    Send {
        /// The peer sent to.
        to: String,
        /// The labels, each with its payload and continuation.
        branches: Vec<Branch>,
    },
    /// External choice: receive one of the branches' labels from `from`.
    Recv {
        /// The peer received from.
        from: String,
        /// The labels, each with its payload and continuation.
        branches: Vec<Branch>,
    },
    /// Internal choice among sends to different peers: the role picks one
    /// arm and performs it. Each arm is a [`LocalType::Send`] to its own
    /// peer; the first labels of all arms are distinct, so the label sent
    /// names the arm. (A choice whose branches all send to one peer is a
    /// `Send` with several branches.)
    Choose {
        /// The arms, each a `Send` to a peer of its own.
        arms: Vec<LocalType>,
    },
    /// Recursion binder `μ var. body`.
    Mu {
        /// The recursion variable.
        var: String,
        /// The loop body.
        body: Box<LocalType>,
    },
    /// A recursion variable bound by an enclosing `Mu`.
    Var {
        /// The recursion variable.
        var: String,
    },
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}: {}", self.ty)?,
            None => write!(f, "{}", self.ty)?,
        }
        match &self.refinement {
            Some(r) => write!(f, "{{{r}}}"),
            None => Ok(()),
        }
    }
}

fn write_branches(f: &mut fmt::Formatter<'_>, peer: &str, op: &str, branches: &[Branch]) -> fmt::Result {
    let many = branches.len() != 1;
    write!(f, "{peer}{op}")?;
    if many {
        write!(f, "{{")?;
    }
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{}(", b.label)?;
        for (j, p) in b.payload.iter().enumerate() {
            if j > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{p}")?;
        }
        write!(f, ").{}", b.cont)?;
    }
    if many {
        write!(f, "}}")?;
    }
    Ok(())
}

/// Compact one-line notation: `Seller!Title(String).Seller?Quote(Int).end`,
/// `Seller!{Accept(String).end, Reject().end}`, `mu X.A!Ping().X`,
/// `+{B!Ok().C!Ok().end, C!Quit().B!Quit().end}` (a choice among peers).
impl fmt::Display for LocalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalType::End => write!(f, "end"),
            LocalType::Send { to, branches } => write_branches(f, to, "!", branches),
            LocalType::Recv { from, branches } => write_branches(f, from, "?", branches),
            LocalType::Choose { arms } => {
                write!(f, "+{{")?;
                for (i, arm) in arms.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{arm}")?;
                }
                write!(f, "}}")
            }
            LocalType::Mu { var, body } => write!(f, "mu {var}.{body}"),
            LocalType::Var { var } => write!(f, "{var}"),
        }
    }
}
