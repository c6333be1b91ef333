//! A Runtime API stand-in on loopback: runs a function binary of the workspace as
//! Lambda starts it, hands it events and collects its answers and its stdout. Shared by
//! the tests that run the real binaries (`emf`, `pre_traffic`, `xray`), each of which uses
//! a part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A function binary of the workspace's debug build (`./scripts/test` builds them all).
fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join(name)
}

/// The Runtime API's side of one function run: events to hand out, answers received.
#[derive(Default)]
struct Invocations {
    events: VecDeque<Value>,
    /// The `Lambda-Runtime-Trace-Id` of every invocation.
    trace: String,
    answers: Vec<Value>,
    handed: usize,
}

/// Serves `/2018-06-01/runtime/...` as Lambda does, on its own thread.
fn runtime_api(state: Arc<Mutex<Invocations>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let state = state.clone();
            std::thread::spawn(move || serve(conn, &state));
        }
    });
    port
}

fn serve(conn: TcpStream, state: &Mutex<Invocations>) {
    let mut reader = BufReader::new(conn.try_clone().expect("a second handle"));
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = if target.ends_with("/invocation/next") {
            // Lambda holds `next` until there is an event; so does this, for a while.
            let started = Instant::now();
            let event = loop {
                let next = {
                    let mut s = state.lock().unwrap();
                    let e = s.events.pop_front();
                    if e.is_some() {
                        s.handed += 1;
                    }
                    e.map(|e| (e, s.handed))
                };
                match next {
                    Some(e) => break Some(e),
                    None if started.elapsed() > Duration::from_secs(60) => break None,
                    None => std::thread::sleep(Duration::from_millis(10)),
                }
            };
            let Some((event, n)) = event else { return };
            let text = event.to_string();
            let trace = state.lock().unwrap().trace.clone();
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: req-{n}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:emf-test\r\n\
                 Lambda-Runtime-Trace-Id: {trace}\r\n\
                 Content-Length: {}\r\n\r\n{text}",
                text.len()
            )
        } else {
            if target.ends_with("/response") {
                let answer = serde_json::from_slice(&body).unwrap_or(Value::Null);
                state.lock().unwrap().answers.push(answer);
            } else if target.contains("error") {
                let why = String::from_utf8_lossy(&body).into_owned();
                state.lock().unwrap().answers.push(json!({"error": why}));
            }
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_owned()
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Runs `function` on `events` as Lambda would: its answers and its stdout's lines.
pub fn run(
    function: &str,
    table: &str,
    endpoint: &str,
    events: Vec<Value>,
) -> (Vec<Value>, Vec<String>) {
    run_with(function, table, endpoint, &[], events)
}

/// The trace header Lambda hands each invocation: a sampled trace.
pub const SAMPLED: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// [`run`] with more environment variables (endpoints of other stand-ins, settings).
pub fn run_with(
    function: &str,
    table: &str,
    endpoint: &str,
    env: &[(&str, &str)],
    events: Vec<Value>,
) -> (Vec<Value>, Vec<String>) {
    run_traced(function, table, endpoint, env, SAMPLED, events)
}

/// [`run_with`], each invocation handed `trace` as its trace header.
pub fn run_traced(
    function: &str,
    table: &str,
    endpoint: &str,
    env: &[(&str, &str)],
    trace: &str,
    events: Vec<Value>,
) -> (Vec<Value>, Vec<String>) {
    let expected = events.len();
    let state = Arc::new(Mutex::new(Invocations {
        events: events.into(),
        trace: trace.to_owned(),
        ..Invocations::default()
    }));
    let port = runtime_api(state.clone());
    let bin = binary(function);
    let mut child = Command::new(&bin)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("{function}-emf"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env("VTID_TABLE", table)
        .env(
            "VTID_CURSOR_SECRET",
            "emf-test-cursor-secret-0123456789abcdef",
        )
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("its stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let started = Instant::now();
    while state.lock().unwrap().answers.len() < expected {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{function} answered {} of {expected} events",
            state.lock().unwrap().answers.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The metrics are flushed after each answer is sent; give the last its moment.
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let answers = state.lock().unwrap().answers.clone();
    let lines = lines.lock().unwrap().clone();
    (answers, lines)
}
