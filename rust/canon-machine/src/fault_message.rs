//! Fault messages. One template per fault renders two ways: `Display`
//! names symbols by id and endpoints as `s<sid>.r<role>` (readable without
//! the program), and [`Fault::describe`] names them from the module: labels,
//! type names and peers by name, endpoints as `s<n>:<Role>` (`n` counts the
//! sessions of the group, as stall reports print them).

use std::fmt::{self, Display, Formatter};

use canon_bytecode::{Instr, Module};
use canon_types::{Endpoint, SymId};

use crate::fault::{Expected, Fault, Op};

/// Formats with a closure.
struct Show<F: Fn(&mut Formatter<'_>) -> fmt::Result>(F);

impl<F: Fn(&mut Formatter<'_>) -> fmt::Result> Display for Show<F> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// How a message names things: by id, or from a module.
#[derive(Clone, Copy)]
struct Names<'m> {
    module: Option<&'m Module>,
}

impl<'m> Names<'m> {
    fn sym(self, s: SymId) -> impl Display + 'm {
        Show(move |f| match self.module.and_then(|m| m.strings.get(s.0 as usize)) {
            Some(name) => f.write_str(name),
            None => write!(f, "{s:?}"),
        })
    }

    /// Role `role` of the endpoint's session: its name, or its index.
    fn role(self, role: u16) -> impl Display + 'm {
        Show(move |f| match self.module.and_then(|m| role_name(m, role)) {
            Some(name) => f.write_str(name),
            None => write!(f, "role {role}"),
        })
    }

    fn ep(self, ep: Endpoint) -> impl Display + 'm {
        Show(move |f| match self.module {
            None => write!(f, "{ep}"),
            Some(m) => {
                let n = ep.sid & 0xffff_ffff;
                match role_name(m, ep.role) {
                    Some(name) => write!(f, "s{n}:{name}"),
                    None => write!(f, "s{n}.r{}", ep.role),
                }
            }
        })
    }

    fn expected(self, e: Expected) -> impl Display + 'm {
        Show(move |f| match e {
            Expected::Send { peer } => write!(f, "a send to {}", self.sym(peer)),
            Expected::Recv { peer } => write!(f, "a receive from {}", self.sym(peer)),
            Expected::Choose => f.write_str("a send that chooses among several peers"),
            Expected::End => f.write_str("end"),
        })
    }
}

/// The name of role index `role` in every `open` of the program, when they
/// all agree (a fault names the role index only, not the session's roles).
fn role_name(m: &Module, role: u16) -> Option<&str> {
    let mut found = None;
    for instr in m.procs.iter().flat_map(|p| &p.code) {
        if let Instr::Open { roles, .. } = instr {
            let name = *roles.get(usize::from(role))?;
            if found.is_some_and(|f| f != name) {
                return None;
            }
            found = Some(name);
        }
    }
    found.and_then(|s| m.strings.get(s.0 as usize)).map(String::as_str)
}

/// The instruction mnemonic of an operation.
fn op(o: Op) -> &'static str {
    match o {
        Op::Send => "send",
        Op::Recv => "recv",
        Op::Select => "select",
        Op::Offer => "offer",
        Op::RecvTimeout => "recv_timeout",
        Op::Produce => "produce",
        Op::Close => "close",
    }
}

