//! Decisions both stores make the same way: the records a block of numbers becomes,
//! what a PATCH does to a record, and which filter a list walks.

use super::{ListQuery, StoreError, UpdateRequest};
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

/// A filter dimension of a list: each has an index (DynamoDB) and an indexed column
/// (SQLite).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    ParentVtid,
    AssignedTo,
    TaskFamily,
    Tenant,
    Status,
}

impl Dimension {
    /// The record item's attribute, which names its DynamoDB index.
    pub fn attribute(self) -> &'static str {
        match self {
            Dimension::ParentVtid => "parentVtid",
            Dimension::AssignedTo => "assignedTo",
            Dimension::TaskFamily => "taskFamily",
            Dimension::Tenant => "tenant",
            Dimension::Status => "status",
        }
    }

    /// The SQLite column.
    pub fn column(self) -> &'static str {
        match self {
            Dimension::ParentVtid => "parent_vtid",
            Dimension::AssignedTo => "assigned_to",
            Dimension::TaskFamily => "task_family",
            Dimension::Tenant => "tenant",
            Dimension::Status => "status",
        }
    }
}

/// The filters of a list as (dimension, value), the first one the dimension the list
/// walks, the rest tested on each record it reads. The walk is the caller's own tenant
/// when reads are scoped to it, so that nothing of another tenant is read: no page, no
/// cursor and no answer's time can then say anything of another tenant's records. Else
/// it is the filter assumed most selective: parent, assignee, family, tenant, status.
pub fn list_dimensions(q: &ListQuery) -> Vec<(Dimension, String)> {
    let f = &q.filters;
    let mut dims = Vec::new();
    let scoped_tenant = f.tenant.as_ref().filter(|_| q.tenant_scoped);
    if let Some(t) = scoped_tenant {
        dims.push((Dimension::Tenant, t.clone()));
    }
    if let Some(v) = f.parent_vtid {
        dims.push((Dimension::ParentVtid, v.to_string()));
    }
    if let Some(v) = &f.assigned_to {
        dims.push((Dimension::AssignedTo, v.clone()));
    }
    if let Some(v) = &f.task_family {
        dims.push((Dimension::TaskFamily, v.clone()));
    }
    if let (Some(v), None) = (&f.tenant, scoped_tenant) {
        dims.push((Dimension::Tenant, v.clone()));
    }
    if let Some(v) = f.status {
        dims.push((Dimension::Status, v.as_str().to_owned()));
    }
    dims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Filters;

    fn query(tenant_scoped: bool) -> ListQuery {
        ListQuery {
            filters: Filters {
                assigned_to: Some("bob".into()),
                tenant: Some("acme".into()),
                task_family: Some("deploy".into()),
                ..Filters::default()
            },
            tenant_scoped,
            include_test: false,
            search: None,
            limit: 5,
            after: None,
        }
    }

    #[test]
    fn a_scoped_list_walks_the_callers_tenant_and_others_their_most_selective_filter() {
        let walked = |q: &ListQuery| {
            list_dimensions(q)
                .into_iter()
                .map(|(d, _)| d)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            walked(&query(true)),
            [
                Dimension::Tenant,
                Dimension::AssignedTo,
                Dimension::TaskFamily
            ]
        );
        assert_eq!(
            walked(&query(false)),
            [
                Dimension::AssignedTo,
                Dimension::TaskFamily,
                Dimension::Tenant
            ]
        );
        assert_eq!(list_dimensions(&query(true))[0].1, "acme");
    }
}
