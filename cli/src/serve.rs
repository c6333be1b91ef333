//! `vtid serve`: every route on one address, running the same handler code as the
//! Lambda functions. Each HTTP request becomes the `lambda_http::Request` that API
//! Gateway would deliver: path, query, headers, body, and a request context whose
//! authorizer claims carry the caller.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use shared::App;
use shared::api;
use shared::error::ApiError;
use shared::validation::MAX_BATCH_BODY_BYTES;
use tokio::net::TcpListener;

use crate::auth::{LocalAuth, claims_as_strings};
use crate::events::{Local, sse};

/// Binds `addr`. Without token checking only a loopback address is accepted.
pub async fn bind(addr: SocketAddr, auth: &LocalAuth) -> Result<TcpListener, String> {
    if matches!(auth, LocalAuth::Fixed { .. }) && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr}: without token checking every caller is the local admin, \
             so only loopback addresses (127.0.0.1, ::1) are allowed; add --jwt-hs256-secret-file to serve others"
        ));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves connections on `listener` until the process ends.
pub async fn run(listener: TcpListener, app: Arc<App>, auth: Arc<LocalAuth>, local: Arc<Local>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let (app, auth, local) = (app.clone(), auth.clone(), local.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (app, auth, local) = (app.clone(), auth.clone(), local.clone());
                async move { Ok::<_, Infallible>(handle(&app, &auth, &local, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

async fn handle(
    app: &App,
    auth: &LocalAuth,
    local: &Local,
    req: hyper::Request<Incoming>,
) -> hyper::Response<sse::Body> {
    // The page needs no identity: it holds no data and asks for a token itself.
    if let Some(page) = crate::web::page(req.method(), req.uri().path()) {
        return page;
    }
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BATCH_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return to_hyper(api::error_response(&ApiError::PayloadTooLarge(
                MAX_BATCH_BODY_BYTES,
            )));
        }
    };
    let claims = match auth {
        LocalAuth::Fixed { role_claim } => Some(HashMap::from([
            ("sub".to_owned(), "local".to_owned()),
            (role_claim.clone(), "admin".to_owned()),
        ])),
        // Health needs no identity, as on API Gateway, where its route has no authorizer.
        LocalAuth::Verify(_) if parts.uri.path() == "/vtid/health" => None,
        LocalAuth::Verify(v) => match parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|h| h.to_str())
        {
            None => None,
            Some(Ok(h)) => match v.verify(h) {
                Ok(c) => Some(claims_as_strings(&c)),
                Err(why) => {
                    tracing::info!(%why, "bearer token refused");
                    return to_hyper(api::error_response(&ApiError::Unauthenticated));
                }
            },
            Some(Err(_)) => return to_hyper(api::error_response(&ApiError::Unauthenticated)),
        },
    };
    let request = lambda_request(parts, bytes, claims);
    // Served outside `api::route`, so the request deadline does not cut the stream.
    if request.uri().path() == sse::PATH {
        return sse::serve(app, local.feed.as_ref(), request)
            .await
            .unwrap_or_else(to_hyper);
    }
    to_hyper(api::route(app, request).await)
}

/// The request API Gateway would hand a function. `claims` is what its JWT authorizer
/// verified; `None` leaves the authorizer out, as for a caller with no token.
pub fn lambda_request(
    parts: http::request::Parts,
    body: Bytes,
    claims: Option<HashMap<String, String>>,
) -> lambda_http::Request {
    let query: QueryMap = parts.uri.query().unwrap_or("").parse().unwrap_or_default();
    let mut context = json!({
        "requestId": format!("local-{:016x}", fastrand_id()),
        "http": {"method": parts.method.as_str(), "path": parts.uri.path(), "protocol": "HTTP/1.1",
                 "sourceIp": "127.0.0.1", "userAgent": ""},
        "stage": "$default",
        "timeEpoch": 0,
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": Value::Null}});
    }
    let context = serde_json::from_value(context)
        .ok()
        .map(RequestContext::ApiGatewayV2);
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::from(body.to_vec())
    };
    let req = http::Request::from_parts(parts, body).with_query_string_parameters(query);
    match context {
        Some(c) => req.with_request_context(c),
        None => req,
    }
}

fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn to_hyper(res: http::Response<Body>) -> hyper::Response<sse::Body> {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes).boxed())
}
