//! The API's errors as values: each knows its status, its machine `code` and its
//! sentence for a person. Internal causes are logged, never put in a body.

use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::lifecycle::InvalidTransition;

/// One bad field, header or query value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub field: String,
    pub message: String,
}

impl Detail {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The most `details` an error body lists; the rest are counted (`detailsOmitted`).
pub const MAX_DETAILS: usize = 20;
/// The largest error body, in bytes. A body that would be larger lists fewer details.
pub const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;
/// Longest `field` and `message` of a detail, and longest `error`, in characters.
const MAX_FIELD_CHARS: usize = 100;
const MAX_MESSAGE_CHARS: usize = 400;
const MAX_SENTENCE_CHARS: usize = 1000;
/// How many fields the `error` sentence names before "and N more".
const MAX_NAMED_FIELDS: usize = 5;

/// The problems of one request: the first [`MAX_DETAILS`] kept, the rest only counted,
/// so that a body of many bad fields costs a bounded answer and bounded memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    shown: Vec<Detail>,
    omitted: usize,
    /// Notes already given once in this answer (e.g. the list of known fields).
    noted: Vec<&'static str>,
}

impl Details {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a problem; past [`MAX_DETAILS`] only counts it (and builds nothing).
    pub fn push_with(&mut self, detail: impl FnOnce() -> Detail) {
        if self.shown.len() < MAX_DETAILS {
            let Detail { field, message } = detail();
            self.shown.push(Detail {
                field: cut(field, MAX_FIELD_CHARS),
                message: cut(message, MAX_MESSAGE_CHARS),
            });
        } else {
            self.omitted += 1;
        }
    }

    pub fn push(&mut self, detail: Detail) {
        self.push_with(|| detail);
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push_with(|| Detail::new(field, message));
    }

    /// True the first time `note` is asked for in this answer, false after: for text
    /// worth saying once, not once per detail.
    pub fn first_time(&mut self, note: &'static str) -> bool {
        if self.noted.contains(&note) {
            return false;
        }
        self.noted.push(note);
        true
    }

    /// True when a further problem would only be counted.
    pub fn is_full(&self) -> bool {
        self.shown.len() >= MAX_DETAILS
    }

    /// How many problems there are, listed or not.
    pub fn len(&self) -> usize {
        self.shown.len() + self.omitted
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The problems that are listed.
    pub fn iter(&self) -> std::slice::Iter<'_, Detail> {
        self.shown.iter()
    }

    /// How many problems are counted but not listed.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    pub fn extend(&mut self, other: Details) {
        for d in other.shown {
            self.push(d);
        }
        self.omitted += other.omitted;
        for n in other.noted {
            self.first_time(n);
        }
    }

    /// Drops the last listed detail, counting it instead (to fit the body limit).
    fn drop_last(&mut self) -> bool {
        match self.shown.pop() {
            Some(_) => {
                self.omitted += 1;
                true
            }
            None => false,
        }
    }
}

impl From<Vec<Detail>> for Details {
    fn from(list: Vec<Detail>) -> Self {
        let mut d = Details::new();
        for detail in list {
            d.push(detail);
        }
        d
    }
}

impl From<Detail> for Details {
    fn from(detail: Detail) -> Self {
        Details::from(vec![detail])
    }
}

impl<'a> IntoIterator for &'a Details {
    type Item = &'a Detail;
    type IntoIter = std::slice::Iter<'a, Detail>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `s` cut to `max` characters, marked with an ellipsis when cut.
fn cut(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push('…');
    }
    s
}

