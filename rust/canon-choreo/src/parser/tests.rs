use canon_bytecode::{Backpressure, BufferMode};
use canon_types::Span;

use crate::ast::{Stmt, TypeDeclKind};
use crate::parse;

const TWO_BUYER: &str = r#"module shop.TwoBuyer;
import foo.Bar;
import foo.Baz as Q;
type <java> "java.lang.String" from "rt.jar" as String;
data <ocaml> "int" from "stdlib" as int;
(*# NestedProtocols #*)
explicit global protocol TwoBuyer(role Buyer1, role Buyer2, role Seller) {
  buffer Buyer1 -> Seller fifo block 4;
  Title(String) from Buyer1 to Seller;
  Quote(Int) from Seller to Buyer1, Buyer2 within 5;
  Share(x: int, y: foo.Bar) from Buyer1 to Buyer2;
  (Int) from Buyer1 to Buyer2;
  choice at Buyer2 {
    Accept(String) from Buyer2 to Seller;
  } or {
    Reject() from Buyer2 to Seller;
  }
  rec Loop { Ping() from Buyer1 to Seller; continue Loop; }
  invoke Charge at Seller;
  buffer Seller -> Buyer1 latest drop 1;
  do Sub(Buyer1, Seller);
}
aux global protocol Sub(role A, role B) { buffer A -> B fifo resize 2 max 8; Bye() from A to B; }
"#;

#[test]
fn parses_every_construct() {
    let f = parse("t.canon", TWO_BUYER).unwrap();
    assert_eq!(f.module.as_ref().unwrap().text(), "shop.TwoBuyer");
    assert_eq!(f.imports.len(), 2);
    assert_eq!(f.imports[1].alias.as_ref().unwrap().name, "Q");
    assert_eq!(f.types.len(), 2);
    assert_eq!((f.types[0].kind, f.types[0].alias.name.as_str()), (TypeDeclKind::Type, "String"));
    assert_eq!((f.types[1].kind, f.types[1].extern_name.as_str()), (TypeDeclKind::Data, "int"));
    let [p, sub] = f.protocols.as_slice() else { panic!("two protocols") };
    assert!(p.explicit && !p.aux && sub.aux);
    let roles: Vec<&str> = p.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(roles, ["Buyer1", "Buyer2", "Seller"]);
    assert_eq!(p.buffers.len(), 2);
    assert_eq!(p.buffers[1].mode, BufferMode::LatestValue);
    assert_eq!(sub.buffers[0].policy, Backpressure::Resize { max_capacity: 8 });
    assert_eq!(sub.buffers[0].capacity, 2);
    assert_eq!(p.body.stmts.len(), 8);
    let Stmt::Message(q) = &p.body.stmts[1] else { panic!("message") };
    assert_eq!(q.to.len(), 2);
    assert_eq!(q.within.unwrap().ticks, 5);
    let Stmt::Message(share) = &p.body.stmts[2] else { panic!("message") };
    assert_eq!(share.payload[0].name.as_ref().unwrap().name, "x");
    assert_eq!(share.payload[1].ty.text(), "foo.Bar");
    let Stmt::Message(empty) = &p.body.stmts[3] else { panic!("message") };
    assert!(empty.label.is_none());
    assert!(matches!(&p.body.stmts[4], Stmt::Choice(c) if c.branches.len() == 2));
    assert!(matches!(&p.body.stmts[5], Stmt::Rec(r) if r.label.name == "Loop"));
    assert!(matches!(&p.body.stmts[6], Stmt::Invoke(i) if i.effect.name == "Charge"));
    assert!(matches!(&p.body.stmts[7], Stmt::Do(d) if d.args.len() == 2));
}

#[test]
fn spans_cover_the_source_text() {
    let f = parse("t.canon", TWO_BUYER).unwrap();
    let p = &f.protocols[0];
    let text = |s: Span| &TWO_BUYER[s.start as usize..s.end as usize];
    assert_eq!(text(p.name.span), "TwoBuyer");
    assert_eq!(text(p.body.stmts[0].span()), "Title(String) from Buyer1 to Seller;");
    assert_eq!(text(p.buffers[0].span), "buffer Buyer1 -> Seller fifo block 4;");
    assert!(text(p.span).starts_with("explicit global protocol TwoBuyer"));
    assert!(text(p.span).ends_with('}'));
    let Stmt::Message(q) = &p.body.stmts[1] else { panic!("message") };
    assert_eq!(text(q.within.unwrap().span), "within 5");
}

#[test]
fn extension_keywords_are_usable_as_names() {
    let src = "global protocol P(role buffer, role within, role invoke) {
        invoke(Int) from buffer to within within 3;
        choice(rec) from within to invoke;
        invoke do at buffer;
        do do(buffer, within, invoke);
    }";
    let f = parse("t", src).unwrap();
    let stmts = &f.protocols[0].body.stmts;
    assert!(matches!(&stmts[0], Stmt::Message(m) if m.label.as_ref().unwrap().name == "invoke" && m.within.is_some()));
    assert!(matches!(&stmts[1], Stmt::Message(m) if m.payload[0].ty.text() == "rec"));
    assert!(matches!(&stmts[2], Stmt::Invoke(i) if i.effect.name == "do"));
    assert!(matches!(&stmts[3], Stmt::Do(d) if d.protocol.name == "do"));
}

