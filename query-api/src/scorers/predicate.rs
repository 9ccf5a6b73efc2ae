//! A filter decided per document by a function: [`PredicateQuery`] matches the documents of
//! its inner query for which the segment's predicate holds.
//!
//! Live prices and stock (issue #15) are not in Tantivy's index but in arrays beside it,
//! updated in place: a range query over the `price_cents` fast field would read the value
//! of the last re-index. This filter reads whatever the predicate reads.
//!
//! It is a two-phase match (Lucene's `TwoPhaseIterator`): the inner query walks its
//! postings and the predicate is checked at each of its candidates, so the cost is one
//! check per candidate. (A first version was a clause of the intersection instead; the
//! intersection `seek`s it, and a predicate can only answer "the next matching document
//! from here" by scanning, so a selective price filter walked the whole segment per query:
//! 3× the search cost on 1M products. Regression test below.)

use std::fmt;
use std::sync::Arc;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// Whether one document of a segment matches.
pub type DocPredicate = Box<dyn Fn(DocId) -> bool + Send>;
/// Makes the predicate of a segment.
pub type SegmentPredicate = Arc<dyn Fn(&SegmentReader) -> DocPredicate + Send + Sync>;

/// The documents of `inner` for which the predicate holds, scored as `inner` scores them.
pub struct PredicateQuery {
    name: &'static str,
    inner: Box<dyn Query>,
    predicate: SegmentPredicate,
}

impl PredicateQuery {
    /// `inner` filtered by `predicate`, named `name` (for `Debug` and explanations).
    pub fn new(
        name: &'static str,
        inner: Box<dyn Query>,
        predicate: SegmentPredicate,
    ) -> PredicateQuery {
        PredicateQuery {
            name,
            inner,
            predicate,
        }
    }
}

impl Clone for PredicateQuery {
    fn clone(&self) -> PredicateQuery {
        PredicateQuery {
            name: self.name,
            inner: self.inner.box_clone(),
            predicate: self.predicate.clone(),
        }
    }
}

impl fmt::Debug for PredicateQuery {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Predicate({}, {:?})", self.name, self.inner)
    }
}

impl Query for PredicateQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(PredicateWeight {
            name: self.name,
            inner: self.inner.weight(scoring)?,
            predicate: self.predicate.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct PredicateWeight {
    name: &'static str,
    inner: Box<dyn Weight>,
    predicate: SegmentPredicate,
}

impl Weight for PredicateWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorer = PredicateScorer {
            inner: self.inner.scorer(reader, boost)?,
            matches: (self.predicate)(reader),
        };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if doc < reader.max_doc() && (self.predicate)(reader)(doc) {
            self.inner.explain(reader, doc)
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document does not match {}",
                self.name
            )))
        }
    }
}

struct PredicateScorer {
    inner: Box<dyn Scorer>,
    matches: DocPredicate,
}

impl PredicateScorer {
    /// Moves on from the inner scorer's current document to the first that matches.
    fn settle(&mut self) -> DocId {
        let mut doc = self.inner.doc();
        while doc != TERMINATED && !(self.matches)(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for PredicateScorer {
    fn advance(&mut self) -> DocId {
        if self.inner.doc() == TERMINATED {
            return TERMINATED;
        }
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.inner.doc() == TERMINATED || self.inner.doc() >= target {
            return self.inner.doc();
        }
        self.inner.seek(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

impl Scorer for PredicateScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tantivy::collector::{Count, DocSetCollector, TopDocs};
    use tantivy::query::{AllQuery, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, STRING};
    use tantivy::{doc, Index, IndexWriter, Term};

    use super::*;

    fn docs_of(searcher: &tantivy::Searcher, q: &dyn Query) -> Vec<u32> {
        let mut docs: Vec<u32> = searcher
            .search(q, &DocSetCollector)
            .unwrap()
            .into_iter()
            .map(|a| a.doc_id)
            .collect();
        docs.sort_unstable();
        docs
    }

    #[test]
    fn matches_exactly_the_inner_documents_where_the_predicate_holds() {
        let mut schema = Schema::builder();
        let parity = schema.add_text_field("parity", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..100 {
            let p = if i % 2 == 0 { "even" } else { "odd" };
            writer.add_document(doc!(parity => p)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let threes: SegmentPredicate = Arc::new(|_| Box::new(|d| d % 3 == 0));
        let all_threes = PredicateQuery::new("threes", Box::new(AllQuery), threes.clone());
        assert_eq!(searcher.search(&all_threes, &Count).unwrap(), 34);
        let even = TermQuery::new(
            Term::from_field_text(parity, "even"),
            IndexRecordOption::Basic,
        );
        let both = PredicateQuery::new("threes", Box::new(even), threes);
        assert_eq!(
            docs_of(&searcher, &both),
            (0..100).filter(|d| d % 6 == 0).collect::<Vec<_>>()
        );
        let top = searcher
            .search(&both, &TopDocs::with_limit(3).order_by_score())
            .unwrap();
        assert_eq!(top.len(), 3, "scored like the inner query");
        let addr = top[0].1;
        let weight = both
            .weight(EnableScoring::enabled_from_searcher(&searcher))
            .unwrap();
        let segment = searcher.segment_reader(addr.segment_ord);
        assert!(weight.explain(segment, addr.doc_id).is_ok());
        assert!(
            weight.explain(segment, 1).is_err(),
            "odd: not in the inner query"
        );
        let none = PredicateQuery::new(
            "none",
            Box::new(AllQuery),
            Arc::new(|_| Box::new(|_| false)),
        );
        assert_eq!(searcher.search(&none, &Count).unwrap(), 0);
    }

    /// Regression: as a clause of an intersection the predicate was `seek`ed and scanned
    /// forward to its next match, so a selective filter checked every document of the
    /// segment whatever the text matched (3× the search cost on 1M products).
    #[test]
    fn the_predicate_is_checked_only_at_the_inner_candidates() {
        let mut schema = Schema::builder();
        let word = schema.add_text_field("word", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..10_000 {
            let w = if i % 1000 == 0 { "rare" } else { "common" };
            writer.add_document(doc!(word => w)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let checks = Arc::new(AtomicU64::new(0));
        let counted = checks.clone();
        // Matches no candidate of "rare": the worst case of a scanning filter.
        let predicate: SegmentPredicate = Arc::new(move |_| {
            let counted = counted.clone();
            Box::new(move |d| {
                counted.fetch_add(1, Ordering::Relaxed);
                d % 1000 == 1
            })
        });
        let rare = TermQuery::new(
            Term::from_field_text(word, "rare"),
            IndexRecordOption::Basic,
        );
        let q = PredicateQuery::new("p", Box::new(rare), predicate);
        assert_eq!(searcher.search(&q, &Count).unwrap(), 0);
        let n = checks.load(Ordering::Relaxed);
        assert!(n <= 10, "{n} predicate checks for 10 candidates");
    }
}
