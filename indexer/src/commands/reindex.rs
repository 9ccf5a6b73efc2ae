//! `indexer reindex`: the client of `POST /admin/reindex`. Starts an online rebuild of a
//! running indexer and, with `--wait`, follows it with a progress bar until it is done (exit
//! 0) or failed (non-zero).

use std::time::Duration;

use crate::cli::ReindexArgs;
use crate::reindex::{ReindexReport, ReindexState};

/// Why the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The indexer could not be reached.
    #[error("cannot reach {url}: {source}")]
    Http {
        /// The endpoint.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The indexer refused (wrong token, one running, disabled...).
    #[error("{status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error message it answered.
        message: String,
    },
    /// The rebuild failed.
    #[error("the reindex failed: {0}")]
    Failed(String),
}

/// The admin endpoint of one indexer.
struct AdminClient<'a> {
    client: reqwest::blocking::Client,
    endpoint: String,
    token: &'a str,
}

impl AdminClient<'_> {
    fn call(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<ReindexReport, ClientError> {
        let response =
            request
                .bearer_auth(self.token)
                .send()
                .map_err(|source| ClientError::Http {
                    url: self.endpoint.clone(),
                    source,
                })?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap_or_default();
        if status >= 300 {
            let message = body["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            return Err(ClientError::Api { status, message });
        }
        serde_json::from_value(body).map_err(|e| ClientError::Api {
            status,
            message: format!("unexpected answer: {e}"),
        })
    }

    fn start(&self, force: bool) -> Result<ReindexReport, ClientError> {
        let body = if force { r#"{"force": true}"# } else { "" };
        self.call(self.client.post(&self.endpoint).body(body))
    }

    fn report(&self) -> Result<ReindexReport, ClientError> {
        self.call(self.client.get(&self.endpoint))
    }

    /// Polls the rebuild with a progress bar until it ends.
    fn follow(&self) -> Result<ReindexReport, ClientError> {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {bar:40} {pos}/{len} events")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let report = self.report()?;
            let p = &report.progress;
            bar.set_length((p.events_replayed + p.remaining_events.max(0) as u64).max(1));
            bar.set_position(p.events_replayed);
            bar.set_message(format!(
                "{} {:.0} events/s",
                report.state.as_str(),
                p.events_per_second
            ));
            match report.state {
                ReindexState::Done => {
                    bar.finish_and_clear();
                    eprintln!(
                        "reindex done: {} events replayed into {}",
                        p.events_replayed,
                        report.generation.clone().unwrap_or_default()
                    );
                    return Ok(report);
                }
                ReindexState::Failed | ReindexState::Idle => {
                    bar.finish_and_clear();
                    return Err(ClientError::Failed(
                        report
                            .error
                            .clone()
                            .unwrap_or_else(|| "unknown error".to_owned()),
                    ));
                }
                _ => {}
            }
        }
    }
}

/// Runs `indexer reindex`.
pub fn run(args: &ReindexArgs) -> Result<ReindexReport, ClientError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| ClientError::Http {
            url: args.url.clone(),
            source,
        })?;
    let admin = AdminClient {
        client,
        endpoint: format!("{}/admin/reindex", args.url.trim_end_matches('/')),
        token: args.token.expose(),
    };
    let report = admin.start(args.force)?;
    eprintln!(
        "reindex started: building {}",
        report.generation.clone().unwrap_or_default()
    );
    if !args.wait {
        return Ok(report);
    }
    admin.follow()
}
