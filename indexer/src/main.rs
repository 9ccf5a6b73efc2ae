//! The `indexer` binary: parses the command line and runs the chosen command.

use indexer::config::{self, Command};

/// mimalloc: Tantivy's indexing and the merge states allocate heavily; glibc's malloc was a
/// measurable share of commit time (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = config::parse();
    let command = match cli.command {
        Some(command) => command,
        None => match config::parse_from(["indexer", "demo"]) {
            Ok(config::Cli {
                command: Some(demo),
            }) => demo,
            Ok(_) => anyhow::bail!("no demo command"),
            Err(e) => e.exit(),
        },
    };
    match command {
        Command::Demo(args) => {
            init_tracing("text");
            indexer::demo::run(args)?;
        }
        Command::Run(args) => {
            let config = args
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            init_tracing(&config.args.log_format);
            indexer::run::run(config)?;
        }
        Command::Generate(args) => {
            init_tracing("text");
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            // Ctrl-C / SIGTERM: stop publishing, flush what was sent, exit 0.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::spawn(move || {
                runtime.block_on(indexer::run::wait_for_signal());
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            indexer::publish::run(&args, stop)?;
        }
        Command::Reindex(args) => {
            init_tracing("text");
            indexer::admin::reindex_client(&args.url, &args.token, args.wait, args.force)?;
        }
        Command::Rebuild(args) => {
            init_tracing("text");
            rebuild(&args)?;
        }
    }
    Ok(())
}

fn rebuild(args: &indexer::config::RebuildArgs) -> anyhow::Result<()> {
    let store = indexer::store::IndexStore::new(&args.data_dir)?;
    let _lock = indexer::run::lock_data_dir(&store)?;
    let settings = indexer::run::pipeline_settings(
        &args.indexing,
        &args.kafka,
        args.kafka.brokers.clone().unwrap_or_default(),
        &args.group_id,
    );
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} rebuilding {bar:40} {pos}/{len} events ({per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let path =
        indexer::reindex::rebuild_offline(&settings, &args.data_dir, args.force, |done, left| {
            bar.set_length(done + left.max(0) as u64);
            bar.set_position(done);
        })?;
    bar.finish_and_clear();
    eprintln!("rebuilt {}", path.display());
    Ok(())
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tantivy=warn,rdkafka=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
