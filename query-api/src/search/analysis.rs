//! Shopper text to query words: split with the index's own analyzer (lower-cased,
//! ASCII-folded), stemmed, with per-word typo tolerance, optional stop words, unit
//! alternatives, and the last word marked as a prefix while it is being typed.

use schemas::index::{text_analyzer, words_analyzer};
use tantivy::Term;

/// Most query words used; more are ignored (a pasted paragraph must not build a huge query).
pub const MAX_WORDS: usize = 32;

/// One word of the query, analyzed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Lower-cased and ASCII-folded, as typed.
    pub folded: String,
    /// The English stem of `folded`: what the index holds.
    pub stem: String,
    /// Edits allowed for typos (0, 1 or 2).
    pub fuzziness: u8,
    /// Whether the word also matches as a prefix (the last word).
    pub prefix: bool,
    /// A stop word ("with", "for") among other words: it adds to the score but is not
    /// required.
    pub optional: bool,
    /// Other stems the word also matches exactly (unit spellings: "inch" also matches "in").
    pub alternatives: Vec<String>,
    /// For a prefix word, the index terms it completes to (see [`expand_prefixes`](super::expansion::expand_prefixes)).
    pub completions: Vec<Term>,
    /// The index terms within `fuzziness` edits of the stem, per typo field, found once per
    /// search (see [`expand_typos`](super::expansion::expand_typos)).
    pub typos: Vec<Term>,
    /// Whether some product holds the stem or an alternative in a text field (set by
    /// [`expand_typos`](super::expansion::expand_typos); true until then).
    pub known: bool,
}

impl Word {
    /// Whether the word can match any product: as typed, with a typo or as a prefix. A
    /// required word that cannot makes every stricter pass of a search empty.
    pub fn can_match(&self) -> bool {
        self.known || !self.typos.is_empty() || !self.completions.is_empty()
    }
}

/// English stop words (Lucene's list): optional in queries that have other words.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Unit spellings that catalogs abbreviate: a query word also matches its abbreviation.
const UNIT_ALTERNATIVES: &[(&str, &str)] = &[
    ("inch", "in"),
    ("inches", "in"),
    ("foot", "ft"),
    ("feet", "ft"),
    ("pound", "lb"),
    ("pounds", "lb"),
    ("lbs", "lb"),
    ("ounce", "oz"),
    ("ounces", "oz"),
    ("gallon", "gal"),
    ("gallons", "gal"),
    ("quart", "qt"),
    ("volts", "v"),
    ("volt", "v"),
    ("watts", "w"),
    ("watt", "w"),
];

/// Typo tolerance by word length, in characters: one edit from 4 (Typesense's
/// `min_len_1typo`: a 5-letter word with a letter left out is 4 letters), two from 9; none
/// for words with digits (model numbers and sizes: "1500w" must not match "1000w"). Only
/// words the catalog does not know as typed get corrections at all (`typo_threshold`), so
/// "lamp" does not also find "lame".
pub fn fuzziness(word: &str) -> u8 {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return 0;
    }
    match word.chars().count() {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

/// Splits shopper text into analyzed words (at most [`MAX_WORDS`]).
pub fn analyze(text: &str) -> Vec<Word> {
    let mut folding = words_analyzer();
    let mut stemming = text_analyzer();
    let mut words = Vec::new();
    let mut stream = folding.token_stream(text);
    while stream.advance() && words.len() < MAX_WORDS {
        let folded = stream.token().text.clone();
        let mut stem = String::new();
        {
            let mut s = stemming.token_stream(&folded);
            while s.advance() {
                stem.push_str(&s.token().text);
            }
        }
        if stem.is_empty() {
            continue;
        }
        let alternatives = UNIT_ALTERNATIVES
            .iter()
            .filter(|(word, _)| *word == folded)
            .map(|(_, alt)| (*alt).to_owned())
            .collect();
        words.push(Word {
            fuzziness: fuzziness(&folded),
            optional: STOP_WORDS.contains(&folded.as_str()),
            folded,
            stem,
            prefix: false,
            alternatives,
            completions: Vec::new(),
            typos: Vec::new(),
            known: true,
        });
    }
    // A query of stop words only keeps them all required.
    if words.iter().all(|w| w.optional) {
        for w in &mut words {
            w.optional = false;
        }
    }
    // The last word may be incomplete (typed as you search): it also matches as a prefix,
    // unless the text ends with a separator.
    let ends_open = text.chars().last().is_some_and(char::is_alphanumeric);
    if let Some(last) = words.last_mut() {
        last.prefix = ends_open
            && last.folded.chars().count() >= 2
            && !last.folded.chars().all(|c| c.is_ascii_digit());
    }
    words
}

/// How many words of `words` are required (the non-optional ones).
pub fn required_words(words: &[Word]) -> usize {
    words.iter().filter(|w| !w.optional).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_stemmed_and_the_last_is_a_prefix() {
        let words = analyze("Crème  Brûlée TORCHES sams");
        let folded: Vec<&str> = words.iter().map(|w| w.folded.as_str()).collect();
        let stems: Vec<&str> = words.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(folded, ["creme", "brulee", "torches", "sams"]);
        assert_eq!(stems, ["creme", "brule", "torch", "sam"]);
        assert_eq!(
            words.iter().map(|w| w.prefix).collect::<Vec<_>>(),
            [false, false, false, true]
        );
        assert!(
            !analyze("tv ").last().unwrap().prefix,
            "a finished word is no prefix"
        );
        assert!(
            !analyze("tv x").last().unwrap().prefix,
            "one letter is no prefix"
        );
    }

    #[test]
    fn stop_words_are_optional_and_units_have_alternatives() {
        let words = analyze("drill with 12 inch bit");
        let optional: Vec<bool> = words.iter().map(|w| w.optional).collect();
        assert_eq!(optional, [false, true, false, false, false]);
        assert_eq!(required_words(&words), 4);
        assert_eq!(words[3].alternatives, ["in"]);
        assert!(!words[2].prefix && words[2].fuzziness == 0);
        let only_stop = analyze("the with");
        assert_eq!(required_words(&only_stop), 2);
        assert!(
            !analyze("fan 12").last().unwrap().prefix,
            "numbers are no prefixes"
        );
    }

    #[test]
    fn fuzziness_follows_word_length() {
        assert_eq!(fuzziness("tv"), 0);
        assert_eq!(fuzziness("led"), 0);
        assert_eq!(
            fuzziness("lamp"),
            1,
            "a 5-letter word with a letter left out"
        );
        assert_eq!(fuzziness("drill"), 1);
        assert_eq!(fuzziness("cordless"), 1);
        assert_eq!(fuzziness("headphone"), 2);
        assert_eq!(fuzziness("1500w"), 0, "no typos in sizes and models");
    }

    #[test]
    fn long_queries_are_capped() {
        let text = "word ".repeat(100);
        assert_eq!(analyze(&text).len(), MAX_WORDS);
        assert!(analyze("  ,;- ").is_empty());
    }
}
