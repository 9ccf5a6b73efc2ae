//! Highlighting of the words that matched, with `<em>` tags.
//!
//! Tantivy's snippet generator only knows exact terms; shoppers' matches are also fuzzy and
//! prefix matches, so the title is re-tokenized here and every token that matches a query
//! word by the same rules as the query (stem, edit distance, prefix) is wrapped. Everything
//! else is HTML-escaped, so the result can be inserted as HTML.

use schemas::index::{normalize_keyword, text_analyzer};
use tantivy::tokenizer::{SimpleTokenizer, TokenStream, Tokenizer};

use super::analysis::Word;

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Whether a title token (`folded`, and its `stem`) matches `word` by the query's rules:
/// the stem or an alternative exactly, a typo correction the query used (or, for words
/// not expanded against an index, the same edit distance to the stem or to the word as
/// typed), a completion or the typed prefix.
fn matches(folded: &str, stem: &str, word: &Word) -> bool {
    let within =
        |a: &str, b: &str| strsim::damerau_levenshtein(a, b) <= usize::from(word.fuzziness);
    fn term_is(text: &str) -> impl Fn(&tantivy::Term) -> bool + '_ {
        move |t| t.value().as_str() == Some(text)
    }
    stem == word.stem
        || word.alternatives.iter().any(|a| a == stem)
        || (word.fuzziness > 0
            && (word.typos.iter().any(term_is(folded))
                || word.typos.iter().any(term_is(stem))
                || within(stem, &word.stem)
                || within(folded, &word.folded)))
        || word.completions.iter().any(term_is(stem))
        || word.completions.iter().any(term_is(folded))
        || (word.prefix && folded.starts_with(&word.folded))
}

/// `text`, HTML-escaped, with matched words in `<em>`; `None` when no word matched.
pub fn highlight(text: &str, words: &[Word]) -> Option<String> {
    if words.is_empty() {
        return None;
    }
    let mut tokenizer = SimpleTokenizer::default();
    let mut stemmer = text_analyzer();
    let mut out = String::with_capacity(text.len() + 16);
    let mut last = 0;
    let mut any = false;
    let mut stream = tokenizer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        let (from, to) = (token.offset_from, token.offset_to);
        let folded = normalize_keyword(&token.text);
        let mut stem = String::new();
        let mut s = stemmer.token_stream(&folded);
        while s.advance() {
            stem.push_str(&s.token().text);
        }
        if words.iter().any(|w| matches(&folded, &stem, w)) {
            escape(&text[last..from], &mut out);
            out.push_str("<em>");
            escape(&text[from..to], &mut out);
            out.push_str("</em>");
            last = to;
            any = true;
        }
    }
    escape(&text[last..], &mut out);
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::analyze;

    #[test]
    fn exact_stemmed_fuzzy_and_prefix_matches_are_marked() {
        let words = analyze("samsnug televisions qle");
        assert_eq!(
            highlight("Samsung 55\" QLED Television 4K", &words).as_deref(),
            Some("<em>Samsung</em> 55&quot; <em>QLED</em> <em>Television</em> 4K")
        );
    }

    #[test]
    fn html_is_escaped_and_no_match_gives_none() {
        let words = analyze("tv");
        assert_eq!(
            highlight("<b>TV</b> & more", &words).as_deref(),
            Some("&lt;b&gt;<em>TV</em>&lt;/b&gt; &amp; more")
        );
        assert_eq!(highlight("Lamp", &words), None);
        assert_eq!(highlight("Lamp", &[]), None);
    }

    #[test]
    fn accents_fold_for_matching_but_are_kept_in_the_output() {
        let words = analyze("creme brulee");
        assert_eq!(
            highlight("Crème Brûlée Torch", &words).as_deref(),
            Some("<em>Crème</em> <em>Brûlée</em> Torch")
        );
    }
}
