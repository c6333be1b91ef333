//! What the `vtid` binary's tests share: `vtid serve` started on a free loopback port
//! and called over raw HTTP, the binary run as a user runs it, test tokens, a minimal
//! record, and a scripted OASIS sink.
#![allow(dead_code, unused_imports)] // each test binary uses its own part

pub mod fakes;
pub mod http;
pub mod server;
pub mod sink;
pub mod skip;
pub mod spawn;
pub mod tokens;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use server::Server;
pub use tokens::{bearer, hs256, in_an_hour};

pub const BIN: &str = env!("CARGO_BIN_EXE_vtid");

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it holds or `within` passes (then panics with `what`).
pub fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

/// The smallest body a create accepts, for `tenant`.
pub fn rec(tenant: &str) -> Value {
    json!({"taskFamily": "deploy", "taskType": "release", "description": "ship it", "tenant": tenant})
}

pub fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

pub fn moto() -> String {
    std::env::var("VTID_TEST_DYNAMODB_ENDPOINT")
        .expect("VTID_TEST_DYNAMODB_ENDPOINT is not set: run the tests with ./scripts/test, which starts moto's server")
}

/// `vtid <args>` against the ledger at `url`: the exit code, stdout trimmed, stderr.
pub fn vtid_cmd(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--url", url];
    all.extend_from_slice(args);
    vtid(&all)
}

/// `vtid <args>` as a user runs it: the exit code (-1 when killed), stdout trimmed,
/// stderr.
pub fn vtid(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run vtid");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The smallest `vtid create` a server accepts, for `tenant`, then `extra`.
pub fn create_args<'a>(tenant: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "create",
        "--family",
        "deploy",
        "--type",
        "release",
        "--description",
        "ship it",
        "--tenant",
        tenant,
    ];
    args.extend_from_slice(extra);
    args
}
