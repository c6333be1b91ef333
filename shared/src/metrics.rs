//! What the ledger counts. Names and dimensions live here only: the code publishes them
//! through the `metrics` facade, and the template's alarms and dashboard name the same
//! ones (`tests/template.rs` holds each alarm to this list). On Lambda they leave as
//! CloudWatch embedded metric format lines on stdout, one document per invocation
//! ([`crate::telemetry::serve`]); elsewhere (`vtid serve`, the tests) no recorder is
//! installed and every call here is a no-op.
//!
//! Dimensions stay few and bounded: the function (set once per process), and values from
//! fixed lists (a status class, an error code, a DynamoDB operation, a void's cause, a
//! sink). Never a tenant, a VTID, or anything a caller chooses.

use std::time::Duration;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "VtidLedger";

/// Dimension names.
pub mod dimension {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`): on every metric.
    pub const FUNCTION: &str = "Function";
    /// A response's status class: `2xx`, `3xx`, `4xx`, `5xx`.
    pub const OUTCOME: &str = "Outcome";
    /// An error response's `code` (`unavailable`, `invalid_payload`, ...).
    pub const CODE: &str = "Code";
    /// A DynamoDB operation (`TransactWriteItems`, `Query`, ...).
    pub const OPERATION: &str = "Operation";
    /// Why numbers were voided (`deadline`, `write_failed`, `collision`, `admin`).
    pub const CAUSE: &str = "Cause";
    /// Where an event went (`oasis`, `eventbridge`).
    pub const SINK: &str = "Sink";
}

/// Metric names.
pub mod name {
    /// Answers, by [`super::dimension::OUTCOME`].
    pub const REQUESTS: &str = "Requests";
    /// Error answers, by [`super::dimension::CODE`].
    pub const ERRORS: &str = "Errors";
    /// Milliseconds from a request's arrival to its answer.
    pub const LATENCY: &str = "Latency";
    /// 1 on an instance's first invocation.
    pub const COLD_START: &str = "ColdStart";
    /// Records created (each item of a batch counts).
    pub const CREATES: &str = "Creates";
    /// Creates answered from an idempotency key's first answer.
    pub const REPLAYS: &str = "IdempotentReplays";
    /// Numbers taken by a guess that another writer held already.
    pub const GUESSES_REFUSED: &str = "GuessesRefused";
    /// Blocks of numbers reserved on a year's counter.
    pub const RESERVATIONS: &str = "Reservations";
    /// Numbers given up, by [`super::dimension::CAUSE`].
    pub const VOIDED: &str = "VoidedNumbers";
    /// Waits for another writer's lease on a year's counter.
    pub const LEASE_WAITS: &str = "LeaseWaits";
    /// Transactions DynamoDB cancelled for a conflict with another.
    pub const CONFLICTS: &str = "TransactionConflicts";
    /// Requests DynamoDB refused for throughput.
    pub const THROTTLES: &str = "Throttles";
    /// Requests sent to DynamoDB, retries included, by [`super::dimension::OPERATION`].
    pub const DYNAMODB_REQUESTS: &str = "DynamoDbRequests";
    /// Events a sink accepted, by [`super::dimension::SINK`].
    pub const EVENTS_DELIVERED: &str = "EventsDelivered";
    /// Events a sink failed, handed back to the stream, which sends them again (and,
    /// once its retries are spent, to the dead-letter queue, whose own metric counts
    /// them), by [`super::dimension::SINK`].
    pub const EVENTS_RETRIED: &str = "EventsRetried";
    /// Milliseconds from a change's write to its batch's arrival at the consumer.
    pub const STREAM_AGE: &str = "StreamAge";
    /// The daily audit's figures, summed over the years it audited (this one, and the
    /// one before in January): the counters, the records, the void numbers, the numbers
    /// nobody accounted for, and duplicates plus records above their counter.
    pub const AUDIT_COUNTER: &str = "AuditCounter";
    pub const AUDIT_RECORDS: &str = "AuditRecords";
    pub const AUDIT_VOID: &str = "AuditVoid";
    pub const AUDIT_MISSING: &str = "AuditMissing";
    pub const AUDIT_ANOMALIES: &str = "AuditAnomalies";
}

/// Every metric with the dimensions it carries besides [`dimension::FUNCTION`], for the
/// template's tests and the runbook.
pub const ALL: &[(&str, &[&str])] = &[
    (name::REQUESTS, &[dimension::OUTCOME]),
    (name::ERRORS, &[dimension::CODE]),
    (name::LATENCY, &[]),
    (name::COLD_START, &[]),
    (name::CREATES, &[]),
    (name::REPLAYS, &[]),
    (name::GUESSES_REFUSED, &[]),
    (name::RESERVATIONS, &[]),
    (name::VOIDED, &[dimension::CAUSE]),
    (name::LEASE_WAITS, &[]),
    (name::CONFLICTS, &[]),
    (name::THROTTLES, &[]),
    (name::DYNAMODB_REQUESTS, &[dimension::OPERATION]),
    (name::EVENTS_DELIVERED, &[dimension::SINK]),
    (name::EVENTS_RETRIED, &[dimension::SINK]),
    (name::STREAM_AGE, &[]),
    (name::AUDIT_COUNTER, &[]),
    (name::AUDIT_RECORDS, &[]),
    (name::AUDIT_VOID, &[]),
    (name::AUDIT_MISSING, &[]),
    (name::AUDIT_ANOMALIES, &[]),
];

/// Declares the units (the alarms on latency and stream age name milliseconds, and an
/// alarm's unit must match its data's); after the recorder is installed.
pub fn describe() {
    metrics::describe_histogram!(name::LATENCY, metrics::Unit::Milliseconds, "answer time");
    metrics::describe_histogram!(name::STREAM_AGE, metrics::Unit::Milliseconds, "batch age");
}

/// The status class of `status`.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One answer: its status class, its error code when it is an error, its latency.
pub fn answered(status: u16, code: Option<&'static str>, elapsed: Duration) {
    metrics::counter!(name::REQUESTS, dimension::OUTCOME => outcome(status)).increment(1);
    if let Some(code) = code {
        metrics::counter!(name::ERRORS, dimension::CODE => code).increment(1);
    }
    metrics::histogram!(name::LATENCY).record(elapsed.as_secs_f64() * 1000.0);
}

/// `n` more of a metric without dimensions of its own.
pub fn add(name: &'static str, n: u64) {
    metrics::counter!(name).increment(n);
}

/// `n` more of a metric with one dimension, whose value comes from a fixed list.
pub fn add_by(name: &'static str, dimension: &'static str, value: &'static str, n: u64) {
    metrics::counter!(name, dimension => value).increment(n);
}

/// A request to DynamoDB (the SDK's operation name, a fixed list).
pub fn dynamodb_request(operation: &str) {
    metrics::counter!(name::DYNAMODB_REQUESTS, dimension::OPERATION => operation.to_owned())
        .increment(1);
}

/// A figure that is a level, not a count (the daily audit's).
pub fn gauge(name: &'static str, value: f64) {
    metrics::gauge!(name).set(value);
}

/// How old a stream batch's oldest change was on arrival.
pub fn stream_age(age: Duration) {
    metrics::histogram!(name::STREAM_AGE).record(age.as_secs_f64() * 1000.0);
}
