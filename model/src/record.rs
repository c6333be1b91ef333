//! The ledger record, the draft it is made from, and the history entry every
//! change leaves (docs/api.md, "The record" and "Errors").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lifecycle::{InvalidTransition, Status, Transition};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub vtid: Vtid,
    pub task_family: String,
    pub task_type: String,
    pub title: Option<String>,
    pub description: String,
    pub status: Status,
    pub tenant: String,
    pub assigned_to: Option<String>,
    pub parent_vtid: Option<Vtid>,
    pub metadata: Map<String, Value>,
    pub is_test: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub duration_seconds: Option<f64>,
    pub created_by: String,
    pub updated_by: String,
    pub version: u64,
}

/// A validated create request: everything but the number.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub task_family: String,
    pub task_type: String,
    pub title: Option<String>,
    pub description: String,
    pub status: Status,
    pub tenant: String,
    pub assigned_to: Option<String>,
    pub parent_vtid: Option<Vtid>,
    pub metadata: Map<String, Value>,
    pub is_test: bool,
}

impl Draft {
    /// The record this draft becomes under `vtid`; timestamps follow the starting status.
    pub fn into_record(self, vtid: Vtid, by: &str, now: Timestamp) -> Record {
        let started_at = (self.status == Status::Active).then_some(now);
        let completed_at = self.status.is_terminal().then_some(now);
        Record {
            vtid,
            task_family: self.task_family,
            task_type: self.task_type,
            title: self.title,
            description: self.description,
            status: self.status,
            tenant: self.tenant,
            assigned_to: self.assigned_to,
            parent_vtid: self.parent_vtid,
            metadata: self.metadata,
            is_test: self.is_test,
            created_at: now,
            updated_at: now,
            started_at,
            completed_at,
            duration_seconds: completed_at.map(|_| 0.0),
            created_by: by.to_owned(),
            updated_by: by.to_owned(),
            version: 1,
        }
    }
}

/// A validated PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patch {
    pub status: Option<Status>,
    pub assigned_to: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub description: Option<String>,
    /// Merged by top-level key; a `null` value removes the key.
    pub metadata: Option<Map<String, Value>>,
    pub is_test: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub before: Value,
    pub after: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Updated,
    Imported,
}

/// One entry of a record's history: the creation, or one change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub vtid: Vtid,
    pub action: Action,
    pub from_version: Option<u64>,
    pub to_version: u64,
    pub at: Timestamp,
    pub by: String,
    pub changes: BTreeMap<String, FieldChange>,
}

/// Fields that every change touches and so are not themselves "changes".
const BOOKKEEPING: [&str; 4] = ["vtid", "version", "updatedAt", "updatedBy"];

impl HistoryEntry {
    /// The entry a new record starts its history with: every field, from nothing.
    pub fn creation(record: &Record, action: Action) -> Self {
        let after = to_map(record);
        let changes = after
            .into_iter()
            .filter(|(k, v)| !BOOKKEEPING.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| {
                (
                    k,
                    FieldChange {
                        before: Value::Null,
                        after: v,
                    },
                )
            })
            .collect();
        Self {
            vtid: record.vtid,
            action,
            from_version: None,
            to_version: record.version,
            at: record.created_at,
            by: record.created_by.clone(),
            changes,
        }
    }

    fn between(before: &Record, after: &Record) -> Self {
        let old = to_map(before);
        let mut changes = BTreeMap::new();
        for (k, new_v) in to_map(after) {
            let old_v = old.get(&k).cloned().unwrap_or(Value::Null);
            if BOOKKEEPING.contains(&k.as_str()) || old_v == new_v {
                continue;
            }
            let change = if k == "metadata" {
                metadata_change(&before.metadata, &after.metadata)
            } else {
                FieldChange {
                    before: old_v,
                    after: new_v,
                }
            };
            changes.insert(k, change);
        }
        Self {
            vtid: after.vtid,
            action: Action::Updated,
            from_version: Some(before.version),
            to_version: after.version,
            at: after.updated_at,
            by: after.updated_by.clone(),
            changes,
        }
    }
}

/// Only the metadata keys that changed, before and after (`null` where absent).
fn metadata_change(before: &Map<String, Value>, after: &Map<String, Value>) -> FieldChange {
    let mut b = Map::new();
    let mut a = Map::new();
    for k in before.keys().chain(after.keys()) {
        let (old, new) = (before.get(k), after.get(k));
        if old != new {
            b.insert(k.clone(), old.cloned().unwrap_or(Value::Null));
            a.insert(k.clone(), new.cloned().unwrap_or(Value::Null));
        }
    }
    FieldChange {
        before: Value::Object(b),
        after: Value::Object(a),
    }
}

