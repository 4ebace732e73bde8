//! The stable error-code registry: every family's table, pinned by one
//! snapshot so a renumbering is a visible diff (STYLE.md 10).

use canon_types::CodeEntry;

/// Every family with its allowed range.
fn families() -> Vec<(&'static str, std::ops::RangeInclusive<u16>, &'static [CodeEntry])> {
    vec![
        ("decode", 1000..=1999, canon_bytecode::DECODE_CODES),
        ("verify", 2000..=2099, canon_bytecode::VERIFY_CODES),
        ("names", 2100..=2199, canon_bytecode::NAME_CODES),
        ("runtime", 3000..=3999, canon_machine::FAULT_CODES),
        ("ownership", 4000..=4999, canon_runtime::machine::LOAD_CODES),
        ("ownership", 4000..=4999, canon_machine::OWNERSHIP_CODES),
        ("ownership", 4000..=4999, canon_machine::OWNERSHIP_FAULT_CODES),
        ("replay", 5000..=5099, canon_replay::REPLAY_CODES),
        ("checkpoint", 5100..=5199, canon_runtime::CHECKPOINT_CODES),
        ("choreography", 6000..=6099, canon_choreo::CHOREO_CODES),
        ("projection", 6100..=6149, canon_types::project::PROJECTION_CODES),
        ("compile", 6150..=6199, canon_choreo::COMPILE_CODES),
    ]
}

#[test]
fn codes_are_unique_and_in_their_family_range() {
    let mut seen = std::collections::BTreeMap::new();
    for (family, range, table) in families() {
        assert!(!table.is_empty(), "{family}: empty code table");
        for e in table {
            assert!(range.contains(&e.code), "{family}: code {} ({}) outside {range:?}", e.code, e.name);
            if let Some(other) = seen.insert(e.code, (family, e.name)) {
                panic!("code {} used twice: {other:?} and ({family}, {})", e.code, e.name);
            }
            assert!(!e.summary.is_empty(), "{family}: code {} has no summary", e.code);
        }
    }
}

#[test]
fn code_table_snapshot() {
    // In code order (a family may declare its codes in several tables).
    let mut rows: Vec<(u16, String)> = Vec::new();
    for (family, _, table) in families() {
        for e in table {
            rows.push((e.code, format!("{} {family:<12} {:<28} {}\n", e.code, e.name, e.summary)));
        }
    }
    rows.sort();
    let out: String = rows.into_iter().map(|(_, row)| row).collect();
    insta::assert_snapshot!("error_codes", out);
}

#[test]
fn every_code_is_documented_in_docs_errors_md() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root");
    let doc = std::fs::read_to_string(root.join("docs/errors.md")).expect("docs/errors.md");
    let missing: Vec<String> = families()
        .iter()
        .flat_map(|(_, _, table)| table.iter())
        .filter(|e| !doc.contains(&format!("| {} | {} |", e.code, e.name)))
        .map(|e| format!("{} {}", e.code, e.name))
        .collect();
    assert!(missing.is_empty(), "codes missing from docs/errors.md:\n{}", missing.join("\n"));
}
