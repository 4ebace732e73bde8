//! `within N on timeout { .. }` and `within N on cancel { .. }`: parsing,
//! the projection rules (the receiver decides, every other role that acts
//! differently is told by a message, the late sender is left out), the
//! lowering to `recv_timeout`, and the refused forms.

use canon_bytecode::Instr;
use canon_choreo::{Choreography, load};
use canon_types::project_all;

fn ok(src: &str) -> Choreography {
    match load("t.canon", src, None) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.render()),
    }
}

fn projections(src: &str) -> Vec<String> {
    match project_all(&ok(src).entry().protocol) {
        Ok(all) => all.into_iter().map(|(r, t)| format!("{r}: {t}")).collect(),
        Err(e) => panic!("{e}"),
    }
}

fn error_codes(src: &str) -> Vec<u16> {
    match load("t.canon", src, None) {
        Err(e) => e.items.iter().map(|d| d.code).collect(),
        Ok(c) => canon_choreo::projection_diagnostics(&c).iter().map(|d| d.code).collect(),
    }
}

/// The instructions of `role`'s procedure, named (`produce L`, `send L`,
/// `invoke E`, `recv_timeout`, ...).
fn instructions(c: &Choreography, role: &str) -> Vec<String> {
    let m = canon_choreo::compile_choreography(c).expect("compiles");
    canon_bytecode::verify(m.clone()).expect("verifies");
    let name = format!("role_{role}");
    let p = m.procs.iter().find(|p| m.strings[p.name.0 as usize] == name).expect("role procedure");
    let sym = |s: canon_types::SymId| m.strings[s.0 as usize].clone();
    p.code
        .iter()
        .map(|i| match i {
            Instr::Produce { label, .. } => format!("produce {}", sym(*label)),
            Instr::Send { label, .. } => format!("send {}", sym(*label)),
            Instr::Recv { label, .. } => format!("recv {}", sym(*label)),
            Instr::Invoke { effect, .. } => format!("invoke {}", sym(*effect)),
            Instr::RecvTimeout { arms, timeout_ticks, on_timeout, .. } => {
                let arms: Vec<String> = arms.iter().map(|a| sym(a.label)).collect();
                format!("recv_timeout [{}] {timeout_ticks} -> {on_timeout}", arms.join(", "))
            }
            other => format!("{other:?}").split([' ', '{']).next().unwrap_or("").to_lowercase(),
        })
        .collect()
}

const LEASE: &str = "global protocol Lease(role C, role S, role W1, role W2) {
  Submit(job: Int) from C to S;
  Lease(job: Int) from S to W1;
  Report(r: Int) from W1 to S within 3 on timeout {
    Requeue(job: Int) from S to W2;
    Report(r: Int) from W2 to S;
    Done(r: Int) from S to C;
  }
  Released() from S to W2;
  Done(r: Int) from S to C;
}";

#[test]
fn the_receiver_decides_the_sender_is_left_out_and_third_parties_are_told() {
    assert_eq!(
        projections(LEASE),
        [
            "C: S!Submit(job: Int).S?Done(r: Int).end",
            "S: C?Submit(job: Int).W1!Lease(job: Int).W1?{Report(r: Int).W2!Released().C!Done(r: Int).end, \
             @timeout().W2!Requeue(job: Int).W2?Report(r: Int).C!Done(r: Int).end}",
            "W1: S?Lease(job: Int).S!Report(r: Int).end",
            "W2: S?{Released().end, Requeue(job: Int).S!Report(r: Int).end}",
        ]
    );
}

#[test]
fn a_timeout_branch_lowers_to_recv_timeout_continuing_at_its_target() {
    let c = ok(LEASE);
    let s = instructions(&c, "S");
    // recv Submit, produce+send Lease, then the receive with its deadline:
    // the arm (Report) at 4, the timeout branch after the arm's code.
    assert_eq!(s[3], "recv_timeout [Report] 3 -> 10", "{s:?}");
    assert_eq!(
        &s[10..],
        ["produce Requeue", "send Requeue", "recv Report", "produce Done", "send Done", "close", "halt"]
    );
    assert!(!s.contains(&"cancel".to_owned()), "a timeout branch does not cancel: {s:?}");
}

