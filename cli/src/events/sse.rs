//! `GET /vtid/events`: the outbox as Server-Sent Events. Each event is
//! `id: <outbox position>`, `event: <kind>`, `data: <the OASIS body>`. A client that
//! reconnects with `Last-Event-ID` continues right after that position: nothing skipped,
//! nothing repeated. Without it the stream starts at the newest event.
//!
//! A stream is not an API request: it runs outside the request deadline, and is bounded
//! otherwise, whatever its reader does: at most [`MAX_STREAMS`] at once and
//! [`MAX_STREAMS_PER_CALLER`] per caller other than an admin (503 saying which is full),
//! a comment every [`HEARTBEAT`] (so a vanished client is noticed), an end after
//! [`LIFETIME`] or when the caller's token expires, whichever comes first (the client
//! reconnects with `Last-Event-ID`, and its token is checked again), and an end when a
//! reader takes no frame for [`SEND_TIMEOUT`] (a reader that never reads holds nothing
//! for long). Filters are the list's, parsed by the same code, and match the record as
//! each change left it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Frame};
use lambda_http::{Request, RequestExt};
use shared::App;
use shared::api::{self, error_response};
use shared::error::ApiError;
use shared::events::event_matches;
use shared::identity::Role;
use shared::store::ListQuery;
use shared::store::sqlite::outbox::StoredEvent;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::Feed;

pub const PATH: &str = "/vtid/events";
/// Streams served at once; one more is 503 with `Retry-After`.
pub const MAX_STREAMS: usize = 32;
/// Streams one caller (`sub`) may hold at once: a page and a few `vtid watch`es.
pub const MAX_STREAMS_PER_CALLER: usize = 4;
/// The longest a stream waits for its reader to take a frame before it ends.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// A comment line this often keeps proxies from closing an idle stream and tells the
/// server when the client has gone.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A stream ends after this long; the client reconnects where it stopped.
pub const LIFETIME: Duration = Duration::from_secs(10 * 60);
/// What the stream asks a client to wait before reconnecting, in ms.
const RETRY_MS: u64 = 2_000;
/// Outbox rows read at a time.
const BATCH: usize = 100;
/// Frames buffered for a slow client before the stream waits for it.
const BUFFER: usize = 16;
/// The longest `Last-Event-ID` accepted: a position is a u64.
const MAX_POSITION_DIGITS: usize = 20;

/// What `vtid serve` answers: a body it streams, or a whole one.
pub type Body = BoxBody<Bytes, Infallible>;

/// The stream, or the API's error response (which the caller turns into a whole body).
pub async fn serve(
    app: &App,
    feed: Option<&Feed>,
    req: Request,
) -> Result<hyper::Response<Body>, lambda_http::Response<lambda_http::Body>> {
    if req.method() != Method::GET {
        let why = format!("{} is not allowed on this path", req.method());
        return Err(shared::api::routes::not_allowed(PATH, why));
    }
    let call = api::Call::new(app, &req);
    let opened = call.outcome(open(app, feed, &req)).await;
    let opened = opened.map_err(|e| error_response(&e))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(pump(opened, tx));
    let mut res = hyper::Response::new(Receiver(rx).boxed());
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    // Tells a reverse proxy (nginx) not to buffer the stream.
    headers.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

/// Everything a stream needs before its first byte: the caller's filters, where to
/// start, when to end, and its places among the streams.
struct Opened {
    feed: Feed,
    query: ListQuery,
    from: u64,
    end: tokio::time::Instant,
    _place: OwnedSemaphorePermit,
    _caller_place: Option<CallerPlace>,
}

async fn open(app: &App, feed: Option<&Feed>, req: &Request) -> Result<Opened, ApiError> {
    let caller = app.identity.caller(req)?;
    let query = api::filters_only(app, &caller, req)?;
    let Some(feed) = feed else {
        return Err(ApiError::NotFound(
            "the event stream is served on the embedded store only; on DynamoDB, events \
             leave through the table's stream (EventBridge and the OASIS URL)"
                .into(),
        ));
    };
    let newest = feed.store().last_event().await?;
    let from = match last_event_id(req)? {
        Some(p) if p > newest => {
            return Err(ApiError::invalid_header(
                "Last-Event-ID",
                format!("is past the newest event ({newest}): is this the same ledger?"),
            ));
        }
        Some(p) => p,
        None => newest,
    };
    // The admin (also `vtid serve`'s fixed local identity, every tab and `vtid watch`
    // of one person) is held only to the total.
    let caller_place = match caller.role {
        Role::Admin => None,
        Role::Service | Role::User => Some(feed.by_caller.take(&caller.name)?),
    };
    let place = feed.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::Full(format!(
            "{MAX_STREAMS} event streams are open already, the most this server serves; retry shortly"
        ))
    })?;
    let lasts = token_lifetime(req).unwrap_or(LIFETIME);
    Ok(Opened {
        feed: feed.clone(),
        query,
        from,
        end: tokio::time::Instant::now() + lasts,
        _place: place,
        _caller_place: caller_place,
    })
}

