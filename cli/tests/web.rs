//! The page at `/` in a real headless browser: Debian's Chromium driven by Playwright
//! (`tests/browser/page.py`, from the `.venv` that `scripts/test` prepares) against
//! `vtid serve`, with and without token checking. Screenshots of each view go to
//! `bench-results/screenshots/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, hs256, in_an_hour, tokens};
use serde_json::json;

#[test]
fn the_page_lists_filters_opens_a_vtid_and_updates_live_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    let chromium = std::env::var("VTID_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let what = format!("{} (with playwright) and {chromium}", python.display());
    let here = python.exists() && Path::new(&chromium).exists();
    if !common::skip::runs_with("the page test", &what, here) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(dir.path(), &[]);
    // A second server that checks tokens: the page must ask for one.
    let secured_dir = tempfile::tempdir().unwrap();
    let secret = tokens::secret_file();
    let secured = Server::on(secured_dir.path(), &["--jwt-hs256-secret-file", &secret]);
    let token = hs256(json!({"sub": "browser", "role": "admin", "exp": in_an_hour()}));
    let shots = root.join("bench-results/screenshots");
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page.py"))
        .arg("--url")
        .arg(server.url())
        .arg("--token-url")
        .arg(secured.url())
        .arg("--token")
        .arg(&token)
        .arg("--shots")
        .arg(&shots)
        .env("VTID_CHROMIUM", &chromium)
        .output()
        .expect("run the browser test");
    assert!(
        out.status.success(),
        "the page failed its checks:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for view in [
        "ledger",
        "ledger-blocked",
        "record",
        "audit",
        "live",
        "ledger-dark",
    ] {
        assert!(
            shots.join(format!("{view}.png")).exists(),
            "no screenshot of {view}"
        );
    }
}
