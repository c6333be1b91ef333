//! The DynamoDB store: one table (see `schema`), sequencing by conditional writes on a
//! per-year counter item, every multi-item change in one `TransactWriteItems`.
//!
//! Create, uncontended: one transaction that moves the counter from the value this warm
//! process last saw, puts the records (`attribute_not_exists`), checks parents and puts
//! the idempotency key. Contended (the counter moved): one atomic `ADD` reserves the block,
//! and a second transaction writes it. No loop grows with the number of creators, and a
//! record's own `attribute_not_exists` makes a duplicate VTID impossible whatever the
//! counter does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem, Update,
};

use super::schema::{
    self, COUNTER_SK, HISTORY_SK_PREFIX, INDEXES, ORD, PK, RECORD_SK, SK, SKIP_SK_PREFIX,
};
use super::{
    Audit, CreateOutcome, CreateRequest, IDEMPOTENCY_TTL_SECONDS, IdempotencyKey, ImportResult,
    ListQuery, Page, Store, StoreError, UpdateOutcome, UpdateRequest, plan_update, skipped_ranges,
};
use crate::record::{Action, Draft, HistoryEntry, Record};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Concurrent PATCHes of one record are serialized by version; each retry is one
/// round trip, because a failed condition returns the record it failed on.
const MAX_UPDATE_ATTEMPTS: usize = 64;
/// How long the contended path holds an idempotency key before an equal request may
/// take it over: the longest a dead request can hold up its retries.
const LEASE_SECONDS: i64 = 30;
const LEASE: &str = "lease";
const LEASE_UNTIL: &str = "leaseUntil";
/// The most items one list query reads (DynamoDB also stops at 1 MB).
const MAX_QUERY_LIMIT: usize = 1000;

/// Counts every request sent to DynamoDB, SDK retries included: the benchmark's round trips.
#[derive(Debug, Default)]
struct CountRequests(Arc<AtomicU64>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

pub struct DynamoStore {
    client: Client,
    table: String,
    /// Per year, the counter value this process last saw: the uncontended path's guess.
    last_seen: Mutex<HashMap<u16, u64>>,
    requests: Arc<AtomicU64>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Throttling, timeouts and an unreachable endpoint are worth a retry (503); the rest is a bug.
fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    const RETRYABLE: [&str; 7] = [
        "ProvisionedThroughputExceededException",
        // A single-item write on an item that an in-flight transaction holds.
        "TransactionConflictException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",
    ];
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            StoreError::Unavailable(format!("{e:?}"))
        }
        _ if e.code().is_some_and(|c| RETRYABLE.contains(&c)) => {
            StoreError::Unavailable(format!("{e:?}"))
        }
        _ => StoreError::Internal(format!("{e:?}")),
    }
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn doc<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    let text = get_s(item, name).ok_or_else(|| internal(format!("item without {name}")))?;
    serde_json::from_str(text).map_err(internal)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

/// A record item: the JSON document plus the attributes the indexes and filters use.
/// Null filter attributes are left out, so the sparse indexes skip them.
fn record_item(r: &Record, creation: &HistoryEntry) -> Result<Item, StoreError> {
    let mut item = key(r.vtid.to_string(), RECORD_SK);
    item.insert(ORD.into(), n(r.vtid.ordinal()));
    item.insert(schema::LIST_ALL_ATTRIBUTE.into(), s(schema::LIST_ALL_VALUE));
    item.insert("year".into(), n(r.vtid.year()));
    item.insert("taskFamily".into(), s(&r.task_family));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("tenant".into(), s(&r.tenant));
    if let Some(a) = &r.assigned_to {
        item.insert("assignedTo".into(), s(a));
    }
    if let Some(p) = r.parent_vtid {
        item.insert("parentVtid".into(), s(p.to_string()));
    }
    item.insert("isTest".into(), AttributeValue::Bool(r.is_test));
    item.insert("version".into(), n(r.version));
    item.insert("doc".into(), s(to_json(r)?));
    // The creation entry lives in the record item: one item per record keeps a batch of
    // 50 inside one transaction.
    item.insert("created".into(), s(to_json(creation)?));
    Ok(item)
}

