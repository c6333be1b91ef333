//! `PATCH /vtid/{vtid}`: a merge of the given fields, conditional on `If-Match` when sent.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{if_match, json_body, path_vtid, reply, request_id, respond, with_etag};
use crate::App;
use crate::error::ApiError;
use crate::store::UpdateRequest;
use crate::timestamp::Timestamp;
use crate::validation::{MAX_BODY_BYTES, parse_patch};

pub async fn update(app: &App, req: Request) -> Response<Body> {
    respond(&request_id(&req), inner(app, &req).await)
}

async fn inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let if_match = if_match(req)?;
    let patch = parse_patch(&json_body(req, MAX_BODY_BYTES)?).map_err(ApiError::InvalidPayload)?;
    let outcome = app
        .store
        .update(UpdateRequest {
            vtid,
            patch,
            if_match,
            tenant_guard: caller.update_guard(),
            by: caller.name.clone(),
            now: Timestamp::now(),
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::NotFound(format!("{vtid} does not exist"))
            }
            other => other.into(),
        })?;
    let record = outcome.record;
    let body = json!({"ok": true, "vtid": vtid, "changed": outcome.changed, "data": record});
    Ok(with_etag(reply(StatusCode::OK, &body), &record))
}
