//! A SigV4 verifier written from AWS's description of Signature Version 4, independent
//! of the `aws-sigv4` crate that signs: it recomputes the canonical request, the string
//! to sign and the signature from what arrived, as API Gateway's IAM authorizer does.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// URI encoding as SigV4 defines it: everything but A-Z a-z 0-9 - _ . ~ escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent (already URI-encoded once).
    pub path: &'a str,
    pub query: &'a str,
    /// Header names in lower case, values as sent.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// `Ok(access key)` when the `Authorization` header's signature is the one `secret_of`'s
/// secret makes for this request, in `region` for `service`.
pub fn verify(
    req: &Signed,
    region: &str,
    service: &str,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let auth = header("authorization").ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (credential, signed_headers, signature) = (
        credential.ok_or("no Credential")?,
        signed_headers.ok_or("no SignedHeaders")?,
        signature.ok_or("no Signature")?,
    );
    let scope: Vec<&str> = credential.split('/').collect();
    let [
        access_key,
        date,
        scope_region,
        scope_service,
        "aws4_request",
    ] = scope[..]
    else {
        return Err(format!("bad credential scope {credential}"));
    };
    if scope_region != region || scope_service != service {
        return Err(format!("signed for {scope_region}/{scope_service}"));
    }
    let amz_date = header("x-amz-date").ok_or("no X-Amz-Date")?;
    if !amz_date.starts_with(date) {
        return Err("X-Amz-Date is not the credential's date".into());
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err("host is not signed".into());
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let value = header(name).ok_or(format!("signed header {name} is missing"))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let payload_hash = hex(&Sha256::digest(req.body));
    let canonical_request = [
        req.method,
        &canonical_path(req.path),
        &canonical_query(req.query),
        &canonical_headers,
        signed_headers,
        &payload_hash,
    ]
    .join("\n");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let secret = secret_of(access_key).ok_or(format!("unknown access key {access_key}"))?;
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if expected == signature {
        Ok(access_key.to_owned())
    } else {
        Err("the signature does not match".into())
    }
}

/// Services other than S3 encode the (already encoded) path once more.
fn canonical_path(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    utf8_percent_encode(path, PATH).to_string()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let decoded = percent_decode_str(s).decode_utf8_lossy().into_owned();
                utf8_percent_encode(&decoded, UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_verifier_accepts_awss_published_example_and_nothing_else() {
    // AWS's own example of a signed request (IAM ListUsers, 2015-08-30).
    let headers = |signature: &str| {
        vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
            ("host".to_owned(), "iam.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
            (
                "authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
        ]
    };
    let secret = |k: &str| {
        (k == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
    };
    let good = headers("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    let req = |h: &[(String, String)], query: &'static str| {
        verify(
            &Signed {
                method: "GET",
                path: "/",
                query,
                headers: h,
                body: b"",
            },
            "us-east-1",
            "iam",
            secret,
        )
    };
    assert_eq!(
        req(&good, "Action=ListUsers&Version=2010-05-08"),
        Ok("AKIDEXAMPLE".to_owned())
    );
    assert!(
        req(&good, "Action=ListUsers&Version=2010-05-09").is_err(),
        "a changed query"
    );
    let bad = headers("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d8");
    assert!(req(&bad, "Action=ListUsers&Version=2010-05-08").is_err());
}
