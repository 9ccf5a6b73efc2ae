//! Term expansion against the index, once per search: which words get typo corrections
//! (only those the catalog does not know as typed) and which terms they correct to, and which
//! index terms a word being typed completes to.

use std::collections::HashMap;

use schemas::IndexFields;
use tantivy::query::FuzzyTermQuery;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

use super::analysis::Word;
use crate::scorers::Deadline;

/// The fields where typo corrections apply (every text field but the description).
pub(super) fn typo_fields(fields: &IndexFields) -> [Field; 4] {
    [
        fields.title,
        fields.brand,
        fields.category,
        fields.attributes,
    ]
}

/// Query words that get typo corrections, at most (the first ones the catalog does not know
/// well enough; later words must match as typed). Each costs a walk of a Levenshtein
/// automaton over the term dictionary of four fields in every segment: a pasted line of
/// unknown words must not multiply that (issue #14 item 12).
pub const MAX_TYPO_WORDS: usize = 5;
/// Typo corrections kept per word: the terms most products contain (Lucene's and
/// Elasticsearch's `max_expansions`).
pub const MAX_TYPO_EXPANSIONS: usize = 50;
/// Index terms matching the automaton read per field and segment, at most.
const MAX_TYPO_SCAN: usize = 2_000;

/// Resolves the typo side of every word once per search, so that no pass of the search (the
/// strict one, then each relaxation) walks an automaton again:
/// - `known`: some product holds the stem (or an alternative) in a text field;
/// - words that at least `threshold` products contain as typed (in a field that typos apply
///   to) take no typo corrections (see the module notes of `query`);
/// - the others, up to [`MAX_TYPO_WORDS`], get `typos`: the words of `typo_words` (title,
///   brand, category and attributes as written, not stemmed) within `fuzziness` edits of
///   the word as typed (transpositions count as one), the [`MAX_TYPO_EXPANSIONS`] most
///   frequent, which is what Tantivy's `FuzzyTermQuery` matches (it re-walked them per
///   pass and per segment). Words past the cap are matched as typed (`fuzziness` 0).
///
/// Stops early, leaving the remaining words as typed, once `deadline` has passed (the
/// caller answers "timed out").
pub fn expand_typos(
    words: &mut [Word],
    fields: &IndexFields,
    searcher: &Searcher,
    threshold: u64,
    deadline: &Deadline,
) -> tantivy::Result<()> {
    let typo_fields = typo_fields(fields);
    let mut budget = MAX_TYPO_WORDS;
    for word in words.iter_mut() {
        word.typos.clear();
        word.known = false;
        for field in text_fields(fields) {
            for text in std::iter::once(&word.stem).chain(&word.alternatives) {
                let freq = searcher.doc_freq(&Term::from_field_text(field, text))?;
                word.known |= freq > 0;
                let as_typed = text == &word.stem && typo_fields.contains(&field);
                if as_typed && threshold > 0 && freq >= threshold {
                    word.fuzziness = 0;
                }
            }
        }
        if word.fuzziness == 0 {
            continue;
        }
        if budget == 0 || deadline.check() {
            word.fuzziness = 0;
            continue;
        }
        budget -= 1;
        // The word as typed against the words as written (`typo_words`), not stem against
        // stem: stemming a misspelt word cuts it elsewhere than the correct word's stem
        // ("wireles" stems to "wirel", three edits from "wireless"; "elzctric" is one edit
        // from "electric" but three from its stem "electr").
        // The stem too, when it differs: "skillets" is two edits from "skillit" but its stem
        // one.
        let field = fields.typo_words;
        let mut counts = typo_terms(searcher, field, &word.folded, word.fuzziness)?;
        if word.stem != word.folded {
            counts.extend(typo_terms(searcher, field, &word.stem, word.fuzziness)?);
        }
        word.typos
            .extend(top_terms(field, ranked(counts), MAX_TYPO_EXPANSIONS));
    }
    Ok(())
}

/// The first `n` of `ranked` (index terms with their counts) as terms of `field`.
fn top_terms(field: Field, ranked: Vec<(Vec<u8>, u64)>, n: usize) -> impl Iterator<Item = Term> {
    ranked
        .into_iter()
        .take(n)
        .filter_map(|(key, _)| String::from_utf8(key).ok())
        .map(move |text| Term::from_field_text(field, &text))
}

/// Every text field a word is looked up in, in the order of [`Relevance`](super::Relevance)'s
/// weights (title, brand, category, attributes, description).
pub(super) fn text_fields(fields: &IndexFields) -> [Field; 5] {
    [
        fields.title,
        fields.brand,
        fields.category,
        fields.attributes,
        fields.description,
    ]
}

