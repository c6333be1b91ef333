//! Cursors (list and history): opaque, signed, and bound to what they were made for (the
//! list's filters, the history's VTID), so a tampered cursor or one sent with other
//! filters is refused rather than misread. The payload is one position: the VTID's
//! ordinal to continue below, or the history version to continue after.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::vtid::Vtid;

type HmacSha256 = Hmac<Sha256>;

/// Longer than any cursor this code makes.
pub const MAX_CURSOR_CHARS: usize = 128;

fn tag(key: &[u8], filters: &str, payload: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(filters.as_bytes());
    mac.update(&[0]);
    mac.update(payload);
    mac
}

/// A cursor that continues after `last` (exclusive) for the filters `filters`.
pub fn encode(key: &[u8], filters: &str, last: Vtid) -> String {
    encode_position(key, filters, last.ordinal())
}

pub fn decode(key: &[u8], filters: &str, cursor: &str) -> Result<Vtid, ApiError> {
    Vtid::from_ordinal(decode_position(key, filters, cursor)?).ok_or(ApiError::InvalidCursor)
}

/// A cursor holding `position`, bound to `bound_to`.
pub fn encode_position(key: &[u8], bound_to: &str, position: u64) -> String {
    let filters = bound_to;
    let payload = position.to_be_bytes();
    let sig = tag(key, filters, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

pub fn decode_position(key: &[u8], filters: &str, cursor: &str) -> Result<u64, ApiError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(ApiError::InvalidCursor);
    }
    let (payload, sig) = cursor.split_once('.').ok_or(ApiError::InvalidCursor)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ApiError::InvalidCursor)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| ApiError::InvalidCursor)?;
    tag(key, filters, &payload)
        .verify_slice(&sig)
        .map_err(|_| ApiError::InvalidCursor)?;
    let bytes: [u8; 8] = payload.try_into().map_err(|_| ApiError::InvalidCursor)?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let v: Vtid = "VTID-2026-0042".parse().unwrap();
        let c = encode(b"k", "status=active", v);
        assert_eq!(decode(b"k", "status=active", &c).unwrap(), v);
        assert!(decode(b"k", "status=pending", &c).is_err(), "other filters");
        assert!(decode(b"other", "status=active", &c).is_err(), "other key");
        let mut tampered = c.clone().into_bytes();
        tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
        assert!(decode(b"k", "status=active", &String::from_utf8(tampered).unwrap()).is_err());
        assert!(decode(b"k", "status=active", "garbage").is_err());
    }
}
