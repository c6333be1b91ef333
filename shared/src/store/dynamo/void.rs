//! Numbers given up, recorded by the ledger itself (step 6 of a create, see
//! `sequencing`; and `vtid repair`). A void number is two items, written in one
//! transaction:
//!
//! 1. A **tombstone** at the record's own key (`VTID-…` / `RECORD`):
//!    `{voidCause, requestId, at, writer}`, put on `attribute_not_exists(pk)`. It holds
//!    the key, and every record is put on the same condition, so a late write of the
//!    block that was given up is refused: a number is a record or void, never both.
//!    Reads take a tombstone for absent (GET 404, HEAD 404, not a parent), and it carries
//!    no index attribute, so no list and no audit count sees it as a record.
//! 2. A **note** beside the counter (`COUNTER#YYYY` / `VOID#<number>`): the audit reads
//!    it with the counter and the import skips, in the one query of that partition.
//!
//! Refused because a number already holds something (`ALL_OLD` says what):
//! - a record carrying this create's writer token: the write that was given up was
//!   applied after all, so the create succeeded ([`Voided::Written`]);
//! - a tombstone: that number is void already (by this very void, applied once before
//!   its answer was lost, or by an earlier one);
//! - a record of someone else: left out.
//!
//! The rest is voided in a new transaction.
//!
//! Cost: nothing on a create that does not fail; on the failure path one transaction of
//! 2 items a number. A void that cannot be written before its deadline leaves the number
//! missing (logged with the numbers and the request ID); an admin can void it later.

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::DynamoStore;
use super::item::{
    Item, VOID_CAUSE, WRITER, internal, is_tombstone, key, n, record_key, s, writer_token,
    written_by,
};
use super::transact::{Outcome, Transaction, WhenBusy};
use crate::deadline::Deadline;
use crate::store::{StoreError, Void, VoidCause, Voiding, schema};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// Numbers one void transaction holds (two items each; DynamoDB allows 100 items).
const NUMBERS_PER_TRANSACTION: usize = 50;
/// How long an admin's void may keep trying (outside a request).
const REPAIR_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// What giving a block up came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Voided {
    /// These numbers are void (by this call, or found void already).
    Numbers(Vec<u64>),
    /// The block holds the records of the write that was given up: it succeeded.
    Written,
}

/// The note beside the counter, as the audit reads it back.
pub fn note_item(year: u16, v: &Void) -> Item {
    let mut item = key(schema::counter_pk(year), schema::void_sk(v.number));
    item.insert("number".into(), n(v.number));
    item.insert(VOID_CAUSE.into(), s(v.cause.as_str()));
    item.insert("requestId".into(), s(&v.request_id));
    item.insert("at".into(), s(v.at.to_string()));
    item
}

/// The audit's reading of a note.
pub fn read_note(item: &Item) -> Option<Void> {
    Some(Void {
        number: super::item::get_n(item, "number")?,
        cause: VoidCause::parse(super::item::get_s(item, VOID_CAUSE)?)?,
        request_id: super::item::get_s(item, "requestId")
            .unwrap_or_default()
            .to_owned(),
        at: Timestamp::parse_lenient(super::item::get_s(item, "at")?)?,
    })
}

impl DynamoStore {
    /// Gives up `numbers` of `year` with `cause`, unless the write carrying `writer`
    /// turns out to have written them.
    pub(super) async fn void_block(
        &self,
        year: u16,
        numbers: &[u64],
        cause: VoidCause,
        writer: &str,
        request_id: &str,
        deadline: Deadline,
    ) -> Result<Voided, StoreError> {
        let mut left: Vec<u64> = numbers.to_vec();
        let mut done = Vec::new();
        let mut backoff = super::errors::Backoff::new();
        while !left.is_empty() {
            let at = Timestamp::now();
            let mut items = Vec::with_capacity(left.len() * 2);
            for &number in &left {
                let v = Void {
                    number,
                    cause,
                    request_id: request_id.to_owned(),
                    at,
                };
                items.push(tombstone_put(&self.table, year, &v, writer)?);
                items.push(note_put(&self.table, year, &v)?);
            }
            let c = match self
                .transact(&Transaction::new(items), deadline, WhenBusy::Retry)
                .await?
            {
                Outcome::Written => {
                    crate::metrics::add_by(
                        crate::metrics::name::VOIDED,
                        crate::metrics::dimension::CAUSE,
                        cause.as_str(),
                        left.len() as u64,
                    );
                    done.append(&mut left);
                    break;
                }
                Outcome::Cancelled(c) => c,
            };
            let mut kept = Vec::with_capacity(left.len());
            for (i, &number) in left.iter().enumerate() {
                if !c.failed_condition(2 * i) {
                    kept.push(number);
                    continue;
                }
                match c.item(2 * i) {
                    Some(item) if written_by(item, writer) && !is_tombstone(item) => {
                        return Ok(Voided::Written);
                    }
                    // Void already: by this very void's earlier attempt, or before.
                    Some(item) if is_tombstone(item) => done.push(number),
                    _ => {}
                }
            }
            if kept.len() == left.len() {
                // Cancelled, but no number's condition failed: a conflict or throttling,
                // which `transact` does not resend. The same void again, a little later.
                backoff.pause(deadline).await?;
            }
            left = kept;
        }
        done.sort_unstable();
        Ok(Voided::Numbers(done))
    }

    /// `vtid repair`: voids `numbers` that hold nothing, in transactions of
    /// [`NUMBERS_PER_TRANSACTION`]; the numbers voided.
    pub(super) async fn void_listed(&self, voiding: &Voiding) -> Result<Vec<u64>, StoreError> {
        let (year, cause, request_id) = (voiding.year, voiding.cause, &voiding.request_id);
        let writer = writer_token();
        let mut voided = Vec::new();
        for chunk in voiding.numbers.chunks(NUMBERS_PER_TRANSACTION) {
            let deadline = Deadline::after(REPAIR_PATIENCE);
            let work = self.void_block(year, chunk, cause, &writer, request_id, deadline);
            match crate::scope::within(deadline, request_id.clone(), work).await? {
                Voided::Numbers(mut n) => voided.append(&mut n),
                Voided::Written => return Err(internal("a repair found its own record")),
            }
        }
        Ok(voided)
    }
}

fn tombstone_put(
    table: &str,
    year: u16,
    v: &Void,
    writer: &str,
) -> Result<TransactWriteItem, StoreError> {
    let vtid = u32::try_from(v.number)
        .ok()
        .and_then(|seq| Vtid::new(year, seq))
        .ok_or_else(|| internal(format!("no VTID numbered {} in {year}", v.number)))?;
    let mut item = record_key(vtid);
    item.insert(VOID_CAUSE.into(), s(v.cause.as_str()));
    item.insert("requestId".into(), s(&v.request_id));
    item.insert("at".into(), s(v.at.to_string()));
    item.insert(WRITER.into(), s(writer));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn note_put(table: &str, year: u16, v: &Void) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(note_item(year, v)))
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}