/// Streams open per caller.
#[derive(Clone, Default)]
pub struct PerCaller(Arc<Mutex<HashMap<String, usize>>>);

/// One caller's place among the streams, given back when the stream ends.
struct CallerPlace {
    open: PerCaller,
    caller: String,
}

impl PerCaller {
    fn take(&self, caller: &str) -> Result<CallerPlace, ApiError> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(caller.to_owned()).or_default();
        if *n >= MAX_STREAMS_PER_CALLER {
            return Err(ApiError::Full(format!(
                "this caller has {MAX_STREAMS_PER_CALLER} event streams open already, the most \
                 one caller may hold; close one, or retry once one has ended"
            )));
        }
        *n += 1;
        Ok(CallerPlace {
            open: self.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for CallerPlace {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

/// How long the caller's token still holds (`exp`), when it says, at most [`LIFETIME`]:
/// a stream ends then, as a request sent then would be refused.
fn token_lifetime(req: &Request) -> Option<Duration> {
    let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
    else {
        return None;
    };
    let exp = ctx.authorizer.as_ref()?.fields.get("exp")?.as_f64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(Duration::from_secs_f64(
        (exp - now).clamp(0.0, LIFETIME.as_secs_f64()),
    ))
}

/// `Last-Event-ID`: an outbox position, sent once; 0 means from the first event.
fn last_event_id(req: &Request) -> Result<Option<u64>, ApiError> {
    let mut values = req.headers().get_all("Last-Event-ID").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // A header, so the message names the header, not the body (the code is the same).
    let bad = |why: &str| ApiError::invalid_header("Last-Event-ID", why.to_owned());
    if values.next().is_some() {
        return Err(bad("must be sent once"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad("must be printable ASCII"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_POSITION_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "must be the id of an event this stream sent (a whole number), or 0 for the first",
        ));
    }
    text.parse()
        .map(Some)
        .map_err(|_| bad("is larger than any event position"))
}

/// One event as SSE: its position as `id`, its kind as `event`, the body as `data`.
fn frame(e: &StoredEvent) -> Bytes {
    // The body is one line of JSON: serde_json escapes line breaks inside strings.
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.position, e.kind, e.body
    ))
}

/// Sends every matching event after `position`, then waits for newer ones, until the
/// client goes, stops reading for [`SEND_TIMEOUT`], or the stream's end comes.
async fn pump(opened: Opened, tx: mpsc::Sender<Bytes>) {
    // The places are held until the pump ends, whatever the connection does then.
    let Opened {
        feed,
        query,
        from: mut position,
        end,
        _place,
        _caller_place,
    } = opened;
    let mut newest = feed.newest();
    if !send(&tx, Bytes::from(format!("retry: {RETRY_MS}\n\n")), end).await {
        return;
    }
    loop {
        if tokio::time::Instant::now() >= end {
            return;
        }
        newest.borrow_and_update();
        let events = match feed.store().events_after(position, BATCH).await {
            Ok(events) => events,
            Err(e) => {
                // The client reconnects with Last-Event-ID and loses nothing.
                tracing::warn!(error = %e, position, "event stream: outbox unreadable; closing");
                return;
            }
        };
        if !events.is_empty() {
            for e in &events {
                if event_matches(&query, &e.body) && !send(&tx, frame(e), end).await {
                    return;
                }
                position = e.position;
            }
            continue;
        }
        tokio::select! {
            changed = newest.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(HEARTBEAT) => {
                if !send(&tx, Bytes::from_static(b": keep-alive\n\n"), end).await {
                    return;
                }
            }
            _ = tx.closed() => return,
            _ = tokio::time::sleep_until(end) => return,
        }
    }
}

/// Hands `frame` to the reader: false when the reader is gone, takes nothing for
/// [`SEND_TIMEOUT`], or the stream's end comes first.
async fn send(tx: &mpsc::Sender<Bytes>, frame: Bytes, end: tokio::time::Instant) -> bool {
    let by = end.min(tokio::time::Instant::now() + SEND_TIMEOUT);
    matches!(
        tokio::time::timeout_at(by, tx.send(frame)).await,
        Ok(Ok(()))
    )
}

/// The response body: frames as the pump sends them; it ends when the pump does.
struct Receiver(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Receiver {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(values: &[&str]) -> Request {
        let mut b = http::Request::builder().uri(PATH);
        for v in values {
            b = b.header("Last-Event-ID", *v);
        }
        b.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn last_event_id_is_a_position_or_a_clear_error() {
        assert_eq!(last_event_id(&req(&[])).unwrap(), None);
        assert_eq!(last_event_id(&req(&["0"])).unwrap(), Some(0));
        assert_eq!(last_event_id(&req(&[" 42 "])).unwrap(), Some(42));
        for bad in [
            &["-1"][..],
            &["4x"],
            &["1", "2"],
            &["99999999999999999999"],
            &["123456789012345678901"],
        ] {
            let err = last_event_id(&req(bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_payload", "{bad:?}");
            assert!(
                err.message()
                    .starts_with("the Last-Event-ID header is not valid"),
                "{bad:?}: {}",
                err.message()
            );
        }
    }
}