fn transact_put(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn parent_check(table: &str, parent: Vtid) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key(parent.to_string(), RECORD_SK)))
        .condition_expression("attribute_exists(pk)")
        .build()
        .map_err(internal)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

fn idempotency_item(
    idem: &IdempotencyKey,
    vtids: &[Vtid],
    now: Timestamp,
) -> Result<Item, StoreError> {
    let mut item = key(
        schema::idempotency_pk(&idem.scope, &idem.key),
        schema::IDEMPOTENCY_SK,
    );
    item.insert("fingerprint".into(), s(&idem.fingerprint));
    item.insert("vtids".into(), s(to_json(&vtids)?));
    item.insert(
        schema::TTL_ATTRIBUTE.into(),
        n(now.unix_seconds() + IDEMPOTENCY_TTL_SECONDS),
    );
    Ok(item)
}

/// How a transaction was refused, read from its cancellation reasons.
enum Refusal {
    Parent(Vtid),
    /// The key is taken: the stored item.
    Idempotent(Item),
    /// A concurrent transaction held one of the items: the same write may succeed now.
    Conflict,
    /// A condition failed: the counter moved, or a record already holds the number.
    Taken,
    Throttled,
    Other(String),
}

enum Claim {
    Leased(String),
    /// The key exists: the stored item.
    Taken(Item),
}

fn is_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("TransactionConflictException")
}

