//! Test tokens: HS256 signed with the fixture secret that `--jwt-hs256-secret-file`
//! reads, built from claims as JSON or from header and claims written as given (so a
//! test can forge what a JSON encoder would never write).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;

use super::fixture;

/// The header every well-formed test token carries.
pub const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The path of the secret the servers under test are given.
pub fn secret_file() -> String {
    fixture("hs256-test-secret")
}

/// The secret's bytes, without the file's trailing newline (as the server reads it).
pub fn secret() -> Vec<u8> {
    std::fs::read(secret_file())
        .expect("the fixture secret")
        .trim_ascii()
        .to_vec()
}

/// `text` in base64url without padding, as a token's parts are written.
pub fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// A token over `header` and `claims` exactly as given, signed with `key`.
pub fn signed_with(key: &[u8], header: &str, claims: &str) -> String {
    let signing = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(signing.as_bytes());
    format!(
        "{signing}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// A token over `header` and `claims` exactly as given, signed with the fixture secret.
pub fn signed(header: &str, claims: &str) -> String {
    signed_with(&secret(), header, claims)
}

/// A well-formed token carrying `claims`.
pub fn hs256(claims: Value) -> String {
    signed(HS256, &claims.to_string())
}

/// `Bearer <token>` for `claims`, as the Authorization header carries it.
pub fn bearer(claims: Value) -> String {
    format!("Bearer {}", hs256(claims))
}

/// An `exp` an hour from now.
pub fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}
