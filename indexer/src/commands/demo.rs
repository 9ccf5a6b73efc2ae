//! `indexer demo` (the default command): the whole system on one machine, no external
//! service. Starts `indexer run` on the embedded broker, publishes a generated catalog with
//! a progress bar, then streams changes, and prints where to look and a status line.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::run::{run_with, RunError, Started};
use crate::cli::{self, Command, DemoArgs, GenerateArgs};
use crate::models::Secret;
use crate::telemetry::{Freshness, Status};
use crate::tools::publish::{self, Publication};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The service failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The demo built a bad command line (a bug).
    #[error("demo configuration: {0}")]
    Config(String),
    /// The temporary data directory could not be created.
    #[error("cannot create the demo's data directory: {0}")]
    DataDir(std::io::Error),
}

fn parse<T>(args: Vec<String>, pick: impl FnOnce(Command) -> Option<T>) -> Result<T, DemoError> {
    let cli = cli::parse_from(args).map_err(|e| DemoError::Config(e.to_string()))?;
    cli.command
        .and_then(pick)
        .ok_or_else(|| DemoError::Config("unexpected command".to_owned()))
}

/// Runs the demo until Ctrl-C.
pub fn run(args: DemoArgs) -> Result<(), DemoError> {
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let dir = default_data_dir();
            std::fs::create_dir_all(&dir).map_err(DemoError::DataDir)?;
            (dir, true)
        }
    };
    // A fixed demo token would be a known password on every laptop that runs it.
    let token = args.admin_token.clone().unwrap_or_else(random_token);
    let mut args = args;
    args.admin_token = Some(token.clone());
    let run_args = parse(
        [
            "indexer",
            "run",
            "--listen",
            &args.listen.to_string(),
            "--canary-interval",
            "5s",
            "--admin-token",
            token.expose(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["--data-dir".to_owned(), data_dir.display().to_string()])
        .collect(),
        |c| match c {
            Command::Run(r) => Some(r),
            _ => None,
        },
    )?;
    let config = run_args.validate().map_err(DemoError::Config)?;
    let hook_args = args.clone();
    let result = run_with(
        config,
        Some(Box::new(move |started| publish(hook_args, started))),
    );
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result.map_err(DemoError::from)
}

/// The demo's publisher: catalog, then changes, with a status line every 5 s.
fn publish(args: DemoArgs, started: Started) {
    let catalog = match generate_args(&args, &started, &["--rate", "100000"]) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "demo catalog not published");
            return;
        }
    };
    let published = match publish::run(&Publication::from(&catalog), started.shutdown.clone()) {
        Ok(published) => published,
        Err(e) => {
            tracing::error!(error = %e, "demo catalog not published");
            return;
        }
    };
    // Wait until the catalog is searchable, then say where to look. A lag of 0 alone is not
    // enough: until the consumer has fetched the new high watermarks, the lag it knows is
    // that of the empty topics (the CI saw the URLs printed with 39 of 300 products
    // searchable). The commits must cover at least as many messages as were published.
    let searchable = |status: &crate::telemetry::Status| {
        let committed: i64 = status.committed_offsets().iter().map(|(_, o)| o).sum();
        committed >= published.events as i64 && status.total_lag() == 0
    };
    while !started.shutdown.load(Ordering::Relaxed) && !searchable(&started.status) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let token = args.admin_token.clone().unwrap_or_else(random_token);
    print_where_to_look(&started, token.expose());
    let status = started.status.clone();
    let stop = started.shutdown.clone();
    std::thread::spawn(move || status_lines(status, stop));
    if args.rate == 0 {
        return;
    }
    let rate = args.rate.to_string();
    let invalid = args.invalid_ratio.to_string();
    let changes = [
        "--stream",
        "--no-catalog",
        "--rate",
        &rate,
        "--invalid-ratio",
        &invalid,
    ];
    match generate_args(&args, &started, &changes) {
        Ok(stream) => {
            if let Err(e) = publish::run(&Publication::from(&stream), started.shutdown.clone()) {
                tracing::error!(error = %e, "demo stream stopped");
            }
        }
        Err(e) => tracing::error!(error = %e, "demo stream not started"),
    }
}

/// The `indexer generate` flags of the demo's catalog, plus `extra`, parsed like the
/// command line (so they are validated the same way).
fn generate_args(
    args: &DemoArgs,
    started: &Started,
    extra: &[&str],
) -> Result<GenerateArgs, DemoError> {
    let mut v: Vec<String> = [
        "indexer",
        "generate",
        "--brokers",
        &started.brokers,
        "--products",
        &args.products.to_string(),
        "--seed",
        &args.seed.to_string(),
        "--stores",
        &args.stores.to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(csv) = &args.catalog_csv {
        v.push("--catalog-csv".to_owned());
        v.push(csv.display().to_string());
    }
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    parse(v, |c| match c {
        Command::Generate(g) => Some(g),
        _ => None,
    })
}

/// A random admin token: 16 random bytes, hex (32 characters).
fn random_token() -> Secret {
    let bytes: [u8; 16] = rand::random();
    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn print_where_to_look(started: &Started, admin_token: &str) {
    let url = &started.url;
    println!();
    println!("  Search the catalog:   {url}/");
    println!("  Operations dashboard: {url}/dashboard");
    println!("  API:                  curl '{url}/search?q=samsung+tv&facets=brand,price'");
    println!("  Status and metrics:   {url}/status  {url}/metrics");
    println!("  Kafka bootstrap:      {}", started.brokers);
    println!(
        "  Your own price event: echo '{{\"offer_id\":\"sku-0000001-o0\",\"product_id\":\"sku-0000001\",\"version\":99999999999999999,\"ts\":{},\"price_cents\":999,\"currency\":\"USD\"}}' | kcat -b {} -t catalog.prices -k sku-0000001 -P",
        // A real time: `ts` 0 was counted as clock skew and clamped (issue #14 item 11).
        crate::util::now_ms(),
        started.brokers
    );
    println!("  Reindex:              indexer reindex --url {url} --token {admin_token} --wait");
    println!();
}

fn status_lines(status: Arc<Status>, stop: Arc<std::sync::atomic::AtomicBool>) {
    let mut last = status.counters.snapshot();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(5));
        let now = status.counters.snapshot();
        let p99 = Freshness::window(
            &status.freshness.source,
            std::time::Instant::now(),
            Duration::from_secs(60),
        )
        .map_or_else(|| "-".to_owned(), |p| format!("{} ms", p.p99_ms));
        eprintln!(
            "demo: {} products searchable, {:.0} events/s applied, {} invalid so far, freshness p99 (1m) {p99}, lag {}",
            status.index().docs,
            now.applied.saturating_sub(last.applied) as f64 / 5.0,
            now.invalid,
            status.total_lag()
        );
        last = now;
    }
}

/// Where `indexer demo` keeps its index when not told.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("catalog-demo-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue #14): the demo used the fixed token `demo-admin-token`.
    #[test]
    fn the_demo_token_is_random_and_long_enough() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
