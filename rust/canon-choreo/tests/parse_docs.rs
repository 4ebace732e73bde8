//! `docs/language.md` lists every diagnostic code the front end owns.

#[test]
fn the_language_reference_lists_every_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    let doc = std::fs::read_to_string(path).expect("docs/language.md exists");
    for e in canon_choreo::CHOREO_CODES {
        let row = format!("| E{} | {} |", e.code, e.name);
        assert!(doc.contains(&row), "docs/language.md lacks the row `{row}`");
    }
}
