//! The OASIS ingest URL: one HTTP POST of the OASIS body per event, its ID as
//! `Idempotency-Key`. Used by the stream consumer on AWS and by `vtid serve`'s deliverer.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

use super::{Change, Sink, oasis_body};

/// How long one POST may take before it counts as a failure (and is sent again).
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Oasis {
    url: String,
    timeout: Duration,
    http: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
}

/// A client TLS configuration that trusts nothing, for an http:// target.
fn no_tls() -> Result<rustls::ClientConfig, String> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

impl Oasis {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let url = url.into();
        let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if uri.scheme_str() == Some("https") {
            builder
                .with_native_roots()
                .map_err(|e| format!("no TLS roots: {e}"))?
        } else {
            // A plain http:// sink never uses TLS: reading the platform's certificate
            // store would only lengthen the events function's init.
            builder.with_tls_config(no_tls()?)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Self {
            url,
            timeout: POST_TIMEOUT,
            http,
        })
    }

    /// The same target with another timeout per POST.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// POSTs an event already built (`body` is [`oasis_body`]'s); any non-2xx answer, a
    /// transport error or no answer within the timeout is a failure.
    pub async fn post(&self, event_id: &str, body: &Value) -> Result<(), String> {
        let req = http::Request::post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", event_id)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(self.timeout, self.http.request(req))
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs_f64()))?
            .map_err(|e| e.to_string())?;
        let status = res.status();
        // Read the body so the connection can be reused.
        let _ = tokio::time::timeout(self.timeout, res.into_body().collect()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

#[async_trait]
impl Sink for Oasis {
    fn name(&self) -> &'static str {
        "oasis"
    }

    async fn deliver(&self, change: &Change) -> Result<(), String> {
        self.post(&change.id, &oasis_body(change)).await
    }
}
