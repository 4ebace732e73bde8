//! The acceptance property of the compiler: for random well-formed global
//! types, every role projects, the protocol compiles, and the bytecode
//! verifier accepts every role's procedure against its local type. And the
//! verifier is not vacuous: corrupting one label of a compiled module makes it
//! fail.

use canon_bytecode::{Instr, verify};
use canon_choreo::compile_protocol;
use canon_types::testgen::protocol;
use canon_types::{GlobalType, LocalType, project_all};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_well_formed_protocols_project_compile_and_verify(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let p = protocol(k, &bytes);
        let projections = project_all(&p).map_err(|e| TestCaseError::fail(format!("{e}\n{p:#?}")))?;
        prop_assert_eq!(projections.len(), p.roles.len());
        let module = compile_protocol(&p, &[]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(module.procs.len(), p.roles.len() + 1);
        if let Err(e) = verify(module.clone()) {
            return Err(TestCaseError::fail(format!("verify: {e}\n{p:#?}")));
        }
        // Send a label the receiver's type does not offer: the verifier must notice.
        let mut broken = module;
        let bogus = broken.intern("NotInTheProtocol");
        let mut sends = broken.procs.iter_mut().flat_map(|p| p.code.iter_mut());
        if let Some(Instr::Send { label, .. }) = sends.find(|i| matches!(i, Instr::Send { .. })) {
            *label = bogus;
            prop_assert!(verify(broken).is_err());
        }
    }
}

fn kinds(g: &GlobalType, seen: &mut [bool; 7]) {
    match g {
        GlobalType::End | GlobalType::Continue { .. } => {}
        GlobalType::Message { timeout_ticks, cont, on_timeout, on_cancel, .. } => {
            seen[0] |= timeout_ticks.is_some();
            seen[5] |= on_timeout.is_some();
            seen[6] |= !on_cancel.is_empty();
            if let Some(t) = on_timeout {
                kinds(t, seen);
            }
            kinds(cont, seen);
        }
        GlobalType::Invoke { cont, .. } => {
            seen[1] = true;
            kinds(cont, seen);
        }
        GlobalType::Choice { branches, .. } => {
            seen[2] = true;
            branches.iter().for_each(|b| kinds(b, seen));
        }
        GlobalType::Rec { body, .. } => {
            seen[3] = true;
            kinds(body, seen);
        }
    }
}

fn has_choose(t: &LocalType) -> bool {
    match t {
        LocalType::Choose { .. } => true,
        LocalType::End | LocalType::Var { .. } => false,
        LocalType::Send { branches, .. } | LocalType::Recv { branches, .. } => {
            branches.iter().any(|b| has_choose(&b.cont))
        }
        LocalType::Mu { body, .. } => has_choose(body),
    }
}

/// The generator is not degenerate: over a few fixed streams it produces
/// deadlines, invokes, choices, loops, protocols with four roles, timeout
/// branches, cancellation handlers and choices whose branches begin with
/// messages to different receivers.
#[test]
fn the_generator_covers_every_construct() {
    let mut seen = [false; 7];
    let mut choose = false;
    for seed in 0u8..64 {
        let bytes: Vec<u8> = (0u8..96).map(|i| i.wrapping_mul(seed.wrapping_add(7)).wrapping_add(seed)).collect();
        let p = protocol(4, &bytes);
        seen[4] |= p.roles.len() == 4;
        kinds(&p.body, &mut seen);
    }
    // Choices among peers need two coin flips in a row to agree; this
    // stream's regular bytes never give that, a pseudo-random one often does.
    let mut x: u64 = 1;
    for _ in 0..64 {
        let bytes: Vec<u8> = (0..96)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (x >> 33) as u8
            })
            .collect();
        choose |= project_all(&protocol(4, &bytes)).expect("projects").iter().any(|(_, t)| has_choose(t));
    }
    assert_eq!(seen, [true; 7], "deadline, invoke, choice, rec, four roles, on timeout, on cancel");
    assert!(choose, "no generated protocol has a choice among peers");
}
