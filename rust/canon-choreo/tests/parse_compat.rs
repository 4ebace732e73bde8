//! Protocols written for Scribble and nuscr load unchanged.

use canon_types::GlobalType;

fn load(src: &str) -> canon_choreo::Choreography {
    match canon_choreo::load("compat.scr", src, None) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.render()),
    }
}

/// The labels along the first branch of every choice, in order.
fn first_path(g: &GlobalType) -> Vec<String> {
    let mut out = Vec::new();
    let mut g = g;
    loop {
        match g {
            GlobalType::Message { from, to, label, cont, .. } => {
                out.push(format!("{from}->{to}:{label}"));
                g = cont;
            }
            GlobalType::Invoke { cont, .. } => g = cont,
            GlobalType::Choice { branches, .. } => match branches.first() {
                Some(b) => g = b,
                None => return out,
            },
            GlobalType::Rec { body, .. } => g = body,
            GlobalType::End | GlobalType::Continue { .. } => return out,
        }
    }
}

#[test]
fn scribble_travel_agency_with_recursive_do() {
    let src = r#"
module examples.Travel;

type <xsd> "{http://www.acme.com/types}Query" from "Acme.xsd" as Query;
type <java> "java.lang.Integer" from "rt.jar" as Int;

/* Booking: the client asks the agency for quotes until it decides. */
global protocol Booking(role C, role A, role S) {
  choice at C {
    Query(Query) from C to A;
    Quote(Int) from A to C;
    Dummy() from A to S;   // keeps S informed
    do Booking(C, A, S);
  } or {
    choice at C {
      Yes() from C to A;
      Yes() from A to S;
      Payment(String) from C to S;
      Ack() from S to C;
    } or {
      No() from C to A;
      No() from A to S;
    }
    Bye() from C to A;
  }
}
"#;
    let c = load(src);
    assert_eq!(c.module.as_deref(), Some("examples.Travel"));
    let body = &c.entry().protocol.body;
    assert!(matches!(body, GlobalType::Rec { var, .. } if var == "Booking"));
    assert_eq!(first_path(body), ["C->A:Query", "A->C:Quote", "A->S:Dummy"]);
}

#[test]
fn nuscr_adder_with_named_payloads_and_pragmas() {
    let src = r#"(*# ShowPragmas #*)
(* An adder service (nuscr examples) *)
global protocol Adder(role C, role S) {
  rec Loop {
    choice at C {
      add(x: int, y: int) from C to S;
      res(z: int) from S to C;
      continue Loop;
    } or {
      bye() from C to S;
      bye() from S to C;
    }
  }
}
"#;
    let c = load(src);
    let body = &c.entry().protocol.body;
    assert_eq!(first_path(body), ["C->S:add", "S->C:res"]);
    let GlobalType::Rec { body: inner, .. } = body else { panic!("rec") };
    let GlobalType::Choice { branches, .. } = inner.as_ref() else { panic!("choice") };
    let GlobalType::Message { payload, .. } = &branches[0] else { panic!("message") };
    assert_eq!(payload.iter().map(ToString::to_string).collect::<Vec<_>>(), ["x: int", "y: int"]);
}

#[test]
fn scribble_two_buyer_with_subprotocol_and_multicast() {
    let src = r#"
module scribble.TwoBuyer;
import scribble.Common;
import scribble.Util as U;

global protocol TwoBuyer(role A, role B, role S) {
  title(String) from A to S;
  quote(Int) from S to A, B;
  share(Int) from A to B;
  do TwoBuyerChoice(B, S, A);
}

aux global protocol TwoBuyerChoice(role B, role S, role A) {
  choice at B {
    ok(String) from B to S, A;
    date(String) from S to B;
  } or {
    quit() from B to S, A;
  }
}
"#;
    let c = load(src);
    assert_eq!(c.imports, ["scribble.Common", "scribble.Util"]);
    let path = first_path(&c.entry().protocol.body);
    assert_eq!(path, ["A->S:title", "S->A:quote", "S->B:quote", "A->B:share", "B->S:ok", "B->A:ok", "S->B:date"]);
}

#[test]
fn canon_extensions_alongside_the_core() {
    let src = "global protocol Job(role W, role C) {
      buffer W -> C latest drop 1;
      Result(Int) from W to C within 5;
      invoke Charge at C;
    }";
    let c = load(src);
    let GlobalType::Message { timeout_ticks, cont, .. } = &c.entry().protocol.body else { panic!("message") };
    assert_eq!(*timeout_ticks, Some(5));
    assert!(matches!(cont.as_ref(), GlobalType::Invoke { role, effect, .. } if role == "C" && effect == "Charge"));
    assert_eq!(c.entry().buffers.len(), 1);
}