#[test]
fn on_cancel_invokes_the_receivers_effects_then_cancels() {
    let src = "global protocol L(role S, role W) {
      Job(id: Int) from S to W;
      Done(id: Int) from W to S within 10 on cancel { invoke Requeue at S; invoke Alert at S; }
    }";
    assert_eq!(projections(src), ["S: W!Job(id: Int).W?Done(id: Int).end", "W: S?Job(id: Int).S!Done(id: Int).end"]);
    let s = instructions(&ok(src), "S");
    assert_eq!(
        s[2..],
        ["recv_timeout [Done] 10 -> 5", "close", "halt", "invoke Requeue", "invoke Alert", "cancel", "halt"]
    );
}

#[test]
fn a_semicolon_after_the_block_is_accepted() {
    let src = "global protocol L(role S, role W) {
      Done() from W to S within 2 on timeout { } ;
      Ok() from S to W;
    }";
    assert_eq!(projections(src), ["S: W?{Done().W!Ok().end, @timeout().end}", "W: S!Done().S?Ok().end"]);
}

#[test]
fn the_refused_forms_have_their_codes() {
    // The late sender takes part in the branch, or the branch loops back.
    let again = "global protocol L(role S, role W) { Job() from S to W; Done() from W to S within 3 on timeout { Retry() from S to W; } }";
    assert_eq!(error_codes(again), [6116]);
    let looping = "global protocol L(role S, role W, role X) { rec R { Job() from S to W; Done() from W to S within 3 on timeout { Gone() from S to X; continue R; } Next() from S to X; continue R; } }";
    assert_eq!(error_codes(looping), [6116]);
    // A third party acting differently without being told.
    let untold = "global protocol L(role S, role W, role X) { Done() from W to S within 3 on timeout { Gone() from S to X; } Ok() from W to X; }";
    assert_eq!(error_codes(untold), [6105]);
    // A multicast, two handlers, a non-local cancel block.
    let multicast = "global protocol L(role S, role A, role B) { Ping() from S to A, B within 3 on timeout { Gone() from A to B; } }";
    assert_eq!(error_codes(multicast), [6028]);
    let both = "global protocol L(role S, role W) { Done() from W to S within 3 on timeout { } on cancel { } }";
    assert_eq!(error_codes(both), [6028]);
    let message = "global protocol L(role S, role W, role C) { Done() from W to S within 3 on cancel { Failed() from S to C; } Ok() from S to C; }";
    assert_eq!(error_codes(message), [6029]);
    let elsewhere = "global protocol L(role S, role W) { Done() from W to S within 3 on cancel { invoke Log at W; } }";
    assert_eq!(error_codes(elsewhere), [6029]);
    // `on timeout` without `within` is not a deadline handler.
    let bare = "global protocol L(role S, role W) { Done() from W to S on timeout { } }";
    assert_eq!(error_codes(bare), [6001]);
}

/// The diagnostic text of the first projection error of `src`.
fn first_message(src: &str) -> String {
    let c = ok(src);
    let all = canon_choreo::projection_diagnostics(&c);
    all.first().map(|d| format!("E{} {}", d.code, d.message)).unwrap_or_default()
}

