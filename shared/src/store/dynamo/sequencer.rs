//! What one process knows of each year's counter, and whether it may guess (step 1 of a
//! create, see `sequencing`): only warm, alone, and with no contention met lately.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a process skips the guess after it met another creator. Long enough to span
/// the creates of a burst on a slow store (each refused guess costs a request and, on a
/// store with a queue, a full wait in it), short against the minutes between the
/// creates of a quiet ledger, which keep their one-request guess.
pub const CONTENTION_WINDOW: Duration = Duration::from_secs(30);

/// What this process knows of each year's counter.
#[derive(Default)]
pub struct Sequencer {
    years: Mutex<HashMap<u16, Seen>>,
    in_flight: AtomicUsize,
}

#[derive(Clone, Copy)]
struct Seen {
    counter: u64,
    contended_until: Option<Instant>,
}

/// A create in flight in this process.
pub struct InFlight<'a> {
    sequencer: &'a Sequencer,
    /// No other create was in flight when this one started.
    pub alone: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.sequencer.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sequencer {
    pub fn enter(&self) -> InFlight<'_> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            sequencer: self,
            alone: before == 0,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u16, Seen>) -> T) -> T {
        let mut years = self.years.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut years)
    }

    /// The counter value worth guessing from, if any.
    pub fn guess(&self, year: u16) -> Option<u64> {
        self.with(|y| {
            y.get(&year).and_then(|s| {
                let calm = s.contended_until.is_none_or(|t| Instant::now() >= t);
                calm.then_some(s.counter)
            })
        })
    }

    /// The counter was seen at `value` (never moves what is known backwards).
    pub fn saw(&self, year: u16, value: u64) {
        self.with(|y| {
            let s = y.entry(year).or_insert(Seen {
                counter: 0,
                contended_until: None,
            });
            s.counter = s.counter.max(value);
        })
    }

    /// Another creator was met: guesses would fail for a while.
    pub fn contended(&self, year: u16) {
        self.with(|y| {
            if let Some(s) = y.get_mut(&year) {
                s.contended_until = Some(Instant::now() + CONTENTION_WINDOW);
            }
        })
    }

    /// A reservation returned `end` for `count` numbers: contended if someone else took
    /// numbers since this process last looked.
    pub fn reserved(&self, year: u16, end: u64, count: u64) {
        let known = self.with(|y| y.get(&year).map(|s| s.counter));
        self.saw(year, end);
        if known.is_some_and(|k| k + count != end) {
            self.contended(year);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_process_never_guesses_and_a_warm_one_does_until_contention() {
        let s = Sequencer::default();
        assert_eq!(s.guess(2026), None, "cold");
        s.reserved(2026, 5, 1);
        assert_eq!(s.guess(2026), Some(5), "learned from its first reservation");
        s.saw(2026, 3);
        assert_eq!(s.guess(2026), Some(5), "never backwards");
        s.reserved(2026, 9, 1);
        assert_eq!(s.guess(2026), None, "someone took 6..8: contended");
        assert_eq!(s.guess(2027), None);
    }

    #[test]
    fn only_a_lone_create_may_guess() {
        let s = Sequencer::default();
        let first = s.enter();
        let second = s.enter();
        assert!(first.alone && !second.alone);
        drop(first);
        drop(second);
        assert!(s.enter().alone);
    }
}
