//! The local server's identity: a fixed local admin by default, or verified bearer
//! tokens (HS256 with a secret file, RS256/ES256 with a JWKS file). Either way the
//! claims, as the JSON values they are, go into the request context that the Lambda
//! functions read, and the shared claim reader applies its rules to them.
//!
//! A token is refused (401) unless all of these hold: the scheme is `Bearer` (any case);
//! the header has no `crit` (this server understands no extension); the signature, `aud`
//! and `iss` verify; the header and claims are JSON objects with no key given twice;
//! `exp`, `nbf` and `iat`, where present, are numbers from 0 to 253402300799 (the end of
//! year 9999); the time is before `exp` and not before `nbf`, with no leeway.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use shared::api::json;
use shared::identity::Claims;

/// Longest bearer token accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 8192;
/// The largest time claim: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

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

/// The shortest HS256 secret accepted: the hash's size (RFC 7518, section 3.2); a
/// shorter one can be guessed offline from any token signed with it.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The HS256 secret in `path`, without surrounding whitespace: the one rule for the
/// server that checks tokens and for `vtid token` that signs them.
pub fn read_hs256_secret(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = raw.trim_ascii();
    if secret.is_empty() {
        return Err(format!("{} holds no secret", path.display()));
    }
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(format!(
            "the HS256 secret in {} is {} bytes; it must be at least {MIN_HS256_SECRET_BYTES} \
             (make one with: head -c 32 /dev/urandom | base64 > {})",
            path.display(),
            secret.len(),
            path.display()
        ));
    }
    Ok(secret.to_vec())
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
                read_hs256_secret(p)?;
                // As written: a trailing newline may be part of the key a signer used.
                Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?)
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

    /// The verified claims of an `Authorization` header value.
    pub fn verify(&self, authorization: &str) -> Result<Claims, Refused> {
        let token = bearer_token(authorization)?;
        refuse_crit(token)?;
        let header =
            decode_header(token).map_err(|e| Refused(format!("malformed token header: {e}")))?;
        let mut validation = Validation::new(header.alg);
        // `exp` and `nbf` are checked again below, whatever their JSON type; `sub` is the
        // shared claim reader's (missing: 401, not a string: 403, as on every path). A
        // configured audience or issuer is required, not only checked when present.
        let mut required: Vec<&str> = Vec::new();
        if self.audience.is_some() {
            required.push("aud");
        }
        if self.issuer.is_some() {
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
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
                    if verified(token, &raw, &validation, header.alg).is_ok() {
                        return checked_claims(token);
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
        verified(token, &key, &validation, header.alg)?;
        checked_claims(token)
    }
}

/// The token's signature and registered claims checked by `jsonwebtoken`.
fn verified(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
    alg: Algorithm,
) -> Result<(), Refused> {
    let Err(e) = decode::<Value>(token, key, validation) else {
        return Ok(());
    };
    // jsonwebtoken's claim reader stops at a `sub` that is not a string and calls the
    // whole token unreadable (401). Once the signature verifies, such a token goes on to
    // the shared claim reader, which refuses it as a malformed identity (403), as API
    // Gateway's path does.
    let signed = || {
        let (message, signature) = token.rsplit_once('.')?;
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg).ok()
    };
    let odd_sub = || {
        segment(token, 1, "claims")
            .is_ok_and(|c| c.get("sub").is_some_and(|s| !s.is_string() && !s.is_null()))
    };
    if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Json(_))
        && odd_sub()
        && signed() == Some(true)
    {
        return Ok(());
    }
    Err(Refused(why_refused(e.kind())))
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

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110, 11.1).
fn bearer_token(authorization: &str) -> Result<&str, Refused> {
    let refused = || Refused("expected 'Authorization: Bearer <token>'".into());
    let (scheme, token) = authorization.trim().split_once(' ').ok_or_else(refused)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(refused());
    }
    Ok(token)
}

