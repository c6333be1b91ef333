//! `GET /vtid/health`: touches the store for real; needs no identity.

use std::time::{Duration, Instant};

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::{Call, SERVICE, error_response, reply};
use crate::App;
use crate::error::ApiError;
use crate::events::Delivery;
use crate::timestamp::Timestamp;

const STORE_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn health(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    let started = Instant::now();
    let limit = STORE_TIMEOUT.min(call.deadline.remaining());
    let ping = tokio::time::timeout(limit, app.ping()).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let timestamp = Timestamp::now();
    match ping {
        Ok(Ok(())) => {
            let mut checks = json!({"store": {"ok": true, "latencyMs": latency_ms}});
            if let Some(gate) = &app.gate {
                checks["store"]["gate"] = json!(gate.load());
            }
            if let Some(events) = &app.events {
                checks["events"] = events_check(events.as_ref(), &call).await;
            }
            reply(
                StatusCode::OK,
                &json!({"ok": true, "service": SERVICE, "timestamp": timestamp, "checks": checks}),
            )
        }
        failed => {
            let cause = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", limit.as_millis()),
            };
            tracing::warn!(request_id = %call.request_id, %cause, "health check: store unreachable");
            let err = ApiError::Unavailable(cause);
            let mut res = error_response(&err);
            *res.body_mut() = Body::from(
                json!({
                    "ok": false, "service": SERVICE, "timestamp": timestamp,
                    "checks": {"store": {"ok": false, "latencyMs": latency_ms}},
                    "error": err.message(), "code": err.code(), "details": []
                })
                .to_string(),
            );
            res
        }
    }
}

/// Where the ledger delivers events itself: the webhook's backlog and its dead letters.
/// A failed read says `ok: false`; the store's own check decides the status code.
async fn events_check(events: &dyn Delivery, call: &Call) -> Value {
    let limit = STORE_TIMEOUT.min(call.deadline.remaining());
    match tokio::time::timeout(limit, events.backlog()).await {
        Ok(Ok(backlog)) => {
            let mut check = json!(backlog);
            check["ok"] = json!(true);
            check
        }
        failed => {
            let cause = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", limit.as_millis()),
            };
            tracing::warn!(request_id = %call.request_id, %cause, "health check: event backlog unreadable");
            json!({"ok": false})
        }
    }
}
