//! One place that reads DynamoDB's failures: what an SDK error means for the caller, what
//! a cancelled transaction's reasons say, and the one backoff every retry uses.

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;

use super::super::StoreError;
use super::item::Item;
use crate::deadline::{Deadline, Expired};

/// What a failed request (after the SDK's own retries) means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Refused before it was applied, worth another try after a pause: throttling, or a
    /// plain write meeting an item that a transaction holds.
    Busy(String),
    /// Maybe applied, maybe not: a timeout, a lost connection, a 5xx, a transaction still
    /// in progress. Sending the same transaction again with the same token tells.
    Unknown(String),
    /// A request this code should never send (a bug): 500.
    Bug(String),
}

/// Codes DynamoDB answers when it refused a request for load, before doing any work (as
/// an error, or as a transaction's cancellation reason).
const THROTTLED: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    // An error code and a cancellation reason alike.
    "RequestLimitExceeded",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Codes DynamoDB answers when it refused a request for contention, besides throttling.
const CONTENDED: [&str; 2] = [
    // A single-item write on an item that an in-flight transaction holds.
    "TransactionConflictException",
    // The table or index is being created or is gone: nothing was applied.
    "ResourceNotFoundException",
];

/// Whether `code` (an error's or a cancellation reason's) refuses a request for load.
pub fn is_throttled(code: &str) -> bool {
    THROTTLED.contains(&code)
}

/// Codes that mean this code sent something wrong.
const BUG: [&str; 4] = [
    "ValidationException",
    "SerializationException",
    "IdempotentParameterMismatchException",
    "ItemCollectionSizeLimitExceededException",
];

pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> Failure {
    let what = || match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("")),
        None => format!("{e:?}"),
    };
    match e {
        SdkError::ConstructionFailure(_) => Failure::Bug(what()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Unknown(what())
        }
        _ => match e.code() {
            Some(c) if is_throttled(c) || CONTENDED.contains(&c) => Failure::Busy(what()),
            Some(c) if BUG.contains(&c) => Failure::Bug(what()),
            // InternalServerError, ServiceUnavailable, TransactionInProgressException, and
            // anything unknown: the write may have happened.
            _ => Failure::Unknown(what()),
        },
    }
}

impl From<Failure> for StoreError {
    /// Nothing DynamoDB can answer is a 500 unless this code sent it something wrong.
    fn from(f: Failure) -> Self {
        match f {
            Failure::Busy(c) | Failure::Unknown(c) => StoreError::Unavailable(c),
            Failure::Bug(c) => StoreError::Internal(c),
        }
    }
}

/// An SDK error as a store error, for calls that are not retried here.
pub fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    classify(&e).into()
}

/// What a 4xx answer of DynamoDB refused a request for, read from its raw body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Throughput: the request, or an item of a transaction.
    Throttled,
    /// A transaction cancelled because another held one of its items.
    Conflict,
    /// Anything else (a failed condition, a bad request).
    Other,
}

/// The refusal in a raw answer (`None` for an answer that is not a 4xx): the one reading
/// of error bodies that the timeouts and the metrics share.
pub fn refusal(status: u16, body: Option<&[u8]>) -> Option<Refusal> {
    if !(400..500).contains(&status) {
        return None;
    }
    let Some(error) = body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()) else {
        return Some(Refusal::Other);
    };
    // `com.amazonaws.dynamodb.v20120810#ThrottlingException`, or the bare code.
    let code = error["__type"].as_str().unwrap_or("");
    let code = code.rsplit('#').next().unwrap_or(code);
    let reasons: Vec<&str> = error["CancellationReasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["Code"].as_str()).collect())
        .unwrap_or_default();
    Some(
        if is_throttled(code) || reasons.iter().any(|c| is_throttled(c)) {
            Refusal::Throttled
        } else if reasons.contains(&"TransactionConflict") {
            Refusal::Conflict
        } else {
            Refusal::Other
        },
    )
}

/// Why a transaction was cancelled, item by item (in the order the items were sent).
#[derive(Clone, Debug)]
pub struct Cancellation {
    reasons: Vec<CancellationReason>,
}

/// What a cancellation says as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelKind {
    /// At least one condition failed: a fact about that item, whatever else happened.
    Condition,
    /// Another transaction held an item; nothing failed its condition (as far as was
    /// checked). The same write may succeed after a pause.
    Conflict,
    Throttled,
    Other(String),
}

impl Cancellation {
    pub fn new(reasons: Vec<CancellationReason>) -> Self {
        Self { reasons }
    }

    pub fn code(&self, i: usize) -> &str {
        self.reasons.get(i).and_then(|r| r.code()).unwrap_or("None")
    }

