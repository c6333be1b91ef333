//! `vtid serve`: every route on one address, running the same handler code as the
//! Lambda functions. Each HTTP request becomes the `lambda_http::Request` that API
//! Gateway would deliver: path, query, headers, body, and a request context whose
//! authorizer carries the caller's claims.
//!
//! The HTTP layer has limits of its own, as API Gateway has in front of the functions
//! (`docs/api.md`, "Limits"): a connection must send each request head within the header
//! timeout of opening or of its previous response (so an idle keep-alive connection is
//! closed then too); a body within [`BODY_TIMEOUT`]; at most `--max-connections` at once
//! (more are answered 503); request target, headers and body have maximum sizes, and a
//! `Content-Length` over the body limit is answered 413 before any of the body is read.
//! Every answer, including those hyper makes itself, has the API's JSON error body
//! (`wire`). Without token checking, requests from other sites' pages and requests
//! addressed to a name the server was not told it is are refused (`origin`).

pub mod command;
mod origin;
mod wire;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONNECTION, CONTENT_LENGTH, HeaderValue};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use shared::App;
use shared::api;
use shared::error::ApiError;
use shared::identity::Claims;
use shared::validation::MAX_BATCH_BODY_BYTES;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::auth::LocalAuth;
use crate::events::{Local, sse};
pub use origin::Origins;
use wire::{Answers, JsonErrors};

/// Longest request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header section (names, values and separators, not the request line), in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most headers in one request (hyper's limit, answered 431).
pub const MAX_HEADERS: usize = 100;
/// The longest a request body may take to arrive once its head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// hyper's read buffer: room for a head past the limits above, so that they, not the
/// buffer, decide; a head past it is 431.
const READ_BUFFER_BYTES: usize = 128 * 1024;
/// Connections past the cap that still get their 503 (the rest are closed at once), and
/// how long such a connection may take to send its request head.
const OVERFLOW_ANSWERS: usize = 64;
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP layer's settings (`vtid serve` flags).
#[derive(Clone, Debug, clap::Args)]
pub struct HttpLimits {
    /// Seconds a connection may take to send a request head, counted from its opening or
    /// from its previous response: also the idle keep-alive timeout (1 to 300).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout: u64,
    /// Most connections served at once; past it a connection is answered 503 with
    /// Retry-After (1 to 65536).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,
    /// Without token checking, a host name this server also answers to, besides
    /// localhost, 127.0.0.1 and [::1] (repeatable); requests addressed to any other name
    /// are refused, as are requests from other sites' pages.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: 10,
            max_connections: 256,
            allowed_hosts: Vec::new(),
        }
    }
}

/// Binds `addr`. Without token checking only a loopback address is accepted.
pub async fn bind(addr: SocketAddr, auth: &LocalAuth) -> Result<TcpListener, String> {
    if matches!(auth, LocalAuth::Fixed { .. }) && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr}: without token checking every caller is the local admin, \
             so only loopback addresses (127.0.0.1, ::1) are allowed; add --jwt-hs256-secret-file to serve others"
        ));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves connections on `listener` until the process ends.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    auth: Arc<LocalAuth>,
    limits: HttpLimits,
    local: Arc<Local>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    // Only a server whose every caller is its admin needs to know who browses it.
    let origins = match auth.as_ref() {
        LocalAuth::Fixed { .. } => {
            let port = listener.local_addr().map_or(0, |a| a.port());
            Some(Arc::new(Origins::new(&limits.allowed_hosts, port)))
        }
        LocalAuth::Verify(_) => None,
    };
    let overflow = Arc::new(Semaphore::new(OVERFLOW_ANSWERS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout))
        .max_buf_size(READ_BUFFER_BYTES);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        // hyper writes an answer's head and body apart: with Nagle's algorithm the body
        // waits for the client's delayed ACK, about 40 ms on every kept-alive answer.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            let server = Server {
                app: app.clone(),
                auth: auth.clone(),
                local: local.clone(),
                origins: origins.clone(),
            };
            let http = http.clone();
            tokio::spawn(async move {
                serve_connection(&http, stream, server).await;
                drop(permit);
            });
        } else if let Ok(permit) = overflow.clone().try_acquire_owned() {
            tokio::spawn(async move {
                answer_busy(stream).await;
                drop(permit);
            });
        }
        // Else the stream is dropped: closed without an answer.
    }
}

