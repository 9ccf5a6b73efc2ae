//! `indexer run`: the long-running service, composed here. Starts the embedded broker when
//! no cluster is given, opens the live index, runs the ingestion pipeline on its own threads
//! and serves the HTTP API until SIGTERM or Ctrl-C, then commits and exits 0.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::registry::Registry;
use query_api::{ApiState, HttpMetrics};
use schemas::SharedIndex;

use crate::cli::{IndexingArgs, KafkaArgs, RunConfig};
use crate::http::{app, AdminState, AppState, ConnectionMetrics, ServerLimits};

/// Longest wait for in-flight requests once the pipeline stopped.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
use crate::ingest::source::{EmbeddedError, EmbeddedKafka};
use crate::ingest::{Control, IndexingSettings, Pipeline, PipelineSettings};
use crate::models::Topics;
use crate::ops::{Canary, CanaryStatus, History, HISTORY_INTERVAL};
use crate::reindex::{Reindexer, ReindexerParts};
use crate::store::{DataDirLock, IndexStore, StoreError};
use crate::telemetry::{CanaryMetrics, Metrics, ReindexMetrics, Slo, Status};
use crate::util::{disk, now_ms};

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The embedded broker did not start.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// The data directory failed (including: locked by another process).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A runtime or thread could not be started.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Serve(std::io::Error),
}

/// The pipeline settings of a command's flags, on `brokers`.
pub fn pipeline_settings(
    indexing: &IndexingArgs,
    kafka: &KafkaArgs,
    brokers: String,
    group_id: &str,
) -> PipelineSettings {
    PipelineSettings {
        kafka: kafka.settings(brokers, group_id),
        indexing: IndexingSettings::from(indexing),
        quarantine: Arc::default(),
    }
}

/// Runs the service until a stop signal.
pub fn run(config: RunConfig) -> Result<(), RunError> {
    run_with(config, None)
}

/// What a started service tells a hook (the demo): where it is, and its shared state.
pub struct Started {
    /// The HTTP base URL.
    pub url: String,
    /// The bootstrap servers.
    pub brokers: String,
    /// Whether the broker is the embedded one.
    pub embedded: bool,
    /// The pipeline's status.
    pub status: Arc<Status>,
    /// Raised when the service stops.
    pub shutdown: Arc<AtomicBool>,
}

/// Work to run on its own thread once the service listens.
pub type StartHook = Box<dyn FnOnce(Started) + Send>;

/// The settings of a reindex's rebuild: the live pipeline's, with the replay throttle.
fn rebuild_settings(live: &PipelineSettings, max_rate: Option<u64>) -> PipelineSettings {
    let mut settings = live.clone();
    settings.indexing.max_rate = max_rate;
    settings
}

/// The embedded broker when no cluster is given, and the bootstrap servers either way.
fn connect(
    kafka: &KafkaArgs,
    topics: &Topics,
) -> Result<(Option<EmbeddedKafka>, String), RunError> {
    match &kafka.brokers {
        Some(brokers) => Ok((None, brokers.clone())),
        None => {
            let embedded = EmbeddedKafka::start(&topics.all(), kafka.embedded_partitions)?;
            let brokers = embedded.bootstrap_servers();
            Ok((Some(embedded), brokers))
        }
    }
}

/// Everything the service runs, built from the configuration before anything runs.
struct Service {
    _lock: DataDirLock,
    server: ServerLimits,
    connections: ConnectionMetrics,
    pipeline: Pipeline,
    state: AppState,
    canary: Option<Canary>,
    history: Arc<History>,
    shutdown: Arc<AtomicBool>,
}

/// The status `/status` and `/ready` read, with the freshness objective, showing the live
/// index.
fn new_status(
    config: &RunConfig,
    brokers: &str,
    embedded: bool,
    index: &SharedIndex,
) -> Arc<Status> {
    let args = &config.args;
    let status = Status::new(
        brokers.to_owned(),
        embedded,
        args.group_id.clone(),
        args.freshness_target,
    )
    .with_slo(Slo::new(args.freshness_slo, args.freshness_slo_window))
    .with_live_slo(Slo::new(args.freshness_slo_live, args.freshness_slo_window));
    let live = index.current();
    let path = live.path.as_ref().map(|p| p.display().to_string());
    let generation = live.generation;
    status.update_index(|s| {
        s.path = path.unwrap_or_default();
        s.generation = generation;
    });
    Arc::new(status)
}

