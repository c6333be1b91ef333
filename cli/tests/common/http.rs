//! One HTTP/1.1 request on a connection of its own, as the binary's tests send them
//! (raw bytes, so a test sees exactly what `vtid serve` answers).

#![allow(dead_code)] // each test binary uses its own part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// The request's text: `Connection: close`, its `Content-Length`, then `headers`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    req
}

/// Sends one request to `port` and reads the answer to its end, waiting at most
/// `read_timeout` for each read: the status, the head in lower case, and the body as
/// JSON (`Null` when it is not).
pub fn call(
    port: u16,
    read_timeout: Duration,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(read_timeout))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    s.write_all(request(method, path, headers, &body).as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (status, head, body) = split_answer(&raw);
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, head, json))
}

/// An answer's text as its status (0 when there is none), its head in lower case, and
/// its body as sent.
pub fn split_answer(text: &str) -> (u16, String, &str) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body)
}
