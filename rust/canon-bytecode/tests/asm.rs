//! The `.casm` assembler and disassembler: exact round trips over arbitrary
//! modules, never panicking on arbitrary text, and every error with its
//! line:column.

use std::fs;
use std::path::Path;

use canon_bytecode::testgen::{arb_module, arb_module_unchecked};
use canon_bytecode::{
    AsmError, AsmErrorKind, Backpressure, BufferConfig, BufferMode, Const, EdgeBuffer, Instr, Module, Param, assemble,
    disassemble,
};
use canon_types::{GraphError, LocalType, SymId, TypeGraph, TypeId};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

fn fixture_sources() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asm");
    let mut paths: Vec<_> = fs::read_dir(dir)
        .expect("fixtures/asm exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "casm"))
        .collect();
    paths.sort();
    paths.iter().map(|p| fs::read_to_string(p).expect("readable fixture")).collect()
}

fn round_trip(m: &Module) -> Result<(), TestCaseError> {
    let text = disassemble(m);
    match assemble(&text) {
        Ok(back) => prop_assert_eq!(&back, m, "disassembly:\n{}", text),
        Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn disassembly_assembles_back_to_the_same_module(m in arb_module()) {
        round_trip(&m)?;
    }

    #[test]
    fn disassembly_of_unchecked_modules_assembles_back_exactly(m in arb_module_unchecked()) {
        round_trip(&m)?;
    }

    #[test]
    fn assemble_never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        let _ = assemble(&src);
    }

    #[test]
    fn assemble_never_panics_on_token_soup(words in proptest::collection::vec(token(), 0..40)) {
        let _ = assemble(&words.concat());
    }

    #[test]
    fn assemble_never_panics_on_mutated_fixtures(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        cut in 0usize..4,
        insert in token(),
    ) {
        let sources = fixture_sources();
        let src = which.get(&sources);
        let chars: Vec<char> = src.chars().collect();
        let i = at.index(chars.len() + 1);
        let end = (i + cut).min(chars.len());
        let mutated: String = chars[..i].iter().copied().chain(insert.chars()).chain(chars[end..].iter().copied()).collect();
        if let Ok(m) = assemble(&mutated) {
            round_trip(&m)?;
        }
    }
}

/// Fragments that reach deep into the grammar when strung together.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".proc p() regs 2\n".to_owned()),
        Just(".end\n".to_owned()),
        Just(".type t = ".to_owned()),
        Just(".type 0 send A { L(Int) -> 0 }\n".to_owned()),
        Just(".const 0 int 5\n".to_owned()),
        Just(".string 0 \"A\"\n".to_owned()),
        Just(".entry p\n".to_owned()),
        Just("mu X.".to_owned()),
        Just("A!{L(Int).end, M().X}".to_owned()),
        Just(
            "open roles [A], types [t], handlers [h], dsts [r0], buffers [A -> A fifo resize cap 1 max 2]\n".to_owned()
        ),
        Just("offer r0, r1, [L -> x, M -> @9]\n".to_owned()),
        Just("recv_timeout r0, r1, [L -> x], 3, x\n".to_owned()),
        Just("x:\n".to_owned()),
        Just("send r0, L, r1\n".to_owned()),
        Just("const r0, const#0\n".to_owned()),
        prop::sample::select(vec![
            "[",
            "]",
            "(",
            ")",
            "{",
            "}",
            ",",
            "->",
            "\"",
            "x\"0",
            "#",
            "@",
            ";",
            "\n",
            " ",
            "r99",
            "sym#4294967296",
            "-",
            "0x",
            "\\u{"
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
        "-?[0-9]{1,22}",
    ]
}

/// Assembles `src`, expecting an error at `line:col`; returns its kind.
fn error_at(src: &str, line: u32, col: u32) -> AsmErrorKind {
    match assemble(src) {
        Ok(m) => panic!("expected an error at {line}:{col}, assembled {m:?}"),
        Err(AsmError { line: l, col: c, kind }) => {
            assert_eq!((l, c), (line, col), "error `{kind}` at the wrong place in:\n{src}");
            kind
        }
    }
}

