//! Tools around the service, never imported by it: the deterministic catalog and change
//! generator ([`generate`]) and the Kafka publisher behind `indexer generate` ([`publish`]).
//!
//! May use `models` and `util`; the service (`ingest`, `reindex`, `store`, `telemetry`,
//! `ops`, `http`) never imports `tools` (checked by `scripts/check-layout.py`).

pub mod generate;
pub mod publish;
