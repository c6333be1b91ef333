//! Server-set times: UTC, millisecond precision, RFC 3339 with a `Z`.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to milliseconds so that what is stored is what is returned.
    pub fn now() -> Self {
        Self(Utc::now().trunc_subsecs(3))
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Self(t.trunc_subsecs(3))
    }

    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    pub fn year(self) -> u16 {
        use chrono::Datelike;
        u16::try_from(self.0.year()).unwrap_or(0)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// Seconds from `earlier` to `self`, with millisecond precision.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0).num_milliseconds() as f64 / 1000.0
    }

    /// RFC 3339 with any offset; for imports also a bare date-time, read as UTC.
    pub fn parse_lenient(s: &str) -> Option<Self> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Self::from_datetime(t.with_timezone(&Utc)));
        }
        let s = s.trim();
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Self::from_datetime(n.and_utc()));
            }
        }
        // Postgres renders offsets as +00 or +00:00 after a space-separated time.
        let with_t = s.replacen(' ', "T", 1);
        let normalized = match with_t.rfind(['+', '-']) {
            Some(i) if i > 10 && with_t.len() - i == 3 => format!("{with_t}:00"),
            _ => with_t,
        };
        DateTime::parse_from_rfc3339(&normalized)
            .ok()
            .map(|t| Self::from_datetime(t.with_timezone(&Utc)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Self::from_datetime(t.with_timezone(&Utc)))
            .map_err(|_| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_millis() {
        let t = Timestamp::parse_lenient("2026-01-02T03:04:05.678901+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-01-02T02:04:05.678Z");
    }

    #[test]
    fn zoneless_times_are_utc() {
        for s in [
            "2025-03-01 10:00:00",
            "2025-03-01T10:00:00",
            "2025-03-01 10:00:00.5",
        ] {
            let t = Timestamp::parse_lenient(s).unwrap();
            assert!(
                t.to_string().starts_with("2025-03-01T10:00:00"),
                "{s} -> {t}"
            );
        }
        let t = Timestamp::parse_lenient("2025-03-01 10:00:00+02").unwrap();
        assert_eq!(t.to_string(), "2025-03-01T08:00:00.000Z");
    }
}
