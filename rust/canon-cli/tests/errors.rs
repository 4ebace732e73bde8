//! Error paths through the real `canon` binary: every bad input fails with a
//! non-zero exit code (never a panic), and the message names the file and the
//! place — byte offset (decode), `proc N (name) instr M` (verify), line:column
//! (assembly and choreographies).

mod common;

use std::path::{Path, PathBuf};

use canon_bytecode::Opcode;
use common::{arg, canon, repo_root, temp_dir};

fn fixture_cbc() -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/asm/ping_pong.cbc")).expect("ping_pong.cbc exists")
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test input");
    path
}

fn check(path: &Path) -> common::Output {
    canon(&["check".to_owned(), arg(path)])
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Byte offset of the first instruction's opcode of procedure 0, found by
/// walking the layout of bytecode-spec/format.md: an 8-byte header, then
/// sections framed as `id u8, body_len u32, body`; the procs section (id 4)
/// starts with its count, then procedure 0's name, param count, params,
/// reg_count (u16) and instruction count.
fn first_opcode_offset(bytes: &[u8]) -> usize {
    let mut at = 8;
    while bytes[at] != 4 {
        at += 5 + u32_at(bytes, at + 1);
    }
    let proc0 = at + 5 + 4;
    let params = u32_at(bytes, proc0 + 4);
    assert_eq!(params, 0, "the entry procedure of ping_pong takes no parameters");
    proc0 + 4 + 4 + 2 + 4
}

#[test]
fn check_of_an_empty_file_names_byte_zero() {
    let dir = temp_dir("empty");
    let path = write(&dir, "empty.cbc", b"");
    check(&path).expect_clean_failure().stderr_has(&[&arg(&path), "byte 0"]);
}

#[test]
fn check_of_a_truncated_module_names_the_byte_offset() {
    let dir = temp_dir("truncated");
    let bytes = fixture_cbc();
    for cut in [3, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let path = write(&dir, &format!("cut{cut}.cbc"), &bytes[..cut]);
        check(&path).expect_clean_failure().stderr_has(&[&arg(&path), "truncated at byte", "byte"]);
    }
}

#[test]
fn check_of_a_file_with_the_wrong_magic_names_byte_zero() {
    let dir = temp_dir("magic");
    let mut bytes = fixture_cbc();
    bytes[..4].copy_from_slice(b"XXXX");
    let path = write(&dir, "magic.cbc", &bytes);
    check(&path).expect_clean_failure().stderr_has(&[&arg(&path), "bad magic at byte 0"]);
}

#[test]
fn check_of_an_unknown_opcode_names_its_byte_offset() {
    let dir = temp_dir("opcode");
    let mut bytes = fixture_cbc();
    let at = first_opcode_offset(&bytes);
    assert_eq!(Opcode::from_byte(bytes[at]), Some(Opcode::Open), "the walk found ping_pong's first `open`");
    assert_eq!(Opcode::from_byte(0xEE), None, "0xEE is unassigned");
    bytes[at] = 0xEE;
    let path = write(&dir, "opcode.cbc", &bytes);
    check(&path).expect_clean_failure().stderr_has(&[&arg(&path), &format!("unknown opcode 0xee at byte {at}")]);
}

const JUMP_OUT_OF_RANGE: &str = "\
.entry main
.proc main() regs 1
    call helper, []
    halt
.end
.proc helper() regs 1
    nop
    jmp @99
    ret
.end
";

#[test]
fn check_of_an_out_of_range_jump_names_procedure_and_instruction() {
    let dir = temp_dir("jump");
    let casm = write(&dir, "jump.casm", JUMP_OUT_OF_RANGE);
    let expected = "proc 1 (helper) instr 1: jump target 99 out of range";
    check(&casm).expect_clean_failure().stderr_has(&[&arg(&casm), expected]);
    // The assembler accepts the raw target; the verifier rejects the .cbc too.
    let cbc = dir.join("jump.cbc");
    canon(&["asm".to_owned(), arg(&casm), "-o".to_owned(), arg(&cbc)]).expect_code(0);
    check(&cbc).expect_clean_failure().stderr_has(&[&arg(&cbc), expected]);
    canon(&["run".to_owned(), arg(&cbc)]).expect_clean_failure().expect_code(1).stderr_has(&[expected]);
}

#[test]
fn check_of_an_assembly_syntax_error_names_line_and_column() {
    let dir = temp_dir("syntax");
    let path = write(&dir, "syntax.casm", ".entry main\n.proc main() regs 1\n    frobnicate r0\n.end\n");
    let o = check(&path);
    o.expect_clean_failure().stderr_has(&[&format!("{}:3:5:", arg(&path)), "frobnicate"]);
    canon(&["asm".to_owned(), arg(&path)]).expect_clean_failure().stderr_has(&[&format!("{}:3:5:", arg(&path))]);
    assert!(!dir.join("syntax.cbc").exists(), "a failed asm writes no output");
}

const UNKNOWN_ROLE: &str = "\
module shop.Typo;

global protocol Typo(role Buyer, role Seller) {
  Title(String) from Buyer to Seller;
  Quote(Int) from Seller to Buyr;
}
";

#[test]
fn a_choreography_with_an_unknown_role_shows_file_line_column_and_a_caret() {
    let dir = temp_dir("role");
    let path = write(&dir, "typo.canon", UNKNOWN_ROLE);
    for cmd in ["check", "compile", "project", "run"] {
        let o = canon(&[cmd.to_owned(), arg(&path)]);
        o.expect_clean_failure().stderr_has(&[&format!(" --> {}:5:29\n", arg(&path)), "unknown role `Buyr`"]);
        let source = o.stderr.lines().position(|l| l.ends_with("Quote(Int) from Seller to Buyr;"));
        let caret = source.and_then(|i| o.stderr.lines().nth(i + 1)).unwrap_or_default();
        let column = caret.find('^').map(|c| c - caret.find('|').unwrap_or(0));
        // `| ` precedes the source text, so column 29 is 2 + 28 bytes after the bar.
        assert_eq!(column, Some(30), "{cmd}: no caret under `Buyr`\n{o}");
        assert!(caret.trim_end().ends_with("^^^^ not a declared role"), "{cmd}: the caret spans `Buyr`\n{o}");
        assert!(o.stderr.contains("= help: did you mean `Buyer`?"), "{cmd}: no suggestion\n{o}");
        assert!(!o.stderr.contains('\x1b'), "{cmd}: colour into a pipe\n{o}");
    }
}

#[test]
fn diagnostics_are_coloured_only_when_asked_or_on_a_terminal() {
    let dir = temp_dir("color");
    let path = write(&dir, "typo.canon", UNKNOWN_ROLE);
    let always = canon(&["check".to_owned(), arg(&path), "--color".to_owned(), "always".to_owned()]);
    always.expect_clean_failure();
    assert!(always.stderr.contains("\x1b["), "--color always colours\n{always}");
    let plain: String = {
        let mut s = always.stderr.clone();
        while let Some(i) = s.find("\x1b[") {
            let end = s[i..].find('m').map_or(s.len(), |m| i + m + 1);
            s.replace_range(i..end, "");
        }
        s
    };
    let never = canon(&["check".to_owned(), arg(&path), "--color".to_owned(), "never".to_owned()]);
    // Colour changes nothing but the escapes.
    assert_eq!(plain, never.stderr, "{always}\n{never}");
    // stderr is a pipe here, so `auto` (the default) does not colour.
    assert_eq!(canon(&["check".to_owned(), arg(&path)]).stderr, never.stderr);
    let json = canon(&["check", "--color", "always", "--message-format", "json", arg(&path).as_str()]);
    assert!(!json.stderr.contains('\x1b'), "JSON messages are never coloured\n{json}");
}

/// Every ill-formed choreography fixture fails `canon check` with exactly the
/// diagnostics of its snapshot `NAME.diag.snap` (made by canon-choreo's
/// `parse_ill_formed` test), printed as is (run from the fixture directory so
/// the file names match).
#[test]
fn every_ill_formed_choreography_fails_check_with_its_diagnostic() {
    let dir = repo_root().join("fixtures/choreo/ill_formed");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures/choreo/ill_formed exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "canon") {
            continue;
        }
        let Ok(snapshot) = insta::Snapshot::from_file(&path.with_extension("diag.snap")) else { continue };
        let insta::internals::SnapshotContents::Text(diag) = snapshot.contents() else {
            panic!("{}: not a text snapshot", path.display())
        };
        let diag = diag.to_string();
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let o = common::canon_in(&dir, &["check", &name]);
        o.expect_clean_failure();
        assert_eq!(o.stderr.trim_end(), diag.trim_end(), "{name}\n{o}");
        seen += 1;
    }
    assert!(seen >= 10, "expected at least 10 ill-formed fixtures, found {seen}");
}

