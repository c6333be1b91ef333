//! What the ledger answers, typed. Records and history entries are the very types the
//! server serializes (`vtid-model`); the rest are the small envelopes around them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vtid_model::{Record, Timestamp};

/// A create's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub record: Record,
    /// The `Idempotency-Key` had been used before with this body: this is that record.
    pub replayed: bool,
    /// The key the create was sent with (given or generated).
    pub idempotency_key: String,
}

/// A PATCH's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Updated {
    pub record: Record,
    /// False when the change changed nothing (no new version, no history entry).
    pub changed: bool,
}

/// One page of `GET /vtid/list`, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// Continues the list exactly where this page ended; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /vtid/audit`: a year's integrity report, the type the server fills.
pub use vtid_model::audit::Audit;

/// `GET /vtid/health` when the ledger and its store answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
    pub service: String,
    pub timestamp: Timestamp,
    pub checks: Value,
}
