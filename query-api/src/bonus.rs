//! A query whose matches score the inner query's score plus a constant: the per-word bonus
//! of relaxed searches (a product with more of the words always ranks first).
//!
//! Tantivy can express "score + constant" as `union(q, const_score(q))`, but that walks the
//! inner query's postings twice; this wrapper walks them once. Relaxed searches are the
//! slowest searches there are (they run after a strict search found too little, on broad
//! words), so this halves their cost where it matters most.

use std::fmt;

use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{
    DocId, DocSet, Score, SeekDangerResult, SegmentReader, Term, COLLECT_BLOCK_BUFFER_LEN,
};

/// Matches what `query` matches, scoring its score plus `bonus`.
pub struct PlusConstQuery {
    query: Box<dyn Query>,
    bonus: Score,
}

impl PlusConstQuery {
    pub fn new(query: Box<dyn Query>, bonus: Score) -> PlusConstQuery {
        PlusConstQuery { query, bonus }
    }
}

impl Clone for PlusConstQuery {
    fn clone(&self) -> Self {
        PlusConstQuery {
            query: self.query.box_clone(),
            bonus: self.bonus,
        }
    }
}

impl fmt::Debug for PlusConstQuery {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PlusConst(query={:?}, bonus={})", self.query, self.bonus)
    }
}

impl Query for PlusConstQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weight = self.query.weight(enable_scoring)?;
        if enable_scoring.is_scoring_enabled() {
            Ok(Box::new(PlusConstWeight {
                weight,
                bonus: self.bonus,
            }))
        } else {
            Ok(weight)
        }
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.query.query_terms(visitor)
    }
}

struct PlusConstWeight {
    weight: Box<dyn Weight>,
    bonus: Score,
}

impl Weight for PlusConstWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(PlusConstScorer {
            inner: self.weight.scorer(reader, boost)?,
            bonus: self.bonus * boost,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let inner = self.weight.explain(reader, doc)?;
        let mut explanation = Explanation::new_with_string(
            format!("{} plus ...", self.bonus),
            inner.value() + self.bonus,
        );
        explanation.add_detail(inner);
        Ok(explanation)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.weight.count(reader)
    }
}

struct PlusConstScorer {
    inner: Box<dyn Scorer>,
    bonus: Score,
}

impl DocSet for PlusConstScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.inner.seek(target)
    }

    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        self.inner.seek_danger(target)
    }

    fn fill_buffer(&mut self, buffer: &mut [DocId; COLLECT_BLOCK_BUFFER_LEN]) -> usize {
        self.inner.fill_buffer(buffer)
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

    fn count(&mut self, alive_bitset: &AliveBitSet) -> u32 {
        self.inner.count(alive_bitset)
    }

    fn count_including_deleted(&mut self) -> u32 {
        self.inner.count_including_deleted()
    }
}

impl Scorer for PlusConstScorer {
    fn score(&mut self) -> Score {
        self.inner.score() + self.bonus
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, ConstScoreQuery, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, TEXT};
    use tantivy::{doc, Index};

    use super::*;

    /// The wrapper scores exactly what `union(q, const_score(q))` scores, on the same docs.
    #[test]
    fn scores_like_a_union_with_a_constant_and_matches_the_same_documents() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        for t in ["red shoe", "red red hat", "blue shoe", "red"] {
            writer.add_document(doc!(text => t)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let red = || -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(text, "red"),
                IndexRecordOption::WithFreqs,
            ))
        };
        let top = TopDocs::with_limit(10).order_by_score();
        let ours = searcher
            .search(&PlusConstQuery::new(red(), 1000.0), &top)
            .unwrap();
        let union = BooleanQuery::union(vec![red(), Box::new(ConstScoreQuery::new(red(), 1000.0))]);
        let theirs = searcher.search(&union, &top).unwrap();
        assert_eq!(ours.len(), 3);
        assert_eq!(ours.len(), theirs.len());
        for ((a, da), (b, db)) in ours.iter().zip(&theirs) {
            assert_eq!(da, db);
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert!(ours.iter().all(|(score, _)| *score > 1000.0));
    }
}