/// The terms of `field` within `distance` edits of `stem` (transpositions count as one),
/// with the number of documents holding each (summed over segments).
fn typo_terms(
    searcher: &Searcher,
    field: Field,
    stem: &str,
    distance: u8,
) -> tantivy::Result<HashMap<Vec<u8>, u64>> {
    let automaton =
        FuzzyTermQuery::new(Term::from_field_text(field, stem), distance, true).automaton()?;
    // Only terms with the same first letter: a typo on the first letter is rare (shoppers
    // see it as they type), and walking the automaton from every first letter was most of
    // the cost of a query of unknown words (Lucene's spell checker's `minPrefix` of 1).
    let Some(first) = stem.chars().next() else {
        return Ok(HashMap::new());
    };
    let lower = first.to_string().into_bytes();
    let mut upper = lower.clone();
    if let Some(last) = upper.last_mut() {
        *last = last.saturating_add(1);
    }
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .search(&automaton)
            .ge(&lower)
            .lt(&upper)
            .into_stream()?;
        let mut scanned = 0;
        while scanned < MAX_TYPO_SCAN && stream.advance() {
            scanned += 1;
            *counts.entry(stream.key().to_vec()).or_default() += u64::from(stream.value().doc_freq);
        }
    }
    Ok(counts)
}