impl Fault {
    /// The fault's message with names from `module` (the program that ran):
    /// labels, type names and roles by name, endpoints as `s<n>:<Role>`.
    pub fn describe(&self, module: &Module) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = fmt::write(&mut out, format_args!("{}", Show(|f| self.render(f, Names { module: Some(module) }))));
        out
    }

    fn render(&self, f: &mut Formatter<'_>, n: Names<'_>) -> fmt::Result {
        match *self {
            Fault::NotAnEndpoint { reg, found } => write!(f, "register {reg} holds a {found:?}, not an endpoint"),
            Fault::NotOwner { ep, owner, coroutine } => {
                write!(f, "endpoint {} is owned by coroutine {owner}, not by coroutine {coroutine}", n.ep(ep))
            }
            Fault::UnknownSession { sid } => write!(f, "no session {sid:#x} in this group"),
            Fault::SessionClosed { ep } => write!(f, "session of endpoint {} is closed", n.ep(ep)),
            Fault::SendWhereRecvExpected { ep, label, peer } => write!(
                f,
                "endpoint {} attempted send of label {} where its type expects a receive from {}",
                n.ep(ep),
                n.sym(label),
                n.sym(peer)
            ),
            Fault::RecvWhereSendExpected { ep, attempted, peer } => write!(
                f,
                "endpoint {} attempted {} where its type expects a send to {}",
                n.ep(ep),
                op(attempted),
                n.sym(peer)
            ),
            Fault::LabelNotOffered { ep, label, expected } => write!(
                f,
                "endpoint {}: label {} is not offered by its type (it expects {})",
                n.ep(ep),
                n.sym(label),
                n.expected(expected)
            ),
            Fault::ActionAfterEnd { ep, attempted } => {
                write!(f, "endpoint {} attempted {} after its type reached end", n.ep(ep), op(attempted))
            }
            Fault::CloseBeforeEnd { ep, expected } => {
                write!(f, "endpoint {} closed while its type still expects {}", n.ep(ep), n.expected(expected))
            }
            Fault::UnexpectedLabel { ep, label, attempted } => write!(
                f,
                "endpoint {} received label {}, which the {} has no arm for",
                n.ep(ep),
                n.sym(label),
                op(attempted)
            ),
            _ => self.render_payload_and_host(f, n),
        }
    }

    fn render_payload_and_host(&self, f: &mut Formatter<'_>, n: Names<'_>) -> fmt::Result {
        match *self {
            Fault::PayloadKindMismatch { ep, label, expected, found } => write!(
                f,
                "endpoint {}: payload of {} is a {found:?}, its type says {}",
                n.ep(ep),
                n.sym(label),
                n.sym(expected)
            ),
            Fault::PayloadArityMismatch { ep, label, expected, found } => write!(
                f,
                "endpoint {}: payload of {} has {found} items, its type says {expected}",
                n.ep(ep),
                n.sym(label)
            ),
            Fault::PayloadTooLarge { ep, len_bytes, max_bytes } => {
                write!(f, "endpoint {}: payload of {len_bytes} bytes exceeds the limit of {max_bytes}", n.ep(ep))
            }
            Fault::BufferFull { ep, to, capacity } => {
                write!(f, "endpoint {}: buffer to {} is full ({capacity} messages)", n.ep(ep), n.role(to))
            }
            Fault::HostRejected { ep, label } => {
                write!(f, "endpoint {}: the host rejected the delivery of {}", n.ep(ep), n.sym(label))
            }
            Fault::BadChoice { ep, index, arms } => {
                write!(f, "endpoint {}: the host chose arm {index} of {arms}", n.ep(ep))
            }
            Fault::UnknownPeer { ep, peer } => write!(
                f,
                "endpoint {}: its type names peer {}, which is not a role of the session",
                n.ep(ep),
                n.sym(peer)
            ),
            Fault::EndpointClosed { ep } => write!(f, "endpoint {} is already closed", n.ep(ep)),
            _ => self.render_program_and_replay(f, n),
        }
    }

    fn render_program_and_replay(&self, f: &mut Formatter<'_>, n: Names<'_>) -> fmt::Result {
        match *self {
            Fault::ArithmeticTypeError { op, a, b } => write!(f, "{op} on a {a:?} and a {b:?}"),
            Fault::CallDepthExceeded { depth } => write!(f, "call depth {depth} exceeds the limit"),
            Fault::TooManySessions { max } => write!(f, "more than {max} live sessions"),
            Fault::TooManyCoroutines { max } => write!(f, "more than {max} coroutines"),
            Fault::TooManyRoles { roles, max } => write!(f, "open: {roles} roles, over the limit of {max}"),
            Fault::DuplicateRole { role } => write!(f, "open: role {} appears twice", n.sym(role)),
            Fault::MissingHandler { role } => write!(f, "open: role {} has no handler", n.sym(role)),
            Fault::OpenArity { roles, types, dsts } => {
                write!(f, "open: {roles} roles but {types} types and {dsts} destinations")
            }
            Fault::BadEdgeBuffer { from, to } => {
                write!(f, "open: buffer override for edge {from}->{to} names a role out of range")
            }
            Fault::BadOperand { what } => write!(f, "malformed program: {what}"),
            Fault::BadSignature { ep, from, seq } => write!(
                f,
                "endpoint {}: message seq {seq} from {} has a missing or invalid signature",
                n.ep(ep),
                n.role(from)
            ),
            Fault::ReplayedSequence { ep, from, expected, found } => write!(
                f,
                "endpoint {}: message seq {found} from {} was already consumed (next expected {expected})",
                n.ep(ep),
                n.role(from)
            ),
            Fault::SequenceGap { ep, from, expected, found } => write!(
                f,
                "endpoint {}: message seq {found} from {} is out of order: the next expected is {expected} (a message was lost or reordered)",
                n.ep(ep),
                n.role(from)
            ),
            Fault::NullifierReused { ep, from, seq } => write!(
                f,
                "endpoint {}: message seq {seq} from {} has an identity already consumed",
                n.ep(ep),
                n.role(from)
            ),
            Fault::NoEndpointKey { role } => {
                write!(f, "open: no signing key for role index {role} (ed25519 needs a key seed or host-supplied keys)")
            }
            Fault::NullifierSetFull { ep, max } => {
                write!(f, "endpoint {}: the session consumed its limit of {max} message identities", n.ep(ep))
            }
            Fault::HostEndpoint { forged } => {
                write!(
                    f,
                    "a host answer contains the endpoint value {}: endpoints never come from the host",
                    n.ep(forged)
                )
            }
            Fault::ForgedEndpoint { ep, forged } => write!(
                f,
                "endpoint {} received the endpoint value {}, which was not delegated to it",
                n.ep(ep),
                n.ep(forged)
            ),
            Fault::LateEffect { ep, effect } => write!(
                f,
                "invoke of {} after the session of endpoint {} ended abnormally: the effect is refused",
                n.sym(effect),
                n.ep(ep)
            ),
            Fault::CheckFailed { ep, effect } => {
                write!(f, "check {} at endpoint {} failed: the host did not answer true", n.sym(effect), n.ep(ep))
            }
            Fault::CheckRefused { ep, code } => write!(
                f,
                "readiness witness for endpoint {} refused by the session's ownership (E{code}): the protected step does not run",
                n.ep(ep)
            ),
            // Every variant is rendered above; a new one shows its fields until it has a template.
            _ => write!(f, "{self:?}"),
        }
    }
}

