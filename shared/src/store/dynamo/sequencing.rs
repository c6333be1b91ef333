//! How a create gets its numbers: conditional writes on the year's counter item
//! (`COUNTER#YYYY` / `COUNTER`, attribute `n`: the highest number reserved).
//!
//! 1. **Guess** (warm and uncontended only). A process that knows the counter's value, has
//!    seen no contention for [`CONTENTION_WINDOW`] and has no other create in flight
//!    sends one transaction: parent checks, the counter moved from the value it knows
//!    (condition: it still holds it), the records (`attribute_not_exists`), and the
//!    finished idempotency key. One request. Refused because the counter moved, it
//!    learns the new value, notes contention, and goes on; refused for the key, it
//!    replays or answers 409; a failed parent check is 422. A cold process never guesses.
//! 2. **Parents** not proven by the guess are read (records are never deleted, so a
//!    parent that exists now exists when the block is written). Nothing is reserved for a
//!    create whose parent is missing.
//! 3. **Lease** the idempotency key, if any (see `lease`), so that equal requests wait
//!    for this one instead of each reserving a block.
//! 4. **Reserve** the block with one `UpdateItem ADD n :count` (`UPDATED_NEW`): atomic,
//!    no condition, so it never loses to another creator; it is retried with backoff when
//!    a transaction holds the counter. The block `n-count+1 ..= n` is this request's.
//! 5. **Write** the records and the finished key in one transaction without the counter
//!    (and without parent checks), so it competes with nobody. Refused for a conflict or
//!    throttling, it is sent again with the same numbers until the deadline: conflicts
//!    alone burn no number. A record already at a reserved number (written by something
//!    that did not move the counter) makes it reserve again, at most three times.
//!
//! On any failure after step 3 the lease is released. The numbers of a block reserved
//! and never written (the writer died, or gave up at its deadline) are the only gaps;
//! the audit lists them. Uniqueness never rests on the counter: every record is written
//! on `attribute_not_exists(pk)`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};

use super::DynamoStore;
use super::errors::{Backoff, CancelKind, Cancellation, Failure, classify};
use super::item::{
    COUNTER_VALUE, DOC, counter_key, doc, get_n, internal, n, record_item, record_key,
};
use super::lease::{self, Claim, Lease, Settled};
use super::transact::{Outcome, Transaction, WhenBusy};
use crate::deadline::Deadline;
use crate::record::{HistoryEntry, Record};
use crate::store::{CreateOutcome, CreateRequest, IdempotencyKey, StoreError, number_drafts};
use crate::vtid::Vtid;

/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// How long a process skips the guess after it met another creator.
pub const CONTENTION_WINDOW: Duration = Duration::from_secs(5);
/// Reservations one create may make before it gives up (only a writer that ignores the
/// counter can use them up).
const MAX_RESERVATIONS: usize = 3;

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

/// What the guess came to.
enum Guess {
    Written(Vec<Record>),
    Replayed(CreateOutcome),
    /// Refused for the counter or a conflict: go on. `parents_proven` when every
    /// parent check was evaluated and held.
    Refused {
        parents_proven: bool,
    },
}

/// What writing a reserved block came to.
enum Placed {
    Written(Vec<Record>),
    Replayed(CreateOutcome),
    /// A record already holds one of the numbers: reserve again.
    Taken,
}

impl DynamoStore {
    pub(super) async fn create_records(
        &self,
        req: CreateRequest,
    ) -> Result<CreateOutcome, StoreError> {
        let year = req.now.year();
        let flight = self.sequencer.enter();
        let mut parents: Vec<Vtid> = req.drafts.iter().filter_map(|d| d.parent_vtid).collect();
        parents.sort();
        parents.dedup();
        let mut parents_known = parents.is_empty();
        if parents.len() + req.drafts.len() + 2 > MAX_TRANSACTION_ITEMS {
            self.check_parents(&parents).await?;
            parents_known = true;
        }
        let idem = req.idempotency.as_ref();

        // 1. Guess.
        if flight.alone
            && let Some(expected) = self.sequencer.guess(year)
        {
            let checked = if parents_known { &[][..] } else { &parents[..] };
            match self.guess(&req, checked, expected).await? {
                Guess::Written(records) => {
                    return Ok(CreateOutcome {
                        records,
                        replayed: false,
                    });
                }
                Guess::Replayed(outcome) => return Ok(outcome),
                Guess::Refused { parents_proven } => {
                    parents_known |= parents_proven;
                    self.sequencer.contended(year);
                }
            }
        }
        // 2. Parents.
        if !parents_known {
            self.check_parents(&parents).await?;
        }
        // 3. Lease.
        let lease = match idem {
            None => None,
            Some(idem) => match self.claim(idem, req.deadline).await? {
                Claim::Leased(lease) => Some(lease),
                Claim::Done(outcome) => return Ok(outcome),
            },
        };
        // 4 and 5. Reserve and write; give the lease back on failure.
        let result = self.reserve_and_write(&req, lease.as_ref()).await;
        if result.is_err()
            && let (Some(idem), Some(lease)) = (idem, &lease)
        {
            self.release(idem, lease).await;
        }
        result
    }

