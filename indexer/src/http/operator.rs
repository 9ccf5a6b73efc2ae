//! The operator endpoints: `/health`, `/ready`, `/status`, `/status/history`, `/metrics`.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::AppState;
use crate::ops::{CanaryReport, HistoryResponse};
use crate::reindex::ReindexState;
use crate::telemetry::{
    render, CounterSnapshot, DlqHealth, Freshness, FreshnessPath, IndexStatus, LogGap, NotReady,
    PartitionStatus, SloState, Status, WindowReport,
};

/// `GET /status`. Fields are in alphabetical order, as the JSON object always was.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// The freshness canary.
    pub canary: CanaryReport,
    /// Dead letters waiting for the dead-letter topic, and why.
    pub dead_letters: DlqHealth,
    /// Event counters since the process started.
    pub events: CounterSnapshot,
    /// Freshness percentiles over the last minute and 15 minutes.
    pub freshness: FreshnessReport,
    /// The live index.
    pub index: IndexStatus,
    /// Whether ingestion is healthy, and what is wrong with it.
    pub ingestion: IngestionReport,
    /// The cluster and every partition's position.
    pub kafka: KafkaReport,
    /// Why the indexer cannot serve (`null` when it serves).
    pub not_ready: Option<NotReady>,
    /// Whether `/ready` answers 200 (the index is served).
    pub ready: bool,
    /// The current or last rebuild, in short.
    pub reindex: ReindexSummary,
    /// The freshness objective of the indexed path (`null` without one).
    pub slo: Option<SloState>,
    /// The freshness objective of the live path (price and stock in place).
    pub slo_live: Option<SloState>,
}

/// The ingestion side of `/status`, and the body of `/health/ingestion`.
#[derive(Debug, Serialize)]
pub struct IngestionReport {
    /// No problem.
    pub healthy: bool,
    /// Every problem, most fundamental first.
    pub problems: Vec<NotReady>,
}

impl IngestionReport {
    fn of(status: &Status, detailed: bool) -> IngestionReport {
        let problems = status.ingestion_problems_with(detailed);
        IngestionReport {
            healthy: problems.is_empty(),
            problems,
        }
    }
}

/// The Kafka side of `/status`.
#[derive(Debug, Serialize)]
pub struct KafkaReport {
    /// Bootstrap servers.
    pub brokers: String,
    /// Whether the cluster answers.
    pub connected: bool,
    /// Whether it is the embedded broker.
    pub embedded: bool,
    /// Why it does not answer: a stable code (with the raw error for authenticated
    /// callers).
    pub error: Option<String>,
    /// The consumer group offsets are mirrored to.
    pub group_id: String,
    /// Partitions whose stored offset the log no longer has (`--on-log-gap`).
    pub log_gaps: Vec<LogGap>,
    /// Every partition.
    pub partitions: Vec<PartitionStatus>,
    /// Messages not yet searchable, in all.
    pub total_lag: i64,
}

/// The rebuild in `/status`.
#[derive(Debug, Serialize)]
pub struct ReindexSummary {
    /// Its replay rate.
    pub events_per_second: f64,
    /// The generation it builds.
    pub generation: Option<String>,
    /// Events it still has to replay.
    pub remaining_events: i64,
    /// Where it stands.
    pub state: ReindexState,
}

/// Both freshness measures of one path.
#[derive(Debug, Serialize)]
pub struct PathFreshness {
    /// Kafka message timestamp to searchable.
    pub pipeline: WindowReport,
    /// Event `ts` at the source to searchable.
    pub source: WindowReport,
}

impl PathFreshness {
    fn of(f: &Freshness, now: Instant) -> PathFreshness {
        PathFreshness {
            pipeline: Freshness::report(&f.pipeline, now),
            source: Freshness::report(&f.source, now),
        }
    }
}

/// The freshness measures in `/status`: per path (issue #15), and at the top level the
/// indexed path's (as before the live path existed).
#[derive(Debug, Serialize)]
pub struct FreshnessReport {
    /// Kafka message timestamp to searchable (indexed path).
    pub pipeline: WindowReport,
    /// Event `ts` at the source to searchable (indexed path).
    pub source: WindowReport,
    /// Price and stock changes made visible in place.
    pub live: PathFreshness,
    /// Changes re-indexed in Tantivy.
    pub indexed: PathFreshness,
}