#[test]
fn an_unknown_extension_is_refused_by_every_command() {
    let dir = temp_dir("ext");
    let path = write(&dir, "program.txt", "anything");
    for cmd in [&["check"][..], &["run"], &["compile"], &["project"]] {
        let mut args: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        args.push(arg(&path));
        canon(&args).expect_clean_failure().stderr_has(&[&arg(&path), "unknown file kind", ".cbc", ".casm", ".canon"]);
    }
}

#[test]
fn compile_and_project_refuse_a_program_that_is_not_a_choreography() {
    let casm = repo_root().join("fixtures/asm/ping_pong.casm");
    let dir = temp_dir("notchoreo");
    let out = dir.join("out.cbc");
    let compile = canon(&["compile".to_owned(), arg(&casm), "-o".to_owned(), arg(&out)]);
    compile.expect_clean_failure().stderr_has(&[&arg(&casm), "not a choreography"]);
    assert!(!out.exists(), "a failed compile writes no output");
    let project = canon(&["project".to_owned(), arg(&casm)]);
    project.expect_clean_failure().stderr_has(&[&arg(&casm), "not a choreography"]);
    assert_eq!(project.stderr.lines().count(), 1, "one clear line, not a parse of assembly as a choreography");
}

#[test]
fn a_missing_file_is_named() {
    let dir = temp_dir("missing");
    let cases: [(&[&str], &str); 7] = [
        (&["check"], "nope.cbc"),
        (&["check"], "nope.casm"),
        (&["check"], "nope.canon"),
        (&["run"], "nope.casm"),
        (&["disasm"], "nope.cbc"),
        (&["asm"], "nope.casm"),
        (&["replay", "show"], "nope.replay"),
    ];
    for (cmd, file) in cases {
        let path = dir.join(file);
        let mut args: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        args.push(arg(&path));
        canon(&args).expect_clean_failure().expect_code(1).stderr_has(&["cannot read", &arg(&path)]);
    }
}

