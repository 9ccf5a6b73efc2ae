//! What operators see, written by the stages and read by the HTTP side: the shared
//! [`Status`] (positions, lag, index figures, readiness), rolling freshness percentiles
//! ([`Freshness`]), the freshness objective ([`Slo`]) and every Prometheus metric
//! ([`Metrics`], [`ReindexMetrics`], [`CanaryMetrics`]).
//!
//! Depends on `models` and `util` only: the stages import it, never the other way round.

mod freshness;
mod metrics;
mod slo;
mod status;

pub use freshness::{Freshness, WindowReport};
pub use metrics::{
    render, CanaryMetrics, DlqFailureLabels, DlqFailureReason, EventCounters, FreshnessPath,
    Metrics, OffsetResetLabels, PathLabels, ReindexMetrics, ReindexOutcome, SkewDirection,
    SkewLabels, TriggerLabels,
};
pub use slo::{Slo, SloState};
pub use status::{
    CounterSnapshot, DlqHealth, DlqTrouble, Fault, GapAction, GapReason, IndexStatus, LogGap,
    NotReady, PartitionStatus, Status, DISK_FULL,
};
