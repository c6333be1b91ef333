//! A loopback proxy between the AWS SDK and a DynamoDB-compatible server (moto's, served
//! one request at a time) that fails the way DynamoDB really does, which moto never does:
//!
//! - **Conflicts.** Each write holds its items while it is applied and for
//!   [`Config::hold`] after (DynamoDB holds a transaction's items while it is in
//!   progress). Requests reach the upstream one at a time, as moto must be served. A transaction meeting a held item is
//!   cancelled with `TransactionConflict` for that item (`None` for the others); a plain
//!   write meeting an item held by a transaction gets `TransactionConflictException`.
//! - **Faults** by chance or by script ([`Rule`]): throttling
//!   (`ThrottlingException`, `ProvisionedThroughputExceededException`, a transaction
//!   cancelled with `ThrottlingError`), `InternalServerError`, latency, a write applied
//!   and its answer dropped (the connection closes), a write applied and never answered.
//! - **`ClientRequestToken`.** A transaction's outcome is kept for 10 minutes: the same
//!   token and body get the same answer without being applied again, another body gets
//!   `IdempotentParameterMismatchException`, and a repeat while the first is still in
//!   progress gets `TransactionInProgressException`. Injected faults are not kept (the
//!   request never reached the transaction coordinator). [`Config::ignoring_tokens`]
//!   turns this off, as moto has it.
//! - **A slow store** ([`Config::slow`]): every request is served one at a time and
//!   takes at least the service time, so latency grows with the queue, as it does in a
//!   store slower than its load.
//!
//! Every request is counted per operation ([`Stats`]). Paths under `/_faults/` control a
//! proxy from another process (see `main.rs`).

mod plan;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use plan::{Chances, Config, Fault, Rule};

type Answer = (StatusCode, HeaderMap, Vec<u8>);

/// Requests seen and faults injected, per operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operation -> counter name (`requests`, `forwarded`, or a fault's name) -> count.
    pub by_operation: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// Requests of `operation` that reached the proxy.
    pub fn requests(&self, operation: &str) -> u64 {
        self.count(operation, "requests")
    }

    pub fn count(&self, operation: &str, counter: &str) -> u64 {
        self.by_operation
            .get(operation)
            .and_then(|c| c.get(counter))
            .copied()
            .unwrap_or(0)
    }

    /// Every request that reached the proxy.
    pub fn total_requests(&self) -> u64 {
        self.by_operation
            .values()
            .filter_map(|c| c.get("requests"))
            .sum()
    }

    /// `counter` summed over every operation.
    pub fn total(&self, counter: &str) -> u64 {
        self.by_operation
            .values()
            .filter_map(|c| c.get(counter))
            .sum()
    }

    pub fn to_json(&self) -> Value {
        json!(self.by_operation)
    }
}

#[derive(Default)]
struct Holds {
    /// Item -> (transactions holding it, plain writes holding it).
    items: HashMap<String, (u32, u32)>,
}

enum TokenState {
    InProgress,
    Done {
        body: Vec<u8>,
        answer: Answer,
        at: Instant,
    },
}

struct State {
    config: Config,
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    chances: Mutex<Chances>,
    rules: Mutex<Vec<Rule>>,
    holds: Mutex<Holds>,
    tokens: Mutex<HashMap<String, TokenState>>,
    stats: Mutex<Stats>,
    rng: Mutex<fastrand::Rng>,
    turn: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere never leaves these maps half-changed; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, config: Config) -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), upstream, config).await
    }

    pub async fn bind(addr: SocketAddr, upstream: &str, config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            chances: Mutex::new(config.chances.clone()),
            config,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            rules: Mutex::new(Vec::new()),
            holds: Mutex::new(Holds::default()),
            tokens: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            turn: tokio::sync::Mutex::new(()),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            task: Some(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a scripted fault; scripts go before chances.
    pub fn script(&self, rule: Rule) {
        lock(&self.state.rules).push(rule);
    }

    /// Scripted faults not yet used up.
    pub fn pending_rules(&self) -> usize {
        lock(&self.state.rules)
            .iter()
            .filter(|r| r.times > 0)
            .count()
    }

    pub fn set_chances(&self, chances: Chances) {
        *lock(&self.state.chances) = chances;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.state.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.state.stats) = Stats::default();
    }

    /// Runs until the process ends (the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { handle(&state, req).await }
            });
            // A dropped answer ends the connection with an error: that is the fault.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The error a service returns to close the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

