//! Poison events: an event whose processing panics makes the pipeline restart from its last
//! commit, like any other failure; the same event then comes back, and would crash it again
//! forever. The supervisor counts crashes per event ([`Quarantine::crashed`]); once one has
//! crashed the pipeline [`POISON_CRASHES`] times, the source sets it aside
//! ([`Quarantine::set_aside`]): it reaches the writer as an invalid record with the code
//! `crashed_pipeline` and goes to the dead-letter topic (a rebuild counts it as invalid),
//! and the catalog flows on. A panic while *decoding* is set aside at once (decoding is a
//! pure function of the message: retrying cannot help, and nothing else is at risk).
//!
//! The quarantine lives as long as the process and is shared by the live pipeline and its
//! rebuilds; after a restart of the process a poison event crashes the pipeline
//! [`POISON_CRASHES`] times again before it is set aside (never skipped silently).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::models::RecordAt;
use crate::util::lock;
use crate::util::panic::Caught;

/// Crashes at one event before it is set aside.
pub const POISON_CRASHES: u32 = 3;

/// Crashes per event, and the events set aside.
#[derive(Debug, Default)]
pub struct Quarantine {
    crashes: Mutex<HashMap<RecordAt, (u32, String)>>,
    /// Whether any event is set aside (the per-message check is then a relaxed load).
    any: AtomicBool,
}

impl Quarantine {
    /// Records a crash at `at`; returns the crashes there so far.
    pub fn crashed(&self, at: &RecordAt, panic: &Caught) -> u32 {
        let mut crashes = lock(&self.crashes);
        let entry = crashes.entry(at.clone()).or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = panic.to_string();
        if entry.0 >= POISON_CRASHES {
            self.any.store(true, Ordering::Relaxed);
        }
        entry.0
    }

    /// When the event at `at` is set aside: its crashes and the last panic.
    pub fn set_aside(&self, at: &RecordAt) -> Option<(u32, String)> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.crashes)
            .get(at)
            .filter(|(n, _)| *n >= POISON_CRASHES)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::TopicPartition;

    fn at(offset: i64) -> RecordAt {
        RecordAt::new(TopicPartition::new("t", 0), offset)
    }

    #[test]
    fn an_event_is_set_aside_after_its_third_crash_only() {
        let q = Quarantine::default();
        let panic = Caught {
            message: "boom".into(),
            location: None,
        };
        assert_eq!(q.crashed(&at(5), &panic), 1);
        assert_eq!(q.crashed(&at(6), &panic), 1, "counted per event");
        assert_eq!(q.crashed(&at(5), &panic), 2);
        assert_eq!(q.set_aside(&at(5)), None);
        assert_eq!(q.crashed(&at(5), &panic), POISON_CRASHES);
        assert_eq!(q.set_aside(&at(5)), Some((3, "boom".to_owned())));
        assert_eq!(q.set_aside(&at(6)), None);
    }
}
