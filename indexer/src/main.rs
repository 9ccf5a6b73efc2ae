//! The `indexer` binary: parses the command line and runs the chosen command (`demo` when
//! none is given).

/// mimalloc: Tantivy's indexing and the merge states allocate heavily; glibc's malloc was a
/// measurable share of commit time (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = indexer::cli::parse();
    let command = match cli.command {
        Some(command) => command,
        None => indexer::cli::default_command().unwrap_or_else(|e| e.exit()),
    };
    indexer::commands::execute(command)?;
    Ok(())
}