#[test]
fn reports_several_errors_and_recovers() {
    let src = "global protocol P(role A, role B) {
        M(Int) from A B;
        N() from A to B;
        O() to B;
        choice at A { X() from A to B } or { Y() from A to B; }
    }
    global protocol Q(role A) { ; }";
    let e = parse("t.canon", src).unwrap_err();
    let locs: Vec<(usize, usize)> = e.items.iter().map(|d| e.line_col(d.span.start)).collect();
    assert_eq!(locs, vec![(2, 23), (4, 13), (5, 38), (7, 33)], "{}", e.render());
    // A missing `;` is reported right after the statement that lacks it.
    assert_eq!(e.items[2].message, "expected `;` after this statement, found `}`");
    assert!(e.items.iter().all(|d| d.code == 6001));
    assert_eq!(e.items[0].message, "expected `to`, found `B`");
}

#[test]
fn misplaced_buffer_and_bad_numbers() {
    let src = "global protocol P(role A, role B) {
        rec L { buffer A -> B fifo block 1; M() from A to B; continue L; }
        buffer A -> B fifo block 99999999999;
        buffer A -> B fifo sideways 1;
        M() from A to B within 4294967296;
    }";
    let e = parse("t", src).unwrap_err();
    let codes: Vec<u16> = e.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![6020, 6002, 6001, 6002], "{}", e.render());
}

#[test]
fn nesting_is_capped_without_deep_recursion() {
    let depth = 10_000;
    let src = format!("global protocol P(role A, role B) {{ {} {} }}", "rec X {".repeat(depth), "}".repeat(depth));
    let e = parse("t", &src).unwrap_err();
    assert_eq!(e.items.len(), 1, "{}", e.render());
    assert_eq!(e.items[0].code, 6013);
    let ok = format!("global protocol P(role A, role B) {{ {} {} }}", "rec X {".repeat(60), "}".repeat(60));
    assert!(parse("t", &ok).is_ok());
}

#[test]
fn diagnostics_are_capped() {
    let src = "global protocol P(role A) {".to_owned() + &"@ ".repeat(500) + "}";
    let e = parse("t", &src).unwrap_err();
    assert!(e.items.len() >= super::MAX_DIAGNOSTICS, "{}", e.items.len());
    let src = "global protocol P(role A) {".to_owned() + &"x ; ".repeat(500) + "}";
    let e = parse("t", &src).unwrap_err();
    assert_eq!(e.items.len(), super::MAX_DIAGNOSTICS);
}

#[test]
fn top_level_garbage_recovers_at_the_next_declaration() {
    let src = "protocol P(role A) {}\nglobal protocol Q(role A, role B) { M() from A to B; }\nglobal Q";
    let e = parse("t", src).unwrap_err();
    let locs: Vec<(usize, usize)> = e.items.iter().map(|d| e.line_col(d.span.start)).collect();
    assert_eq!(locs, vec![(1, 1), (3, 8)], "{}", e.render());
}

#[test]
fn a_missing_semicolon_is_reported_at_the_end_of_its_statement() {
    let src = "global protocol P(role A, role B) {\n  Hi() from A to B\n  Bye() from B to A;\n}\n";
    let e = parse("t.canon", src).unwrap_err();
    assert_eq!(e.line_col(e.items[0].span.start), (2, 19), "{}", e.render());
    assert_eq!(e.items[0].help, vec!["add `;` here".to_owned()]);
}

#[test]
fn an_unclosed_brace_is_reported_at_the_brace() {
    let src = "global protocol P(role A, role B) {\n  Hi() from A to B;\n  choice at A {\n    X() from A to B;\n  }\n";
    let e = parse("t.canon", src).unwrap_err();
    assert_eq!(e.items.len(), 1, "{}", e.render());
    assert_eq!(e.line_col(e.items[0].span.start), (1, 35), "{}", e.render());
    assert!(e.items[0].message.starts_with("unclosed `{`"), "{}", e.render());
}

#[test]
fn a_misspelt_keyword_gets_a_suggestion() {
    let src = "global protocol P(role A, role B) {\n  chioce at A { X() from A to B; } or { Y() from A to B; }\n}\n";
    let e = parse("t.canon", src).unwrap_err();
    assert!(e.render().contains("did you mean `choice`?"), "{}", e.render());
}
