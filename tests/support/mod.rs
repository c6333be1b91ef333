//! Test support: both stores (SQLite in a temporary folder, DynamoDB on the moto
//! server that `scripts/test` starts), and API Gateway v2 request fixtures sent
//! through the same handlers the Lambda functions run.

pub mod emf;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;
use lambda_http::Body;
use serde_json::{Value, json};
use shared::App;
use shared::identity::IdentityConfig;
use shared::store::Store;
use shared::store::dynamo::{DynamoStore, endpoint_config};
use shared::store::sqlite::SqliteStore;

pub const DYNAMO_ENV: &str = "VTID_TEST_DYNAMODB_ENDPOINT";

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// The embedded store in a fresh folder (kept alive by the returned guard).
pub fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = SqliteStore::open(dir.path()).expect("open the SQLite store");
    (store, dir)
}

/// Set by the test command (and so by CI): nothing may be skipped, a missing moto server
/// is an error.
pub const STRICT_ENV: &str = "VTID_TEST_STRICT";

pub fn dynamo_endpoint() -> String {
    std::env::var(DYNAMO_ENV).unwrap_or_else(|_| {
        panic!("{DYNAMO_ENV} is not set: run the tests with ./scripts/test, which starts moto's DynamoDB server")
    })
}

/// Whether a DynamoDB test can run: moto's server is named by [`DYNAMO_ENV`]. Without it
/// (a plain `cargo test`) the test says it is skipped and returns; under the test
/// command, which sets [`STRICT_ENV`], a missing server fails it instead.
pub fn dynamo_or_skip(test: &str) -> bool {
    if std::env::var_os(DYNAMO_ENV).is_some() {
        return true;
    }
    assert!(
        std::env::var_os(STRICT_ENV).is_none(),
        "{test}: {DYNAMO_ENV} is not set, and {STRICT_ENV} forbids skipping"
    );
    eprintln!(
        "skipped {test}: a DynamoDB test, and {DYNAMO_ENV} is not set (./scripts/test starts moto's server and sets it)"
    );
    false
}

/// Returns from the calling test, with a message, when no moto server is named (see
/// [`dynamo_or_skip`]).
#[macro_export]
macro_rules! skip_without_dynamo {
    () => {{
        fn here() {}
        let name = std::any::type_name_of_val(&here);
        let name = name
            .trim_end_matches("::here")
            .trim_end_matches("::{{closure}}");
        if !$crate::dynamo_or_skip(name) {
            return;
        }
    }};
}

/// A DynamoDB store on a fresh table of the moto server.
pub async fn dynamo() -> DynamoStore {
    let table = unique("vtid-test");
    let store = dynamo_on(&table).await;
    store.create_table().await.expect("create the test table");
    store
}

/// Another process's view of the same table: its own client and its own counter cache.
pub async fn dynamo_on(table: &str) -> DynamoStore {
    dynamo_at(&dynamo_endpoint(), table).await
}

