//! Compiling a choreography in a test and listing what it lowered to.

use canon_bytecode::{Instr, Module, verify};
use canon_choreo::{compile_choreography, load};

/// Loads and compiles `src`; panics with the rendered diagnostic, and checks
/// that the module verifies.
pub fn compile(src: &str) -> Module {
    let choreo = load("test.canon", src, None).unwrap_or_else(|d| panic!("{}", d.render()));
    let module = compile_choreography(&choreo).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = verify(module.clone()) {
        panic!("compiled module does not verify: {e}\n{module:#?}");
    }
    module
}

/// The procedure's code with symbols spelled out, one instruction per line.
pub fn listing(m: &Module, proc_name: &str) -> Vec<String> {
    let p = m.procs.iter().find(|p| m.sym(p.name) == proc_name).unwrap_or_else(|| panic!("no proc {proc_name}"));
    let arms = |arms: &[canon_bytecode::Arm]| -> String {
        arms.iter().map(|a| format!("{}->{}", m.sym(a.label), a.target)).collect::<Vec<_>>().join(" ")
    };
    p.code
        .iter()
        .map(|i| match i {
            Instr::Produce { label, .. } => format!("produce {}", m.sym(*label)),
            Instr::Send { label, .. } => format!("send {}", m.sym(*label)),
            Instr::Recv { label, .. } => format!("recv {}", m.sym(*label)),
            Instr::Select { arms: a, .. } => format!("select {}", arms(a)),
            Instr::Offer { arms: a, .. } => format!("offer {}", arms(a)),
            Instr::RecvTimeout { arms: a, timeout_ticks, on_timeout, .. } => {
                format!("recv_timeout {} within {timeout_ticks} else {on_timeout}", arms(a))
            }
            Instr::Invoke { effect, .. } => format!("invoke {}", m.sym(*effect)),
            Instr::Check { dst, ep, effect, arg } => format!("check r{dst}, r{ep}, {}, r{arg}", m.sym(*effect)),
            Instr::Consume { ep, witness } => format!("consume r{ep}, r{witness}"),
            Instr::Jmp { target } => format!("jmp {target}"),
            Instr::Close { .. } => "close".into(),
            Instr::Cancel { .. } => "cancel".into(),
            Instr::Halt => "halt".into(),
            other => format!("{other:?}"),
        })
        .collect()
}
