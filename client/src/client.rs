//! The client: one typed method per operation, the same time limit, retries and
//! idempotency over every transport.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;
use vtid_model::{HistoryEntry, Record, Vtid};

use crate::answer;
use crate::error::Error;
use crate::request::{Changes, ListQuery, NewRecord, Version};
use crate::response::{Audit, Created, Health, Page, Updated};
use crate::retry::{RetryPolicy, Retrying};
use crate::transport::http::{HttpAuth, HttpTransport};
use crate::transport::{Call, Failure, Op, Transport};
use vtid_model::trace::TraceParent;

/// The time limit of one call, retries included, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Called before each retry (for logs or `--verbose`).
pub type RetryHook = Arc<dyn Fn(&Retrying) + Send + Sync>;

#[derive(Clone)]
pub struct Config {
    /// The most one call may take, retries and their waits included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub on_retry: Option<RetryHook>,
    /// The `traceparent` every call carries (the CLI's: a child of `TRACEPARENT`).
    pub trace: Option<TraceParent>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            on_retry: None,
            trace: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A fresh `Idempotency-Key`: random, so that only retries of one create share it.
pub fn new_idempotency_key() -> String {
    format!("vtid-{}", uuid::Uuid::new_v4())
}

pub struct Client {
    transport: Transport,
    config: Config,
}

impl Client {
    /// HTTP to `base_url` (API Gateway's `ApiUrl` output, or `http://127.0.0.1:8787`),
    /// with `token` sent as `Authorization: Bearer` when given.
    /// HTTP with a bearer token, given bare or as the whole `Bearer <token>` value (as
    /// people copy it from a header), around whitespace.
    pub fn http(base_url: &str, token: Option<String>) -> Result<Self, Error> {
        let auth = match token.as_deref().map(bare_token).filter(|t| !t.is_empty()) {
            Some(t) => HttpAuth::Bearer(t.to_owned()),
            None => HttpAuth::None,
        };
        Self::http_with(base_url, auth)
    }

    pub fn http_with(base_url: &str, auth: HttpAuth) -> Result<Self, Error> {
        Ok(Self::with_transport(Transport::Http(HttpTransport::new(
            base_url, auth,
        )?)))
    }

    /// HTTP signed with SigV4, for an IAM-authorized HTTP API.
    #[cfg(feature = "sigv4")]
    pub fn sigv4(base_url: &str, signer: crate::transport::sigv4::SigV4) -> Result<Self, Error> {
        Self::http_with(base_url, HttpAuth::SigV4(signer))
    }

    /// Direct invocation of the ledger's functions.
    #[cfg(feature = "lambda")]
    pub fn direct(direct: crate::transport::lambda::Direct) -> Self {
        Self::with_transport(Transport::Lambda(direct))
    }