#[test]
fn a_role_the_late_sender_owes_a_message_is_refused_naming_it() {
    // R starts waiting for Done as soon as it has sent Job; S may miss the
    // deadline before it sends Note, and T would wait for Note for good.
    let owed = "global protocol L(role S, role R, role T) {
      Job() from R to S;
      Note() from S to T;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(owed), [6117]);
    let m = first_message(owed);
    assert!(m.contains("`T` may wait forever for `Note` from `S`"), "{m}");
    assert!(m.contains("`R` may start waiting for `Done`"), "{m}");
    // The debt may come from before R's own exchange with S: R sends Job
    // without learning that S has sent Note.
    let earlier = "global protocol L(role S, role R, role T) {
      Note() from S to T;
      Job() from R to S;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(earlier), [6117]);
    // A debt left over from the previous pass of a loop: S tells T after
    // each Done, and R waits for the next Done as soon as it has the last.
    // (Without the check, every role projects: T learns the path from R.)
    let looped = "global protocol L(role S, role R, role T) {
      rec X {
        choice at R {
          More() from R to S;
          More() from R to T;
          Done() from S to R within 3 on timeout { Gone() from R to T; }
          Next() from R to T;
          Note() from S to T;
          continue X;
        } or {
          Stop() from R to S;
          Stop() from R to T;
        }
      }
    }";
    assert_eq!(error_codes(looped), [6117]);
    assert!(first_message(looped).contains("`T` may wait forever for `Note` from `S`"));
    // The debt is found inside a third party's chain too: S owes U, U owes T.
    let chained = "global protocol L(role S, role R, role T, role U) {
      Job() from R to S;
      Note() from S to U;
      Relay() from U to T;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(chained), [6117]);
}

#[test]
fn the_accepted_neighbours_of_the_owed_message() {
    // R learns that Note was sent (T tells it) before it waits.
    let acknowledged = "global protocol L(role S, role R, role T) {
      Job() from R to S;
      Note() from S to T;
      Seen() from T to R;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(acknowledged), Vec::<u16>::new());
    // S tells R after Note: R's wait starts after that.
    let told = "global protocol L(role S, role R, role T) {
      Job() from R to S;
      Note() from S to T;
      Started() from S to R;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(told), Vec::<u16>::new());
    // Note has a deadline of its own: T does not wait for good.
    let own_deadline = "global protocol L(role S, role R, role T) {
      Job() from R to S;
      Note() from S to T within 5;
      Done() from S to R within 3 on timeout { Gone() from R to T; }
      Ok() from R to T;
    }";
    assert_eq!(error_codes(own_deadline), Vec::<u16>::new());
    // Without a timeout branch the deadline cancels the session, which
    // releases every waiting role.
    let cancels = "global protocol L(role S, role R, role T) {
      Job() from R to S;
      Note() from S to T;
      Done() from S to R within 3;
      Ok() from R to T;
    }";
    assert_eq!(error_codes(cancels), Vec::<u16>::new());
    // The loop whose debt is paid before the next wait: R hears from T.
    let looped = "global protocol L(role S, role R, role T) {
      rec X {
        choice at R {
          More() from R to S;
          More() from R to T;
          Done() from S to R within 3 on timeout { Gone() from R to T; }
          Next() from R to T;
          Note() from S to T;
          Seen() from T to R;
          continue X;
        } or {
          Stop() from R to S;
          Stop() from R to T;
        }
      }
    }";
    assert_eq!(error_codes(looped), Vec::<u16>::new());
}

#[test]
fn the_job_lease_fixture_projects_and_its_unbounded_fetch_is_refused() {
    let src = include_str!("../../../fixtures/job_lease.canon");
    assert_eq!(error_codes(src), Vec::<u16>::new());
    let unbounded = src.replace("from Worker1 to Store within 5;", "from Worker1 to Store;");
    assert_ne!(unbounded, src);
    assert_eq!(error_codes(&unbounded), [6117]);
    let m = first_message(&unbounded);
    assert!(m.contains("`Store` may wait forever for `Fetch` from `Worker1`"), "{m}");
}

/// The two `Owed` examples of docs/language.md's timeout-branch rules: the
/// first is refused with E6117, the second (the acknowledged note) checks.
#[test]
fn the_language_reference_owed_examples() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    let doc = std::fs::read_to_string(path).expect("docs/language.md exists");
    let examples: Vec<&str> = doc
        .match_indices("global protocol Owed(")
        .map(|(at, _)| {
            let rest = &doc[at..];
            &rest[..rest.find("\n}\n").expect("a closed protocol") + 2]
        })
        .collect();
    assert_eq!(examples.len(), 2, "{examples:?}");
    assert_eq!(error_codes(examples[0]), [6117]);
    assert!(first_message(examples[0]).contains("`T` may wait forever for `Note` from `S`"));
    assert_eq!(error_codes(examples[1]), Vec::<u16>::new());
}
