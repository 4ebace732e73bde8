//! `check Effect.op(args) at Role;`: parsing, well-formedness, projection
//! (local to the checking role, invisible in local types) and lowering (a
//! `check` into `r2`, consumed right before the role's next protected step
//! on every path).

use canon_bytecode::Module;
use canon_choreo::ast::Stmt;
use canon_choreo::load;

#[path = "common/compiled.rs"]
mod compiled;

use compiled::{compile, listing};

fn reg_count(m: &Module, proc_name: &str) -> u16 {
    m.procs.iter().find(|p| m.sym(p.name) == proc_name).map(|p| p.reg_count).expect("proc")
}

fn error(src: &str) -> String {
    match load("test.canon", src, None) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(d) => d.render(),
    }
}

#[test]
fn the_check_form_parses_with_its_effect_operation_and_arguments() {
    let src = "global protocol P(role A, role B) { M(x: Int) from A to B; check Ledger.reserve(x, y) at B; N() from B to A; }";
    let file = canon_choreo::parse("p.canon", src).unwrap_or_else(|d| panic!("{}", d.render()));
    let Stmt::Invoke(inv) = &file.protocols[0].body.stmts[1] else { panic!("a check statement") };
    assert_eq!(inv.effect.name, "Ledger.reserve");
    assert_eq!(inv.at.name, "B");
    let args: Vec<&str> = inv.check.as_ref().expect("a check").iter().map(|a| a.name.as_str()).collect();
    assert_eq!(args, ["x", "y"]);
    // `check` stays an ordinary name elsewhere.
    let src = "global protocol P(role check, role B) { check(Int) from check to B; check from B to check; }";
    load("p.canon", src, None).unwrap_or_else(|d| panic!("{}", d.render()));
}

#[test]
fn the_check_is_local_to_its_role_and_consumed_before_its_next_send() {
    let m = compile(
        "global protocol Hold(role Buyer, role Seller, role Bank) {
           Order(amount: Int) from Buyer to Seller;
           check Ledger.reserve(amount) at Seller;
           Debit(amount: Int) from Buyer to Bank;
           Paid(amount: Int) from Bank to Seller;
           Ship(amount: Int) from Seller to Buyer;
         }",
    );
    // Receives between the check and the protected step keep the witness.
    assert_eq!(
        listing(&m, "role_Seller"),
        [
            "recv Order",
            "check r2, r0, Ledger.reserve, r1",
            "recv Paid",
            "consume r0, r2",
            "produce Ship",
            "send Ship",
            "close",
            "halt"
        ]
    );
    assert_eq!(reg_count(&m, "role_Seller"), 3);
    // The other roles' code does not mention it.
    assert_eq!(
        listing(&m, "role_Buyer"),
        ["produce Order", "send Order", "produce Debit", "send Debit", "recv Ship", "close", "halt"]
    );
    assert_eq!(reg_count(&m, "role_Buyer"), 2);
}

#[test]
fn every_path_consumes_the_witness_once_before_a_send_a_close_or_a_loop() {
    let m = compile(
        "global protocol P(role A, role B) {
           check Stock.hold() at A;
           rec L {
             check Stock.renew() at A;
             choice at B { More() from B to A; continue L; } or { Stop() from B to A; }
           }
         }",
    );
    assert_eq!(
        listing(&m, "role_A"),
        [
            "check r2, r0, Stock.hold, r1",
            // A loop is never entered with a witness outstanding.
            "consume r0, r2",
            "check r2, r0, Stock.renew, r1",
            "offer More->4 Stop->6",
            "consume r0, r2",
            "jmp 2",
            "consume r0, r2",
            "close",
            "halt"
        ]
    );
}

#[test]
fn a_second_check_consumes_the_first_and_a_choice_is_protected() {
    let m = compile(
        "global protocol P(role A, role B) {
           check Ledger.reserve() at A;
           check Ledger.lock() at A;
           choice at A { Yes() from A to B; } or { No() from A to B; }
         }",
    );
    assert_eq!(
        listing(&m, "role_A"),
        [
            "check r2, r0, Ledger.reserve, r1",
            "consume r0, r2",
            "check r2, r0, Ledger.lock, r1",
            "consume r0, r2",
            "select Yes->5 No->9",
            "produce Yes",
            "send Yes",
            "close",
            "halt",
            "produce No",
            "send No",
            "close",
            "halt"
        ]
    );
}

#[test]
fn the_check_names_a_declared_role_and_is_not_a_cancel_handler() {
    let e = error("global protocol P(role A, role B) { M() from A to B; check Ledger.reserve() at C; }");
    assert!(e.contains("error[E6003]"), "{e}");
    let e = error(
        "global protocol P(role A, role B) {
           M() from A to B within 3 on cancel { check Ledger.release() at B; }
         }",
    );
    assert!(e.contains("error[E6029]"), "{e}");
    let e = error("global protocol P(role A, role B) { M() from A to B; check Ledger.reserve at B; }");
    assert!(e.contains("error[E6001]"), "{e}");
}

/// The example of docs/language.md ("Readiness checks: `check`") is the
/// corpus file `tests/compat/accept/099_check_readiness.canon` (which the
/// runtime and CLI tests run), and compiles to the listing above.
#[test]
fn the_documented_example_is_the_one_the_tests_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/language.md")).expect("docs/language.md");
    let section = &doc[doc.find("### Readiness checks: `check`").expect("the section")..];
    let block = &section[section.find("```canon\n").expect("a canon block") + 9..];
    let example = &block[..block.find("```").expect("the block's end")];
    let corpus = std::fs::read_to_string(root.join("tests/compat/accept/099_check_readiness.canon")).expect("corpus");
    let protocol = &corpus[corpus.find("global protocol").expect("a protocol")..];
    assert_eq!(example, protocol);
    let m = compile(example);
    assert!(listing(&m, "role_Seller").contains(&"check r2, r0, Ledger.reserve, r1".to_owned()));
}