/// One part of a token as a strict JSON object.
fn segment(
    token: &str,
    index: usize,
    what: &str,
) -> Result<serde_json::Map<String, Value>, Refused> {
    let part = token
        .split('.')
        .nth(index)
        .ok_or_else(|| Refused(format!("token has no {what}")))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refused(format!("token {what} is not base64url")))?;
    match json::parse(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refused(format!("token {what} is not a JSON object"))),
        // Said without the token's own text: this is answered before authentication.
        Err(json::StrictError::Syntax { line, column }) => Err(Refused(format!(
            "token {what} is not JSON (line {line}, column {column})"
        ))),
        Err(json::StrictError::Refused(_)) => Err(Refused(format!(
            "token {what} is not strict JSON: a key is given twice or a number would change"
        ))),
    }
}

/// A header that lists extensions the recipient must understand is refused: this
/// server understands none (RFC 7515, 4.1.11).
fn refuse_crit(token: &str) -> Result<(), Refused> {
    match segment(token, 0, "header")?.contains_key("crit") {
        true => Err(Refused("token header has crit extensions".into())),
        false => Ok(()),
    }
}

/// The claims of a token whose signature verified, read strictly, with the time claims
/// checked whatever JSON type they hold.
fn checked_claims(token: &str) -> Result<Claims, Refused> {
    let claims = segment(token, 1, "claims")?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let time = |name: &str| -> Result<Option<f64>, Refused> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(t) if (0.0..=MAX_NUMERIC_DATE).contains(&t) => Ok(Some(t)),
                _ => Err(Refused(format!("{name} is out of range"))),
            },
            Some(_) => Err(Refused(format!("{name} is not a number"))),
        }
    };
    if time("exp")?.is_some_and(|exp| now >= exp) {
        return Err(Refused("the token has expired".into()));
    }
    if time("nbf")?.is_some_and(|nbf| now < nbf) {
        return Err(Refused("the token is not valid yet (nbf)".into()));
    }
    time("iat")?;
    // No caller without a `sub` (the shared reader's 401 too); said here so that the
    // caller learns why from `WWW-Authenticate`.
    if matches!(claims.get("sub"), None | Some(Value::Null))
        || claims.get("sub").and_then(Value::as_str) == Some("")
    {
        return Err(Refused(
            "the token has no sub claim (who the caller is)".into(),
        ));
    }
    Ok(claims.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &[u8] = b"a test secret of at least thirty-two bytes";

    fn verifier() -> Verifier {
        Verifier {
            hs256: Some(SECRET.to_vec()),
            jwks: None,
            audience: None,
            issuer: None,
        }
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    /// A token signed over a header and claims written by hand.
    fn raw_token(header: &str, claims: &str) -> String {
        use hmac::{Hmac, Mac};
        let signing = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(signing.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing}.{sig}")
    }

    fn in_an_hour() -> i64 {
        chrono::Utc::now().timestamp() + 3600
    }

    #[test]
    fn a_token_that_is_not_strict_json_is_refused_without_its_text() {
        let v = verifier();
        for (header, claims) in [
            (r#"{"alg":"HS256","x":1,"x":2}"#, r#"{"sub":"alice"}"#),
            (
                r#"{"alg":"HS256"}"#,
                r#"{"sub":"alice","secretKeyName":1,"secretKeyName":2}"#,
            ),
            (
                r#"{"alg":"HS256"}"#,
                r#"{"sub":"alice","n":123456789012345678901234567890}"#,
            ),
            (r#"{"alg":"HS256""#, r#"{"sub":"alice"}"#),
        ] {
            let why = v
                .verify(&format!("Bearer {}", raw_token(header, claims)))
                .unwrap_err()
                .0;
            assert!(why.starts_with("token "), "{why}");
            for leak in ["Detail", "Refused", "field", "secretKeyName", "\"x\""] {
                assert!(!why.contains(leak), "{why} says {leak}");
            }
        }
    }

    #[test]
    fn time_claims_of_the_wrong_type_or_out_of_range_are_refused() {
        let v = verifier();
        for (name, value) in [
            ("exp", json!(-1)),
            ("exp", json!("0")),
            ("exp", json!("1600000000")),
            ("exp", json!(true)),
            ("exp", json!([])),
            ("exp", json!({})),
            ("exp", json!(null)),
            ("exp", json!(1e300)),
            ("nbf", json!("9999999999")),
            ("nbf", json!(18446744073709551616.0)),
            ("nbf", json!(-5)),
            ("iat", json!("now")),
            ("iat", json!(-1)),
        ] {
            let mut claims = json!({"sub": "alice", "exp": in_an_hour()});
            claims[name] = value.clone();
            let t = token(claims);
            assert!(v.verify(&format!("Bearer {t}")).is_err(), "{name}: {value}");
        }
        // Fractional times are numbers too, and are honoured.
        let now = chrono::Utc::now().timestamp() as f64;
        let ok = token(json!({"sub": "a", "exp": now + 60.5, "nbf": now - 0.5, "iat": now}));
        assert!(v.verify(&format!("Bearer {ok}")).is_ok());
        let past = token(json!({"sub": "a", "exp": now - 0.5}));
        assert!(v.verify(&format!("Bearer {past}")).is_err());
    }

    #[test]
    fn a_configured_audience_and_issuer_are_required_not_only_checked() {
        let v = Verifier {
            audience: Some("vtid-ledger".into()),
            issuer: Some("https://gitlab.example.com".into()),
            ..verifier()
        };
        let exp = in_an_hour();
        let right = json!({"sub": "a", "exp": exp, "aud": "vtid-ledger", "iss": "https://gitlab.example.com"});
        assert!(v.verify(&format!("Bearer {}", token(right))).is_ok());
        for (what, claims) in [
            (
                "no aud",
                json!({"sub": "a", "exp": exp, "iss": "https://gitlab.example.com"}),
            ),
            (
                "no iss",
                json!({"sub": "a", "exp": exp, "aud": "vtid-ledger"}),
            ),
            ("neither", json!({"sub": "a", "exp": exp})),
            (
                "another aud",
                json!({"sub": "a", "exp": exp, "aud": "other", "iss": "https://gitlab.example.com"}),
            ),
            (
                "another iss",
                json!({"sub": "a", "exp": exp, "aud": "vtid-ledger", "iss": "https://evil.example"}),
            ),
        ] {
            let refused = v.verify(&format!("Bearer {}", token(claims)));
            assert!(refused.is_err(), "{what} was accepted");
        }
        // Without them configured, a token needs neither.
        let plain = token(json!({"sub": "a", "exp": exp}));
        assert!(verifier().verify(&format!("Bearer {plain}")).is_ok());
    }

    #[test]
    fn crit_duplicate_keys_and_the_scheme() {
        let v = verifier();
        let claims = format!(r#"{{"sub":"alice","exp":{}}}"#, in_an_hour());
        let plain = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &claims);
        assert!(v.verify(&format!("Bearer {plain}")).is_ok());
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            assert!(v.verify(&format!("{scheme} {plain}")).is_ok(), "{scheme}");
        }
        for bad in [
            format!("Bearer{plain}"),
            format!("Basic {plain}"),
            "Bearer ".into(),
        ] {
            assert!(v.verify(&bad).is_err(), "{bad}");
        }
        let crit = raw_token(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &claims);
        assert!(v.verify(&format!("Bearer {crit}")).is_err());
        let dup = raw_token(
            r#"{"alg":"HS256"}"#,
            &format!(
                r#"{{"sub":"alice","tenant":"acme","tenant":"globex","exp":{}}}"#,
                in_an_hour()
            ),
        );
        assert!(v.verify(&format!("Bearer {dup}")).is_err());
        // The claims come back with their JSON types for the shared reader.
        // A `sub` of another JSON type gets through to the shared reader (403 there),
        // once signed with the key; signed with another, it is refused here (401).
        for sub in [json!(["eve"]), json!({"n": "eve"}), json!(5)] {
            let c = v.verify(&format!(
                "Bearer {}",
                token(json!({"sub": sub, "exp": in_an_hour()}))
            ));
            assert_eq!(c.unwrap()["sub"], sub);
            let forged = encode(
                &Header::new(Algorithm::HS256),
                &json!({"sub": sub}),
                &EncodingKey::from_secret(b"another secret of at least thirty-two bytes"),
            )
            .unwrap();
            assert!(v.verify(&format!("Bearer {forged}")).is_err());
        }
        let typed = token(json!({"sub": "a", "role": ["service"], "tenant": null}));
        let c = v.verify(&format!("Bearer {typed}")).unwrap();
        assert_eq!(
            (c["role"].clone(), c["tenant"].clone()),
            (json!(["service"]), Value::Null)
        );
    }
}