/// A short, jittered, growing pause before trying a conflicted write again.
async fn pause(attempt: u32) {
    let ms = 5 + fastrand::u64(0..(10u64 << attempt.min(5)));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Whether a refused transaction proved every parent check (each reason `None`).
fn parents_proven(reasons: &[CancellationReason], parents: &[Vtid]) -> bool {
    reasons.len() > parents.len()
        && reasons[..parents.len()]
            .iter()
            .all(|r| r.code().is_none_or(|c| c == "None"))
}

enum Attempt {
    Written,
    Refused(Vec<CancellationReason>),
}

impl DynamoStore {
    /// The store over `table`, with a client built from `config` (once per cold start).
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(CountRequests(requests.clone()))
            .build();
        Self {
            client: Client::from_conf(conf),
            table: table.into(),
            last_seen: Mutex::new(HashMap::new()),
            requests,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent so far (SDK retries included).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn seen(&self, year: u16) -> u64 {
        self.last_seen
            .lock()
            .map(|m| m.get(&year).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn saw(&self, year: u16, value: u64) {
        if let Ok(mut m) = self.last_seen.lock() {
            let e = m.entry(year).or_insert(0);
            *e = (*e).max(value);
        }
    }

    /// Creates the table with the keys, indexes, stream and TTL that `template.yaml` declares.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let mut attributes = vec![
            (PK, ScalarAttributeType::S),
            (SK, ScalarAttributeType::S),
            (ORD, ScalarAttributeType::N),
        ];
        attributes.extend(
            INDEXES
                .iter()
                .map(|i| (i.partition, ScalarAttributeType::S)),
        );
        let definitions = attributes
            .into_iter()
            .map(|(name, t)| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(t)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let key_element = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let mut indexes = Vec::new();
        for i in INDEXES {
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(i.name)
                    .key_schema(key_element(i.partition, KeyType::Hash).map_err(internal)?)
                    .key_schema(key_element(ORD, KeyType::Range).map_err(internal)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(internal)?,
            );
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(definitions))
            .key_schema(key_element(PK, KeyType::Hash).map_err(internal)?)
            .key_schema(key_element(SK, KeyType::Range).map_err(internal)?)
            .set_global_secondary_indexes(Some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(sdk_error(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(schema::TTL_ATTRIBUTE)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Attempt, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Attempt::Written),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                    Ok(Attempt::Refused(tc.cancellation_reasons().to_vec()))
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    /// Reads `vtids` in order; any that does not exist is `NotFound`.
    async fn get_many(&self, vtids: &[Vtid]) -> Result<Vec<Record>, StoreError> {
        let mut found = self.fetch(vtids).await?;
        vtids
            .iter()
            .map(|v| found.remove(v).ok_or(StoreError::NotFound))
            .collect()
    }

    /// The records among `vtids` that exist, read consistently with `BatchGetItem` (100 keys
    /// a request, unprocessed keys retried; keys still unprocessed after that are 503).
    async fn fetch(&self, vtids: &[Vtid]) -> Result<HashMap<Vtid, Record>, StoreError> {
        let mut found: HashMap<Vtid, Record> = HashMap::new();
        for chunk in vtids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|v| key(v.to_string(), RECORD_SK))
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(internal)?,
            );
            for attempt in 0..10u32 {
                let Some(req) = request.take() else { break };
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
                    let r: Record = doc(item, "doc")?;
                    found.insert(r.vtid, r);
                }
                request = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .cloned();
                if request.is_some() {
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                }
            }
            if request.is_some() {
                return Err(StoreError::Unavailable("keys left unprocessed".into()));
            }
        }
        Ok(found)
    }

    /// Reads the reasons of a refused create transaction laid out as
    /// `[parents.., counter?, records.., idempotency?]`.
    fn refusal(reasons: &[CancellationReason], parents: &[Vtid]) -> Refusal {
        let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
        // The key first: a reused key answers the same whatever else failed.
        if let Some(last) = reasons.last()
            && code(last) == "ConditionalCheckFailed"
            && let Some(item) = last.item().filter(|i| get_s(i, "fingerprint").is_some())
        {
            return Refusal::Idempotent(item.clone());
        }
        for (i, p) in parents.iter().enumerate() {
            if reasons
                .get(i)
                .is_some_and(|r| code(r) == "ConditionalCheckFailed")
            {
                return Refusal::Parent(*p);
            }
        }
        let codes: Vec<String> = reasons.iter().map(code).collect();
        if codes
            .iter()
            .any(|c| c == "ThrottlingError" || c == "ProvisionedThroughputExceeded")
        {
            return Refusal::Throttled;
        }
        if codes.iter().any(|c| c == "ConditionalCheckFailed") {
            Refusal::Taken
        } else if codes.iter().any(|c| c == "TransactionConflict") {
            Refusal::Conflict
        } else {
            Refusal::Other(codes.join(","))
        }
    }

    /// Answers a request whose key is already taken: 409 for another body, the records
    /// for a finished request. A key still leased by a request on the contended path is
    /// waited for; `None` when that lease ran out (its holder died): the key may be claimed.
    async fn settle(
        &self,
        idem: &IdempotencyKey,
        stored: &Item,
    ) -> Result<Option<CreateOutcome>, StoreError> {
        let mut stored = stored.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(LEASE_SECONDS as u64 + 2);
        loop {
            if get_s(&stored, "fingerprint") != Some(idem.fingerprint.as_str()) {
                return Err(StoreError::IdempotencyConflict);
            }
            if get_s(&stored, "vtids").is_some() {
                let vtids: Vec<Vtid> = doc(&stored, "vtids")?;
                let records = self.get_many(&vtids).await?;
                return Ok(Some(CreateOutcome {
                    records,
                    replayed: true,
                }));
            }
            let leased_until = get_n(&stored, LEASE_UNTIL).unwrap_or(0);
            if leased_until < Timestamp::now().unix_seconds() as u64 {
                return Ok(None);
            }
            if std::time::Instant::now() > deadline {
                return Err(StoreError::Unavailable(
                    "an equal request is still in progress".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(0..30))).await;
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    schema::idempotency_pk(&idem.scope, &idem.key),
                    schema::IDEMPOTENCY_SK,
                )))
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_error)?;
            match out.item() {
                Some(item) => stored = item.clone(),
                None => return Ok(None),
            }
        }
    }

    /// A value kept in the table itself (the cursor key where none is configured), made
    /// once by `init`: every process sharing the table reads the same one.
    pub async fn config_value(
        &self,
        name: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let item_key = key("CONFIG", name);
        let mut item = item_key.clone();
        item.insert("value".into(), s(init()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if let Err(e) = put
            && e.code() != Some("ConditionalCheckFailedException")
        {
            return Err(sdk_error(e));
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item()
            .and_then(|i| get_s(i, "value"))
            .map(str::to_owned)
            .ok_or_else(|| internal("config value vanished"))
    }

    /// One atomic `ADD` of `count` to the year's counter: the new value. A single-item
    /// write is refused while a transaction holds the item; that is retried briefly.
    async fn reserve(
        &self,
        year: u16,
        count: u64,
    ) -> Result<aws_sdk_dynamodb::operation::update_item::UpdateItemOutput, StoreError> {
        let mut attempt = 0u32;
        loop {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(schema::counter_pk(year), COUNTER_SK)))
                .update_expression("ADD #n :count")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":count", n(count))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match sent {
                Err(e) if is_conflict(&e) && attempt < 5 => pause(attempt).await,
                other => return other.map_err(sdk_error),
            }
            attempt += 1;
        }
    }

    /// Leases the key for the contended path, so that equal requests wait for this one
    /// instead of each reserving numbers they would then have to abandon.
    async fn claim(&self, idem: &IdempotencyKey, now: Timestamp) -> Result<Claim, StoreError> {
        let token = format!("{:016x}", fastrand::u64(..));
        let mut item = key(
            schema::idempotency_pk(&idem.scope, &idem.key),
            schema::IDEMPOTENCY_SK,
        );
        item.insert("fingerprint".into(), s(&idem.fingerprint));
        item.insert(LEASE.into(), s(&token));
        item.insert(LEASE_UNTIL.into(), n(now.unix_seconds() + LEASE_SECONDS));
        item.insert(
            schema::TTL_ATTRIBUTE.into(),
            n(now.unix_seconds() + IDEMPOTENCY_TTL_SECONDS),
        );
        let mut attempt = 0u32;
        let out = loop {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk) OR #exp < :now OR #until < :now")
                .expression_attribute_names("#exp", schema::TTL_ATTRIBUTE)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":now", n(now.unix_seconds()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match sent {
                Err(e) if is_conflict(&e) && attempt < 5 => pause(attempt).await,
                other => break other,
            }
            attempt += 1;
        };
        match out {
            Ok(_) => Ok(Claim::Leased(token)),
            Err(e) => match e.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c),
                ) => Ok(Claim::Taken(c.item().cloned().unwrap_or_default())),
                _ => Err(sdk_error(e)),
            },
        }
    }

    fn build(
        drafts: &[Draft],
        year: u16,
        first: u64,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<(Record, HistoryEntry)>, StoreError> {
        drafts
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let seq = u32::try_from(first + i as u64).map_err(internal)?;
                let vtid = Vtid::new(year, seq).ok_or_else(|| internal("sequence out of range"))?;
                let record = d.clone().into_record(vtid, by, now);
                let entry = HistoryEntry::creation(&record, Action::Created);
                Ok((record, entry))
            })
            .collect()
    }

    /// The transaction items for one block, laid out as `refusal` expects.
    fn create_items(
        &self,
        parents: &[Vtid],
        counter: Option<TransactWriteItem>,
        built: &[(Record, HistoryEntry)],
        idem: Option<&IdempotencyKey>,
        lease: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        for p in parents {
            items.push(parent_check(&self.table, *p)?);
        }
        items.extend(counter);
        for (r, e) in built {
            items.push(transact_put(
                &self.table,
                record_item(r, e)?,
                "attribute_not_exists(pk)",
            )?);
        }
        if let Some(idem) = idem {
            let vtids: Vec<Vtid> = built.iter().map(|(r, _)| r.vtid).collect();
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(idempotency_item(idem, &vtids, now)?));
            // Free (or expired), or still leased to this very request.
            let put = match lease {
                None => put
                    .condition_expression("attribute_not_exists(pk) OR #exp < :now")
                    .expression_attribute_names("#exp", schema::TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", n(now.unix_seconds())),
                Some(token) => put
                    .condition_expression("#lease = :token")
                    .expression_attribute_names("#lease", LEASE)
                    .expression_attribute_values(":token", s(token)),
            };
            let put = put
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(internal)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
    }

    /// Parents too many to check inside the transaction are read first: records are
    /// never deleted, so a parent that exists now exists at commit.
    async fn check_parents_outside(&self, parents: &[Vtid]) -> Result<(), StoreError> {
        let found = self.fetch(parents).await?;
        match parents.iter().find(|p| !found.contains_key(p)) {
            Some(p) => Err(StoreError::ParentNotFound(*p)),
            None => Ok(()),
        }
    }
}

