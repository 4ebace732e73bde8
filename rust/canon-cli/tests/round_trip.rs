//! Round trips through the real binary: `asm` → `disasm` → `asm` gives the
//! same bytes; `compile --emit casm` → `asm` → `check` works and runs like the
//! choreography itself; `project` prints every format.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, asm_fixtures, canon, choreo_fixtures, temp_dir};

/// A choreography with a choice and a multicast, so the tests exercise
/// something even before choreography fixtures exist.
const TWO_BUYER: &str = "\
module shop.TwoBuyer;

global protocol TwoBuyer(role Buyer1, role Buyer2, role Seller) {
  Title(String) from Buyer1 to Seller;
  Quote(Int) from Seller to Buyer1, Buyer2;
  choice at Buyer2 {
    Accept(String) from Buyer2 to Seller;
    Ok() from Seller to Buyer1;
  } or {
    Reject() from Buyer2 to Seller;
    No() from Seller to Buyer1;
  }
}
";

fn run(args: &[&str]) -> common::Output {
    canon(args)
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("a file name").to_string_lossy().into_owned()
}

/// The choreographies to test: the fixtures plus the embedded TwoBuyer.
fn choreographies(dir: &Path) -> Vec<PathBuf> {
    let sample = dir.join("two_buyer_sample.canon");
    std::fs::write(&sample, TWO_BUYER).expect("write the sample choreography");
    let mut all = choreo_fixtures();
    all.push(sample);
    all
}

#[test]
fn asm_disasm_asm_gives_identical_bytes_for_every_assembly_fixture() {
    let dir = temp_dir("asm-round-trip");
    let fixtures = asm_fixtures();
    assert!(fixtures.len() >= 8, "expected the assembly fixtures, found {}", fixtures.len());
    for casm in fixtures {
        let name = file_name(&casm);
        let (first, second, text) =
            (dir.join(format!("{name}.1.cbc")), dir.join(format!("{name}.2.cbc")), dir.join(format!("{name}.d.casm")));
        run(&["asm", &arg(&casm), "-o", &arg(&first)]).expect_code(0).stderr_has(&["wrote", &arg(&first)]);
        let disasm = run(&["disasm", &arg(&first)]);
        disasm.expect_code(0);
        std::fs::write(&text, &disasm.stdout_bytes).expect("write the disassembly");
        run(&["asm", &arg(&text), "-o", &arg(&second)]).expect_code(0);
        let (a, b) = (std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap());
        assert_eq!(a, b, "{name}: asm(disasm(asm(x))) differs from asm(x)");
        run(&["check", &arg(&second)]).expect_code(0).stdout_has(&[": ok: "]);
        let committed = casm.with_extension("cbc");
        if committed.exists() {
            assert_eq!(std::fs::read(&committed).unwrap(), a, "{name}: the committed .cbc is stale");
        }
    }
}

#[test]
fn asm_writes_next_to_its_input_by_default() {
    let dir = temp_dir("asm-default");
    let casm = dir.join("ping.casm");
    std::fs::copy(common::repo_root().join("fixtures/asm/ping_pong.casm"), &casm).expect("copy a fixture");
    run(&["asm", &arg(&casm)]).expect_code(0);
    assert!(dir.join("ping.cbc").exists(), "asm without -o writes <input>.cbc");
}

