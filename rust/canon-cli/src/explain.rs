//! `canon explain CODE`: the entry of an error code in docs/errors.md (built
//! into the binary), with its family's section and notes.

use anyhow::{Result, bail};

use crate::exit;
use crate::out::Out;

/// docs/errors.md, as built.
const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

/// The explanation of `code` (`E6101`, `e6101` or `6101`), or `None`: its
/// table row, its family (the `## ` section holding the row) with the
/// section's notes, then the code's own `### E6101 …` subsection (under
/// "Explanations") when it has one.
pub fn explanation(code: u16) -> Option<String> {
    let cell = format!("| {code} |");
    let mut section: Option<(&str, Vec<&str>)> = None;
    let mut found: Option<(String, &str)> = None;
    for line in ERRORS_MD.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            if found.is_some() {
                break;
            }
            section = Some((title, Vec::new()));
        } else if line.starts_with(&cell) {
            let cols: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let (name, meaning) = (cols.get(1).copied().unwrap_or(""), cols.get(2).copied().unwrap_or(""));
            found = Some((format!("E{code} {name}: {meaning}"), section.as_ref().map_or("", |s| s.0)));
        } else if let Some((_, notes)) = section.as_mut()
            && !line.starts_with('|')
        {
            notes.push(line);
        }
    }
    let (head, family) = found?;
    let notes = section.map(|(_, n)| n.join("\n")).unwrap_or_default();
    let own = format!("### E{code} ");
    let long = ERRORS_MD
        .lines()
        .skip_while(|l| !l.starts_with(&own))
        .skip(1)
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
        // The doc-command test's markers are not for the reader.
        .filter(|l| !l.starts_with("<!-- doc-test"))
        .collect::<Vec<_>>();
    let long = unfence(&long);
    let mut text = format!("{head}\n\nfamily: {family}\n");
    for part in [notes.trim(), long.trim()] {
        if !part.is_empty() {
            text.push('\n');
            text.push_str(part);
            text.push('\n');
        }
    }
    Some(text)
}

/// Markdown text for a terminal: fenced blocks become blocks indented by
/// four spaces, without their fences.
fn unfence(lines: &[&str]) -> String {
    let mut inside = false;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.starts_with("```") {
            inside = !inside;
        } else if inside {
            out.push(format!("    {line}"));
        } else {
            out.push((*line).to_owned());
        }
    }
    out.join("\n")
}

pub fn explain(code: &str, out: &mut Out) -> Result<u8> {
    let digits = code.trim_start_matches(['E', 'e']);
    let Ok(n) = digits.parse::<u16>() else {
        bail!("`{code}` is not an error code; codes look like E6101 or 6101 (see docs/errors.md)")
    };
    match explanation(n) {
        Some(text) => {
            out.text(&text)?;
            Ok(exit::OK)
        }
        None => bail!("no error code {n}; docs/errors.md lists every code"),
    }
}

#[cfg(test)]
mod tests {
    use super::explanation;

    #[test]
    fn a_code_with_a_long_explanation_prints_it_and_only_its_own() {
        let e = explanation(6003).expect("6003 is documented");
        assert!(e.starts_with("E6003 UnknownRole: "), "{e}");
        assert!(e.contains("family: Choreography front end"), "{e}");
        assert!(e.contains("declare it in the protocol's role list"), "{e}");
        assert!(!e.contains("### ") && !e.contains("```") && !e.contains("<!--"), "{e}");
        assert!(e.contains("\n    $ canon check unknown_role.canon\n"), "examples are indented: {e}");
        let other = explanation(6004).expect("6004 is documented");
        assert!(!other.contains("declare it in the protocol's role list"), "{other}");
        assert_eq!(explanation(9999), None);
    }
}
