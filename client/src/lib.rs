//! A small client for the VTID ledger's HTTP API (API Gateway or `vtid serve`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), vtid_client::Error> {
//! let ledger = vtid_client::Client::new("http://127.0.0.1:8787", None)?;
//! let record = ledger
//!     .create(&serde_json::json!({"taskFamily": "deploy", "taskType": "release",
//!         "description": "ship", "tenant": "acme"}), Some("pipeline-run-42"))
//!     .await?;
//! assert!(ledger.exists(record["vtid"].as_str().unwrap()).await?);
//! # Ok(()) }
//! ```

use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

mod events;
pub use events::{Event, EventStream, Parser};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger answered with its error body.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        details: Value,
    },
    #[error("cannot reach the ledger: {0}")]
    Transport(String),
    #[error("{0}")]
    Usage(String),
}

/// One page of `GET /vtid/list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Value>,
    pub next_cursor: Option<String>,
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: HttpClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// The ledger's error body as an error.
fn api_error(status: StatusCode, json: &Value) -> Error {
    Error::Api {
        status: status.as_u16(),
        code: json["code"].as_str().unwrap_or("unknown").to_owned(),
        message: json["error"].as_str().unwrap_or("no error body").to_owned(),
        details: json["details"].clone(),
    }
}

impl Client {
    /// `base_url` like `https://abc.execute-api.eu-west-1.amazonaws.com` or `http://127.0.0.1:8787`;
    /// `token` is sent as `Authorization: Bearer`.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Transport(format!("no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            http: HttpClient::builder(TokioExecutor::new()).build(connector),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Request<Full<Bytes>>, Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            let v = HeaderValue::from_str(v)
                .map_err(|_| Error::Usage(format!("{k} is not a valid header value")))?;
            req = req.header(*k, v);
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        req.body(Full::new(bytes))
            .map_err(|e| Error::Usage(e.to_string()))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<(StatusCode, http::HeaderMap, Value), Error> {
        let req = self.request(method, path, body, headers)?;
        let res = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        let (parts, body) = res.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?
            .to_bytes();
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if parts.status.is_client_error() || parts.status.is_server_error() {
            return Err(api_error(parts.status, &json));
        }
        Ok((parts.status, parts.headers, json))
    }

    /// `GET /vtid/events` with the list's filters `query`: the ledger's changes as they
    /// happen (the local server on its embedded store). With `last_event_id` it continues
    /// right after that event; `Some("0")` starts at the first event ever recorded.
    pub async fn events(
        &self,
        query: &[(&str, String)],
        last_event_id: Option<&str>,
    ) -> Result<EventStream, Error> {
        let mut headers = vec![("Accept", "text/event-stream".to_owned())];
        if let Some(id) = last_event_id {
            headers.push(("Last-Event-ID", id.to_owned()));
        }
        let req = self.request(
            Method::GET,
            &with_query("/vtid/events", query),
            None,
            &headers,
        )?;
        let res = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        if !res.status().is_success() {
            let status = res.status();
            let bytes = res
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Transport(e.to_string()))?
                .to_bytes();
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(api_error(status, &json));
        }
        Ok(EventStream::new(res.into_body(), last_event_id))
    }

    /// `POST /vtid/create`; the record (also when an idempotent retry replayed it).
    pub async fn create(
        &self,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Error> {
        let headers: Vec<(&str, String)> = idempotency_key
            .map(|k| vec![("Idempotency-Key", k.to_owned())])
            .unwrap_or_default();
        let (_, _, json) = self
            .call(Method::POST, "/vtid/create", Some(body), &headers)
            .await?;
        Ok(json["data"].clone())
    }

    /// `POST /vtid/batch`: the records, in the order of `items`.
    pub async fn batch(
        &self,
        items: &[Value],
        idempotency_key: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let headers: Vec<(&str, String)> = idempotency_key
            .map(|k| vec![("Idempotency-Key", k.to_owned())])
            .unwrap_or_default();
        let body = serde_json::json!({ "items": items });
        let (_, _, json) = self
            .call(Method::POST, "/vtid/batch", Some(&body), &headers)
            .await?;
        Ok(json["data"].as_array().cloned().unwrap_or_default())
    }

    pub async fn get(&self, vtid: &str) -> Result<Value, Error> {
        let (_, _, json) = self
            .call(Method::GET, &format!("/vtid/{}", enc(vtid)), None, &[])
            .await?;
        Ok(json["data"].clone())
    }

    /// `HEAD /vtid/{vtid}`: the deploy gate's check.
    pub async fn exists(&self, vtid: &str) -> Result<bool, Error> {
        match self
            .call(Method::HEAD, &format!("/vtid/{}", enc(vtid)), None, &[])
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /vtid/{vtid}`, conditional on `if_match` (a version) when given.
    pub async fn update(
        &self,
        vtid: &str,
        patch: &Value,
        if_match: Option<u64>,
    ) -> Result<Value, Error> {
        let headers: Vec<(&str, String)> = if_match
            .map(|v| vec![("If-Match", format!("\"{v}\""))])
            .unwrap_or_default();
        let (_, _, json) = self
            .call(
                Method::PATCH,
                &format!("/vtid/{}", enc(vtid)),
                Some(patch),
                &headers,
            )
            .await?;
        Ok(json["data"].clone())
    }

    /// One page of `GET /vtid/list` with `query` pairs (filters, `limit`, `cursor`).
    pub async fn list(&self, query: &[(&str, String)]) -> Result<Page, Error> {
        let path = with_query("/vtid/list", query);
        let (_, _, json) = self.call(Method::GET, &path, None, &[]).await?;
        Ok(Page {
            records: json["data"].as_array().cloned().unwrap_or_default(),
            next_cursor: json["nextCursor"].as_str().map(str::to_owned),
        })
    }

    /// Every record matching `query`, following cursors.
    pub async fn list_all(&self, query: &[(&str, String)]) -> Result<Vec<Value>, Error> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            q.push(("limit", "200".into()));
            if let Some(c) = cursor.take() {
                q.push(("cursor", c));
            }
            let page = self.list(&q).await?;
            all.extend(page.records);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    pub async fn history(&self, vtid: &str) -> Result<Vec<Value>, Error> {
        let (_, _, json) = self
            .call(
                Method::GET,
                &format!("/vtid/{}/history", enc(vtid)),
                None,
                &[],
            )
            .await?;
        Ok(json["data"].as_array().cloned().unwrap_or_default())
    }

    pub async fn audit(&self, year: Option<u16>) -> Result<Value, Error> {
        let path = year.map_or_else(
            || "/vtid/audit".to_owned(),
            |y| format!("/vtid/audit?year={y}"),
        );
        let (_, _, json) = self.call(Method::GET, &path, None, &[]).await?;
        Ok(json["data"].clone())
    }

    pub async fn health(&self) -> Result<Value, Error> {
        let (_, _, json) = self.call(Method::GET, "/vtid/health", None, &[]).await?;
        Ok(json)
    }
}