/// What `Retry-After` says on a 503 or a 409 `idempotency_in_progress`.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid")]
    InvalidPayload(Details),
    /// A header the API reads (`Idempotency-Key`, `If-Match`, `Authorization`) is bad.
    /// Its code stays `invalid_payload`, as for the body, for the callers that match on it.
    #[error("the {} header is not valid: {}", .0.field, .0.message)]
    InvalidHeader(Detail),
    /// The HTTP request itself is malformed (the local server's HTTP layer).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidVtid(String),
    #[error("the query is not valid")]
    InvalidQuery(Vec<Detail>),
    #[error("the cursor is not valid for this query; start again without it")]
    InvalidCursor,
    #[error("this call needs an authenticated caller")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// No route of the API has this path: a wrong base URL, not a missing VTID.
    #[error(
        "there is no such route: the ledger's routes are {}; check the base URL",
        crate::api::routes::api_paths()
    )]
    NoRoute,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the request was not received in time; send it again")]
    RequestTimeout,
    #[error("{0}")]
    InvalidTransition(InvalidTransition),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyConflict,
    #[error(
        "a request with this Idempotency-Key is still in progress; retry shortly to get its result"
    )]
    IdempotencyInProgress,
    #[error("the record is at version {current}, not the version given in If-Match")]
    VersionMismatch { current: u64 },
    /// `field` names where the parent was given: `parentVtid`, or `items[i].parentVtid`.
    #[error("parent VTID {vtid} does not exist")]
    ParentNotFound { vtid: String, field: String },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request target (path and query) is longer than {0} bytes")]
    UriTooLong(usize),
    #[error("the request's headers are too large: at most {count} headers of {bytes} bytes in all")]
    HeadersTooLarge { bytes: usize, count: usize },
    /// The store is throttled, unreachable or too slow for the request's deadline. The
    /// text is the cause, for the log only.
    #[error("the ledger's store did not answer in time or is failing; retry shortly")]
    Unavailable(String),
    /// The server is serving as much of something as it takes (connections, event
    /// streams): 503 `unavailable` with `Retry-After`, and a sentence that says what.
    #[error("{0}")]
    Full(String),
    /// A bug. The text is the cause, for the log only.
    #[error("an internal error occurred; it has been logged")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidPayload(_)
            | ApiError::InvalidHeader(_)
            | ApiError::InvalidRequest(_)
            | ApiError::InvalidVtid(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidCursor => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::InvalidTransition(_)
            | ApiError::IdempotencyConflict
            | ApiError::IdempotencyInProgress => StatusCode::CONFLICT,
            ApiError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::ParentNotFound { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unavailable(_) | ApiError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidPayload(_) | ApiError::InvalidHeader(_) => "invalid_payload",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidVtid(_) => "invalid_vtid",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::InvalidTransition(_) => "invalid_transition",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::IdempotencyInProgress => "idempotency_in_progress",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::ParentNotFound { .. } => "parent_not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UriTooLong(_) => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::Unavailable(_) | ApiError::Full(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The problems to list, at most [`MAX_DETAILS`] of them.
    pub fn details(&self) -> Details {
        match self {
            ApiError::InvalidPayload(d) => d.clone(),
            ApiError::InvalidQuery(d) => Details::from(d.clone()),
            ApiError::InvalidHeader(d) => Details::from(d.clone()),
            ApiError::InvalidVtid(m) => Detail::new("vtid", m.clone()).into(),
            ApiError::InvalidTransition(t) => {
                Detail::new("status", format!("{} cannot move to {}", t.from, t.to)).into()
            }
            ApiError::ParentNotFound { vtid, field } => {
                Detail::new(field.clone(), format!("{vtid} does not exist")).into()
            }
            _ => Details::new(),
        }
    }

    /// The sentence for a person; for a list of bad fields it names the first few.
    pub fn message(&self) -> String {
        let sentence = match self {
            ApiError::InvalidPayload(_) | ApiError::InvalidQuery(_) => {
                let details = self.details();
                let named: Vec<&str> = details
                    .iter()
                    .take(MAX_NAMED_FIELDS)
                    .map(|d| d.field.as_str())
                    .collect();
                let more = details.len() - named.len();
                match (named.is_empty(), more) {
                    (true, _) => self.to_string(),
                    (false, 0) => format!("{}: check {}", self, named.join(", ")),
                    (false, n) => format!("{}: check {} and {n} more", self, named.join(", ")),
                }
            }
            _ => self.to_string(),
        };
        cut(sentence, MAX_SENTENCE_CHARS)
    }

    /// The error body of docs/api.md's "Errors", never larger than [`MAX_ERROR_BODY_BYTES`]:
    /// `details` lists at most [`MAX_DETAILS`] problems, and `detailsOmitted` counts the
    /// rest when there are more.
    pub fn body(&self) -> Value {
        let mut details = self.details();
        loop {
            let mut body = json!({
                "ok": false,
                "error": self.message(),
                "code": self.code(),
                "details": details.iter().collect::<Vec<_>>(),
            });
            if details.omitted() > 0 {
                body["detailsOmitted"] = json!(details.omitted());
            }
            if body.to_string().len() <= MAX_ERROR_BODY_BYTES || !details.drop_last() {
                return body;
            }
        }
    }

    /// Seconds a caller should wait before trying again, for the answers worth retrying.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable(_) | ApiError::Full(_) | ApiError::IdempotencyInProgress => {
                Some(RETRY_AFTER_SECONDS)
            }
            _ => None,
        }
    }

    /// The internal cause behind a 5xx, for the log.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Unavailable(c) | ApiError::Internal(c) => Some(c),
            _ => None,
        }
    }

    pub fn invalid_payload(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidPayload(Detail::new(field, message).into())
    }

    /// A missing parent given in a create body's `parentVtid`.
    pub fn parent_not_found(vtid: impl ToString) -> Self {
        ApiError::ParentNotFound {
            vtid: vtid.to_string(),
            field: "parentVtid".into(),
        }
    }

    pub fn invalid_query(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidQuery(vec![Detail::new(field, message)])
    }

    pub fn invalid_header(name: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidHeader(Detail::new(name, message))
    }
}

