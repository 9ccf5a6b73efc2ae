//! Operations features beyond raw telemetry: the dashboard's 15-minute [`History`] and the
//! freshness [`Canary`] (a synthetic product timed through Kafka and the search path).
//!
//! May use `telemetry`, `models` and `util` (and the query API, which the canary searches
//! through); never `ingest`, `reindex`, `http`, `cli` or `tools`.

mod canary;
mod history;

pub use canary::{Canary, CanaryReport, CanaryStatus};
pub use history::{History, HistoryResponse, INTERVAL as HISTORY_INTERVAL};
