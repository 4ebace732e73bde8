//! Properties: the verifier never panics, on arbitrary modules and on valid
//! modules with one instruction replaced by an arbitrary one, and it is
//! deterministic.

mod verify_common;

use canon_bytecode::testgen::{arb_module, arb_module_unchecked};
use canon_bytecode::{Arm, Instr, verify};
use canon_types::SymId;
use proptest::prelude::*;
use verify_common::valid_modules;

fn small_instr() -> impl Strategy<Value = Instr> {
    let reg = 0u16..6;
    let sym = (0u32..24).prop_map(SymId);
    let target = 0u32..14;
    let arms = proptest::collection::vec(
        (sym.clone(), target.clone()).prop_map(|(label, target)| Arm { label, target }),
        0..3,
    );
    prop_oneof![
        Just(Instr::Halt),
        target.clone().prop_map(|target| Instr::Jmp { target }),
        (reg.clone(), target.clone()).prop_map(|(cond, target)| Instr::JmpIf { cond, target }),
        (reg.clone(), reg.clone()).prop_map(|(dst, src)| Instr::Mov { dst, src }),
        (reg.clone(), 0u32..4).prop_map(|(dst, k)| Instr::Const { dst, k }),
        (reg.clone(), sym.clone(), reg.clone()).prop_map(|(ep, label, src)| Instr::Send { ep, label, src }),
        (reg.clone(), sym.clone(), reg.clone()).prop_map(|(ep, label, dst)| Instr::Recv { ep, label, dst }),
        (reg.clone(), arms.clone()).prop_map(|(ep, arms)| Instr::Select { ep, arms }),
        (reg.clone(), reg.clone(), arms).prop_map(|(ep, dst, arms)| Instr::Offer { ep, dst, arms }),
        reg.clone().prop_map(|ep| Instr::Close { ep }),
        reg.clone().prop_map(|ep| Instr::Cancel { ep }),
        (0u32..4, proptest::collection::vec(reg, 0..3)).prop_map(|(proc, args)| Instr::Spawn { proc, args }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_modules_never_panic(m in arb_module()) {
        let first = verify(m.clone()).map(|p| p.digest());
        prop_assert_eq!(first, verify(m).map(|p| p.digest()));
    }

    #[test]
    fn unchecked_modules_never_panic(m in arb_module_unchecked()) {
        let _ = verify(m);
    }

    #[test]
    fn one_replaced_instruction_never_panics(which in 0usize..3, proc in 0usize..3, at in 0usize..12, instr in small_instr()) {
        let (_, mut m) = valid_modules().swap_remove(which);
        let code = &mut m.procs[proc].code;
        let at = at % code.len();
        code[at] = instr;
        let _ = verify(m);
    }
}
