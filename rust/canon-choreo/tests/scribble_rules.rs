//! The Scribble compatibility examples: each construct and rule that
//! protocols written for Scribble or nuscr rely on, checked end to end
//! (parse, elaborate, project, compile).

use std::path::{Path, PathBuf};

use canon_bytecode::Instr;
use canon_choreo::{Choreography, ImportPaths, check_protocols, load, load_for_check, load_with_imports};
use canon_types::{GlobalType, project_all};

fn ok(src: &str) -> Choreography {
    match load("t.scr", src, None) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.render()),
    }
}

/// Loads, then projects every role of the entry: the projections as text.
fn projections(src: &str) -> Vec<String> {
    let c = ok(src);
    match project_all(&c.entry().protocol) {
        Ok(all) => all.into_iter().map(|(r, t)| format!("{r}: {t}")).collect(),
        Err(e) => panic!("{e}"),
    }
}

/// The codes of every error `check_source` finds (load + projection).
fn error_codes(src: &str) -> Vec<u16> {
    match load("t.scr", src, None) {
        Err(e) => e.items.iter().map(|d| d.code).collect(),
        Ok(c) => canon_choreo::projection_diagnostics(&c).iter().map(|d| d.code).collect(),
    }
}

fn instructions(c: &Choreography, role: &str) -> Vec<String> {
    let m = canon_choreo::compile_choreography(c).expect("compiles");
    let name = format!("role_{role}");
    let p = m.procs.iter().find(|p| m.strings[p.name.0 as usize] == name).expect("role procedure");
    p.code
        .iter()
        .map(|i| match i {
            Instr::Produce { label, .. } => format!("produce {}", m.strings[label.0 as usize]),
            Instr::Send { label, .. } => format!("send {}", m.strings[label.0 as usize]),
            other => format!("{other:?}").split([' ', '{']).next().unwrap_or("").to_lowercase(),
        })
        .collect()
}

#[test]
fn multicast_produces_one_payload_and_sends_it_to_each_receiver_in_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/two_buyer.canon");
    let src = std::fs::read_to_string(path).expect("two_buyer fixture");
    let c = ok(&src);
    let seller = instructions(&c, "Seller");
    let quotes: Vec<&String> = seller.iter().filter(|i| i.ends_with(" Quote")).collect();
    assert_eq!(quotes, ["produce Quote", "send Quote", "send Quote"]);
    // In written order: Buyer1 first, then Buyer2.
    let mut g = &c.entry().protocol.body;
    let mut receivers = Vec::new();
    while let GlobalType::Message { label, to, cont, same_payload, .. } = g {
        if label == "Quote" {
            receivers.push((to.clone(), *same_payload));
        }
        g = cont;
    }
    assert_eq!(receivers, [("Buyer1".to_owned(), false), ("Buyer2".to_owned(), true)]);
}

#[test]
fn message_labels_may_be_numbers_words_starting_with_digits_or_empty() {
    let p = projections(
        "global protocol Smtp(role C, role S) {
           220() from S to C; 1(Int) from C to S; 2xx() from S to C; (String) from C to S;
         }",
    );
    assert_eq!(p, ["C: S?220().S!1(Int).S?2xx().S!(String).end", "S: C!220().C?1(Int).C!2xx().C?(String).end"]);
}

#[test]
fn do_with_a_qualified_name_and_parameters() {
    let c = ok("module a.b;
        type <java> \"java.lang.Integer\" from \"rt.jar\" as Int;
        global protocol Main(role A, role B) { do a.b.Relay<Hello(Int), Int>(A, B); }
        aux global protocol Relay<sig M, type T>(role X, role Y) { M from X to Y; Ack(T) from Y to X; }");
    let all = project_all(&c.entry().protocol).expect("projects");
    assert_eq!(all[0].1.to_string(), "B!Hello(Int).B?Ack(Int).end");
}

#[test]
fn check_reports_every_protocol_of_a_file_with_several() {
    let src = "global protocol First(role A, role B) { Ping() from A to B; }
               global protocol Second(role A, role B) { Pong() from B to A; }";
    assert_eq!(error_codes(src), [6012], "compile still needs a named entry");
    let c = load_for_check(Path::new("t.scr"), src, None, &ImportPaths::default()).expect("checks");
    let reports = check_protocols(&c);
    let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    assert!(reports.iter().all(|r| r.outcome.is_ok()));
}

#[test]
fn a_branch_may_begin_with_continue_to_a_loop_whose_body_begins_with_the_subject() {
    let p = projections(
        "global protocol Retry(role C, role S) {
           rec X {
             Try() from C to S;
             choice at S { Again() from S to C; choice at C { continue X; } or { Stop() from C to S; } }
             or { Done() from S to C; }
           }
         }",
    );
    assert_eq!(
        p,
        [
            "C: S!Try().mu X.S?{Again().S!{Try().X, Stop().end}, Done().end}",
            "S: C?Try().mu X.C!{Again().C?{Try().X, Stop().end}, Done().end}"
        ]
    );
}

