//! An OASIS sink on loopback whose answers a test scripts, for the event tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

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
