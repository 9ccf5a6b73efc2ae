//! Command line and configuration: one typed struct per command, from flags, `INDEXER_*`
//! environment variables and an optional TOML file, validated before anything starts.
//!
//! Precedence: flag > environment variable > config file (`--config FILE` or
//! `INDEXER_CONFIG`) > default. The file's keys are the flag names with `_` or `-`
//! (`commit_interval_ms = 500`); an unknown key is an error. Every error exits with code 2 and
//! a message naming the offending flag, variable or key.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Near-real-time product search indexer: Kafka catalog events in, a fresh search index out.
#[derive(Debug, Parser)]
#[command(name = "indexer", version, about, long_about = None, propagate_version = true, args_override_self = true)]
pub struct Cli {
    /// Without a command: `demo`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
// Parsed once at start: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// See it live: the indexer on the embedded broker, a generated catalog, a stream of
    /// changes, the shopper page and the dashboard (the default command).
    Demo(DemoArgs),
    /// Consume the catalog topics, keep the index fresh and serve the HTTP API.
    Run(RunArgs),
    /// Publish a generated (or CSV-seeded) catalog, and optionally a stream of changes.
    Generate(GenerateArgs),
    /// Ask a running indexer to rebuild its index from the Kafka log (blue/green, no downtime).
    Reindex(ReindexArgs),
    /// Rebuild the index of a data directory from the Kafka log, with the service stopped.
    Rebuild(RebuildArgs),
}

/// `indexer demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Products in the generated catalog.
    #[arg(long, env = "INDEXER_PRODUCTS", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=2_000_000))]
    pub products: u64,
    /// Changes per second streamed after the catalog (0: none).
    #[arg(long, env = "INDEXER_RATE", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub rate: u64,
    /// Seed of the generated catalog and changes.
    #[arg(long, env = "INDEXER_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Share of invalid events mixed into the stream (they go to the dead-letter topic).
    #[arg(long, env = "INDEXER_INVALID_RATIO", default_value_t = 0.001, value_parser = parse_share)]
    pub invalid_ratio: f64,
    /// Seed the catalog from a CSV of real listings (e.g. ../shared/data/walmart_products.csv).
    #[arg(long, env = "INDEXER_CATALOG_CSV")]
    pub catalog_csv: Option<PathBuf>,
    /// Address of the HTTP server.
    #[arg(long, env = "INDEXER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Index directory; by default a temporary one, removed at exit.
    #[arg(long, env = "INDEXER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Admin token for trying `indexer reindex` against the demo.
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", default_value = "demo-admin-token", value_parser = parse_nonempty)]
    pub admin_token: String,
}

impl DemoArgs {
    fn validate(&self) -> Result<(), String> {
        if let Some(path) = &self.catalog_csv {
            if !path.is_file() {
                return Err(format!("--catalog-csv {}: no such file", path.display()));
            }
        }
        Ok(())
    }
}

/// `indexer reindex`.
#[derive(Debug, Clone, Args)]
pub struct ReindexArgs {
    /// Base URL of the running indexer, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "INDEXER_URL", value_parser = parse_url)]
    pub url: String,
    /// The admin token the indexer was started with.
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", value_parser = parse_nonempty)]
    pub token: String,
    /// Follow the rebuild with a progress bar until it is done; exit non-zero if it fails.
    #[arg(long)]
    pub wait: bool,
    /// Rebuild even though retention deleted the beginning of the log.
    #[arg(long)]
    pub force: bool,
}

/// `indexer rebuild`.
#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Directory of the index to rebuild.
    #[arg(long, env = "INDEXER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Consumer group name used for the cluster's bookkeeping (offsets are not committed).
    #[arg(long, env = "INDEXER_GROUP_ID", default_value = "catalog-indexer-rebuild", value_parser = parse_nonempty)]
    pub group_id: String,
    /// Rebuild even though retention deleted the beginning of the log.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub indexing: IndexingArgs,
}

