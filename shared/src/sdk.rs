//! The AWS SDK configuration the Lambda functions load.
//!
//! The SDK's default HTTPS client trusts the platform's certificate store, which it reads
//! and parses whole while the client is built: on a Debian host that is some 290 files and
//! 8 ms, more than the rest of a function's init together. A function only ever talks to
//! AWS endpoints (DynamoDB, EventBridge), whose certificates chain to the Amazon Trust
//! Services roots, so it trusts those five roots, compiled in. Where the environment
//! points the SDK at another HTTPS endpoint (an `AWS_ENDPOINT_URL*` variable with an
//! `https://` URL) or a proxy, the default client and the platform store stay, since that
//! endpoint may use any CA; a plain `http://` endpoint (moto, the benchmark) never uses TLS.

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Amazon Root CA 1-4 and Starfield Services Root CA G2, PEM.
const AMAZON_ROOTS: &str = include_str!("sdk/amazon-roots.pem");

/// Proxy variables: the SDK's TLS then ends at a proxy that may use any CA.
const PROXIES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// `aws_config::load_from_env()`, with the Amazon roots as the only trust anchors unless
/// the environment names another endpoint or a proxy.
pub async fn load_from_env() -> SdkConfig {
    let loader = aws_config::from_env();
    let set = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    if elsewhere(set) {
        return loader.load().await;
    }
    with_amazon_roots(loader).load().await
}

/// Whether the variables set (name, value) may send the SDK over TLS to a non-AWS endpoint.
fn elsewhere(mut set: impl Iterator<Item = (String, String)>) -> bool {
    set.any(|(name, value)| {
        PROXIES.contains(&name.as_str())
            || (name.starts_with("AWS_ENDPOINT_URL")
                && !value.trim().to_ascii_lowercase().starts_with("http://"))
    })
}

/// The SDK's own hyper and rustls (aws-lc) client, trusting only the Amazon roots.
fn with_amazon_roots(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_ROOTS.as_bytes());
    let context = TlsContext::builder().with_trust_store(trust).build();
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match context {
        Ok(context) => loader.http_client(builder.tls_context(context).build_https()),
        // Building a context from a trust store cannot fail today; if it ever does, the
        // SDK's default client (the platform store) is the safe fallback.
        Err(_) => loader,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rustls_pki_types::{CertificateDer, pem::PemObject};

    #[test]
    fn the_compiled_in_roots_are_five_certificates_rustls_accepts_as_anchors() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the compiled-in PEM parses");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    fn vars(set: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        let set: Vec<_> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        set.into_iter()
    }

    #[test]
    fn an_https_endpoint_or_a_proxy_keeps_the_platform_store() {
        assert!(elsewhere(vars(&[
            ("PATH", "/bin"),
            ("AWS_ENDPOINT_URL", "https://ddb.corp")
        ])));
        assert!(elsewhere(vars(&[(
            "AWS_ENDPOINT_URL_DYNAMODB",
            "https://localhost:4566"
        )])));
        assert!(elsewhere(vars(&[("HTTPS_PROXY", "http://proxy:3128")])));
    }

    #[test]
    fn lambda_on_aws_or_a_plain_http_endpoint_trusts_the_amazon_roots() {
        let lambda = [
            ("PATH", "/bin"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ];
        assert!(!elsewhere(vars(&lambda)));
        assert!(!elsewhere(vars(&[(
            "AWS_ENDPOINT_URL_DYNAMODB",
            "http://127.0.0.1:8000"
        )])));
    }
}
