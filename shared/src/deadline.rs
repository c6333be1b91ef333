//! Every request has a deadline: nothing waits unbounded. On Lambda it is the invocation's
//! own deadline less a margin (so the function answers 503 itself rather than API
//! Gateway answering a bare 504); in `vtid serve` a configurable budget.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

/// The request budget where no invocation deadline is known (`vtid serve`, tests).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);
/// Kept back from a Lambda invocation's deadline: time to answer and to flush logs.
pub const LAMBDA_MARGIN: Duration = Duration::from_millis(500);
/// Kept back from the request's deadline for the store, so that it can stop on its own
/// (release an idempotency lease, answer 503) before the handler's guard cuts it off.
pub const STORE_RESERVE: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

/// The deadline passed before the work finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request's deadline passed")]
pub struct Expired;

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// A Lambda invocation's deadline (epoch milliseconds) less `margin`, and never later
    /// than `budget` from now.
    pub fn for_invocation(deadline_epoch_ms: u64, margin: Duration, budget: Duration) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
        Self::after(left.saturating_sub(margin).min(budget))
    }

    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn is_past(self) -> bool {
        self.remaining().is_zero()
    }

    /// This deadline moved `by` earlier.
    pub fn earlier(self, by: Duration) -> Self {
        Self(self.0.checked_sub(by).unwrap_or(self.0))
    }

    /// The deadline the store works to inside a request with this one.
    pub fn for_store(self) -> Self {
        self.earlier(STORE_RESERVE)
    }

    /// The deadline as wall-clock epoch milliseconds (for leases other processes read).
    pub fn epoch_millis(self) -> u64 {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        now + self.remaining().as_millis() as u64
    }

    /// Runs `work` until this deadline; `Expired` when it is not done by then.
    pub async fn bound<F: Future>(self, work: F) -> Result<F::Output, Expired> {
        tokio::time::timeout(self.remaining(), work)
            .await
            .map_err(|_| Expired)
    }

    /// Sleeps `pause`, or less when the deadline comes first; `Expired` if it then has.
    pub async fn sleep(self, pause: Duration) -> Result<(), Expired> {
        tokio::time::sleep(pause.min(self.remaining())).await;
        if self.is_past() { Err(Expired) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_deadline_is_kept_with_its_margin_and_capped_by_the_budget() {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let d = Deadline::for_invocation(now_ms + 3_000, LAMBDA_MARGIN, DEFAULT_BUDGET);
        let left = d.remaining();
        assert!(left <= Duration::from_millis(2_500) && left > Duration::from_millis(2_000));
        let capped = Deadline::for_invocation(now_ms + 60_000, LAMBDA_MARGIN, DEFAULT_BUDGET);
        assert!(capped.remaining() <= DEFAULT_BUDGET);
        let gone =
            Deadline::for_invocation(now_ms.saturating_sub(1), LAMBDA_MARGIN, DEFAULT_BUDGET);
        assert!(gone.is_past());
    }

    #[tokio::test]
    async fn bound_cuts_work_off_at_the_deadline() {
        let d = Deadline::after(Duration::from_millis(20));
        let r = d.bound(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Expired));
        let d = Deadline::after(Duration::from_secs(5));
        assert_eq!(d.bound(async { 7 }).await, Ok(7));
        assert_eq!(
            Deadline::after(Duration::ZERO)
                .sleep(Duration::from_secs(1))
                .await,
            Err(Expired)
        );
    }
}
