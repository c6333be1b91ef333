//! A client for the VTID ledger, for CI/CD tools and other cloud functions: typed
//! records (the very types the server serializes, from `vtid-model`) and typed errors,
//! over three transports behind one API:
//!
//! - HTTP with a bearer token: API Gateway's JWT authorizer, or `vtid serve`
//!   ([`Client::http`]);
//! - HTTP signed with SigV4, for an IAM-authorized HTTP API (feature `sigv4`,
//!   [`Client::sigv4`]);
//! - direct invocation of the ledger's Lambda functions (feature `lambda`,
//!   [`Client::direct`]), which builds the API Gateway event itself.
//!
//! [`Client::events`] follows `vtid serve`'s live event stream (`GET /vtid/events`).
//!
//! Every call has a time limit (30 s by default, retries included), retries a connection
//! that could not be made, 429 and 503 with backoff and jitter (honouring `Retry-After`),
//! and every create carries an `Idempotency-Key`, so a retry never makes a second VTID.
//! A wrong URL or function name is an error ([`Error::NotALedger`]), never "not found".
//!
//! ```no_run
//! # async fn demo() -> Result<(), vtid_client::Error> {
//! use vtid_client::{Client, NewRecord, Status};
//!
//! let ledger = Client::http("http://127.0.0.1:8787", None)?;
//! let created = ledger
//!     .create(&NewRecord::new("deploy", "release", "ship v7").tenant("acme"), Some("run-42"))
//!     .await?;
//! let record = ledger.get(&created.record.vtid).await?;
//! assert_eq!(record.status, Status::Pending);
//! # Ok(()) }
//! ```

mod answer;
mod client;
mod error;
mod events;
mod request;
mod response;
mod retry;
pub mod transport;

pub use client::{Client, Config, DEFAULT_TIMEOUT, RetryHook, new_idempotency_key};
pub use error::{Detail, Error, Kind, Refusal};
pub use events::{Event, EventStream, Parser};
pub use request::{Changes, ListQuery, NewRecord, Version};
pub use response::{Audit, Created, Health, Page, Updated};
pub use retry::{RetryPolicy, Retrying};
pub use transport::Op;
pub use transport::http::{HttpAuth, redact_url};
#[cfg(feature = "lambda")]
pub use transport::lambda::{Direct, FunctionNames};
#[cfg(feature = "sigv4")]
pub use transport::sigv4::SigV4;
pub use vtid_model::trace::TraceParent;
pub use vtid_model::{HistoryEntry, Record, Status, Timestamp, Vtid};
