//! How a create gets its numbers: conditional writes on the year's counter item
//! (`COUNTER#YYYY` / `COUNTER`, attribute `n`: the highest number reserved).
//!
//! 1. **Guess** (warm and uncontended only). A process that knows the counter's value, has
//!    seen no contention for [`CONTENTION_WINDOW`](super::CONTENTION_WINDOW) (see
//!    `sequencer`) and has no other create in flight
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
//! 4. **Reserve** (see `reserve`) the block with one `UpdateItem ADD n :count`
//!    (`UPDATED_NEW`): atomic, and its only condition (that the counter does not name
//!    this reservation's token yet) no other creator can fail, so it never loses to
//!    another creator; it is retried with backoff when a transaction holds the counter.
//!    The block `n-count+1 ..= n` is this request's. Sent again after a lost answer, it
//!    is refused if the first was applied, and the refusal gives the block's end.
//! 5. **Write** the records and the finished key in one transaction without the counter
//!    (and without parent checks), so it competes with nobody. Refused for a conflict or
//!    throttling, it is sent again with the same numbers until the deadline: conflicts
//!    alone burn no number. A record already at a reserved number (written by something
//!    that did not move the counter) makes it reserve again, at most three times.
//!
//! On any failure after step 3 the lease is released. The numbers of a block reserved
//! and never written (the writer died, or gave up at its deadline, or its answer was lost
//! and another creator reserved before it sent it again) are the only gaps; the audit
//! lists them. Uniqueness never rests on the counter: every record is written
//! on `attribute_not_exists(pk)`.

use aws_sdk_dynamodb::types::{
    ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::DynamoStore;
use super::errors::{Backoff, CancelKind, Cancellation};
use super::item::{
    COUNTER_RESERVED_BY, COUNTER_VALUE, DOC, counter_key, doc, get_n, internal, n, record_item,
    record_key,
};
use super::lease::{self, Claim, Lease, Settled};
use super::transact::{Outcome, Transaction, WhenBusy};
use crate::deadline::Deadline;
use crate::record::{HistoryEntry, Record};
use crate::store::{CreateOutcome, CreateRequest, IdempotencyKey, StoreError, number_drafts};
use crate::vtid::Vtid;

/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Reservations one create may make before it gives up (only a writer that ignores the
/// counter can use them up).
const MAX_RESERVATIONS: usize = 3;

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
/// `expected` (that it does not exist yet, for 0: a new year). The last reservation's
/// token goes: its sender must not take this move's value for its own block.
pub fn counter_move(
    table: &str,
    year: u16,
    expected: u64,
    next: u64,
) -> Result<TransactWriteItem, StoreError> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(counter_key(year)))
        .update_expression("SET #n = :next REMOVE #by")
        .expression_attribute_names("#n", COUNTER_VALUE)
        .expression_attribute_names("#by", COUNTER_RESERVED_BY)
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
