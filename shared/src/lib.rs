//! The VTID ledger's shared crate: validation, the store contract with its DynamoDB and
//! SQLite implementations, identity and access, and the HTTP handlers every function and
//! the local server run. The domain (VTID, record, lifecycle) is `vtid-model`'s.

pub mod access;
pub mod api;
pub mod config;
pub mod cursor;
pub mod daily_audit;
pub mod deadline;
pub mod error;
pub mod events;
pub mod identity;
pub mod metrics;
pub mod scope;
#[cfg(feature = "dynamodb")]
pub mod sdk;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod validation;
#[cfg(feature = "dynamodb")]
pub mod xray;

pub use config::App;
// The domain types live in `vtid-model` (shared with clients); their paths stay `shared::vtid` etc.
pub use vtid_model::{lifecycle, record, search, timestamp, vtid};
