//! Robustness properties: no input makes the front end panic, every
//! diagnostic's span lies inside the source, and rendering always succeeds.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

/// The `.canon` sources in `fixtures/` and `fixtures/choreo/ill_formed/`,
/// plus a built-in protocol using every construct.
fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("choreo/ill_formed")] {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "canon")
                && let Ok(s) = fs::read_to_string(&p)
            {
                files.push(s);
            }
        }
    }
    files.push(EVERYTHING.to_owned());
    files
}

const EVERYTHING: &str = r#"module shop.TwoBuyer;
import foo.Bar;
type <java> "java.lang.String" from "rt.jar" as String;
global protocol TwoBuyer(role Buyer1, role Buyer2, role Seller) {
  buffer Buyer1 -> Seller fifo block 4;
  Title(String) from Buyer1 to Seller;
  Quote(Int) from Seller to Buyer1, Buyer2 within 5;
  Share(x: int) from Buyer1 to Buyer2;
  choice at Buyer2 { Accept(String) from Buyer2 to Seller; invoke Charge at Seller; }
  or { Reject() from Buyer2 to Seller; }
  rec Loop { Ping() from Buyer1 to Seller; continue Loop; }
}
aux global protocol Sub(role A, role B) { Bye() from A to B; do Sub(A, B); }
"#;

/// Runs the whole front end on `src`; checks the invariants of its answer.
fn check(src: &str) -> Result<(), TestCaseError> {
    match canon_choreo::check_source("p.canon", src) {
        Ok(_) => {}
        Err(rendered) => prop_assert!(rendered.contains("error[E"), "{rendered}"),
    }
    if let Err(e) = canon_choreo::load("p.canon", src, None) {
        prop_assert!(!e.items.is_empty());
        for d in &e.items {
            prop_assert!(d.span.start <= d.span.end && d.span.end as usize <= src.len(), "{d:?}");
            prop_assert!((6001..=6199).contains(&d.code));
        }
    }
    Ok(())
}

/// A mutation: (position, kind, byte). Kinds: delete, insert, replace, duplicate.
fn mutate(src: &str, edits: &[(usize, u8, char)]) -> String {
    let mut s: Vec<char> = src.chars().collect();
    for &(at, kind, c) in edits {
        let i = if s.is_empty() { 0 } else { at % (s.len() + 1) };
        match kind % 4 {
            0 if i < s.len() => {
                s.remove(i);
            }
            1 => s.insert(i, c),
            2 if i < s.len() => s[i] = c,
            _ => {
                let end = (i + 12).min(s.len());
                let chunk: Vec<char> = s[i..end].to_vec();
                s.splice(i..i, chunk);
            }
        }
    }
    s.into_iter().collect()
}

fn token_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '(', ')', '{', '}', ';', ',', ':', '.', '<', '>', '-', '*', '/', '"', '\n', ' ', '#'
        ]),
        prop::char::range('a', 'z'),
        prop::char::range('0', '9'),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(src in "\\PC{0,200}") {
        check(&src)?;
    }

    #[test]
    fn random_token_soup_never_panics(words in prop::collection::vec(prop::sample::select(vec![
        "global", "protocol", "aux", "role", "A", "B", "(", ")", "{", "}", ";", ",", "from", "to", "choice", "at",
        "or", "rec", "continue", "do", "P", "invoke", "buffer", "->", "fifo", "block", "within", "5", "M", "(*", "*)",
    ]), 0..80)) {
        check(&words.join(" "))?;
    }

    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), token_char()), 1..6),
    ) {
        let corpus = corpus();
        let src = &corpus[pick.index(corpus.len())];
        check(&mutate(src, &edits))?;
    }
}

#[test]
fn the_built_in_corpus_entry_is_well_formed() {
    let c = canon_choreo::load("p.canon", EVERYTHING, None).expect("well-formed");
    assert_eq!(c.entry().protocol.name, "TwoBuyer");
}
