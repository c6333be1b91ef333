//! Loopback servers that are not a ledger, for the routing cases: one that answers every
//! request the same way, and a proxy that loses the answer of the first create.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A loopback server that is not a ledger, answering every request the same way.
pub fn not_a_ledger(status: &str, content_type: &str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let status = status.to_owned();
    let content_type = content_type.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            if read_request(&mut s).is_some() {
                respond(&mut s, &status, &content_type, &[], body.as_bytes());
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// The head and body of one request.
pub fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(s.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

pub fn respond(s: &mut TcpStream, status: &str, content_type: &str, extra: &[&str], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// A proxy to the ledger that lets the first create through, drops its answer and says
/// 503 instead (the ledger did the work; the caller never heard), then passes the rest.
pub fn losing_proxy(upstream: u16, creates: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let Some((head, body)) = read_request(&mut s) else {
                continue;
            };
            let is_create = head.starts_with("POST /vtid/create ");
            let answer = forward(upstream, &head, &body);
            if is_create && creates.fetch_add(1, Ordering::SeqCst) == 0 {
                respond(
                    &mut s,
                    "503 Service Unavailable",
                    "application/json",
                    &["Retry-After: 1"],
                    br#"{"message":"Service Unavailable"}"#,
                );
            } else {
                let _ = s.write_all(&answer);
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

pub fn forward(upstream: u16, head: &str, body: &[u8]) -> Vec<u8> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    up.write_all(body).unwrap();
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).unwrap();
    answer
}
