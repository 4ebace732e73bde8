//! Projection on classic protocols (expected local types written in the
//! compact notation), the extensions, and every well-formedness error.

use canon_types::{
    ErrorCode, GlobalType, LocalAction, PROJECTION_CODES, Payload, ProjectionError, Protocol, Span, project,
    project_actions, project_all,
};

fn sp(start: u32) -> Span {
    Span { start, end: start + 1 }
}

fn msg(from: &str, to: &str, label: &str, ty: Option<&str>, cont: GlobalType) -> GlobalType {
    GlobalType::Message {
        from: from.into(),
        to: to.into(),
        label: label.into(),
        payload: ty.map(|t| Payload { name: None, ty: t.into(), refinement: None }).into_iter().collect(),
        timeout_ticks: None,
        cont: Box::new(cont),
        span: Span::default(),
        same_payload: false,
        on_timeout: None,
        on_cancel: Vec::new(),
    }
}

fn msg_at(from: &str, to: &str, label: &str, at: u32, cont: GlobalType) -> GlobalType {
    match msg(from, to, label, None, cont) {
        GlobalType::Message { from, to, label, payload, timeout_ticks, cont, .. } => GlobalType::Message {
            from,
            to,
            label,
            payload,
            timeout_ticks,
            cont,
            span: sp(at),
            same_payload: false,
            on_timeout: None,
            on_cancel: Vec::new(),
        },
        _ => unreachable!("msg builds a message"),
    }
}

fn choice(at: &str, branches: Vec<GlobalType>) -> GlobalType {
    GlobalType::Choice { at: at.into(), branches, span: sp(100) }
}

fn rec(var: &str, body: GlobalType) -> GlobalType {
    GlobalType::Rec { var: var.into(), body: Box::new(body), span: sp(200) }
}

fn cont(var: &str) -> GlobalType {
    GlobalType::Continue { var: var.into(), span: sp(300) }
}

fn protocol(roles: &[&str], body: GlobalType) -> Protocol {
    Protocol { name: "P".into(), roles: roles.iter().map(|r| r.to_string()).collect(), body }
}

fn projected(p: &Protocol, role: &str) -> String {
    project(p, role).unwrap_or_else(|e| panic!("projecting {role}: {e}")).to_string()
}

fn two_buyer() -> Protocol {
    let decision = choice(
        "B2",
        vec![
            msg("B2", "S", "Accept", Some("String"), msg("S", "B2", "Date", Some("String"), GlobalType::End)),
            msg("B2", "S", "Reject", None, GlobalType::End),
        ],
    );
    let body = msg(
        "B1",
        "S",
        "Title",
        Some("String"),
        msg(
            "S",
            "B1",
            "Quote",
            Some("Int"),
            msg("S", "B2", "Quote", Some("Int"), msg("B1", "B2", "Share", Some("Int"), decision)),
        ),
    );
    protocol(&["B1", "B2", "S"], body)
}

#[test]
fn two_buyer_projects_to_the_textbook_local_types() {
    let p = two_buyer();
    assert_eq!(projected(&p, "B1"), "S!Title(String).S?Quote(Int).B2!Share(Int).end");
    assert_eq!(projected(&p, "B2"), "S?Quote(Int).B1?Share(Int).S!{Accept(String).S?Date(String).end, Reject().end}");
    assert_eq!(
        projected(&p, "S"),
        "B1?Title(String).B1!Quote(Int).B2!Quote(Int).B2?{Accept(String).B2!Date(String).end, Reject().end}"
    );
    let all = project_all(&p).unwrap();
    assert_eq!(all.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["B1", "B2", "S"]);
}

#[test]
fn a_role_outside_a_loop_is_pruned_to_what_follows_it() {
    let body = rec(
        "X",
        choice(
            "A",
            vec![
                msg("A", "B", "Data", Some("Int"), cont("X")),
                msg("A", "B", "Stop", None, msg("B", "C", "Done", None, GlobalType::End)),
            ],
        ),
    );
    let p = protocol(&["A", "B", "C"], body);
    assert_eq!(projected(&p, "A"), "mu X.B!{Data(Int).X, Stop().end}");
    assert_eq!(projected(&p, "B"), "mu X.A?{Data(Int).X, Stop().C!Done().end}");
    assert_eq!(projected(&p, "C"), "B?Done().end");
}

#[test]
fn a_role_in_a_loop_without_exit_keeps_the_loop_and_a_bystander_gets_end() {
    let body =
        msg("A", "B", "Hello", None, rec("L", msg("A", "B", "Ping", None, msg("B", "A", "Pong", None, cont("L")))));
    let p = protocol(&["A", "B"], body);
    assert_eq!(projected(&p, "A"), "B!Hello().mu L.B!Ping().B?Pong().L");
    let with_c = protocol(&["A", "B", "C"], msg("C", "A", "Go", None, p.body.clone()));
    assert_eq!(projected(&with_c, "C"), "A!Go().end");
}