/// What every connection of one server shares.
#[derive(Clone)]
struct Server {
    app: Arc<App>,
    auth: Arc<LocalAuth>,
    local: Arc<Local>,
    /// Without token checking: the names and origin it answers.
    origins: Option<Arc<Origins>>,
}

async fn serve_connection(http: &http1::Builder, stream: TcpStream, server: Server) {
    let answers = Answers::default();
    let noted = answers.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let (server, noted) = (server.clone(), noted.clone());
        async move {
            // hyper writes no body for a HEAD, whatever the response holds (the page's
            // files keep theirs, for Content-Length).
            let head = req.method() == http::Method::HEAD;
            let res = handle(&server, req).await;
            noted.note(if head { 0 } else { body_len(&res) });
            Ok::<_, Infallible>(res)
        }
    });
    let io = JsonErrors::new(TokioIo::new(stream), answers);
    if let Err(e) = http.serve_connection(io, service).await {
        tracing::debug!(error = %e, "connection closed");
    }
}

/// A connection past the cap: its first request is answered 503, then it is closed.
async fn answer_busy(stream: TcpStream) {
    let answers = Answers::default();
    let noted = answers.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let noted = noted.clone();
        async move {
            let err = ApiError::Full(
                "this server is serving as many connections as it takes; retry shortly".into(),
            );
            let mut res = to_hyper(
                api::error_response(&err),
                req.method() == http::Method::HEAD,
            );
            res.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            noted.note(body_len(&res));
            Ok::<_, Infallible>(res)
        }
    });
    let io = JsonErrors::new(TokioIo::new(stream), answers);
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(OVERFLOW_HEADER_TIMEOUT)
        .keep_alive(false)
        .serve_connection(io, service)
        .await;
}

/// The number of body bytes hyper will write for `res`: everything, for a stream (which
/// closes its connection when it ends).
fn body_len(res: &hyper::Response<sse::Body>) -> u64 {
    hyper::body::Body::size_hint(res.body())
        .exact()
        .unwrap_or(u64::MAX)
}

async fn handle(server: &Server, req: hyper::Request<Incoming>) -> hyper::Response<sse::Body> {
    let (app, auth, local) = (&server.app, &server.auth, &server.local);
    let head = req.method() == http::Method::HEAD;
    let whole = |res| to_hyper(res, head);
    let (parts, body) = req.into_parts();
    let checked = check_head(&parts).and_then(|()| match &server.origins {
        Some(origins) => origins.check(&parts.headers),
        None => Ok(()),
    });
    if let Err(err) = checked {
        return whole(closing(api::error_response(&err)));
    }
    // The page needs no identity: it holds no data and asks for a token itself.
    if let Some(page) = crate::web::page(&parts.method, parts.uri.path()) {
        return page;
    }
    let claims = match claims(auth, &parts) {
        Ok(c) => c,
        Err(res) => return whole(*res),
    };
    if claims.is_none() && matches!(auth.as_ref(), LocalAuth::Verify(_)) && has_body(&parts) {
        // No identity: every route that reads a body answers 401 (or its 404/405) before
        // it would, so the body is not waited for: a stranger holds no connection by
        // trickling one. Its connection closes with the answer, the body unread.
        let request = lambda_request(parts, Bytes::new(), None);
        return whole(closing(api::route(app, request).await));
    }
    let read = Limited::new(body, MAX_BATCH_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            return whole(closing(api::error_response(&ApiError::PayloadTooLarge(
                MAX_BATCH_BODY_BYTES,
            ))));
        }
        Ok(Err(_)) => {
            return whole(closing(api::error_response(&ApiError::InvalidRequest(
                "the request body could not be read: check its framing (Content-Length or chunks)"
                    .into(),
            ))));
        }
        Err(_) => return whole(closing(api::error_response(&ApiError::RequestTimeout))),
    };
    let request = lambda_request(parts, bytes, claims);
    // Served outside `api::route`, so the request deadline does not cut the stream.
    if request.uri().path() == sse::PATH {
        return match sse::serve(app, local.feed.as_ref(), request).await {
            Ok(mut stream) => {
                // The stream has no length: its connection ends with it.
                stream
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                stream
            }
            Err(res) => whole(res),
        };
    }
    whole(api::route(app, request).await)
}

