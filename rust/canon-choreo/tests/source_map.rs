//! Compiled choreographies carry a source map naming, for every instruction,
//! the `file:line:col` and the statement it came from.

use canon_bytecode::{Instr, Module, verify};
use canon_choreo::{
    ImportPaths, check_and_compile_mapped, compile_choreography, compile_choreography_mapped, load, load_with_imports,
    projection_diagnostics,
};

const SRC: &str = "global protocol P(role A, role B) {
  Ping(Int) from A to B;
  rec L {
    choice at B {
      More(Int) from B to A;
      continue L;
    } or {
      Stop() from B to A;
    }
  }
}
";

fn mapped() -> Module {
    let choreo = load("p.canon", SRC, None).unwrap_or_else(|d| panic!("{d}"));
    compile_choreography_mapped(&choreo, "p.canon", SRC).unwrap_or_else(|e| panic!("{e}"))
}

/// The source position of the first instruction of `proc` matching `pick`.
fn loc_of(m: &Module, proc: usize, pick: impl Fn(&Instr) -> bool) -> String {
    let pc = m.procs[proc].code.iter().position(pick).expect("instruction present");
    m.source_of(proc as u32, pc as u32).expect("mapped").to_string()
}

#[test]
fn every_instruction_of_a_compiled_choreography_is_mapped() {
    let m = mapped();
    let debug = m.debug.as_ref().expect("a debug section");
    assert_eq!(debug.files, ["p.canon"]);
    for (p, proc) in m.procs.iter().enumerate() {
        for pc in 0..proc.code.len() {
            assert!(m.source_of(p as u32, pc as u32).is_some(), "proc {p} instr {pc} has no position");
        }
    }
    assert!(loc_of(&m, 0, |i| matches!(i, Instr::Open { .. })).starts_with("p.canon:1:1 `global protocol P"));
}

#[test]
fn sends_receives_and_choices_name_their_statement() {
    let m = mapped();
    // proc 1 is role A, proc 2 role B (declaration order).
    assert_eq!(loc_of(&m, 1, |i| matches!(i, Instr::Send { .. })), "p.canon:2:3 `Ping(Int) from A to B;`");
    assert_eq!(loc_of(&m, 2, |i| matches!(i, Instr::Recv { .. })), "p.canon:2:3 `Ping(Int) from A to B;`");
    assert_eq!(loc_of(&m, 2, |i| matches!(i, Instr::Select { .. })), "p.canon:5:7 `More(Int) from B to A;`");
    assert_eq!(loc_of(&m, 1, |i| matches!(i, Instr::Offer { .. })), "p.canon:5:7 `More(Int) from B to A;`");
    // A's close after receiving Stop is the Stop statement's.
    assert_eq!(loc_of(&m, 1, |i| matches!(i, Instr::Close { .. })), "p.canon:8:7 `Stop() from B to A;`");
}

#[test]
fn the_source_map_changes_neither_the_program_nor_its_digest() {
    let choreo = load("p.canon", SRC, None).unwrap();
    let plain = compile_choreography(&choreo).unwrap();
    let m = mapped();
    assert_eq!(plain.debug, None);
    assert_eq!(Module { debug: None, ..m.clone() }, plain);
    assert_eq!(m.digest(), plain.digest());
    let bytes = canon_bytecode::encode(&m);
    assert_eq!(canon_bytecode::decode(&bytes), Ok(m.clone()));
    assert_eq!(verify(m).unwrap().digest(), verify(plain).unwrap().digest());
}

/// Checking and compiling in one pass ([`check_and_compile_mapped`]) gives
/// what the two steps give, on every corpus and fixture file that loads: the
/// same projection failures, or the same module (debug section included) or
/// compile error.
#[test]
fn check_and_compile_in_one_pass_matches_the_two_steps() {
    let mut compared = (0, 0);
    for dir in
        ["accept", "reject", "refused"].map(|k| std::path::Path::new("../../tests/compat").join(k)).into_iter().chain([
            std::path::PathBuf::from("../../fixtures/choreo/ill_formed"),
            std::path::PathBuf::from("../../fixtures"),
        ])
    {
        let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("directory").map(|e| e.expect("entry").path()).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "scr" || e == "nuscr" || e == "canon")) {
            let src = std::fs::read_to_string(path).expect("readable");
            let name = path.display().to_string();
            let Ok(choreo) = load_with_imports(path, &src, None, &ImportPaths::default()) else { continue };
            let failures = projection_diagnostics(&choreo);
            let two_steps =
                if failures.is_empty() { Ok(compile_choreography_mapped(&choreo, &name, &src)) } else { Err(failures) };
            let one_pass = check_and_compile_mapped(&choreo, &name, &src);
            if one_pass.is_err() {
                compared.1 += 1;
            } else {
                compared.0 += 1;
            }
            assert_eq!(one_pass, two_steps, "{name}");
        }
    }
    // Both outcomes are exercised.
    assert!(compared.0 > 50 && compared.1 > 5, "compared {compared:?}");
}
