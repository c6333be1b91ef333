//! One module per endpoint: request -> domain -> response. Every handler returns a
//! response, never an `Err`: domain errors become 4xx/5xx here, with no internals.

mod audit;
mod create;
mod health;
mod history;
pub mod json;
mod list;
mod page;
mod read;
pub mod router;
pub mod routes;
mod update;

pub use audit::audit;
pub use create::{batch, create};
pub use health::health;
pub use history::history;
pub use list::{filters_only, list};
pub use read::{get, head};
pub use router::{fallback, route};
pub use update::update;

use std::future::Future;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::App;
use crate::deadline::{Deadline, Expired, LAMBDA_MARGIN};
use crate::error::ApiError;
use crate::record::Record;
use crate::vtid::Vtid;
use vtid_model::version::IfMatch;

pub const SERVICE: &str = "vtid-ledger";
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// A JSON response with `status`.
pub fn reply(status: StatusCode, body: &Value) -> Response<Body> {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // A browser must not guess another type for a JSON answer (a record's text as HTML).
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The error body of docs/api.md's "Errors", bounded in size (`ApiError::body`); a 503 or a 409
/// in progress also says when to retry.
/// An error answer's `code`, carried beside the body for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut res = reply(err.status(), &err.body());
    res.extensions_mut().insert(ErrorCode(err.code()));
    if let Some(seconds) = err.retry_after() {
        res.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let ApiError::MethodNotAllowed(_) = err {
        res.headers_mut()
            .insert("Allow", HeaderValue::from_static("GET, HEAD, POST, PATCH"));
    }
    res
}

/// One API call: its request ID and its deadline.
#[derive(Clone, Debug)]
pub struct Call {
    pub request_id: String,
    pub deadline: Deadline,
}

impl Call {
    /// The call `req` makes of `app`: the invocation's deadline less a margin on Lambda,
    /// the app's budget elsewhere.
    pub fn new(app: &App, req: &Request) -> Self {
        let deadline = match req.lambda_context_ref() {
            Some(ctx) if ctx.deadline > 0 => {
                Deadline::for_invocation(ctx.deadline, LAMBDA_MARGIN, app.budget)
            }
            _ => Deadline::after(app.budget),
        };
        let request_id = request_id(req);
        // A caller's W3C trace (the CLI sends one, continuing its CI system's): one line
        // ties the request ID to it, so a deploy gate's call can be followed in here.
        let traced = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(vtid_model::trace::TraceParent::parse);
        if let Some(trace) = traced {
            tracing::info!(request_id = %request_id, trace_id = %trace.trace_id(), traceparent = %trace, "request traced");
        }
        Self {
            request_id,
            deadline,
        }
    }

    /// Runs a handler body until the deadline and turns its error into the API's error
    /// response, logging the cause of a 5xx once, with the request ID.
    pub async fn respond(
        &self,
        work: impl Future<Output = Result<Response<Body>, ApiError>>,
    ) -> Response<Body> {
        match self.outcome(work).await {
            Ok(res) => res,
            Err(err) => error_response(&err),
        }
    }

    /// The handler's result within the deadline, its failure logged.
    pub async fn outcome<T>(
        &self,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        // The store works to its own deadline, a little before the call's. Boxed: every
        // handler's future passes through here, and unboxed nesting grows past the
        // compiler's type depth limit in the callers.
        let scoped = Box::pin(crate::scope::within(
            self.deadline.for_store(),
            self.request_id.clone(),
            work,
        ));
        let result = match self.deadline.bound(scoped).await {
            Ok(r) => r,
            Err(Expired) => Err(ApiError::Unavailable(
                "the request's deadline passed".into(),
            )),
        };
        if let Err(err) = &result {
            self.log(err);
        }
        result
    }

    fn log(&self, err: &ApiError) {
        let cause = err.cause().unwrap_or("");
        match err.status() {
            s if s == http::StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(request_id = %self.request_id, code = err.code(), cause, "request failed")
            }
            s if s.is_server_error() => {
                tracing::error!(request_id = %self.request_id, code = err.code(), cause, "request failed")
            }
            _ => {}
        }
    }
}

pub fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// A record's version as the `ETag` header: quoted, as HTTP requires.
pub fn with_etag(mut res: Response<Body>, record: &Record) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", record.version)) {
        res.headers_mut().insert(http::header::ETAG, v);
    }
    res
}

/// The `{vtid}` path parameter as a canonical VTID.
pub fn path_vtid(req: &Request) -> Result<Vtid, ApiError> {
    let params = req.path_parameters_ref();
    let raw = params
        .and_then(|p| p.first("vtid"))
        .ok_or(ApiError::NoRoute)?;
    raw.parse()
        .map_err(|e: crate::vtid::InvalidVtid| ApiError::InvalidVtid(e.0))
}

/// The body as JSON, within `max` bytes, read strictly (`json::parse`): a key given twice
/// or a number that would change is a 400 naming the field.
pub fn json_body(req: &Request, max: usize) -> Result<Value, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > max {
        return Err(ApiError::PayloadTooLarge(max));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_payload(
            "body",
            "a JSON object is required",
        ));
    }
    json::parse(bytes).map_err(|e| match e {
        json::StrictError::Syntax { line, column } => ApiError::invalid_payload(
            "body",
            format!("is not valid JSON (line {line}, column {column})"),
        ),
        json::StrictError::Refused(detail) => ApiError::InvalidPayload(detail.into()),
    })
}

/// A header sent at most once, as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_header(name, "must be sent once"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::invalid_header(name, "must be printable ASCII"))
}

/// A page size: 1 to `max`, in plain digits (no sign, no spaces).
pub fn parse_limit(field: &str, v: &str, max: usize) -> Result<usize, ApiError> {
    let digits = !v.is_empty() && v.len() <= 4 && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<usize>() {
        Ok(l) if digits && (1..=max).contains(&l) => Ok(l),
        _ => Err(ApiError::invalid_query(
            field,
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(key) = header(req.headers(), "Idempotency-Key")? else {
        return Ok(None);
    };
    let ok = (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !ok {
        return Err(ApiError::invalid_header(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// `If-Match`: a version by the model's one rule (`"3"` or `3`); `*` means any.
pub fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(raw) = header(req.headers(), "If-Match")? else {
        return Ok(None);
    };
    raw.parse::<IfMatch>()
        .map(|m| m.version().map(|v| v.0))
        .map_err(|why| ApiError::invalid_header("If-Match", why))
}

/// What makes two requests "the same" for an idempotency key: the route and the body's
/// JSON value (key order and spacing do not matter).
pub fn fingerprint(route: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(canonical(body).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `v` as compact JSON with every object's keys sorted, whatever order serde_json's map
/// keeps (a dependency that turns on its `preserve_order` must not change a fingerprint).
/// With the default sorted map this is exactly `v.to_string()`, so stored fingerprints
/// stay valid.
fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fingerprint_ignores_key_order_and_matches_the_sorted_form() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#).unwrap();
        assert_eq!(fingerprint("create", &a), fingerprint("create", &b));
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#
        );
        assert_ne!(fingerprint("create", &a), fingerprint("batch", &a));
        let escaped = json!({"q\"uote": "\u{1}"});
        assert_eq!(canonical(&escaped), escaped.to_string());
    }
}