impl RebuildArgs {
    fn validate(&self) -> Result<(), String> {
        self.kafka.validate()?;
        self.indexing.validate()?;
        if self.kafka.brokers.is_none() {
            return Err("--brokers is required: a rebuild replays the log of a cluster (the embedded broker starts empty)".to_owned());
        }
        Ok(())
    }
}

fn parse_url(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL, e.g. http://127.0.0.1:8080")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("expected an http:// or https:// URL, e.g. http://127.0.0.1:8080".to_owned());
    }
    Ok(s.to_owned())
}

/// `indexer generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Products in the catalog (1 to 5 offers each, with prices and inventory).
    #[arg(long, env = "INDEXER_PRODUCTS", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub products: u64,

    /// Offers per product, at most (1 to 5; each product gets 1 to this many).
    #[arg(long, env = "INDEXER_MAX_OFFERS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=5))]
    pub max_offers: u64,

    /// Events per second, at most.
    #[arg(long, env = "INDEXER_RATE", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,

    /// Seed: the same seed publishes the same catalog and changes.
    #[arg(long, env = "INDEXER_SEED", default_value_t = 42)]
    pub seed: u64,

    /// Share of deliberately invalid events (0 to 1), to exercise the dead-letter path.
    #[arg(long, env = "INDEXER_INVALID_RATIO", default_value_t = 0.0, value_parser = parse_share)]
    pub invalid_ratio: f64,

    /// Take products from a CSV of real listings (`id,title,category,brand,modelno,price,
    /// proddescrlong`, e.g. ../shared/data/walmart_products.csv).
    #[arg(long, env = "INDEXER_CATALOG_CSV")]
    pub catalog_csv: Option<PathBuf>,

    /// After the catalog, keep publishing changes (until stopped or for --duration).
    #[arg(long, env = "INDEXER_STREAM")]
    pub stream: bool,

    /// How long to stream (with --stream), e.g. `10m`.
    #[arg(long, env = "INDEXER_DURATION", value_parser = parse_duration, requires = "stream")]
    pub duration: Option<Duration>,

    /// Do not publish the catalog (with --stream: changes only).
    #[arg(long, env = "INDEXER_NO_CATALOG", requires = "stream")]
    pub no_catalog: bool,

    /// First version number; by default the current time in microseconds, so that a new run
    /// supersedes earlier ones. Fix it for byte-identical runs.
    #[arg(long, env = "INDEXER_START_VERSION")]
    pub start_version: Option<u64>,
}

impl GenerateArgs {
    fn validate(&self) -> Result<(), String> {
        self.kafka.validate()?;
        if self.kafka.brokers.is_none() {
            return Err(
                "--brokers is required: the bootstrap address `indexer run` printed, or your cluster's"
                    .to_owned(),
            );
        }
        if let Some(path) = &self.catalog_csv {
            if !path.is_file() {
                return Err(format!("--catalog-csv {}: no such file", path.display()));
            }
        }
        Ok(())
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("expected a share from 0 to 1, e.g. 0.01".to_owned()),
    }
}