const HEAD: &str = ".proc main() regs 2\n";

#[test]
fn unknown_mnemonic_is_named_with_its_position() {
    let kind = error_at(&format!("{HEAD}    nop\n    jump r0\n.end\n"), 3, 5);
    assert_eq!(kind, AsmErrorKind::UnknownMnemonic("jump".into()));
}

#[test]
fn wrong_operand_count() {
    let kind = error_at(&format!("{HEAD}  send r0, Ping\n.end\n"), 2, 3);
    assert_eq!(kind, AsmErrorKind::OperandCount { mnemonic: "send", expected: "3", found: 2 });
    let kind = error_at(&format!("{HEAD}  halt r0\n.end\n"), 2, 3);
    assert_eq!(kind, AsmErrorKind::OperandCount { mnemonic: "halt", expected: "no", found: 1 });
    let kind = error_at(&format!("{HEAD}  nop\n  open roles [], types [], handlers []\n.end\n"), 3, 3);
    assert_eq!(kind, AsmErrorKind::OperandCount { mnemonic: "open", expected: "4 or 5", found: 3 });
}

#[test]
fn register_beyond_the_frame() {
    let kind = error_at(&format!("{HEAD}  mov r0, r12\n.end\n"), 2, 11);
    assert_eq!(kind, AsmErrorKind::BadRegister { reg: 12, reg_count: 2 });
    assert_eq!(kind.to_string(), "register r12 out of range: the procedure has 2 register(s)");
}

#[test]
fn undefined_and_duplicate_labels() {
    let kind = error_at(&format!("{HEAD}  jmp nowhere\n.end\n"), 2, 7);
    assert_eq!(kind, AsmErrorKind::UndefinedLabel("nowhere".into()));
    let kind = error_at(&format!("{HEAD}a:\n  nop\n  a: halt\n.end\n"), 4, 3);
    assert_eq!(kind, AsmErrorKind::DuplicateLabel("a".into()));
}

#[test]
fn undefined_type_const_and_proc_names() {
    let kind = error_at(".proc main(value, ep ta) regs 2\n.end\n", 1, 22);
    assert_eq!(kind, AsmErrorKind::UndefinedType("ta".into()));
    let kind = error_at(&format!("{HEAD}  const r0, three\n.end\n"), 2, 13);
    assert_eq!(kind, AsmErrorKind::UndefinedConst("three".into()));
    let kind = error_at(&format!("{HEAD}  spawn worker, [r0]\n.end\n"), 2, 9);
    assert_eq!(kind, AsmErrorKind::UndefinedProc("worker".into()));
    let kind = error_at(".entry main\n", 1, 8);
    assert_eq!(kind, AsmErrorKind::UndefinedProc("main".into()));
}

#[test]
fn ambiguous_procedure_names_need_raw_ids() {
    let src = ".proc p() regs 0\n.end\n.proc p() regs 0\n.end\n.entry p\n";
    assert_eq!(error_at(src, 5, 8), AsmErrorKind::AmbiguousProc("p".into()));
    let m = assemble(".proc p() regs 0\n.end\n.proc p() regs 0\n.end\n.entry proc#1\n").unwrap();
    assert_eq!(m.entry, 1);
}

#[test]
fn bad_numbers() {
    assert_eq!(
        error_at(".const 0 int 9223372036854775808\n", 1, 14),
        AsmErrorKind::BadNumber("9223372036854775808".into())
    );
    assert_eq!(error_at(".const 0 int 12ab\n", 1, 14), AsmErrorKind::BadNumber("12ab".into()));
    assert_eq!(error_at(".proc p() regs 70000\n.end\n", 1, 16), AsmErrorKind::BadNumber("70000".into()));
    assert_eq!(error_at(".entry proc#99999999999\n", 1, 8), AsmErrorKind::BadNumber("proc#99999999999".into()));
    assert_eq!(error_at(".proc p() regs 1\n  jmp @x\n.end\n", 2, 8), AsmErrorKind::BadNumber("x".into()));
}

