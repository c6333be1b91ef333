//! The store contract. DynamoDB and SQLite implement it; one conformance suite
//! (`tests/`) runs against both so they cannot drift apart.

pub mod dynamo;
pub mod schema;
pub mod sqlite;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{ApiError, Detail};
use crate::lifecycle::{InvalidTransition, Status};
use crate::record::{Draft, HistoryEntry, Patch, Record};
use crate::timestamp::Timestamp;
use crate::validation::check_metadata;
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
    pub include_test: bool,
    pub limit: usize,
    /// Continue strictly below this VTID (newest first).
    pub after: Option<Vtid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// Whether at least one more record matches past the last one returned.
    pub more: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub year: u16,
    pub counter: u64,
    pub records: u64,
    /// At most [`MAX_LISTED_MISSING`] numbers; `missing_count` counts them all.
    pub missing: Vec<u64>,
    pub missing_count: u64,
    pub duplicates: Vec<String>,
    pub skipped: Vec<[u64; 2]>,
    /// Records numbered past the counter: written by something that did not advance it.
    pub above_counter: Vec<String>,
}

impl Audit {
    /// Fills `missing` from the numbers seen, the counter and the skipped ranges.
    pub fn compute(year: u16, counter: u64, mut seqs: Vec<u64>, skipped: Vec<[u64; 2]>) -> Self {
        seqs.sort_unstable();
        let mut duplicates = Vec::new();
        for w in seqs.windows(2) {
            if w[0] == w[1] {
                duplicates.push(vtid_string(year, w[0]));
            }
        }
        duplicates.dedup();
        let records = seqs.len() as u64;
        seqs.dedup();
        // Walk the gaps between present numbers rather than every number up to the counter.
        let mut missing = Vec::new();
        let mut missing_count = 0u64;
        let mut next = 1u64;
        for present in seqs
            .iter()
            .copied()
            .filter(|&n| n <= counter)
            .chain([counter + 1])
        {
            for gap in subtract(next, present.saturating_sub(1), &skipped) {
                missing_count += gap[1] - gap[0] + 1;
                let room = MAX_LISTED_MISSING.saturating_sub(missing.len()) as u64;
                missing.extend(gap[0]..=gap[1].min(gap[0].saturating_add(room).saturating_sub(1)));
            }
            next = present + 1;
        }
        let above_counter = seqs
            .iter()
            .filter(|&&n| n > counter)
            .map(|&n| vtid_string(year, n))
            .collect();
        Self {
            year,
            counter,
            records,
            missing,
            missing_count,
            duplicates,
            skipped,
            above_counter,
        }
    }
}

/// The most missing numbers an audit lists (it counts them all).
pub const MAX_LISTED_MISSING: usize = 10_000;

/// `[from, to]` without the `skipped` ranges (sorted or not), as ranges.
fn subtract(from: u64, to: u64, skipped: &[[u64; 2]]) -> Vec<[u64; 2]> {
    let mut parts = vec![[from, to]];
    if from > to {
        return Vec::new();
    }
    for [a, b] in skipped {
        parts = parts
            .into_iter()
            .flat_map(|[x, y]| {
                let mut kept = Vec::new();
                if *a > x {
                    kept.push([x, y.min(a - 1)]);
                }
                if *b < y {
                    kept.push([x.max(b + 1), y]);
                }
                kept.into_iter().filter(|[p, q]| p <= q)
            })
            .collect();
    }
    parts
}

/// The ranges in `(from, to]` that hold none of `imported`.
pub fn skipped_ranges(from: u64, to: u64, imported: &[u64]) -> Vec<[u64; 2]> {
    let mut taken: Vec<u64> = imported
        .iter()
        .copied()
        .filter(|n| *n > from && *n <= to)
        .collect();
    taken.sort_unstable();
    taken.dedup();
    let mut ranges = Vec::new();
    let mut next = from + 1;
    for n in taken.into_iter().chain(std::iter::once(to + 1)) {
        if n > next {
            ranges.push([next, n - 1]);
        }
        next = n + 1;
    }
    ranges
}