/// Kafka connection and topic names, shared by every command that talks to Kafka.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port,...`). Without it, an embedded Kafka-protocol broker
    /// is started in-process and its address printed.
    #[arg(long, env = "INDEXER_BROKERS", value_parser = parse_brokers)]
    pub brokers: Option<String>,

    /// Topic of product events.
    #[arg(long, env = "INDEXER_TOPIC_PRODUCTS", default_value = "catalog.products", value_parser = parse_topic)]
    pub topic_products: String,

    /// Topic of offer events.
    #[arg(long, env = "INDEXER_TOPIC_OFFERS", default_value = "catalog.offers", value_parser = parse_topic)]
    pub topic_offers: String,

    /// Topic of price events.
    #[arg(long, env = "INDEXER_TOPIC_PRICES", default_value = "catalog.prices", value_parser = parse_topic)]
    pub topic_prices: String,

    /// Topic of inventory events.
    #[arg(long, env = "INDEXER_TOPIC_INVENTORY", default_value = "catalog.inventory", value_parser = parse_topic)]
    pub topic_inventory: String,

    /// Dead-letter topic: invalid events go there with headers saying where from and why.
    #[arg(long, env = "INDEXER_TOPIC_DLQ", default_value = "catalog.dlq", value_parser = parse_topic)]
    pub topic_dlq: String,

    /// Partitions per topic of the embedded broker (ignored with --brokers).
    #[arg(long, env = "INDEXER_EMBEDDED_PARTITIONS", default_value_t = 8,
          value_parser = clap::value_parser!(i32).range(1..=256))]
    pub embedded_partitions: i32,

    /// Extra librdkafka client properties, `key=value` (repeatable), e.g.
    /// `security.protocol=SASL_SSL`.
    #[arg(long = "kafka-property", env = "INDEXER_KAFKA_PROPERTIES", value_delimiter = ',', value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The four event topics, in `EventKind::ALL` order.
    pub fn event_topics(&self) -> [&str; 4] {
        [
            &self.topic_products,
            &self.topic_offers,
            &self.topic_prices,
            &self.topic_inventory,
        ]
    }

    fn validate(&self) -> Result<(), String> {
        let mut all: Vec<&str> = self.event_topics().to_vec();
        all.push(&self.topic_dlq);
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != all.len() {
            return Err(format!(
                "topic names must be distinct (products, offers, prices, inventory, dlq), got {all:?}"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Directory of the index (created if missing).
    #[arg(long, env = "INDEXER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Address of the HTTP API.
    #[arg(long, env = "INDEXER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Kafka consumer group the indexer mirrors its progress to, for standard lag tools.
    #[arg(long, env = "INDEXER_GROUP_ID", default_value = "catalog-indexer", value_parser = parse_nonempty)]
    pub group_id: String,

    #[command(flatten)]
    pub indexing: IndexingArgs,

    /// How far behind the log the index may fall before /ready reports not ready
    /// (e.g. `5s`, `1m`).
    #[arg(long, env = "INDEXER_FRESHNESS_TARGET", default_value = "5s", value_parser = parse_duration)]
    pub freshness_target: Duration,

    /// Freshness objective: p99 of source freshness (event `ts` to searchable) at most this
    /// over `--freshness-slo-window`; when breached, /ready reports degraded.
    #[arg(long, env = "INDEXER_FRESHNESS_SLO", default_value = "2s", value_parser = parse_duration)]
    pub freshness_slo: Duration,

    /// The window of the freshness objective (at most 15m).
    #[arg(long, env = "INDEXER_FRESHNESS_SLO_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub freshness_slo_window: Duration,

    /// Publish a synthetic canary product this often and measure when search returns it
    /// (e.g. `10s`); off by default.
    #[arg(long, env = "INDEXER_CANARY_INTERVAL", value_parser = parse_duration)]
    pub canary_interval: Option<Duration>,

    /// A canary not found through search within this time counts as a failure.
    #[arg(long, env = "INDEXER_CANARY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub canary_timeout: Duration,

    #[command(flatten)]
    pub search: SearchArgs,

    /// Limit a reindex's replay to this many events per second (spares CPU for live
    /// ingestion and searches); unlimited by default.
    #[arg(long, env = "INDEXER_REINDEX_MAX_RATE", value_parser = clap::value_parser!(u64).range(1..))]
    pub reindex_max_rate: Option<u64>,

    /// Token for the admin API (`Authorization: Bearer <token>`); admin routes are disabled
    /// without it.
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", value_parser = parse_nonempty, hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "INDEXER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// How the index is written: commit cadence, budgets, threads, merging.
#[derive(Debug, Clone, Args)]
pub struct IndexingArgs {
    /// Commit (make changes searchable) at most this often, in milliseconds.
    #[arg(long, env = "INDEXER_COMMIT_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub commit_interval_ms: u64,

    /// Commit early once this many products changed since the last commit.
    #[arg(long, env = "INDEXER_MAX_DOCS_PER_COMMIT", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_docs_per_commit: u64,

    /// Commit early once the changed products' state takes this many MiB.
    #[arg(long, env = "INDEXER_MAX_PENDING_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_pending_mb: u64,

    /// Tantivy indexing memory budget, in MiB (at least 15 per indexing thread).
    #[arg(long, env = "INDEXER_WRITER_MEMORY_MB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(15..=16_384))]
    pub writer_memory_mb: u64,

    /// Tantivy indexing threads of the live pipeline (a rebuild uses at least one per core).
    /// Default: half the cores, at least 1: the writer thread and segment merges need the
    /// rest, and with more threads each commit writes more, smaller segments.
    #[arg(long, env = "INDEXER_INDEXING_THREADS", default_value_t = default_indexing_threads(),
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub indexing_threads: u64,

    /// CPU niceness of the ingestion and rebuild threads (0 to 19; 0 = same as searches).
    /// Above 0, searches take precedence over indexing when the cores are busy.
    #[arg(long, env = "INDEXER_INDEXING_NICE", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=19))]
    pub indexing_nice: u64,

    /// Rewrite the segments with the most deleted documents once deleted documents (every
    /// update deletes the previous version of a product) exceed this share of the index.
    /// Lower rewrites more often; higher leaves more dead documents for searches to skip.
    #[arg(long, env = "INDEXER_MERGE_DELETES_RATIO", default_value_t = 0.3, value_parser = parse_ratio)]
    pub merge_deletes_ratio: f32,

    /// Above this many segments, the segments with the fewest alive documents are merged.
    #[arg(long, env = "INDEXER_MAX_SEGMENTS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_segments: u64,

    /// Segments merged at once when there are too many, at least.
    #[arg(long, env = "INDEXER_MERGE_MIN_SEGMENTS", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(2..=100))]
    pub merge_min_segments: u64,

    /// Product merge states kept in memory; others are read back from the index.
    #[arg(long, env = "INDEXER_STATE_CACHE_ENTRIES", default_value_t = 500_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub state_cache_entries: u64,
}

/// Half the cores, at least 1 (see `--indexing-threads`).
pub fn default_indexing_threads() -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores as u64 / 2).clamp(1, 64)
}

impl IndexingArgs {
    fn validate(&self) -> Result<(), String> {
        if self.writer_memory_mb < 15 * self.indexing_threads {
            return Err(format!(
                "--writer-memory-mb must be at least 15 per indexing thread ({} threads need {} MiB), got {}",
                self.indexing_threads,
                15 * self.indexing_threads,
                self.writer_memory_mb
            ));
        }
        Ok(())
    }
}

/// Settings of the search API.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Relevance weight of a title match.
    #[arg(long, env = "INDEXER_BOOST_TITLE", default_value_t = 3.0, value_parser = parse_boost)]
    pub boost_title: f32,
    /// Relevance weight of a brand match.
    #[arg(long, env = "INDEXER_BOOST_BRAND", default_value_t = 2.0, value_parser = parse_boost)]
    pub boost_brand: f32,
    /// Relevance weight of a category match.
    #[arg(long, env = "INDEXER_BOOST_CATEGORY", default_value_t = 1.5, value_parser = parse_boost)]
    pub boost_category: f32,
    /// Relevance weight of an attribute value match.
    #[arg(long, env = "INDEXER_BOOST_ATTRIBUTES", default_value_t = 1.0, value_parser = parse_boost)]
    pub boost_attributes: f32,
    /// Relevance weight of a description match.
    #[arg(long, env = "INDEXER_BOOST_DESCRIPTION", default_value_t = 0.5, value_parser = parse_boost)]
    pub boost_description: f32,
    /// Bonus when the query words appear as a phrase in the title (0 disables it).
    #[arg(long, env = "INDEXER_BOOST_PHRASE", default_value_t = 1.5, value_parser = parse_boost)]
    pub boost_phrase: f32,
    /// Relax a search (require fewer of its words) while fewer products than this match all
    /// of them; 1 relaxes only when nothing matches.
    #[arg(long, env = "INDEXER_RELAX_BELOW", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub relax_below: u64,
    /// A query word gets typo corrections only while fewer products than this contain it as
    /// typed (1: only words the catalog does not know; 0: every word of 5+ characters).
    #[arg(long, env = "INDEXER_TYPO_THRESHOLD", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub typo_threshold: u64,
    /// HTTP requests taking longer are answered 503 (e.g. `2s`).
    #[arg(long, env = "INDEXER_REQUEST_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// HTTP requests in flight at once; more are shed with 503 and Retry-After.
    #[arg(long, env = "INDEXER_MAX_IN_FLIGHT", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: u64,
    /// Searches running at once; others wait up to `--search-queue-timeout`, then get 503.
    #[arg(long, env = "INDEXER_MAX_CONCURRENT_SEARCHES", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_concurrent_searches: u64,
    /// How long a search waits for a slot before 503.
    #[arg(long, env = "INDEXER_SEARCH_QUEUE_TIMEOUT", default_value = "200ms", value_parser = parse_duration)]
    pub search_queue_timeout: Duration,
    /// Origin allowed to call the shopper API from a browser (repeatable; `*` for any).
    /// Without it, no CORS headers are sent. Never applies to admin routes.
    #[arg(
        long = "cors-origin",
        env = "INDEXER_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
}

impl SearchArgs {
    pub fn settings(&self) -> query_api::SearchSettings {
        query_api::SearchSettings {
            relevance: query_api::Relevance {
                title: self.boost_title,
                brand: self.boost_brand,
                category: self.boost_category,
                attributes: self.boost_attributes,
                description: self.boost_description,
                phrase: self.boost_phrase,
                relax_below: self.relax_below,
                typo_threshold: self.typo_threshold,
            },
            max_concurrent_searches: self.max_concurrent_searches as usize,
            queue_timeout: self.search_queue_timeout,
            cors_origins: self.cors_origins.clone(),
        }
    }

    pub fn limits(&self) -> query_api::HttpLimits {
        query_api::HttpLimits {
            request_timeout: self.request_timeout,
            max_in_flight: self.max_in_flight as usize,
            ..query_api::HttpLimits::default()
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.request_timeout < Duration::from_millis(10) {
            return Err("--request-timeout must be at least 10ms".to_owned());
        }
        for origin in &self.cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && axum::http::HeaderValue::from_str(origin).is_ok());
            if !ok {
                return Err(format!(
                    "--cors-origin {origin:?} must be `*` or an origin like https://shop.example.com"
                ));
            }
        }
        Ok(())
    }
}

