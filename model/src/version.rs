//! A record's version as `ETag` and `If-Match` carry it: the one rule the server reads
//! `If-Match` by and the client reads a version a user gives by.

use std::fmt;
use std::str::FromStr;

/// The longest `If-Match` value read (a version is at most 20 digits; leading zeros and
/// quotes take the rest).
pub const MAX_VERSION_CHARS: usize = 32;

/// Why a text is not a version, said the same way by the server and the CLI.
pub const NOT_A_VERSION: &str = "must be a version such as \"3\" or 3, as sent in the ETag";

/// A record's version, from 1: read from `3` or `"3"` (the `ETag` as the server sends
/// it). A weak tag (`W/"3"`) is not a version: `If-Match` compares strongly (RFC 9110,
/// 13.1.1), so a weak tag could never match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl FromStr for Version {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > MAX_VERSION_CHARS {
            return Err(NOT_A_VERSION);
        }
        let inner = s
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(s);
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NOT_A_VERSION);
        }
        match inner.parse::<u64>() {
            Ok(v) if v >= 1 => Ok(Self(v)),
            _ => Err(NOT_A_VERSION),
        }
    }
}

/// An `If-Match` value: `*` (whatever the current version; a PATCH needs the record to
/// exist anyway) or one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Version(Version),
}

impl IfMatch {
    /// The version required, if any.
    pub fn version(self) -> Option<Version> {
        match self {
            IfMatch::Any => None,
            IfMatch::Version(v) => Some(v),
        }
    }
}

impl FromStr for IfMatch {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "*" {
            return Ok(IfMatch::Any);
        }
        s.parse().map(IfMatch::Version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_a_star_or_a_version() {
        assert_eq!("*".parse::<IfMatch>(), Ok(IfMatch::Any));
        assert_eq!(" * ".parse::<IfMatch>().map(IfMatch::version), Ok(None));
        assert_eq!("\"3\"".parse::<IfMatch>(), Ok(IfMatch::Version(Version(3))));
        for s in ["**", "W/\"3\"", "", "\"*\""] {
            assert_eq!(s.parse::<IfMatch>(), Err(NOT_A_VERSION), "{s}");
        }
    }

    #[test]
    fn a_version_is_bare_or_quoted_digits_from_1() {
        for (s, v) in [
            ("2", 2),
            ("\"2\"", 2),
            (" \"2\" ", 2),
            ("007", 7),
            ("\"18446744073709551615\"", u64::MAX),
        ] {
            assert_eq!(s.parse::<Version>(), Ok(Version(v)), "{s}");
        }
        for s in [
            "0",
            "\"0\"",
            "\"\"",
            "",
            "two",
            "-1",
            "+1",
            "\"2",
            "2.0",
            "W/\"2\"",
            "\"2\", \"3\"",
            "18446744073709551616",
            &"0".repeat(40),
        ] {
            assert_eq!(s.parse::<Version>(), Err(NOT_A_VERSION), "{s}");
        }
    }
}
