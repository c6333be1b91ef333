//! The idempotency key and its lease.
//!
//! A key is one item, `IDEM#<tenant>#<key>` / `IDEM`, holding the request's fingerprint.
//! When the request is done it also holds the VTIDs it made, and DynamoDB's TTL removes
//! it 24 hours later. On the uncontended path the finished key is written in the same
//! transaction as the records, so there is no in-progress state at all. The contended
//! path takes numbers before it writes, so equal requests must not each take a block:
//! there the key is leased first. The protocol, step by step:
//!
//! 1. **Claim** ([`DynamoStore::claim`]): a conditional `PutItem` of
//!    `{fingerprint, lease: <token>, leaseUntil: <ms>, expiresAt: <s>}` where the key is
//!    absent, expired (`expiresAt < now`), or an unfinished lease whose time is up
//!    (`leaseUntil < now`). The lease lasts until the claimer's own deadline, which is
//!    within the function's timeout; `expiresAt` is set to the same moment, so a lease
//!    whose holder died never blocks the key for 24 hours, and the uncontended path's
//!    condition sees it as free once it ends. Refused, the item as it is (`ALL_OLD`) says:
//!    - our own token: the SDK sent our claim again after losing the first answer, which
//!      was applied: the lease is ours ([`Claim::Leased`]);
//!    - another fingerprint: 409 `idempotency_conflict`;
//!    - VTIDs: an earlier equal request finished: replay it ([`Claim::Done`]);
//!    - another live lease: wait for it ([`DynamoStore::settle`]).
//! 2. **Use**: the write transaction puts the finished key on the condition
//!    `lease = <token>`. If the lease was taken over meanwhile, the write fails as a whole
//!    and this request answers with the new holder's outcome.
//! 3. **Release** ([`DynamoStore::release`]): on every failure after the claim, a
//!    `DeleteItem` on the condition `lease = <token> AND attribute_not_exists(vtids)`, so
//!    that a retry need not wait for the lease to run out. Best effort: if the release is
//!    itself lost, the lease still ends at the holder's deadline.
//! 4. **Wait**: a request meeting a live lease polls the key (consistent reads, growing
//!    pauses) until it is done (replay), gone or over (claim it), or this request's
//!    deadline comes: 409 `idempotency_in_progress` with `Retry-After`.
//!
//! ## Limits and assumptions
//!
//! - **Clocks.** `leaseUntil` is the holder's wall clock plus its budget; a claimer
//!   compares it with its own wall clock. Lambda's clocks follow Amazon Time Sync, so
//!   instances differ by milliseconds, but nothing here depends on that: with a skew of
//!   `s`, a waiter whose clock is ahead takes a lease over up to `s` early, one whose clock
//!   is behind up to `s` late.
//! - **Early takeover is safe.** The holder's write is conditional on `lease = <token>`:
//!   once the lease is another's, that write fails whole (no record, no key) and the
//!   holder answers with the new holder's outcome; its reserved block stays unwritten and
//!   is voided (`deadline`), counted by the audit. Skew, a paused process or a holder past
//!   its deadline can cost numbers, never a second record for a key.
//! - **Late takeover costs time.** A waiter waits for the lease to end, at most until its
//!   own deadline: then 409 `idempotency_in_progress`, and the client's retry claims the
//!   key.
//! - **How long a lease lives.** Until the holder's request deadline (the request budget,
//!   within the function's timeout), at most ~10 s by default; `expiresAt` is the same
//!   moment, so TTL and the guess's condition see a dead holder's key as free then.
//! - **Past the lease.** A holder that outlives its lease unclaimed still writes (its
//!   condition holds): nobody else took the key, so its records are the key's.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::DynamoStore;
use super::errors::{Backoff, Failure, classify};
use super::item::{Item, doc, get_n, get_s, internal, key, n, s, to_json};
use crate::deadline::Deadline;
use crate::store::schema::{self, TTL_ATTRIBUTE};
use crate::store::{CreateOutcome, IDEMPOTENCY_TTL_SECONDS, IdempotencyKey, StoreError};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

const FINGERPRINT: &str = "fingerprint";
const VTIDS: &str = "vtids";
const LEASE: &str = "lease";
const LEASE_UNTIL: &str = "leaseUntil";

/// A lease this request holds on an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
}

pub enum Claim {
    Leased(Lease),
    /// An equal request finished: its records.
    Done(CreateOutcome),
}

/// What a key held by someone else came to while this request waited.
pub enum Settled {
    /// An equal request finished: replay it.
    Done(CreateOutcome),
    /// The key is free again (its holder gave up or died): it may be claimed.
    Free,
}

fn key_of(idem: &IdempotencyKey) -> Item {
    key(
        schema::idempotency_pk(&idem.scope, &idem.key),
        schema::IDEMPOTENCY_SK,
    )
}

fn now_ms() -> u64 {
    Timestamp::now().as_datetime().timestamp_millis().max(0) as u64
}

/// The finished key item: the fingerprint and the VTIDs, for 24 hours.
pub fn finished_item(
    idem: &IdempotencyKey,
    vtids: &[Vtid],
    now: Timestamp,
) -> Result<Item, StoreError> {
    let mut item = key_of(idem);
    item.insert(FINGERPRINT.into(), s(&idem.fingerprint));
    item.insert(VTIDS.into(), s(to_json(&vtids)?));
    item.insert(
        TTL_ATTRIBUTE.into(),
        n(now.unix_seconds() + IDEMPOTENCY_TTL_SECONDS),
    );
    Ok(item)
}

