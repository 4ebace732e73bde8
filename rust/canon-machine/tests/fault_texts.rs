//! A checkpoint saves a fault's fixed text and restoring maps it back to
//! `canon_machine::fault::FAULT_TEXTS`: every text the machine's source can
//! put in a fault must be listed there, or restoring a group that faulted
//! with it would be refused.

use std::path::Path;

/// The string literals following `marker` in `source`.
fn literals_after<'s>(source: &'s str, marker: &str) -> Vec<&'s str> {
    source
        .match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &source[at + marker.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn every_fault_text_in_the_source_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("readable");
            found.extend(literals_after(&source, "what: \"").into_iter().map(str::to_owned));
            found.extend(literals_after(&source, "self.arith(co, \"").into_iter().map(str::to_owned));
        }
    }
    assert!(found.len() > 10, "the scan found only {found:?}");
    let missing: Vec<&String> =
        found.iter().filter(|t| !canon_machine::fault::FAULT_TEXTS.contains(&t.as_str())).collect();
    assert!(missing.is_empty(), "fault texts missing from FAULT_TEXTS: {missing:?}");
}