#[test]
fn compile_to_casm_assembles_checks_and_runs_like_the_choreography() {
    let dir = temp_dir("compile");
    for src in choreographies(&dir) {
        let name = file_name(&src);
        let (casm, cbc, direct) =
            (dir.join(format!("{name}.casm")), dir.join(format!("{name}.cbc")), dir.join(format!("{name}.direct.cbc")));
        run(&["check", &arg(&src)]).expect_code(0).stdout_has(&[": ok: protocol"]);
        run(&["compile", &arg(&src), "--emit", "casm", "-o", &arg(&casm)]).expect_code(0);
        run(&["asm", &arg(&casm), "-o", &arg(&cbc)]).expect_code(0);
        run(&["check", &arg(&cbc)]).expect_code(0).stdout_has(&[": ok: "]);
        run(&["compile", &arg(&src), "-o", &arg(&direct)]).expect_code(0);
        // The direct path appends a source map (debug section 6) to the same
        // program sections; the assembly path has none.
        let (via_casm, direct) = (std::fs::read(&cbc).unwrap(), std::fs::read(&direct).unwrap());
        assert!(direct.starts_with(&via_casm), "{name}: casm path != cbc path");
        assert_eq!(direct.get(via_casm.len()), Some(&6), "{name}: the direct path has a debug section");
        let (from_src, from_cbc) = (dir.join(format!("{name}.s.replay")), dir.join(format!("{name}.c.replay")));
        let text = std::fs::read_to_string(&src).expect("read the choreography");
        let code = common::parse_expect(&src, &text).exit_code();
        // The fixture's own run arguments (e.g. `--owner`), as the fixture test gives them.
        let extra = common::parse_args(&src, &text);
        let run_args = |program: &Path, out: &Path| {
            let mut args = vec!["run".to_owned(), arg(program), "--seed".into(), "2".into(), "-q".into()];
            args.extend(["-o".to_owned(), arg(out)]);
            args.extend(extra.iter().cloned());
            args
        };
        canon(&run_args(&src, &from_src)).expect_code(code);
        canon(&run_args(&cbc, &from_cbc)).expect_code(code);
        run(&["replay", "diff", &arg(&from_src), &arg(&from_cbc)]).expect_code(0).stdout_has(&["identical"]);
    }
}

/// The roles of a choreography, from `project --format json`.
fn roles(src: &Path) -> Vec<String> {
    let o = run(&["project", &arg(src), "--format", "json"]);
    o.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{o}"));
    let list = json.as_array().unwrap_or_else(|| panic!("a JSON array of projections\n{o}"));
    list.iter().map(|p| p["role"].as_str().expect("a role name").to_owned()).collect()
}

#[test]
fn project_prints_every_format_and_every_role() {
    let dir = temp_dir("project");
    for src in choreographies(&dir) {
        let name = file_name(&src);
        let roles = roles(&src);
        assert!(roles.len() >= 2, "{name}: fewer than two roles: {roles:?}");
        let text = run(&["project", &arg(&src)]);
        text.expect_code(0);
        let dot = run(&["project", &arg(&src), "--format", "dot"]);
        dot.expect_code(0).stdout_has(&["digraph"]);
        for r in &roles {
            text.stdout_has(&[&format!(" at {r} {{")]);
            dot.stdout_has(&[&format!("label=\"{r}\"")]);
            let one = run(&["project", &arg(&src), "--role", r, "--format", "json"]);
            let json: serde_json::Value = serde_json::from_str(&one.expect_code(0).stdout).expect("JSON");
            assert_eq!(json.as_array().map(Vec::len), Some(1), "{name}: --role {r} gives one projection");
            assert_eq!(json[0]["role"], r.as_str());
        }
    }
}

#[test]
fn project_with_an_unknown_role_fails_clearly() {
    let dir = temp_dir("project-role");
    let src = &choreographies(&dir).pop().expect("the sample");
    for format in ["text", "dot", "json"] {
        let o = run(&["project", &arg(src), "--role", "Nope", "--format", format]);
        o.expect_clean_failure().stderr_has(&[&arg(src), "no role `Nope`", "Buyer1, Buyer2, Seller"]);
        assert!(o.stdout.is_empty(), "nothing is printed for an unknown role\n{o}");
    }
}

#[test]
fn compile_of_an_unknown_protocol_fails_clearly() {
    let dir = temp_dir("compile-protocol");
    let src = &choreographies(&dir).pop().expect("the sample");
    let out = dir.join("out.cbc");
    let o = run(&["compile", &arg(src), "--protocol", "Nope", "-o", &arg(&out)]);
    o.expect_clean_failure().stderr_has(&["Nope"]);
    assert!(!out.exists(), "a failed compile writes no output");
}
