//! "At least `minimum` of these word groups", the text query of relaxed searches, scoring the
//! sum of the matched groups' scores plus a bonus per matched group (so a product with more
//! of the words always ranks first).
//!
//! Tantivy's own minimum-should-match union (`BooleanQuery::union_with_minimum_required_clauses`)
//! walks every posting of every group through a binary heap. Relaxed searches are the
//! slowest searches there are: the strict query found nothing, so the words are usually a
//! rare one next to broad ones ("sony building set": 35k, 72k and 336k products). This scorer
//! is Lucene's `MinShouldMatchSumScorer` idea:
//!
//! - A document matching at least `minimum` of `n` groups matches at least one of any
//!   `n - minimum + 1` of them. The cheapest `n - minimum + 1` groups (by [`DocSet::cost`])
//!   are the *leads*: they are walked and their union gives the candidates.
//! - The other `minimum - 1` groups, the costliest, are the *tails*: they are only asked
//!   whether they hold a candidate (`seek_danger`, which skips blocks of postings, through
//!   [`WordGroupWeight::probe_scorer`]), and only as long as the answer can still change
//!   whether the candidate matches.
//!
//! With `minimum` = all the words, this is the strict search's intersection: the rarest word
//! walked, the others probed.
//! - The score of a matching document asks the tails that were not asked yet
//!   ([`Scorer::score`] is only called on matches, and not at all when only counting).
//!
//! For "sony building set" at 2 of 3 words, the 336k-product word is never walked, only
//! probed at the 107k candidates of the other two.

use std::fmt;

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SeekDangerResult, SegmentReader, Term, TERMINATED};

use super::word_group::{WordGroup, WordGroupWeight};

/// Matches documents that at least `minimum` of `groups` match.
pub struct MinMatchQuery {
    groups: Vec<WordGroup>,
    minimum: usize,
    bonus: Score,
}

impl MinMatchQuery {
    /// `minimum` of `groups` (at least 1); each matched group adds its score plus `bonus`.
    pub fn new(groups: Vec<WordGroup>, minimum: usize, bonus: Score) -> MinMatchQuery {
        MinMatchQuery {
            groups,
            minimum: minimum.max(1),
            bonus,
        }
    }
}

impl Clone for MinMatchQuery {
    fn clone(&self) -> Self {
        MinMatchQuery {
            groups: self.groups.clone(),
            minimum: self.minimum,
            bonus: self.bonus,
        }
    }
}

impl fmt::Debug for MinMatchQuery {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "MinMatch(minimum={}, bonus={}, groups={:?})",
            self.minimum, self.bonus, self.groups
        )
    }
}

impl Query for MinMatchQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .groups
            .iter()
            .map(|g| g.group_weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(MinMatchWeight {
            weights,
            minimum: self.minimum,
            bonus: if enable_scoring.is_scoring_enabled() {
                self.bonus
            } else {
                0.0
            },
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for g in &self.groups {
            g.query_terms(visitor);
        }
    }
}

struct MinMatchWeight {
    weights: Vec<WordGroupWeight>,
    minimum: usize,
    bonus: Score,
}

impl Weight for MinMatchWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.minimum > self.weights.len() {
            return Ok(Box::new(EmptyScorer));
        }
        let mut scorers = Vec::with_capacity(self.weights.len());
        for (i, w) in self.weights.iter().enumerate() {
            scorers.push((i, w.probe_scorer(reader, boost)?));
        }
        scorers.sort_by_key(|(_, s)| s.cost());
        let tails = scorers.split_off(scorers.len() - (self.minimum - 1));
        // The leads are walked: through Tantivy's buffered union.
        let mut leads = Vec::with_capacity(scorers.len());
        for (i, _) in scorers {
            leads.push(self.weights[i].scorer(reader, boost)?);
        }
        Ok(Box::new(MinMatchScorer::new(
            leads,
            tails.into_iter().map(|(_, s)| s).collect(),
            self.minimum,
            self.bonus * boost,
        )))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut matched = Vec::new();
        for w in &self.weights {
            let mut scorer = w.scorer(reader, 1.0)?;
            if scorer.doc() <= doc && scorer.seek(doc) == doc {
                matched.push(w.explain(reader, doc)?);
            }
        }
        if matched.len() < self.minimum {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} matches {} of the groups, fewer than {}",
                matched.len(),
                self.minimum
            )));
        }
        let total: Score = matched.iter().map(|e| e.value() + self.bonus).sum();
        let mut explanation = Explanation::new_with_string(
            format!(
                "sum of {} matched groups, plus {} each",
                matched.len(),
                self.bonus
            ),
            total,
        );
        for e in matched {
            explanation.add_detail(e);
        }
        Ok(explanation)
    }
}

/// Where a tail stands: `bound` is a lower bound of its next document, and the tail is
/// positioned on `bound` (a valid state) when `on_bound`.
#[derive(Clone, Copy)]
struct TailState {
    bound: DocId,
    on_bound: bool,
}