#[test]
fn third_parties_merge_receives_from_one_peer() {
    let body = choice(
        "A",
        vec![
            msg("A", "B", "L1", None, msg("B", "C", "X", None, GlobalType::End)),
            msg("A", "B", "L2", None, msg("B", "C", "Y", None, GlobalType::End)),
            msg("A", "B", "L3", None, msg("B", "C", "X", None, GlobalType::End)),
        ],
    );
    let p = protocol(&["A", "B", "C"], body);
    assert_eq!(projected(&p, "C"), "B?{X().end, Y().end}");
    assert_eq!(projected(&p, "B"), "A?{L1().C!X().end, L2().C!Y().end, L3().C!X().end}");
}

#[test]
fn invokes_and_deadlines_are_kept_in_actions_and_erased_in_local_types() {
    let timed = GlobalType::Message {
        from: "A".into(),
        to: "B".into(),
        label: "Job".into(),
        payload: vec![],
        timeout_ticks: Some(7),
        cont: Box::new(GlobalType::End),
        span: Span::default(),
        same_payload: false,
        on_timeout: None,
        on_cancel: Vec::new(),
    };
    let body =
        GlobalType::Invoke { role: "B".into(), effect: "Log".into(), check: false, cont: Box::new(timed), span: sp(1) };
    let p = protocol(&["A", "B"], body);
    assert_eq!(projected(&p, "B"), "A?Job().end");
    let LocalAction::Invoke { effect, cont, .. } = project_actions(&p, "B").unwrap() else { panic!("expected invoke") };
    assert_eq!(effect, "Log");
    assert!(matches!(*cont, LocalAction::Recv { timeout_ticks: Some(7), .. }));
    assert_eq!(projected(&p, "A"), "B!Job().end");
}

fn error(p: &Protocol, role: &str) -> ProjectionError {
    match project(p, role) {
        Ok(t) => panic!("expected an error, projected {t}"),
        Err(e) => e,
    }
}

#[test]
fn choice_subject_must_send_first_in_every_branch() {
    let body = choice("A", vec![msg("A", "B", "X", None, GlobalType::End), msg_at("B", "A", "Y", 42, GlobalType::End)]);
    let e = error(&protocol(&["A", "B"], body), "A");
    assert!(matches!(e, ProjectionError::ChoiceSubjectNotSender { ref subject, .. } if subject == "A"));
    assert_eq!((e.code(), e.span()), (6101, sp(42)));
}

#[test]
fn duplicate_labels_and_mixed_receivers_are_rejected() {
    let dup = choice("A", vec![msg("A", "B", "X", None, GlobalType::End), msg_at("A", "B", "X", 9, GlobalType::End)]);
    let e = error(&protocol(&["A", "B"], dup), "B");
    assert_eq!((e.code(), e.span()), (6102, sp(9)));
    let mixed = choice(
        "A",
        vec![
            msg("A", "B", "X", None, msg("A", "C", "Z", None, GlobalType::End)),
            msg_at("A", "C", "Y", 5, GlobalType::End),
        ],
    );
    // Mixed receivers are allowed, but B is told in one branch only.
    assert_eq!(error(&protocol(&["A", "B", "C"], mixed.clone()), "B").code(), 6105);
    assert_eq!(project(&protocol(&["A", "B", "C"], mixed), "C").unwrap().to_string(), "A?{Z().end, Y().end}");
    let same_label = choice(
        "A",
        vec![
            msg("A", "B", "X", None, msg("A", "C", "Z", None, GlobalType::End)),
            msg_at("A", "C", "X", 5, msg("A", "B", "W", None, GlobalType::End)),
        ],
    );
    let e = error(&protocol(&["A", "B", "C"], same_label), "A");
    assert_eq!((e.code(), e.span()), (6114, sp(5)));
}

#[test]
fn branches_beginning_with_different_receivers_project_to_a_choose() {
    let body = choice(
        "A",
        vec![
            msg("A", "B", "Ok", None, msg("A", "C", "Ok", None, GlobalType::End)),
            msg("A", "C", "Quit", None, msg("A", "B", "Quit", None, GlobalType::End)),
            msg("A", "B", "Retry", None, msg("A", "C", "Retry", None, GlobalType::End)),
        ],
    );
    let p = protocol(&["A", "B", "C"], body);
    assert_eq!(
        project(&p, "A").unwrap().to_string(),
        "+{B!{Ok().C!Ok().end, Retry().C!Retry().end}, C!Quit().B!Quit().end}"
    );
    assert_eq!(project(&p, "B").unwrap().to_string(), "A?{Ok().end, Quit().end, Retry().end}");
    assert_eq!(project(&p, "C").unwrap().to_string(), "A?{Ok().end, Quit().end, Retry().end}");
}