/// Terms with their document counts, most documents first (ties: by term).
fn ranked(counts: HashMap<Vec<u8>, u64>) -> Vec<(Vec<u8>, u64)> {
    let mut ranked: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// Completions of a word being typed kept per field: the ones most products contain
/// (Typesense's `max_candidates`, Lucene's `max_expansions`).
pub const MAX_COMPLETIONS: usize = 10;
/// Index terms scanned per field and segment for the completions of one prefix, at most
/// (a one- or two-letter prefix can start tens of thousands of terms).
const MAX_COMPLETION_SCAN: usize = 5_000;

/// Finds the completions of the prefix words: the index terms of title, brand, category and
/// `typo_words` (the words as written) that start with the word as typed, other than the
/// word itself (which the exact match covers), the [`MAX_COMPLETIONS`] most frequent per
/// field.
///
/// Expanding a prefix to every term it starts (Tantivy's prefix automaton) walks the posting
/// list of the typed word a second time when it is also a word ("set" starts "set"), and of
/// hundreds of rare terms after a short prefix; the frequent completions are the ones
/// shoppers mean, and what they cost is bounded.
pub fn expand_prefixes(
    words: &mut [Word],
    fields: &IndexFields,
    searcher: &Searcher,
) -> tantivy::Result<()> {
    for word in words.iter_mut().filter(|w| w.prefix) {
        word.completions.clear();
        // And the words as written: a stem can be shorter than what is typed ("fitness"
        // stems to "fit", so "fitne" completes no stem; "gaming" to "game").
        for field in [
            fields.title,
            fields.brand,
            fields.category,
            fields.typo_words,
        ] {
            let is_typed_word = |key: &[u8]| {
                key == word.stem.as_bytes()
                    || key == word.folded.as_bytes()
                    || word.alternatives.iter().any(|a| key == a.as_bytes())
            };
            let ranked = prefix_terms(
                searcher,
                field,
                word.folded.as_bytes(),
                MAX_COMPLETION_SCAN,
                is_typed_word,
            )?;
            word.completions
                .extend(top_terms(field, ranked, MAX_COMPLETIONS));
        }
    }
    Ok(())
}

/// The terms of `field` that start with `prefix`, with the number of documents holding
/// each (summed over segments), most documents first (ties: by term). At most `scan_cap`
/// terms are read per segment; terms `skip` accepts are read but not returned.
pub fn prefix_terms(
    searcher: &Searcher,
    field: Field,
    prefix: &[u8],
    scan_cap: usize,
    skip: impl Fn(&[u8]) -> bool,
) -> tantivy::Result<Vec<(Vec<u8>, u64)>> {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted.terms().range().ge(prefix).into_stream()?;
        let mut scanned = 0;
        while scanned < scan_cap && stream.advance() {
            let key = stream.key();
            if !key.starts_with(prefix) {
                break;
            }
            scanned += 1;
            if !skip(key) {
                *counts.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    Ok(ranked(counts))
}

#[cfg(test)]
mod tests {
    use tantivy::{doc, Index, IndexWriter};

    use super::*;
    use crate::search::analysis::analyze;

    fn title_index(titles: &[String]) -> (IndexFields, Index) {
        let fields = IndexFields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        schemas::index::register_analyzers(&index);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for (i, title) in titles.iter().enumerate() {
            writer
                .add_document(
                    doc!(fields.title => title.as_str(), fields.typo_words => title.as_str()),
                )
                .unwrap();
            if i == titles.len() / 2 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        (fields, index)
    }

    #[test]
    fn typo_corrections_are_what_tantivys_fuzzy_query_matches_with_the_first_letter() {
        use tantivy::collector::DocSetCollector;
        use tantivy::query::{ConstScoreQuery, TermSetQuery};
        let titles: Vec<String> = [
            "kettle",
            "kettles",
            "ketle",
            "kettel",
            "settle",
            "kestle",
            "bottle",
            "kettle pot",
            "cattle",
            "little",
            "skillet",
            "kettlebell",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let (fields, index) = title_index(&titles);
        let searcher = index.reader().unwrap().searcher();
        // "settles" would also match "kettle" with a typo on the first letter: not kept.
        for typed in ["kettle", "kettel", "ketle", "settles", "skilet", "bottel"] {
            let mut words = analyze(typed);
            words[0].prefix = false;
            let fuzziness = words[0].fuzziness;
            expand_typos(&mut words, &fields, &searcher, 0, &Deadline::new(None)).unwrap();
            let title_typos: Vec<Term> = words[0]
                .typos
                .iter()
                .filter(|t| t.field() == fields.typo_words)
                .cloned()
                .collect();
            let ours = ConstScoreQuery::new(Box::new(TermSetQuery::new(title_typos)), 1.0);
            // Tantivy's fuzzy match of the word as typed among the words as written, with
            // the same first letter.
            let fuzzy = tantivy::query::FuzzyTermQuery::new(
                Term::from_field_text(fields.typo_words, &words[0].folded),
                fuzziness,
                true,
            );
            let first = words[0].folded.chars().next().unwrap();
            let same_first =
                tantivy::query::RegexQuery::from_pattern(&format!("{first}.*"), fields.typo_words)
                    .unwrap();
            let theirs = tantivy::query::BooleanQuery::intersection(vec![
                Box::new(fuzzy),
                Box::new(same_first),
            ]);
            assert_eq!(
                searcher.search(&ours, &DocSetCollector).unwrap(),
                searcher.search(&theirs, &DocSetCollector).unwrap(),
                "{typed}"
            );
        }
    }

    #[test]
    fn unknown_words_cannot_match_and_typos_are_capped_per_query() {
        let (fields, index) = title_index(&["kettle pot".to_owned(), "kettle".to_owned()]);
        let searcher = index.reader().unwrap().searcher();
        // Twelve unknown 12-letter words, then a known one and one a typo away from it.
        let mut q: Vec<String> = (0..12)
            .map(|i| format!("zqxwvprtlkj{}", (b'a' + i) as char))
            .collect();
        q.push("kettle".to_owned());
        q.push("kettel".to_owned());
        let mut words = analyze(&q.join(" "));
        let last = words.len() - 1;
        words[last].prefix = false;
        expand_typos(&mut words, &fields, &searcher, 5, &Deadline::new(None)).unwrap();
        assert!(words[..12].iter().all(|w| !w.known && !w.can_match()));
        assert!(words[12].known && words[12].can_match());
        assert!(!words[13].known);
        let with_typos = words.iter().filter(|w| w.fuzziness > 0).count();
        assert_eq!(with_typos, MAX_TYPO_WORDS, "the cap");
        assert_eq!(words[13].fuzziness, 0, "past the cap: matched as typed");
        assert!(!words[13].can_match());

        // Within the cap, the typo finds the known word.
        let mut words = analyze("zqxwvprtlkja kettel ");
        expand_typos(&mut words, &fields, &searcher, 5, &Deadline::new(None)).unwrap();
        assert!(!words[0].can_match());
        assert!(words[1].can_match() && !words[1].known);
        assert_eq!(
            words[1].typos,
            [Term::from_field_text(fields.typo_words, "kettle")]
        );
    }

    #[test]
    fn a_passed_deadline_stops_typo_expansion() {
        let (fields, index) = title_index(&["kettle".to_owned()]);
        let searcher = index.reader().unwrap().searcher();
        let mut words = analyze("kettel ");
        let passed = Deadline::new(Some(std::time::Instant::now()));
        expand_typos(&mut words, &fields, &searcher, 5, &passed).unwrap();
        assert!(passed.expired());
        assert!(words[0].typos.is_empty());
    }

    #[test]
    fn a_prefix_completes_to_its_most_frequent_terms_other_than_itself() {
        let fields = IndexFields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        schemas::index::register_analyzers(&index);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        // Every title has "set"; completion i (15 of them, unchanged by the stemmer) is in
        // i + 1 titles, over two segments.
        let completions: Vec<String> = "bcdfghjklmnpqrt"
            .chars()
            .map(|c| format!("setx{c}"))
            .collect();
        for (i, c) in completions.iter().enumerate() {
            for n in 0..=i {
                writer
                    .add_document(doc!(fields.title => format!("set {c}")))
                    .unwrap();
                if n == i / 2 {
                    writer.commit().unwrap();
                }
            }
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let mut words = analyze("set");
        expand_prefixes(&mut words, &fields, &searcher).unwrap();
        let got: Vec<String> = words[0]
            .completions
            .iter()
            .map(|t| t.value().as_str().unwrap().to_owned())
            .collect();
        let most_frequent: Vec<String> = completions
            .iter()
            .rev()
            .take(MAX_COMPLETIONS)
            .cloned()
            .collect();
        assert_eq!(
            got, most_frequent,
            "most products first, not the typed word"
        );
        assert!(words[0]
            .completions
            .iter()
            .all(|t| t.field() == fields.title));

        let mut finished = analyze("set ");
        expand_prefixes(&mut finished, &fields, &searcher).unwrap();
        assert!(
            finished[0].completions.is_empty(),
            "a finished word has none"
        );
        let mut unknown = analyze("zq");
        expand_prefixes(&mut unknown, &fields, &searcher).unwrap();
        assert!(unknown[0].completions.is_empty());
    }
}