#[test]
fn lexical_errors() {
    assert_eq!(error_at(".string 0 \"open\n", 1, 11), AsmErrorKind::UnterminatedString);
    assert_eq!(error_at(".string 0 \"a\\q\"\n", 1, 13), AsmErrorKind::BadEscape);
    assert_eq!(error_at(".const 0 bytes x\"abc\"\n", 1, 16), AsmErrorKind::BadBytes);
    assert_eq!(error_at("\n\n  .const 0 unit $\n", 3, 17), AsmErrorKind::UnexpectedChar('$'));
    let kind = error_at(&format!("{HEAD}  select r0, [A -> x)\n.end\n"), 2, 21);
    assert_eq!(kind, AsmErrorKind::Unbalanced);
}

#[test]
fn structural_errors() {
    assert_eq!(error_at("halt\n", 1, 1), AsmErrorKind::OutsideProc);
    assert_eq!(error_at(".end\n", 1, 1), AsmErrorKind::EndWithoutProc);
    assert_eq!(error_at("\n.proc p() regs 0\n  halt\n", 2, 1), AsmErrorKind::UnclosedProc);
    assert_eq!(
        error_at(".proc p() regs 0\n.const 0 unit\n.end\n", 2, 1),
        AsmErrorKind::DirectiveInProc("const".into())
    );
    assert_eq!(error_at(".bogus 1\n", 1, 1), AsmErrorKind::UnknownDirective("bogus".into()));
    assert_eq!(error_at(".proc p() regs 0\n.end\n.entry p\n.entry p\n", 4, 1), AsmErrorKind::DuplicateEntry);
    let kind = error_at(".string 1 \"A\"\n", 1, 9);
    assert_eq!(kind, AsmErrorKind::IndexOutOfOrder { table: "string", found: 1, next: 0 });
    let kind = error_at(".type t = end\n.type t = end\n", 2, 7);
    assert_eq!(kind, AsmErrorKind::DuplicateType("t".into()));
    let kind = error_at(".const k = unit\n.const k = unit\n", 2, 8);
    assert_eq!(kind, AsmErrorKind::DuplicateConst("k".into()));
}

#[test]
fn operand_shape_errors() {
    let kind = error_at(
        &format!(
            "{HEAD}  open roles [A], types [type#0], handlers [h], dsts [r0], buffers [B -> A fifo block cap 1]\n.end\n"
        ),
        2,
        69,
    );
    assert_eq!(kind, AsmErrorKind::UndefinedRole("B".into()));
    let kind = error_at(&format!("{HEAD}  open roles [A], kinds [type#0], handlers [h], dsts [r0]\n.end\n"), 2, 19);
    assert_eq!(kind, AsmErrorKind::Expected { what: "`types [...]`", found: "`kinds`".into() });
    let kind = error_at(&format!("{HEAD}  send r0, sym#1, type#2\n.end\n"), 2, 19);
    assert_eq!(kind, AsmErrorKind::BadRawKind { kind: "type".into(), expected: "reg" });
    let kind = error_at(&format!("{HEAD}  recv r0, Ping r1, r1\n.end\n"), 2, 17);
    assert_eq!(kind, AsmErrorKind::Expected { what: "end of operand", found: "`r1`".into() });
}

#[test]
fn local_type_errors() {
    let kind = error_at(".type t = mu X.A!Ping().Y\n", 1, 11);
    assert_eq!(kind, AsmErrorKind::Type(GraphError::UnboundVar { var: "Y".into() }));
    let kind = error_at(".type t = A!Ping.end\n", 1, 17);
    assert_eq!(kind, AsmErrorKind::Expected { what: "`(`", found: "`.`".into() });
    let deep = format!(".type t = {}end\n", "A!M().".repeat(400));
    assert_eq!(assemble(&deep).map_err(|e| e.kind), Err(AsmErrorKind::TooDeep));
}

#[test]
fn error_messages_lead_with_line_and_column() {
    let err = assemble(&format!("{HEAD}  frob\n.end\n")).unwrap_err();
    assert_eq!(err.to_string(), "2:3: unknown mnemonic `frob`");
}

