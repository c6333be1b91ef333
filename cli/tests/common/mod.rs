//! What the `vtid` binary's tests share: `vtid serve` started on a free loopback port
//! and called over raw HTTP, the binary run as a user runs it, and test tokens.
#![allow(dead_code)]

pub mod fakes;
pub mod http;
pub mod skip;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_vtid");

pub mod spawn;

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

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `vtid serve` and waits until `GET /vtid/health` answers 200.
    pub fn start(args: &[&str]) -> Server {
        let server = Server::start_unready(args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _, _)) = server.try_call("GET", "/vtid/health", None, &[]) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vtid serve did not answer GET /vtid/health");
    }

    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, String, Value)> {
        http::call(
            self.port,
            Duration::from_secs(30),
            method,
            path,
            body,
            headers,
        )
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let (status, _, json) = self
            .try_call(method, path, body.as_ref(), headers)
            .expect("HTTP call");
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rec(tenant: &str) -> Value {
    json!({"taskFamily": "deploy", "taskType": "release", "description": "ship it", "tenant": tenant})
}

pub fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

pub fn hs256(claims: Value) -> String {
    let secret = std::fs::read(fixture("hs256-test-secret")).unwrap();
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.trim_ascii()),
    )
    .unwrap()
}

pub fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

pub fn moto() -> String {
    std::env::var("VTID_TEST_DYNAMODB_ENDPOINT")
        .expect("VTID_TEST_DYNAMODB_ENDPOINT is not set: run the tests with ./scripts/test, which starts moto's server")
}

impl Server {
    /// Starts a server whose store may be down: waits for the port, not for health.
    pub fn start_unready(args: &[&str]) -> Server {
        let (child, port) = spawn::spawn_serve(args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "vtid serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }
}

pub fn vtid_cmd(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["--url", url])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