impl Service {
    fn build(config: &RunConfig, brokers: &str, embedded: bool) -> Result<Service, RunError> {
        let args = &config.args;
        let topics = Topics::from(&args.kafka);
        let store = IndexStore::new(&args.data_dir)?;
        let lock = store.lock()?;
        if let Some(generation) = &args.generation {
            store.choose(generation)?;
        }
        let index = SharedIndex::new(store.open_serving()?);

        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        metrics.preset(topics.events.values());
        let http_metrics = HttpMetrics::new(&mut registry);
        let status = new_status(config, brokers, embedded, &index);
        let canary_metrics = CanaryMetrics::new(&mut registry);
        let connections = ConnectionMetrics::default();
        registry.register(
            "http_connections_open",
            "Open HTTP connections",
            connections.open.clone(),
        );
        registry.register(
            "http_connections_rejected",
            "HTTP connections closed at once because --max-connections were open",
            connections.rejected.clone(),
        );
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut settings = pipeline_settings(
            &args.indexing,
            &args.kafka,
            brokers.to_owned(),
            &args.group_id,
        );
        settings.kafka.dlq_failure = args.dlq_failure;
        settings.kafka.on_log_gap = args.on_log_gap;
        let pipeline = Pipeline {
            settings,
            index: index.clone(),
            status: status.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            control: Arc::new(Control::default()),
        };
        let reindexer = Arc::new(Reindexer::new(ReindexerParts {
            settings: rebuild_settings(&pipeline.settings, args.reindex_max_rate),
            store,
            index: index.clone(),
            live_status: status.clone(),
            control: pipeline.control.clone(),
            shutdown: shutdown.clone(),
            metrics: ReindexMetrics::new(&mut registry),
        }));
        let api = ApiState::new(index, (&args.search).into());
        let canary_status = Arc::new(CanaryStatus::default());
        let canary = args.canary_interval.map(|interval| Canary {
            interval,
            timeout: args.canary_timeout,
            brokers: brokers.to_owned(),
            topic: topics.topic(schemas::EventKind::Product).to_owned(),
            kafka_properties: args.kafka.kafka_properties.clone().into(),
            index: api.index.clone(),
            relevance: api.settings.relevance,
            metrics: canary_metrics,
            status: canary_status.clone(),
            shutdown: shutdown.clone(),
        });
        let history = Arc::new(History::default());
        let state = AppState {
            status,
            registry: Arc::new(registry),
            metrics,
            api,
            http_metrics,
            limits: (&args.search).into(),
            admin: AdminState {
                token: args.admin_token.as_ref().map(|t| Arc::from(t.expose())),
                reindexer,
            },
            history: history.clone(),
            canary: canary_status,
            canary_interval: args.canary_interval,
        };
        Ok(Service {
            server: ServerLimits {
                max_connections: args.max_connections as usize,
                header_timeout: args.http_header_timeout,
                idle_timeout: args.http_idle_timeout,
                drain_timeout: DRAIN_TIMEOUT,
            },
            connections,
            _lock: lock,
            pipeline,
            state,
            canary,
            history,
            shutdown,
        })
    }

