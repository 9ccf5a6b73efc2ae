//! A whole catalog held in memory: the reference result for a set of events.

use std::collections::BTreeMap;

use schemas::{Event, ProductDocument};

use super::{apply, Outcome, ProductState};

/// Every product's merge state, in memory. The pipeline keeps states in the index; this is
/// the oracle that tests (and the offline tools) compare it against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedCatalog {
    states: BTreeMap<String, ProductState>,
}

impl MergedCatalog {
    pub fn new() -> MergedCatalog {
        MergedCatalog::default()
    }

    pub fn apply(&mut self, event: &Event) -> Outcome {
        let state = self
            .states
            .entry(event.product_id().to_owned())
            .or_insert_with(|| ProductState::new(event.product_id()));
        apply(state, event)
    }

    pub fn state(&self, product_id: &str) -> Option<&ProductState> {
        self.states.get(product_id)
    }

    pub fn states(&self) -> impl Iterator<Item = &ProductState> {
        self.states.values()
    }

    /// The merged document of every visible product, by `product_id`.
    pub fn documents(&self) -> BTreeMap<String, ProductDocument> {
        self.states
            .values()
            .filter_map(|s| s.render().map(|d| (s.product_id.clone(), d)))
            .collect()
    }
}

impl<'a> FromIterator<&'a Event> for MergedCatalog {
    fn from_iter<I: IntoIterator<Item = &'a Event>>(events: I) -> MergedCatalog {
        let mut catalog = MergedCatalog::new();
        for event in events {
            catalog.apply(event);
        }
        catalog
    }
}
