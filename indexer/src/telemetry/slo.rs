//! The freshness SLO: "p99 of source freshness at most T over the last W" (e.g. 2 s over 5
//! minutes). Evaluated every few seconds and on every `/ready`; a breach makes `/ready`
//! answer 503 `freshness_slo_breached` (degraded) and is logged once when it starts and once
//! when it ends. It recovers by itself when the window no longer holds slow changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::freshness::Freshness;

/// The objective.
#[derive(Debug)]
pub struct Slo {
    /// The p99 freshness not to exceed.
    pub target: Duration,
    /// Over this much time.
    pub window: Duration,
    /// The path it applies to (`live` or `indexed`), for the log.
    pub path: &'static str,
    breached: AtomicBool,
}

/// Where the SLO stands, for `/status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SloState {
    /// The objective in words.
    pub objective: String,
    /// The target, in ms.
    pub target_ms: u64,
    /// The window, in seconds.
    pub window_s: u64,
    /// p99 over the window; `null` when no change was made searchable in it.
    pub p99_ms: Option<u64>,
    /// Samples in the window.
    pub samples: u64,
    /// Whether p99 is over the target.
    pub breached: bool,
}

impl Slo {
    /// The objective "p99 at most `target` over `window`".
    pub fn new(target: Duration, window: Duration) -> Slo {
        Slo {
            target,
            window,
            path: "indexed",
            breached: AtomicBool::new(false),
        }
    }

    /// The same objective, for `path` (named in the log).
    pub fn for_path(mut self, path: &'static str) -> Slo {
        self.path = path;
        self
    }

    /// Evaluates the objective now; logs a change of state.
    pub fn evaluate(&self, freshness: &Freshness, now: Instant) -> SloState {
        let window = Freshness::window(&freshness.source, now, self.window);
        let p99 = window.map(|p| p.p99_ms);
        let breached = p99.is_some_and(|p| p > self.target.as_millis() as u64);
        let state = SloState {
            objective: format!(
                "p99 freshness <= {} ms over {} s",
                self.target.as_millis(),
                self.window.as_secs()
            ),
            target_ms: self.target.as_millis() as u64,
            window_s: self.window.as_secs(),
            p99_ms: p99,
            samples: window.map_or(0, |p| p.count),
            breached,
        };
        if self.breached.swap(breached, Ordering::Relaxed) != breached {
            if breached {
                tracing::warn!(
                    path = self.path,
                    p99_ms = p99.unwrap_or(0),
                    target_ms = state.target_ms,
                    window_s = state.window_s,
                    "freshness slo breached"
                );
            } else {
                tracing::info!(
                    path = self.path,
                    p99_ms = p99.unwrap_or(0),
                    target_ms = state.target_ms,
                    "freshness slo met again"
                );
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaches_when_p99_exceeds_the_target_and_recovers() {
        let freshness = Freshness::default();
        let slo = Slo::new(Duration::from_millis(500), Duration::from_secs(30));
        let t0 = Instant::now();
        let state = slo.evaluate(&freshness, t0);
        assert!(
            !state.breached && state.p99_ms.is_none(),
            "no data is no breach"
        );
        freshness.record(t0, (0..100).map(|_| (Some(100), Some(100))));
        assert!(!slo.evaluate(&freshness, t0).breached);
        freshness.record(t0, (0..10).map(|_| (Some(5_000), Some(5_000))));
        let state = slo.evaluate(&freshness, t0);
        assert!(state.breached, "{state:?}");
        assert_eq!(state.samples, 110);
        // The slow changes leave the window: met again.
        let later = t0 + Duration::from_secs(45);
        freshness.record(later, (0..10).map(|_| (Some(100), Some(100))));
        assert!(!slo.evaluate(&freshness, later).breached);
    }
}
