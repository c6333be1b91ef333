//! Decisions both stores make the same way: the records a block of numbers becomes, and
//! what a PATCH does to a record.

use super::{StoreError, UpdateRequest};
use crate::record::{Action, Draft, HistoryEntry, Record};
use crate::timestamp::Timestamp;
use crate::validation::check_metadata;
use crate::vtid::Vtid;

/// The drafts as records numbered `first`, `first + 1`, ... in `year`, each with its
/// creation entry. Fails only when a number passes what a VTID can hold.
pub fn number_drafts(
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
            let vtid = u32::try_from(first + i as u64)
                .ok()
                .and_then(|seq| Vtid::new(year, seq))
                .ok_or_else(|| {
                    StoreError::Internal(format!("sequence {first}+{i} out of range"))
                })?;
            let record = d.clone().into_record(vtid, by, now);
            let entry = HistoryEntry::creation(&record, Action::Created);
            Ok((record, entry))
        })
        .collect()
}

/// The one place a PATCH is decided, for both stores: tenant guard, `If-Match`,
/// lifecycle, merge, and the metadata limit on the merged result. `None`: nothing changes.
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
