//! Sending one transaction until its outcome is known. The transaction carries its own
//! `ClientRequestToken`, so sending it again after a lost answer, a timeout or a 5xx can
//! never apply it twice: DynamoDB answers a repeated token with the first outcome for 10
//! minutes. A cancellation is an outcome; the caller decides what to change and builds a
//! new transaction (with a new token) if it tries again.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::DynamoStore;
use super::errors::{Backoff, Cancellation, Failure, classify};
use crate::deadline::Deadline;
use crate::store::StoreError;

pub struct Transaction {
    items: Vec<TransactWriteItem>,
    token: String,
}

impl Transaction {
    pub fn new(items: Vec<TransactWriteItem>) -> Self {
        Self {
            items,
            token: new_token(),
        }
    }
}

/// A fresh token (DynamoDB takes 1 to 36 characters).
pub fn new_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

pub enum Outcome {
    Written,
    Cancelled(Cancellation),
}

/// What to do when DynamoDB refuses a transaction for load before applying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenBusy {
    /// Answer 503 at once: nothing is held that waiting would save.
    GiveUp,
    /// Try again after a pause until the deadline: numbers are reserved for this write.
    Retry,
}

impl DynamoStore {
    /// Sends `tx` until it is written or cancelled, or the deadline passes (503). An
    /// unknown outcome is always resolved by sending the same transaction again.
    pub(super) async fn transact(
        &self,
        tx: &Transaction,
        deadline: Deadline,
        when_busy: WhenBusy,
    ) -> Result<Outcome, StoreError> {
        let mut backoff = Backoff::new();
        loop {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(tx.items.clone()))
                .client_request_token(&tx.token)
                .send();
            let failure = match deadline.bound(sent).await? {
                Ok(_) => return Ok(Outcome::Written),
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                        return Ok(Outcome::Cancelled(Cancellation::new(
                            tc.cancellation_reasons().to_vec(),
                        )));
                    }
                    _ => classify(&e),
                },
            };
            match failure {
                Failure::Unknown(_) => {}
                Failure::Busy(_) if when_busy == WhenBusy::Retry => {}
                other => return Err(other.into()),
            }
            if backoff.pause(deadline).await.is_err() {
                return Err(failure_at_deadline(failure));
            }
        }
    }
}

fn failure_at_deadline(last: Failure) -> StoreError {
    match last {
        Failure::Busy(c) | Failure::Unknown(c) => {
            StoreError::Unavailable(format!("deadline passed; last failure: {c}"))
        }
        Failure::Bug(c) => StoreError::Internal(c),
    }
}