/// A moto server of the test's own, for tests that send many transactions (moto copies
/// its tables on each one, so its memory grows) or put the fault proxy in front of it.
/// Started from the virtual environment `scripts/test` prepares; stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .to_owned();
        let dir = tempfile::tempdir().expect("temporary folder");
        let port_file = dir.path().join("port");
        let mut child = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("scripts/moto_server.py"))
            .arg(&port_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto's server from .venv (run the tests with ./scripts/test)");
        for _ in 0..300 {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && !port.is_empty()
            {
                return Self {
                    child,
                    url: format!("http://127.0.0.1:{}", port.trim()),
                    _dir: dir,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("moto's server did not start");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DynamoDB store on `table` at `endpoint`: another process's view (its own client).
/// moto serves one request at a time and a busy test machine slows it down: its answers
/// get more time than DynamoDB's would.
pub async fn dynamo_at(endpoint: &str, table: &str) -> DynamoStore {
    let sdk = endpoint_config(endpoint, "us-east-1").await;
    DynamoStore::new(&sdk, table)
}

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Dynamo,
}

/// The API over one store, called as API Gateway calls the functions.
pub struct Api {
    pub app: App,
    pub kind: Kind,
    _dir: Option<tempfile::TempDir>,
    pub dynamo_table: Option<String>,
    /// The DynamoDB store itself, for its request count.
    pub dynamo: Option<Arc<DynamoStore>>,
    /// A moto server of this Api's own, when it has one.
    _moto: Option<Moto>,
}

impl Api {
    pub async fn new(kind: Kind) -> Self {
        Self::with_identity(kind, IdentityConfig::default()).await
    }

    pub async fn with_identity(kind: Kind, identity: IdentityConfig) -> Self {
        let (store, dir, table, dynamo): (Arc<dyn Store>, _, _, _) = match kind {
            Kind::Sqlite => {
                let (s, d) = sqlite();
                (Arc::new(s), Some(d), None, None)
            }
            Kind::Dynamo => {
                let s = Arc::new(dynamo().await);
                let t = s.table().to_owned();
                (s.clone(), None, Some(t), Some(s))
            }
        };
        Self {
            // Generous: these tests are about behaviour, not deadlines (tested on their own),
            // and a busy machine makes moto slow.
            app: App::new(store, identity, b"test cursor key".to_vec())
                .with_budget(std::time::Duration::from_secs(30)),
            kind,
            _dir: dir,
            dynamo_table: table,
            dynamo,
            _moto: None,
        }
    }

    /// The same kind of Api with a moto server of its own on DynamoDB (for a test that
    /// fills a table with thousands of records: moto answers one request at a time, and a
    /// big table would slow every other test sharing the server); itself on SQLite.
    pub async fn on_private_server(self) -> Self {
        if self.kind != Kind::Dynamo {
            return self;
        }
        let moto = Moto::start();
        let table = unique("vtid-private");
        let store = Arc::new(dynamo_at(&moto.url, &table).await);
        store.create_table().await.expect("create the test table");
        Self {
            app: App::new(
                store.clone(),
                self.app.identity.clone(),
                b"test cursor key".to_vec(),
            )
            .with_budget(self.app.budget),
            kind: Kind::Dynamo,
            _dir: None,
            dynamo_table: Some(table),
            dynamo: Some(store),
            _moto: Some(moto),
        }
    }

    /// DynamoDB requests sent so far (0 on SQLite).
    pub fn requests(&self) -> u64 {
        self.dynamo.as_ref().map_or(0, |d| d.requests_sent())
    }

    /// DynamoDB operations the store asked for so far, SDK retries not counted (0 on SQLite).
    pub fn operations(&self) -> u64 {
        self.dynamo.as_ref().map_or(0, |d| d.operations_sent())
    }

    /// Writes `records` under their own VTIDs (as an import does), 32 at a time.
    pub async fn seed(&self, records: Vec<shared::record::Record>) {
        for chunk in records.chunks(32) {
            let written =
                futures::future::join_all(chunk.iter().map(|r| self.store().import_record(r)))
                    .await;
            for w in written {
                w.expect("seed a record");
            }
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.app.unscoped_store()
    }

    pub async fn send(&self, req: Req) -> Resp {
        let request = req.into_lambda();
        // Boxed: a test body that awaits many calls would otherwise hold every handler
        // future on its own stack.
        let res = Box::pin(shared::api::route(&self.app, request)).await;
        Resp::from(res)
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Req::new("POST", path).json(body)).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Req::new("GET", path)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(Req::new("PATCH", path).json(body)).await
    }

    /// Creates a record and returns its body's `data`.
    pub async fn create(&self, body: Value) -> Value {
        let res = self.post("/vtid/create", body).await;
        assert_eq!(res.status, 201, "create failed: {}", res.body);
        res.body["data"].clone()
    }
}

/// A deadline for store calls made directly by a test.
pub fn deadline() -> shared::deadline::Deadline {
    shared::deadline::Deadline::after(std::time::Duration::from_secs(10))
}

/// A validated draft of a create body.
pub fn draft(body: &Value) -> shared::record::Draft {
    shared::validation::parse_create(body, None, "").expect("a valid create body")
}

/// A create request for the store itself.
pub fn create_request(drafts: Vec<shared::record::Draft>) -> shared::store::CreateRequest {
    shared::store::CreateRequest {
        drafts,
        by: "t".into(),
        now: shared::timestamp::Timestamp::now(),
        idempotency: None,
        deadline: deadline(),
    }
}

/// The events of a record created, made active, changed, and completed, in order.
pub const LIFECYCLE_KINDS: [shared::events::Kind; 4] = [
    shared::events::Kind::Created,
    shared::events::Kind::StatusChanged,
    shared::events::Kind::Updated,
    shared::events::Kind::Completed,
];

/// A minimal valid create body.
pub fn body(family: &str) -> Value {
    json!({"taskFamily": family, "taskType": "task", "description": "something to do", "tenant": "acme"})
}

/// Who the request context says is calling.
#[derive(Clone, Debug)]
pub enum Who {
    Nobody,
    /// JWT authorizer claims, as API Gateway HTTP API passes them (strings).
    Jwt(Value),
    /// IAM (SigV4) caller with this ARN.
    Iam(String),
    /// A Lambda authorizer's context.
    LambdaAuthorizer(Value),
}

impl Who {
    pub fn admin() -> Self {
        Who::Jwt(json!({"sub": "admin-1", "role": "admin"}))
    }

    pub fn user(tenant: &str) -> Self {
        Who::Jwt(json!({"sub": format!("user-of-{tenant}"), "tenant": tenant}))
    }
}

/// An API Gateway HTTP API (v2) event, built as JSON and parsed by `lambda_http`
/// exactly as in Lambda.
#[derive(Clone, Debug)]
pub struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    who: Who,
}

impl Req {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Self {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: None,
            who: Who::admin(),
        }
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_lowercase(), value.into()));
        self
    }

    pub fn who(mut self, who: Who) -> Self {
        self.who = who;
        self
    }

    pub fn event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        let mut context = json!({
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "req-1", "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "tests"}
        });
        match &self.who {
            Who::Nobody => {}
            Who::Jwt(claims) => {
                context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}})
            }
            Who::Iam(arn) => {
                context["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
                    "callerId": "AROA:fn", "userArn": arn, "userId": "AROA:fn"}})
            }
            Who::LambdaAuthorizer(ctx) => context["authorizer"] = json!({"lambda": ctx}),
        }
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": self.path, "rawQueryString": self.query,
            "headers": headers, "requestContext": context, "body": self.body, "isBase64Encoded": false
        })
    }

    pub fn into_lambda(self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event().to_string())
            .expect("a valid API Gateway v2 event")
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An error response of the API's error shape with `code`, and nothing internal in it.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {}",
            self.raw
        );
        assert_eq!(self.body["ok"], false, "{}", self.raw);
        assert_eq!(self.body["code"], code, "{}", self.raw);
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}",
            self.raw
        );
        assert!(self.body["details"].is_array(), "{}", self.raw);
        assert_no_internals(&self.raw);
    }

    /// The `field`s named in `details`.
    pub fn detail_fields(&self) -> Vec<String> {
        self.body["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|x| x["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Words that only an internal error, a debug dump or a stack would put in a body.
#[track_caller]
pub fn assert_no_internals(raw: &str) {
    for word in [
        "SdkError",
        "ServiceError",
        "rusqlite",
        "sqlite",
        "panicked",
        "Backtrace",
        "DispatchFailure",
        "ConditionalCheckFailed",
        "TransactionCanceled",
        "aws-sdk",
        "src/",
        ".rs:",
        "Some(",
        "Err(",
        "Ok(",
    ] {
        assert!(
            !raw.contains(word),
            "response leaks internals ({word}): {raw}"
        );
    }
}

impl From<http::Response<Body>> for Resp {
    fn from(res: http::Response<Body>) -> Self {
        let (parts, body) = res.into_parts();
        let raw = match body {
            Body::Empty => String::new(),
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or(Value::Null)
        };
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            raw,
        }
    }
}

/// Numbers of VTIDs, as (year, seq), from a list of records.
pub fn seqs(records: &[Value]) -> Vec<u32> {
    records
        .iter()
        .map(|r| {
            let v: shared::vtid::Vtid = r["vtid"]
                .as_str()
                .expect("vtid")
                .parse()
                .expect("canonical");
            v.seq()
        })
        .collect()
}

pub fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
