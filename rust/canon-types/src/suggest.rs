//! "Did you mean …?": the known name closest to a misspelt one, for the
//! help lines of choreography diagnostics and of host name lookups.

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo (Jaro-Winkler similarity of at least 0.8, or one edit away in a word
/// of three or more characters), and not `word` itself. Ties go to the
/// first candidate, so the answer is deterministic.
///
/// ```
/// use canon_types::did_you_mean;
/// assert_eq!(did_you_mean("Selr", ["Buyer1", "Buyer2", "Seller"]), Some("Seller"));
/// assert_eq!(did_you_mean("Zebra", ["Buyer1", "Seller"]), None);
/// ```
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let score = strsim::jaro_winkler(word, c);
        // One edit is a typo only in a word long enough for one edit not to
        // turn it into any other short name (`C` is not a typo of `B`).
        let close = score >= 0.8 || (word.chars().count() >= 3 && strsim::damerau_levenshtein(word, c) <= 1);
        if close && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_the_closest_name_only_when_close() {
        assert_eq!(did_you_mean("Bider2", ["A", "Bider"]), Some("Bider"));
        assert_eq!(did_you_mean("chioce", ["choice", "continue", "rec"]), Some("choice"));
        assert_eq!(did_you_mean("Selr", ["Buyer1", "Buyer2", "Seller"]), Some("Seller"));
        assert_eq!(did_you_mean("Zebra", ["Buyer1", "Seller"]), None);
        assert_eq!(did_you_mean("A", ["A"]), None);
        assert_eq!(did_you_mean("C", ["A", "B"]), None);
    }
}
