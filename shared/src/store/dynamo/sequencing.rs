//! How a create gets its numbers: conditional writes on the year's counter item
//! (`COUNTER#YYYY` / `COUNTER`, attribute `n`: the highest number reserved).
//!
//! Every record a create writes carries the create's own **writer token** (`writer`), so
//! that a write sent again after a lost answer or a timeout recognises its own work in
//! the refusal (`ALL_OLD`): on DynamoDB, whose `ClientRequestToken` does this first, and
//! on any DynamoDB-compatible server that ignores that token.
//!
//! 1. **Guess** (warm and uncontended only). A process that knows the counter's value, has
//!    seen no contention for [`CONTENTION_WINDOW`](super::CONTENTION_WINDOW) (see
//!    `sequencer`) and has no other create in flight
//!    sends one transaction: parent checks, the counter moved from the value it knows
//!    (condition: it still holds it), the records (`attribute_not_exists`), and the
//!    finished idempotency key. One request. Refused with records that carry this
//!    create's token, it was applied before (its answer was lost): done. Refused because
//!    the counter moved, it learns the new value, notes contention, and goes on; refused
//!    for the key, it replays or answers 409; a failed parent check is 422. A cold
//!    process never guesses.
//! 2. **Parents** not proven by the guess are read (records are never deleted, so a
//!    parent that exists now exists when the block is written). Nothing is reserved for a
//!    create whose parent is missing.
//! 3. **Lease** the idempotency key, if any (see `lease`), so that equal requests wait
//!    for this one instead of each reserving a block.
//! 4. **Reserve** (see `reserve`) the block with one conditional `UpdateItem` that adds
//!    `count` to `n` and writes the reservation into the counter's ring of recent
//!    reservations: atomic, and its only condition (that the ring does not hold this
//!    reservation's token yet) no other creator can fail. The block
//!    `n-count+1 ..= n` is this request's. Sent again after a lost answer, it is refused
//!    if the first was applied, and the ring gives the first block's end.
//! 5. **Write** the records and the finished key in one transaction without the counter
//!    (and without parent checks), so it competes with nobody. Refused for a conflict or
//!    throttling, it is sent again with the same numbers until the deadline: conflicts
//!    alone burn no number. Refused with records carrying this create's token: written.
//!    A record of someone else at a reserved number (written by something that did not
//!    move the counter) makes it reserve again, at most three times.
//! 6. **Account** for a block reserved and not written (see `void`): it is recorded as
//!    void with its cause (`deadline`, `write_failed`, `collision`) and the request ID,
//!    by tombstones at the records' own keys, so a late write of the block is refused.
//!    A void that meets this create's own records finds that the write succeeded after
//!    all: the create answers 201. Steps 1 to 5 stop [`VOID_RESERVE`] before the store's
//!    deadline to leave this step its time.
//!
//! On any failure after step 3 the lease is released. The one gap a live process cannot
//! account for is a reservation whose answer was lost while more than `reserve::RING`
//! other reservations were made before it was sent again (logged); a process killed
//! between steps 4 and 5 leaves its block missing, and an admin voids it after a grace
//! period (`vtid repair`). Uniqueness never rests on the counter: every record is
//! written on `attribute_not_exists(pk)`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::DynamoStore;
use super::errors::{Backoff, CancelKind, Cancellation};
use super::item::{
    COUNTER_VALUE, VOID_CAUSE, counter_key, get_n, internal, is_tombstone, n, record_item,
    record_key, writer_token, written_by,
};
use super::lease::{self, Claim, Lease, Settled};
use super::reserve::{ReservationToken, Unreserved};
use super::transact::{Outcome, Transaction, WhenBusy};
use super::void::Voided;
use crate::deadline::Deadline;
use crate::record::{HistoryEntry, Record};
use crate::store::{
    CreateOutcome, CreateRequest, IdempotencyKey, StoreError, VoidCause, number_drafts,
};
use crate::vtid::Vtid;

/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Reservations one create may make before it gives up (only a writer that ignores the
/// counter can use them up).
const MAX_RESERVATIONS: usize = 3;
/// Kept back from the store's deadline for step 6: voiding a block that was given up
/// (and learning in time whether the write landed after all).
pub const VOID_RESERVE: Duration = Duration::from_millis(300);
/// How long step 6 may go on, on its own task, past the request's answer.
const ACCOUNT_PATIENCE: Duration = Duration::from_secs(20);

/// What a create lost and must account for.
enum Lost {
    /// A block reserved and not written.
    Block { first: u64 },
    /// A reservation whose outcome is unknown: its token settles it (see `account`).
    Reservation { token: ReservationToken },
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
    /// The lease was taken over: the new holder's outcome. The block stays unwritten.
    Replayed(CreateOutcome),
    /// A record already holds one of the numbers: reserve again.
    Taken,
}

/// One create in progress: the request, its writer token, and the deadline steps 1 to 5
/// work to.
struct Create<'a> {
    req: &'a CreateRequest,
    writer: String,
    work: Deadline,
}