/// The limits a request head is held to before anything else: target and header sizes,
/// and a `Content-Length` over the body limit (answered before any of the body is read).
fn check_head(parts: &http::request::Parts) -> Result<(), ApiError> {
    let target = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong(MAX_URI_BYTES));
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            bytes: MAX_HEADER_BYTES,
            count: MAX_HEADERS,
        });
    }
    // hyper has already refused a Content-Length that is not a number.
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BATCH_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge(MAX_BATCH_BODY_BYTES));
    }
    Ok(())
}

/// Whether the request has a body to read (a `Content-Length` above 0, or chunks).
fn has_body(parts: &http::request::Parts) -> bool {
    parts.headers.contains_key(http::header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The claims the request context will carry: the fixed local identity, or the verified
/// claims of the bearer token (`None` when there is none).
fn claims(
    auth: &LocalAuth,
    parts: &http::request::Parts,
) -> Result<Option<Claims>, Box<http::Response<Body>>> {
    let v = match auth {
        LocalAuth::Fixed { role_claim } => {
            return Ok(Some(Claims::from([
                ("sub".to_owned(), json!("local")),
                (role_claim.clone(), json!("admin")),
            ])));
        }
        // Health needs no identity, as on API Gateway, where its route has no authorizer.
        LocalAuth::Verify(_) if parts.uri.path() == "/vtid/health" => return Ok(None),
        LocalAuth::Verify(v) => v,
    };
    let value = match api::header(&parts.headers, "Authorization") {
        Ok(Some(value)) => value,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Box::new(api::error_response(&e))),
    };
    match v.verify(value) {
        Ok(c) => Ok(Some(c)),
        Err(why) => {
            tracing::info!(%why, "bearer token refused");
            Err(Box::new(refused(&why.0)))
        }
    }
}

/// 401 for a refused token, saying why in `WWW-Authenticate` as API Gateway's JWT
/// authorizer does, so that callers can name the problem (expired, audience, signature).
fn refused(why: &str) -> http::Response<Body> {
    let mut res = api::error_response(&ApiError::Unauthenticated);
    let why: String = why
        .chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .take(200)
        .collect();
    let value = format!("Bearer error=\"invalid_token\", error_description=\"{why}\"");
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        res.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    res
}

/// An answer after which the connection closes (its body may be left unread).
fn closing(mut res: http::Response<Body>) -> http::Response<Body> {
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The request API Gateway would hand a function. `claims` is what its authorizer
/// verified, passed as a Lambda authorizer's context (`authorizer.lambda`), which keeps
/// their JSON types for the shared claim reader; `None` leaves the authorizer out, as
/// for a caller with no token.
pub fn lambda_request(
    parts: http::request::Parts,
    body: Bytes,
    claims: Option<Claims>,
) -> lambda_http::Request {
    let query: QueryMap = parts.uri.query().unwrap_or("").parse().unwrap_or_default();
    let mut context = json!({
        "requestId": format!("local-{:016x}", next_request_number()),
        "http": {"method": parts.method.as_str(), "path": parts.uri.path(), "protocol": "HTTP/1.1",
                 "sourceIp": "127.0.0.1", "userAgent": ""},
        "stage": "$default",
        "timeEpoch": 0,
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"lambda": claims});
    }
    let context = serde_json::from_value(context)
        .ok()
        .map(RequestContext::ApiGatewayV2);
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::from(body.to_vec())
    };
    let req = http::Request::from_parts(parts, body).with_query_string_parameters(query);
    match context {
        Some(c) => req.with_request_context(c),
        None => req,
    }
}

fn next_request_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The handler's response for hyper; a HEAD answer never has a body.
fn to_hyper(res: http::Response<Body>, head: bool) -> hyper::Response<sse::Body> {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        _ if head => Bytes::new(),
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes).boxed())
}
