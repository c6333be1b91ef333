//! The API's errors as values: each knows its status, its machine `code` and its
//! sentence for a person. Internal causes are logged, never put in a body.

use http::StatusCode;
use serde::Serialize;

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

/// What `Retry-After` says on a 503 or a 409 `idempotency_in_progress`.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid")]
    InvalidPayload(Vec<Detail>),
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
    #[error("{0}")]
    MethodNotAllowed(String),
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
    #[error("parent VTID {0} does not exist")]
    ParentNotFound(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The store is throttled, unreachable or too slow for the request's deadline. The
    /// text is the cause, for the log only.
    #[error("the ledger's store is not reachable right now; retry shortly")]
    Unavailable(String),
    /// A bug. The text is the cause, for the log only.
    #[error("an internal error occurred; it has been logged")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidPayload(_)
            | ApiError::InvalidVtid(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidCursor => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidTransition(_)
            | ApiError::IdempotencyConflict
            | ApiError::IdempotencyInProgress => StatusCode::CONFLICT,
            ApiError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::ParentNotFound(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidPayload(_) => "invalid_payload",
            ApiError::InvalidVtid(_) => "invalid_vtid",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::InvalidTransition(_) => "invalid_transition",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::IdempotencyInProgress => "idempotency_in_progress",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::ParentNotFound(_) => "parent_not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn details(&self) -> Vec<Detail> {
        match self {
            ApiError::InvalidPayload(d) | ApiError::InvalidQuery(d) => d.clone(),
            ApiError::InvalidVtid(m) => vec![Detail::new("vtid", m.clone())],
            ApiError::InvalidTransition(t) => vec![Detail::new(
                "status",
                format!("{} cannot move to {}", t.from, t.to),
            )],
            ApiError::ParentNotFound(v) => {
                vec![Detail::new("parentVtid", format!("{v} does not exist"))]
            }
            _ => Vec::new(),
        }
    }

    /// The sentence for a person; for a list of bad fields it names them.
    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidPayload(d) | ApiError::InvalidQuery(d) if !d.is_empty() => {
                let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
                format!("{}: check {}", self, fields.join(", "))
            }
            _ => self.to_string(),
        }
    }

    /// Seconds a caller should wait before trying again, for the answers worth retrying.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable(_) | ApiError::IdempotencyInProgress => Some(RETRY_AFTER_SECONDS),
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
        ApiError::InvalidPayload(vec![Detail::new(field, message)])
    }

    pub fn invalid_query(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidQuery(vec![Detail::new(field, message)])
    }
}

impl From<InvalidTransition> for ApiError {
    fn from(t: InvalidTransition) -> Self {
        ApiError::InvalidTransition(t)
    }
}
