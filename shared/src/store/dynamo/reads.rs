//! Reads by key: a record, its existence, many records at once, a page of its history,
//! the counter's partition, and the health check's read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::DynamoStore;
use super::errors::{Backoff, sdk_error};
use super::item::{
    COUNTER_VALUE, CREATED, DOC, Item, VOID_CAUSE, doc, get_n, get_s, internal, is_tombstone, key,
    record_key, s,
};
use crate::deadline::Deadline;
use crate::record::{HistoryEntry, Record};
use crate::store::limits::HISTORY;
use crate::store::schema::{
    self, COUNTER_SK, HISTORY_SK_PREFIX, PK, RECORD_SK, SK, SKIP_SK_PREFIX, VOID_SK_PREFIX,
};
use crate::store::{HistoryPage, HistoryQuery, StoreError, Void};

/// What the counter's partition holds.
#[derive(Debug, Default)]
pub struct CounterNotes {
    pub counter: u64,
    pub skipped: Vec<[u64; 2]>,
    pub void: Vec<Void>,
}
use crate::vtid::Vtid;

/// Keys one `BatchGetItem` may ask for.
const BATCH_GET_KEYS: usize = 100;
/// How long reads of unprocessed keys are retried.
const BATCH_GET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

impl DynamoStore {
    /// One consistent `GetItem` of the record's document.
    pub(super) async fn get_record(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(record_key(vtid)))
            .projection_expression("#d")
            .expression_attribute_names("#d", DOC)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        // A tombstone (a number given up) has no document: absent.
        out.item()
            .filter(|i| i.contains_key(DOC))
            .map(|i| doc(i, DOC))
            .transpose()
    }

    /// One consistent `GetItem` of the key alone (and the tombstone's mark).
    pub(super) async fn record_exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(record_key(vtid)))
            .projection_expression("pk, #void")
            .expression_attribute_names("#void", VOID_CAUSE)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item().is_some_and(|i| !is_tombstone(i)))
    }

    /// Reads `vtids` in order; any that does not exist is `NotFound`.
    pub(super) async fn get_many(&self, vtids: &[Vtid]) -> Result<Vec<Record>, StoreError> {
        let mut found = self.fetch(vtids).await?;
        vtids
            .iter()
            .map(|v| found.remove(v).ok_or(StoreError::NotFound))
            .collect()
    }

    /// The records among `vtids` that exist, read consistently with `BatchGetItem` (100 keys
    /// a request; unprocessed keys are asked again for a short while, then it is 503).
    pub(super) async fn fetch(&self, vtids: &[Vtid]) -> Result<HashMap<Vtid, Record>, StoreError> {
        let mut found: HashMap<Vtid, Record> = HashMap::new();
        let deadline = Deadline::after(BATCH_GET_PATIENCE);
        for chunk in vtids.chunks(BATCH_GET_KEYS) {
            let keys: Vec<Item> = chunk.iter().map(|v| record_key(*v)).collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("#d")
                    .expression_attribute_names("#d", DOC)
                    .build()
                    .map_err(internal)?,
            );
            let mut backoff = Backoff::new();
            while let Some(req) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if !item.contains_key(DOC) {
                        continue; // a tombstone
                    }
                    let r: Record = doc(item, DOC)?;
                    found.insert(r.vtid, r);
                }
                request = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .cloned();
                if request.is_some() && backoff.pause(deadline).await.is_err() {
                    return Err(StoreError::Unavailable("keys left unprocessed".into()));
                }
            }
        }
        Ok(found)
    }

    /// One page of a record's history, oldest first. The record and its history share a
    /// partition: `H#<version>` items sort before `RECORD` (which carries the creation
    /// entry), so the first page reads changes up to the record item in one query when
    /// they are few, and fetches the creation separately only when they are many.
    pub(super) async fn history_page(
        &self,
        q: &HistoryQuery,
    ) -> Result<Option<HistoryPage>, StoreError> {
        let first = q.after_version.is_none();
        let from = schema::history_sk(q.after_version.map_or(2, |v| v + 1).max(2));
        let to = if first {
            RECORD_SK.to_owned()
        } else {
            schema::history_sk(9_999_999_999)
        };
        let wanted = q.limit + 1;
        let mut creation = None;
        let mut changes: Vec<HistoryEntry> = Vec::new();
        let mut start: Option<Item> = None;
        let mut any_item = false;
        let mut cut_short = None;
        for round in 0..HISTORY.queries {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(q.vtid.to_string()))
                .expression_attribute_values(":from", s(from.clone()))
                .expression_attribute_values(":to", s(to.clone()))
                .projection_expression("#sk, #doc, #created")
                .expression_attribute_names("#doc", DOC)
                .expression_attribute_names("#created", CREATED)
                .consistent_read(true)
                .limit(i32::try_from(wanted + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                any_item = true;
                match get_s(item, SK) {
                    // A tombstone at the record's key has no creation entry: absent.
                    Some(RECORD_SK) if item.contains_key(CREATED) => {
                        creation = Some(doc::<HistoryEntry>(item, CREATED)?)
                    }
                    Some(sk) if sk.starts_with(HISTORY_SK_PREFIX) => {
                        changes.push(doc::<HistoryEntry>(item, DOC)?)
                    }
                    _ => {}
                }
            }
            start = out.last_evaluated_key().cloned();
            let have = changes.len() + usize::from(first);
            if start.is_none() || have >= wanted {
                break;
            }
            if round + 1 == HISTORY.queries {
                // The read budget ran out: continue after the last change read.
                cut_short = changes.last().map(|e| e.to_version);
            }
        }
        if first && creation.is_none() {
            if !any_item {
                return Ok(None);
            }
            // Many changes: the record item (and its creation entry) was not reached.
            creation = self.creation_entry(q.vtid).await?;
            if creation.is_none() {
                return Ok(None);
            }
        }
        let mut entries: Vec<HistoryEntry> = creation.into_iter().chain(changes).collect();
        let more = entries.len() > q.limit;
        entries.truncate(q.limit);
        let next = if more {
            entries.last().map(|e| e.to_version)
        } else {
            cut_short
        };
        Ok(Some(HistoryPage { entries, next }))
    }

    async fn creation_entry(&self, vtid: Vtid) -> Result<Option<HistoryEntry>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(record_key(vtid)))
            .projection_expression("#c")
            .expression_attribute_names("#c", CREATED)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item()
            .filter(|i| i.contains_key(CREATED))
            .map(|i| doc(i, CREATED))
            .transpose()
    }

    /// The year's counter, the ranges imports skipped and the numbers given up, in one
    /// query of the counter's partition.
    pub(super) async fn counter_notes(&self, year: u16) -> Result<CounterNotes, StoreError> {
        let mut notes = CounterNotes::default();
        for item in self.partition(schema::counter_pk(year)).await? {
            match get_s(&item, SK) {
                Some(COUNTER_SK) => notes.counter = get_n(&item, COUNTER_VALUE).unwrap_or(0),
                Some(sk) if sk.starts_with(SKIP_SK_PREFIX) => {
                    notes.skipped.extend(doc::<Vec<[u64; 2]>>(&item, "ranges")?);
                }
                Some(sk) if sk.starts_with(VOID_SK_PREFIX) => {
                    notes.void.push(
                        super::void::read_note(&item)
                            .ok_or_else(|| internal(format!("an unreadable void note at {sk}")))?,
                    );
                }
                _ => {}
            }
        }
        notes.skipped.sort_unstable();
        Ok(notes)
    }

    /// Every item of one small partition (a counter and its skip notes), consistently.
    async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// A `GetItem` of a key that does not exist: it still needs the table, the endpoint
    /// and the permissions.
    pub(super) async fn touch(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("HEALTH", "HEALTH")))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }
}