struct MinMatchScorer {
    leads: Vec<Box<dyn Scorer>>,
    tails: Vec<Box<dyn Scorer>>,
    states: Vec<TailState>,
    minimum: usize,
    bonus: Score,
    doc: DocId,
}

impl MinMatchScorer {
    fn new(
        leads: Vec<Box<dyn Scorer>>,
        tails: Vec<Box<dyn Scorer>>,
        minimum: usize,
        bonus: Score,
    ) -> MinMatchScorer {
        let states = tails
            .iter()
            .map(|t| TailState {
                bound: t.doc(),
                on_bound: true,
            })
            .collect();
        let mut scorer = MinMatchScorer {
            leads,
            tails,
            states,
            minimum,
            bonus,
            doc: 0,
        };
        scorer.doc = scorer.find();
        scorer
    }

    /// Whether tail `i` holds `doc`, probing it if needed. Probing the same `doc` again is
    /// free, and `doc` never decreases between calls.
    fn tail_matches(&mut self, i: usize, doc: DocId) -> bool {
        let state = &mut self.states[i];
        if state.bound > doc {
            return false;
        }
        if state.bound == doc && state.on_bound {
            return true;
        }
        match self.tails[i].seek_danger(doc) {
            SeekDangerResult::Found => {
                *state = TailState {
                    bound: doc,
                    on_bound: true,
                };
                true
            }
            SeekDangerResult::SeekLowerBound(bound) => {
                *state = TailState {
                    bound,
                    on_bound: false,
                };
                false
            }
        }
    }

    /// The first candidate at or after the leads' current documents that matches enough
    /// groups.
    fn find(&mut self) -> DocId {
        loop {
            let candidate = self
                .leads
                .iter()
                .map(|l| l.doc())
                .min()
                .unwrap_or(TERMINATED);
            if candidate == TERMINATED {
                return TERMINATED;
            }
            let mut count = self.leads.iter().filter(|l| l.doc() == candidate).count();
            let mut unasked = self.tails.len();
            for i in 0..self.tails.len() {
                if count >= self.minimum || count + unasked < self.minimum {
                    break;
                }
                unasked -= 1;
                if self.tail_matches(i, candidate) {
                    count += 1;
                }
            }
            if count >= self.minimum {
                return candidate;
            }
            for lead in &mut self.leads {
                if lead.doc() == candidate {
                    lead.advance();
                }
            }
        }
    }
}

impl DocSet for MinMatchScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        let current = self.doc;
        for lead in &mut self.leads {
            if lead.doc() == current {
                lead.advance();
            }
        }
        self.doc = self.find();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for lead in &mut self.leads {
            if lead.doc() < target {
                lead.seek(target);
            }
        }
        self.doc = self.find();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.leads
            .iter()
            .map(|l| l.size_hint())
            .fold(0u32, u32::saturating_add)
    }

    fn cost(&self) -> u64 {
        self.leads
            .iter()
            .map(|l| l.cost())
            .fold(0u64, u64::saturating_add)
    }
}

