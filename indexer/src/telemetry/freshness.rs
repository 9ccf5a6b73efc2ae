//! Rolling freshness percentiles for `/status` (Prometheus histograms serve alerting; these
//! give exact-enough p50/p95/p99 over the last minute and the last 15 minutes).
//!
//! Samples go into 10-second slots, each an HDR histogram (1 ms to 1 hour, 2 significant
//! digits: about 1% error); a query merges the slots of its window. Memory is fixed: 91
//! slots of a few KiB per measure.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::util::lock;

const SLOT: Duration = Duration::from_secs(10);
const KEEP_SLOTS: u64 = 91;
const MAX_MS: u64 = 3_600_000;

/// Percentiles of one window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples in the window.
    pub count: u64,
    /// Median.
    pub p50_ms: u64,
    /// 95th percentile.
    pub p95_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// Slowest sample.
    pub max_ms: u64,
}

/// Samples over the last 15 minutes, in 10-second slots.
#[derive(Debug)]
pub struct RollingHistogram {
    origin: Instant,
    slots: VecDeque<(u64, Histogram<u64>)>,
}

fn new_histogram() -> Histogram<u64> {
    // 1..=MAX_MS with 2 significant figures is a valid configuration.
    Histogram::new_with_bounds(1, MAX_MS, 2).unwrap_or_else(|_| unreachable!())
}

impl RollingHistogram {
    /// An empty histogram whose slots count from `origin`.
    pub fn new(origin: Instant) -> RollingHistogram {
        RollingHistogram {
            origin,
            slots: VecDeque::new(),
        }
    }

    fn slot_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs() / SLOT.as_secs()
    }

    /// Records one sample taken at `now`.
    pub fn record(&mut self, now: Instant, value_ms: u64) {
        let slot = self.slot_of(now);
        if self.slots.back().is_none_or(|(s, _)| *s != slot) {
            self.slots.push_back((slot, new_histogram()));
        }
        while self
            .slots
            .front()
            .is_some_and(|(s, _)| *s + KEEP_SLOTS <= slot)
        {
            self.slots.pop_front();
        }
        if let Some((_, h)) = self.slots.back_mut() {
            h.saturating_record(value_ms.clamp(1, MAX_MS));
        }
    }

    /// Percentiles over the slots that overlap the last `window`.
    pub fn percentiles(&self, now: Instant, window: Duration) -> Option<Percentiles> {
        let current = self.slot_of(now);
        let span = window.as_secs().div_ceil(SLOT.as_secs()).max(1);
        let mut merged = new_histogram();
        for (slot, h) in &self.slots {
            if *slot + span > current {
                // Same bounds: adding cannot fail.
                let _ = merged.add(h);
            }
        }
        if merged.is_empty() {
            return None;
        }
        Some(Percentiles {
            count: merged.len(),
            p50_ms: merged.value_at_quantile(0.50),
            p95_ms: merged.value_at_quantile(0.95),
            p99_ms: merged.value_at_quantile(0.99),
            max_ms: merged.max(),
        })
    }
}

/// Both freshness measures.
#[derive(Debug)]
pub struct Freshness {
    /// Searchable time minus the event's `ts` at the source.
    pub source: Mutex<RollingHistogram>,
    /// Searchable time minus the Kafka message timestamp.
    pub pipeline: Mutex<RollingHistogram>,
}

/// One measure over the last minute and the last 15 minutes (`null` without samples).
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// The last minute.
    pub last_1m: Option<Percentiles>,
    /// The last 15 minutes.
    pub last_15m: Option<Percentiles>,
}

impl Default for Freshness {
    fn default() -> Freshness {
        let origin = Instant::now();
        Freshness {
            source: Mutex::new(RollingHistogram::new(origin)),
            pipeline: Mutex::new(RollingHistogram::new(origin)),
        }
    }
}

impl Freshness {
    /// One measure over the windows of `/status`.
    pub fn report(m: &Mutex<RollingHistogram>, now: Instant) -> WindowReport {
        let h = lock(m);
        WindowReport {
            last_1m: h.percentiles(now, Duration::from_secs(60)),
            last_15m: h.percentiles(now, Duration::from_secs(900)),
        }
    }

    /// Percentiles of one measure over any window (up to 15 minutes).
    pub fn window(
        m: &Mutex<RollingHistogram>,
        now: Instant,
        window: Duration,
    ) -> Option<Percentiles> {
        lock(m).percentiles(now, window)
    }

    /// Records one commit's samples: `(source_ms, pipeline_ms)` pairs.
    pub fn record(
        &self,
        now: Instant,
        samples: impl IntoIterator<Item = (Option<u64>, Option<u64>)>,
    ) {
        let mut source = lock(&self.source);
        let mut pipeline = lock(&self.pipeline);
        for (s, p) in samples {
            if let Some(s) = s {
                source.record(now, s);
            }
            if let Some(p) = p {
                pipeline.record(now, p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_window_only() {
        let origin = Instant::now();
        let mut h = RollingHistogram::new(origin);
        // Old slow samples, 5 minutes ago.
        for _ in 0..100 {
            h.record(origin, 5_000);
        }
        let now = origin + Duration::from_secs(300);
        for v in 1..=100 {
            h.record(now, v * 10);
        }
        let last = h.percentiles(now, Duration::from_secs(60)).unwrap();
        assert_eq!(last.count, 100);
        assert!((495..=505).contains(&last.p50_ms), "{last:?}");
        assert!((985..=1000).contains(&last.p99_ms), "{last:?}");
        let all = h.percentiles(now, Duration::from_secs(900)).unwrap();
        assert_eq!(all.count, 200);
        assert!(all.p99_ms >= 4_900, "{all:?}");
    }

    #[test]
    fn slots_older_than_fifteen_minutes_are_dropped() {
        let origin = Instant::now();
        let mut h = RollingHistogram::new(origin);
        h.record(origin, 100);
        let later = origin + Duration::from_secs(1000);
        h.record(later, 200);
        let p = h.percentiles(later, Duration::from_secs(900)).unwrap();
        assert_eq!(p.count, 1);
        assert!(h
            .percentiles(later + Duration::from_secs(120), Duration::from_secs(60))
            .is_none());
    }
}