#[test]
fn a_branch_may_be_a_nested_choice_at_the_same_subject() {
    let p = projections(
        "global protocol Nested(role A, role B) {
           choice at A { choice at A { X() from A to B; } or { Y() from A to B; } } or { Z() from A to B; }
         }",
    );
    assert_eq!(p, ["A: B!{X().end, Y().end, Z().end}", "B: A?{X().end, Y().end, Z().end}"]);
}

#[test]
fn travel_agency_whose_first_branch_opens_with_a_nested_choice_at_the_client() {
    let p = projections(
        "global protocol Booking(role C, role A, role S) {
           choice at C {
             choice at C { Query(String) from C to A; Quote(Int) from A to C; Dummy() from A to S; do Booking(C, A, S); }
             or { Yes() from C to A; Yes() from A to S; Payment(String) from C to S; Ack() from S to C; }
           } or { No() from C to A; No() from A to S; }
         }",
    );
    assert_eq!(p.len(), 3);
    assert!(p[0].starts_with("C: mu Booking.A!{Query(String)"), "{p:?}");
}

#[test]
fn an_import_across_two_files_is_resolved_under_the_module_root() {
    let dir = temp_dir("import");
    std::fs::create_dir_all(dir.join("shop/common")).expect("mkdir");
    std::fs::write(
        dir.join("shop/common/Pay.scr"),
        "module shop.common.Pay;\nglobal protocol Pay(role P, role Q) { Card(Int) from P to Q; Receipt() from Q to P; }\n",
    )
    .expect("write");
    let main = dir.join("shop/Main.scr");
    let src = "module shop.Main;\nimport shop.common.Pay as Pay;\n\
               global protocol Main(role B, role S) { Order() from B to S; do Pay.Pay(B, S); }\n";
    std::fs::write(&main, src).expect("write");
    let c = load_with_imports(&main, src, None, &ImportPaths::default()).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(c.entry().protocol.name, "Main");
    let names: Vec<&str> = c.protocols.iter().map(|p| p.protocol.name.as_str()).collect();
    assert_eq!(names, ["Main", "shop.common.Pay.Pay"]);
    let all = project_all(&c.entry().protocol).expect("projects");
    assert_eq!(all[0].1.to_string(), "S!Order().S!Card(Int).S?Receipt().end");
    // Without the file, the error names the module and every path tried.
    let other = dir.join("Lost.scr");
    let lost = "import gone.Away;\nglobal protocol L(role A, role B) { M() from A to B; }\n";
    let extra = ImportPaths::new(vec![dir.join("lib")]);
    let err = load_with_imports(&other, lost, None, &extra).expect_err("unresolved");
    assert_eq!(err.items[0].code, 6023);
    let text = err.render();
    for ext in ["scr", "nuscr", "canon"] {
        assert!(text.contains(&format!("gone/Away.{ext}")), "{text}");
    }
    assert!(text.contains(&dir.join("lib").display().to_string()), "{text}");
}

#[test]
fn explicit_protocols_exchange_messages_only_while_connected() {
    let p = projections(
        "explicit global protocol Session(role C, role S) {
           connect C to S; Login(String) from C to S; disconnect C and S;
           Hello() connect S to C; Bye() from C to S;
         }",
    );
    assert_eq!(p, ["C: S!().S!Login(String).S?Hello().S!Bye().end", "S: C?().C?Login(String).C!Hello().C?Bye().end"]);
    let not_connected = "explicit global protocol E(role C, role S) { Login() from C to S; }";
    assert_eq!(error_codes(not_connected), [6024]);
    let twice = "explicit global protocol E(role C, role S) { connect C to S; connect S to C; }";
    assert_eq!(error_codes(twice), [6025]);
    let implicit = "global protocol E(role C, role S) { connect C to S; }";
    assert_eq!(error_codes(implicit), [6026]);
}

#[test]
fn statements_after_a_loop_that_never_exits_are_unreachable() {
    let src = "global protocol Forever(role A, role B) {
      rec X { Tick() from A to B; continue X; }
      Never() from B to A;
    }";
    let err = load("t.scr", src, None).expect_err("unreachable");
    assert_eq!(err.items.len(), 1);
    let d = &err.items[0];
    assert_eq!(d.code, 6022);
    assert_eq!(&src[d.span.start as usize..d.span.end as usize], "Never() from B to A;");
    // A loop with an exit is fine.
    let exits = "global protocol Ok(role A, role B) {
      rec X { choice at A { Tick() from A to B; continue X; } or { Stop() from A to B; } }
      Never() from B to A;
    }";
    assert!(error_codes(exits).is_empty());
}