fn respond((status, headers, body): Answer) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

async fn handle(state: &State, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    if req.uri().path().starts_with("/_faults/") {
        return Ok(control(state, req).await);
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(Dropped);
    };
    let operation = wire::operation(&parts.headers);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&body);
    state.count(&operation, "requests");
    let fault = state.pick(&operation, &text);
    if let Some(f) = fault {
        state.count(&operation, f.name());
    }
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    // Faults that refuse the request before it is applied.
    let refused = match fault {
        Some(Fault::Throttle) => Some(wire::error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )),
        Some(Fault::ProvisionedThroughputExceeded) => Some(wire::error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        )),
        Some(Fault::InternalError) => Some(wire::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal server error",
        )),
        Some(Fault::Conflict) => Some(conflict(&operation, &json)),
        Some(Fault::ConflictAt(at)) if wire::is_transaction(&operation) => {
            let n = json["TransactItems"].as_array().map_or(1, Vec::len);
            let reasons: Vec<&str> = (0..n)
                .map(|i| {
                    if i == at {
                        "TransactionConflict"
                    } else {
                        "None"
                    }
                })
                .collect();
            Some(wire::cancelled(&reasons))
        }
        Some(Fault::ThrottledCancellation) if wire::is_transaction(&operation) => {
            let n = json["TransactItems"].as_array().map_or(1, Vec::len);
            Some(wire::cancelled(&vec!["ThrottlingError"; n]))
        }
        _ => None,
    };
    if let Some(answer) = refused {
        return Ok(respond(answer));
    }
    let sent_token =
        wire::client_request_token(&operation, &json).filter(|_| state.config.honour_tokens);
    let mut token = match sent_token {
        Some(t) => match state.token_answer(&t, &body) {
            Some(answer) => return Ok(respond(answer)),
            None => Some(TokenGuard { state, token: t }),
        },
        None => None,
    };
    let items = if wire::is_write(&operation) && !state.config.hold.is_zero() {
        wire::written_items(&operation, &json, &state.config.key_attributes)
    } else {
        Vec::new()
    };
    // The upstream serves one request at a time; taking turns here makes "in flight" mean
    // being applied (and `hold` after), not waiting in the upstream's queue.
    let turn = state.turn.lock().await;
    if !state.config.service_time.is_zero() {
        // A slow store: the turn is held for the service time, so each request waits
        // for every one queued before it.
        tokio::time::sleep(state.config.service_time).await;
    }
    let held = match state.hold(&operation, items) {
        Ok(held) => held,
        Err(answer) => {
            state.count(&operation, "conflict");
            return Ok(respond(*answer));
        }
    };
    let answer = state
        .forward(parts.method, &parts.headers, body.clone())
        .await;
    drop(turn);
    state.count(&operation, "forwarded");
    if let Some(held) = held {
        // The items stay in flight a while after the write, as DynamoDB's do.
        tokio::time::sleep(state.config.hold).await;
        drop(held);
    }
    if let Some(t) = token.take() {
        t.remember(&body, &answer);
    }
    match fault {
        Some(Fault::DropAfterApply) if wire::is_write(&operation) => Err(Dropped),
        Some(Fault::Hang) => std::future::pending().await,
        _ => Ok(respond(answer)),
    }
}

