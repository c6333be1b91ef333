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
//!
//! **Bench and test setting, never for production:** `VTID_TEST_CA_FILE`, the path of a
//! PEM file of test CA certificates. It is read only when an `AWS_ENDPOINT_URL*` variable
//! names an `https://` endpoint (so never when the endpoint is AWS's, nor behind a proxy),
//! and then the function keeps the client it has on AWS, the five Amazon roots, and trusts
//! that file's certificates too, instead of falling back to the platform store.
//! `scripts/bench-cold` uses it to serve the store over TLS on loopback, with a CA made
//! at run time, so that the TLS handshake of a cold start is measured on the production
//! client. Without the variable, or on AWS, nothing changes.

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Amazon Root CA 1-4 and Starfield Services Root CA G2, PEM.
const AMAZON_ROOTS: &str = include_str!("sdk/amazon-roots.pem");

/// Proxy variables: the SDK's TLS then ends at a proxy that may use any CA.
const PROXIES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// The bench and test setting of the module's documentation: a PEM file of test CAs,
/// trusted besides the Amazon roots for an `https://` endpoint override only.
const TEST_CA_FILE: &str = "VTID_TEST_CA_FILE";

/// Which certificates the SDK's HTTPS client trusts.
#[derive(Debug, PartialEq, Eq)]
enum Trust {
    /// The SDK's default client: the platform's store (another endpoint, or a proxy).
    Platform,
    /// Only the five compiled-in Amazon roots: Lambda on AWS, or a plain `http://` endpoint.
    AmazonRoots,
    /// The Amazon roots and the PEM file named by `VTID_TEST_CA_FILE` (bench, tests).
    AmazonRootsAndTestCa(String),
}

/// `aws_config::load_from_env()`, with the Amazon roots as the only trust anchors unless
/// the environment names another endpoint or a proxy.
pub async fn load_from_env() -> SdkConfig {
    let loader = aws_config::from_env();
    let set = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let extra = match trust(set) {
        Trust::Platform => return loader.load().await,
        Trust::AmazonRoots => None,
        Trust::AmazonRootsAndTestCa(path) => match std::fs::read(&path) {
            Ok(pem) => Some(pem),
            // A bench or test asked for this file: failing loudly beats a TLS error later.
            Err(e) => panic!("{TEST_CA_FILE}={path}: {e}"),
        },
    };
    with_roots(loader, anchors(extra.as_deref())).load().await
}

/// The trust the variables set (name, value) call for.
fn trust(set: impl Iterator<Item = (String, String)>) -> Trust {
    let (mut proxy, mut https_endpoint, mut test_ca) = (false, false, None);
    for (name, value) in set {
        if PROXIES.contains(&name.as_str()) {
            proxy = true;
        } else if name.starts_with("AWS_ENDPOINT_URL") {
            https_endpoint |= !value.trim().to_ascii_lowercase().starts_with("http://");
        } else if name == TEST_CA_FILE && !value.trim().is_empty() {
            test_ca = Some(value);
        }
    }
    match (proxy, https_endpoint, test_ca) {
        (true, _, _) => Trust::Platform,
        (false, true, Some(path)) => Trust::AmazonRootsAndTestCa(path),
        (false, true, None) => Trust::Platform,
        // The endpoint is AWS's (or plain HTTP): the test CA is never read.
        (false, false, _) => Trust::AmazonRoots,
    }
}

/// The trust anchors, PEM: the Amazon roots, then the test CAs if any.
fn anchors(test_ca: Option<&[u8]>) -> Vec<u8> {
    let mut pem = AMAZON_ROOTS.as_bytes().to_vec();
    if let Some(extra) = test_ca {
        pem.push(b'\n');
        pem.extend_from_slice(extra);
    }
    pem
}

