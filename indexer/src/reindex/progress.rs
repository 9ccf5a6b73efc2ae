//! What a rebuild reports: its state, its progress, and its replay rate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::models::PartitionOffset;

/// Where a rebuild stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReindexState {
    /// No rebuild since the process started.
    Idle,
    /// Replaying the log into the new generation.
    Building,
    /// Chasing the live index's offsets.
    CatchingUp,
    /// Ingestion paused; switching `CURRENT` and the served index.
    Swapping,
    /// The new generation is live.
    Done,
    /// Abandoned; the live index is unchanged.
    Failed,
}

impl ReindexState {
    /// Whether a rebuild is under way.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ReindexState::Building | ReindexState::CatchingUp | ReindexState::Swapping
        )
    }

    /// The state's name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ReindexState::Idle => "idle",
            ReindexState::Building => "building",
            ReindexState::CatchingUp => "catching_up",
            ReindexState::Swapping => "swapping",
            ReindexState::Done => "done",
            ReindexState::Failed => "failed",
        }
    }
}

/// Progress of a rebuild.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Events consumed by the rebuild so far.
    pub events_replayed: u64,
    /// Replay rate over the last seconds.
    pub events_per_second: f64,
    /// Where the rebuild has to get to (the live index's offsets, moving while it chases).
    pub target_offsets: Vec<PartitionOffset>,
    /// Where the rebuild is.
    pub rebuilt_offsets: Vec<PartitionOffset>,
    /// Events between the two.
    pub remaining_events: i64,
}

/// `GET /admin/reindex`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReindexReport {
    /// Where the rebuild stands.
    pub state: ReindexState,
    /// The index generation being built (or built).
    pub generation: Option<String>,
    /// When it started, epoch ms.
    pub started_at_ms: Option<u64>,
    /// When it ended, epoch ms.
    pub finished_at_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// What the rebuilt index lacks (records deleted by retention, when forced).
    pub warnings: Vec<String>,
    /// How far it is.
    pub progress: Progress,
}

impl Default for ReindexReport {
    fn default() -> ReindexReport {
        ReindexReport {
            state: ReindexState::Idle,
            generation: None,
            started_at_ms: None,
            finished_at_ms: None,
            error: None,
            warnings: Vec::new(),
            progress: Progress::default(),
        }
    }
}

/// Events per second over a sliding window of a few seconds.
pub(super) struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    /// A meter whose count starts at `start`.
    pub fn new(start: u64) -> RateMeter {
        let mut samples = VecDeque::new();
        samples.push_back((Instant::now(), start));
        RateMeter { samples }
    }

    /// Records the count `value` now; returns the rate over the window.
    pub fn update(&mut self, value: u64) -> f64 {
        let now = Instant::now();
        self.samples.push_back((now, value));
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > Duration::from_secs(5)
        {
            self.samples.pop_front();
        }
        let (t0, v0) = self.samples[0];
        let elapsed = now.duration_since(t0).as_secs_f64();
        if elapsed <= 0.0 {
            return 0.0;
        }
        value.saturating_sub(v0) as f64 / elapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_documented() {
        let names: Vec<String> = [
            ReindexState::Idle,
            ReindexState::Building,
            ReindexState::CatchingUp,
            ReindexState::Swapping,
            ReindexState::Done,
            ReindexState::Failed,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"idle\"",
                "\"building\"",
                "\"catching_up\"",
                "\"swapping\"",
                "\"done\"",
                "\"failed\""
            ]
        );
    }
}