/// The `Put` of the finished key in a create transaction: where the key is free (or
/// expired) on the uncontended path, where this request's lease still holds it otherwise.
pub fn finished_put(
    table: &str,
    idem: &IdempotencyKey,
    vtids: &[Vtid],
    now: Timestamp,
    lease: Option<&Lease>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(finished_item(idem, vtids, now)?));
    let put = match lease {
        None => put
            .condition_expression("attribute_not_exists(pk) OR #exp < :now")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now.unix_seconds())),
        Some(l) => put
            .condition_expression("#lease = :token")
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_values(":token", s(&l.token)),
    };
    let put = put
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Whether an item read from the table is an idempotency key (rather than a record).
pub fn is_key_item(item: &Item) -> bool {
    get_s(item, FINGERPRINT).is_some()
}

impl DynamoStore {
    /// Step 1: lease the key until `deadline`, or learn how it is taken.
    pub(super) async fn claim(
        &self,
        idem: &IdempotencyKey,
        deadline: Deadline,
    ) -> Result<Claim, StoreError> {
        let token = super::transact::new_token();
        let until = deadline.epoch_millis();
        let mut item = key_of(idem);
        item.insert(FINGERPRINT.into(), s(&idem.fingerprint));
        item.insert(LEASE.into(), s(&token));
        item.insert(LEASE_UNTIL.into(), n(until));
        item.insert(TTL_ATTRIBUTE.into(), n(until.div_ceil(1000)));
        let mut backoff = Backoff::new();
        loop {
            let now = now_ms();
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(
                    "attribute_not_exists(pk) OR #exp < :now_s \
                     OR (attribute_not_exists(#vtids) AND #until < :now_ms)",
                )
                .expression_attribute_names("#exp", TTL_ATTRIBUTE)
                .expression_attribute_names("#vtids", VTIDS)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":now_s", n(now / 1000))
                .expression_attribute_values(":now_ms", n(now))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send();
            let e = match deadline.bound(sent).await? {
                Ok(_) => return Ok(Claim::Leased(Lease { token })),
                Err(e) => e,
            };
            if let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error() {
                let stored = c.item().cloned().unwrap_or_default();
                if get_s(&stored, LEASE) == Some(token.as_str()) {
                    // Our own claim, applied once already; its answer was lost.
                    return Ok(Claim::Leased(Lease { token }));
                }
                match self.settle(idem, stored, deadline).await? {
                    Settled::Done(outcome) => return Ok(Claim::Done(outcome)),
                    Settled::Free => continue,
                }
            }
            match classify(&e) {
                Failure::Busy(_) | Failure::Unknown(_) => backoff.pause(deadline).await?,
                bug => return Err(bug.into()),
            }
        }
    }

    /// Step 3: gives the lease back so that a retry can claim the key at once.
    pub(super) async fn release(&self, idem: &IdempotencyKey, lease: &Lease) {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(idem)))
            .condition_expression("#lease = :token AND attribute_not_exists(#vtids)")
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_names("#vtids", VTIDS)
            .expression_attribute_values(":token", s(&lease.token))
            .send();
        // Bounded on its own: it runs when the request's time is nearly up.
        match tokio::time::timeout(RELEASE_TIMEOUT, sent).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.code() == Some("ConditionalCheckFailedException") => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "idempotency lease not released; it ends at its deadline")
            }
            Err(_) => {
                tracing::warn!("idempotency lease release timed out; it ends at its deadline")
            }
        }
    }

    /// Step 4: answers a request whose key is taken, from the stored item: 409 for
    /// another body, the records of a finished request, or a wait for a live lease.
    pub(super) async fn settle(
        &self,
        idem: &IdempotencyKey,
        mut stored: Item,
        deadline: Deadline,
    ) -> Result<Settled, StoreError> {
        let mut backoff = Backoff::new();
        loop {
            if stored.is_empty() {
                return Ok(Settled::Free);
            }
            if get_s(&stored, FINGERPRINT) != Some(idem.fingerprint.as_str()) {
                return Err(StoreError::IdempotencyConflict);
            }
            if get_s(&stored, VTIDS).is_some() {
                let vtids: Vec<Vtid> = doc(&stored, VTIDS)?;
                let records = self.get_many(&vtids).await?;
                return Ok(Settled::Done(CreateOutcome {
                    records,
                    replayed: true,
                }));
            }
            if get_n(&stored, LEASE_UNTIL).unwrap_or(0) < now_ms() {
                return Ok(Settled::Free);
            }
            // Slower than the write backoff: the holder needs a few round trips.
            crate::metrics::add(crate::metrics::name::LEASE_WAITS, 1);
            if backoff.pause(deadline).await.is_err() {
                return Err(StoreError::IdempotencyInProgress);
            }
            let read = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key_of(idem)))
                .consistent_read(true)
                .send();
            stored = match deadline.bound(read).await {
                Err(_) => return Err(StoreError::IdempotencyInProgress),
                Ok(Ok(out)) => out.item().cloned().unwrap_or_default(),
                Ok(Err(e)) => match classify(&e) {
                    Failure::Bug(c) => return Err(StoreError::Internal(c)),
                    // Read again after the next pause.
                    _ => stored,
                },
            };
        }
    }
}

/// How long a lease release may take.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