/// The message naming symbols by id and endpoints as `s<sid>.r<role>`.
impl Display for Fault {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.render(f, Names { module: None })
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = "
.type ta = B!Count(Int).end
.type tb = A?Count(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    halt
.end
";

    fn module() -> Module {
        canon_bytecode::assemble(PROGRAM).expect("assembles")
    }

    fn sym(m: &Module, s: &str) -> SymId {
        m.find_sym(s).expect("interned")
    }

    #[test]
    fn describe_names_labels_types_roles_and_sessions() {
        let m = module();
        let ep = Endpoint { sid: 3 << 32 | 2, role: 0 };
        let f = Fault::PayloadKindMismatch {
            ep,
            label: sym(&m, "Count"),
            expected: sym(&m, "Int"),
            found: canon_types::ValueKind::Str,
        };
        assert_eq!(f.describe(&m), "endpoint s2:A: payload of Count is a Str, its type says Int");
        let raw = format!("endpoint s{}.r0: payload of SymId(", ep.sid);
        assert!(f.to_string().starts_with(&raw), "{f}");
        let f = Fault::BufferFull { ep: Endpoint { sid: 0, role: 0 }, to: 1, capacity: 4 };
        assert_eq!(f.describe(&m), "endpoint s0:A: buffer to B is full (4 messages)");
        assert_eq!(f.to_string(), "endpoint s0.r0: buffer to role 1 is full (4 messages)");
        let f =
            Fault::CloseBeforeEnd { ep: Endpoint { sid: 0, role: 1 }, expected: Expected::Recv { peer: sym(&m, "A") } };
        assert_eq!(f.describe(&m), "endpoint s0:B closed while its type still expects a receive from A");
    }

    #[test]
    fn roles_the_opens_disagree_on_or_lack_are_shown_by_index() {
        let two_opens = PROGRAM.replace(
            "    halt",
            "    open roles [B, A], types [tb, ta], handlers [default, default], dsts [r0, r1]\n    halt",
        );
        let m = canon_bytecode::assemble(&two_opens).expect("assembles");
        let f = Fault::EndpointClosed { ep: Endpoint { sid: 1, role: 1 } };
        assert_eq!(f.describe(&m), "endpoint s1.r1 is already closed");
        let f = Fault::EndpointClosed { ep: Endpoint { sid: 1, role: 5 } };
        assert_eq!(f.describe(&module()), "endpoint s1.r5 is already closed");
    }
}
