//! Paths that reach different `End` nodes may join: every `End` is the same
//! type, so the arms of an offer can share one `close`.

const SHARED_CLOSE: &str = r#"
.type ta = B!{Yes().end, No().end}
.type tb = A?{Yes().end, No().end}
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    select r0, [Yes -> yes, No -> no]
yes:
    produce r1, r0, Yes
    send r0, Yes, r1
    jmp done
no:
    produce r1, r0, No
    send r0, No, r1
done:
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    offer r0, r1, [Yes -> done, No -> done]
done:
    close r0
    halt
.end
"#;

#[test]
fn arms_reaching_distinct_end_nodes_share_one_close() {
    let module = canon_bytecode::assemble(SHARED_CLOSE).expect("assembles");
    let ends = module.types.nodes.iter().filter(|n| matches!(n, canon_types::TypeNode::End)).count();
    assert!(ends >= 2, "the test needs distinct End nodes, found {ends}");
    canon_bytecode::verify(module).expect("joins at End are accepted");
}

#[test]
fn joins_of_different_non_end_states_are_still_rejected() {
    let src = SHARED_CLOSE.replace(".type ta = B!{Yes().end, No().end}", ".type ta = B!{Yes().B?Ack().end, No().end}");
    let src = src.replace(".type tb = A?{Yes().end, No().end}", ".type tb = A?{Yes().A!Ack().end, No().end}");
    let module = canon_bytecode::assemble(&src).expect("assembles");
    let err = canon_bytecode::verify(module).expect_err("Yes leaves role_a at B?Ack, No at end");
    assert!(
        matches!(err, canon_bytecode::VerifyError::InconsistentStateAtJoin { .. }),
        "expected InconsistentStateAtJoin, got {err}"
    );
}
