//! SigV4 signing for an IAM-authorized HTTP API (`execute-api`): API Gateway verifies
//! the signature and puts the caller's IAM identity into the request context, where the
//! functions read it (the caller acts as `service`).

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;
use http_body_util::Full;
use hyper::body::Bytes;

use super::Failure;
use crate::error::Error;

/// Signs each request with fresh credentials from a provider (which caches and refreshes
/// them, as a Lambda role's rotate).
#[derive(Clone)]
pub struct SigV4 {
    credentials: SharedCredentialsProvider,
    region: Arc<str>,
}

impl SigV4 {
    /// `credentials`: e.g. `aws_config::load_from_env().await.credentials_provider()`;
    /// `region`: the API's region.
    pub fn new(credentials: impl ProvideCredentials + 'static, region: impl Into<String>) -> Self {
        Self {
            credentials: SharedCredentialsProvider::new(credentials),
            region: region.into().into(),
        }
    }

    pub(crate) async fn sign(
        &self,
        req: &mut Request<Full<Bytes>>,
        body: &[u8],
    ) -> Result<(), Failure> {
        let creds = self.credentials.provide_credentials().await.map_err(|e| {
            Failure::Final(Error::Invalid(format!(
                "no AWS credentials to sign with (SigV4): {e}"
            )))
        })?;
        let identity: Identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Final(Error::Invalid(format!("cannot sign: {e}"))))?
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Failure::Final(Error::Invalid(format!("cannot sign: {e}"))))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Failure::Final(Error::Invalid(format!("cannot sign: {e}"))))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}
