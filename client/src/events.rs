//! `GET /vtid/events` from the client's side: Server-Sent Events parsed as the HTML
//! standard says (fields `id`, `event`, `data`, `retry`; comments; a blank line ends an
//! event), and the stream that yields them.

use std::collections::VecDeque;
use std::time::Duration;

use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::answer::{Reply, read};
use crate::{Client, Error};

/// The server sends at least a comment every 15 s; this much silence means the
/// connection is gone even if no one said so.
const SILENCE: Duration = Duration::from_secs(45);
/// The longest line, and the most `data` one event may gather over its lines: a ledger
/// event is a few hundred bytes, and a stream that sends more is not the ledger's.
const MAX_LINE: usize = 1 << 20;

/// One event of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The `id` in force when the event arrived: what `Last-Event-ID` resumes from.
    pub id: Option<String>,
    /// The `event` field (`message` when the server sent none).
    pub event: String,
    pub data: String,
}

/// The SSE line protocol: bytes in, whole events out.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    /// The reconnection delay the server asked for, in ms.
    pub retry_ms: Option<u64>,
}

impl Parser {
    pub fn new(last_id: Option<&str>) -> Self {
        Self {
            last_id: last_id.map(str::to_owned),
            ..Self::default()
        }
    }

    /// Feeds bytes as they arrive (a chunk may end anywhere, mid-character included).
    pub fn push(&mut self, chunk: &[u8], out: &mut VecDeque<Event>) -> Result<(), Error> {
        for &b in chunk {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_done(&String::from_utf8_lossy(&line), out)?;
            } else {
                if self.line.len() >= MAX_LINE {
                    return Err(Error::Invalid(format!(
                        "an event stream line is longer than {MAX_LINE} bytes"
                    )));
                }
                self.line.push(b);
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &str, out: &mut VecDeque<Event>) -> Result<(), Error> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if std::mem::take(&mut self.has_data) {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the last line break
                out.push_back(Event {
                    id: self.last_id.clone(),
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                });
            }
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(()); // a comment: the heartbeat
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.data.len() + value.len() >= MAX_LINE {
                    return Err(Error::Invalid(format!(
                        "an event stream event holds more than {MAX_LINE} bytes of data"
                    )));
                }
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        Ok(())
    }

    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }
}

/// An open event stream. `next` yields events until the server ends the stream (`None`);
/// reconnect with [`EventStream::last_event_id`] to continue with nothing lost.
pub struct EventStream {
    target: String,
    body: Incoming,
    parser: Parser,
    ready: VecDeque<Event>,
    last_delivered: Option<String>,
}

impl EventStream {
    fn new(target: String, body: Incoming, last_event_id: Option<&str>) -> Self {
        Self {
            target,
            body,
            parser: Parser::new(last_event_id),
            ready: VecDeque::new(),
            last_delivered: last_event_id.map(str::to_owned),
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.last_delivered.clone_from(&e.id);
                return Ok(Some(e));
            }
            let frame = tokio::time::timeout(SILENCE, self.body.frame())
                .await
                .map_err(|_| Error::Timeout {
                    target: self.target.clone(),
                    after: SILENCE,
                })?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(Error::Unreachable {
                        target: self.target.clone(),
                        cause: e.to_string(),
                    });
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.parser.push(data, &mut self.ready)?;
                    }
                }
            }
        }
    }

    /// Where to resume: the id of the last event `next` returned (or the one the stream
    /// was opened with).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_delivered.as_deref()
    }

    /// The reconnection delay the server asked for.
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry_ms.map(Duration::from_millis)
    }
}

