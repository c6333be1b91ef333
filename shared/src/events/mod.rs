//! Every create and change reaches other systems (docs/design.md, "Events"). What an event is
//! (`change`) is pure and always built; the OASIS POST needs an HTTP client (`oasis`
//! feature: the stream consumer and `vtid serve`); the DynamoDB stream consumer and
//! EventBridge need the AWS event types and SDK (`events` feature: only
//! `functions/events` builds them).

mod change;
mod filter;
#[cfg(feature = "oasis")]
mod oasis;
#[cfg(feature = "events")]
mod stream;

use async_trait::async_trait;
use serde::Serialize;

pub use change::{Change, Kind, change_between, event_id, oasis_body};
pub use filter::event_matches;
#[cfg(feature = "oasis")]
pub use oasis::{Oasis, POST_TIMEOUT};
#[cfg(feature = "events")]
pub use stream::{EventBridge, change_of, handle, sinks_from_env};

use crate::store::StoreError;

/// A target that events are delivered to.
#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &'static str;
    async fn deliver(&self, change: &Change) -> Result<(), String>;
}

/// Where events stand when the ledger delivers them itself (`vtid serve` on the
/// embedded store): reported by `GET /vtid/health` under `checks.events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    /// Whether a webhook (`--oasis-url`) is configured.
    pub webhook: bool,
    /// Events recorded but not yet delivered to the webhook (0 without one).
    pub pending: u64,
    /// Events the webhook never accepted, kept in the dead-letter table.
    pub dead_letters: u64,
}

/// The source of [`Backlog`].
#[async_trait]
pub trait Delivery: Send + Sync {
    async fn backlog(&self) -> Result<Backlog, StoreError>;
}
