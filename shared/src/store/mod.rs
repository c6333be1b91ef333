//! The store contract. DynamoDB and SQLite implement it; one conformance suite
//! (`tests/conformance`) runs against both so they cannot drift apart. What both stores
//! decide the same way (numbering, the update plan, the audit arithmetic, the read
//! budgets) lives here, once.

/// The audit arithmetic lives with the report it fills, in `vtid-model`.
pub use vtid_model::audit;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod gate;
pub mod limits;
pub mod plan;
pub mod repair;
pub mod schema;
pub mod sqlite;

use async_trait::async_trait;
use serde::Serialize;

pub use audit::{Audit, MAX_LISTED_MISSING, Void, VoidCause, skipped_ranges};
pub use plan::{Dimension, list_dimensions, number_drafts, plan_update};

use crate::deadline::Deadline;
use crate::error::{ApiError, Detail};
use crate::lifecycle::{InvalidTransition, Status};
use crate::record::{Draft, HistoryEntry, Patch, Record};
use crate::search::Search;
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// How long an idempotency key is honoured.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The tenant the key belongs to: the caller's, else the body's.
    pub scope: String,
    pub key: String,
    /// A hash of the route and the canonical body: the same key with another body conflicts.
    pub fingerprint: String,
}

/// One create or a batch: all get numbers from one block, or none do.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub drafts: Vec<Draft>,
    pub by: String,
    pub now: Timestamp,
    pub idempotency: Option<IdempotencyKey>,
    /// The store stops by then: it gives up waiting, releases what it holds, answers 503.
    pub deadline: Deadline,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateOutcome {
    pub records: Vec<Record>,
    /// True when an earlier request with the same idempotency key made these records.
    pub replayed: bool,
}

#[derive(Clone, Debug)]
pub struct UpdateRequest {
    pub vtid: Vtid,
    pub patch: Patch,
    pub if_match: Option<u64>,
    /// When set, the record's tenant must be this one (callers without a privileged role).
    pub tenant_guard: Option<String>,
    pub by: String,
    pub now: Timestamp,
    pub deadline: Deadline,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateOutcome {
    pub record: Record,
    pub changed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub task_family: Option<String>,
    pub status: Option<Status>,
    pub tenant: Option<String>,
    pub assigned_to: Option<String>,
    pub parent_vtid: Option<Vtid>,
    pub year: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub filters: Filters,
    /// The tenant filter is the caller's read scope (not a filter it chose): the list
    /// reads that tenant's records only (see [`list_dimensions`]).
    pub tenant_scoped: bool,
    pub include_test: bool,
    /// Free text (`q`): only records whose title or description holds each word. Both
    /// stores apply [`Search::matches_record`] to every record they list.
    pub search: Option<Search>,
    pub limit: usize,
    /// Continue strictly below this VTID (newest first).
    pub after: Option<Vtid>,
}

/// One page of a list: at most `limit` records, and where to go on when more may match.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// Continue strictly below this VTID. Usually the last record's; when the read budget
    /// ran out first, the last one read (which the filters may have dropped).
    pub next: Option<Vtid>,
}

/// One page of a record's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    pub vtid: Vtid,
    /// Continue after this version (the creation is version 1).
    pub after_version: Option<u64>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Continue after this version when more entries follow.
    pub next: Option<u64>,
}

/// What `import` did with each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportResult {
    Imported,
    AlreadyPresent,
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("parent {0} not found")]
    ParentNotFound(Vtid),
    #[error("idempotency key reused with another body")]
    IdempotencyConflict,
    /// An equal request holds the key and did not finish before this one's deadline.
    #[error("idempotency key in use by a request in progress")]
    IdempotencyInProgress,
    #[error("version mismatch, current {current}")]
    VersionMismatch { current: u64 },
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error("forbidden")]
    Forbidden,
    #[error("invalid")]
    Invalid(Vec<Detail>),
    /// Throttled, unreachable, or out of time: the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<crate::deadline::Expired> for StoreError {
    fn from(_: crate::deadline::Expired) -> Self {
        StoreError::Unavailable("the request's deadline passed".into())
    }
}

/// Store errors as API errors. Causes travel inside the 5xx variants and are logged once,
/// with the request ID, by the handler.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("no such VTID".into()),
            StoreError::ParentNotFound(v) => ApiError::parent_not_found(v),
            StoreError::IdempotencyConflict => ApiError::IdempotencyConflict,
            StoreError::IdempotencyInProgress => ApiError::IdempotencyInProgress,
            StoreError::VersionMismatch { current } => ApiError::VersionMismatch { current },
            StoreError::Transition(t) => ApiError::InvalidTransition(t),
            StoreError::Forbidden => {
                ApiError::Forbidden("this caller may not change records of that tenant".into())
            }
            StoreError::Invalid(d) => ApiError::InvalidPayload(d.into()),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// What the API's handlers use, through `access::View` only: records, their history,
/// lists, the audit and the health check's ping.
#[async_trait]
pub trait Records: Send + Sync {
    /// Numbers the drafts as one consecutive block and writes them (with their
    /// creation history and the idempotency key) atomically, or writes nothing.
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError>;
    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError>;
    /// One read of the key alone: the deploy gate's check.
    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError>;
    /// Applies a patch and writes its history entry atomically; concurrent changes
    /// are serialized by version, so none is lost.
    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError>;
    /// One page, reading no more than [`limits::LIST`] allows.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// One page of history, oldest first; `None` when the VTID does not exist.
    async fn history(&self, query: &HistoryQuery) -> Result<Option<HistoryPage>, StoreError>;
    async fn audit(&self, year: u16) -> Result<Audit, StoreError>;
    /// Touches the store for real: the health check.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// What `vtid import` and `vtid repair` use beside reads: records written under their own
/// VTIDs, counters moved, numbers voided. No handler reaches it.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Registers an existing record under its own VTID, idempotently. Does not move counters.
    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError>;
    /// Registers many records (each as `import_record` does); a store may write them
    /// together (SQLite: one transaction).
    async fn import_records(&self, records: &[Record]) -> Result<Vec<ImportResult>, StoreError> {
        let mut results = Vec::with_capacity(records.len());
        for r in records {
            results.push(self.import_record(r).await?);
        }
        Ok(results)
    }
    /// Moves the year's counter up to `to`, never down, atomically with a note of the
    /// ranges it jumps over that `imported` does not fill.
    async fn advance_counter(&self, advance: CounterAdvance) -> Result<(), StoreError>;
    /// Records `numbers` of `year` as given up with `cause` (a repair, or a create that
    /// gave up its block), leaving alone every number that holds a record; the numbers
    /// it voided (or found void already).
    async fn void_numbers(&self, voiding: Voiding) -> Result<Vec<u64>, StoreError>;
}

/// An import's move of one year's counter: up to `to`, past the numbers `imported`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterAdvance {
    pub year: u16,
    pub to: u64,
    pub imported: Vec<u64>,
}

/// Numbers of one year to record as given up, why, and the request that asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voiding {
    pub year: u16,
    pub numbers: Vec<u64>,
    pub cause: VoidCause,
    pub request_id: String,
}

/// A whole store: what the handlers use and what the tools use.
pub trait Store: Records + Maintenance {}

impl<T: Records + Maintenance + ?Sized> Store for T {}
