//! Term expansion against the index: which words get typo corrections (only those the
//! catalog does not know as typed), and which index terms a word being typed completes to.

use std::collections::HashMap;

use schemas::IndexFields;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

use super::analysis::Word;

/// The fields where typo corrections apply (every text field but the description).
pub(super) fn typo_fields(fields: &IndexFields) -> [Field; 4] {
    [
        fields.title,
        fields.brand,
        fields.category,
        fields.attributes,
    ]
}

/// Takes the typo corrections off the words that at least `threshold` products contain as
/// typed (in a field that typos apply to); see the module notes.
pub fn drop_typos_of_known_words(
    words: &mut [Word],
    fields: &IndexFields,
    searcher: &Searcher,
    threshold: u64,
) -> tantivy::Result<()> {
    if threshold == 0 {
        return Ok(());
    }
    for word in words.iter_mut().filter(|w| w.fuzziness > 0) {
        for field in typo_fields(fields) {
            if searcher.doc_freq(&Term::from_field_text(field, &word.stem))? >= threshold {
                word.fuzziness = 0;
                break;
            }
        }
    }
    Ok(())
}

/// Completions of a word being typed kept per field: the ones most products contain
/// (Typesense's `max_candidates`, Lucene's `max_expansions`).
pub const MAX_COMPLETIONS: usize = 10;
/// Index terms scanned per field and segment for the completions of one prefix, at most
/// (a one- or two-letter prefix can start tens of thousands of terms).
const MAX_COMPLETION_SCAN: usize = 5_000;

/// Finds the completions of the prefix words: the index terms of title, brand and category
/// that start with the word as typed, other than the word itself (which the exact match
/// covers), the [`MAX_COMPLETIONS`] most frequent per field.
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
        for field in [fields.title, fields.brand, fields.category] {
            let is_typed_word = |key: &[u8]| {
                key == word.stem.as_bytes() || word.alternatives.iter().any(|a| key == a.as_bytes())
            };
            let ranked = prefix_terms(
                searcher,
                field,
                word.folded.as_bytes(),
                MAX_COMPLETION_SCAN,
                is_typed_word,
            )?;
            word.completions.extend(
                ranked
                    .into_iter()
                    .take(MAX_COMPLETIONS)
                    .filter_map(|(key, _)| String::from_utf8(key).ok())
                    .map(|text| Term::from_field_text(field, &text)),
            );
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
    let mut ranked: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use tantivy::{doc, Index, IndexWriter};

    use super::*;
    use crate::search::analysis::analyze;

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
