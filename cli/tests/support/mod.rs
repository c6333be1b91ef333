//! What the event and page tests share: `vtid serve` as a child process, plain HTTP
//! calls on their own connections, and an OASIS sink on loopback whose answers a test
//! scripts.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_vtid");

#[path = "../common/http.rs"]
mod http;
#[path = "../common/skip.rs"]
pub mod skip;
#[path = "../common/spawn.rs"]
mod spawn;

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

/// `vtid serve` on a data folder; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let data = data.to_str().expect("a UTF-8 data folder");
        let mut args = vec!["--data", data];
        args.extend_from_slice(extra);
        let (child, port) = spawn::spawn_serve(&args);
        let server = Server { child, port };
        wait_for("vtid serve to answer", Duration::from_secs(20), || {
            matches!(call(port, "GET", "/vtid/health", None, &[]), Ok((200, _)))
        });
        server
    }

    pub fn start_on(data: &Path, port: u16, extra: &[&str]) -> Server {
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vtid serve");
        let server = Server { child, port };
        wait_for("vtid serve to answer", Duration::from_secs(20), || {
            matches!(call(port, "GET", "/vtid/health", None, &[]), Ok((200, _)))
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(self.port, method, path, body.as_ref(), &[]).expect("HTTP call")
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on its own connection: the status and the JSON body.
pub fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Value)> {
    let (status, _, json) = http::call(port, Duration::from_secs(20), method, path, body, headers)?;
    Ok((status, json))
}

/// One POST the sink received, in arrival order.
#[derive(Clone, Debug)]
pub struct Post {
    pub key: String,
    pub body: Value,
    /// What the sink answered (after its delay).
    pub status: u16,
}

/// How the sink answers the `n`-th POST (from 0) with `body`: a status and a delay.
pub type Script = dyn Fn(usize, &Value) -> (u16, Duration) + Send + Sync;

/// An OASIS ingest endpoint on loopback: HTTP/1.1 with keep-alive, one thread per
/// connection, every POST recorded.
pub struct Sink {
    pub port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Sink {
    pub fn start(
        script: impl Fn(usize, &Value) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let shared = posts.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (posts, script) = (shared.clone(), script.clone());
                std::thread::spawn(move || serve_connection(conn, &posts, &*script));
            }
        });
        Sink { port, posts }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ingest", self.port)
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

fn serve_connection(conn: TcpStream, posts: &Mutex<Vec<Post>>, script: &Script) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut length = 0usize;
        let mut key = String::new();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "idempotency-key" => key = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let n = {
            let mut p = posts.lock().unwrap();
            p.push(Post {
                key,
                body: body.clone(),
                status: 0,
            });
            p.len() - 1
        };
        let (status, delay) = script(n, &body);
        std::thread::sleep(delay);
        posts.lock().unwrap()[n].status = status;
        let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
