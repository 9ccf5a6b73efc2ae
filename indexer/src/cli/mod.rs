//! The command line: one typed struct per command, from flags, `INDEXER_*` environment
//! variables and an optional TOML file, validated before anything starts, and converted
//! once into the settings types of the stages (`From`/`TryFrom` impls).
//!
//! Precedence: flag > environment variable > config file (`--config FILE` or
//! `INDEXER_CONFIG`) > default. The file's keys are the flag names with `_` or `-`
//! (`commit_interval_ms = 500`); an unknown key is an error. Every error exits with code 2 and
//! a message naming the offending flag, variable or key.
//!
//! - `kafka`: [`KafkaArgs`], shared by every command that talks to Kafka.
//! - `run`: [`RunArgs`] (with [`IndexingArgs`], [`SearchArgs`]) and [`RunConfig`].
//! - `tools`: [`DemoArgs`], [`GenerateArgs`], [`ReindexArgs`], [`RebuildArgs`].
//! - `layering`: the TOML file under flags and variables.
//! - `parsers`: value parsers (durations, brokers, topics, URLs, shares, weights).
//!
//! Only `main.rs` and `commands/` import it.

mod kafka;
mod layering;
mod parsers;
mod run;
mod tools;

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use kafka::KafkaArgs;
pub use parsers::parse_duration;
pub use run::{default_indexing_threads, IndexingArgs, LogFormat, RunArgs, RunConfig, SearchArgs};
pub use tools::{DemoArgs, GenerateArgs, RebuildArgs, ReindexArgs};

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

/// Parses the command line with environment variables and the optional config file, exiting
/// with code 2 and a clear message on any error.
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// The command run without one: `demo`, with its defaults (and environment variables).
pub fn default_command() -> Result<Command, clap::Error> {
    match parse_from(["indexer", "demo"])?.command {
        Some(command) => Ok(command),
        None => Err(Cli::command().error(ErrorKind::MissingSubcommand, "no demo command")),
    }
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
    let Some(path) = matches.get_one::<String>("config").cloned() else {
        return finish(&mut command, Cli::from_arg_matches(&matches));
    };
    // Layer the file under flags and environment variables: parse again with its values as
    // extra flags of the chosen subcommand.
    let (sub_name, sub_matches) = matches.subcommand().ok_or_else(|| {
        command.error(
            ErrorKind::MissingSubcommand,
            "--config needs a command (e.g. `indexer run --config FILE`)",
        )
    })?;
    let extra = layering::file_flags(&mut command, sub_name, sub_matches, &path)?;
    let merged = layering::insert_after_subcommand(&args, sub_name, extra);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::Duration;

    fn run(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let cli = parse_from(std::iter::once("indexer").chain(args.iter().copied()))?;
        match cli.command {
            Some(Command::Run(run)) => Ok(run),
            other => panic!("not run: {other:?}"),
        }
    }

    /// Regression (issue #14): any non-empty token was accepted (`--admin-token t`).
    #[test]
    fn an_admin_token_shorter_than_16_bytes_is_refused() {
        let err = run(&["run", "--admin-token", "short-token"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("at least 16 bytes")
                && err.to_string().contains("openssl rand"),
            "{err}"
        );
        let ok = run(&["run", "--admin-token", "0123456789abcdef"]).unwrap();
        assert_eq!(
            ok.admin_token.map(|t| t.expose().to_owned()).as_deref(),
            Some("0123456789abcdef")
        );
    }

    /// Regression (issue #14): `Debug` of the parsed flags (what a log line or a panic
    /// would print) showed the token and every `--kafka-property` value.
    #[test]
    fn parsed_flags_never_debug_print_a_secret() {
        let args = run(&[
            "run",
            "--admin-token",
            "tok-0123456789abcdef",
            "--kafka-property",
            "sasl.password=hunter2-secret",
        ])
        .unwrap();
        let shown = format!("{args:?}");
        assert!(!shown.contains("tok-0123456789abcdef"), "{shown}");
        assert!(
            !shown.contains("hunter2") && shown.contains("sasl.password"),
            "{shown}"
        );
        let settings = args.kafka.settings("b:1".to_owned(), "g");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.properties[0].1, "hunter2-secret");
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
        assert!(error(&[
            "run",
            "--kafka-property",
            "isolation.level=read_uncommitted"
        ])
        .contains("isolation.level=read_committed"));
        assert!(
            error(&["run", "--kafka-property", "enable.auto.commit=true"])
                .contains("enable.auto.commit=false")
        );
        assert!(error(&["run", "--merge-deletes-ratio", "0"]).contains("ratio"));
        assert!(error(&["run", "--boost-title=-1"]).contains("weight"));
        assert!(error(&["run", "--boost-title", "nan"]).contains("weight"));
        assert!(error(&["run", "--cors-origin", "shop.example.com"]).contains("--cors-origin"));
        assert!(error(&["run", "--request-timeout", "1ms"]).contains("--request-timeout"));
        assert!(error(&["run", "--search-timeout", "3s"]).contains("--search-timeout"));
        assert!(error(&["run", "--on-log-gap", "skip"]).contains("--on-log-gap"));
        assert!(error(&["run", "--search-timeout", "0s"]).contains("--search-timeout"));
        assert!(error(&["run", "--search-timeout", "fast"]).contains("--search-timeout"));
        assert!(error(&["run", "--freshness-slo-window", "1h"]).contains("--freshness-slo-window"));
        assert!(error(&["run", "--freshness-slo-live", "0ms"]).contains("--freshness-slo-live"));
        assert!(error(&["run", "--freshness-slo-live", "soon"]).contains("--freshness-slo-live"));
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
    fn the_log_format_is_one_of_two_values() {
        assert_eq!(run(&["run"]).unwrap().log_format, LogFormat::Text);
        assert_eq!(
            run(&["run", "--log-format", "json"]).unwrap().log_format,
            LogFormat::Json
        );
        let msg = error(&["run", "--log-format", "xml"]);
        assert!(msg.contains("--log-format"), "{msg}");
        assert!(msg.contains("text") && msg.contains("json"), "{msg}");
    }

    #[test]
    fn the_dead_letter_failure_policy_is_skip_or_halt() {
        use crate::ingest::dead_letters::DlqFailure;
        assert_eq!(run(&["run"]).unwrap().dlq_failure, DlqFailure::Skip);
        assert_eq!(
            run(&["run", "--dlq-failure", "halt"]).unwrap().dlq_failure,
            DlqFailure::Halt
        );
        let msg = error(&["run", "--dlq-failure", "stop"]);
        assert!(
            msg.contains("--dlq-failure") && msg.contains("skip or halt"),
            "{msg}"
        );
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