impl Client {
    /// `GET /vtid/events` of `vtid serve` with the list's filters `query`: the ledger's
    /// changes as they happen. With `last_event_id` it continues right after that event;
    /// `Some("0")` starts at the first event ever recorded. HTTP transports only: on AWS
    /// the same events go to EventBridge.
    pub async fn events(
        &self,
        query: &[(&str, String)],
        last_event_id: Option<&str>,
    ) -> Result<EventStream, Error> {
        let Some((base, bearer)) = self.http_endpoint() else {
            return Err(Error::Invalid(
                "the event stream is served over HTTP by vtid serve".into(),
            ));
        };
        let mut url = format!("{base}/vtid/events");
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    let v = percent_encoding::utf8_percent_encode(
                        v,
                        percent_encoding::NON_ALPHANUMERIC,
                    );
                    format!("{k}={v}")
                })
                .collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header(http::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            let id = HeaderValue::from_str(id)
                .map_err(|_| Error::Invalid("Last-Event-ID must be printable ASCII".into()))?;
            req = req.header("Last-Event-ID", id);
        }
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| Error::Invalid("the token must be printable ASCII".into()))?;
            req = req.header(http::header::AUTHORIZATION, value);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| {
            Error::Invalid(format!("cannot build {}: {e}", crate::redact_url(&url)))
        })?;
        let http: HyperClient<_, Empty<Bytes>> =
            HyperClient::builder(TokioExecutor::new()).build_http();
        let res = http.request(req).await.map_err(|e| Error::Unreachable {
            target: url.clone(),
            cause: e.to_string(),
        })?;
        if res.status().is_success() {
            return Ok(EventStream::new(url, res.into_body(), last_event_id));
        }
        let (parts, body) = res.into_parts();
        let body = Limited::new(body, 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        let reply = Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        };
        match read(&url, reply) {
            Err(e) => Err(e),
            Ok(_) => Err(Error::NotALedger {
                target: url,
                status: Some(parts.status.as_u16()),
                why: "the event stream was not opened".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> (Vec<Event>, Parser) {
        let mut p = Parser::new(None);
        let mut out = VecDeque::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        (out.into_iter().collect(), p)
    }

    #[test]
    fn events_comments_and_ids_as_the_standard_says() {
        let (events, p) = parse(&[
            b"retry: 2000\n\n: keep-alive\n\nid: 7\nevent: vtid-created\ndata: {\"a\":",
            b"1}\n\nid: 8\r\ndata: x\r\ndata: y\r\n\r\nid: 9\n\n",
        ]);
        assert_eq!(
            events,
            vec![
                Event {
                    id: Some("7".into()),
                    event: "vtid-created".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    id: Some("8".into()),
                    event: "message".into(),
                    data: "x\ny".into()
                },
            ]
        );
        assert_eq!(p.retry_ms, Some(2000));
        // An id alone moves the resume point without an event.
        assert_eq!(p.last_event_id(), Some("9"));
    }

    #[test]
    fn a_character_split_across_chunks_survives() {
        let text = "data: é\n\n".as_bytes();
        let (events, _) = parse(&[&text[..7], &text[7..]]);
        assert_eq!(events[0].data, "é");
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut p = Parser::new(None);
        let mut out = VecDeque::new();
        let big = vec![b'x'; MAX_LINE + 1];
        assert!(p.push(&big, &mut out).is_err());
    }

    #[test]
    fn an_endless_event_is_refused_however_its_lines_are_cut() {
        let mut p = Parser::new(None);
        let mut out = VecDeque::new();
        let line = format!("data: {}\n", "x".repeat(512 * 1024));
        assert!(p.push(line.as_bytes(), &mut out).is_ok());
        let second = p.push(line.as_bytes(), &mut out);
        assert!(second.is_err(), "two half-MiB lines of one event");
        assert!(out.is_empty());
        // Events under the cap, each ended by a blank line, are fine however many.
        let mut p = Parser::new(None);
        for _ in 0..4 {
            let event = format!("data: {}\n\n", "x".repeat(512 * 1024));
            assert!(p.push(event.as_bytes(), &mut out).is_ok());
        }
        assert_eq!(out.len(), 4);
    }
}
