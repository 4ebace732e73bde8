use canon_bytecode::{Backpressure, BufferConfig, BufferMode};
use canon_types::{GlobalType, Payload, Span};

use super::{MAX_GLOBAL_NODES, count_nodes};
use crate::{Choreography, load};

fn ok(src: &str, entry: Option<&str>) -> Choreography {
    match load("t.canon", src, entry) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.render()),
    }
}

fn codes(src: &str) -> Vec<u16> {
    match load("t.canon", src, None) {
        Ok(_) => Vec::new(),
        Err(e) => e.items.iter().map(|d| d.code).collect(),
    }
}

/// A compact rendering of a global type without spans, for assertions.
fn show(g: &GlobalType) -> String {
    match g {
        GlobalType::End => "end".to_owned(),
        GlobalType::Message { from, to, label, payload, timeout_ticks, cont, .. } => {
            let tys: Vec<String> = payload.iter().map(|p: &Payload| p.to_string()).collect();
            let t = timeout_ticks.map_or_else(String::new, |t| format!("@{t}"));
            format!("{from}->{to}:{label}({}){t}.{}", tys.join(","), show(cont))
        }
        GlobalType::Invoke { role, effect, cont, .. } => format!("{role}!{effect}.{}", show(cont)),
        GlobalType::Choice { at, branches, .. } => {
            let bs: Vec<String> = branches.iter().map(show).collect();
            format!("{at}{{{}}}", bs.join(" | "))
        }
        GlobalType::Rec { var, body, .. } => format!("mu {var}.{}", show(body)),
        GlobalType::Continue { var, .. } => var.clone(),
    }
}

fn body(c: &Choreography) -> String {
    show(&c.entry().protocol.body)
}

#[test]
fn multicast_payloads_timeouts_and_invoke() {
    let c = ok(
        "global protocol P(role S, role A, role B) {
            Quote(Int) from S to A, B within 5; (x: int, foo.Bar) from A to B; invoke Pay at S; }",
        None,
    );
    assert_eq!(body(&c), "S->A:Quote(Int)@5.S->B:Quote(Int)@5.A->B:(x: int,foo.Bar).S!Pay.end");
    assert_eq!(c.entry().protocol.roles, ["S", "A", "B"]);
}

#[test]
fn statements_after_choice_and_rec_are_copied_into_their_ends() {
    let c = ok(
        "global protocol P(role A, role B) {
            choice at A { X() from A to B; } or { Y() from A to B; }
            rec L { choice at A { M() from A to B; continue L; } or { N() from A to B; } }
            Z() from B to A;
        }",
        None,
    );
    let tail = "mu L.A{A->B:M().L | A->B:N().B->A:Z().end}";
    assert_eq!(body(&c), format!("A{{A->B:X().{tail} | A->B:Y().{tail}}}"));
}

#[test]
fn do_is_inlined_with_roles_substituted() {
    let c = ok(
        "module m.n; import a.b; type <java> \"J\" from \"j\" as T;
        global protocol Main(role C, role S) { Hello() from C to S; do Sub(S, C); Bye() from C to S; }
        aux global protocol Sub(role A, role B) { Ask(T) from A to B; }",
        None,
    );
    assert_eq!(body(&c), "C->S:Hello().S->C:Ask(T).C->S:Bye().end");
    assert_eq!((c.module.as_deref(), c.imports.as_slice(), c.types.len()), (Some("m.n"), &["a.b".to_owned()][..], 1));
    assert_eq!(c.protocols.len(), 2);
    assert_eq!(show(&c.get("Sub").unwrap().protocol.body), "A->B:Ask(T).end");
}

#[test]
fn recursion_by_call_becomes_rec_and_continue() {
    let c = ok(
        "global protocol Main(role A, role B) { do Loop(A, B); Done() from A to B; }
        aux global protocol Loop(role X, role Y) {
            choice at X { More() from X to Y; do Loop(X, Y); } or { Stop() from X to Y; }
        }",
        None,
    );
    assert_eq!(body(&c), "mu Loop.A{A->B:More().Loop | A->B:Stop().A->B:Done().end}");
    let c = ok("global protocol P(role A, role B) { Ping() from A to B; do P(A, B); }", None);
    assert_eq!(body(&c), "mu P.A->B:Ping().P");
}

