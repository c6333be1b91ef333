//! Method and path to handler, for the local server and the catch-all function. The
//! fixed routes are matched before `{vtid}`, so `/vtid/list` and `/vtid/health` can
//! never be read as a VTID.

use http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::percent_decode_str;

use super::{error_response, routes};
use crate::App;
use crate::error::ApiError;

enum Route {
    Create,
    Batch,
    List,
    Health,
    Audit,
    Record(String),
    History(String),
}

fn match_path(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/vtid/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    Some(match segments.as_slice() {
        ["create"] => Route::Create,
        ["batch"] => Route::Batch,
        ["list"] => Route::List,
        ["health"] => Route::Health,
        ["audit"] => Route::Audit,
        [v] if !v.is_empty() => Route::Record(decode(v)),
        [v, "history"] if !v.is_empty() => Route::History(decode(v)),
        _ => return None,
    })
}

impl Route {
    /// The path as the route table writes it.
    fn pattern(&self) -> &'static str {
        match self {
            Route::Create => "/vtid/create",
            Route::Batch => "/vtid/batch",
            Route::List => "/vtid/list",
            Route::Health => "/vtid/health",
            Route::Audit => "/vtid/audit",
            Route::Record(_) => "/vtid/{vtid}",
            Route::History(_) => "/vtid/{vtid}/history",
        }
    }
}

fn not_allowed(route: &Route, method: &Method) -> Response<Body> {
    let why = if *method == Method::DELETE {
        "the ledger is an immutable audit trail: records are never deleted; set status cancelled or isTest instead"
            .to_owned()
    } else {
        format!("{method} is not allowed on this path")
    };
    routes::not_allowed(route.pattern(), why)
}

fn no_route() -> Response<Body> {
    error_response(&ApiError::NoRoute)
}

fn with_vtid(req: Request, vtid: String) -> Request {
    req.with_path_parameters(std::collections::HashMap::from([("vtid".to_owned(), vtid)]))
}

/// A HEAD answer carries the status and headers of the GET it stands for, never a body
/// (RFC 9110 9.3.2), whatever produced it: the handler, a 405 or a `no_route`.
fn for_method(method: &Method, res: Response<Body>) -> Response<Body> {
    if *method != Method::HEAD {
        return res;
    }
    let (parts, _) = res.into_parts();
    Response::from_parts(parts, Body::Empty)
}

/// Serves every route of the API from one process (the local server).
pub async fn route(app: &App, req: Request) -> Response<Body> {
    let method = req.method().clone();
    for_method(&method, dispatch(app, req).await)
}

async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let Some(route) = match_path(req.uri().path()) else {
        return no_route();
    };
    let method = req.method().clone();
    match (route, method) {
        (Route::Create, Method::POST) => super::create(app, req).await,
        (Route::Batch, Method::POST) => super::batch(app, req).await,
        (Route::List, Method::GET) => super::list(app, req).await,
        (Route::Health, Method::GET) => super::health(app, req).await,
        (Route::Audit, Method::GET) => super::audit(app, req).await,
        (Route::Record(v), Method::GET) => super::get(app, with_vtid(req, v)).await,
        (Route::Record(v), Method::HEAD) => super::head(app, with_vtid(req, v)).await,
        (Route::Record(v), Method::PATCH) => super::update(app, with_vtid(req, v)).await,
        (Route::History(v), Method::GET) => super::history(app, with_vtid(req, v)).await,
        (route, m) => not_allowed(&route, &m),
    }
}

/// The catch-all function behind API Gateway's remaining routes: 405 for a known path
/// with another method (DELETE above all), 404 `no_route` for anything else. Touches no store.
pub async fn fallback(req: Request) -> Response<Body> {
    let res = match match_path(req.uri().path()) {
        Some(route) => not_allowed(&route, req.method()),
        None => no_route(),
    };
    for_method(req.method(), res)
}