/// An injected conflict: a transaction cancelled with `TransactionConflict` on every
/// item, or for a plain write `TransactionConflictException`.
fn conflict(operation: &str, json: &Value) -> Answer {
    if wire::is_transaction(operation) {
        let n = json["TransactItems"].as_array().map_or(1, Vec::len);
        return wire::cancelled(&vec!["TransactionConflict"; n]);
    }
    wire::error(
        StatusCode::BAD_REQUEST,
        "TransactionConflictException",
        "Transaction is ongoing for the item",
    )
}

impl State {
    fn count(&self, operation: &str, counter: &str) {
        let mut stats = lock(&self.stats);
        *stats
            .by_operation
            .entry(operation.to_owned())
            .or_default()
            .entry(counter.to_owned())
            .or_default() += 1;
    }

    fn pick(&self, operation: &str, body: &str) -> Option<Fault> {
        {
            let mut rules = lock(&self.rules);
            if let Some(rule) = rules.iter_mut().find(|r| r.matches(operation, body)) {
                rule.times -= 1;
                return Some(rule.fault);
            }
        }
        let chances = lock(&self.chances).clone();
        chances.draw(&mut lock(&self.rng), wire::is_write(operation))
    }

    /// The kept answer for a repeated token, or `None` when the request goes ahead (it is
    /// then marked in progress).
    fn token_answer(&self, token: &str, body: &[u8]) -> Option<Answer> {
        let mut tokens = lock(&self.tokens);
        match tokens.get(token) {
            Some(TokenState::Done { at, .. }) if at.elapsed() > self.config.token_window => {}
            Some(TokenState::Done {
                body: first,
                answer,
                ..
            }) => {
                return Some(if first == body {
                    answer.clone()
                } else {
                    wire::error(
                        StatusCode::BAD_REQUEST,
                        "IdempotentParameterMismatchException",
                        "The request uses the same client token as a previous, but non-identical request.",
                    )
                });
            }
            Some(TokenState::InProgress) => {
                return Some(wire::error(
                    StatusCode::BAD_REQUEST,
                    "TransactionInProgressException",
                    "The transaction with the given request token is already in progress.",
                ));
            }
            None => {}
        }
        tokens.insert(token.to_owned(), TokenState::InProgress);
        None
    }

    /// Marks `items` as held by this write until the guard drops (also when the client
    /// goes away mid-request), or answers with the conflict it meets.
    fn hold<'a>(
        &'a self,
        operation: &str,
        items: Vec<String>,
    ) -> Result<Option<HoldGuard<'a>>, Box<Answer>> {
        if items.is_empty() {
            return Ok(None);
        }
        let tx = wire::is_transaction(operation);
        let mut holds = lock(&self.holds);
        let blocked: Vec<bool> = items
            .iter()
            .map(|i| {
                let (by_tx, by_plain) = holds.items.get(i).copied().unwrap_or((0, 0));
                if tx {
                    by_tx > 0
                        || (self.config.transactions_conflict_with_plain_writes && by_plain > 0)
                } else {
                    by_tx > 0
                }
            })
            .collect();
        if blocked.iter().any(|b| *b) {
            return Err(Box::new(if tx {
                let reasons: Vec<&str> = blocked
                    .iter()
                    .map(|b| if *b { "TransactionConflict" } else { "None" })
                    .collect();
                wire::cancelled(&reasons)
            } else {
                wire::error(
                    StatusCode::BAD_REQUEST,
                    "TransactionConflictException",
                    "Transaction is ongoing for the item",
                )
            }));
        }
        for i in &items {
            let e = holds.items.entry(i.clone()).or_default();
            if tx { e.0 += 1 } else { e.1 += 1 }
        }
        Ok(Some(HoldGuard {
            state: self,
            tx,
            items,
        }))
    }

    async fn forward(&self, method: Method, headers: &HeaderMap, body: Bytes) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}/", self.upstream));
        for (k, v) in headers {
            if k != http::header::HOST {
                req = req.header(k, v);
            }
        }
        let Ok(req) = req.body(Full::new(body)) else {
            return upstream_failed();
        };
        let Ok(res) = self.client.request(req).await else {
            return upstream_failed();
        };
        let (parts, body) = res.into_parts();
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes()) else {
            return upstream_failed();
        };
        let mut headers = parts.headers;
        headers.remove(http::header::TRANSFER_ENCODING);
        headers.remove(http::header::CONTENT_LENGTH);
        (parts.status, headers, bytes.to_vec())
    }
}