impl Scorer for MinMatchScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut score = 0.0;
        for lead in &mut self.leads {
            if lead.doc() == doc {
                score += lead.score() + self.bonus;
            }
        }
        for i in 0..self.tails.len() {
            if self.tail_matches(i, doc) {
                score += self.tails[i].score() + self.bonus;
            }
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::{
        BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, TermQuery,
    };
    use tantivy::schema::{Field, IndexRecordOption, Schema, STORED, STRING, TEXT};
    use tantivy::{doc, Index, Searcher, TantivyDocument};

    use super::*;

    const WORDS: [&str; 5] = ["red", "shoe", "hat", "blue", "big"];

    struct Fields {
        title: Field,
        body: Field,
        id: Field,
    }

    /// Documents with a title and a body of random words, in a few segments.
    fn index_of(docs: &[(Vec<usize>, Vec<usize>)]) -> (Index, Fields) {
        let mut schema = Schema::builder();
        let fields = Fields {
            title: schema.add_text_field("title", TEXT),
            body: schema.add_text_field("body", TEXT),
            id: schema.add_text_field("id", STRING | STORED),
        };
        let index = Index::create_in_ram(schema.build());
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
        let text = |words: &[usize]| {
            words
                .iter()
                .map(|w| WORDS[*w])
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (i, (title, body)) in docs.iter().enumerate() {
            writer
                .add_document(doc!(
                    fields.title => text(title),
                    fields.body => text(body),
                    fields.id => i.to_string()
                ))
                .unwrap();
            // A few segments, so scorers start and end mid-way.
            if i % 7 == 6 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        (index, fields)
    }

    /// The field matches of one word: title (boosted) and body.
    fn disjuncts(f: &Fields, word: usize) -> Vec<Box<dyn Query>> {
        let term = |field| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, WORDS[word]),
                IndexRecordOption::WithFreqs,
            ))
        };
        vec![Box::new(BoostQuery::new(term(f.title), 3.0)), term(f.body)]
    }

    fn ours(f: &Fields, words: &[usize], minimum: usize) -> MinMatchQuery {
        let groups = words
            .iter()
            .map(|w| WordGroup::new(disjuncts(f, *w), 0.1))
            .collect();
        MinMatchQuery::new(groups, minimum, 1000.0)
    }

    /// The same with Tantivy's queries: a minimum-should-match union of disjunction-max
    /// groups, each plus a constant.
    fn theirs(f: &Fields, words: &[usize], minimum: usize) -> BooleanQuery {
        let dismax = |w: usize| -> Box<dyn Query> {
            Box::new(DisjunctionMaxQuery::with_tie_breaker(disjuncts(f, w), 0.1))
        };
        BooleanQuery::union_with_minimum_required_clauses(
            words
                .iter()
                .map(|w| -> Box<dyn Query> {
                    Box::new(BooleanQuery::union(vec![
                        dismax(*w),
                        Box::new(ConstScoreQuery::new(dismax(*w), 1000.0)),
                    ]))
                })
                .collect(),
            minimum,
        )
    }

    /// The ids of the matches with their scores, by id.
    fn ids(searcher: &Searcher, f: &Fields, q: &dyn Query) -> Vec<(String, Score)> {
        let top = searcher
            .search(q, &TopDocs::with_limit(1000).order_by_score())
            .unwrap();
        let mut out: Vec<(String, Score)> = top
            .into_iter()
            .map(|(score, addr)| {
                let d: TantivyDocument = searcher.doc(addr).unwrap();
                let value = d
                    .get_first(f.id)
                    .and_then(|v| tantivy::schema::Value::as_str(&v))
                    .unwrap()
                    .to_owned();
                (value, score)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn same(a: &[(String, Score)], b: &[(String, Score)]) -> Result<(), TestCaseError> {
        let ids = |v: &[(String, Score)]| v.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>();
        prop_assert_eq!(ids(a), ids(b));
        for ((_, x), (_, y)) in a.iter().zip(b) {
            prop_assert!(
                (x - y).abs() <= 1e-3 * x.abs().max(1.0),
                "score {} vs {}",
                x,
                y
            );
        }
        Ok(())
    }

    fn words_strategy() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0..WORDS.len(), 0..4)
    }

    proptest! {
        /// Regression guard of the relaxed and strict searches: the same documents, with
        /// the same scores, as Tantivy's minimum-should-match union of disjunction-max word
        /// groups plus a constant per group, for random documents, words and minimums; and
        /// inside an intersection with a filter (which seeks).
        #[test]
        fn matches_and_scores_like_tantivys_minimum_should_match_union(
            docs in prop::collection::vec((words_strategy(), words_strategy()), 1..60),
            words in prop::collection::btree_set(0..WORDS.len(), 1..5),
            minimum in 1usize..5,
            filter_word in 0..WORDS.len(),
        ) {
            let (index, f) = index_of(&docs);
            let searcher = index.reader().unwrap().searcher();
            let words: Vec<usize> = words.into_iter().collect();
            let ours = ours(&f, &words, minimum);
            let theirs = theirs(&f, &words, minimum);
            same(&ids(&searcher, &f, &ours), &ids(&searcher, &f, &theirs))?;
            prop_assert_eq!(searcher.search(&ours, &Count).unwrap(), searcher.search(&theirs, &Count).unwrap());
            let filter = Term::from_field_text(f.body, WORDS[filter_word]);
            let and = |q: Box<dyn Query>| BooleanQuery::new(vec![
                (Occur::Must, q),
                (Occur::Must, Box::new(TermQuery::new(filter.clone(), IndexRecordOption::Basic))),
            ]);
            same(
                &ids(&searcher, &f, &and(Box::new(ours.clone()))),
                &ids(&searcher, &f, &and(Box::new(theirs.clone()))),
            )?;
        }
    }

    #[test]
    fn counts_the_documents_with_enough_of_the_words() {
        let docs: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![0], vec![1]),
            (vec![0], vec![]),
            (vec![1, 2], vec![]),
            (vec![0, 1], vec![2]),
            (vec![3], vec![3]),
        ];
        let (index, f) = index_of(&docs);
        let searcher = index.reader().unwrap().searcher();
        let q = |minimum| ours(&f, &[0, 1, 2], minimum);
        assert_eq!(searcher.search(&q(1), &Count).unwrap(), 4);
        assert_eq!(searcher.search(&q(2), &Count).unwrap(), 3);
        assert_eq!(searcher.search(&q(3), &Count).unwrap(), 1);
        assert_eq!(searcher.search(&q(4), &Count).unwrap(), 0);
        let top = searcher
            .search(&q(2), &TopDocs::with_limit(1).order_by_score())
            .unwrap();
        let explained = q(2).explain(&searcher, top[0].1).unwrap();
        assert!((explained.value() - top[0].0).abs() < 1e-3);
    }
}
