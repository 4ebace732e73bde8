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

/// The examples written as ```` ```canon ```` blocks in `docs/language.md`
/// are complete protocols that pass every check (project and compile).
#[test]
fn the_language_reference_canon_examples_check() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    let doc = std::fs::read_to_string(path).expect("docs/language.md exists");
    let mut examples = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```canon\n") {
        let body = &rest[start + "```canon\n".len()..];
        let end = body.find("```").expect("a closed example block");
        let src = &body[..end];
        if let Err(rendered) = canon_choreo::check_source("language.md", src) {
            panic!("a docs/language.md example does not check:\n{src}\n{rendered}");
        }
        examples += 1;
        rest = &body[end + 3..];
    }
    assert!(examples >= 2, "expected the `on timeout` and `on cancel` examples, found {examples}");
}
