//! `vtid import`: records written under their own VTIDs, and the counter moved past them.

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::DynamoStore;
use super::errors::{Backoff, sdk_error};
use super::item::{DOC, doc, internal, is_tombstone, key, record_item, s, to_json, writer_token};
use super::sequencing::counter_move;
use super::transact::{Outcome, Transaction, WhenBusy};
use crate::deadline::Deadline;
use crate::record::{Action, HistoryEntry, Record};
use crate::store::{CounterAdvance, ImportResult, StoreError, schema, skipped_ranges};

/// How long one counter move may keep trying through throttling.
const IMPORT_WRITE_PATIENCE: Duration = Duration::from_secs(30);

impl DynamoStore {
    pub(super) async fn import_one(&self, record: &Record) -> Result<ImportResult, StoreError> {
        let item = record_item(
            record,
            &HistoryEntry::creation(record, Action::Imported),
            &writer_token(),
        )?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(ImportResult::Imported),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    if c.item().is_some_and(is_tombstone) {
                        // A number the ledger gave up stays given up.
                        return Ok(ImportResult::Conflict);
                    }
                    let existing = match c.item() {
                        Some(item) => doc::<Record>(item, DOC)?,
                        None => self
                            .get_record(record.vtid)
                            .await?
                            .ok_or_else(|| internal("record vanished"))?,
                    };
                    Ok(if existing == *record {
                        ImportResult::AlreadyPresent
                    } else {
                        ImportResult::Conflict
                    })
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    pub(super) async fn move_counter(&self, advance: &CounterAdvance) -> Result<(), StoreError> {
        let (year, to, imported) = (advance.year, advance.to, &advance.imported);
        let mut backoff = Backoff::new();
        for _ in 0..32 {
            let current = self.counter_notes(year).await?.counter;
            if to <= current {
                return Ok(());
            }
            let mut note = key(schema::counter_pk(year), schema::skip_sk(to));
            note.insert(
                "ranges".into(),
                s(to_json(&skipped_ranges(current, to, imported))?),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(note))
                .build()
                .map_err(internal)?;
            let items = vec![
                counter_move(&self.table, year, current, to)?,
                TransactWriteItem::builder().put(put).build(),
            ];
            let tx = Transaction::new(items);
            match self
                .transact(&tx, Deadline::after(IMPORT_WRITE_PATIENCE), WhenBusy::Retry)
                .await?
            {
                Outcome::Written => {
                    self.sequencer.saw(year, to);
                    return Ok(());
                }
                // A create moved the counter meanwhile: read it again.
                Outcome::Cancelled(_) => {
                    backoff
                        .pause(Deadline::after(IMPORT_WRITE_PATIENCE))
                        .await?
                }
            }
        }
        Err(StoreError::Unavailable(
            "the counter kept moving; run the import again".into(),
        ))
    }
}