fn parse_boost(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(b) if b.is_finite() && (0.0..=100.0).contains(&b) => Ok(b),
        _ => Err("expected a weight from 0 to 100, e.g. 2.5".to_owned()),
    }
}

/// A validated `run` configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub args: RunArgs,
    pub commit_interval: Duration,
}

impl RunArgs {
    /// Cross-field checks clap cannot express.
    pub fn validate(self) -> Result<RunConfig, String> {
        self.kafka.validate()?;
        self.search.validate()?;
        self.indexing.validate()?;
        if self.freshness_target < Duration::from_millis(100) {
            return Err("--freshness-target must be at least 100ms".to_owned());
        }
        if self.freshness_slo < Duration::from_millis(10) {
            return Err("--freshness-slo must be at least 10ms".to_owned());
        }
        if self.freshness_slo_window < Duration::from_secs(10)
            || self.freshness_slo_window > Duration::from_secs(900)
        {
            return Err("--freshness-slo-window must be between 10s and 15m".to_owned());
        }
        if let Some(interval) = self.canary_interval {
            if interval < Duration::from_millis(100) {
                return Err("--canary-interval must be at least 100ms".to_owned());
            }
        }
        Ok(RunConfig {
            commit_interval: Duration::from_millis(self.indexing.commit_interval_ms),
            args: self,
        })
    }
}

