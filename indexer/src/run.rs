//! `indexer run`: the long-running service. Starts the embedded broker when no cluster is
//! given, opens the live index, runs the ingestion pipeline on its own threads and serves the
//! HTTP API until SIGTERM or Ctrl-C, then commits and exits 0.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::registry::Registry;
use query_api::HttpMetrics;
use query_api::{ApiState, LiveIndex, SharedIndex};
use schemas::IndexFields;
use tantivy::ReloadPolicy;

use std::time::Duration;

use crate::config::{IndexingArgs, KafkaArgs, RunConfig};
use crate::http::{app, AppState};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineSettings};
use crate::source::embedded::{EmbeddedError, EmbeddedKafka};
use crate::source::Topics;
use crate::status::Status;
use crate::store::{IndexStore, StoreError};
use crate::writer::WriterConfig;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot open the index reader: {0}")]
    Reader(tantivy::TantivyError),
    #[error("data directory {0} is in use by another indexer process")]
    Locked(String),
    #[error("cannot lock the data directory {path}: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error("http server: {0}")]
    Serve(std::io::Error),
}

/// Locks the data directory for this process (released when the file is closed).
pub fn lock_data_dir(store: &IndexStore) -> Result<File, RunError> {
    let path = store.root().join("LOCK");
    let file = File::create(&path).map_err(|source| RunError::Lock {
        path: path.display().to_string(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(RunError::Locked(store.root().display().to_string()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(RunError::Lock {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Opens the live index of a data directory for serving.
pub fn open_live_index(store: &IndexStore) -> Result<LiveIndex, RunError> {
    let removed = store.remove_leftovers()?;
    if !removed.is_empty() {
        tracing::warn!(
            ?removed,
            "removed leftover index directories (an interrupted rebuild, or a swapped-out index)"
        );
    }
    let opened = store.open_live()?;
    let reader = opened
        .index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(RunError::Reader)?;
    let generation = opened
        .name
        .trim_start_matches("gen-")
        .parse()
        .unwrap_or_default();
    tracing::info!(index = %opened.path.display(), resumed = opened.payload.is_some(), "index opened");
    Ok(LiveIndex {
        fields: IndexFields::from_schema(&opened.index.schema())
            .map_err(|e| RunError::Reader(tantivy::TantivyError::SchemaError(e.to_string())))?,
        index: opened.index,
        reader,
        path: Some(opened.path),
        generation,
        retired: std::sync::Mutex::new(None),
    })
}

/// The pipeline settings of a command's flags.
pub fn pipeline_settings(
    indexing: &IndexingArgs,
    kafka: &KafkaArgs,
    brokers: String,
    group_id: &str,
) -> PipelineSettings {
    PipelineSettings {
        brokers,
        group_id: group_id.to_owned(),
        kafka_properties: kafka.kafka_properties.clone(),
        topics: Topics::from_args(kafka),
        writer: WriterConfig {
            commit_interval: Duration::from_millis(indexing.commit_interval_ms),
            max_docs_per_commit: indexing.max_docs_per_commit as usize,
            max_pending_bytes: (indexing.max_pending_mb as usize) << 20,
            state_cache_entries: indexing.state_cache_entries as usize,
            observe_backlog_freshness: true,
            record_freshness: true,
        },
        writer_memory_bytes: (indexing.writer_memory_mb as usize) << 20,
        indexing_threads: indexing.indexing_threads as usize,
        indexing_nice: indexing.indexing_nice as i32,
        merge_deletes_ratio: indexing.merge_deletes_ratio,
        max_segments: indexing.max_segments as usize,
        merge_min_segments: indexing.merge_min_segments as usize,
        max_rate: None,
    }
}

/// Runs the service until a stop signal.
pub fn run(config: RunConfig) -> Result<(), RunError> {
    run_with(config, None)
}

/// What a started service tells a hook (the demo): where it is, and its shared state.
pub struct Started {
    pub url: String,
    pub brokers: String,
    pub embedded: bool,
    pub status: Arc<Status>,
    pub shutdown: Arc<AtomicBool>,
}

/// Work to run on its own thread once the service listens.
pub type StartHook = Box<dyn FnOnce(Started) + Send>;

/// [`run`], calling `hook` on a thread of its own once the HTTP server listens.
pub fn run_with(config: RunConfig, hook: Option<StartHook>) -> Result<(), RunError> {
    let args = &config.args;
    let topics = Topics::from_args(&args.kafka);
    let embedded = match &args.kafka.brokers {
        Some(_) => None,
        None => Some(EmbeddedKafka::start(
            &topics.all(),
            args.kafka.embedded_partitions,
        )?),
    };
    let brokers = match (&embedded, &args.kafka.brokers) {
        (Some(e), _) => e.bootstrap_servers(),
        (None, Some(b)) => b.clone(),
        (None, None) => unreachable!("either embedded or given"),
    };

    let store = IndexStore::new(&args.data_dir)?;
    let _lock = lock_data_dir(&store)?;
    let live = open_live_index(&store)?;
    let index = SharedIndex::new(live);

    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    metrics.preset(&topics.events);
    let http_metrics = HttpMetrics::new(&mut registry);
    let status = Arc::new(
        Status::new(
            brokers.clone(),
            embedded.is_some(),
            args.group_id.clone(),
            args.freshness_target,
        )
        .with_slo(crate::slo::Slo::new(
            args.freshness_slo,
            args.freshness_slo_window,
        )),
    );
    let canary_metrics = crate::canary::CanaryMetrics::new(&mut registry);
    {
        let live = index.current();
        let path = live.path.as_ref().map(|p| p.display().to_string());
        let generation = live.generation;
        status.update_index(|s| {
            s.path = path.unwrap_or_default();
            s.generation = generation;
        });
    }
    let shutdown = Arc::new(AtomicBool::new(false));

    let pipeline = Pipeline {
        settings: pipeline_settings(&args.indexing, &args.kafka, brokers.clone(), &args.group_id),
        index: index.clone(),
        status: status.clone(),
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
        control: Arc::new(crate::pipeline::Control::default()),
    };
    let mut rebuild_settings = pipeline.settings.clone();
    rebuild_settings.max_rate = args.reindex_max_rate;
    let reindexer = Arc::new(crate::reindex::Reindexer::new(
        rebuild_settings,
        store.clone(),
        index.clone(),
        status.clone(),
        pipeline.control.clone(),
        shutdown.clone(),
        crate::reindex::ReindexMetrics::new(&mut registry),
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("http")
        .build()
        .map_err(RunError::Runtime)?;
    let api = ApiState::new(index, args.search.settings());
    let history = Arc::new(crate::history::History::default());
    let canary_status = Arc::new(crate::canary::CanaryStatus::default());
    let canary = args.canary_interval.map(|interval| crate::canary::Canary {
        interval,
        timeout: args.canary_timeout,
        brokers: brokers.clone(),
        topic: topics.events[0].clone(),
        kafka_properties: args.kafka.kafka_properties.clone(),
        index: api.index.clone(),
        relevance: api.settings.relevance,
        metrics: canary_metrics,
        status: canary_status.clone(),
        shutdown: shutdown.clone(),
    });
    let state = AppState {
        status,
        registry: Arc::new(registry),
        metrics,
        api,
        http_metrics,
        limits: args.search.limits(),
        admin: crate::admin::AdminState {
            token: args.admin_token.as_deref().map(Arc::from),
            reindexer,
        },
        history: history.clone(),
        canary: canary_status,
        canary_interval: args.canary_interval,
    };
    let listen = args.listen;
    let is_embedded = embedded.is_some();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Listen {
                addr: listen,
                source,
            })?;
        let local = listener.local_addr().map_err(RunError::Serve)?;
        print_banner(&brokers, is_embedded, local, &topics);
        if let Some(hook) = hook {
            let started = Started {
                url: format!("http://{local}"),
                brokers: brokers.clone(),
                embedded: is_embedded,
                status: state.status.clone(),
                shutdown: shutdown.clone(),
            };
            std::thread::Builder::new()
                .name("start-hook".to_owned())
                .spawn(move || hook(started))
                .map_err(RunError::Runtime)?;
        }
        // Samples for the dashboard; evaluates the SLO (its transitions are logged).
        let sampled = state.status.clone();
        let ready_gauge = state.metrics.ready.clone();
        let sampler_stop = shutdown.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(crate::history::INTERVAL);
            while !sampler_stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                history.sample(&sampled);
                // Also keeps `indexer_ready` current without anyone calling /ready.
                ready_gauge.set(i64::from(sampled.readiness().is_ok()));
            }
        });
        if let Some(canary) = canary {
            tokio::spawn(canary.run());
        }
        let pipeline_thread = std::thread::Builder::new()
            .name("pipeline".to_owned())
            .spawn(move || pipeline.supervise())
            .map_err(RunError::Runtime)?;
        let stop = shutdown.clone();
        let serve = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
            wait_for_signal().await;
            tracing::info!("stop requested: committing and shutting down");
            stop.store(true, Ordering::Relaxed);
            // Serve until the pipeline's final commit is done.
            let _ = tokio::task::spawn_blocking(move || pipeline_thread.join()).await;
        });
        serve.await.map_err(RunError::Serve)?;
        tracing::info!("stopped");
        Ok::<(), RunError>(())
    })?;
    drop(embedded);
    Ok(())
}

fn print_banner(brokers: &str, embedded: bool, http: std::net::SocketAddr, topics: &Topics) {
    let mode = if embedded {
        "embedded broker (in-process, in-memory)"
    } else {
        "cluster"
    };
    println!("indexer listening on http://{http}");
    println!("kafka {mode}: {brokers}");
    println!(
        "produce an event: echo '{{\"offer_id\":\"o1\",\"product_id\":\"p1\",\"version\":1,\"ts\":0,\"quantity\":5}}' | kcat -b {brokers} -t {} -k p1 -P",
        topics.events[3]
    );
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