impl From<InvalidTransition> for ApiError {
    fn from(t: InvalidTransition) -> Self {
        ApiError::InvalidTransition(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_past_the_limit_are_counted_not_kept() {
        let mut d = Details::new();
        let mut built = 0;
        for i in 0..1000 {
            d.push_with(|| {
                built += 1;
                Detail::new(format!("f{i}"), "bad")
            });
        }
        assert_eq!(
            (d.iter().count(), d.omitted(), d.len()),
            (MAX_DETAILS, 980, 1000)
        );
        assert_eq!(built, MAX_DETAILS, "details past the limit are never built");
        let err = ApiError::InvalidPayload(d);
        let body = err.body();
        assert_eq!(body["details"].as_array().map(Vec::len), Some(MAX_DETAILS));
        assert_eq!(body["detailsOmitted"], 980);
        assert_eq!(
            body["error"],
            "the request body is not valid: check f0, f1, f2, f3, f4 and 995 more"
        );
    }

    #[test]
    fn an_error_body_never_passes_its_size_limit() {
        // Long fields and messages of four-byte characters: cut, then details dropped to fit.
        let mut d = Details::new();
        for _ in 0..50 {
            d.add("𝄞".repeat(500), "𝄞".repeat(5000));
        }
        let body = ApiError::InvalidPayload(d).body();
        let text = body.to_string();
        assert!(text.len() <= MAX_ERROR_BODY_BYTES, "{} bytes", text.len());
        let listed = body["details"].as_array().map(Vec::len).unwrap_or(0);
        assert!(listed >= 1, "at least one detail still fits");
        assert_eq!(body["detailsOmitted"], 50 - listed);
        assert!(body["details"][0]["field"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn header_errors_name_the_header_not_the_body() {
        let err = ApiError::invalid_header("If-Match", "must be a version such as \"3\"");
        assert_eq!(err.code(), "invalid_payload");
        assert_eq!(
            err.message(),
            "the If-Match header is not valid: must be a version such as \"3\""
        );
        assert_eq!(err.body()["details"][0]["field"], "If-Match");
    }

    #[test]
    fn notes_are_said_once_across_merged_details() {
        let mut a = Details::new();
        assert!(a.first_time("known"));
        let mut b = Details::new();
        b.extend(a);
        assert!(!b.first_time("known"));
    }
}
