//! `PATCH /vtid/{vtid}`: a merge of the given fields, conditional on `If-Match` when sent.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{Call, if_match, json_body, path_vtid, reply, with_etag};
use crate::App;
use crate::deadline::Deadline;
use crate::error::ApiError;
use crate::store::UpdateRequest;
use crate::timestamp::Timestamp;
use crate::validation::{MAX_BODY_BYTES, parse_patch};

pub async fn update(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(inner(app, &req, call.deadline)).await
}

async fn inner(app: &App, req: &Request, deadline: Deadline) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let if_match = if_match(req)?;
    let patch = parse_patch(&json_body(req, MAX_BODY_BYTES)?).map_err(ApiError::InvalidPayload)?;
    let outcome = app
        .store_for(&caller)
        .update(UpdateRequest {
            vtid,
            patch,
            if_match,
            // Set by the view to what the caller may change.
            tenant_guard: None,
            by: caller.name.clone(),
            now: Timestamp::now(),
            deadline: deadline.for_store(),
        })
        .await?;
    let record = outcome.record;
    let body = json!({"ok": true, "vtid": vtid, "changed": outcome.changed, "data": record});
    Ok(with_etag(reply(StatusCode::OK, &body), &record))
}
