//! One HTTP/1.1 request on a connection of its own, as the binary's tests send them
//! (raw bytes, so a test sees exactly what `vtid serve` answers).

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

/// The documented largest error body.
pub const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;

/// One answer read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The head, in lower case.
    pub head: String,
    /// The body as sent.
    pub raw: String,
    /// The body as JSON (`Null` when it is not).
    pub body: Value,
}

impl Answer {
    pub fn parse(bytes: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(bytes);
        let (status, head, raw) = split_answer(&text);
        Answer {
            status,
            head,
            raw: raw.to_owned(),
            body: serde_json::from_str(raw).unwrap_or(Value::Null),
        }
    }

    /// An error of `status` and `code` with the API's JSON error body, small.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["ok"], false, "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert!(self.body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(self.body["details"].is_array(), "{self:?}");
        assert!(
            self.head.contains("content-type: application/json"),
            "{self:?}"
        );
        assert!(
            self.raw.len() <= MAX_ERROR_BODY_BYTES,
            "{} bytes",
            self.raw.len()
        );
    }
}