/// A parent that names a record of the block being written does not exist yet.
fn parent_in_block(parents: &[Vtid], built: &[(Record, HistoryEntry)]) -> Option<Vtid> {
    parents
        .iter()
        .copied()
        .find(|p| built.iter().any(|(r, _)| r.vtid == *p))
}

fn counter_set(
    table: &str,
    year: u16,
    expected: u64,
    next: u64,
) -> Result<TransactWriteItem, StoreError> {
    let condition = if expected == 0 {
        "attribute_not_exists(pk)"
    } else {
        "#n = :expected"
    };
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key(schema::counter_pk(year), COUNTER_SK)))
        .update_expression("SET #n = :next")
        .condition_expression(condition)
        .expression_attribute_names("#n", "n")
        .expression_attribute_values(":next", n(next))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if expected != 0 {
        update = update.expression_attribute_values(":expected", n(expected));
    }
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(internal)?)
        .build())
}

#[async_trait]
impl Store for DynamoStore {
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
        let year = req.now.year();
        let count = req.drafts.len() as u64;
        let mut parents: Vec<Vtid> = req.drafts.iter().filter_map(|d| d.parent_vtid).collect();
        parents.sort();
        parents.dedup();
        if parents.len() + req.drafts.len() + 2 > MAX_TRANSACTION_ITEMS {
            self.check_parents_outside(&parents).await?;
            parents.clear();
        }
        let idem = req.idempotency.as_ref();

