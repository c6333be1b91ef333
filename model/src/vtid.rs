//! The VTID: `VTID-YYYY-NNNN`, parsed once into numbers so that nothing
//! downstream can hold, compare or sort a non-canonical one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The exact form, in words, for error messages.
pub const VTID_FORM: &str = "a VTID is VTID-YYYY-NNNN: a four-digit year from 1970, then the sequence number \
     from 0001, zero-padded to four digits and longer only past 9999 (e.g. VTID-2026-0042)";

/// Lowest year a VTID may carry; VTIDs are dated by the UTC clock.
pub const MIN_YEAR: u16 = 1970;

/// A year as a filter or the audit takes it: four digits, from [`MIN_YEAR`]; else what
/// the caller is told.
pub fn parse_year(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|y| text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) && *y >= MIN_YEAR)
        .ok_or_else(|| format!("must be a four-digit year from {MIN_YEAR}"))
}

/// A canonical VTID. Field order makes the derived `Ord` numeric by (year, sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vtid {
    year: u16,
    seq: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidVtid(pub String);

impl Vtid {
    /// Builds a VTID from its numbers; `None` when either is out of range.
    pub fn new(year: u16, seq: u32) -> Option<Self> {
        ((MIN_YEAR..=9999).contains(&year) && seq >= 1).then_some(Self { year, seq })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn seq(self) -> u32 {
        self.seq
    }

    /// A single number that sorts as the VTID does: the sort key of every index.
    pub fn ordinal(self) -> u64 {
        u64::from(self.year) * 10_000_000_000 + u64::from(self.seq)
    }

    /// Inverse of [`Vtid::ordinal`].
    pub fn from_ordinal(ordinal: u64) -> Option<Self> {
        let year = u16::try_from(ordinal / 10_000_000_000).ok()?;
        let seq = u32::try_from(ordinal % 10_000_000_000).ok()?;
        Self::new(year, seq)
    }
}

impl fmt::Display for Vtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VTID-{:04}-{:04}", self.year, self.seq)
    }
}

impl FromStr for Vtid {
    type Err = InvalidVtid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            InvalidVtid(format!(
                "'{}' is not a valid VTID: {VTID_FORM}",
                printable(s)
            ))
        };
        let rest = s.strip_prefix("VTID-").ok_or_else(bad)?;
        let (year, seq) = rest.split_once('-').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || !digits(seq) || seq.len() < 4 || seq.len() > 10 {
            return Err(bad());
        }
        // Canonical: exactly four digits up to 9999, no leading zero beyond that.
        if seq.len() > 4 && seq.starts_with('0') {
            return Err(bad());
        }
        let year: u16 = year.parse().map_err(|_| bad())?;
        let seq: u32 = seq.parse().map_err(|_| bad())?;
        Self::new(year, seq).ok_or_else(bad)
    }
}

/// Echoes caller input in messages without control characters and at bounded length.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

impl Serialize for Vtid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Vtid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_is_four_digits_from_1970() {
        assert_eq!(parse_year("2026"), Ok(2026));
        assert_eq!(parse_year("1970"), Ok(1970));
        for bad in [
            "1969",
            "0999",
            "99",
            "20260",
            "+202",
            "２０２６",
            "",
            "year",
        ] {
            assert_eq!(
                parse_year(bad),
                Err("must be a four-digit year from 1970".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn canonical_forms_round_trip() {
        for s in [
            "VTID-2026-0042",
            "VTID-2026-0001",
            "VTID-2026-9999",
            "VTID-2026-10000",
            "VTID-1970-123456",
        ] {
            assert_eq!(s.parse::<Vtid>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for s in [
            "vtid-2026-0042",
            "VTID-2026-42",
            "VTID-2026-00042",
            "VTID-26-0042",
            "VTID-2026-0000",
            "VTID-2026- 042",
            " VTID-2026-0042",
            "VTID-2026-0042 ",
            "VTID-2026-+042",
            "VTID-2026-004a",
            "VTID-1969-0001",
            "VTID-2026-99999999999",
            "VTID-2026",
            "",
        ] {
            let err = s.parse::<Vtid>().unwrap_err();
            assert!(err.0.contains("VTID-YYYY-NNNN"), "{s}: {}", err.0);
        }
    }

    #[test]
    fn order_is_numeric_not_textual() {
        let a: Vtid = "VTID-2026-9999".parse().unwrap();
        let b: Vtid = "VTID-2026-10000".parse().unwrap();
        let c: Vtid = "VTID-2027-0001".parse().unwrap();
        assert!(a < b && b < c);
        assert!(a.ordinal() < b.ordinal() && b.ordinal() < c.ordinal());
        assert_eq!(Vtid::from_ordinal(b.ordinal()), Some(b));
    }
}
