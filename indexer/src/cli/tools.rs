//! The flags of the other commands: `demo`, `generate`, `reindex` (the client) and
//! `rebuild` (offline).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::kafka::KafkaArgs;
use super::parsers::{
    parse_admin_token, parse_duration, parse_nonempty, parse_secret, parse_share, parse_url,
};
use super::run::IndexingArgs;
use crate::models::Secret;
use crate::models::Topics;
use crate::tools::publish::{CatalogSource, Publication};

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
    /// Stores with quantities for pickup (the shop page's store picker; 0: none).
    #[arg(long, env = "INDEXER_STORES", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub stores: u64,
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
    /// Admin token for trying `indexer reindex` against the demo (at least 16 bytes); a
    /// random one is generated and printed when not given.
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", value_parser = parse_admin_token, hide_env_values = true)]
    pub admin_token: Option<Secret>,
}

impl DemoArgs {
    pub(super) fn validate(&self) -> Result<(), String> {
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
    #[arg(long, env = "INDEXER_ADMIN_TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub token: Secret,
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
    pub(super) fn validate(&self) -> Result<(), String> {
        self.kafka.validate()?;
        self.indexing.validate()?;
        if self.kafka.brokers.is_none() {
            return Err("--brokers is required: a rebuild replays the log of a cluster (the embedded broker starts empty)".to_owned());
        }
        Ok(())
    }
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

    /// Stores with quantities for pickup (`store-000` ...): each product's first offer is
    /// stocked at about 30% of them, and half the inventory changes of the stream are a
    /// store's. 0: online quantities only.
    #[arg(long, env = "INDEXER_STORES", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub stores: u64,

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
    pub(super) fn validate(&self) -> Result<(), String> {
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

impl From<&GenerateArgs> for Publication {
    fn from(args: &GenerateArgs) -> Publication {
        Publication {
            brokers: args.kafka.brokers.clone().unwrap_or_default(),
            topics: Topics::from(&args.kafka),
            kafka_properties: args.kafka.kafka_properties.clone().into(),
            source: match &args.catalog_csv {
                Some(path) => CatalogSource::Csv(path.clone()),
                None => CatalogSource::Synthetic,
            },
            products: args.products as usize,
            max_offers: args.max_offers as usize,
            stores: args.stores as usize,
            rate: args.rate,
            seed: args.seed,
            invalid_ratio: args.invalid_ratio,
            catalog: !args.no_catalog,
            changes: match (args.stream, args.duration) {
                (false, _) => None,
                (true, Some(d)) => Some(Some((d.as_secs_f64() * args.rate as f64).ceil() as u64)),
                (true, None) => Some(None),
            },
            start_version: args.start_version,
        }
    }
}
