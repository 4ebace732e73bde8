//! `canon explain CODE`: the entry of an error code in docs/errors.md (built
//! into the binary), with its family's section and notes.

use anyhow::{Result, bail};

use crate::exit;
use crate::out::Out;

/// docs/errors.md, as built.
const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

/// The explanation of `code` (`E6101`, `e6101` or `6101`), or `None`.
pub fn explanation(code: u16) -> Option<String> {
    let mut section: Option<(&str, Vec<&str>)> = None;
    let mut found: Option<(String, &str)> = None;
    let cell = format!("| {code} |");
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
    let notes = notes.trim();
    let mut text = format!("{head}\n\nfamily: {family}\n");
    if !notes.is_empty() {
        text.push('\n');
        text.push_str(notes);
        text.push('\n');
    }
    Some(text)
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