#[test]
fn choices_scribble_refuses_canon_refuses_and_the_one_it_accepts_canon_explains() {
    // A third party told the branch by different roles in different branches:
    // Scribble refuses it (inconsistent external-choice subjects), canon too.
    let mixed = "global protocol P(role A, role B, role C) {
      choice at A { X() from A to B; X() from B to C; } or { Y() from A to C; Y() from A to B; }
    }";
    assert_eq!(error_codes(mixed), [6105]);
    // Told by the same role in every branch: accepted.
    let same = "global protocol P(role A, role B, role C) {
      choice at A { X() from A to B; X() from B to C; } or { Y() from A to B; Y() from B to C; }
    }";
    assert!(error_codes(same).is_empty());
    // Non-tail recursive `do`, in each form Scribble's reachability check
    // refuses: a statement after the call, after the choice that ends with
    // it, and after it with only roles outside the loop acting.
    for body in [
        "choice at A { M() from A to B; do P(A, B, C, D); N() from B to A; } or { S() from A to B; } Z() from C to D;",
        "choice at A { M() from A to B; do P(A, B, C, D); } or { S() from A to B; } N() from B to A; Z() from C to D;",
        "choice at A { M() from A to B; do P(A, B, C, D); } or { S() from A to B; } Z() from C to D;",
    ] {
        let src = format!("global protocol P(role A, role B, role C, role D) {{ {body} }}");
        assert_eq!(error_codes(&src), [6018], "{body}");
    }
    // The same first label to two receivers: Scribble accepts it, and so
    // does canon; the subject's code names the receiver (`select_to`).
    let dispatch = "global protocol D(role A, role B, role C) {
      choice at A { Go() from A to B; Idle() from A to C; } or { Go() from A to C; Idle() from A to B; }
    }";
    let c = ok(dispatch);
    assert!(canon_choreo::projection_diagnostics(&c).is_empty());
    assert!(check_protocols(&c)[0].outcome.is_ok());
    let module = canon_choreo::compile_choreography(&c).expect("compiles");
    let a = &module.procs[1].code;
    let Some(Instr::SelectTo { arms, .. }) = a.first() else { panic!("{a:?}") };
    let pairs: Vec<(&str, &str)> = arms.iter().map(|x| (module.sym(x.to), module.sym(x.label))).collect();
    assert_eq!(pairs, [("B", "Go"), ("C", "Go")]);
    // Distinct first labels still compile to a label-only `select`.
    let renamed = dispatch.replacen("Go() from A to C", "GoC() from A to C", 1);
    assert!(error_codes(&renamed).is_empty());
    let module = canon_choreo::compile_choreography(&ok(&renamed)).expect("compiles");
    assert!(matches!(module.procs[1].code.first(), Some(Instr::Select { .. })));
    // The same label to the same receiver twice stays an error.
    let twice = dispatch.replacen("Go() from A to C", "Go() from A to B", 1);
    assert_eq!(error_codes(&twice), [6102]);
}

#[test]
fn par_is_refused_by_name() {
    let err =
        load("t.scr", "global protocol P(role A, role B) { par { M() from A to B; } and { N() from B to A; } }", None)
            .expect_err("unsupported");
    assert_eq!(err.items[0].code, 6021);
    assert!(err.items[0].message.contains("`par`"));
}

#[test]
fn nuscr_refinements_are_kept_in_local_types() {
    let p = projections(
        "global protocol Pos(role A, role B) { Num(x: int{x > 0 && x != 7}) from A to B; Res(y: int{y >= x}) from B to A; }",
    );
    assert_eq!(p[0], "A: B!Num(x: int{x > 0 && x != 7}).B?Res(y: int{y >= x}).end");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canon-choreo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn one_load_reads_at_most_max_modules() {
    use canon_choreo::modules::MAX_MODULES;
    let dir = temp_dir("many");
    std::fs::create_dir_all(dir.join("m")).expect("mkdir");
    // The root file counts as one module; MAX_MODULES - 1 imports fit.
    for i in 0..MAX_MODULES {
        let text = format!("module m.M{i};\nglobal protocol P(role A, role B) {{ M{i}() from A to B; }}\n");
        std::fs::write(dir.join(format!("m/M{i}.scr")), text).expect("write");
    }
    let root = dir.join("Root.scr");
    let source = |n: usize| {
        let imports: String = (0..n).map(|i| format!("import m.M{i};\n")).collect();
        format!("{imports}global protocol Root(role A, role B) {{ Go() from A to B; }}\n")
    };
    let fits = source(MAX_MODULES - 1);
    let c = load_with_imports(&root, &fits, None, &ImportPaths::default()).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(c.protocols.len(), MAX_MODULES);
    let over = source(MAX_MODULES);
    let err = load_with_imports(&root, &over, None, &ImportPaths::default()).expect_err("over the limit");
    assert_eq!(err.items[0].code, 6023);
    assert!(err.items[0].notes[0].contains(&MAX_MODULES.to_string()), "{}", err.render());
}
