//! Every route of the API, in one table: the router, each 405's `Allow`, the `no_route`
//! message and (through `tests/template.rs`) the template's events and the fallback's
//! 405 routes all come from it.

use http::{HeaderValue, header};
use lambda_http::{Body, Response};

use crate::error::ApiError;

/// One method on one path, and who serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path as the template writes it (`{vtid}` for the parameter).
    pub path: &'static str,
    /// The function binary that serves it on AWS; `None` for `vtid serve`'s own routes.
    pub function: Option<&'static str>,
}

const fn on_aws(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function: Some(function),
    }
}

const fn local(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        path,
        function: None,
    }
}

/// The routes, fixed paths before `{vtid}` (the order the router matches them in).
pub const ROUTES: &[Route] = &[
    on_aws("POST", "/vtid/create", "vtid-create"),
    on_aws("POST", "/vtid/batch", "vtid-batch"),
    on_aws("GET", "/vtid/list", "vtid-list"),
    on_aws("GET", "/vtid/health", "vtid-health"),
    on_aws("GET", "/vtid/audit", "vtid-audit"),
    on_aws("GET", "/vtid/{vtid}", "vtid-get"),
    on_aws("HEAD", "/vtid/{vtid}", "vtid-head"),
    on_aws("PATCH", "/vtid/{vtid}", "vtid-update"),
    on_aws("GET", "/vtid/{vtid}/history", "vtid-history"),
    local("GET", "/vtid/events"),
    local("GET", "/"),
    local("HEAD", "/"),
    local("GET", "/index.html"),
    local("HEAD", "/index.html"),
    local("GET", "/ui/app.js"),
    local("HEAD", "/ui/app.js"),
    local("GET", "/ui/app.css"),
    local("HEAD", "/ui/app.css"),
];

/// The `Allow` header of `path` (as the table writes it): its methods, in table order.
pub fn allow(path: &str) -> String {
    let methods: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.method)
        .collect();
    methods.join(", ")
}

/// 405 `method_not_allowed` on `path` (as the table writes it), saying `why`, with the
/// path's `Allow`.
pub fn not_allowed(path: &str, why: String) -> Response<Body> {
    let mut res = super::error_response(&ApiError::MethodNotAllowed(why));
    if let Ok(allow) = HeaderValue::from_str(&allow(path)) {
        res.headers_mut().insert(header::ALLOW, allow);
    }
    res
}

/// The API's paths, in table order, for the `no_route` message: "a, b and c"; those
/// only `vtid serve` has (the event stream) say so.
pub fn api_paths() -> String {
    let mut paths: Vec<String> = Vec::new();
    for r in ROUTES.iter().filter(|r| r.path.starts_with("/vtid/")) {
        let named = match r.function {
            Some(_) => r.path.to_owned(),
            None => format!("{} (vtid serve only)", r.path),
        };
        if !paths.contains(&named) {
            paths.push(named);
        }
    }
    match paths.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_and_the_route_list_come_from_the_table() {
        assert_eq!(allow("/vtid/{vtid}"), "GET, HEAD, PATCH");
        assert_eq!(allow("/vtid/create"), "POST");
        assert_eq!(allow("/ui/app.js"), "GET, HEAD");
        assert_eq!(
            api_paths(),
            "/vtid/create, /vtid/batch, /vtid/list, /vtid/health, /vtid/audit, /vtid/{vtid}, /vtid/{vtid}/history and /vtid/events (vtid serve only)"
        );
    }

    #[test]
    fn every_function_serves_one_route_and_no_route_is_listed_twice() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!((a.method, a.path) != (b.method, b.path), "{a:?} twice");
                if a.function.is_some() {
                    assert_ne!(a.function, b.function, "{a:?} and {b:?}");
                }
            }
        }
    }
}
