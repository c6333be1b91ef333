//! What this crate's unit tests share.

use serde_json::Map;

use crate::lifecycle::Status;
use crate::record::Draft;

/// The smallest valid draft: a pending `deploy/release` of tenant `acme`.
pub fn draft() -> Draft {
    Draft {
        task_family: "deploy".into(),
        task_type: "release".into(),
        title: None,
        description: "d".into(),
        status: Status::Pending,
        tenant: "acme".into(),
        assigned_to: None,
        parent_vtid: None,
        metadata: Map::new(),
        is_test: false,
    }
}
