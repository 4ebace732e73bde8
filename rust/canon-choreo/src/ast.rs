//! The syntax tree of a choreography file, as written: names are not resolved,
//! multicast is not expanded and `do` is not inlined (see [`mod@crate::elaborate`]).
//! Every node carries the byte [`Span`] it was parsed from.

use canon_bytecode::{Backpressure, BufferMode};
use canon_types::Span;

/// A name and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A dotted name such as `shop.TwoBuyer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualName {
    /// The dot-separated parts, in order.
    pub parts: Vec<Ident>,
    /// Where it was written.
    pub span: Span,
}

impl QualName {
    /// The name with its parts joined by `.`.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.parts.iter().map(|p| p.name.as_str()).collect();
        parts.join(".")
    }
}

/// A whole source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// `module a.b;`, if present.
    pub module: Option<QualName>,
    /// `import a.b [as C];` declarations (resolved by [`crate::modules`]).
    pub imports: Vec<Import>,
    /// `type`/`data`/`sig` payload type declarations.
    pub types: Vec<TypeDecl>,
    /// The protocols, in source order.
    pub protocols: Vec<ProtocolDecl>,
    /// Where it was written.
    pub span: Span,
}

/// `import name [as alias];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The imported module's name.
    pub name: QualName,
    /// The `as` name, if given.
    pub alias: Option<Ident>,
    /// Where it was written.
    pub span: Span,
}

/// Which keyword introduced a [`TypeDecl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeDeclKind {
    /// Scribble `type`.
    Type,
    /// Scribble/nuscr `data`.
    Data,
    /// Scribble `sig` (a message signature alias; recorded like a type).
    Sig,
}

/// `type <schema> "extern" from "source" as Alias;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDecl {
    /// Which keyword declared it.
    pub kind: TypeDeclKind,
    /// The schema between angle brackets, e.g. `java`.
    pub schema: Ident,
    /// The external type name, e.g. `"java.lang.String"`.
    pub extern_name: String,
    /// The source the external type comes from, e.g. `"rt.jar"`.
    pub source: String,
    /// The name protocols use.
    pub alias: Ident,
    /// Where it was written.
    pub span: Span,
}

/// `[aux] [explicit] global protocol Name(role A, role B) { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolDecl {
    /// The protocol's name.
    pub name: Ident,
    /// `aux`: not an entry point, only reachable through `do`.
    pub aux: bool,
    /// Scribble's `explicit` modifier: roles exchange messages only while
    /// connected (`connect`/`disconnect`), checked before expansion.
    pub explicit: bool,
    /// Scribble protocol parameters `<sig M, type T>`, in order.
    pub params: Vec<ProtoParam>,
    /// The declared roles, in order.
    pub roles: Vec<Ident>,
    /// The canon `buffer A -> B ...;` declarations of the body's top level.
    pub buffers: Vec<BufferDecl>,
    /// The protocol's statements.
    pub body: Block,
    /// Where it was written.
    pub span: Span,
}

/// Which kind of protocol parameter a [`ProtoParam`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `sig M`: a message signature (label and payload).
    Sig,
    /// `type T`: a payload type.
    Type,
}

/// One protocol parameter: `sig M` or `type T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoParam {
    /// Whether it is a `sig` or a `type` parameter.
    pub kind: ParamKind,
    /// The parameter's name.
    pub name: Ident,
}

/// One argument of `do P<...>(...)`: a name (`Int`, `Msg1`, `a.b.T`) or a
/// message signature (`Msg1(Int)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamArg {
    /// The argument's (possibly qualified) name.
    pub name: QualName,
    /// `Some` when written as a message signature `L(payload)`.
    pub payload: Option<Vec<PayloadItem>>,
    /// Where it was written.
    pub span: Span,
}

/// A `{ ... }` sequence of statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The statements, in order.
    pub stmts: Vec<Stmt>,
    /// Where it was written.
    pub span: Span,
}

/// One statement of a protocol body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// `Label(payload) from A to B, C;`
    Message(MessageStmt),
    /// `choice at A { … } or { … }`
    Choice(ChoiceStmt),
    /// `rec L { … }`
    Rec(RecStmt),
    /// `continue L;`
    Continue(ContinueStmt),
    /// `do P(roles);`
    Do(DoStmt),
    /// `invoke Effect at Role;`, and `check Effect.op(args) at Role;`
    Invoke(InvokeStmt),
    /// Scribble explicit protocols: `disconnect A and B;`.
    Disconnect(DisconnectStmt),
}

impl Stmt {
    /// The statement's span.
    pub fn span(&self) -> Span {
        match self {
            Stmt::Message(s) => s.span,
            Stmt::Choice(s) => s.span,
            Stmt::Rec(s) => s.span,
            Stmt::Continue(s) => s.span,
            Stmt::Do(s) => s.span,
            Stmt::Invoke(s) => s.span,
            Stmt::Disconnect(s) => s.span,
        }
    }
}

