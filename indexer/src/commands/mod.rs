//! The composition roots: each command builds what it runs from its flags and runs it.
//! Nothing imports this folder but the binary (`main.rs`).
//!
//! - `run`: the service (`indexer run`): broker, store, pipeline, reindexer, HTTP.
//! - `demo`: the default command, `run` plus `generate` on the embedded broker.
//! - `generate`: the catalog and change publisher (`indexer generate`).
//! - `reindex`: the client of the online rebuild (`indexer reindex`).
//! - `rebuild`: the offline rebuild (`indexer rebuild`).

pub mod demo;
pub mod generate;
pub mod rebuild;
pub mod reindex;
pub mod run;

use crate::cli::{Command, LogFormat};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The flags of `indexer run` do not fit together.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// `indexer demo` failed.
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    /// `indexer run` failed.
    #[error(transparent)]
    Run(#[from] run::RunError),
    /// `indexer generate` failed.
    #[error(transparent)]
    Generate(#[from] generate::GenerateCommandError),
    /// `indexer reindex` failed.
    #[error(transparent)]
    Reindex(#[from] reindex::ClientError),
    /// `indexer rebuild` failed.
    #[error(transparent)]
    Rebuild(#[from] rebuild::RebuildError),
}

/// Runs `command` to its end.
pub fn execute(command: Command) -> Result<(), CommandError> {
    // Panics the pipeline catches are logged once, by the code that caught them.
    crate::util::panic::install_hook();
    // The fault tests' failpoints (FAILPOINTS=name=action;...), in test builds only.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    match command {
        Command::Demo(args) => {
            init_tracing(LogFormat::Text);
            demo::run(args)?;
        }
        Command::Run(args) => {
            let config = args.validate().map_err(CommandError::Config)?;
            init_tracing(config.args.log_format);
            run::run(config)?;
        }
        Command::Generate(args) => {
            init_tracing(LogFormat::Text);
            generate::run(&args)?;
        }
        Command::Reindex(args) => {
            init_tracing(LogFormat::Text);
            reindex::run(&args)?;
        }
        Command::Rebuild(args) => {
            init_tracing(LogFormat::Text);
            rebuild::run(&args)?;
        }
    }
    Ok(())
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tantivy=warn,rdkafka=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