#[test]
fn disasm_of_assembly_text_is_a_decode_error_not_a_panic() {
    let path = repo_root().join("fixtures/asm/ping_pong.casm");
    canon(&["disasm".to_owned(), arg(&path)]).expect_clean_failure().stderr_has(&[&arg(&path), "byte 0"]);
}

#[test]
fn wrong_usage_exits_with_code_2() {
    for args in [&["frobnicate"][..], &["run"], &["run", "x.casm", "--seed", "minus-one"], &["replay", "diff", "a"]] {
        let o = canon(args);
        o.expect_code(2);
        assert!(o.stderr.starts_with("error: ") && o.stderr.contains("--help"), "{o}");
    }
}

#[test]
fn check_refuses_an_open_whose_local_types_are_not_coherent() {
    // A sends M1 then M2; B receives only M1: before, this passed `canon check`
    // and ran to `Closed` with exit 0, M2 silently lost.
    let dir = temp_dir("incoherent-open");
    let casm = "\
.type ta = B!M1(Int).B!M2(Int).end
.type tb = A?M1(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    produce r1, r0, M1
    send r0, M1, r1
    produce r1, r0, M2
    send r0, M2, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, M1, r1
    close r0
    halt
.end
";
    let path = write(&dir, "incoherent.casm", casm);
    check(&path).expect_clean_failure().stderr_has(&[
        "proc 0 (main) instr 0: the opened local types are not coherent",
        "every role reaches end with message M2 from A to B undelivered",
    ]);
    canon(&["run".to_owned(), arg(&path)]).expect_clean_failure().stderr_has(&["not coherent"]);
}
