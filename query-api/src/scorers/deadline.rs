//! A cooperative deadline inside a search: [`DeadlineQuery`] wraps the whole query, and its
//! scorer stops producing documents once the deadline has passed (checked every
//! [`CHECK_EVERY`] documents, so the clock costs nothing measurable), raising a flag the
//! caller reads after the search. The collectors then finish with what they have, and the
//! caller answers "timed out" instead of a partial result.
//!
//! Why: a request timeout around a blocking search only stops *waiting*; the search thread
//! keeps its slot until the work is done, so a few costly requests could occupy every slot
//! and shed everybody else (issue #14 item 12). Tantivy has no cancellation; the top scorer
//! is the one place every document of every segment goes through.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// Documents (advances or seeks) between two looks at the clock.
pub const CHECK_EVERY: u32 = 1024;

/// When a search must stop, and whether it did.
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Option<Instant>,
    expired: Arc<AtomicBool>,
}

impl Deadline {
    /// A deadline at `at` (`None`: never).
    pub fn new(at: Option<Instant>) -> Deadline {
        Deadline {
            at,
            expired: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the deadline has passed (now, or seen by a scorer before).
    pub fn check(&self) -> bool {
        if self.expired.load(Ordering::Relaxed) {
            return true;
        }
        let passed = self.at.is_some_and(|at| Instant::now() >= at);
        if passed {
            self.expired.store(true, Ordering::Relaxed);
        }
        passed
    }

    /// Whether a check found the deadline passed (without looking at the clock).
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }
}

/// `query`, stopped at `deadline`.
pub struct DeadlineQuery {
    query: Box<dyn Query>,
    deadline: Deadline,
}

impl DeadlineQuery {
    pub fn new(query: Box<dyn Query>, deadline: Deadline) -> DeadlineQuery {
        DeadlineQuery { query, deadline }
    }
}

impl Clone for DeadlineQuery {
    fn clone(&self) -> Self {
        DeadlineQuery {
            query: self.query.box_clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl fmt::Debug for DeadlineQuery {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Deadline({:?})", self.query)
    }
}

impl Query for DeadlineQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(DeadlineWeight {
            inner: self.query.weight(enable_scoring)?,
            deadline: self.deadline.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.query.query_terms(visitor);
    }
}

struct DeadlineWeight {
    inner: Box<dyn Weight>,
    deadline: Deadline,
}

impl Weight for DeadlineWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.deadline.check() {
            // Past the deadline before this segment started: do not even open it.
            return Ok(Box::new(tantivy::query::EmptyScorer));
        }
        Ok(Box::new(DeadlineScorer {
            inner: self.inner.scorer(reader, boost)?,
            deadline: self.deadline.clone(),
            until_check: CHECK_EVERY,
            stopped: false,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct DeadlineScorer {
    inner: Box<dyn Scorer>,
    deadline: Deadline,
    until_check: u32,
    stopped: bool,
}

impl DeadlineScorer {
    /// Counts one step; true when the search must stop here.
    fn stop(&mut self) -> bool {
        self.until_check -= 1;
        if self.until_check == 0 {
            self.until_check = CHECK_EVERY;
            self.stopped = self.deadline.check();
        }
        self.stopped
    }
}

impl DocSet for DeadlineScorer {
    fn advance(&mut self) -> DocId {
        if self.stopped || self.stop() {
            return TERMINATED;
        }
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.stopped || self.stop() {
            return TERMINATED;
        }
        self.inner.seek(target)
    }

    fn doc(&self) -> DocId {
        if self.stopped {
            TERMINATED
        } else {
            self.inner.doc()
        }
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

impl Scorer for DeadlineScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tantivy::collector::Count;
    use tantivy::query::AllQuery;
    use tantivy::schema::{Schema, STRING};
    use tantivy::{doc, Index, IndexWriter};

    use super::*;

    fn index(docs: usize) -> Index {
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..docs {
            writer.add_document(doc!(id => i.to_string())).unwrap();
        }
        writer.commit().unwrap();
        index
    }

    #[test]
    fn a_passed_deadline_stops_the_search_and_says_so() {
        let searcher = index(10 * CHECK_EVERY as usize)
            .reader()
            .unwrap()
            .searcher();
        let passed = Deadline::new(Some(Instant::now()));
        let q = DeadlineQuery::new(Box::new(AllQuery), passed.clone());
        let counted = searcher.search(&q, &Count).unwrap();
        assert!(passed.expired());
        assert!(counted < CHECK_EVERY as usize, "stopped early: {counted}");
    }

    #[test]
    fn a_scorer_stops_within_check_every_documents_of_the_deadline() {
        let searcher = index(10 * CHECK_EVERY as usize)
            .reader()
            .unwrap()
            .searcher();
        let deadline = Deadline::new(Some(Instant::now() + Duration::from_secs(3600)));
        let weight = DeadlineQuery::new(Box::new(AllQuery), deadline.clone())
            .weight(EnableScoring::disabled_from_searcher(&searcher))
            .unwrap();
        let mut scorer = weight.scorer(searcher.segment_reader(0), 1.0).unwrap();
        let mut seen = 1;
        for _ in 0..2 * CHECK_EVERY {
            assert_ne!(scorer.advance(), TERMINATED);
            seen += 1;
        }
        // The deadline passes (as seen by another scorer of the same search).
        deadline.expired.store(true, Ordering::Relaxed);
        while scorer.advance() != TERMINATED {
            seen += 1;
        }
        assert!(seen <= 3 * CHECK_EVERY + 1, "{seen}");
        assert_eq!(scorer.doc(), TERMINATED);
    }

    #[test]
    fn without_a_deadline_every_document_is_found() {
        let searcher = index(3 * CHECK_EVERY as usize).reader().unwrap().searcher();
        let none = Deadline::new(None);
        let q = DeadlineQuery::new(Box::new(AllQuery), none.clone());
        assert_eq!(
            searcher.search(&q, &Count).unwrap(),
            3 * CHECK_EVERY as usize
        );
        assert!(!none.expired());
    }
}
