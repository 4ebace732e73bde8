//! Valid modules verify, and `VerifiedProgram` exposes what the machine needs.

mod verify_common;

use canon_bytecode::{Instr, Module, Param, VerifiedProgram, verify};
use canon_types::{ErrorCode, TypeId, TypeNode};
use verify_common::*;

#[test]
fn every_example_module_verifies() {
    for (name, m) in valid_modules() {
        if let Err(e) = verify(m) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn verified_program_keeps_module_digest_and_resolved_table() {
    let m = offer_loop();
    let digest = m.digest();
    let program = verify(m.clone()).unwrap();
    assert_eq!(program.module(), &m);
    assert_eq!(program.digest(), digest);
    // mu X (0) resolves to its body (1); a var (6) to the body of its binder (5).
    assert_eq!(program.resolved(TypeId(0)), TypeId(1));
    assert_eq!(program.resolved(TypeId(6)), TypeId(5));
    assert_eq!(program.resolved(TypeId(3)), TypeId(3));
    assert_eq!(program.resolved(TypeId(999)), TypeId(999));
    assert_eq!(program.into_module(), m);
}

#[test]
fn verified_program_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<VerifiedProgram>();
}

/// A received payload is `Unknown`: session instructions on it are left to the
/// machine (delegation), and it may be closed.
#[test]
fn received_payload_may_be_used_as_an_endpoint() {
    let mut m = ping_pong();
    let ping = m.find_sym("Ping").unwrap();
    m.procs[2].code.insert(1, Instr::Cancel { ep: 1 });
    assert!(verify(m.clone()).is_ok(), "cancel of a received payload");
    m.procs[2].code[1] = Instr::Send { ep: 1, label: ping, src: 1 };
    assert!(verify(m).is_ok(), "send on a received payload");
}

/// `call` with an endpoint: the callee must finish it, and the caller's
/// register is `Unknown` afterwards.
#[test]
fn call_passes_an_endpoint_and_leaves_it_unknown() {
    let mut m = ping_pong();
    // role_a calls a helper that closes the endpoint at end, then cancels its copy.
    let helper = m.procs.len() as u32;
    add_proc(&mut m, "finish", vec![Param::Endpoint(TypeId(2))], 1, vec![Instr::Close { ep: 0 }, Instr::Ret]);
    m.procs[1].code[3] = Instr::Call { proc: helper, args: vec![0] };
    assert!(verify(m.clone()).is_ok());
    m.procs[1].code.insert(4, Instr::Cancel { ep: 0 });
    assert!(verify(m).is_ok(), "the register is Unknown after the call, so cancel is left to the machine");
}

/// `mov` moves an endpoint: the new register carries the type.
#[test]
fn mov_transfers_the_endpoint_state() {
    let mut m = ping_pong();
    m.procs[1].reg_count = 4;
    m.procs[1].code.insert(0, Instr::Mov { dst: 3, src: 0 });
    m.procs[1].code.insert(1, Instr::Mov { dst: 0, src: 3 });
    assert!(verify(m.clone()).is_ok());
    m.procs[1].code.remove(1);
    let e = verify_err(m);
    assert_eq!(variant(&e), "UseAfterMove", "{e}");
}

/// Structurally equal types at different ids may be passed to a typed parameter.
#[test]
fn spawn_accepts_a_structurally_equal_type() {
    let mut m = ping_pong();
    // A copy of role_a's type at ids 6, 7, 8.
    let copy: Vec<TypeNode> = m.types.nodes[0..3]
        .iter()
        .map(|n| match n {
            TypeNode::Send { peer, branches } => TypeNode::Send {
                peer: *peer,
                branches: branches
                    .iter()
                    .map(|b| canon_types::FlatBranch { cont: TypeId(b.cont.0 + 6), ..b.clone() })
                    .collect(),
            },
            TypeNode::Recv { peer, branches } => TypeNode::Recv {
                peer: *peer,
                branches: branches
                    .iter()
                    .map(|b| canon_types::FlatBranch { cont: TypeId(b.cont.0 + 6), ..b.clone() })
                    .collect(),
            },
            other => other.clone(),
        })
        .collect();
    m.types.nodes.extend(copy);
    m.procs[1].params[0] = Param::Endpoint(TypeId(6));
    assert!(verify(m).is_ok());
}

#[test]
fn errors_render_with_their_site() {
    let mut m = ping_pong();
    let Instr::Send { src, .. } = &mut m.procs[1].code[1] else { unreachable!() };
    *src = 9;
    let e = verify_err(m);
    assert_eq!(e.to_string(), "proc 1 (role_a) instr 1: register r9 out of range (reg_count 3)");
    assert_eq!(e.code(), 2010);
    let module_level = verify_err(Module { entry: 3, ..ping_pong() });
    assert_eq!(module_level.to_string(), "entry procedure 3 out of range (3 procedures)");
    assert!(module_level.location().is_none());
}
