//! `GET /vtid/{vtid}` and `HEAD /vtid/{vtid}` (the deploy gate's existence check).

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{path_vtid, reply, request_id, respond, with_etag};
use crate::App;
use crate::error::ApiError;
use crate::identity::ReadScope;

pub async fn get(app: &App, req: Request) -> Response<Body> {
    respond(&request_id(&req), get_inner(app, &req).await)
}

async fn get_inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let record = app.store.get(vtid).await?;
    match record.filter(|r| caller.may_read(app.identity.reads, &r.tenant)) {
        Some(r) => Ok(with_etag(
            reply(StatusCode::OK, &json!({"ok": true, "data": r})),
            &r,
        )),
        None => Err(ApiError::NotFound(format!("{vtid} does not exist"))),
    }
}

pub async fn head(app: &App, req: Request) -> Response<Body> {
    let status = match head_inner(app, &req).await {
        Ok(s) => s,
        Err(e) => e.status(),
    };
    let mut res = Response::new(Body::Empty);
    *res.status_mut() = status;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert("Retry-After", http::HeaderValue::from_static("1"));
    }
    res
}

async fn head_inner(app: &App, req: &Request) -> Result<StatusCode, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let found = if app.identity.reads == ReadScope::All || caller.is_privileged() {
        // One read of the key alone.
        app.store.exists(vtid).await?
    } else {
        app.store
            .get(vtid)
            .await?
            .is_some_and(|r| caller.may_read(app.identity.reads, &r.tenant))
    };
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
