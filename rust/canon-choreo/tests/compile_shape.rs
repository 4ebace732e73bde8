//! The shape of compiled modules: entry procedure, role procedures, and the
//! instruction sequence each local construct lowers to; every module verifies.

use canon_bytecode::{Instr, Param};
use canon_choreo::{CompileError, compile_choreography, load};
use canon_types::ErrorCode;

#[path = "common/compiled.rs"]
mod compiled;

use compiled::{compile, listing};

const TWO_BUYER: &str = "
global protocol TwoBuyer(role Buyer1, role Buyer2, role Seller) {
  Title(String) from Buyer1 to Seller;
  Quote(Int) from Seller to Buyer1, Buyer2;
  Share(Int) from Buyer1 to Buyer2;
  choice at Buyer2 {
    Accept(String) from Buyer2 to Seller;
    Date(String) from Seller to Buyer2;
  } or {
    Reject() from Buyer2 to Seller;
  }
}";

#[test]
fn entry_opens_every_role_and_spawns_one_procedure_each() {
    let m = compile(TWO_BUYER);
    let main = &m.procs[m.entry as usize];
    assert_eq!(m.sym(main.name), "main");
    let Instr::Open { roles, types, handlers, dsts, buffers } = &main.code[0] else { panic!("open first") };
    let roles: Vec<&str> = roles.iter().map(|r| m.sym(*r)).collect();
    assert_eq!(roles, ["Buyer1", "Buyer2", "Seller"]);
    assert!(handlers.iter().all(|h| m.sym(*h) == "default"));
    assert_eq!(dsts, &[0, 1, 2]);
    assert!(buffers.is_empty());
    for (i, ty) in types.iter().enumerate() {
        assert_eq!(main.code[i + 1], Instr::Spawn { proc: i as u32 + 1, args: vec![i as u16] });
        assert_eq!(m.procs[i + 1].params, vec![Param::Endpoint(*ty)]);
    }
    assert_eq!(main.code.last(), Some(&Instr::Halt));
    let lifted = m.types.lift(types[0], &|s| m.sym(s).to_owned()).unwrap();
    assert_eq!(lifted.to_string(), "Seller!Title(String).Seller?Quote(Int).Buyer2!Share(Int).end");
}

#[test]
fn sends_receives_choices_lower_to_the_documented_sequences() {
    let m = compile(TWO_BUYER);
    assert_eq!(
        listing(&m, "role_Buyer2"),
        [
            "recv Quote",
            "recv Share",
            "select Accept->3 Reject->8",
            "produce Accept",
            "send Accept",
            "recv Date",
            "close",
            "halt",
            "produce Reject",
            "send Reject",
            "close",
            "halt",
        ]
    );
    // The multicast `Quote(Int) from Seller to Buyer1, Buyer2;` produces one
    // payload and sends it to both buyers.
    assert_eq!(
        listing(&m, "role_Seller")[..5],
        ["recv Title", "produce Quote", "send Quote", "send Quote", "offer Accept->5 Reject->9"]
    );
}

#[test]
fn loops_invokes_and_deadlines() {
    let m = compile(
        "global protocol Stream(role P, role C) {
           rec Loop {
             choice at P {
               Data(Int) from P to C within 5;
               invoke Store at C;
               continue Loop;
             } or {
               Stop() from P to C within 5;
             }
           }
         }",
    );
    assert_eq!(
        listing(&m, "role_C"),
        ["recv_timeout Data->1 Stop->3 within 5 else 5", "invoke Store", "jmp 0", "close", "halt", "cancel", "halt",]
    );
    assert_eq!(listing(&m, "role_P")[0], "select Data->1 Stop->4");
}

#[test]
fn buffer_declarations_become_edge_overrides() {
    let m = compile(
        "global protocol B(role A, role Z) {
           buffer Z -> A latest drop 1;
           X(Int) from A to Z;
           Y(Int) from Z to A;
         }",
    );
    let Instr::Open { buffers, .. } = &m.procs[0].code[0] else { panic!("open first") };
    assert_eq!(buffers.len(), 1);
    assert_eq!((buffers[0].from, buffers[0].to, buffers[0].config.capacity), (1, 0, 1));
}

#[test]
fn projection_errors_surface_with_their_codes() {
    let choreo = load(
        "bad.canon",
        "global protocol Bad(role A, role B, role C) {
           choice at A { X() from A to B; Go() from B to C; } or { Y() from A to B; }
         }",
        None,
    )
    .unwrap();
    let err = compile_choreography(&choreo).unwrap_err();
    assert!(matches!(err, CompileError::Projection(_)), "{err}");
    assert_eq!(err.code(), 6105);
}