/// The SDK's own hyper and rustls (aws-lc) client, trusting only the anchors given.
fn with_roots(loader: aws_config::ConfigLoader, pem: Vec<u8>) -> aws_config::ConfigLoader {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem);
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

    fn certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("the PEM parses")
    }

    #[test]
    fn the_compiled_in_roots_are_five_certificates_rustls_accepts_as_anchors() {
        let certs = certs(AMAZON_ROOTS.as_bytes());
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

    const LAMBDA: [(&str, &str); 3] = [
        ("PATH", "/bin"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
    ];

    #[test]
    fn an_https_endpoint_or_a_proxy_keeps_the_platform_store() {
        assert_eq!(
            trust(vars(&[
                ("PATH", "/bin"),
                ("AWS_ENDPOINT_URL", "https://ddb.corp")
            ])),
            Trust::Platform
        );
        assert_eq!(
            trust(vars(&[(
                "AWS_ENDPOINT_URL_DYNAMODB",
                "https://localhost:4566"
            )])),
            Trust::Platform
        );
        assert_eq!(
            trust(vars(&[("HTTPS_PROXY", "http://proxy:3128")])),
            Trust::Platform
        );
    }

    #[test]
    fn lambda_on_aws_or_a_plain_http_endpoint_trusts_the_amazon_roots() {
        assert_eq!(trust(vars(&LAMBDA)), Trust::AmazonRoots);
        assert_eq!(
            trust(vars(&[(
                "AWS_ENDPOINT_URL_DYNAMODB",
                "http://127.0.0.1:8000"
            )])),
            Trust::AmazonRoots
        );
    }

    #[test]
    fn the_production_configuration_trusts_exactly_the_five_amazon_roots() {
        // Without the test setting, and with it where the endpoint is AWS's: the anchors
        // are the compiled-in roots, no more.
        let with_setting = [
            LAMBDA.as_slice(),
            &[("VTID_TEST_CA_FILE", "/tmp/test-ca.pem")],
        ]
        .concat();
        for set in [LAMBDA.as_slice(), &with_setting] {
            assert_eq!(trust(vars(set)), Trust::AmazonRoots);
        }
        assert_eq!(certs(&anchors(None)), certs(AMAZON_ROOTS.as_bytes()));
        assert_eq!(certs(&anchors(None)).len(), 5);
    }

    #[test]
    fn the_test_ca_is_read_only_for_an_https_endpoint_override_and_no_proxy() {
        let https = ("AWS_ENDPOINT_URL_DYNAMODB", "https://localhost:8443");
        let ca = ("VTID_TEST_CA_FILE", "/tmp/test-ca.pem");
        assert_eq!(
            trust(vars(&[https, ca])),
            Trust::AmazonRootsAndTestCa("/tmp/test-ca.pem".into())
        );
        // Not for a plain HTTP endpoint, nor behind a proxy.
        let http = ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000");
        assert_eq!(trust(vars(&[http, ca])), Trust::AmazonRoots);
        let proxy = ("HTTPS_PROXY", "http://proxy:3128");
        assert_eq!(trust(vars(&[https, ca, proxy])), Trust::Platform);
        // Only that exact name, and not when empty.
        for other in [
            ("VTID_TEST_CA_FILE", ""),
            ("VTID_TEST_CA_FILE", "  "),
            ("vtid_test_ca_file", "/tmp/test-ca.pem"),
            ("VTID_TEST_CA_FILES", "/tmp/test-ca.pem"),
            ("SSL_CERT_FILE", "/tmp/test-ca.pem"),
        ] {
            assert_eq!(trust(vars(&[https, other])), Trust::Platform, "{other:?}");
        }
    }

    #[test]
    fn the_test_ca_is_added_to_the_amazon_roots_not_in_their_place() {
        // Any PEM certificate serves as the test CA here: the last Amazon root.
        let begin = AMAZON_ROOTS
            .rfind("-----BEGIN CERTIFICATE-----")
            .expect("a root");
        let pem = &AMAZON_ROOTS[begin..];
        let one = certs(pem.as_bytes()).pop().expect("a certificate");
        let all = certs(&anchors(Some(pem.as_bytes())));
        assert_eq!(all.len(), 6);
        assert_eq!(all[..5], certs(AMAZON_ROOTS.as_bytes())[..]);
        assert_eq!(all[5], one);
    }
}
