//! The webhook deliverer of `vtid serve --oasis-url`: the outbox to OASIS, at least once,
//! in order.
//!
//! 1. *One deliverer per data folder*: it holds an exclusive lock on
//!    `ledger.sqlite3.deliver.lock`, which the operating system releases when the
//!    process ends, `kill -9` included. A second server on the same folder waits for it
//!    instead of sending the same events in another order.
//! 2. *From where the target stands*: the position kept in the store (`deliveries`).
//! 3. *One event at a time, in outbox order* (so in order per VTID): POST the stored
//!    OASIS body with its event ID as `Idempotency-Key`. Only after a 2xx answer does the
//!    position move; dying between the answer and the move means that event is sent
//!    again after a restart, with the same ID, which is what "at least once" allows.
//! 4. *Retry* a refused event after a pause that doubles from [`Policy`]'s first pause
//!    up to its longest, with jitter; later events wait behind it (as a stream shard does).
//! 5. *Dead letter* after the policy's attempts: the event is kept in `dead_letters`
//!    and the position moves past it in one transaction; `GET /vtid/health` counts them.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use shared::events::Oasis;
use shared::store::sqlite::SqliteStore;
use shared::store::sqlite::outbox::StoredEvent;

use super::Feed;

/// The name the webhook's position and dead letters are kept under.
pub const TARGET: &str = "oasis";
/// Tries per event by default: about two minutes of retries before a dead letter.
pub const DEFAULT_ATTEMPTS: u32 = 10;
/// Events read from the outbox at a time.
const BATCH: usize = 100;
/// How long to wait before trying the store, or the lock, again.
const IDLE: Duration = Duration::from_secs(1);

/// How a refused event is retried: the one place that says so.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub attempts: u32,
    pub first_pause: Duration,
    pub longest_pause: Duration,
}

impl Policy {
    pub fn with_attempts(attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            first_pause: Duration::from_millis(250),
            longest_pause: Duration::from_secs(30),
        }
    }

    /// The pause after the `failures`-th failure: doubling, capped, with ±25 % jitter so
    /// that servers restarted together do not retry in step.
    pub fn pause(&self, failures: u32) -> Duration {
        vtid_model::backoff::Backoff {
            first: self.first_pause,
            longest: self.longest_pause,
            factor: 2.0,
            jitter: vtid_model::backoff::Jitter::Around(0.25),
        }
        .pause(failures)
    }
}

/// Runs for the life of the server.
pub async fn run(feed: Feed, oasis: Oasis, policy: Policy) {
    let _lock = hold_lock(feed.store()).await;
    let store = feed.store().clone();
    let mut newest = feed.newest();
    loop {
        let position = match store.delivered(TARGET).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "deliverer: cannot read its position");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let events = match store.events_after(position, BATCH).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "deliverer: cannot read the outbox");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        if events.is_empty() {
            // Woken by the tail; the timeout only guards against a missed wake-up.
            let _ = tokio::time::timeout(IDLE * 5, newest.changed()).await;
            continue;
        }
        for event in &events {
            if !deliver(&store, &oasis, policy, event).await {
                // The store refused to record the outcome: read the position again.
                tokio::time::sleep(IDLE).await;
                break;
            }
        }
    }
}

/// Steps 3 to 5 for one event. False when the outcome could not be recorded.
async fn deliver(store: &SqliteStore, oasis: &Oasis, policy: Policy, event: &StoredEvent) -> bool {
    let mut failures = 0;
    loop {
        match oasis.post(&event.id, &event.body).await {
            Ok(()) => {
                return match store.mark_delivered(TARGET, event.position).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(event_id = %event.id, error = %e, "deliverer: cannot record a delivery; it will be sent again");
                        false
                    }
                };
            }
            Err(why) => {
                failures += 1;
                if failures >= policy.attempts {
                    tracing::error!(event_id = %event.id, attempts = failures, %why, "deliverer: giving up; kept as a dead letter");
                    return match store.dead_letter(TARGET, event, failures, &why).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(event_id = %event.id, error = %e, "deliverer: cannot record a dead letter");
                            false
                        }
                    };
                }
                let pause = policy.pause(failures);
                tracing::warn!(event_id = %event.id, attempt = failures, %why, retry_in_ms = pause.as_millis() as u64, "deliverer: target refused the event");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Step 1: waits until this process holds the data folder's deliverer lock.
async fn hold_lock(store: &SqliteStore) -> Option<File> {
    let mut path = store.path().as_os_str().to_owned();
    path.push(".deliver.lock");
    let path = PathBuf::from(path);
    let mut told = false;
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path);
        match file.map(|f| (f.try_lock(), f)) {
            Ok((Ok(()), f)) => return Some(f),
            Ok((Err(TryLockError::WouldBlock), _)) => {
                if !told {
                    tracing::info!(lock = %path.display(), "deliverer: another process delivers this folder's events; waiting");
                    told = true;
                }
            }
            Ok((Err(TryLockError::Error(e)), _)) | Err(e) => {
                // Without a lock (a file system that has none) one deliverer is still right.
                tracing::warn!(lock = %path.display(), error = %e, "deliverer: cannot lock; delivering without the lock");
                return None;
            }
        }
        tokio::time::sleep(IDLE * 2).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_with_bounded_jitter() {
        let p = Policy::with_attempts(10);
        for (failures, base_ms) in [
            (1u32, 250u64),
            (2, 500),
            (3, 1000),
            (8, 30_000),
            (40, 30_000),
        ] {
            let pause = p.pause(failures).as_millis() as u64;
            assert!(
                (base_ms * 3 / 4..=base_ms * 5 / 4).contains(&pause),
                "after {failures} failures: {pause} ms"
            );
        }
        assert_eq!(Policy::with_attempts(0).attempts, 1);
    }
}
