//! `indexer run`: the service's flags (indexing, search, monitoring, admin), validated
//! across flags into a [`RunConfig`], and converted into the settings types of the stages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::kafka::KafkaArgs;
use super::parsers::{
    parse_admin_token, parse_boost, parse_dlq_failure, parse_duration, parse_log_gap,
    parse_nonempty, parse_ratio,
};
use crate::ingest::dead_letters::DlqFailure;
use crate::ingest::segment_policy::UpdateHeavyMergePolicy;
use crate::ingest::source::LogGapPolicy;
use crate::ingest::writer::WriterConfig;
use crate::ingest::IndexingSettings;
use crate::models::Secret;
use crate::util::available_cores;

/// The log format of `indexer run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Directory of the index (created if missing).
    #[arg(long, env = "INDEXER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Make this generation (e.g. `gen-000003`) the live index before starting: the repair
    /// of a data directory whose CURRENT file is missing or unreadable (the start refuses
    /// and lists the generations found). Checked: it must exist and be complete.
    #[arg(long, value_name = "GEN")]
    pub generation: Option<String>,

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

    /// Freshness objective of the live path (price and stock updated in place): p99 at most
    /// this over `--freshness-slo-window`.
    #[arg(long, env = "INDEXER_FRESHNESS_SLO_LIVE", default_value = "100ms", value_parser = parse_duration)]
    pub freshness_slo_live: Duration,

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

    /// Token for the admin API (`Authorization: Bearer <token>`, at least 16 bytes, e.g.
    /// `openssl rand -hex 16`); admin routes are disabled without it. Its holders also see
    /// raw errors and paths in `/status`.
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", value_parser = parse_admin_token, hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Open HTTP connections at most; past it new connections are closed at once (counted
    /// in `http_connections_rejected_total`).
    #[arg(long, env = "INDEXER_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Time a client has to send a whole request head before it is disconnected (slow
    /// clients, slowloris).
    #[arg(long, env = "INDEXER_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,

    /// A connection with no byte read or written for this long is closed (idle
    /// keep-alives).
    #[arg(long, env = "INDEXER_HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub http_idle_timeout: Duration,

    /// A dead letter that cannot be delivered even cut down to the producer's
    /// `message.max.bytes`: `skip` it (logged at ERROR, counted in
    /// `indexer_dlq_failures_total`; the events after it are committed) or `halt` ingestion
    /// there (nothing past it is committed until the cause is fixed).
    #[arg(long, env = "INDEXER_DLQ_FAILURE", default_value = "skip", value_parser = parse_dlq_failure)]
    pub dlq_failure: DlqFailure,

    /// A resumed partition whose stored offset the log no longer has (retention deleted
    /// records while the indexer was down, or the topic was recreated): `fail` (do not
    /// consume it, report `log_gap`; fix with `indexer reindex --force`), `rebuild` (the
    /// same, and start a forced reindex) or `continue` (consume from the log start,
    /// accepting the loss). Always counted in `indexer_offset_resets_total`.
    #[arg(long, env = "INDEXER_ON_LOG_GAP", default_value = "fail", value_parser = parse_log_gap)]
    pub on_log_gap: LogGapPolicy,

    /// Log format: `text` or `json`.
    #[arg(long, env = "INDEXER_LOG_FORMAT", default_value = "text", value_enum)]
    pub log_format: LogFormat,
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
    (available_cores() as u64 / 2).clamp(1, 64)
}

