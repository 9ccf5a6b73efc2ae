//! A filter decided per document by a function: [`PredicateQuery`] matches the documents of
//! a segment for which the segment's predicate holds.
//!
//! Live prices and stock (issue #15) are not in Tantivy's index but in arrays beside it,
//! updated in place: a range query over the `price_cents` fast field would read the value
//! of the last re-index. This filter reads whatever the predicate reads. It never leads an
//! intersection (its cost is the segment's size): the other clauses walk their postings and
//! this one is probed at their candidates (`seek`), so its cost is one check per candidate.

use std::fmt;
use std::sync::Arc;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// Whether one document of a segment matches.
pub type DocPredicate = Box<dyn Fn(DocId) -> bool + Send>;
/// Makes the predicate of a segment.
pub type SegmentPredicate = Arc<dyn Fn(&SegmentReader) -> DocPredicate + Send + Sync>;

/// Matches the documents for which the predicate holds (score 0).
#[derive(Clone)]
pub struct PredicateQuery {
    name: &'static str,
    predicate: SegmentPredicate,
}

impl PredicateQuery {
    /// A filter named `name` (for `Debug` and explanations).
    pub fn new(name: &'static str, predicate: SegmentPredicate) -> PredicateQuery {
        PredicateQuery { name, predicate }
    }
}

impl fmt::Debug for PredicateQuery {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Predicate({})", self.name)
    }
}

impl Query for PredicateQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for PredicateQuery {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorer = PredicateScorer {
            matches: (self.predicate)(reader),
            max_doc: reader.max_doc(),
            doc: 0,
        };
        scorer.doc = scorer.first_from(0);
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if doc < reader.max_doc() && (self.predicate)(reader)(doc) {
            Ok(Explanation::new(self.name, 0.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document does not match {}",
                self.name
            )))
        }
    }
}

struct PredicateScorer {
    matches: DocPredicate,
    max_doc: DocId,
    doc: DocId,
}

impl PredicateScorer {
    fn first_from(&self, mut doc: DocId) -> DocId {
        while doc < self.max_doc {
            if (self.matches)(doc) {
                return doc;
            }
            doc += 1;
        }
        TERMINATED
    }
}

impl DocSet for PredicateScorer {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.first_from(self.doc + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc != TERMINATED && target > self.doc {
            self.doc = self.first_from(target);
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.max_doc
    }

    fn cost(&self) -> u64 {
        // A scan: never the cheapest clause to lead with.
        u64::from(self.max_doc) * 4
    }
}

impl Scorer for PredicateScorer {
    fn score(&mut self) -> Score {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::{Count, DocSetCollector};
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, STRING};
    use tantivy::{doc, Index, IndexWriter, Term};

    use super::*;

    #[test]
    fn matches_exactly_where_the_predicate_holds_alone_and_in_an_intersection() {
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
        let threes = PredicateQuery::new("threes", Arc::new(|_| Box::new(|d| d % 3 == 0)));
        assert_eq!(searcher.search(&threes, &Count).unwrap(), 34);
        let even = TermQuery::new(
            Term::from_field_text(parity, "even"),
            IndexRecordOption::Basic,
        );
        let both = BooleanQuery::new(vec![
            (Occur::Must, Box::new(even) as Box<dyn Query>),
            (Occur::Must, Box::new(threes.clone())),
        ]);
        let docs: Vec<u32> = searcher
            .search(&both, &DocSetCollector)
            .unwrap()
            .into_iter()
            .map(|a| a.doc_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(docs, (0..100).filter(|d| d % 6 == 0).collect::<Vec<_>>());
        let none = PredicateQuery::new("none", Arc::new(|_| Box::new(|_| false)));
        assert_eq!(searcher.search(&none, &Count).unwrap(), 0);
    }
}
