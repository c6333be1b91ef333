//! The retry policy, in one place for every transport and the command line: what is
//! retried (a connection that could not be made, 429, 503), how often, and how long to
//! wait (the server's `Retry-After`, else exponential backoff with full jitter). Creates
//! always carry an `Idempotency-Key`, so a retried create can never make two VTIDs.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The backoff ceiling of the first retry; it doubles with each further one.
    pub base: Duration,
    /// No wait is longer than this; a `Retry-After` asking for more ends the retries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: one try.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first): what the server asked
    /// for, else a random time up to `base * 2^(retry-1)` (full jitter, so that many
    /// callers refused together do not come back together). `None`: do not retry, the
    /// server asked for a longer wait than this policy allows.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(asked) => (asked <= self.max_delay).then_some(asked),
            None => Some(
                vtid_model::backoff::Backoff {
                    first: self.base,
                    longest: self.max_delay,
                    factor: 2.0,
                    jitter: vtid_model::backoff::Jitter::Full,
                }
                .pause(retry),
            ),
        }
    }
}

/// A retry about to happen, for callers that report them (`vtid --verbose`).
#[derive(Clone, Debug)]
pub struct Retrying {
    pub target: String,
    /// The try that failed (1 for the first).
    pub attempt: u32,
    pub attempts: u32,
    pub wait: Duration,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            assert!(p.delay(1, None).unwrap() <= Duration::from_millis(200));
            assert!(p.delay(3, None).unwrap() <= Duration::from_millis(800));
            assert!(p.delay(30, None).unwrap() <= p.max_delay);
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            None,
            "never earlier than the server asked"
        );
    }
}