/// `Label(payload) from A to B, C [within N];`, and in explicit protocols
/// `Label(payload) connect A to B;` / `connect A to B;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStmt {
    /// `None` for the empty label `(Int) from A to B;`. A label may be a
    /// word or a number (`250() from S to C;`).
    pub label: Option<Ident>,
    /// The payload items, in order.
    pub payload: Vec<PayloadItem>,
    /// Written without parentheses (`M from A to B;`): `M` names a `sig`
    /// (a declaration or a protocol parameter).
    pub sig_name: bool,
    /// `connect` instead of `from`: opens the connection `from`–`to` and
    /// carries this message over it.
    pub connect: bool,
    /// The sending role.
    pub from: Ident,
    /// One or more receivers (multicast when more than one).
    pub to: Vec<Ident>,
    /// canon extension: `within N` receive timeout in rounds.
    pub within: Option<Timeout>,
    /// canon extension: the `on timeout { .. }` / `on cancel { .. }` blocks
    /// written after `within N`, in order (at most one is accepted).
    pub handlers: Vec<DeadlineHandler>,
    /// Where it was written.
    pub span: Span,
}

/// What a deadline handler block handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// `on timeout { .. }`: the protocol continues with the block when the
    /// deadline passes (the timeout branch).
    Timeout,
    /// `on cancel { .. }`: the receiver runs the block (host effects only)
    /// before the session is cancelled at the deadline.
    Cancel,
}

/// `on timeout { .. }` or `on cancel { .. }` after a message's `within N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineHandler {
    /// `on timeout` or `on cancel`.
    pub kind: HandlerKind,
    /// The block's statements.
    pub body: Block,
    /// From `on` to the closing brace.
    pub span: Span,
}

/// `within N`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The deadline in rounds.
    pub ticks: u32,
    /// Where it was written.
    pub span: Span,
}

/// One payload item: `Int`, `x: int`, `foo.Bar`, nuscr's refined
/// `x: int{x > 0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadItem {
    /// The item's name (`name: Type`), if given.
    pub name: Option<Ident>,
    /// The item's type name.
    pub ty: QualName,
    /// The refinement between braces, as written (whitespace normalised).
    pub refinement: Option<String>,
    /// Where it was written.
    pub span: Span,
}

/// `choice at A { ... } or { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceStmt {
    /// The role that chooses.
    pub at: Ident,
    /// The branches, in source order.
    pub branches: Vec<Block>,
    /// Where it was written.
    pub span: Span,
}

/// `rec Label { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecStmt {
    /// The loop's label (what `continue` names).
    pub label: Ident,
    /// The loop body.
    pub body: Block,
    /// Where it was written.
    pub span: Span,
}

/// `continue Label;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueStmt {
    /// The label of the `rec` it jumps back to.
    pub label: Ident,
    /// Where it was written.
    pub span: Span,
}

/// `do a.b.Proto<Msg, Int>(A, B);` roles passed positionally. After
/// module resolution, `protocol.name` is the callee's key in the protocol
/// table (the dotted name as written until then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoStmt {
    /// The protocol run.
    pub protocol: Ident,
    /// The `<...>` arguments for the callee's `sig`/`type` parameters.
    pub params: Vec<ParamArg>,
    /// The roles passed, in the callee's declaration order.
    pub args: Vec<Ident>,
    /// Where it was written.
    pub span: Span,
}

/// `disconnect A and B;` (explicit protocols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectStmt {
    /// One role.
    pub a: Ident,
    /// The other role.
    pub b: Ident,
    /// Where it was written.
    pub span: Span,
}

/// canon extension `invoke Effect at Role;`, and the readiness check
/// `check Effect.op(args) at Role;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeStmt {
    /// The host effect's name (`Effect.op` for a check, its span covering both).
    pub effect: Ident,
    /// For a `check`: its argument names, in order (kept as written, not
    /// evaluated); `None` for an `invoke`.
    pub check: Option<Vec<Ident>>,
    /// The role that performs it.
    pub at: Ident,
    /// Where it was written.
    pub span: Span,
}

/// canon extension: `buffer A -> B fifo block 4;`, `buffer A -> B latest drop 1;`,
/// `buffer A -> B fifo resize 2 max 8;`, `buffer A -> B fifo error 1;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferDecl {
    /// The sending role of the edge.
    pub from: Ident,
    /// The receiving role of the edge.
    pub to: Ident,
    /// FIFO or latest-value.
    pub mode: BufferMode,
    /// For `resize`, `max_capacity` is the `max N` value.
    pub policy: Backpressure,
    /// How many messages the buffer holds.
    pub capacity: u32,
    /// The span of the capacity number (and `max N`), for diagnostics.
    pub capacity_span: Span,
    /// Where it was written.
    pub span: Span,
}