fn to_map(record: &Record) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        *self == Patch::default()
    }

    /// Applies this patch to `current`. `Ok(None)` when nothing would change: no new
    /// version and no history entry. Repeating the current status is not a move.
    pub fn apply(
        &self,
        current: &Record,
        by: &str,
        now: Timestamp,
    ) -> Result<Option<(Record, HistoryEntry)>, InvalidTransition> {
        let mut next = current.clone();
        if let Some(to) = self.status.filter(|&s| s != current.status) {
            Transition::new(current.status, to)?;
            next.status = to;
            if to == Status::Active && next.started_at.is_none() {
                next.started_at = Some(now);
            }
            if to.is_terminal() {
                next.completed_at = Some(now);
                let from = next.started_at.unwrap_or(next.created_at);
                next.duration_seconds = Some(now.seconds_since(from));
            }
        }
        if let Some(a) = &self.assigned_to {
            next.assigned_to = a.clone();
        }
        if let Some(t) = &self.title {
            next.title = t.clone();
        }
        if let Some(d) = &self.description {
            next.description = d.clone();
        }
        if let Some(t) = self.is_test {
            next.is_test = t;
        }
        if let Some(m) = &self.metadata {
            for (k, v) in m {
                if v.is_null() {
                    next.metadata.remove(k);
                } else {
                    next.metadata.insert(k.clone(), v.clone());
                }
            }
        }
        if next == *current {
            return Ok(None);
        }
        next.version = current.version + 1;
        next.updated_at = now;
        next.updated_by = by.to_owned();
        let entry = HistoryEntry::between(current, &next);
        Ok(Some((next, entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(status: Status) -> Draft {
        Draft {
            task_family: "deploy".into(),
            task_type: "release".into(),
            title: None,
            description: "ship it".into(),
            status,
            tenant: "acme".into(),
            assigned_to: None,
            parent_vtid: None,
            metadata: json!({"a": 1, "b": {"c": 2}}).as_object().cloned().unwrap(),
            is_test: false,
        }
    }

    fn record(status: Status) -> Record {
        draft(status).into_record("VTID-2026-0001".parse().unwrap(), "alice", Timestamp::now())
    }

    #[test]
    fn json_is_camel_case_with_nulls() {
        let v = serde_json::to_value(record(Status::Pending)).unwrap();
        for k in [
            "taskFamily",
            "assignedTo",
            "parentVtid",
            "isTest",
            "createdAt",
            "durationSeconds",
        ] {
            assert!(v.get(k).is_some(), "{k} missing from {v}");
        }
        assert_eq!(v["vtid"], "VTID-2026-0001");
        assert_eq!(v["version"], 1);
    }

    #[test]
    fn metadata_merges_by_top_level_key_and_null_removes() {
        let r = record(Status::Pending);
        let patch = Patch {
            metadata: Some(
                json!({"a": null, "b": {"d": 3}, "e": true})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            ..Patch::default()
        };
        let (next, entry) = patch.apply(&r, "bob", Timestamp::now()).unwrap().unwrap();
        assert_eq!(
            Value::Object(next.metadata),
            json!({"b": {"d": 3}, "e": true})
        );
        assert_eq!(next.version, 2);
        assert_eq!(
            entry.changes["metadata"].before,
            json!({"a": 1, "b": {"c": 2}, "e": null})
        );
        assert_eq!(
            entry.changes["metadata"].after,
            json!({"a": null, "b": {"d": 3}, "e": true})
        );
        assert_eq!((entry.from_version, entry.to_version), (Some(1), 2));
    }

    #[test]
    fn same_status_and_same_values_change_nothing() {
        let r = record(Status::Active);
        let patch = Patch {
            status: Some(Status::Active),
            description: Some("ship it".into()),
            metadata: Some(json!({"a": 1}).as_object().cloned().unwrap()),
            ..Patch::default()
        };
        assert_eq!(patch.apply(&r, "bob", Timestamp::now()), Ok(None));
    }

    #[test]
    fn lifecycle_sets_timestamps() {
        let r = record(Status::Pending);
        let go = Patch {
            status: Some(Status::Active),
            ..Patch::default()
        };
        let (active, _) = go.apply(&r, "bob", Timestamp::now()).unwrap().unwrap();
        assert!(active.started_at.is_some() && active.completed_at.is_none());
        let done = Patch {
            status: Some(Status::Complete),
            ..Patch::default()
        };
        let (complete, entry) = done
            .apply(&active, "bob", Timestamp::now())
            .unwrap()
            .unwrap();
        assert!(complete.completed_at.is_some());
        assert!(complete.duration_seconds.unwrap() >= 0.0);
        assert_eq!(entry.changes["status"].before, json!("active"));
        let back = Patch {
            status: Some(Status::Active),
            ..Patch::default()
        };
        let err = back.apply(&complete, "bob", Timestamp::now()).unwrap_err();
        assert_eq!((err.from, err.to), (Status::Complete, Status::Active));
    }

    #[test]
    fn created_terminal_records_have_completion() {
        let r = record(Status::Complete);
        assert!(r.completed_at.is_some());
        assert_eq!(r.duration_seconds, Some(0.0));
        let entry = HistoryEntry::creation(&r, Action::Created);
        assert_eq!(entry.to_version, 1);
        assert_eq!(entry.from_version, None);
        assert_eq!(entry.changes["status"].after, json!("complete"));
    }
}
