//! The page at `/` of `vtid serve`: plain HTML, CSS and JavaScript compiled into the
//! binary (no build step), calling the same JSON API as every other client.

use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use crate::events::sse::Body;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// What the page's files may do: load only themselves and call only this server.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The page's files; `None` for every other path (the API's).
pub fn page(method: &Method, path: &str) -> Option<hyper::Response<Body>> {
    let (content, kind) = match path {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/ui/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/ui/app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    if method != Method::GET && method != Method::HEAD {
        let why = format!("{method} is not allowed on the page");
        let (parts, body) = shared::api::routes::not_allowed(path, why).into_parts();
        let bytes = Bytes::copy_from_slice(body.as_ref());
        return Some(hyper::Response::from_parts(parts, Full::new(bytes).boxed()));
    }
    let mut res = hyper::Response::new(Full::new(Bytes::from_static(content.as_bytes())).boxed());
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary: revalidate rather than keep a stale copy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(res)
}
