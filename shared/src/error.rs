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
    /// No route of the API has this path: a wrong base URL, not a missing VTID.
    #[error(
        "there is no such route: the ledger's routes are /vtid/create, /vtid/batch, /vtid/list, /vtid/health, /vtid/audit and /vtid/{{vtid}}[/history]; check the base URL"
    )]
    NoRoute,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    InvalidTransition(InvalidTransition),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyConflict,
    #[error("the record is at version {current}, not the version given in If-Match")]
    VersionMismatch { current: u64 },
    #[error("parent VTID {0} does not exist")]
    ParentNotFound(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the ledger's store is not reachable right now; retry shortly")]
    Unavailable,
    #[error("an internal error occurred; it has been logged")]
    Internal,
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
            ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidTransition(_) | ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::ParentNotFound(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::InvalidTransition(_) => "invalid_transition",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::ParentNotFound(_) => "parent_not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
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