impl IndexingArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
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
    #[arg(long, env = "INDEXER_RELAX_BELOW", default_value_t = 100,
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
    /// A search still running this long after its request arrived is stopped inside the
    /// search (its slot freed) and answered 503 `timeout`; at most `--request-timeout`.
    #[arg(long, env = "INDEXER_SEARCH_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub search_timeout: Duration,
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
    fn validate(&self) -> Result<(), String> {
        if self.request_timeout < Duration::from_millis(10) {
            return Err("--request-timeout must be at least 10ms".to_owned());
        }
        if self.search_timeout < Duration::from_millis(1)
            || self.search_timeout > self.request_timeout
        {
            return Err(format!(
                "--search-timeout must be between 1ms and --request-timeout ({:?}), got {:?}",
                self.request_timeout, self.search_timeout
            ));
        }
        for origin in &self.cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && is_header_value(origin));
            if !ok {
                return Err(format!(
                    "--cors-origin {origin:?} must be `*` or an origin like https://shop.example.com"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `s` may be an HTTP header value (what `http::HeaderValue::from_str` accepts:
/// visible ASCII, spaces and tabs, and bytes above ASCII; no other control character).
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

impl From<&SearchArgs> for query_api::SearchSettings {
    fn from(args: &SearchArgs) -> query_api::SearchSettings {
        query_api::SearchSettings {
            relevance: query_api::Relevance {
                title: args.boost_title,
                brand: args.boost_brand,
                category: args.boost_category,
                attributes: args.boost_attributes,
                description: args.boost_description,
                phrase: args.boost_phrase,
                relax_below: args.relax_below,
                typo_threshold: args.typo_threshold,
            },
            max_concurrent_searches: args.max_concurrent_searches as usize,
            queue_timeout: args.search_queue_timeout,
            search_timeout: args.search_timeout,
            cors_origins: args.cors_origins.clone(),
        }
    }
}

impl From<&SearchArgs> for query_api::HttpLimits {
    fn from(args: &SearchArgs) -> query_api::HttpLimits {
        query_api::HttpLimits {
            request_timeout: args.request_timeout,
            max_in_flight: args.max_in_flight as usize,
            ..query_api::HttpLimits::default()
        }
    }
}

impl From<&IndexingArgs> for IndexingSettings {
    fn from(args: &IndexingArgs) -> IndexingSettings {
        IndexingSettings {
            writer: WriterConfig {
                commit_interval: Duration::from_millis(args.commit_interval_ms),
                max_docs_per_commit: args.max_docs_per_commit as usize,
                max_pending_bytes: (args.max_pending_mb as usize) << 20,
                state_cache_entries: args.state_cache_entries as usize,
                observe_backlog_freshness: true,
                record_freshness: true,
            },
            writer_memory_bytes: (args.writer_memory_mb as usize) << 20,
            indexing_threads: args.indexing_threads as usize,
            indexing_nice: args.indexing_nice as i32,
            merge_policy: UpdateHeavyMergePolicy {
                max_segments: args.max_segments as usize,
                merge_width: args.merge_min_segments as usize,
                deletes_ratio: args.merge_deletes_ratio,
            },
            max_rate: None,
        }
    }
}

/// A validated `run` configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The flags, checked across each other.
    pub args: RunArgs,
    /// `--commit-interval-ms` as a duration.
    pub commit_interval: Duration,
}

impl RunArgs {
    /// Cross-field checks clap cannot express (see [`RunConfig`]'s `TryFrom`).
    pub fn validate(self) -> Result<RunConfig, String> {
        RunConfig::try_from(self)
    }
}

impl TryFrom<RunArgs> for RunConfig {
    type Error = String;

    fn try_from(args: RunArgs) -> Result<RunConfig, String> {
        args.kafka.validate()?;
        args.search.validate()?;
        args.indexing.validate()?;
        if args.freshness_target < Duration::from_millis(100) {
            return Err("--freshness-target must be at least 100ms".to_owned());
        }
        if args.freshness_slo < Duration::from_millis(10) {
            return Err("--freshness-slo must be at least 10ms".to_owned());
        }
        if args.freshness_slo_live < Duration::from_millis(1) {
            return Err("--freshness-slo-live must be at least 1ms".to_owned());
        }
        if args.freshness_slo_window < Duration::from_secs(10)
            || args.freshness_slo_window > Duration::from_secs(900)
        {
            return Err("--freshness-slo-window must be between 10s and 15m".to_owned());
        }
        if let Some(interval) = args.canary_interval {
            if interval < Duration::from_millis(100) {
                return Err("--canary-interval must be at least 100ms".to_owned());
            }
        }
        Ok(RunConfig {
            commit_interval: Duration::from_millis(args.indexing.commit_interval_ms),
            args,
        })
    }
}