impl StatusReport {
    /// The report; `detailed` (an authenticated caller) adds raw errors and paths.
    fn of(state: &AppState, detailed: bool) -> StatusReport {
        let s: &Status = &state.status;
        let ready = s.readiness();
        let r = state.admin.reindexer.report();
        let now = Instant::now();
        StatusReport {
            canary: state.canary.report(state.canary_interval),
            dead_letters: s.dead_letters(),
            events: s.counters.snapshot(),
            freshness: FreshnessReport {
                pipeline: Freshness::report(&s.freshness.pipeline, now),
                source: Freshness::report(&s.freshness.source, now),
                live: PathFreshness::of(&s.freshness_live, now),
                indexed: PathFreshness::of(&s.freshness, now),
            },
            index: {
                let mut index = s.index();
                if !detailed {
                    index.path.clear();
                }
                index
            },
            ingestion: IngestionReport::of(s, detailed),
            kafka: KafkaReport {
                brokers: s.brokers.clone(),
                connected: s.is_connected(),
                embedded: s.embedded,
                error: s.kafka_error().map(|e| {
                    if detailed {
                        format!("{}: {}", e.code, e.detail)
                    } else {
                        e.code
                    }
                }),
                group_id: s.group_id.clone(),
                log_gaps: s.log_gaps(),
                partitions: s.partitions(),
                total_lag: s.total_lag(),
            },
            ready: ready.is_ok(),
            not_ready: ready.err(),
            reindex: ReindexSummary {
                events_per_second: r.progress.events_per_second,
                generation: r.generation,
                remaining_events: r.progress.remaining_events,
                state: r.state,
            },
            slo: s.slo_state(),
            slo_live: s.slo_state_of(FreshnessPath::live),
        }
    }
}

/// `GET /health`: the process is alive.
pub(super) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: 200 while the index is served (whatever ingestion does; its problems are
/// listed, with `degraded: true`), 503 while starting or stopping.
pub(super) async fn ready(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.status.readiness() {
        Ok(()) => {
            state.metrics.ready.set(1);
            let problems = state
                .status
                .ingestion_problems_with(detailed(&state, &headers));
            Json(json!({ "ready": true, "degraded": !problems.is_empty(), "problems": problems }))
                .into_response()
        }
        Err(not_ready) => {
            state.metrics.ready.set(0);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "reason": not_ready.reason, "message": not_ready.message })),
            )
                .into_response()
        }
    }
}

/// `GET /health/ingestion`: 200 when ingestion is healthy (pipeline running, Kafka
/// reachable, not lagging past the freshness target, freshness SLO met, no dead letter
/// waiting); 503 with the first `reason` and every problem otherwise. For alerts and
/// dashboards, not for load balancers (`/ready` is theirs).
pub(super) async fn ingestion_health(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let report = IngestionReport::of(&state.status, detailed(&state, &headers));
    state
        .metrics
        .ingestion_healthy
        .set(i64::from(report.healthy));
    match report.problems.first() {
        None => Json(json!({ "healthy": true, "problems": [] })).into_response(),
        Some(first) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "healthy": false,
                "reason": first.reason,
                "message": first.message,
                "problems": report.problems,
            })),
        )
            .into_response(),
    }
}

/// `GET /status`: Kafka positions and lag, index size and last commit, event counters.
pub(super) async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Json<StatusReport> {
    Json(StatusReport::of(&state, detailed(&state, &headers)))
}

/// Whether the caller may see raw errors and paths: it sent the admin token. Everyone else
/// gets stable codes and short messages; the raw errors are in the log.
fn detailed(state: &AppState, headers: &HeaderMap) -> bool {
    super::admin::bearer_matches(state.admin.token.as_deref(), headers)
}

/// `GET /status/history`: the last 15 minutes, a point every 5 seconds (the dashboard's data).
pub(super) async fn history(State(state): State<AppState>) -> Json<HistoryResponse> {
    Json(state.history.response())
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    // Lag moves with the log even when nothing is committed: refresh it at each scrape.
    for p in state.status.partitions() {
        if let Some(lag) = p.lag {
            state.metrics.set_lag(&p.topic, p.partition, lag);
        }
    }
    state
        .metrics
        .kafka_connected
        .set(i64::from(state.status.is_connected()));
    let body = render(&state.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