#[test]
fn mutual_recursion_with_swapped_roles_terminates() {
    let c = ok("global protocol P(role A, role B) { Ping() from A to B; do P(B, A); }", None);
    assert_eq!(body(&c), "mu P.A->B:Ping().B->A:Ping().P");
}

#[test]
fn non_tail_recursive_do_is_rejected() {
    let src = "global protocol P(role A, role B) {
        choice at A { X() from A to B; do P(A, B); Y() from A to B; } or { Z() from A to B; } }";
    assert_eq!(codes(src), [6018]);
    let src = "global protocol P(role A, role B) { do Q(A, B); W() from A to B; }
        aux global protocol Q(role A, role B) { choice at A { X() from A to B; do P(A, B); } or { Z() from A to B; } }";
    assert_eq!(codes(src), [6018, 6018]);
}

#[test]
fn rec_labels_are_renamed_to_avoid_capture() {
    let c = ok(
        "global protocol P(role A, role B) {
            rec X { rec X { choice at A { M() from A to B; continue X; } or { N() from A to B; } }
                    O() from A to B; continue X; } }",
        None,
    );
    assert_eq!(body(&c), "mu X.mu X_2.A{A->B:M().X_2 | A->B:N().A->B:O().X}");
}

#[test]
fn buffers_are_resolved_to_configs() {
    let c = ok(
        "global protocol P(role A, role B) { buffer A -> B fifo resize 2 max 8; M() from A to B;
            buffer B -> A latest error 1; N() from B to A; }",
        None,
    );
    let b = &c.entry().buffers;
    assert_eq!((b[0].from.as_str(), b[0].to.as_str()), ("A", "B"));
    let want = BufferConfig { mode: BufferMode::Fifo, policy: Backpressure::Resize { max_capacity: 8 }, capacity: 2 };
    assert_eq!(b[0].config, want);
    assert_eq!(b[1].config.policy, Backpressure::Error);
}

#[test]
fn entry_protocol_selection() {
    let two = "global protocol P(role A, role B) { M() from A to B; }
               global protocol Q(role A, role B) { M() from A to B; }";
    assert_eq!(codes(two), [6012]);
    assert_eq!(ok(two, Some("Q")).entry().protocol.name, "Q");
    assert!(load("t", two, Some("R")).unwrap_err().render().contains("no protocol named `R`"));
    assert_eq!(codes("aux global protocol P(role A, role B) { M() from A to B; }"), [6012]);
    assert_eq!(codes("module x;"), [6012]);
    let aux_and_main = "aux global protocol P(role A, role B) { M() from A to B; }
                        global protocol Q(role A, role B) { do P(A, B); }";
    assert_eq!(ok(aux_and_main, None).entry().protocol.name, "Q");
}

#[test]
fn each_check_has_its_code() {
    let p = |body: &str| format!("global protocol P(role A, role B) {{ {body} }}");
    assert_eq!(codes(&p("M() from A to Selr;")), [6003]);
    assert_eq!(codes("global protocol P(role A, role A) { M() from A to A; }"), [6004, 6005]);
    assert_eq!(codes(&p("M() from A to A; N() from A to B;")), [6005]);
    assert_eq!(codes(&p("M() from A to B, B;")), [6004]);
    assert_eq!(codes(&p("rec L { M() from A to B; continue K; }")), [6006]);
    assert_eq!(codes(&p("M() from A to B; do Nope(A, B);")), [6007]);
    assert_eq!(codes(&p("M() from A to B; do P(A);")), [6008]);
    assert_eq!(codes(&p("M() from A to B; do P(A, A);")), [6004]);
    assert_eq!(codes(&(p("M() from A to B;") + &p("M() from A to B;"))), [6009]);
    assert_eq!(codes("global protocol P(role A, role B, role C) { M() from A to B; }"), [6010]);
    assert_eq!(codes(&p("choice at A { M() from A to B; } or { }")), [6011]);
    assert_eq!(codes(&p("rec L { M() from A to B; continue L; N() from A to B; }")), [6019]);
    assert_eq!(codes(&p("buffer A -> B fifo block 1; buffer A -> B fifo block 2; M() from A to B;")), [6015]);
    assert_eq!(codes(&p("buffer A -> B fifo block 0; M() from A to B;")), [6016]);
    assert_eq!(codes(&p("buffer A -> B fifo resize 4 max 2; M() from A to B;")), [6016]);
    assert_eq!(codes(&p("buffer A -> A fifo block 1; buffer A -> C fifo block 1; M() from A to B;")), [6005, 6003]);
    assert_eq!(codes(&p("invoke E at C; M() from B to A;")), [6003]);
    assert_eq!(codes(&p("choice at C { M() from A to B; }")), [6003]);
}

