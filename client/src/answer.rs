//! Reading an answer: the ledger's success body, the ledger's refusal, API Gateway's own
//! refusal, or something that is not a ledger at all. The same rules for every transport,
//! so that a wrong URL or function name can never read as "this VTID does not exist".

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde_json::Value;

use crate::error::{Detail, Error, Refusal};

/// An answer as a transport received it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The ledger's success body (`ok: true`), or the error that the answer means.
pub fn read(target: &str, reply: Reply) -> Result<(u16, HeaderMap, Value), Error> {
    let json: Option<Value> = serde_json::from_slice(&reply.body)
        .ok()
        .filter(Value::is_object);
    let status = reply.status;
    let not_a_ledger = |why: String| Error::NotALedger {
        target: target.to_owned(),
        status: Some(status),
        why,
    };
    let refusal = |code: &str, message: String, details: Vec<Detail>, body: Value| {
        Error::Refused(Box::new(Refusal {
            status,
            code: code.to_owned(),
            message,
            details,
            body,
            token_problem: token_problem(&reply.headers),
            retry_after: retry_after(&reply.headers),
        }))
    };
    match json {
        // The ledger's own shape: `ok`, and on errors `code` and `error`.
        Some(body) if body.get("ok").is_some_and(Value::is_boolean) => {
            let ok = body["ok"].as_bool().unwrap_or(false);
            if ok && (200..300).contains(&status) {
                return Ok((status, reply.headers, body));
            }
            match (status, body["code"].as_str()) {
                (400.., Some("no_route")) => Err(not_a_ledger(format!(
                    "{status} no_route: no route of the ledger has this path; check the base URL"
                ))),
                (400.., Some(code)) => {
                    let message = body["error"].as_str().unwrap_or(code).to_owned();
                    let details = body
                        .get("details")
                        .cloned()
                        .and_then(|d| serde_json::from_value(d).ok())
                        .unwrap_or_default();
                    Err(refusal(code, message, details, body.clone()))
                }
                _ => Err(not_a_ledger(format!(
                    "answered {status} with a body the ledger never sends"
                ))),
            }
        }
        // API Gateway answers for itself with `{"message": ...}` before any function runs.
        Some(body) if body.get("message").is_some_and(Value::is_string) => {
            let said = body["message"].as_str().unwrap_or_default().to_owned();
            match status {
                401 => Err(refusal(
                    "unauthenticated",
                    format!("API Gateway refused the call: {said}"),
                    vec![],
                    body,
                )),
                403 => Err(refusal(
                    "forbidden",
                    format!("API Gateway refused the call: {said}"),
                    vec![],
                    body,
                )),
                429 => Err(refusal(
                    "too_many_requests",
                    format!("API Gateway throttled the call: {said}"),
                    vec![],
                    body,
                )),
                500.. => Err(refusal(
                    "unavailable",
                    format!("API Gateway answered {status}: {said}"),
                    vec![],
                    body,
                )),
                404 => Err(not_a_ledger(format!(
                    "404 {{\"message\": \"{said}\"}} is API Gateway's own answer: no route for this path; check the base URL"
                ))),
                _ => Err(not_a_ledger(format!(
                    "answered {status} {{\"message\": \"{said}\"}}, not the ledger's JSON"
                ))),
            }
        }
        // No JSON: identity and throttling refusals still mean what their status says.
        _ => {
            let what = if reply.body.is_empty() {
                "an empty body".to_owned()
            } else {
                "a body that is not the ledger's JSON".to_owned()
            };
            match status {
                401 => Err(refusal(
                    "unauthenticated",
                    format!("refused with 401 and {what}"),
                    vec![],
                    Value::Null,
                )),
                403 => Err(refusal(
                    "forbidden",
                    format!("refused with 403 and {what}"),
                    vec![],
                    Value::Null,
                )),
                429 | 503 => Err(refusal(
                    "unavailable",
                    format!("answered {status} with {what}"),
                    vec![],
                    Value::Null,
                )),
                _ => Err(not_a_ledger(format!("answered {status} with {what}"))),
            }
        }
    }
}

/// `error_description` (else `error`) of a `WWW-Authenticate: Bearer ...` header, as API
/// Gateway's JWT authorizer and `vtid serve` send it.
fn token_problem(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::WWW_AUTHENTICATE)?.to_str().ok()?;
    let param = |name: &str| {
        let start = value.find(&format!("{name}=\""))? + name.len() + 2;
        let len = value[start..].find('"')?;
        Some(value[start..start + len].to_owned()).filter(|s| !s.is_empty())
    };
    param("error_description").or_else(|| param("error"))
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Reply {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn err(r: Reply) -> Error {
        read("http://x", r).unwrap_err()
    }

    #[test]
    fn the_ledgers_bodies() {
        let (status, _, body) =
            read("http://x", reply(200, &[], r#"{"ok":true,"data":{}}"#)).unwrap();
        assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
        let e = err(reply(
            400,
            &[],
            r#"{"ok":false,"error":"bad: check tenant","code":"invalid_payload","details":[{"field":"tenant","message":"too long"}]}"#,
        ));
        let Error::Refused(r) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(r.details[0].field, "tenant");
        assert_eq!(e.kind(), Kind::Invalid);
        assert_eq!(e.to_json()["code"], "invalid_payload");
        let missing = err(reply(
            404,
            &[],
            r#"{"ok":false,"error":"VTID-2026-0001 does not exist","code":"not_found","details":[]}"#,
        ));
        assert_eq!(missing.kind(), Kind::NotFound);
    }

    #[test]
    fn what_is_not_a_ledger_never_reads_as_not_found() {
        for r in [
            reply(
                404,
                &[],
                r#"{"ok":false,"error":"no","code":"no_route","details":[]}"#,
            ),
            reply(404, &[], r#"{"message":"Not Found"}"#),
            reply(404, &[("content-type", "text/html")], "<h1>Not Found</h1>"),
            reply(404, &[], ""),
            reply(200, &[], "<html>a login page</html>"),
            reply(200, &[], r#"{"data":{}}"#),
        ] {
            let e = err(r);
            assert!(matches!(e, Error::NotALedger { .. }), "{e:?}");
            assert_eq!(e.kind(), Kind::Unavailable);
        }
    }

    #[test]
    fn api_gateways_own_refusals_keep_their_meaning() {
        let e = err(reply(
            401,
            &[(
                "www-authenticate",
                r#"Bearer scope="" error="invalid_token" error_description="the token has expired""#,
            )],
            r#"{"message":"Unauthorized"}"#,
        ));
        assert_eq!(e.kind(), Kind::Denied);
        assert!(e.to_string().contains("the token has expired"), "{e}");
        let e = err(reply(
            429,
            &[("retry-after", "3")],
            r#"{"message":"Too Many Requests"}"#,
        ));
        assert_eq!(e.retry_hint(), Some(Some(Duration::from_secs(3))));
        let e = err(reply(503, &[], "Service Unavailable"));
        assert_eq!(e.retry_hint(), Some(None));
        assert_eq!(err(reply(500, &[], "")).retry_hint(), None);
    }
}
