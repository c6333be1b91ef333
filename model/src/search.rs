//! Free-text search of a list (`GET /vtid/list?q=`): the one rule both stores apply, so
//! that they list exactly the same records. A record matches when each word of the
//! search is contained in its title or in its description, whatever the case. A word is
//! what whitespace separates; "dep" is found in "Deploy".

use crate::record::Record;

/// The words of a search, folded to lower case, sorted and without repeats (their order
/// and repeats do not change what matches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    words: Vec<String>,
}

impl Search {
    /// The search for `text`; `None` when it has no word (empty or only whitespace).
    pub fn new(text: &str) -> Option<Self> {
        let mut words: Vec<String> = text.split_whitespace().map(fold).collect();
        words.sort();
        words.dedup();
        (!words.is_empty()).then_some(Self { words })
    }

    /// The words, folded ([`fold`]), sorted, each once.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The words joined by one space: the search's one spelling (what a cursor is bound to).
    pub fn canonical(&self) -> String {
        self.words.join(" ")
    }

    /// Whether each word is in the title or in the description (a word is never found
    /// across the two).
    pub fn matches(&self, title: Option<&str>, description: &str) -> bool {
        let title = title.map(fold).unwrap_or_default();
        let description = fold(description);
        self.words
            .iter()
            .all(|w| title.contains(w.as_str()) || description.contains(w.as_str()))
    }

    pub fn matches_record(&self, r: &Record) -> bool {
        self.matches(r.title.as_deref(), &r.description)
    }
}

/// Lower case, character by character. Unlike `str::to_lowercase` it never looks at a
/// character's neighbours (a final 'Σ' folds to 'σ' as any other), so folding text
/// folds each of its parts the same way: a folded word is in the folded text exactly
/// when the text holds the word in some case. The embedded store indexes this form.
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_in_the_title_or_the_description_whatever_the_case() {
        let s = Search::new("  DEP\tprod ").unwrap();
        assert_eq!(s.words(), ["dep", "prod"]);
        assert!(s.matches(Some("Deploy 1.4"), "Ship to production"));
        assert!(s.matches(None, "deploy to PROD"));
        assert!(
            !s.matches(Some("Deploy 1.4"), "Ship it"),
            "every word is needed"
        );
        assert!(
            !Search::new("dep1").unwrap().matches(Some("dep"), "1"),
            "a word is not found across title and description"
        );
    }

    #[test]
    fn the_spelling_does_not_change_the_search() {
        assert_eq!(Search::new("b A a"), Search::new("a B"));
        assert_eq!(Search::new("a B").unwrap().canonical(), "a b");
        assert_eq!(Search::new(" \n\t "), None);
        assert_eq!(Search::new(""), None);
    }

    #[test]
    fn folding_is_the_same_for_every_part_of_a_text() {
        // `to_lowercase` folds a final sigma to 'ς': "ΟΔΟΣ" would then not be found in
        // "ΟΔΟΣΟΣ" folded whole.
        assert!(Search::new("ΟΔΟΣ").unwrap().matches(None, "ΟΔΟΣΟΣ"));
        assert!(Search::new("straße").unwrap().matches(Some("STRAẞE"), "x"));
        assert!(Search::new("é").unwrap().matches(Some("CAFÉ"), "x"));
    }
}
