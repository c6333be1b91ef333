//! What can go wrong in a call, as values a caller can act on: the ledger's refusal with
//! its `code` and `details`, an answer from something that is not a ledger route, no
//! connection, no answer in time, or input refused before anything was sent.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One bad field, header or query value, as the ledger names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub field: String,
    pub message: String,
}

/// The ledger (or API Gateway in front of it) refused the call.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    /// The ledger's machine code (`not_found`, `invalid_payload`, ...).
    pub code: String,
    /// The ledger's sentence for a person.
    pub message: String,
    pub details: Vec<Detail>,
    /// The body as received (the ledger's error JSON, or API Gateway's `{"message"}`).
    pub body: Value,
    /// Why a token was refused (expired, wrong audience, bad signature), as far as the
    /// server says in `WWW-Authenticate`.
    pub token_problem: Option<String>,
    /// What `Retry-After` asked for.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.message, self.status, self.code)?;
        if let Some(why) = &self.token_problem {
            write!(f, "; the token was refused: {why}")?;
        }
        for d in &self.details {
            write!(f, "\n  {}: {}", d.field, d.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger answered with its error body (or API Gateway refused the call).
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// Something answered, but not as a route of a VTID ledger: an unknown route
    /// (`no_route`), API Gateway's own `{"message": ...}`, a body that is not the ledger's
    /// JSON. Most often a wrong base URL or function name.
    #[error("{target} did not answer as a VTID ledger: {why}")]
    NotALedger {
        target: String,
        status: Option<u16>,
        why: String,
    },
    /// No connection, or the connection broke before an answer came.
    #[error("cannot reach the ledger at {target}: {cause}")]
    Unreachable { target: String, cause: String },
    /// No answer within the call's time limit (retries included).
    #[error("no answer from {target} within {}", seconds(*after))]
    Timeout { target: String, after: Duration },
    /// Refused before anything was sent (a bad argument).
    #[error("{0}")]
    Invalid(String),
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// What kind of failure an error is: what a caller, or an exit code, decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The asked-for VTID does not exist (404 `not_found`).
    NotFound,
    /// The request is not valid (400, 413, or refused before sending).
    Invalid,
    /// Not authenticated or not allowed (401, 403).
    Denied,
    /// A conflict or a failed precondition (409, 412, 422).
    Conflict,
    /// The ledger cannot be reached, did not answer in time, failed (429, 5xx after the
    /// retries), or what answered is not a ledger.
    Unavailable,
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Refused(r) => match r.status {
                404 if r.code == "not_found" => Kind::NotFound,
                400 | 413 => Kind::Invalid,
                401 | 403 => Kind::Denied,
                409 | 412 | 422 => Kind::Conflict,
                _ => Kind::Unavailable,
            },
            Error::Invalid(_) => Kind::Invalid,
            Error::NotALedger { .. } | Error::Unreachable { .. } | Error::Timeout { .. } => {
                Kind::Unavailable
            }
        }
    }

    /// Whether the ledger is away for a while rather than answering: unreachable, no
    /// answer in time, 429 or a 5xx. A later call may succeed; anything else (a refusal,
    /// a server that is not the ledger) is the answer. What `vtid wait` waits through and
    /// `vtid watch` reconnects after.
    pub fn is_passing(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } => true,
            Error::Refused(r) => matches!(r.status, 429 | 500..=599),
            Error::Invalid(_) | Error::NotALedger { .. } => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == Kind::NotFound
    }

    /// The ledger's code, or this client's own for failures without an answer:
    /// `not_a_ledger`, `unreachable`, `timeout`, `invalid_input`.
    pub fn code(&self) -> &str {
        match self {
            Error::Refused(r) => &r.code,
            Error::NotALedger { .. } => "not_a_ledger",
            Error::Unreachable { .. } => "unreachable",
            Error::Timeout { .. } => "timeout",
            Error::Invalid(_) => "invalid_input",
        }
    }

    /// The error as the ledger's JSON error shape: its own body when it sent one, else
    /// `{ok: false, error, code, details: []}` with this client's code.
    pub fn to_json(&self) -> Value {
        match self {
            Error::Refused(r) if r.body.get("code").is_some() => {
                let mut body = r.body.clone();
                // What WWW-Authenticate said, which the body does not.
                if let (Some(why), Some(o)) = (&r.token_problem, body.as_object_mut()) {
                    o.insert("tokenProblem".into(), json!(why));
                }
                body
            }
            Error::Refused(r) => json!({
                "ok": false, "error": r.to_string(), "code": r.code, "details": r.details,
                "status": r.status
            }),
            other => {
                json!({"ok": false, "error": other.to_string(), "code": other.code(), "details": []})
            }
        }
    }

    /// Whether another attempt may succeed: 429 and 503 (throttling, a store briefly away).
    pub(crate) fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            Error::Refused(r) if r.status == 429 || r.status == 503 => Some(r.retry_after),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, code: &str) -> Error {
        Error::Refused(Box::new(Refusal {
            status,
            code: code.into(),
            message: "m".into(),
            details: vec![],
            body: Value::Null,
            token_problem: None,
            retry_after: None,
        }))
    }

    #[test]
    fn the_ledger_is_away_when_unreachable_slow_busy_or_failing() {
        let unreachable = Error::Unreachable {
            target: "t".into(),
            cause: "refused".into(),
        };
        let timeout = Error::Timeout {
            target: "t".into(),
            after: Duration::from_secs(1),
        };
        assert!(unreachable.is_passing() && timeout.is_passing());
        for status in [429, 500, 502, 503, 504] {
            assert!(refusal(status, "x").is_passing(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 412, 413, 422] {
            assert!(!refusal(status, "x").is_passing(), "{status}");
        }
        assert!(!Error::Invalid("bad".into()).is_passing());
    }

    #[test]
    fn kinds_follow_status_and_code() {
        assert_eq!(refusal(404, "not_found").kind(), Kind::NotFound);
        assert_eq!(refusal(404, "something_else").kind(), Kind::Unavailable);
        assert_eq!(refusal(400, "invalid_vtid").kind(), Kind::Invalid);
        assert_eq!(refusal(413, "payload_too_large").kind(), Kind::Invalid);
        assert_eq!(refusal(401, "unauthenticated").kind(), Kind::Denied);
        assert_eq!(refusal(403, "forbidden").kind(), Kind::Denied);
        for (s, c) in [
            (409, "invalid_transition"),
            (412, "version_mismatch"),
            (422, "parent_not_found"),
        ] {
            assert_eq!(refusal(s, c).kind(), Kind::Conflict);
        }
        for s in [405, 429, 500, 503] {
            assert_eq!(refusal(s, "x").kind(), Kind::Unavailable);
        }
    }

    #[test]
    fn details_and_token_problems_are_in_the_message() {
        let e = Error::Refused(Box::new(Refusal {
            status: 400,
            code: "invalid_payload".into(),
            message: "the request body is not valid: check tenant".into(),
            details: vec![Detail {
                field: "tenant".into(),
                message: "must be 1 to 64 of A-Z".into(),
            }],
            body: Value::Null,
            token_problem: Some("the token has expired".into()),
            retry_after: None,
        }));
        let text = e.to_string();
        assert!(
            text.contains("check tenant (400 invalid_payload)"),
            "{text}"
        );
        assert!(text.contains("tenant: must be 1 to 64"), "{text}");
        assert!(text.contains("the token has expired"), "{text}");
    }
}