    /// Step 1: one transaction that moves the counter from `expected`.
    async fn guess(
        &self,
        req: &CreateRequest,
        parents: &[Vtid],
        expected: u64,
    ) -> Result<Guess, StoreError> {
        let year = req.now.year();
        let count = req.drafts.len() as u64;
        let built = number_drafts(&req.drafts, year, expected + 1, &req.by, req.now)?;
        if parents
            .iter()
            .any(|p| built.iter().any(|(r, _)| r.vtid == *p))
        {
            // A parent inside the guessed block cannot exist yet, or the guess is stale.
            return Ok(Guess::Refused {
                parents_proven: false,
            });
        }
        let mut items = Vec::with_capacity(parents.len() + built.len() + 2);
        for p in parents {
            items.push(parent_check(&self.table, *p)?);
        }
        let counter_at = items.len();
        items.push(counter_move(&self.table, year, expected, expected + count)?);
        items.extend(self.record_puts(&built)?);
        let key_at = items.len();
        if let Some(idem) = &req.idempotency {
            items.push(lease::finished_put(
                &self.table,
                idem,
                &vtids(&built),
                req.now,
                None,
            )?);
        }
        let tx = Transaction::new(items);
        let c = match self.transact(&tx, req.deadline, WhenBusy::GiveUp).await? {
            Outcome::Written => {
                self.sequencer.saw(year, expected + count);
                return Ok(Guess::Written(records(built)));
            }
            Outcome::Cancelled(c) => c,
        };
        // A reused key answers the same whatever else failed.
        if let Some(idem) = &req.idempotency
            && c.failed_condition(key_at)
            && let Some(stored) = c.item(key_at).filter(|i| lease::is_key_item(i))
        {
            match self.settle(idem, stored.clone(), req.deadline).await? {
                Settled::Done(outcome) => return Ok(Guess::Replayed(outcome)),
                Settled::Free => {}
            }
        }
        if let Some(p) = parents
            .iter()
            .enumerate()
            .find_map(|(i, p)| c.failed_condition(i).then_some(*p))
        {
            return Err(StoreError::ParentNotFound(p));
        }
        if let Some(seen) = c.item(counter_at).and_then(|i| get_n(i, COUNTER_VALUE)) {
            self.sequencer.saw(year, seen);
        }
        match c.kind() {
            CancelKind::Condition | CancelKind::Conflict => Ok(Guess::Refused {
                parents_proven: c.conditions_evaluated(),
            }),
            CancelKind::Throttled => Err(StoreError::Unavailable("create throttled".into())),
            CancelKind::Other(codes) => Err(internal(format!("create refused: {codes}"))),
        }
    }

    /// Steps 4 and 5.
    async fn reserve_and_write(
        &self,
        req: &CreateRequest,
        lease: Option<&Lease>,
    ) -> Result<CreateOutcome, StoreError> {
        let year = req.now.year();
        let count = req.drafts.len() as u64;
        for _ in 0..MAX_RESERVATIONS {
            let end = self.reserve(year, count, req.deadline).await?;
            self.sequencer.reserved(year, end, count);
            let built = number_drafts(&req.drafts, year, end + 1 - count, &req.by, req.now)?;
            match self.write_block(req, &built, lease).await? {
                Placed::Written(records) => {
                    return Ok(CreateOutcome {
                        records,
                        replayed: false,
                    });
                }
                Placed::Replayed(outcome) => return Ok(outcome),
                Placed::Taken => {
                    tracing::warn!(
                        year,
                        end,
                        "a reserved number already holds a record; reserving again"
                    );
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "every one of {MAX_RESERVATIONS} reserved blocks already held records"
        )))
    }

