//! Which event a change is, its ID and its OASIS body: pure, so the stream consumer
//! (`functions/events`) and the embedded store's outbox (`vtid serve`) build the very
//! same event from the same two versions of a record.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::api::SERVICE;
use crate::lifecycle::Status;
use crate::record::Record;

/// What happened to a record, in OASIS's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    StatusChanged,
    Completed,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Created,
        Kind::Updated,
        Kind::StatusChanged,
        Kind::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "vtid-created",
            Kind::Updated => "vtid-updated",
            Kind::StatusChanged => "vtid-status-changed",
            Kind::Completed => "vtid-completed",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

/// One event: a record after a create or a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// `VTID:version`: the same change always has the same ID, so repeats can be dropped.
    pub id: String,
    pub kind: Kind,
    pub record: Record,
}

/// The event that turned `old` (none for a create or an import) into `new`; `None` when
/// the version did not move (a write that changed nothing is no event).
pub fn change_between(old: Option<&Record>, new: &Record) -> Option<Change> {
    let kind = match old {
        None => Kind::Created,
        Some(o) if o.version == new.version => return None,
        Some(o) if o.status != new.status && new.status == Status::Complete => Kind::Completed,
        Some(o) if o.status != new.status => Kind::StatusChanged,
        Some(_) => Kind::Updated,
    };
    Some(Change {
        id: event_id(new),
        kind,
        record: new.clone(),
    })
}

/// `VTID:version`.
pub fn event_id(record: &Record) -> String {
    format!("{}:{}", record.vtid, record.version)
}

/// The OASIS ingest body: `{service, event, tenant, status, metadata: {vtid, ...}}`.
pub fn oasis_body(change: &Change) -> Value {
    let r = &change.record;
    let mut metadata = json!({
        "eventId": change.id,
        "vtid": r.vtid,
        "taskFamily": r.task_family,
        "taskType": r.task_type,
        "title": r.title,
        "status": r.status,
        "assignedTo": r.assigned_to,
        "parentVtid": r.parent_vtid,
        "version": r.version,
        "isTest": r.is_test,
        "updatedAt": r.updated_at,
        "updatedBy": r.updated_by,
    });
    if change.kind == Kind::Completed {
        metadata["durationSeconds"] = json!(r.duration_seconds);
        metadata["completedAt"] = json!(r.completed_at);
    }
    json!({
        "service": SERVICE,
        "event": change.kind.as_str(),
        "tenant": r.tenant,
        "status": "success",
        "metadata": metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;
    use crate::vtid::Vtid;

    fn record() -> Record {
        crate::test_support::draft().into_record(
            Vtid::new(2026, 42).unwrap(),
            "me",
            Timestamp::now(),
        )
    }

    fn next(r: &Record, status: Status) -> Record {
        let mut n = r.clone();
        n.status = status;
        n.version += 1;
        n
    }

    #[test]
    fn each_change_is_one_kind_with_a_stable_id() {
        let created = record();
        let c = change_between(None, &created).unwrap();
        assert_eq!((c.kind, c.id.as_str()), (Kind::Created, "VTID-2026-0042:1"));
        let active = next(&created, Status::Active);
        assert_eq!(
            change_between(Some(&created), &active).unwrap().kind,
            Kind::StatusChanged
        );
        let retitled = next(&active, Status::Active);
        assert_eq!(
            change_between(Some(&active), &retitled).unwrap().kind,
            Kind::Updated
        );
        let done = next(&retitled, Status::Complete);
        let c = change_between(Some(&retitled), &done).unwrap();
        assert_eq!(
            (c.kind, c.id.as_str()),
            (Kind::Completed, "VTID-2026-0042:4")
        );
        assert!(oasis_body(&c)["metadata"].get("durationSeconds").is_some());
        assert!(change_between(Some(&done), &done).is_none());
    }

    #[test]
    fn kinds_parse_back_from_their_names() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
        assert!("vtid-deleted".parse::<Kind>().is_err());
    }
}
