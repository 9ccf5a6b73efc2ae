//! `indexer demo`: one command shows the whole system.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::wait_for;

/// Kills the demo when the test fails before stopping it (a failed run once left it running
/// on a core for the rest of the CI run).
struct KillOnPanic(u32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
}

#[test]
fn the_demo_loads_a_catalog_streams_changes_and_stops_cleanly() {
    let mut child = Command::new(crate::common::indexer_binary())
        .args([
            "demo",
            "--products",
            "300",
            "--rate",
            "200",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = KillOnPanic(child.id());
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut url = None;
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        lines.push(line.clone());
        if let Some(u) = line.trim().strip_prefix("Search the catalog:") {
            url = Some(u.trim().trim_end_matches('/').to_owned());
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("no URLs printed: {lines:?}"));
    // The rest of the banner, down to its last line.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let last = line.contains("Reindex:");
        lines.push(line);
        if last {
            break;
        }
    }
    let text: String = lines.join("\n");
    assert!(text.contains("kafka embedded broker"), "{text}");
    assert!(text.contains("Your own price event"), "{text}");
    // The example events carry a real time, not `ts` 0 (counted as clock skew).
    assert!(!text.contains("\"ts\":0,"), "{text}");
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Value {
        client
            .get(format!("{url}{path}"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    };
    let body = get("/search?q=&per_page=1");
    assert!(
        body["total"].as_u64().unwrap() >= 280,
        "the catalog is searchable: {body}"
    );
    // Changes keep flowing.
    let before = get("/status")["events"]["applied"].as_u64().unwrap();
    let moved = wait_for(Duration::from_secs(30), || {
        (get("/status")["events"]["applied"].as_u64().unwrap() > before + 50).then_some(())
    });
    assert!(moved.is_some(), "the demo streams changes");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let dir = std::env::temp_dir().join(format!("catalog-demo-{pid}"));
    assert!(
        !dir.exists(),
        "the demo's temporary data directory is removed"
    );
}
