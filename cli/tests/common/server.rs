//! `vtid serve` as a child process on a loopback port the system picks, killed when
//! dropped: the one server every test of the binary talks to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{self, Answer};
use super::spawn::{spawn_serve, spawn_serve_at};
use super::wait_for;

/// How long a server may take to come up.
const START: Duration = Duration::from_secs(20);

pub struct Server {
    child: Child,
    pub port: u16,
    /// The data folder the server owns, when a test asked for a fresh one.
    _data: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `vtid serve <args>` and waits until `GET /vtid/health` answers 200.
    pub fn start(args: &[&str]) -> Server {
        let (child, port) = spawn_serve(args);
        Server::ready(child, port, None)
    }

    /// Starts a server whose store may be down: waits for the port, not for health.
    pub fn start_unready(args: &[&str]) -> Server {
        let (child, port) = spawn_serve(args);
        let deadline = Instant::now() + START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "vtid serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            port,
            _data: None,
        }
    }

    /// A server on a data folder of its own, removed when the server is dropped.
    pub fn fresh(args: &[&str]) -> Server {
        let data = tempfile::tempdir().expect("a data folder");
        let (child, port) = spawn_serve(&with_data(data.path(), args));
        Server::ready(child, port, Some(data))
    }

    /// A server on the SQLite ledger in `data`.
    pub fn on(data: &Path, args: &[&str]) -> Server {
        let (child, port) = spawn_serve(&with_data(data, args));
        Server::ready(child, port, None)
    }

    /// The ledger in `data` served again on `port`, the address its clients know.
    pub fn restart_on(data: &Path, port: u16, args: &[&str]) -> Server {
        let (child, port) = spawn_serve_at(port, &with_data(data, args));
        Server::ready(child, port, None)
    }

    fn ready(child: Child, port: u16, data: Option<tempfile::TempDir>) -> Server {
        let server = Server {
            child,
            port,
            _data: data,
        };
        wait_for("vtid serve to answer GET /vtid/health", START, || {
            matches!(
                server.try_call("GET", "/vtid/health", None, &[]),
                Ok((200, _, _))
            )
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill vtid serve");
        self.child.wait().expect("reap vtid serve");
    }

    /// One JSON request on its own connection: the status, the head in lower case and
    /// the body as JSON.
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

    /// As [`Server::try_call`], for a server that must answer: the status and the body.
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

    /// A connection of its own, reads bounded by 30 s.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        s
    }

    /// Sends `bytes` (as far as the server takes them) and reads the answer to the end.
    pub fn raw(&self, bytes: &[u8]) -> Answer {
        let mut s = self.connect();
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        Answer::parse(&out)
    }

    /// One request with a body written as given, read off the wire whole.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        self.raw(http::request(method, path, headers, body).as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_data<'a>(data: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--data", data.to_str().expect("a UTF-8 data folder")];
    all.extend_from_slice(args);
    all
}
