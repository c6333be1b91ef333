//! The VTID ledger's domain types, as the API serializes them: the VTID, the record,
//! its lifecycle and its history. Servers and clients share them; nothing here pulls
//! in the AWS SDK or SQLite.

pub mod audit;
pub mod backoff;
pub mod lifecycle;
pub mod record;
pub mod search;
pub mod timestamp;
pub mod trace;
pub mod version;
pub mod vtid;

pub use lifecycle::Status;
pub use record::{HistoryEntry, Record};
pub use timestamp::Timestamp;
pub use vtid::Vtid;
