//! The shopper search page end to end in headless Chromium: runs the Node test suite of
//! `scripts/browser/` (playwright-core driving `/usr/bin/chromium`) against this build's
//! `indexer` binary.
//!
//! Needs `node`, `/usr/bin/chromium`, `kcat` and `scripts/browser/node_modules` (`npm ci` in
//! `scripts/browser`). Without them the test prints `skipped: ...` and passes, unless
//! `REQUIRE_BROWSER_TESTS=1`, when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite (start, catalog, every page check) must finish within this.
const SUITE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the indexer crate is in the workspace root")
        .to_path_buf()
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What is missing to run the browser tests, with how to install it.
fn missing_prerequisites(root: &Path) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !runs("node", "--version") {
        missing.push("node (apt-get install -y nodejs npm)");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (apt-get install -y chromium)");
    }
    if !runs("kcat", "-V") {
        missing.push("kcat (apt-get install -y kcat)");
    }
    if !root
        .join("scripts/browser/node_modules/playwright-core")
        .is_dir()
    {
        missing.push("scripts/browser/node_modules (cd scripts/browser && npm ci)");
    }
    missing
}

#[test]
fn shop_page_end_to_end_in_chromium() {
    let root = repo_root();
    let missing = missing_prerequisites(&root);
    if !missing.is_empty() {
        let message = format!("browser tests need {}", missing.join(", "));
        if std::env::var("REQUIRE_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!("{message}; REQUIRE_BROWSER_TESTS=1 makes them required");
        }
        println!("skipped: {message}");
        return;
    }

    // Output goes to files, read at the end: no pipe to drain while waiting.
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let err = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new("node")
        .args(["--test", "--test-reporter=tap", "scripts/browser/"])
        .current_dir(&root)
        .env("INDEXER_BIN", env!("CARGO_BIN_EXE_indexer"))
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("reopen"))
        .stderr(err.reopen().expect("reopen"))
        .spawn()
        .expect("start node --test scripts/browser/");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > SUITE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(out.path()).unwrap_or_default();
    let stderr = std::fs::read_to_string(err.path()).unwrap_or_default();
    println!("{stdout}");
    eprintln!("{stderr}");

    let status = status.unwrap_or_else(|| {
        panic!("node --test scripts/browser/ did not finish within {SUITE_TIMEOUT:?}; output above")
    });
    assert!(
        status.success(),
        "node --test scripts/browser/ failed ({status}); output above"
    );
    let count = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {name} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert!(
        count("tests").is_some_and(|n| n > 0) && count("fail") == Some(0),
        "node --test scripts/browser/ ran no test or reported failures; output above"
    );
}