/// Scribble's enabling rule, on a loop: C takes no part in the branch that
/// repeats, and in the branch that exits it sends first. Dropping the
/// repeating branch from C's merge would let C send once, at once, whatever
/// A chooses (and, in an outer loop, once per outer pass while A may repeat
/// the inner one without bound): refused.
#[test]
fn a_role_left_out_of_a_loop_may_not_act_before_it_is_enabled() {
    let lp = |exit: GlobalType| GlobalType::Rec {
        var: "L".into(),
        body: Box::new(choice(
            "A",
            vec![
                msg("A", "B", "More", None, GlobalType::Continue { var: "L".into(), span: Span::default() }),
                msg("A", "B", "Done", None, exit),
            ],
        )),
        span: Span::default(),
    };
    let early = lp(msg("C", "B", "Go", None, GlobalType::End));
    let e = error(&protocol(&["A", "B", "C"], early), "C");
    assert_eq!(e.code(), 6115);
    assert!(e.to_string().contains("sends `Go` to `B`"), "{e}");
    // Told first, C waits for the choice: accepted.
    let told = lp(msg("A", "C", "Done", None, msg("C", "B", "Go", None, GlobalType::End)));
    assert_eq!(project(&protocol(&["A", "B", "C"], told), "C").unwrap().to_string(), "A?Done().B!Go().end");
}

#[test]
fn an_uninformed_third_party_is_unmergeable() {
    let body = choice(
        "A",
        vec![
            msg("A", "B", "X", None, msg("B", "C", "Go", None, GlobalType::End)),
            msg("A", "B", "Y", None, GlobalType::End),
        ],
    );
    let p = protocol(&["A", "B", "C"], body);
    let e = error(&p, "C");
    assert!(matches!(e, ProjectionError::Unmergeable { ref role, .. } if role == "C"));
    assert_eq!((e.code(), e.span()), (6105, sp(100)));
    assert!(e.to_string().contains("role `C`"), "{e}");
    assert!(project(&p, "A").is_ok());
}

#[test]
fn recursion_errors() {
    let unguarded = protocol(&["A", "B"], msg("A", "B", "X", None, rec("L", cont("L"))));
    let e = error(&unguarded, "A");
    assert_eq!((e.code(), e.span()), (6106, sp(300)));
    let unbound = protocol(&["A", "B"], msg("A", "B", "X", None, cont("Nowhere")));
    assert_eq!(error(&unbound, "A").code(), 6107);
    let silent = rec(
        "L",
        GlobalType::Invoke {
            role: "C".into(),
            effect: "Tick".into(),
            check: false,
            cont: Box::new(msg("A", "B", "X", None, cont("L"))),
            span: sp(1),
        },
    );
    let e = error(&protocol(&["A", "B", "C"], silent), "C");
    assert_eq!((e.code(), e.span()), (6112, sp(200)));
}

#[test]
fn role_errors() {
    let body = msg("A", "B", "X", None, GlobalType::End);
    assert_eq!(error(&protocol(&["A", "B", "C"], body.clone()), "A").code(), 6108);
    assert_eq!(error(&protocol(&["A"], body.clone()), "A").code(), 6109);
    assert_eq!(error(&protocol(&["A", "B", "A"], body.clone()), "A").code(), 6110);
    assert_eq!(error(&protocol(&["A", "B"], body), "Z").code(), 6109);
    let selfie = protocol(&["A", "B"], msg("B", "A", "Y", None, msg_at("A", "A", "X", 3, GlobalType::End)));
    let e = error(&selfie, "B");
    assert_eq!((e.code(), e.span()), (6111, sp(3)));
    assert_eq!(e.name(), "SelfCommunication");
}

#[test]
fn code_table_is_contiguous_and_matches_names() {
    // Retired codes (docs/errors.md) are never reused and leave the only gaps.
    const RETIRED: &[u16] = &[6103];
    let expected: Vec<u16> = (6101..).filter(|c| !RETIRED.contains(c)).take(PROJECTION_CODES.len()).collect();
    let codes: Vec<u16> = PROJECTION_CODES.iter().map(|e| e.code).collect();
    assert_eq!(codes, expected);
    let e = ProjectionError::EmptyChoice { subject: "A".into(), span: Span::default() };
    assert_eq!(e.name(), "EmptyChoice");
    assert_eq!(e.code(), 6104);
}
