//! One query word across the text fields: a disjunction-max of its field matches (exact stem
//! per field, typo and prefix matches), with two ways to iterate it.
//!
//! - **Walked** (the rarest word of a query, which drives the search): Tantivy's own
//!   `DisjunctionMaxQuery`, a buffered union that fills a window of 4,096 documents from all
//!   the fields at once: the fastest way to go through every match.
//! - **Probed** (every other word, only asked whether it holds the candidates of the rarest):
//!   [`WordGroupWeight::probe_scorer`], which moves each field's postings to the candidate
//!   (skipping whole blocks) and scores only when asked. A buffered union is slow to probe:
//!   every seek past its window clears 4,096 score slots, and a seek inside it scores every
//!   document on the way. Probing words this way halved the cost of two-word searches on
//!   broad words (profiled on the 1M-product index: the union's `seek` was a third of all
//!   search time).
//!
//! Both score `max + tie_breaker × (sum − max)` over the fields that match.

use std::fmt;
use std::sync::Arc;

use tantivy::query::{
    BooleanWeight, DisjunctionMaxCombiner, EmptyScorer, EnableScoring, Explanation, Occur, Query,
    Scorer, Weight,
};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// The disjunction-max of everything one word matches.
pub struct WordGroup {
    disjuncts: Vec<Box<dyn Query>>,
    tie_breaker: Score,
}

impl WordGroup {
    pub fn new(disjuncts: Vec<Box<dyn Query>>, tie_breaker: Score) -> WordGroup {
        WordGroup {
            disjuncts,
            tie_breaker,
        }
    }

    /// The weight, with both ways to iterate (sharing the field weights: their statistics
    /// and automata are computed once).
    pub fn group_weight(
        &self,
        enable_scoring: EnableScoring<'_>,
    ) -> tantivy::Result<WordGroupWeight> {
        let disjuncts = self
            .disjuncts
            .iter()
            .map(|d| d.weight(enable_scoring).map(Arc::from))
            .collect::<tantivy::Result<Vec<Arc<dyn Weight>>>>()?;
        let tie_breaker = self.tie_breaker;
        let union = BooleanWeight::with_minimum_number_should_match(
            disjuncts
                .iter()
                .map(|d| -> (Occur, Box<dyn Weight>) {
                    (Occur::Should, Box::new(Shared(d.clone())))
                })
                .collect(),
            1,
            enable_scoring.is_scoring_enabled(),
            Box::new(move || DisjunctionMaxCombiner::with_tie_breaker(tie_breaker)),
        );
        Ok(WordGroupWeight {
            union: Box::new(union),
            disjuncts,
            tie_breaker,
        })
    }
}

/// A weight used in two places.
struct Shared(Arc<dyn Weight>);

impl Weight for Shared {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.0.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.0.count(reader)
    }
}

impl Clone for WordGroup {
    fn clone(&self) -> Self {
        WordGroup {
            disjuncts: self.disjuncts.iter().map(|d| d.box_clone()).collect(),
            tie_breaker: self.tie_breaker,
        }
    }
}

impl fmt::Debug for WordGroup {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WordGroup(tie_breaker={}, {:?})",
            self.tie_breaker, self.disjuncts
        )
    }
}

impl Query for WordGroup {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.group_weight(enable_scoring)?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for d in &self.disjuncts {
            d.query_terms(visitor);
        }
    }
}

pub struct WordGroupWeight {
    /// Tantivy's buffered disjunction-max, for walking.
    union: Box<dyn Weight>,
    /// The field matches, for probing.
    disjuncts: Vec<Arc<dyn Weight>>,
    tie_breaker: Score,
}

impl WordGroupWeight {
    /// A scorer for a word that is probed at candidates (`seek`) rather than walked.
    pub fn probe_scorer(
        &self,
        reader: &SegmentReader,
        boost: Score,
    ) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorers = Vec::with_capacity(self.disjuncts.len());
        for d in &self.disjuncts {
            let scorer = d.scorer(reader, boost)?;
            if scorer.doc() != TERMINATED {
                scorers.push(scorer);
            }
        }
        if scorers.len() > 1 {
            return Ok(Box::new(ProbeScorer::new(scorers, self.tie_breaker)));
        }
        Ok(scorers.pop().unwrap_or_else(|| Box::new(EmptyScorer)))
    }
}

impl Weight for WordGroupWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.union.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.union.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.union.count(reader)
    }
}

/// A disjunction-max that moves its field scorers only as far as asked.
struct ProbeScorer {
    scorers: Vec<Box<dyn Scorer>>,
    tie_breaker: Score,
    doc: DocId,
}

impl ProbeScorer {
    fn new(scorers: Vec<Box<dyn Scorer>>, tie_breaker: Score) -> ProbeScorer {
        let mut probe = ProbeScorer {
            scorers,
            tie_breaker,
            doc: 0,
        };
        probe.doc = probe.min_doc();
        probe
    }

    fn min_doc(&self) -> DocId {
        self.scorers
            .iter()
            .map(|s| s.doc())
            .min()
            .unwrap_or(TERMINATED)
    }
}

impl DocSet for ProbeScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        let current = self.doc;
        for s in &mut self.scorers {
            if s.doc() == current {
                s.advance();
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for s in &mut self.scorers {
            if s.doc() < target {
                s.seek(target);
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers
            .iter()
            .map(|s| s.size_hint())
            .fold(0u32, u32::saturating_add)
    }

    fn cost(&self) -> u64 {
        self.scorers
            .iter()
            .map(|s| s.cost())
            .fold(0u64, u64::saturating_add)
    }
}

impl Scorer for ProbeScorer {
    fn score(&mut self) -> Score {
        let (mut max, mut sum) = (0.0f32, 0.0f32);
        for s in &mut self.scorers {
            if s.doc() == self.doc {
                let score = s.score();
                max = max.max(score);
                sum += score;
            }
        }
        max + (sum - max) * self.tie_breaker
    }
}
