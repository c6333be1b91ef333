//! `GET /vtid/{vtid}` and `HEAD /vtid/{vtid}` (the deploy gate's existence check).

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{Call, ErrorCode, path_vtid, reply, with_etag};
use crate::App;
use crate::access::absent;
use crate::error::ApiError;

pub async fn get(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(get_inner(app, &req)).await
}

async fn get_inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    match app.store_for(&caller).get(vtid).await? {
        Some(r) => Ok(with_etag(
            reply(StatusCode::OK, &json!({"ok": true, "data": r})),
            &r,
        )),
        None => Err(absent(vtid)),
    }
}

/// HEAD answers with a status and no body; a 503 still says when to retry.
pub async fn head(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    let mut res = Response::new(Body::Empty);
    match call.outcome(head_inner(app, &req)).await {
        Ok(status) => *res.status_mut() = status,
        Err(e) => {
            *res.status_mut() = e.status();
            res.extensions_mut().insert(ErrorCode(e.code()));
            if let Some(seconds) = e.retry_after() {
                res.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            }
        }
    }
    res
}

async fn head_inner(app: &App, req: &Request) -> Result<StatusCode, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let found = app.store_for(&caller).exists(vtid).await?;
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