        // Uncontended: the counter is where this process last saw it. A parent inside the
        // guessed block means the guess is stale (or the parent does not exist yet).
        let expected = self.seen(year);
        let built = Self::build(&req.drafts, year, expected + 1, &req.by, req.now)?;
        let mut proven = false;
        if parent_in_block(&parents, &built).is_none() {
            let counter = counter_set(&self.table, year, expected, expected + count)?;
            let items = self.create_items(&parents, Some(counter), &built, idem, None, req.now)?;
            match self.transact(items).await? {
                Attempt::Written => {
                    self.saw(year, expected + count);
                    return Ok(CreateOutcome {
                        records: built.into_iter().map(|(r, _)| r).collect(),
                        replayed: false,
                    });
                }
                Attempt::Refused(reasons) => {
                    proven = parents_proven(&reasons, &parents);
                    match Self::refusal(&reasons, &parents) {
                        Refusal::Parent(p) => return Err(StoreError::ParentNotFound(p)),
                        Refusal::Idempotent(stored) => {
                            // Present only when `idem` is.
                            let idem =
                                idem.ok_or_else(|| internal("idempotency refusal without a key"))?;
                            if let Some(done) = self.settle(idem, &stored).await? {
                                return Ok(done);
                            }
                        }
                        Refusal::Throttled => {
                            return Err(StoreError::Unavailable("throttled".into()));
                        }
                        Refusal::Other(codes) => {
                            return Err(internal(format!("create refused: {codes}")));
                        }
                        Refusal::Conflict | Refusal::Taken => {}
                    }
                }
            }
        }
        // No number is reserved before every parent is known to exist. Records are never
        // deleted, so a parent read now still exists when the block is written.
        if !parents.is_empty() && !proven {
            self.check_parents_outside(&parents).await?;
        }

        // Contended, with an idempotency key: lease the key first. Equal requests then wait
        // for this one and replay it, rather than each reserving a block they would abandon.
        // The lease is the only in-progress state, and it runs out by itself.
        let mut lease = None;
        if let Some(idem) = idem {
            for _ in 0..3 {
                match self.claim(idem, req.now).await? {
                    Claim::Leased(token) => {
                        lease = Some(token);
                        break;
                    }
                    Claim::Taken(stored) => {
                        if let Some(done) = self.settle(idem, &stored).await? {
                            return Ok(done);
                        }
                    }
                }
            }
            if lease.is_none() {
                return Err(StoreError::Unavailable(
                    "the idempotency key stays contended".into(),
                ));
            }
        }

