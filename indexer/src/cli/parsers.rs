//! Value parsers of the command line: each turns one flag's text into its type, or says
//! what is expected.

use std::time::Duration;

use crate::ingest::dead_letters::DlqFailure;
use crate::ingest::source::LogGapPolicy;
use crate::models::Secret;

pub(super) fn parse_url(s: &str) -> Result<String, String> {
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

pub(super) fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("expected a share from 0 to 1, e.g. 0.01".to_owned()),
    }
}

pub(super) fn parse_boost(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(b) if b.is_finite() && (0.0..=100.0).contains(&b) => Ok(b),
        _ => Err("expected a weight from 0 to 100, e.g. 2.5".to_owned()),
    }
}

pub(super) fn parse_ratio(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err("expected a ratio in (0, 1], e.g. 0.3".to_owned()),
    }
}

/// Shortest admin token accepted: 16 bytes (128 bits when random).
pub const MIN_TOKEN_BYTES: usize = 16;

/// An admin token: at least [`MIN_TOKEN_BYTES`] bytes, no surrounding whitespace.
pub(super) fn parse_admin_token(s: &str) -> Result<Secret, String> {
    let s = s.trim();
    if s.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "an admin token must be at least {MIN_TOKEN_BYTES} bytes (this one has {}); generate one with `openssl rand -hex 16`",
            s.len()
        ));
    }
    Ok(Secret::new(s))
}

/// A secret that must not be empty (the client side of a token).
pub(super) fn parse_secret(s: &str) -> Result<Secret, String> {
    parse_nonempty(s).map(Secret::new)
}

pub(super) fn parse_nonempty(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

pub(super) fn parse_topic(s: &str) -> Result<String, String> {
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

pub(super) fn parse_brokers(s: &str) -> Result<String, String> {
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

pub(super) fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Parses `500ms`, `2s`, `1m30s`, ...
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 500ms, 2s, 1m)"))
}

/// Parses `--on-log-gap` (`fail`, `rebuild` or `continue`).
pub(super) fn parse_log_gap(s: &str) -> Result<LogGapPolicy, String> {
    s.parse()
}

/// Parses `--dlq-failure` (`skip` or `halt`).
pub(super) fn parse_dlq_failure(s: &str) -> Result<DlqFailure, String> {
    s.parse()
}
