//! HTTP to API Gateway or `vtid serve`, with a bearer token (a JWT authorizer, or `vtid
//! serve` with token checking) or signed with SigV4 (an IAM-authorized HTTP API).

use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{Call, Failure, cause_chain};
use crate::answer::Reply;
use crate::error::Error;

/// The largest answer read: a full list page of records with the largest metadata, with room.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// How HTTP calls prove who calls.
#[derive(Clone)]
pub enum HttpAuth {
    /// No identity (the local server without token checking, or health).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// SigV4 with the caller's AWS credentials.
    #[cfg(feature = "sigv4")]
    SigV4(super::sigv4::SigV4),
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a token in a debug dump.
        f.write_str(match self {
            HttpAuth::None => "None",
            HttpAuth::Bearer(_) => "Bearer(..)",
            #[cfg(feature = "sigv4")]
            HttpAuth::SigV4(_) => "SigV4(..)",
        })
    }
}

pub struct HttpTransport {
    base: String,
    auth: HttpAuth,
    http: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpTransport {
    /// `base_url` like `https://abc.execute-api.eu-west-1.amazonaws.com` or
    /// `http://127.0.0.1:8787` (the routes are under `/vtid/` below it).
    pub fn new(base_url: &str, auth: HttpAuth) -> Result<Self, Error> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let shown = redact_url(&base);
        let uri: Uri = base
            .parse()
            .map_err(|_| Error::Invalid(format!("'{shown}' is not a URL")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Invalid(format!(
                "'{shown}' is not an http:// or https:// URL"
            )));
        }
        if uri.query().is_some() {
            return Err(Error::Invalid(format!(
                "the base URL '{shown}' must not have a query"
            )));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Invalid(format!("no TLS root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base,
            auth,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn bearer(&self) -> Option<&str> {
        match &self.auth {
            HttpAuth::Bearer(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn url(&self, call: &Call) -> String {
        format!("{}{}", self.base, call.path_and_query())
    }

    /// Where `call` goes, for messages: the URL without its password.
    pub(crate) fn shown_url(&self, call: &Call) -> String {
        redact_url(&self.url(call))
    }

    /// A base URL ending in `/vtid` doubles the prefix of every route.
    pub fn hint(&self) -> Option<&'static str> {
        self.base
            .ends_with("/vtid")
            .then_some("the base URL ends in /vtid: leave that out, the routes add it")
    }

    pub(crate) async fn send(&self, call: &Call) -> Result<Reply, Failure> {
        let url = self.url(call);
        let body = call.body.clone().unwrap_or_default();
        let mut req = Request::builder()
            .method(call.op.method())
            .uri(&url)
            .header(
                http::header::USER_AGENT,
                concat!("vtid-client/", env!("CARGO_PKG_VERSION")),
            )
            .header(http::header::ACCEPT, "application/json");
        if call.body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in &call.headers {
            let value = HeaderValue::from_str(v).map_err(|_| {
                Failure::Final(Error::Invalid(format!(
                    "{k} must be printable ASCII: '{}'",
                    vtid_model::vtid::printable(v)
                )))
            })?;
            req = req.header(*k, value);
        }
        let mut req = req
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| {
                let shown = self.shown_url(call);
                Failure::Final(Error::Invalid(format!("cannot build {shown}: {e}")))
            })?;
        match &self.auth {
            HttpAuth::None => {}
            HttpAuth::Bearer(token) => {
                let value =
                    HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                        Failure::Final(Error::Invalid("the token must be printable ASCII".into()))
                    })?;
                req.headers_mut().insert(http::header::AUTHORIZATION, value);
            }
            #[cfg(feature = "sigv4")]
            HttpAuth::SigV4(signer) => signer.sign(&mut req, &body).await?,
        }
        let res = self.http.request(req).await.map_err(|e| {
            let cause = cause_chain(&e);
            if e.is_connect() {
                Failure::NotSent(cause)
            } else {
                Failure::Lost(cause)
            }
        })?;
        let (parts, body) = res.into_parts();
        let bytes = Limited::new(body, MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| Failure::Lost(format!("the answer broke off: {e}")))?
            .to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: bytes.to_vec(),
        })
    }
}

/// `url` with the password of its user information replaced by `***`, for messages and
/// logs: a URL is printed in errors and `-v` lines, and a password must not be.
/// (`http://user:s3cret@host/x` shows as `http://user:***@host/x`.)
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user = match authority[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => authority[..at].to_owned(),
    };
    format!(
        "{}{user}@{}",
        &url[..scheme_end],
        &url[scheme_end + at + 1..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_never_shown() {
        assert_eq!(
            redact_url("http://user:s3cret@host:8787/vtid"),
            "http://user:***@host:8787/vtid"
        );
        assert_eq!(redact_url("https://a:b:c@h"), "https://a:***@h");
        assert_eq!(redact_url("http://user@host/x"), "http://user@host/x");
        assert_eq!(redact_url("http://host/x?u=a@b"), "http://host/x?u=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