    /// The base URL and bearer token of an HTTP transport (the event stream's way in).
    pub(crate) fn http_endpoint(&self) -> Option<(&str, Option<&str>)> {
        match &self.transport {
            Transport::Http(t) => Some((t.base(), t.bearer())),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    fn with_transport(transport: Transport) -> Self {
        Self {
            transport,
            config: Config::default(),
        }
    }

    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `POST /vtid/create`. The call always carries an `Idempotency-Key` (this one, or a
    /// new one), so its retries can never make a second VTID; give your own (a pipeline
    /// run's ID) to make retries of your whole step safe too.
    pub async fn create(
        &self,
        record: &NewRecord,
        idempotency_key: Option<&str>,
    ) -> Result<Created, Error> {
        let key = idempotency_key.map_or_else(new_idempotency_key, str::to_owned);
        let mut call = Call::new(Op::Create);
        call.headers.push(("Idempotency-Key", key.clone()));
        call.body = Some(json_bytes(record)?);
        let (status, headers, body) = self.send(&call).await?;
        let target = self.transport.target(&call);
        Ok(Created {
            record: data(&target, &body, "data")?,
            replayed: status == 200 || header_is(&headers, "idempotent-replayed", "true"),
            idempotency_key: key,
        })
    }

    /// `POST /vtid/batch`: 1 to 50 records with consecutive numbers, in order, or none.
    pub async fn batch(
        &self,
        items: &[NewRecord],
        idempotency_key: Option<&str>,
    ) -> Result<Vec<Record>, Error> {
        let key = idempotency_key.map_or_else(new_idempotency_key, str::to_owned);
        let mut call = Call::new(Op::Batch);
        call.headers.push(("Idempotency-Key", key));
        call.body = Some(json_bytes(&json!({ "items": items }))?);
        let (_, _, body) = self.send(&call).await?;
        data(&self.transport.target(&call), &body, "data")
    }

    /// `GET /vtid/{vtid}`; a missing VTID is an error of kind `NotFound`.
    pub async fn get(&self, vtid: &Vtid) -> Result<Record, Error> {
        let call = Self::on(Op::Get, vtid);
        let (_, _, body) = self.send(&call).await?;
        data(&self.transport.target(&call), &body, "data")
    }

    /// The record, or `None` when the ledger says the VTID does not exist. A wrong URL or
    /// function is an error, never `None`: this is the deploy gate's check, so it reads
    /// the record (GET) rather than trusting a bare 200 or 404 (HEAD).
    pub async fn find(&self, vtid: &Vtid) -> Result<Option<Record>, Error> {
        match self.get(vtid).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn exists(&self, vtid: &Vtid) -> Result<bool, Error> {
        Ok(self.find(vtid).await?.is_some())
    }

    /// `PATCH /vtid/{vtid}`, conditional on `if_match` when given.
    pub async fn update(
        &self,
        vtid: &Vtid,
        changes: &Changes,
        if_match: Option<Version>,
    ) -> Result<Updated, Error> {
        let mut call = Self::on(Op::Update, vtid);
        if let Some(v) = if_match {
            call.headers.push(("If-Match", format!("\"{v}\"")));
        }
        call.body = Some(json_bytes(changes)?);
        let (_, _, body) = self.send(&call).await?;
        Ok(Updated {
            record: data(&self.transport.target(&call), &body, "data")?,
            changed: body["changed"].as_bool().unwrap_or(true),
        })
    }

    /// One page of `GET /vtid/list`, continuing after `cursor` when given.
    pub async fn list_page(&self, query: &ListQuery, cursor: Option<&str>) -> Result<Page, Error> {
        let mut call = Call::new(Op::List);
        call.query = query.pairs(cursor);
        let (_, _, body) = self.send(&call).await?;
        let target = self.transport.target(&call);
        Ok(Page {
            records: data(&target, &body, "data")?,
            next_cursor: data(&target, &body, "nextCursor")?,
        })
    }

    /// Every record matching `query`, page by page.
    pub async fn list_all(&self, query: &ListQuery) -> Result<Vec<Record>, Error> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page(query, cursor.as_deref()).await?;
            all.extend(page.records);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// `GET /vtid/{vtid}/history`, oldest first.
    pub async fn history(&self, vtid: &Vtid) -> Result<Vec<HistoryEntry>, Error> {
        let call = Self::on(Op::History, vtid);
        let (_, _, body) = self.send(&call).await?;
        data(&self.transport.target(&call), &body, "data")
    }

    /// `GET /vtid/audit` for `year` (the current year when `None`).
    pub async fn audit(&self, year: Option<u16>) -> Result<Audit, Error> {
        let mut call = Call::new(Op::Audit);
        if let Some(y) = year {
            call.query.push(("year", y.to_string()));
        }
        let (_, _, body) = self.send(&call).await?;
        data(&self.transport.target(&call), &body, "data")
    }

    /// `GET /vtid/health`: the ledger and its store answer (a 503 is an error).
    pub async fn health(&self) -> Result<Health, Error> {
        let call = Call::new(Op::Health);
        let (_, _, body) = self.send(&call).await?;
        let target = self.transport.target(&call);
        let health: Health = serde_json::from_value(body).map_err(|e| Error::NotALedger {
            target: target.clone(),
            status: Some(200),
            why: format!("its health answer is not the ledger's: {e}"),
        })?;
        if health.service != "vtid-ledger" {
            return Err(Error::NotALedger {
                target,
                status: Some(200),
                why: format!("it is the service '{}'", health.service),
            });
        }
        Ok(health)
    }

    fn on(op: Op, vtid: &Vtid) -> Call {
        let mut call = Call::new(op);
        call.vtid = Some(*vtid);
        call
    }

    /// One call within the time limit, retried as the policy says.
    async fn send(&self, call: &Call) -> Result<(u16, HeaderMap, Value), Error> {
        let traced;
        let call = match &self.config.trace {
            Some(trace) => {
                let mut c = call.clone();
                c.headers.push(("traceparent", trace.to_string()));
                traced = c;
                &traced
            }
            None => call,
        };
        let target = self.transport.target(call);
        let limit = self.config.timeout;
        let deadline = Instant::now() + limit;
        match tokio::time::timeout_at(deadline, self.attempts(call, &target, deadline)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(Error::NotALedger {
                target,
                status,
                why,
            })) => Err(Error::NotALedger {
                target,
                status,
                why: match self.transport.hint() {
                    Some(hint) => format!("{why} ({hint})"),
                    None => why,
                },
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout {
                target,
                after: limit,
            }),
        }
    }

    async fn attempts(
        &self,
        call: &Call,
        target: &str,
        deadline: Instant,
    ) -> Result<(u16, HeaderMap, Value), Error> {
        let policy = &self.config.retry;
        let unreachable = |cause: String| Error::Unreachable {
            target: target.to_owned(),
            cause,
        };
        let mut attempt = 1;
        loop {
            let (error, retry_after) = match self.transport.send(call).await {
                Ok(reply) => match answer::read(target, reply) {
                    Ok(answer) => return Ok(answer),
                    Err(e) => match e.retry_hint() {
                        Some(after) => (e, after),
                        None => return Err(e),
                    },
                },
                Err(Failure::NotSent(cause)) => (unreachable(cause), None),
                Err(Failure::Throttled(cause)) => {
                    (unreachable(format!("throttled: {cause}")), None)
                }
                Err(Failure::Lost(cause)) => return Err(unreachable(cause)),
                Err(Failure::Final(e)) => return Err(e),
            };
            if attempt >= policy.attempts {
                return Err(error);
            }
            let Some(wait) = policy.delay(attempt, retry_after) else {
                return Err(error);
            };
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            if let Some(hook) = &self.config.on_retry {
                hook(&Retrying {
                    target: target.to_owned(),
                    attempt,
                    attempts: policy.attempts,
                    wait,
                    reason: error.to_string(),
                });
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn json_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("cannot encode the body: {e}")))
}

fn header_is(headers: &HeaderMap, name: &str, value: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// `body[field]` as `T`; a body that does not hold one is not the ledger's answer.
fn data<T: DeserializeOwned>(target: &str, body: &Value, field: &str) -> Result<T, Error> {
    let value = body.get(field).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| Error::NotALedger {
        target: target.to_owned(),
        status: None,
        why: format!("its `{field}` is not what the ledger sends ({e})"),
    })
}

/// A token without the `Bearer ` scheme (any case) and surrounding whitespace.
fn bare_token(token: &str) -> &str {
    let token = token.trim();
    match token.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    }
}

#[cfg(test)]
mod token_tests {
    use super::bare_token;

    #[test]
    fn a_token_is_taken_with_or_without_its_scheme() {
        for given in [
            "abc.def.ghi",
            " abc.def.ghi\n",
            "Bearer abc.def.ghi",
            "bearer  abc.def.ghi",
        ] {
            assert_eq!(bare_token(given), "abc.def.ghi", "{given:?}");
        }
        assert_eq!(bare_token("Bearerabc"), "Bearerabc");
        assert_eq!(bare_token("é"), "é");
    }
}
