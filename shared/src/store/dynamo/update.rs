//! PATCH: read the record, plan the change (`plan_update`, shared with SQLite), and write
//! it with its history item in one transaction on the condition that the version is
//! still the one read. Two round trips; each lost race costs one more, with no extra
//! read, because the refusal carries the record as it now is. Bounded by the deadline.
//!
//! The change writes its own token (`writer`) into the record item. Sent again after a
//! lost answer on a store that ignores `ClientRequestToken`, it is refused on the
//! version; if the record as it now is carries that token at the planned version, the
//! refusal is this change's own earlier attempt, applied: the change succeeded (not a
//! lost race, and never a 412 for an `If-Match` it satisfied itself).

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::DynamoStore;
use super::errors::{Backoff, CancelKind};
use super::item::{
    DOC, WRITER, doc, get_n, history_item, internal, n, record_key, s, to_json, writer_token,
    written_by,
};
use super::transact::{Outcome, Transaction, WhenBusy};
use crate::record::{HistoryEntry, Record};
use crate::store::{StoreError, UpdateOutcome, UpdateRequest, plan_update};

impl DynamoStore {
    pub(super) async fn update_record(
        &self,
        req: UpdateRequest,
    ) -> Result<UpdateOutcome, StoreError> {
        let read = req.deadline.bound(self.get_record(req.vtid)).await??;
        let mut current = read.ok_or(StoreError::NotFound)?;
        let mut backoff = Backoff::new();
        loop {
            let writer = writer_token();
            let Some((next, entry)) = plan_update(&current, &req)? else {
                return Ok(UpdateOutcome {
                    record: current,
                    changed: false,
                });
            };
            let tx = Transaction::new(self.change_items(&current, &next, &entry, &writer)?);
            let c = match self.transact(&tx, req.deadline, WhenBusy::GiveUp).await? {
                Outcome::Written => {
                    return Ok(UpdateOutcome {
                        record: next,
                        changed: true,
                    });
                }
                Outcome::Cancelled(c) => c,
            };
            if c.failed_condition(0)
                && let Some(found) = c.item(0)
                && written_by(found, &writer)
                && get_n(found, "version") == Some(next.version)
            {
                return Ok(UpdateOutcome {
                    record: next,
                    changed: true,
                });
            }
            match c.kind() {
                CancelKind::Condition if c.failed_condition(0) => {
                    // Another change won: plan again on the record as it now is.
                    current = match c.item(0) {
                        Some(item) => doc(item, DOC)?,
                        None => req
                            .deadline
                            .bound(self.get_record(req.vtid))
                            .await??
                            .ok_or(StoreError::NotFound)?,
                    };
                }
                CancelKind::Conflict => {
                    // A transaction in flight on the record: a pause, then read it again.
                    backoff.pause(req.deadline).await?;
                    current = req
                        .deadline
                        .bound(self.get_record(req.vtid))
                        .await??
                        .ok_or(StoreError::NotFound)?;
                }
                CancelKind::Throttled => {
                    return Err(StoreError::Unavailable("change throttled".into()));
                }
                CancelKind::Condition | CancelKind::Other(_) => {
                    return Err(internal(format!("change refused: {:?}", c.kind())));
                }
            }
        }
    }

    /// The record's update (on its version) and the new history item.
    fn change_items(
        &self,
        current: &Record,
        next: &Record,
        entry: &HistoryEntry,
        writer: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(record_key(next.vtid)))
            .condition_expression("#v = :current")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#d", DOC)
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#t", "isTest")
            .expression_attribute_names("#a", "assignedTo")
            .expression_attribute_names("#w", WRITER)
            .expression_attribute_values(":writer", s(writer))
            .expression_attribute_values(":current", n(current.version))
            .expression_attribute_values(":next", n(next.version))
            .expression_attribute_values(":doc", s(to_json(next)?))
            .expression_attribute_values(":status", s(next.status.as_str()))
            .expression_attribute_values(":test", AttributeValue::Bool(next.is_test))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match &next.assigned_to {
            Some(a) => update
                .update_expression(
                    "SET #v = :next, #d = :doc, #s = :status, #t = :test, #w = :writer, #a = :assigned",
                )
                .expression_attribute_values(":assigned", s(a)),
            None => update
                .update_expression(
                    "SET #v = :next, #d = :doc, #s = :status, #t = :test, #w = :writer REMOVE #a",
                ),
        };
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history_item(entry)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(internal)?;
        Ok(vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(internal)?)
                .build(),
            TransactWriteItem::builder().put(history).build(),
        ])
    }
}
