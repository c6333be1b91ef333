//! `GET /vtid/{vtid}/history`: the creation and every change, oldest first.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{path_vtid, reply, request_id, respond};
use crate::App;
use crate::error::ApiError;
use crate::identity::ReadScope;

pub async fn history(app: &App, req: Request) -> Response<Body> {
    respond(&request_id(&req), inner(app, &req).await)
}

async fn inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let not_found = || ApiError::NotFound(format!("{vtid} does not exist"));
    if app.identity.reads == ReadScope::OwnTenant && !caller.is_privileged() {
        let record = app.store.get(vtid).await?.ok_or_else(not_found)?;
        if !caller.may_read(app.identity.reads, &record.tenant) {
            return Err(not_found());
        }
    }
    let entries = app.store.history(vtid).await?.ok_or_else(not_found)?;
    Ok(reply(
        StatusCode::OK,
        &json!({"ok": true, "vtid": vtid, "count": entries.len(), "data": entries}),
    ))
}