fn vtid_string(year: u16, seq: u64) -> String {
    u32::try_from(seq)
        .ok()
        .and_then(|s| Vtid::new(year, s))
        .map_or_else(|| format!("VTID-{year}-{seq:04}"), |v| v.to_string())
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
    #[error("version mismatch, current {current}")]
    VersionMismatch { current: u64 },
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error("forbidden")]
    Forbidden,
    #[error("invalid")]
    Invalid(Vec<Detail>),
    /// Throttled or unreachable: the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("no such VTID".into()),
            StoreError::ParentNotFound(v) => ApiError::ParentNotFound(v.to_string()),
            StoreError::IdempotencyConflict => ApiError::IdempotencyConflict,
            StoreError::VersionMismatch { current } => ApiError::VersionMismatch { current },
            StoreError::Transition(t) => ApiError::InvalidTransition(t),
            StoreError::Forbidden => {
                ApiError::Forbidden("this caller may not change records of that tenant".into())
            }
            StoreError::Invalid(d) => ApiError::InvalidPayload(d),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Internal(cause) => {
                tracing::error!(%cause, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// The one place a PATCH is decided, for both stores: tenant guard, `If-Match`,
/// lifecycle, merge, and the metadata limit on the merged result.
pub fn plan_update(
    current: &Record,
    req: &UpdateRequest,
) -> Result<Option<(Record, HistoryEntry)>, StoreError> {
    if let Some(t) = &req.tenant_guard
        && *t != current.tenant
    {
        return Err(StoreError::Forbidden);
    }
    if let Some(expected) = req.if_match
        && expected != current.version
    {
        return Err(StoreError::VersionMismatch {
            current: current.version,
        });
    }
    let planned = req.patch.apply(current, &req.by, req.now)?;
    if let Some((next, _)) = &planned {
        check_metadata(&next.metadata).map_err(StoreError::Invalid)?;
    }
    Ok(planned)
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Numbers the drafts as one consecutive block and writes them (with their
    /// creation history and the idempotency key) atomically, or writes nothing.
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError>;
    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError>;
    /// One read of the key alone: the deploy gate's check.
    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError>;
    /// Applies a patch and writes its history entry atomically; concurrent changes
    /// are serialized by version, so none is lost.
    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError>;
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// Oldest first; `None` when the VTID does not exist.
    async fn history(&self, vtid: Vtid) -> Result<Option<Vec<HistoryEntry>>, StoreError>;
    async fn audit(&self, year: u16) -> Result<Audit, StoreError>;
    /// Registers an existing record under its own VTID, idempotently. Does not move counters.
    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError>;
    /// Moves `year`'s counter up to `to`, never down, atomically with a note of the
    /// ranges it jumps over that `imported` does not fill.
    async fn advance_counter(&self, year: u16, to: u64, imported: &[u64])
    -> Result<(), StoreError>;
    /// Touches the store for real: the health check.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_walks_gaps_and_honours_skips() {
        let a = Audit::compute(2026, 10, vec![1, 2, 5, 5, 9, 12], vec![[6, 7]]);
        assert_eq!(a.missing, [3, 4, 8, 10]);
        assert_eq!(a.missing_count, 4);
        assert_eq!(a.records, 6);
        assert_eq!(a.duplicates, ["VTID-2026-0005"]);
        assert_eq!(a.above_counter, ["VTID-2026-0012"]);
    }

    #[test]
    fn audit_of_a_huge_counter_is_bounded() {
        let a = Audit::compute(2026, 4_000_000_000, vec![1], vec![[2, 1_000]]);
        assert_eq!(a.missing.len(), MAX_LISTED_MISSING);
        assert_eq!(a.missing[0], 1_001);
        assert_eq!(a.missing_count, 4_000_000_000 - 1_000);
    }

    #[test]
    fn skipped_ranges_leave_out_imported_numbers() {
        assert_eq!(skipped_ranges(5, 20, &[10, 11, 20, 3]), [[6, 9], [12, 19]]);
        assert_eq!(skipped_ranges(5, 5, &[]), Vec::<[u64; 2]>::new());
    }
}