fn parse_ratio(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err("expected a ratio in (0, 1], e.g. 0.3".to_owned()),
    }
}

fn parse_nonempty(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

fn parse_topic(s: &str) -> Result<String, String> {
    // Kafka's own rule: 1 to 249 characters of [a-zA-Z0-9._-].
    if s.is_empty() || s.len() > 249 {
        return Err("a topic name has 1 to 249 characters".to_owned());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "a topic name may only contain letters, digits, '.', '_' and '-', found {c:?}"
        ));
    }
    if s == "." || s == ".." {
        return Err("a topic name cannot be \".\" or \"..\"".to_owned());
    }
    Ok(s.to_owned())
}

fn parse_brokers(s: &str) -> Result<String, String> {
    let list: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    if list.is_empty() {
        return Err("expected host:port[,host:port...]".to_owned());
    }
    for broker in &list {
        let addr = broker.rsplit_once("://").map_or(*broker, |(_, rest)| rest);
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(format!("{broker:?} is not host:port"));
        };
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("{broker:?} is not host:port"));
        }
    }
    Ok(list.join(","))
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Parses `500ms`, `2s`, `1m30s`, ...
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 500ms, 2s, 1m)"))
}

/// Parses the command line with environment variables and the optional config file, exiting
/// with code 2 and a clear message on any error.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Like [`parse`], from explicit arguments, returning the error instead of exiting.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = Cli::command().arg(
        clap::Arg::new("config")
            .long("config")
            .env("INDEXER_CONFIG")
            .global(true)
            .value_name("FILE")
            .help("TOML file of settings (keys are flag names); flags and INDEXER_* variables override it"),
    );
    let matches = command.try_get_matches_from_mut(&args)?;
    let config_file = matches.get_one::<String>("config").cloned();
    let Some(path) = config_file else {
        return finish(&mut command, Cli::from_arg_matches(&matches));
    };
    // Layer the file under flags and environment variables: parse again with its values as
    // extra defaults of the chosen subcommand.
    let (sub_name, sub_matches) = matches.subcommand().ok_or_else(|| {
        command.error(
            ErrorKind::MissingSubcommand,
            "--config needs a command (e.g. `indexer run --config FILE`)",
        )
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        command.error(
            ErrorKind::Io,
            format!("cannot read config file {path}: {e}"),
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e| {
        command.error(
            ErrorKind::InvalidValue,
            format!("config file {path} is not valid TOML: {e}"),
        )
    })?;
    let sub = command
        .find_subcommand(sub_name)
        .cloned()
        .ok_or_else(|| command.error(ErrorKind::InvalidSubcommand, sub_name.to_owned()))?;
    let mut extra = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let Some(arg) = sub.get_arguments().find(|a| a.get_id() == id.as_str()) else {
            let known: Vec<String> = sub
                .get_arguments()
                .filter(|a| a.get_long().is_some() && a.get_id() != "config")
                .map(|a| a.get_id().to_string())
                .collect();
            return Err(command.error(
                ErrorKind::UnknownArgument,
                format!(
                    "unknown key `{key}` in config file {path} for `{sub_name}`; known keys: {}",
                    known.join(", ")
                ),
            ));
        };
        let from_cli_or_env = matches!(
            sub_matches.value_source(arg.get_id().as_str()),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        );
        if from_cli_or_env {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let values: Vec<String> = match value {
            toml::Value::Array(items) => items.iter().map(toml_scalar).collect::<Result<_, _>>(),
            other => toml_scalar(other).map(|v| vec![v]),
        }
        .map_err(|e| {
            command.error(
                ErrorKind::InvalidValue,
                format!("config file {path}: key `{key}`: {e}"),
            )
        })?;
        for v in values {
            extra.push(OsString::from(format!("--{long}={v}")));
        }
    }
    // Re-parse: the file's values go right after the subcommand, so flags given on the
    // command line (which come later) still win for repeatable options too.
    let position = args
        .iter()
        .position(|a| a.to_str() == Some(sub_name))
        .map_or(args.len(), |i| i + 1);
    let mut merged = args.clone();
    merged.splice(position..position, extra);
    let matches = command.try_get_matches_from_mut(&merged)?;
    finish(&mut command, Cli::from_arg_matches(&matches))
}

fn finish(command: &mut clap::Command, cli: Result<Cli, clap::Error>) -> Result<Cli, clap::Error> {
    let cli = cli.map_err(|e| e.format(command))?;
    let checked = match &cli.command {
        None => Ok(()),
        Some(Command::Demo(args)) => args.validate(),
        Some(Command::Run(args)) => args.clone().validate().map(|_| ()),
        Some(Command::Generate(args)) => args.validate(),
        Some(Command::Rebuild(args)) => args.validate(),
        Some(Command::Reindex(_)) => Ok(()),
    };
    checked.map_err(|msg| command.error(ErrorKind::ValueValidation, msg))?;
    Ok(cli)
}

fn toml_scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, number or boolean, got {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn run(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let cli = parse_from(std::iter::once("indexer").chain(args.iter().copied()))?;
        match cli.command {
            Some(Command::Run(run)) => Ok(run),
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn reindex_and_rebuild_flags_are_validated() {
        let parse =
            |args: &[&str]| parse_from(std::iter::once("indexer").chain(args.iter().copied()));
        let cli = parse(&["reindex", "--url", "http://h:1/", "--token", "t", "--wait"]).unwrap();
        let Some(Command::Reindex(r)) = cli.command else {
            panic!("not reindex")
        };
        assert_eq!((r.url.as_str(), r.wait), ("http://h:1", true));
        for (args, needle) in [
            (&["reindex", "--url", "h:1", "--token", "t"][..], "http://"),
            (
                &["reindex", "--url", "http://h:1", "--token", ""],
                "must not be empty",
            ),
            (&["reindex", "--token", "t"], "--url"),
            (
                &["rebuild", "--data-dir", "/tmp/x"],
                "--brokers is required",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
        assert!(parse(&[
            "rebuild",
            "--brokers",
            "b:1",
            "--data-dir",
            "/tmp/x",
            "--force"
        ])
        .is_ok());
    }

    #[test]
    fn generate_flags_are_validated() {
        let parse =
            |args: &[&str]| parse_from(std::iter::once("indexer").chain(args.iter().copied()));
        let cli = parse(&[
            "generate",
            "--brokers",
            "b:1",
            "--products",
            "10",
            "--stream",
            "--duration",
            "5s",
        ])
        .unwrap();
        let Some(Command::Generate(g)) = cli.command else {
            panic!("not generate")
        };
        assert_eq!(
            (g.products, g.stream, g.duration),
            (10, true, Some(Duration::from_secs(5)))
        );
        for (args, needle) in [
            (&["generate"][..], "--brokers is required"),
            (
                &["generate", "--brokers", "b:1", "--invalid-ratio", "2"],
                "--invalid-ratio",
            ),
            (
                &["generate", "--brokers", "b:1", "--duration", "5s"],
                "--stream",
            ),
            (
                &["generate", "--brokers", "b:1", "--products", "0"],
                "--products",
            ),
            (
                &[
                    "generate",
                    "--brokers",
                    "b:1",
                    "--catalog-csv",
                    "/no/file.csv",
                ],
                "no such file",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    fn error(args: &[&str]) -> String {
        let err = run(args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let r = run(&["run"]).unwrap();
        assert_eq!(r.kafka.brokers, None);
        assert_eq!(r.data_dir, PathBuf::from("./data"));
        assert_eq!(r.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(r.indexing.commit_interval_ms, 1000);
        assert_eq!(
            r.kafka.event_topics(),
            [
                "catalog.products",
                "catalog.offers",
                "catalog.prices",
                "catalog.inventory"
            ]
        );
        assert_eq!(r.kafka.topic_dlq, "catalog.dlq");
        assert_eq!(r.freshness_target, Duration::from_secs(5));
        assert_eq!(r.indexing.indexing_nice, 5);
        assert_eq!(r.search.typo_threshold, 5);
    }

    #[test]
    fn flags_are_parsed_into_real_types() {
        let r = run(&[
            "run",
            "--brokers",
            "a:9092, b:9093",
            "--commit-interval-ms",
            "250",
            "--freshness-target",
            "1m30s",
            "--kafka-property",
            "security.protocol=SSL",
        ])
        .unwrap();
        assert_eq!(r.kafka.brokers.as_deref(), Some("a:9092,b:9093"));
        assert_eq!(
            r.validate().unwrap().commit_interval,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn bad_values_exit_with_code_2_and_name_the_flag() {
        assert!(error(&["run", "--commit-interval-ms", "abc"]).contains("--commit-interval-ms"));
        assert!(error(&["run", "--commit-interval-ms", "0"]).contains("--commit-interval-ms"));
        assert!(error(&["run", "--listen", "nowhere"]).contains("--listen"));
        assert!(error(&["run", "--brokers", "localhost"]).contains("host:port"));
        assert!(error(&["run", "--brokers", ","]).contains("host:port"));
        assert!(error(&["run", "--topic-dlq", "bad topic"]).contains("topic"));
        assert!(error(&["run", "--freshness-target", "soon"]).contains("--freshness-target"));
        assert!(error(&["run", "--no-such-flag"]).contains("--no-such-flag"));
        assert!(error(&["run", "--topic-dlq", "catalog.products"]).contains("distinct"));
        assert!(
            error(&["run", "--indexing-threads", "4", "--writer-memory-mb", "20"])
                .contains("--writer-memory-mb")
        );
        assert!(error(&["run", "--kafka-property", "novalue"]).contains("key=value"));
        assert!(error(&["run", "--merge-deletes-ratio", "0"]).contains("ratio"));
        assert!(error(&["run", "--boost-title=-1"]).contains("weight"));
        assert!(error(&["run", "--boost-title", "nan"]).contains("weight"));
        assert!(error(&["run", "--cors-origin", "shop.example.com"]).contains("--cors-origin"));
        assert!(error(&["run", "--request-timeout", "1ms"]).contains("--request-timeout"));
        assert!(error(&["run", "--freshness-slo-window", "1h"]).contains("--freshness-slo-window"));
        assert!(error(&["run", "--canary-interval", "1ms"]).contains("--canary-interval"));
        assert!(error(&["run", "--canary-interval", "often"]).contains("--canary-interval"));
        assert!(error(&["run", "--merge-deletes-ratio", "1.5"]).contains("ratio"));
        assert!(error(&["run", "--max-segments", "0"]).contains("--max-segments"));
        assert!(error(&["run", "--merge-min-segments", "1"]).contains("--merge-min-segments"));
        assert!(error(&["run", "--indexing-nice", "20"]).contains("--indexing-nice"));
        assert!(error(&["run", "--indexing-nice=-1"]).contains("--indexing-nice"));
        assert!(error(&["run", "--typo-threshold", "many"]).contains("--typo-threshold"));
    }

    #[test]
    fn config_file_is_layered_under_flags() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "commit_interval_ms = 300\ngroup-id = \"from-file\"\ndata_dir = \"/tmp/x\""
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let r = run(&["run", "--config", path, "--group-id", "from-flag"]).unwrap();
        assert_eq!(r.indexing.commit_interval_ms, 300);
        assert_eq!(r.group_id, "from-flag");
        assert_eq!(r.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn config_file_errors_are_clear() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "commit_intervl_ms = 300").unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let msg = error(&["run", "--config", &path]);
        assert!(msg.contains("unknown key `commit_intervl_ms`"), "{msg}");
        assert!(
            msg.contains("commit_interval_ms"),
            "lists the known keys: {msg}"
        );

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "commit_interval_ms = 5").unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        assert!(error(&["run", "--config", &path]).contains("--commit-interval-ms"));

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "commit_interval_ms = ").unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        assert!(error(&["run", "--config", &path]).contains("not valid TOML"));

        assert!(error(&["run", "--config", "/no/such/file.toml"]).contains("cannot read"));
    }
}
