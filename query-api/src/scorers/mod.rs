//! Scorers of our own, Tantivy only (no `search`, no HTTP; checked by
//! `scripts/check-layout.py`):
//! - `word_group`: [`WordGroup`], one query word over every text field (a disjunction-max
//!   that can be walked, or probed at another word's candidates without a buffered union).
//! - `min_match`: [`MinMatchQuery`], Lucene's minimum-should-match over word groups (the
//!   cheapest words are walked, the broadest only probed).
//! - `deadline`: [`DeadlineQuery`], a cooperative deadline checked inside the search.
//! - `predicate`: [`PredicateQuery`], a filter decided per document by a function (live
//!   prices and stock, read beside the index).

mod deadline;
mod min_match;
mod predicate;
mod word_group;

pub use deadline::{Deadline, DeadlineQuery};
pub use min_match::MinMatchQuery;
pub use predicate::{PredicateQuery, SegmentPredicate};
pub use word_group::WordGroup;