        // Contended: reserve the block with one atomic ADD, which never conflicts, and
        // write it with a second transaction. A number reserved here and never written
        // (the process died, or DynamoDB stayed throttled) is the only gap; the audit shows
        // it. Parents were checked by the first transaction and are checked again here.
        for _ in 0..3 {
            let out = self.reserve(year, count).await?;
            let end = out
                .attributes()
                .and_then(|a| get_n(a, "n"))
                .ok_or_else(|| internal("ADD returned no counter"))?;
            self.saw(year, end);
            let built = Self::build(&req.drafts, year, end + 1 - count, &req.by, req.now)?;
            if let Some(p) = parent_in_block(&parents, &built) {
                return Err(StoreError::ParentNotFound(p));
            }
            // A conflicting transaction in flight: the same numbers are still ours, so
            // write them again rather than reserve (and lose) a new block.
            for attempt in 0..5u32 {
                let items =
                    self.create_items(&parents, None, &built, idem, lease.as_deref(), req.now)?;
                match self.transact(items).await? {
                    Attempt::Written => {
                        return Ok(CreateOutcome {
                            records: built.into_iter().map(|(r, _)| r).collect(),
                            replayed: false,
                        });
                    }
                    Attempt::Refused(reasons) => match Self::refusal(&reasons, &parents) {
                        Refusal::Parent(p) => return Err(StoreError::ParentNotFound(p)),
                        Refusal::Idempotent(stored) => {
                            // The lease ran out before this write and an equal request took over.
                            let idem =
                                idem.ok_or_else(|| internal("idempotency refusal without a key"))?;
                            return match self.settle(idem, &stored).await? {
                                Some(done) => Ok(done),
                                None => Err(StoreError::Unavailable(
                                    "the idempotency lease ran out".into(),
                                )),
                            };
                        }
                        Refusal::Throttled => {
                            return Err(StoreError::Unavailable("throttled".into()));
                        }
                        Refusal::Other(codes) => {
                            return Err(internal(format!("create refused: {codes}")));
                        }
                        Refusal::Conflict => {
                            let pause = 5 + fastrand::u64(0..(10 << attempt));
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                        // A record already holds a reserved number: something wrote past
                        // the counter without moving it. Reserve again; the audit shows it.
                        Refusal::Taken => break,
                    },
                }
            }
        }
        Err(StoreError::Unavailable(
            "could not place a record after three reservations".into(),
        ))
    }

    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(vtid.to_string(), RECORD_SK)))
            .projection_expression("#d")
            .expression_attribute_names("#d", "doc")
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item().map(|i| doc(i, "doc")).transpose()
    }

    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(vtid.to_string(), RECORD_SK)))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item().is_some())
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
        let mut current = self.get(req.vtid).await?.ok_or(StoreError::NotFound)?;
        for attempt in 0..MAX_UPDATE_ATTEMPTS {
            let Some((next, entry)) = plan_update(&current, &req)? else {
                return Ok(UpdateOutcome {
                    record: current,
                    changed: false,
                });
            };
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(next.vtid.to_string(), RECORD_SK)))
                .condition_expression("#v = :current")
                .expression_attribute_names("#v", "version")
                .expression_attribute_names("#d", "doc")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#t", "isTest")
                .expression_attribute_names("#a", "assignedTo")
                .expression_attribute_values(":current", n(current.version))
                .expression_attribute_values(":next", n(next.version))
                .expression_attribute_values(":doc", s(to_json(&next)?))
                .expression_attribute_values(":status", s(next.status.as_str()))
                .expression_attribute_values(":test", AttributeValue::Bool(next.is_test))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            update = match &next.assigned_to {
                Some(a) => update
                    .update_expression(
                        "SET #v = :next, #d = :doc, #s = :status, #t = :test, #a = :assigned",
                    )
                    .expression_attribute_values(":assigned", s(a)),
                None => update.update_expression(
                    "SET #v = :next, #d = :doc, #s = :status, #t = :test REMOVE #a",
                ),
            };
            let mut history = key(entry.vtid.to_string(), schema::history_sk(entry.to_version));
            history.insert("doc".into(), s(to_json(&entry)?));
            let items = vec![
                TransactWriteItem::builder()
                    .update(update.build().map_err(internal)?)
                    .build(),
                transact_put(&self.table, history, "attribute_not_exists(pk)")?,
            ];
            match self.transact(items).await? {
                Attempt::Written => {
                    return Ok(UpdateOutcome {
                        record: next,
                        changed: true,
                    });
                }
                Attempt::Refused(reasons) => {
                    let first = reasons.first();
                    if first.and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                        // Another change won: the refusal carries the record as it now is.
                        current = match first.and_then(|r| r.item()) {
                            Some(item) => doc(item, "doc")?,
                            None => self.get(req.vtid).await?.ok_or(StoreError::NotFound)?,
                        };
                    } else if reasons.iter().any(|r| r.code() == Some("ThrottlingError")) {
                        return Err(StoreError::Unavailable("throttled".into()));
                    } else if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        // A conflicting transaction in flight: back off a little, read again.
                        pause(attempt.min(4) as u32).await;
                        current = self.get(req.vtid).await?.ok_or(StoreError::NotFound)?;
                    } else {
                        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                        return Err(internal(format!("update refused: {}", codes.join(","))));
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "too many concurrent changes to one record".into(),
        ))
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let f = &query.filters;
        // The most selective dimension given picks the index; the rest are filters.
        let mut dims: Vec<(&str, String)> = Vec::new();
        if let Some(v) = f.parent_vtid {
            dims.push(("parentVtid", v.to_string()));
        }
        if let Some(v) = &f.assigned_to {
            dims.push(("assignedTo", v.clone()));
        }
        if let Some(v) = &f.task_family {
            dims.push(("taskFamily", v.clone()));
        }
        if let Some(v) = &f.tenant {
            dims.push(("tenant", v.clone()));
        }
        if let Some(v) = f.status {
            dims.push(("status", v.as_str().to_owned()));
        }
        let (index, partition_value) = match dims.first() {
            Some((attr, v)) => (schema::index(attr), v.clone()),
            None => (
                schema::index(schema::LIST_ALL_ATTRIBUTE),
                schema::LIST_ALL_VALUE.to_owned(),
            ),
        };
        let (mut low, mut high) = (0u64, u64::MAX / 2);
        if let Some(y) = f.year {
            low = u64::from(y) * 10_000_000_000;
            high = low + 9_999_999_999;
        }
        if let Some(after) = query.after {
            high = high.min(after.ordinal().saturating_sub(1));
        }
        let mut filters = Vec::new();
        let mut names = HashMap::from([
            ("#p".to_owned(), index.partition.to_owned()),
            ("#o".to_owned(), ORD.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":p".to_owned(), s(partition_value)),
            (":low".to_owned(), n(low)),
            (":high".to_owned(), n(high)),
        ]);
        for (i, (attr, v)) in dims.iter().enumerate().skip(1) {
            filters.push(format!("#f{i} = :f{i}"));
            names.insert(format!("#f{i}"), (*attr).to_owned());
            values.insert(format!(":f{i}"), s(v.clone()));
        }
        if !query.include_test {
            filters.push("#test = :false".into());
            names.insert("#test".into(), "isTest".into());
            values.insert(":false".into(), AttributeValue::Bool(false));
        }
        let wanted = query.limit + 1;
        let mut records = Vec::with_capacity(wanted);
        let mut start: Option<Item> = None;
        let mut rounds = 0u32;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#p = :p AND #o BETWEEN :low AND :high")
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            // DynamoDB's Limit counts items read, before the filter: ask for what is still
            // missing, and read further (geometrically more) while the filter drops items.
            let missing = wanted - records.len();
            let read = missing
                .saturating_mul(1 << rounds.min(10))
                .min(MAX_QUERY_LIMIT);
            q = q.limit(i32::try_from(read).unwrap_or(i32::MAX));
            if !filters.is_empty() {
                q = q.filter_expression(filters.join(" AND "));
            }
            rounds += 1;
            let out = q.send().await.map_err(sdk_error)?;
            for item in out.items() {
                if records.len() < wanted {
                    records.push(doc::<Record>(item, "doc")?);
                }
            }
            start = out.last_evaluated_key().cloned();
            if records.len() >= wanted || start.is_none() {
                break;
            }
        }
        let more = records.len() > query.limit;
        records.truncate(query.limit);
        Ok(Page { records, more })
    }

    async fn history(&self, vtid: Vtid) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        let mut created = None;
        let mut changes = Vec::new();
        // The record and its history share a partition, history sorted by version.
        for item in self.partition(vtid.to_string()).await? {
            match get_s(&item, SK) {
                Some(RECORD_SK) => created = Some(doc::<HistoryEntry>(&item, "created")?),
                Some(sk) if sk.starts_with(HISTORY_SK_PREFIX) => {
                    changes.push(doc::<HistoryEntry>(&item, "doc")?)
                }
                _ => {}
            }
        }
        Ok(created.map(|c| std::iter::once(c).chain(changes).collect()))
    }

    async fn audit(&self, year: u16) -> Result<Audit, StoreError> {
        let low = u64::from(year) * 10_000_000_000;
        let mut seqs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(schema::index(schema::LIST_ALL_ATTRIBUTE).name)
                .key_condition_expression("#p = :p AND #o BETWEEN :low AND :high")
                .expression_attribute_names("#p", schema::LIST_ALL_ATTRIBUTE)
                .expression_attribute_names("#o", ORD)
                .expression_attribute_values(":p", s(schema::LIST_ALL_VALUE))
                .expression_attribute_values(":low", n(low))
                .expression_attribute_values(":high", n(low + 9_999_999_999))
                .projection_expression("#o")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            seqs.extend(
                out.items()
                    .iter()
                    .filter_map(|i| get_n(i, ORD))
                    .map(|o| o - low),
            );
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        let (counter, skipped) = self.counter_and_skips(year).await?;
        Ok(Audit::compute(year, counter, seqs, skipped))
    }

    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError> {
        let item = record_item(record, &HistoryEntry::creation(record, Action::Imported))?;
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
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let existing = match c.item() {
                        Some(item) => doc::<Record>(item, "doc")?,
                        None => self.get(record.vtid).await?.ok_or_else(|| internal("record vanished"))?,
                    };
                    Ok(if existing == *record { ImportResult::AlreadyPresent } else { ImportResult::Conflict })
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    async fn advance_counter(
        &self,
        year: u16,
        to: u64,
        imported: &[u64],
    ) -> Result<(), StoreError> {
        for _ in 0..32 {
            let (current, _) = self.counter_and_skips(year).await?;
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
                counter_set(&self.table, year, current, to)?,
                TransactWriteItem::builder().put(put).build(),
            ];
            match self.transact(items).await? {
                Attempt::Written => {
                    self.saw(year, to);
                    return Ok(());
                }
                // A create moved the counter meanwhile: read it again.
                Attempt::Refused(_) => {
                    tokio::time::sleep(Duration::from_millis(5 + fastrand::u64(0..20))).await
                }
            }
        }
        Err(StoreError::Unavailable(
            "the counter kept moving; run the import again".into(),
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
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

impl DynamoStore {
    /// The year's counter and the ranges imports skipped, in one query of its partition.
    async fn counter_and_skips(&self, year: u16) -> Result<(u64, Vec<[u64; 2]>), StoreError> {
        let mut counter = 0;
        let mut skipped = Vec::new();
        for item in self.partition(schema::counter_pk(year)).await? {
            match get_s(&item, SK) {
                Some(COUNTER_SK) => counter = get_n(&item, "n").unwrap_or(0),
                Some(sk) if sk.starts_with(SKIP_SK_PREFIX) => {
                    skipped.extend(doc::<Vec<[u64; 2]>>(&item, "ranges")?);
                }
                _ => {}
            }
        }
        skipped.sort_unstable();
        Ok((counter, skipped))
    }

    /// Every item of one partition, in sort key order, read consistently.
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
}

/// SDK configuration for a DynamoDB-compatible endpoint (moto's server, a local
/// emulator, a VPC endpoint). Without credentials in the environment it uses fixed
/// placeholder ones, which such local servers accept.
pub async fn endpoint_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()));
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none()
    {
        loader = loader.credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "vtid-local",
        ));
    }
    loader.load().await
}