    pub fn failed_condition(&self, i: usize) -> bool {
        self.code(i) == "ConditionalCheckFailed"
    }

    /// The item as it was when its condition failed (`ALL_OLD`).
    pub fn item(&self, i: usize) -> Option<&Item> {
        self.reasons.get(i).and_then(|r| r.item())
    }

    pub fn kind(&self) -> CancelKind {
        let codes: Vec<&str> = (0..self.reasons.len()).map(|i| self.code(i)).collect();
        if codes.contains(&"ConditionalCheckFailed") {
            CancelKind::Condition
        } else if codes.contains(&"TransactionConflict") {
            CancelKind::Conflict
        } else if codes.iter().any(|c| is_throttled(c)) {
            CancelKind::Throttled
        } else {
            CancelKind::Other(codes.join(","))
        }
    }

    /// Whether every condition was evaluated, so a `None` reason proves its condition
    /// held: only when no item was refused for a conflict or throttling (DynamoDB may
    /// stop checking conditions when it meets one).
    pub fn conditions_evaluated(&self) -> bool {
        (0..self.reasons.len()).all(|i| matches!(self.code(i), "None" | "ConditionalCheckFailed"))
    }
}

/// Full-jitter exponential backoff (AWS's recommendation for contended writes), never
/// sleeping past the deadline.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub const BASE: Duration = Duration::from_millis(10);
    pub const CAP: Duration = Duration::from_millis(400);

    pub fn new() -> Self {
        Self::default()
    }

    /// The policy: doubling from [`Self::BASE`] up to [`Self::CAP`], full jitter.
    const POLICY: vtid_model::backoff::Backoff = vtid_model::backoff::Backoff {
        first: Self::BASE,
        longest: Self::CAP,
        factor: 2.0,
        jitter: vtid_model::backoff::Jitter::Full,
    };

    /// The next pause: uniform in `0 ..= min(CAP, BASE * 2^attempt)`.
    pub fn next_pause(&mut self) -> Duration {
        self.attempt += 1;
        Self::POLICY.pause(self.attempt)
    }

    pub async fn pause(&mut self, deadline: Deadline) -> Result<(), Expired> {
        let pause = self.next_pause();
        deadline.sleep(pause).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        InternalServerError, ProvisionedThroughputExceededException, TransactionConflictException,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::empty(),
        )
    }

    fn service(err: PutItemError, status: u16) -> SdkError<PutItemError, HttpResponse> {
        SdkError::service_error(err, response(status))
    }

    fn meta(code: &str) -> aws_sdk_dynamodb::error::ErrorMetadata {
        aws_sdk_dynamodb::error::ErrorMetadata::builder()
            .code(code)
            .build()
    }

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn throttling_and_conflicts_are_busy() {
        let throttled = service(
            PutItemError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .meta(meta("ProvisionedThroughputExceededException"))
                    .build(),
            ),
            400,
        );
        assert!(matches!(classify(&throttled), Failure::Busy(_)));
        let conflict = service(
            PutItemError::TransactionConflictException(
                TransactionConflictException::builder()
                    .meta(meta("TransactionConflictException"))
                    .build(),
            ),
            400,
        );
        assert!(matches!(classify(&conflict), Failure::Busy(_)));
        assert!(matches!(
            StoreError::from(classify(&conflict)),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn server_errors_timeouts_and_lost_connections_are_unknown_outcomes() {
        let internal = service(
            PutItemError::InternalServerError(
                InternalServerError::builder()
                    .meta(meta("InternalServerError"))
                    .build(),
            ),
            500,
        );
        assert!(matches!(classify(&internal), Failure::Unknown(_)));
        let timeout: SdkError<PutItemError, HttpResponse> =
            SdkError::timeout_error("attempt timed out");
        assert!(matches!(classify(&timeout), Failure::Unknown(_)));
        let lost: SdkError<PutItemError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::io("connection closed before message completed".into()),
        );
        assert!(matches!(classify(&lost), Failure::Unknown(_)));
        assert!(matches!(
            StoreError::from(classify(&lost)),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn a_transaction_in_progress_is_an_unknown_outcome_and_a_bad_request_a_bug() {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::error::{
            IdempotentParameterMismatchException, TransactionInProgressException,
        };
        let in_progress: SdkError<TransactWriteItemsError, HttpResponse> = SdkError::service_error(
            TransactWriteItemsError::TransactionInProgressException(
                TransactionInProgressException::builder()
                    .meta(meta("TransactionInProgressException"))
                    .build(),
            ),
            response(400),
        );
        assert!(matches!(classify(&in_progress), Failure::Unknown(_)));
        let mismatch: SdkError<TransactWriteItemsError, HttpResponse> = SdkError::service_error(
            TransactWriteItemsError::IdempotentParameterMismatchException(
                IdempotentParameterMismatchException::builder()
                    .meta(meta("IdempotentParameterMismatchException"))
                    .build(),
            ),
            response(400),
        );
        assert!(matches!(classify(&mismatch), Failure::Bug(_)));
        assert!(matches!(
            StoreError::from(classify(&mismatch)),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn cancellation_reasons_say_what_happened() {
        let c = Cancellation::new(vec![reason("None"), reason("ConditionalCheckFailed")]);
        assert_eq!(c.kind(), CancelKind::Condition);
        assert!(c.failed_condition(1) && !c.failed_condition(0));
        assert!(c.conditions_evaluated());
        let c = Cancellation::new(vec![reason("None"), reason("TransactionConflict")]);
        assert_eq!(c.kind(), CancelKind::Conflict);
        assert!(
            !c.conditions_evaluated(),
            "a None beside a conflict proves nothing"
        );
        let c = Cancellation::new(vec![reason("ThrottlingError"), reason("None")]);
        assert_eq!(c.kind(), CancelKind::Throttled);
        let c = Cancellation::new(vec![reason("ValidationError")]);
        assert_eq!(c.kind(), CancelKind::Other("ValidationError".into()));
        // A failed condition is a fact even beside a conflict.
        let c = Cancellation::new(vec![
            reason("ConditionalCheckFailed"),
            reason("TransactionConflict"),
        ]);
        assert_eq!(c.kind(), CancelKind::Condition);
    }

    /// Every reason code DynamoDB documents for a cancelled transaction, alone beside a
    /// `None`: what the create and PATCH paths then do.
    #[test]
    fn every_cancellation_reason_has_its_decision() {
        for (code, kind, evaluated) in [
            ("ConditionalCheckFailed", CancelKind::Condition, true),
            ("TransactionConflict", CancelKind::Conflict, false),
            ("ThrottlingError", CancelKind::Throttled, false),
            (
                "ProvisionedThroughputExceeded",
                CancelKind::Throttled,
                false,
            ),
            ("RequestLimitExceeded", CancelKind::Throttled, false),
            (
                "ItemCollectionSizeLimitExceeded",
                CancelKind::Other("None,ItemCollectionSizeLimitExceeded".into()),
                false,
            ),
            (
                "ValidationError",
                CancelKind::Other("None,ValidationError".into()),
                false,
            ),
        ] {
            let c = Cancellation::new(vec![reason("None"), reason(code)]);
            assert_eq!(c.kind(), kind, "{code}");
            assert_eq!(c.conditions_evaluated(), evaluated, "{code}");
            assert_eq!(
                c.failed_condition(1),
                code == "ConditionalCheckFailed",
                "{code}"
            );
            assert!(
                !c.failed_condition(0),
                "{code}: a None reason refused nothing"
            );
        }
        // A reason without a code counts as None.
        let c = Cancellation::new(vec![CancellationReason::builder().build()]);
        assert_eq!(c.kind(), CancelKind::Other("None".into()));
    }

    #[test]
    fn backoff_grows_with_full_jitter_up_to_its_cap() {
        let mut b = Backoff::new();
        for attempt in 0..12u32 {
            let p = b.next_pause();
            let ceiling = Backoff::BASE.saturating_mul(1 << attempt).min(Backoff::CAP);
            assert!(p <= ceiling, "attempt {attempt}: {p:?} > {ceiling:?}");
        }
        assert_eq!(b.attempt, 12);
        let pauses: Vec<Duration> = (0..200).map(|_| b.next_pause()).collect();
        assert!(
            pauses.iter().any(|p| *p < Backoff::CAP / 2),
            "jittered, not fixed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_never_sleeps_past_the_deadline() {
        // Paused time: each sleep advances tokio's clock by exactly what it slept. A pause
        // at this attempt is up to CAP (400 ms); the deadline, 30 ms ahead, comes first.
        for _ in 0..20 {
            let mut b = Backoff { attempt: 30 };
            let deadline = Deadline::after(Duration::from_millis(30));
            let before = tokio::time::Instant::now();
            let _ = b.pause(deadline).await;
            assert!(
                before.elapsed() <= Duration::from_millis(30),
                "slept {:?} past a deadline 30 ms away",
                before.elapsed()
            );
        }
        // And a deadline already past is reported as such.
        let mut b = Backoff { attempt: 30 };
        let gone = Deadline::after(Duration::ZERO);
        assert_eq!(b.pause(gone).await, Err(Expired));
    }
}