impl DynamoStore {
    pub(super) async fn create_records(
        &self,
        req: CreateRequest,
    ) -> Result<CreateOutcome, StoreError> {
        let c = Create {
            req: &req,
            writer: writer_token(),
            work: req.deadline.earlier(VOID_RESERVE),
        };
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
            match self.guess(&c, checked, expected).await? {
                Guess::Written(records) => {
                    return Ok(CreateOutcome {
                        records,
                        replayed: false,
                    });
                }
                Guess::Replayed(outcome) => return Ok(outcome),
                Guess::Refused { parents_proven } => {
                    crate::metrics::add(crate::metrics::name::GUESSES_REFUSED, 1);
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
        // 4 to 6. Reserve, write, account; give the lease back on failure.
        let result = self.reserve_and_write(&c, lease.as_ref()).await;
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
        c: &Create<'_>,
        parents: &[Vtid],
        expected: u64,
    ) -> Result<Guess, StoreError> {
        let req = c.req;
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
        let records_at = items.len();
        items.extend(self.record_puts(&built, &c.writer)?);
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
        let cancel = match self.transact(&tx, c.work, WhenBusy::GiveUp).await? {
            Outcome::Written => {
                self.sequencer.saw(year, expected + count);
                return Ok(Guess::Written(records(built)));
            }
            Outcome::Cancelled(cancel) => cancel,
        };
        if records_ours(&cancel, records_at, built.len(), &c.writer) {
            // An earlier attempt of this very transaction was applied.
            self.sequencer.saw(year, expected + count);
            return Ok(Guess::Written(records(built)));
        }
        // A reused key answers the same whatever else failed.
        if let Some(idem) = &req.idempotency
            && cancel.failed_condition(key_at)
            && let Some(stored) = cancel.item(key_at).filter(|i| lease::is_key_item(i))
        {
            match self.settle(idem, stored.clone(), c.work).await? {
                Settled::Done(outcome) => return Ok(Guess::Replayed(outcome)),
                Settled::Free => {}
            }
        }
        if let Some(p) = parents
            .iter()
            .enumerate()
            .find_map(|(i, p)| cancel.failed_condition(i).then_some(*p))
        {
            return Err(StoreError::ParentNotFound(p));
        }
        if let Some(seen) = cancel
            .item(counter_at)
            .and_then(|i| get_n(i, COUNTER_VALUE))
        {
            self.sequencer.saw(year, seen);
        }
        match cancel.kind() {
            CancelKind::Condition | CancelKind::Conflict => Ok(Guess::Refused {
                parents_proven: cancel.conditions_evaluated(),
            }),
            CancelKind::Throttled => Err(StoreError::Unavailable("create throttled".into())),
            CancelKind::Other(codes) => Err(internal(format!("create refused: {codes}"))),
        }
    }

    /// Steps 4 to 6.
    async fn reserve_and_write(
        &self,
        c: &Create<'_>,
        lease: Option<&Lease>,
    ) -> Result<CreateOutcome, StoreError> {
        let req = c.req;
        let year = req.now.year();
        let count = req.drafts.len() as u64;
        for _ in 0..MAX_RESERVATIONS {
            let token = ReservationToken::new();
            let end = match self.reserve(year, count, token, c.work).await {
                Ok(end) => end,
                Err(unreserved) => {
                    return Err(self.give_up_reservation(c, token, unreserved).await);
                }
            };
            self.sequencer.reserved(year, end, count);
            let first = end + 1 - count;
            let built = number_drafts(&req.drafts, year, first, &req.by, req.now)?;
            match self.write_block(c, &built, lease).await {
                Ok(Placed::Written(records)) => {
                    return Ok(CreateOutcome {
                        records,
                        replayed: false,
                    });
                }
                Ok(Placed::Replayed(outcome)) => {
                    // This request outlived its lease: its block goes unwritten.
                    self.give_up_block(c, first, VoidCause::Deadline).await;
                    return Ok(outcome);
                }
                Ok(Placed::Taken) => {
                    tracing::warn!(
                        year,
                        end,
                        "a reserved number already holds a record; reserving again"
                    );
                    self.give_up_block(c, first, VoidCause::Collision).await;
                    continue;
                }
                Err(error) => {
                    return match self.give_up_block(c, first, give_up_cause(&error)).await {
                        // The write was applied after all: its answer had been lost.
                        Voided::Written => Ok(CreateOutcome {
                            records: records(built),
                            replayed: false,
                        }),
                        Voided::Numbers(_) => Err(error),
                    };
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "every one of {MAX_RESERVATIONS} reserved blocks already held records"
        )))
    }

    /// Step 5: the records and the finished key, in one transaction, until written.
    async fn write_block(
        &self,
        c: &Create<'_>,
        built: &[(Record, HistoryEntry)],
        lease: Option<&Lease>,
    ) -> Result<Placed, StoreError> {
        let req = c.req;
        let mut items = self.record_puts(built, &c.writer)?;
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
            let cancel = match self.transact(&tx, c.work, WhenBusy::Retry).await? {
                Outcome::Written => return Ok(Placed::Written(records(built.to_vec()))),
                Outcome::Cancelled(cancel) => cancel,
            };
            match cancel.kind() {
                CancelKind::Conflict | CancelKind::Throttled => {
                    // The numbers are still ours: the same write, a little later.
                    backoff.pause(c.work).await?;
                    continue;
                }
                CancelKind::Other(codes) => {
                    return Err(internal(format!("create refused: {codes}")));
                }
                CancelKind::Condition => {}
            }
            if records_ours(&cancel, 0, built.len(), &c.writer) {
                // An earlier attempt was applied and its answer lost.
                return Ok(Placed::Written(records(built.to_vec())));
            }
            if let Some(idem) = &req.idempotency
                && cancel.failed_condition(key_at)
            {
                return self.lost_lease(idem, &cancel, key_at, c.work).await;
            }
            if (0..built.len()).any(|i| cancel.failed_condition(i)) {
                return Ok(Placed::Taken);
            }
            return Err(internal("create refused without a reason"));
        }
    }

    /// Step 6 for a block reserved and not written: void it, unless it turns out to hold
    /// this create's records. Waits for the void until the store's deadline; a void not
    /// done by then goes on by itself (see [`DynamoStore::account`]).
    async fn give_up_block(&self, c: &Create<'_>, first: u64, cause: VoidCause) -> Voided {
        self.await_account(c, Lost::Block { first }, cause).await
    }

    /// Step 6 for a reservation that did not return: if it may have been applied, the
    /// one block its token holds is settled and voided (see `account`). The error to
    /// answer with.
    async fn give_up_reservation(
        &self,
        c: &Create<'_>,
        token: ReservationToken,
        unreserved: Unreserved,
    ) -> StoreError {
        if unreserved.maybe_applied {
            let lost = Lost::Reservation { token };
            let cause = give_up_cause(&unreserved.error);
            self.await_account(c, lost, cause).await;
        }
        unreserved.error
    }

    async fn await_account(&self, c: &Create<'_>, lost: Lost, cause: VoidCause) -> Voided {
        let year = c.req.now.year();
        let count = c.req.drafts.len() as u64;
        let task = self.account(year, count, lost, cause, c.writer.clone());
        match c.req.deadline.bound(task).await {
            Ok(Ok(voided)) => voided,
            // Still running (or gone): it finishes, or logs, on its own.
            _ => Voided::Numbers(Vec::new()),
        }
    }

    /// Records what was lost as void, on a task of its own with [`ACCOUNT_PATIENCE`]: the
    /// request answers at its deadline whatever the void does, and the void does not
    /// depend on how much of the request's time was left (in `vtid serve` it finishes in
    /// the background; on Lambda in the next invocation of the same instance, when the
    /// frozen process runs again). A void that fails leaves the numbers missing, logged
    /// with the request ID.
    fn account(
        &self,
        year: u16,
        count: u64,
        lost: Lost,
        cause: VoidCause,
        writer: String,
    ) -> tokio::task::JoinHandle<Voided> {
        let store = self.detached();
        let request_id = crate::scope::request_id();
        let deadline = Deadline::after(ACCOUNT_PATIENCE);
        tokio::spawn(crate::scope::within(
            deadline,
            request_id.clone(),
            async move {
                let first = match lost {
                    Lost::Block { first } => first,
                    // Sent once more with its token: refused if the lost attempt was
                    // applied (the ring names its block), else it takes a block in its
                    // place, and the lost attempt, if it lands later, is refused by the
                    // ring. Either way the token holds exactly one block: it is voided.
                    Lost::Reservation { token } => {
                        match store.reserve(year, count, token, deadline).await {
                            Ok(end) => end + 1 - count,
                            Err(unreserved) => {
                                tracing::error!(%request_id, year, %token, error = %unreserved.error, "a reservation of unknown outcome could not be settled: if it was applied, its block is missing");
                                return Voided::Numbers(Vec::new());
                            }
                        }
                    }
                };
                let numbers: Vec<u64> = (first..first + count).collect();
                match store
                    .void_block(year, &numbers, cause, &writer, &request_id, deadline)
                    .await
                {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(
                            %request_id,
                            year,
                            first,
                            count,
                            cause = cause.as_str(),
                            error = %e,
                            "numbers given up but not recorded as void: the audit shows them missing"
                        );
                        Voided::Numbers(Vec::new())
                    }
                }
            },
        ))
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
        writer: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        built
            .iter()
            .map(|(r, e)| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(record_item(r, e, writer)?))
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

/// The void cause of a write or reservation that ended in `e`: out of time, or failed.
fn give_up_cause(e: &StoreError) -> VoidCause {
    match e {
        StoreError::Unavailable(_) => VoidCause::Deadline,
        _ => VoidCause::WriteFailed,
    }
}

/// Whether the records refused at `at .. at + count` are this create's own (its writer
/// token): an earlier attempt of the same write was applied and its answer lost. One is
/// enough: a transaction writes all of its records or none.
fn records_ours(c: &Cancellation, at: usize, count: usize, writer: &str) -> bool {
    (at..at + count).any(|i| {
        c.failed_condition(i)
            && c.item(i)
                .is_some_and(|item| written_by(item, writer) && !is_tombstone(item))
    })
}

fn vtids(built: &[(Record, HistoryEntry)]) -> Vec<Vtid> {
    built.iter().map(|(r, _)| r.vtid).collect()
}

fn records(built: Vec<(Record, HistoryEntry)>) -> Vec<Record> {
    built.into_iter().map(|(r, _)| r).collect()
}

fn parent_check(table: &str, parent: Vtid) -> Result<TransactWriteItem, StoreError> {
    // A tombstone at the parent's key is a number given up, not a parent.
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(record_key(parent)))
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(#void)")
        .expression_attribute_names("#void", VOID_CAUSE)
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// The counter moved from `expected` to `next`, on the condition that it still holds
/// `expected` (that it does not exist yet, for 0: a new year). The reservations' ring is
/// left as it is: each slot names its own block's end, which this move does not change.
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
    use aws_sdk_dynamodb::types::CancellationReason;

    fn refused(item: super::super::item::Item) -> CancellationReason {
        CancellationReason::builder()
            .code("ConditionalCheckFailed")
            .set_item(Some(item))
            .build()
    }

    fn none() -> CancellationReason {
        CancellationReason::builder().code("None").build()
    }

    fn item(writer: &str, tombstone: bool) -> super::super::item::Item {
        let mut i = super::super::item::Item::new();
        i.insert("writer".into(), super::super::item::s(writer));
        if tombstone {
            i.insert(VOID_CAUSE.into(), super::super::item::s("deadline"));
        }
        i
    }

    #[test]
    fn records_refused_with_our_token_are_our_own_earlier_write() {
        // A guess: parent check, counter, two records.
        let c = Cancellation::new(vec![
            none(),
            refused(super::super::item::Item::new()),
            refused(item("mine", false)),
            refused(item("mine", false)),
        ]);
        assert!(records_ours(&c, 2, 2, "mine"));
        assert!(
            !records_ours(&c, 2, 2, "theirs"),
            "another writer's records"
        );
        let c = Cancellation::new(vec![refused(item("mine", true))]);
        assert!(
            !records_ours(&c, 0, 1, "mine"),
            "a tombstone is not a record"
        );
        let c = Cancellation::new(vec![none()]);
        assert!(!records_ours(&c, 0, 1, "mine"), "nothing refused");
    }

    #[test]
    fn a_block_given_up_is_void_for_time_or_failure() {
        assert_eq!(
            give_up_cause(&StoreError::Unavailable("deadline".into())),
            VoidCause::Deadline
        );
        assert_eq!(
            give_up_cause(&StoreError::Internal("refused".into())),
            VoidCause::WriteFailed
        );
    }
}
