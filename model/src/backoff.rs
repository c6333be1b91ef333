//! The one backoff every retry loop of the ledger uses: the store's resends, the client's
//! retries, the webhook's redeliveries, `vtid watch`'s reconnections and `vtid wait`'s
//! polls. Each pause grows by `factor` from `first` up to `longest`; `jitter` spreads
//! callers refused together so that they do not come back together. Pure: the loops
//! sleep, this only says how long.

use std::time::Duration;

/// How a pause is spread around its ceiling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// Uniform in `0 ..= ceiling` (AWS's "full jitter", for contended writes).
    Full,
    /// Uniform in `ceiling * (1 - spread) ..= ceiling * (1 + spread)`.
    Around(f64),
    /// Exactly the ceiling (one process reconnecting alone).
    None,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub longest: Duration,
    /// How much each pause's ceiling grows over the one before (2: doubling).
    pub factor: f64,
    pub jitter: Jitter,
}

impl Backoff {
    /// The ceiling of pause `n` (1 for the first): `first * factor^(n-1)`, at most `longest`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let grown = self.first.as_secs_f64() * self.factor.powi(n.saturating_sub(1).min(64) as i32);
        Duration::from_secs_f64(grown.min(self.longest.as_secs_f64()))
    }

    /// Pause `n` (1 for the first), jittered.
    pub fn pause(&self, n: u32) -> Duration {
        let ceiling = self.ceiling(n);
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(fastrand::f64()),
            Jitter::Around(spread) => {
                ceiling.mul_f64(1.0 - spread + 2.0 * spread * fastrand::f64())
            }
            Jitter::None => ceiling,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_grow_by_the_factor_up_to_the_longest() {
        let b = Backoff {
            first: 10 * MS,
            longest: 400 * MS,
            factor: 2.0,
            jitter: Jitter::None,
        };
        let got: Vec<Duration> = (1..=8).map(|n| b.pause(n)).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 320, 400, 400].map(|m| m * MS));
        assert_eq!(b.ceiling(u32::MAX), 400 * MS, "no overflow however many");
        let slow = Backoff {
            factor: 1.5,
            first: 1000 * MS,
            longest: 15_000 * MS,
            ..b
        };
        assert_eq!(slow.ceiling(2), 1500 * MS);
    }

    #[test]
    fn jitter_stays_within_its_band_and_varies() {
        let full = Backoff {
            first: 100 * MS,
            longest: 100 * MS,
            factor: 2.0,
            jitter: Jitter::Full,
        };
        let around = Backoff {
            jitter: Jitter::Around(0.25),
            ..full
        };
        let fulls: Vec<Duration> = (0..200).map(|_| full.pause(3)).collect();
        assert!(fulls.iter().all(|p| *p <= 100 * MS));
        assert!(
            fulls.iter().any(|p| *p < 50 * MS),
            "full jitter reaches low"
        );
        let arounds: Vec<Duration> = (0..200).map(|_| around.pause(3)).collect();
        assert!(arounds.iter().all(|p| (75 * MS..=125 * MS).contains(p)));
        assert!(
            arounds.iter().any(|p| *p != arounds[0]),
            "jittered, not fixed"
        );
    }
}
