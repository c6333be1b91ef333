//! The API Gateway HTTP API (payload 2.0) envelope that a direct invocation must carry:
//! the event a function expects, with the caller's IAM identity in the request context
//! (as API Gateway puts it there for a SigV4 caller), and the response it returns.

use std::collections::BTreeMap;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Call;
use crate::answer::Reply;

/// The event for `call`, from the caller `caller_arn`.
pub(crate) fn event(call: &Call, caller_arn: &str) -> Value {
    let now = chrono::Utc::now();
    let path = call.path();
    let raw_query = call.query_string();
    let mut headers = Map::new();
    headers.insert("accept".into(), "application/json".into());
    headers.insert(
        "user-agent".into(),
        concat!("vtid-client/", env!("CARGO_PKG_VERSION")).into(),
    );
    if call.body.is_some() {
        headers.insert("content-type".into(), "application/json".into());
    }
    for (k, v) in &call.headers {
        headers.insert(k.to_ascii_lowercase(), Value::String(v.clone()));
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": call.op.route_key(),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "-", "apiId": "direct", "domainName": "direct", "domainPrefix": "direct",
            "requestId": request_id, "routeKey": call.op.route_key(), "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
            "http": {"method": call.op.method().as_str(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "0.0.0.0",
                     "userAgent": concat!("vtid-client/", env!("CARGO_PKG_VERSION"))},
            "authorizer": {"iam": {"accessKey": "-", "accountId": "-", "callerId": caller_arn,
                                   "userArn": caller_arn, "userId": caller_arn}}
        },
        "isBase64Encoded": false
    });
    if let Some(v) = call.vtid {
        event["pathParameters"] = json!({"vtid": v.to_string()});
    }
    if !call.query.is_empty() {
        // API Gateway joins repeated parameters with commas; the ledger takes each once.
        let map: Map<String, Value> = call
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        event["queryStringParameters"] = Value::Object(map);
    }
    if let Some(body) = &call.body {
        event["body"] = Value::String(String::from_utf8_lossy(body).into_owned());
    }
    event
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    multi_value_headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// The function's response as a reply; `None` when it is not an API Gateway v2 response.
pub(crate) fn reply(payload: &[u8]) -> Option<Reply> {
    let res: Response = serde_json::from_slice(payload).ok()?;
    let mut headers = HeaderMap::new();
    let pairs = res.headers.iter().chain(
        res.multi_value_headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k, v))),
    );
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    let text = res.body.unwrap_or_default();
    let body = if res.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()?
    } else {
        text.into_bytes()
    };
    Some(Reply {
        status: res.status_code,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Op;

    #[test]
    fn events_carry_path_parameters_query_body_and_the_iam_caller() {
        let mut call = Call::new(Op::Get);
        call.vtid = Some("VTID-2026-0042".parse().unwrap());
        let e = event(&call, "arn:aws:iam::1:role/deployer");
        assert_eq!(e["rawPath"], "/vtid/VTID-2026-0042");
        assert_eq!(e["pathParameters"]["vtid"], "VTID-2026-0042");
        assert_eq!(e["routeKey"], "GET /vtid/{vtid}");
        assert_eq!(
            e["requestContext"]["authorizer"]["iam"]["userArn"],
            "arn:aws:iam::1:role/deployer"
        );
        let mut list = Call::new(Op::List);
        list.query = vec![("taskFamily", "a b&c".into())];
        let e = event(&list, "arn");
        assert_eq!(e["rawQueryString"], "taskFamily=a%20b%26c");
        assert_eq!(e["queryStringParameters"]["taskFamily"], "a b&c");
    }

    #[test]
    fn responses_are_read_with_their_headers_and_body() {
        let r = reply(br#"{"statusCode":201,"headers":{"etag":"\"1\""},"multiValueHeaders":{},"body":"{\"ok\":true}","isBase64Encoded":false,"cookies":[]}"#).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.headers["etag"], "\"1\"");
        assert_eq!(r.body, br#"{"ok":true}"#);
        assert!(reply(br#"{"errorMessage":"boom"}"#).is_none());
    }
}