    /// Samples for the dashboard every few seconds; also evaluates the SLO (its transitions
    /// are logged), keeps `indexer_ready` current without anyone calling `/ready`, and
    /// starts the forced reindex a log gap asks for (`--on-log-gap rebuild`).
    fn spawn_sampler(&self) {
        let history = self.history.clone();
        let reindexer = self.state.admin.reindexer.clone();
        let status = self.state.status.clone();
        let ready_gauge = self.state.metrics.ready.clone();
        let ingestion_gauge = self.state.metrics.ingestion_healthy.clone();
        let (free_gauge, size_gauge) = (
            self.state.metrics.data_dir_free.clone(),
            self.state.metrics.data_dir_size.clone(),
        );
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(HISTORY_INTERVAL);
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                history.sample(&status);
                ready_gauge.set(i64::from(status.readiness().is_ok()));
                ingestion_gauge.set(i64::from(status.ingestion_problems().is_empty()));
                let index_path = std::path::PathBuf::from(status.index().path);
                if let Some(space) = disk::space(&index_path) {
                    free_gauge.set(i64::try_from(space.free).unwrap_or(i64::MAX));
                    size_gauge.set(i64::try_from(space.total).unwrap_or(i64::MAX));
                }
                // `--on-log-gap rebuild`: the source found a gap and holds the partition.
                if status.take_rebuild_request() {
                    match reindexer.start(true) {
                        Ok(_) => {
                            tracing::warn!("log gap: forced reindex started (--on-log-gap rebuild)")
                        }
                        Err(e) => tracing::warn!(error = %e, "log gap: forced reindex not started"),
                    }
                }
            }
        });
    }

    /// Serves until a stop signal, then waits for the pipeline's final commit.
    async fn serve(
        self,
        listen: SocketAddr,
        brokers: String,
        embedded: bool,
        topics: Topics,
        hook: Option<StartHook>,
    ) -> Result<(), RunError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Listen {
                addr: listen,
                source,
            })?;
        let local = listener.local_addr().map_err(RunError::Serve)?;
        print_banner(&brokers, embedded, local, &topics);
        if let Some(hook) = hook {
            let started = Started {
                url: format!("http://{local}"),
                brokers,
                embedded,
                status: self.state.status.clone(),
                shutdown: self.shutdown.clone(),
            };
            std::thread::Builder::new()
                .name("start-hook".to_owned())
                .spawn(move || hook(started))
                .map_err(RunError::Runtime)?;
        }
        self.spawn_sampler();
        let Service {
            _lock,
            server,
            connections,
            pipeline,
            state,
            canary,
            shutdown,
            ..
        } = self;
        if let Some(canary) = canary {
            tokio::spawn(canary.run());
        }
        let stopping = state.status.clone();
        let pipeline_thread = std::thread::Builder::new()
            .name("pipeline".to_owned())
            .spawn(move || pipeline.supervise())
            .map_err(RunError::Runtime)?;
        let stop = async move {
            super::wait_for_signal().await;
            tracing::info!("stop requested: committing and shutting down");
            shutdown.store(true, Ordering::Relaxed);
            stopping.set_stopping();
            // Serve until the pipeline's final commit is done.
            let _ = tokio::task::spawn_blocking(move || pipeline_thread.join()).await;
        };
        crate::http::serve(listener, app(state), server, connections, stop)
            .await
            .map_err(RunError::Serve)?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The banner's example: a kcat command producing an inventory event stamped `now_ms` (a
/// `ts` of 0 would be a 56-year-old change: clamped, counted as clock skew).
fn example_event_line(brokers: &str, topics: &Topics, now_ms: u64) -> String {
    format!(
        "produce an event: echo '{{\"offer_id\":\"o1\",\"product_id\":\"p1\",\"version\":1,\"ts\":{now_ms},\"quantity\":5}}' | kcat -b {brokers} -t {} -k p1 -P",
        topics.topic(schemas::EventKind::Inventory)
    )
}

/// [`run`], calling `hook` on a thread of its own once the HTTP server listens.
pub fn run_with(config: RunConfig, hook: Option<StartHook>) -> Result<(), RunError> {
    let args = &config.args;
    let topics = Topics::from(&args.kafka);
    let (embedded, brokers) = connect(&args.kafka, &topics)?;
    let service = Service::build(&config, &brokers, embedded.is_some())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("http")
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(service.serve(args.listen, brokers, embedded.is_some(), topics, hook))?;
    drop(embedded);
    Ok(())
}

fn print_banner(brokers: &str, embedded: bool, http: SocketAddr, topics: &Topics) {
    let mode = if embedded {
        "embedded broker (in-process, in-memory)"
    } else {
        "cluster"
    };
    println!("indexer listening on http://{http}");
    println!("kafka {mode}: {brokers}");
    println!("{}", example_event_line(brokers, topics, now_ms()));
}

#[cfg(test)]
mod tests {
    use schemas::EventKind;

    use super::*;
    use crate::models::PerKind;

    /// Regression (issue #14): the banner's example event had `"ts":0`, a 56-year-old
    /// change that breached the freshness objective by itself.
    #[test]
    fn the_banner_example_is_a_valid_event_stamped_now() {
        let topics = Topics {
            events: PerKind::from_fn(|k| format!("catalog.{}", k.as_str())),
            dlq: "catalog.dlq".to_owned(),
        };
        let line = example_event_line("127.0.0.1:9092", &topics, 1_764_201_900_000);
        let json = line
            .split('\'')
            .nth(1)
            .expect("the event is between single quotes");
        let event = schemas::decode(EventKind::Inventory, Some(json.as_bytes())).unwrap();
        assert_eq!(event.ts(), 1_764_201_900_000);
        assert!(line.contains("-t catalog.inventory"), "{line}");
    }
}
