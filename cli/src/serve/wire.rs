//! JSON bodies for the answers hyper writes by itself. hyper answers a request it cannot
//! parse (a malformed request line, header or `Content-Length`: 400; a request target past
//! 64 KiB: 414; headers past its buffer: 431) with an empty body, and offers no hook to
//! change that. every response of the API is JSON with `ok` (docs/api.md, "Errors"), so this wrapper sits under
//! hyper on the connection and swaps each such answer for the API's error body.
//!
//! How it tells hyper's answers from the handlers':
//! 1. The service notes each response it returns, with the body length hyper will write
//!    ([`Answers::note`]); responses on one HTTP/1 connection are written in order.
//! 2. Here each response head is held until it is complete (`\r\n\r\n`). An informational
//!    head (1xx, e.g. `100 Continue`) passes as it is.
//! 3. A final head takes the oldest note: it passes, followed by that many body bytes.
//!    With no note left, the head is hyper's own: it is replaced by the JSON error for
//!    its status, with `Connection: close`, and anything hyper writes after it is dropped
//!    (hyper closes such a connection anyway).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBufCursor, Write};
use shared::error::ApiError;

/// Longest response head held back; a longer one (never written by this server) passes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The responses the service returned and hyper has not begun to write: their body lengths.
#[derive(Clone, Default)]
pub struct Answers(Arc<Mutex<VecDeque<u64>>>);

impl Answers {
    /// Notes a response whose body hyper will write as `body_len` bytes.
    pub fn note(&self, body_len: u64) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(body_len);
        }
    }

    fn take(&self) -> Option<u64> {
        self.0.lock().ok().and_then(|mut q| q.pop_front())
    }
}

enum Out {
    /// Collecting a response head.
    Head(Vec<u8>),
    /// Passing this many more body bytes.
    Body(u64),
    /// After a replaced answer: hyper's bytes are dropped.
    Discard,
    /// A head too long to hold: everything passes from here on.
    Pass,
}

/// A connection whose hyper-made error answers are rewritten as JSON errors.
pub struct JsonErrors<IO> {
    io: IO,
    answers: Answers,
    out: Out,
    /// Bytes decided on and not yet written to `io`.
    pending: Vec<u8>,
    written: usize,
}

impl<IO> JsonErrors<IO> {
    pub fn new(io: IO, answers: Answers) -> Self {
        Self {
            io,
            answers,
            out: Out::Head(Vec::new()),
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Decides what a complete head becomes, and what follows it.
    fn settle(&mut self, head: Vec<u8>) {
        let status = head
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(100..=199) => {
                self.pending.extend_from_slice(&head);
                self.out = Out::Head(Vec::new());
            }
            _ => match self.answers.take() {
                Some(0) => {
                    self.pending.extend_from_slice(&head);
                    self.out = Out::Head(Vec::new());
                }
                Some(len) => {
                    self.pending.extend_from_slice(&head);
                    self.out = Out::Body(len);
                }
                None => {
                    self.pending
                        .extend_from_slice(&replacement(status.unwrap_or(400)));
                    self.out = Out::Discard;
                }
            },
        }
    }
}

/// The API's JSON error for a status hyper chose.
fn replacement(status: u16) -> Vec<u8> {
    let err = match status {
        414 => ApiError::UriTooLong(super::MAX_URI_BYTES),
        431 => ApiError::HeadersTooLarge {
            bytes: super::MAX_HEADER_BYTES,
            count: super::MAX_HEADERS,
        },
        _ => ApiError::InvalidRequest(
            "the HTTP request is malformed: check the request line, the header names and values \
             (no control characters or bytes outside ASCII) and Content-Length"
                .into(),
        ),
    };
    let body = err.body().to_string();
    let status = err.status();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

impl<IO: Write + Unpin> JsonErrors<IO> {
    /// Writes what was decided on.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: Write + Unpin> Write for JsonErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        match &mut this.out {
            Out::Pass => Pin::new(&mut this.io).poll_write(cx, buf),
            Out::Discard => Poll::Ready(Ok(buf.len())),
            Out::Body(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                let n = ready!(Pin::new(&mut this.io).poll_write(cx, &buf[..n]))?;
                *left -= n as u64;
                if *left == 0 {
                    this.out = Out::Head(Vec::new());
                }
                Poll::Ready(Ok(n))
            }
            Out::Head(head) => {
                let before = head.len();
                let from = before.saturating_sub(3);
                head.extend_from_slice(buf);
                match find_end(&head[from..]) {
                    Some(at) => {
                        let end = from + at;
                        head.truncate(end);
                        let head = std::mem::take(head);
                        this.settle(head);
                        Poll::Ready(Ok(end - before))
                    }
                    None if head.len() > MAX_HEAD_BYTES => {
                        this.pending = std::mem::take(head);
                        this.out = Out::Pass;
                        Poll::Ready(Ok(buf.len()))
                    }
                    None => Poll::Ready(Ok(buf.len())),
                }
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The index just past the first `\r\n\r\n`.
fn find_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

impl<IO: Read + Unpin> Read for JsonErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What `writes` become on the wire, with `answers` noted by the service.
    async fn rewrite(writes: &[&[u8]], answers: &[u64]) -> String {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let noted = Answers::default();
        for len in answers {
            noted.note(*len);
        }
        let mut io = TokioIo::new(JsonErrors::new(TokioIo::new(a), noted));
        for w in writes {
            io.write_all(w).await.unwrap();
        }
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = String::new();
        b.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_services_answers_pass_and_hypers_own_become_json() {
        let ours = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = rewrite(&[ours, b"HTTP/1.1 100 Continue\r\n\r\n", hyper_400], &[2]).await;
        let (first, rest) = out.split_at(ours.len());
        assert_eq!(first.as_bytes(), ours);
        assert!(rest.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\n"));
        assert!(rest.contains("connection: close"));
        let body: serde_json::Value =
            serde_json::from_str(rest.split("\r\n\r\n").nth(2).unwrap()).unwrap();
        assert_eq!(
            (body["ok"].clone(), body["code"].clone()),
            (false.into(), "invalid_request".into())
        );
        for (status, code) in [
            ("414 URI Too Long", "uri_too_long"),
            ("431 Request Header Fields Too Large", "headers_too_large"),
        ] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let out = rewrite(&[head.as_bytes()], &[]).await;
            assert!(out.contains(code) && out.contains("\"ok\":false"), "{out}");
        }
    }

    #[tokio::test]
    async fn heads_split_across_writes_and_bodies_that_look_like_heads_pass() {
        let body = "HTTP/1.1 400 Bad Request\r\n\r\n";
        let whole = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let pieces: Vec<&[u8]> = whole.as_bytes().chunks(1).collect();
        assert_eq!(rewrite(&pieces, &[body.len() as u64]).await, whole);
    }
}
