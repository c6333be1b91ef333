//! What a caller sends: a new record, a change, list filters, and the version a change
//! is conditional on. The server validates every field; these types only make the
//! request's shape right (camelCase, `null` where a field is cleared).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vtid_model::{Status, Vtid};

/// A create body (`POST /vtid/create`, one item of `POST /vtid/batch`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRecord {
    pub task_family: String,
    pub task_type: String,
    pub description: String,
    /// Required unless the caller's identity carries a tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_vtid: Option<Vtid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_test: Option<bool>,
}

impl NewRecord {
    pub fn new(
        task_family: impl Into<String>,
        task_type: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            task_family: task_family.into(),
            task_type: task_type.into(),
            description: description.into(),
            ..Self::default()
        }
    }

    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    pub fn parent(mut self, parent: Vtid) -> Self {
        self.parent_vtid = Some(parent);
        self
    }
}

/// A PATCH body: `None` leaves a field alone. `assigned_to: Some(None)` unassigns;
/// `metadata` is merged by top-level key, a `null` value removing that key.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_test: Option<bool>,
}

impl Changes {
    pub fn status(status: Status) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `GET /vtid/list` filters; every one the API has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub task_family: Option<String>,
    pub status: Option<Status>,
    pub tenant: Option<String>,
    pub assigned_to: Option<String>,
    pub parent_vtid: Option<Vtid>,
    pub year: Option<u16>,
    pub include_test: bool,
    /// Free text (`q`): records whose title or description contains every word, in any
    /// case; 1 to 100 characters once trimmed. On DynamoDB a page may then be short or
    /// empty before the last one (`list_all` follows the cursors).
    pub search: Option<String>,
    /// Records per page, 1 to 200 (the server's default is 50).
    pub limit: Option<u16>,
}

impl ListQuery {
    /// The query parameters, with `cursor` when continuing.
    pub(crate) fn pairs(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let text = [
            ("taskFamily", self.task_family.clone()),
            ("status", self.status.map(|s| s.to_string())),
            ("tenant", self.tenant.clone()),
            ("assignedTo", self.assigned_to.clone()),
            ("parentVtid", self.parent_vtid.map(|v| v.to_string())),
            ("year", self.year.map(|y| y.to_string())),
            ("q", self.search.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
        ];
        for (k, v) in text {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        if self.include_test {
            q.push(("includeTest", "true".to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

pub use vtid_model::version::Version;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_camel_case_and_clear_with_null() {
        let c = Changes {
            assigned_to: Some(None),
            status: Some(Status::Active),
            ..Changes::default()
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"status": "active", "assignedTo": null})
        );
        let n = NewRecord::new("deploy", "release", "ship").tenant("acme");
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({"taskFamily": "deploy", "taskType": "release", "description": "ship", "tenant": "acme"})
        );
        let typo = serde_json::from_value::<NewRecord>(
            json!({"taskFamily": "a", "taskType": "b", "description": "c", "tenat": "x"}),
        );
        assert!(typo.unwrap_err().to_string().contains("tenat"));
    }

    #[test]
    fn a_search_is_the_q_parameter() {
        let q = ListQuery {
            search: Some("deploy prod".into()),
            tenant: Some("acme".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            q.pairs(Some("c")),
            [
                ("tenant", "acme".to_owned()),
                ("q", "deploy prod".to_owned()),
                ("cursor", "c".to_owned())
            ]
        );
    }
}
