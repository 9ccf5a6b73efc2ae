//! Which topic holds which event kind, and tables indexed by kind.

use std::ops::{Index, IndexMut};

use schemas::EventKind;

/// One value per event kind, indexed by [`EventKind`] (instead of `[T; 4]` and an index
/// computed by hand).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerKind<T>([T; 4]);

impl<T> PerKind<T> {
    /// The table of `f(kind)` for every kind.
    pub fn from_fn(mut f: impl FnMut(EventKind) -> T) -> PerKind<T> {
        PerKind(EventKind::ALL.map(&mut f))
    }

    /// Every kind with its value, in [`EventKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (EventKind, &T)> + '_ {
        EventKind::ALL.into_iter().zip(self.0.iter())
    }

    /// The values, in [`EventKind::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.0.iter()
    }
}

impl<T> Index<EventKind> for PerKind<T> {
    type Output = T;

    fn index(&self, kind: EventKind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> IndexMut<EventKind> for PerKind<T> {
    fn index_mut(&mut self, kind: EventKind) -> &mut T {
        &mut self.0[kind.index()]
    }
}

/// The topic of each event kind, and the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// The topic of each event kind.
    pub events: PerKind<String>,
    /// Where invalid events go.
    pub dlq: String,
}

impl Topics {
    /// The topic of `kind`.
    pub fn topic(&self, kind: EventKind) -> &str {
        &self.events[kind]
    }

    /// The event kind of `topic`, if it is one of the event topics.
    pub fn kind_of(&self, topic: &str) -> Option<EventKind> {
        self.events
            .iter()
            .find(|(_, t)| *t == topic)
            .map(|(k, _)| k)
    }

    /// The four event topics, in [`EventKind::ALL`] order.
    pub fn event_topics(&self) -> Vec<String> {
        self.events.values().cloned().collect()
    }

    /// Every topic the embedded broker creates.
    pub fn all(&self) -> Vec<&str> {
        self.events
            .values()
            .map(String::as_str)
            .chain(std::iter::once(self.dlq.as_str()))
            .collect()
    }
}