    /// Step 4: `ADD n :count` on the counter; the new value.
    async fn reserve(&self, year: u16, count: u64, deadline: Deadline) -> Result<u64, StoreError> {
        let mut backoff = Backoff::new();
        loop {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(counter_key(year)))
                .update_expression("ADD #n :count")
                .expression_attribute_names("#n", COUNTER_VALUE)
                .expression_attribute_values(":count", n(count))
                .return_values(ReturnValue::UpdatedNew)
                .customize()
                .config_override(patient_attempts(deadline))
                .send();
            let failure = match deadline.bound(sent).await? {
                Ok(out) => {
                    return out
                        .attributes()
                        .and_then(|a| get_n(a, COUNTER_VALUE))
                        .ok_or_else(|| internal("ADD returned no counter"));
                }
                Err(e) => classify(&e),
            };
            match failure {
                // A lost answer may have reserved a block already; that block is a gap.
                Failure::Busy(_) | Failure::Unknown(_) => backoff.pause(deadline).await?,
                bug => return Err(bug.into()),
            }
        }
    }

    /// Step 5: the records and the finished key, in one transaction, until written.
    async fn write_block(
        &self,
        req: &CreateRequest,
        built: &[(Record, HistoryEntry)],
        lease: Option<&Lease>,
    ) -> Result<Placed, StoreError> {
        let mut items = self.record_puts(built)?;
        let key_at = items.len();
        if let Some(idem) = &req.idempotency {
            items.push(lease::finished_put(
                &self.table,
                idem,
                &vtids(built),
                req.now,
                lease,
            )?);
        }
        let mut backoff = Backoff::new();
        loop {
            let tx = Transaction::new(items.clone());
            let c = match self.transact(&tx, req.deadline, WhenBusy::Retry).await? {
                Outcome::Written => return Ok(Placed::Written(records(built.to_vec()))),
                Outcome::Cancelled(c) => c,
            };
            match c.kind() {
                CancelKind::Conflict | CancelKind::Throttled => {
                    // The numbers are still ours: the same write, a little later.
                    backoff.pause(req.deadline).await?;
                    continue;
                }
                CancelKind::Other(codes) => {
                    return Err(internal(format!("create refused: {codes}")));
                }
                CancelKind::Condition => {}
            }
            if let Some(idem) = &req.idempotency
                && c.failed_condition(key_at)
            {
                return self.lost_lease(idem, &c, key_at, req.deadline).await;
            }
            if (0..built.len()).any(|i| c.failed_condition(i)) {
                if is_ours(&c, built) {
                    return Ok(Placed::Written(records(built.to_vec())));
                }
                return Ok(Placed::Taken);
            }
            return Err(internal("create refused without a reason"));
        }
    }

    /// The key's condition failed on the write: the lease was taken over (this request
    /// outlived its lease). The new holder's outcome is the answer.
    async fn lost_lease(
        &self,
        idem: &IdempotencyKey,
        c: &Cancellation,
        key_at: usize,
        deadline: Deadline,
    ) -> Result<Placed, StoreError> {
        let stored = c.item(key_at).cloned().unwrap_or_default();
        match self.settle(idem, stored, deadline).await? {
            Settled::Done(outcome) => Ok(Placed::Replayed(outcome)),
            Settled::Free => Err(StoreError::Unavailable(
                "the idempotency lease ran out before the write".into(),
            )),
        }
    }

    fn record_puts(
        &self,
        built: &[(Record, HistoryEntry)],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        built
            .iter()
            .map(|(r, e)| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(record_item(r, e)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(internal)?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    /// Every parent exists, read consistently; else 422 for the first missing one.
    async fn check_parents(&self, parents: &[Vtid]) -> Result<(), StoreError> {
        if parents.is_empty() {
            return Ok(());
        }
        let found = self.fetch(parents).await?;
        match parents.iter().find(|p| !found.contains_key(p)) {
            Some(p) => Err(StoreError::ParentNotFound(*p)),
            None => Ok(()),
        }
    }
}

/// The `ADD` has no request token: an attempt the SDK gives up on and sends again may
/// have been applied, and its block is then lost. So its attempts are not cut short by
/// the usual attempt timeout (made for hung connections, which the deadline ends too):
/// a slow answer is waited for, up to the deadline, rather than sent again.
fn patient_attempts(deadline: Deadline) -> aws_sdk_dynamodb::config::Builder {
    let left = deadline
        .remaining()
        .max(std::time::Duration::from_millis(1));
    aws_sdk_dynamodb::config::Builder::default().timeout_config(
        aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(1))
            .operation_attempt_timeout(left)
            .operation_timeout(left)
            .build(),
    )
}

/// Whether the records found at the reserved numbers are this request's own, written by
/// an earlier attempt whose answer was lost.
fn is_ours(c: &Cancellation, built: &[(Record, HistoryEntry)]) -> bool {
    built.iter().enumerate().all(|(i, (mine, _))| {
        c.item(i)
            .and_then(|item| doc::<Record>(item, DOC).ok())
            .is_some_and(|found| found == *mine)
    })
}

fn vtids(built: &[(Record, HistoryEntry)]) -> Vec<Vtid> {
    built.iter().map(|(r, _)| r.vtid).collect()
}

fn records(built: Vec<(Record, HistoryEntry)>) -> Vec<Record> {
    built.into_iter().map(|(r, _)| r).collect()
}

fn parent_check(table: &str, parent: Vtid) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(record_key(parent)))
        .condition_expression("attribute_exists(pk)")
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// The counter moved from `expected` to `next`, on the condition that it still holds
/// `expected` (that it does not exist yet, for 0: a new year).
pub fn counter_move(
    table: &str,
    year: u16,
    expected: u64,
    next: u64,
) -> Result<TransactWriteItem, StoreError> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(counter_key(year)))
        .update_expression("SET #n = :next")
        .expression_attribute_names("#n", COUNTER_VALUE)
        .expression_attribute_values(":next", n(next))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    update = if expected == 0 {
        update.condition_expression("attribute_not_exists(pk)")
    } else {
        update
            .condition_expression("#n = :expected")
            .expression_attribute_values(":expected", n(expected))
    };
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(internal)?)
        .build())
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