/// Items held by one write in flight; released when dropped.
struct HoldGuard<'a> {
    state: &'a State,
    tx: bool,
    items: Vec<String>,
}

impl Drop for HoldGuard<'_> {
    fn drop(&mut self) {
        let mut holds = lock(&self.state.holds);
        for i in &self.items {
            if let Some(e) = holds.items.get_mut(i) {
                if self.tx {
                    e.0 = e.0.saturating_sub(1)
                } else {
                    e.1 = e.1.saturating_sub(1)
                }
                if *e == (0, 0) {
                    holds.items.remove(i);
                }
            }
        }
    }
}

/// A token in progress: its outcome is kept by [`TokenGuard::remember`]; a request that
/// never got one (the client went away) leaves the token free again.
struct TokenGuard<'a> {
    state: &'a State,
    token: String,
}

impl TokenGuard<'_> {
    fn remember(self, body: &[u8], answer: &Answer) {
        // A 5xx from upstream is not an outcome: the request may be tried again.
        if answer.0.is_server_error() {
            return;
        }
        let mut tokens = lock(&self.state.tokens);
        let window = self.state.config.token_window;
        tokens.retain(|_, s| !matches!(s, TokenState::Done { at, .. } if at.elapsed() > window));
        tokens.insert(
            self.token.clone(),
            TokenState::Done {
                body: body.to_vec(),
                answer: answer.clone(),
                at: Instant::now(),
            },
        );
    }
}

impl Drop for TokenGuard<'_> {
    fn drop(&mut self) {
        let mut tokens = lock(&self.state.tokens);
        if matches!(tokens.get(&self.token), Some(TokenState::InProgress)) {
            tokens.remove(&self.token);
        }
    }
}

fn upstream_failed() -> Answer {
    wire::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "the proxy could not reach its upstream",
    )
}

/// `GET /_faults/stats`, `POST /_faults/reset`, `POST /_faults/chances` (a [`Chances`]
/// JSON), `POST /_faults/rules` (`[{"operation", "bodyContains", "fault", "times"}]`).
async fn control(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = |v: Value| respond((StatusCode::OK, HeaderMap::new(), v.to_string().into_bytes()));
    let bad = |why: &str| {
        respond((
            StatusCode::BAD_REQUEST,
            HeaderMap::new(),
            json!({"error": why}).to_string().into_bytes(),
        ))
    };
    match path.as_str() {
        "/_faults/stats" => ok(lock(&state.stats).to_json()),
        "/_faults/reset" => {
            *lock(&state.stats) = Stats::default();
            ok(json!({"reset": true}))
        }
        "/_faults/chances" => match Chances::from_json(&json) {
            Some(c) => {
                *lock(&state.chances) = c.clone();
                ok(c.to_json())
            }
            None => bad(
                "expected {throttle, provisionedThroughputExceeded, internalError, dropAfterApply, hang, latencyMs}",
            ),
        },
        "/_faults/rules" => {
            let Some(list) = json.as_array() else {
                return bad("expected a JSON array of rules");
            };
            let mut parsed = Vec::new();
            for r in list {
                let Some(fault) = r["fault"].as_str().and_then(Fault::parse) else {
                    return bad("each rule needs a known fault");
                };
                parsed.push(Rule {
                    operation: r["operation"].as_str().map(str::to_owned),
                    body_contains: r["bodyContains"].as_str().map(str::to_owned),
                    fault,
                    times: r["times"].as_u64().unwrap_or(1) as usize,
                });
            }
            let n = parsed.len();
            lock(&state.rules).extend(parsed);
            ok(json!({"added": n}))
        }
        _ => bad("unknown control path"),
    }
}
