//! The local server's identity: a fixed local admin by default, or verified bearer
//! tokens (HS256 with a secret file, RS256/ES256 with a JWKS file). Either way the
//! claims go into the request context that the Lambda functions read.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

pub enum LocalAuth {
    /// Every caller is `sub` `local`, role `admin`, no tenant (loopback only).
    Fixed {
        role_claim: String,
    },
    Verify(Verifier),
}

pub struct Verifier {
    /// The secret file's bytes as written; a trailing newline may or may not be part of it.
    hs256: Option<Vec<u8>>,
    jwks: Option<JwkSet>,
    audience: Option<String>,
    issuer: Option<String>,
}

/// Why a token was refused; the body says only "unauthenticated".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Verifier {
    pub fn from_files(
        hs256_secret: Option<&Path>,
        jwks: Option<&Path>,
        audience: Option<String>,
        issuer: Option<String>,
    ) -> Result<Self, String> {
        let hs256 = match hs256_secret {
            Some(p) => {
                let secret =
                    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                if secret.trim_ascii().is_empty() {
                    return Err(format!("{} holds no secret", p.display()));
                }
                if secret.trim_ascii().len() < 32 {
                    tracing::warn!(
                        "the HS256 secret is shorter than 32 bytes: fine for tests only"
                    );
                }
                Some(secret)
            }
            None => None,
        };
        let jwks = match jwks {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("{} is not a JWKS: {e}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(Self {
            hs256,
            jwks,
            audience,
            issuer,
        })
    }

    /// The verified claims of an `Authorization: Bearer` header value.
    pub fn verify(&self, authorization: &str) -> Result<HashMap<String, Value>, Refused> {
        let token = authorization
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 8192)
            .ok_or_else(|| Refused("expected 'Authorization: Bearer <token>'".into()))?;
        let header =
            decode_header(token).map_err(|e| Refused(format!("malformed token header: {e}")))?;
        let mut validation = Validation::new(header.alg);
        // `exp` is checked whenever present; the local server and its callers share a clock.
        validation.set_required_spec_claims(&["sub"]);
        validation.leeway = 0;
        validation.validate_nbf = true;
        match &self.audience {
            Some(a) => validation.set_audience(&[a]),
            None => validation.validate_aud = false,
        }
        if let Some(i) = &self.issuer {
            validation.set_issuer(&[i]);
        }
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret = self
                    .hs256
                    .as_deref()
                    .ok_or_else(|| Refused("HS256 tokens are not accepted".into()))?;
                // A secret file usually ends with a newline that is not part of the secret;
                // the bytes as written are tried too.
                let trimmed = secret.trim_ascii();
                if trimmed != secret {
                    let raw = DecodingKey::from_secret(secret);
                    if let Ok(data) = decode::<HashMap<String, Value>>(token, &raw, &validation) {
                        return Ok(data.claims);
                    }
                }
                DecodingKey::from_secret(trimmed)
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                let set = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| Refused("no JWKS configured".into()))?;
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| Refused("token has no kid".into()))?;
                let jwk = set.find(kid).ok_or_else(|| Refused("unknown kid".into()))?;
                DecodingKey::from_jwk(jwk).map_err(|e| Refused(format!("unusable JWK: {e}")))?
            }
            other => return Err(Refused(format!("algorithm {other:?} is not accepted"))),
        };
        let data = decode::<HashMap<String, Value>>(token, &key, &validation)
            .map_err(|e| Refused(why_refused(e.kind())))?;
        Ok(data.claims)
    }
}

/// The reason, in the words API Gateway's JWT authorizer uses, for `WWW-Authenticate`.
fn why_refused(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired".into(),
        K::InvalidAudience => "the token does not have a valid audience".into(),
        K::InvalidIssuer => "the token does not have a valid issuer".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        _ => "the token is not valid".into(),
    }
}

/// Claims as API Gateway's JWT authorizer hands them on: every value a string, lists
/// as `[a b]`.
pub fn claims_as_strings(claims: &HashMap<String, Value>) -> HashMap<String, String> {
    claims
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => {
                    let words: Vec<String> = a
                        .iter()
                        .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_owned))
                        .collect();
                    format!("[{}]", words.join(" "))
                }
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}
