//! Layering of the optional TOML config file (`--config FILE` or `INDEXER_CONFIG`) under
//! flags and environment variables: the file's keys are the flag names with `_` or `-`; an
//! unknown key is an error naming the known ones. The file's values are inserted as flags
//! right after the subcommand, so that flags given on the command line (which come later)
//! and environment variables still win.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{ArgMatches, Command};

/// The flags that the config file at `path` adds to the command line of `sub_name` (whose
/// matches are `sub_matches`): one `--flag=value` per key not already given by a flag or an
/// environment variable.
pub(super) fn file_flags(
    command: &mut Command,
    sub_name: &str,
    sub_matches: &ArgMatches,
    path: &str,
) -> Result<Vec<OsString>, clap::Error> {
    let table = read_table(command, path)?;
    let sub = command
        .find_subcommand(sub_name)
        .cloned()
        .ok_or_else(|| command.error(ErrorKind::InvalidSubcommand, sub_name.to_owned()))?;
    let mut extra = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let Some(arg) = sub.get_arguments().find(|a| a.get_id() == id.as_str()) else {
            return Err(unknown_key(command, &sub, key, path, sub_name));
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
    Ok(extra)
}

/// `args` with `extra` inserted right after the subcommand `sub_name`.
pub(super) fn insert_after_subcommand(
    args: &[OsString],
    sub_name: &str,
    extra: Vec<OsString>,
) -> Vec<OsString> {
    let position = args
        .iter()
        .position(|a| a.to_str() == Some(sub_name))
        .map_or(args.len(), |i| i + 1);
    let mut merged = args.to_vec();
    merged.splice(position..position, extra);
    merged
}

fn read_table(command: &mut Command, path: &str) -> Result<toml::Table, clap::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        command.error(
            ErrorKind::Io,
            format!("cannot read config file {path}: {e}"),
        )
    })?;
    text.parse().map_err(|e| {
        command.error(
            ErrorKind::InvalidValue,
            format!("config file {path} is not valid TOML: {e}"),
        )
    })
}

fn unknown_key(
    command: &mut Command,
    sub: &Command,
    key: &str,
    path: &str,
    sub_name: &str,
) -> clap::Error {
    let known: Vec<String> = sub
        .get_arguments()
        .filter(|a| a.get_long().is_some() && a.get_id() != "config")
        .map(|a| a.get_id().to_string())
        .collect();
    command.error(
        ErrorKind::UnknownArgument,
        format!(
            "unknown key `{key}` in config file {path} for `{sub_name}`; known keys: {}",
            known.join(", ")
        ),
    )
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
