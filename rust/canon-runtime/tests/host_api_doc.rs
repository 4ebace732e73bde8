//! docs/host-api.md's per-role host example is the doc test of
//! `canon_runtime::RoleHost` (which `cargo test --doc` compiles and runs):
//! the two must not drift apart.

use std::path::Path;

fn between<'a>(text: &'a str, marker: &str) -> &'a str {
    let begin = format!("<!-- {marker}:begin -->");
    let end = format!("<!-- {marker}:end -->");
    let from = text.find(&begin).unwrap_or_else(|| panic!("no {begin}")) + begin.len();
    let to = text[from..].find(&end).unwrap_or_else(|| panic!("no {end}")) + from;
    &text[from..to]
}

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_documented_role_host_example_is_the_doc_test() {
    let source = read("src/role_host.rs");
    let doctest: Vec<&str> = between(&source, "role-host-example")
        .lines()
        .map(|l| l.trim_start().trim_start_matches("///").strip_prefix(' ').unwrap_or(""))
        .filter(|l| !l.starts_with("# ") && !l.is_empty())
        .collect();
    let docs = read("../../docs/host-api.md");
    let shown: Vec<&str> = between(&docs, "role-host-example")
        .lines()
        .map(|l| l.strip_prefix("```rust").map_or(l, |_| "```"))
        .filter(|l| !l.is_empty())
        .collect();
    assert!(doctest.len() > 10, "the doc test is there");
    assert_eq!(shown, doctest, "docs/host-api.md and the RoleHost doc test differ");
}