#[test]
fn readable_local_types_lower_like_the_type_graph() {
    let m = assemble(".type ta = mu X.B!{Ping(n: Int).B?Pong(Int).X, Stop().end}\n").unwrap();
    let ty = m.types.lift(TypeId(0), &|s: SymId| m.sym(s).to_owned()).unwrap();
    assert_eq!(ty.to_string(), "mu X.B!{Ping(Int).B?Pong(Int).X, Stop().end}");
    let mut strings = Vec::new();
    let mut graph = TypeGraph::default();
    let mut intern = |s: &str| match strings.iter().position(|t: &String| t == s) {
        Some(i) => SymId(i as u32),
        None => {
            strings.push(s.to_owned());
            SymId(strings.len() as u32 - 1)
        }
    };
    let lowered: LocalType = ty.clone();
    graph.lower(&lowered, &mut intern).unwrap();
    assert_eq!(graph, m.types);
    assert_eq!(strings, m.strings);
}

#[test]
fn hand_written_forms_assemble_to_the_expected_instructions() {
    let src = r#"
        .const limit = int 3
        .const 1 str "a \"quoted\"\n string"
        .const 2 bytes x"00ff"
        .type t = "the peer"!"odd label"().end
        .proc main() regs 3
            open roles [A, B], types [t, type#9], handlers [h, h], dsts [r0, r1], buffers [A -> B latest drop cap 1, B -> role#0 fifo resize cap 2 max 8]
            const r2, limit
        top: loop: recv_timeout r0, r1, [Ping -> top, Pong -> end], 4, @99
            invoke r2, sym#7, reg#300
        end:
        .end
    "#;
    let m = assemble(src).unwrap();
    assert_eq!(m.consts[0], Const::Int(3));
    assert_eq!(m.consts[1], Const::Str(SymId(0)));
    assert_eq!(m.strings[0], "a \"quoted\"\n string");
    assert_eq!(m.consts[2], Const::Bytes(vec![0, 0xff]));
    let code = &m.procs[0].code;
    let Instr::Open { buffers, types, .. } = &code[0] else { panic!("open expected, got {:?}", code[0]) };
    assert_eq!(types, &[TypeId(0), TypeId(9)]);
    let latest = BufferConfig { mode: BufferMode::LatestValue, policy: Backpressure::Drop, capacity: 1 };
    let resize = BufferConfig { mode: BufferMode::Fifo, policy: Backpressure::Resize { max_capacity: 8 }, capacity: 2 };
    assert_eq!(
        buffers,
        &[EdgeBuffer { from: 0, to: 1, config: latest }, EdgeBuffer { from: 1, to: 0, config: resize }]
    );
    let Instr::RecvTimeout { arms, timeout_ticks: 4, on_timeout: 99, .. } = &code[2] else { panic!("{:?}", code[2]) };
    assert_eq!((arms[0].target, arms[1].target), (2, 4));
    assert_eq!(code[3], Instr::Invoke { dst: 2, effect: SymId(7), arg: 300 });
    assert_eq!(m.procs[0].params, Vec::<Param>::new());
    round_trip(&m).unwrap();
}

#[test]
fn disassembly_is_a_fixed_point_for_every_fixture() {
    for src in fixture_sources() {
        let once = disassemble(&assemble(&src).unwrap());
        let twice = disassemble(&assemble(&once).unwrap());
        assert_eq!(once, twice);
    }
}

#[test]
fn names_that_would_be_ambiguous_are_written_raw() {
    let mut m = assemble(".proc p() regs 1\n  send r0, A, r0\n.end\n.proc q() regs 0\n.end\n").unwrap();
    m.strings.push("A".into());
    m.procs[1].name = m.procs[0].name;
    m.procs[0].code.push(Instr::Send { ep: 0, label: SymId(3), src: 5 });
    m.procs[0].code.push(Instr::Jmp { target: 7 });
    let text = disassemble(&m);
    assert!(text.contains("send r0, sym#3, reg#5"), "{text}");
    assert!(text.contains("jmp @7"), "{text}");
    assert!(text.contains(".entry proc#0"), "{text}");
    assert_eq!(assemble(&text).unwrap(), m);
}