#[test]
fn expansion_is_bounded() {
    // Ten sequential choices double the continuation ten times.
    let choice = "choice at A { M() from A to B; } or { N() from A to B; } or { O() from A to B; }";
    let src = format!("global protocol P(role A, role B) {{ {} }}", choice.repeat(10));
    let e = load("t", &src, None).unwrap_err();
    assert_eq!(e.items.iter().map(|d| d.code).collect::<Vec<_>>(), [6017]);
    let src = format!("global protocol P(role A, role B) {{ {} }}", choice.repeat(5));
    assert!(count_nodes(&ok(&src, None).entry().protocol.body) <= MAX_GLOBAL_NODES);
    // A long chain of non-recursive calls hits the depth limit.
    let mut chain = String::new();
    for i in 0..40 {
        chain += &format!("aux global protocol P{i}(role A, role B) {{ M() from A to B; do P{}(A, B); }}\n", i + 1);
    }
    chain += "aux global protocol P40(role A, role B) { M() from A to B; }\n";
    chain += "global protocol Main(role A, role B) { do P0(A, B); }";
    let e = load("t", &chain, None).unwrap_err();
    assert!(e.items.iter().all(|d| d.code == 6017), "{}", e.render());
}

#[test]
fn a_large_flat_protocol_is_within_limits() {
    let src = format!("global protocol P(role A, role B) {{ {} }}", "M() from A to B; ".repeat(MAX_GLOBAL_NODES - 1));
    let c = ok(&src, None);
    assert_eq!(count_nodes(&c.entry().protocol.body), MAX_GLOBAL_NODES);
    let src = format!("global protocol P(role A, role B) {{ {} }}", "M() from A to B; ".repeat(MAX_GLOBAL_NODES + 1));
    assert_eq!(codes(&src), [6017]);
}

#[test]
fn spans_point_at_the_statement() {
    let src = "global protocol P(role A, role B) { M() from A to B; }";
    let c = ok(src, None);
    let GlobalType::Message { span, .. } = &c.entry().protocol.body else { panic!("message") };
    assert_eq!(&src[span.start as usize..span.end as usize], "M() from A to B;");
    assert_ne!(*span, Span::default());
}

#[test]
fn a_statement_after_a_do_of_a_protocol_that_never_ends_is_unreachable() {
    let never = "aux global protocol Serve(role C, role S) { Req() from C to S; do Serve(C, S); }";
    let src = format!("global protocol P(role C, role S) {{ do Serve(C, S); Bye() from C to S; }}\n{never}");
    assert_eq!(codes(&src), [6022]);
    // Through a chain of `do`s and inside a `rec`: still never ends.
    let src = format!(
        "global protocol P(role C, role S) {{ rec L {{ do Mid(C, S); }} Bye() from C to S; }}\n\
         aux global protocol Mid(role C, role S) {{ Hi() from C to S; do Serve(C, S); }}\n{never}"
    );
    assert_eq!(codes(&src), [6022]);
    // A protocol with an exiting branch may end: what follows is reachable.
    let src = "global protocol P(role C, role S) { do Serve(C, S); Bye() from C to S; }
        aux global protocol Serve(role C, role S) {
          choice at C { Req() from C to S; do Serve(C, S); } or { Stop() from C to S; } }";
    assert_eq!(codes(src), Vec::<u16>::new());
    // Mutual recursion with no exit never ends either.
    let src = "global protocol P(role C, role S) { do Ping(C, S); Bye() from C to S; }
        aux global protocol Ping(role C, role S) { A() from C to S; do Pong(C, S); }
        aux global protocol Pong(role C, role S) { B() from S to C; do Ping(C, S); }";
    assert_eq!(codes(src), [6022]);
}
