//! Attempt timeouts that follow the store's measured latency, the way TCP computes its
//! retransmission timeout (RFC 6298): per operation, a smoothed latency `srtt` and its
//! variation `rttvar` from every answered attempt, and a timeout of `srtt + 4 * rttvar`,
//! kept between [`FLOOR`] and [`CEILING`], and never past the call's deadline.
//!
//! Only answers that say how long the store takes to do the work are measured: a
//! success, or a refusal on the request's own conditions. A throttle or a 5xx comes back
//! at once without the work being done (and, on a store with a queue, without waiting in
//! it), so counting it would pull the timeout below what the store takes and cut the
//! next attempt off while it waits its turn (the way Karn's rule keeps TCP from
//! measuring an ambiguous answer).
//!
//! Why: a fixed attempt timeout shorter than what the store currently takes turns a slow
//! store into a failing one. Every attempt times out and is sent again while the first
//! is still waiting in the store, so the store does the work twice and its queue grows
//! (retry amplification). Here an attempt that timed out doubles the operation's timeout
//! until an answer is measured again (TCP's backoff), and the SDK's next attempt of the
//! same call waits twice as long again, so a slow store is waited for while the deadline
//! leaves room, and a store that does not answer at all still ends at the deadline.
//!
//! The SDK's retries (throttling, 5xx, lost connections) draw on its retry quota: a
//! token bucket per process (`RetryConfig::standard`, 500 tokens; a retry costs 5, a
//! retried timeout 10, a success gives one back), so a failing store gets fewer requests,
//! not more. The store's own loops (`transact`, `reserve`, `write_block`) send again
//! only to learn an unknown outcome or to keep numbers already reserved, with full-jitter
//! backoff (`errors::Backoff`), and stop at the deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// No attempt is cut off sooner: DynamoDB answers in milliseconds, and a hung
/// connection is worth a new one after this long.
pub const FLOOR: Duration = Duration::from_millis(300);
/// Nor later (the deadline usually comes first).
pub const CEILING: Duration = Duration::from_secs(10);
/// Before a process's first answer: room for a cold connection's TLS handshake on a
/// small function, and for a queue in front of a store under a burst of cold callers.
/// An operation not measured yet in a process that measured others waits twice the
/// slowest of those, if that is longer.
pub const INITIAL: Duration = Duration::from_secs(4);
/// The clock granularity term of RFC 6298.
const GRANULARITY: Duration = Duration::from_millis(10);
/// Timeouts in a row that keep doubling an operation's timeout.
const MAX_BACKOFF: u32 = 5;

/// What this process has measured of each operation's latency.
#[derive(Debug)]
pub struct Latency {
    operations: Mutex<HashMap<String, Estimate>>,
    ceiling_ms: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            operations: Mutex::default(),
            ceiling_ms: AtomicU64::new(CEILING.as_millis() as u64),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Estimate {
    srtt: Duration,
    rttvar: Duration,
    samples: u64,
    /// Timeouts since the last answer: each doubles the timeout.
    backoff: u32,
}

impl Estimate {
    fn sample(&mut self, rtt: Duration) {
        if self.samples == 0 {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            let delta = self.srtt.abs_diff(rtt);
            self.rttvar = (self.rttvar * 3 + delta) / 4;
            self.srtt = (self.srtt * 7 + rtt) / 8;
        }
        self.samples += 1;
        self.backoff = 0;
    }

    fn timeout(&self, ceiling: Duration) -> Duration {
        let base = if self.samples == 0 {
            INITIAL
        } else {
            (self.srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(FLOOR, ceiling.max(FLOOR))
        };
        base.saturating_mul(1 << self.backoff).min(ceiling)
    }
}

impl Latency {
    /// Timeouts that never pass `ceiling` (a benchmark on a slow emulator raises it).
    pub fn set_ceiling(&self, ceiling: Duration) {
        self.ceiling_ms
            .store(ceiling.as_millis() as u64, Ordering::Relaxed);
    }

    fn ceiling(&self) -> Duration {
        Duration::from_millis(self.ceiling_ms.load(Ordering::Relaxed))
    }

    fn with<T>(&self, operation: &str, f: impl FnOnce(&mut Estimate) -> T) -> T {
        let mut ops = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        f(ops.entry(operation.to_owned()).or_default())
    }

    /// An attempt of `operation` was answered after `rtt`.
    pub fn sample(&self, operation: &str, rtt: Duration) {
        self.with(operation, |e| e.sample(rtt));
    }

    /// An attempt of `operation` got no answer within its timeout.
    pub fn timed_out(&self, operation: &str) {
        self.with(operation, |e| e.backoff = (e.backoff + 1).min(MAX_BACKOFF));
    }

    /// The timeout of the next attempt of `operation` (the `attempt`-th of its call),
    /// before the deadline's cap.
    pub fn timeout(&self, operation: &str, attempt: u32) -> Duration {
        let ceiling = self.ceiling();
        let t = {
            let ops = self.operations.lock().unwrap_or_else(|p| p.into_inner());
            match ops.get(operation).filter(|e| e.samples > 0) {
                Some(e) => e.timeout(ceiling),
                None => ops
                    .values()
                    .filter(|e| e.samples > 0)
                    .map(|e| e.timeout(ceiling).saturating_mul(2))
                    .fold(INITIAL, Duration::max)
                    .min(ceiling),
            }
        };
        t.saturating_mul(1 << attempt.saturating_sub(1).min(MAX_BACKOFF))
            .min(ceiling)
    }

    /// The smoothed latency of `operation`, if measured.
    #[cfg(test)]
    pub fn smoothed(&self, operation: &str) -> Option<Duration> {
        self.with(operation, |e| (e.samples > 0).then_some(e.srtt))
    }
}

/// The interceptor that measures every attempt and sets the next one's timeout.
#[derive(Debug)]
pub struct AdaptiveTimeouts {
    pub latency: Arc<Latency>,
}

/// Where the call's latest attempt stands.
#[derive(Clone, Copy, Debug)]
enum Sent {
    /// Sent at this instant; no answer yet.
    InFlight(Instant),
    /// Its answer came after this long.
    Answered(Duration),
    /// Counted as timed out.
    TimedOut,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

/// How many attempts this call has started.
#[derive(Clone, Copy, Debug)]
struct Attempts(u32);

impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned())
}

impl AdaptiveTimeouts {
    /// Stores the timeout of the call's `attempt`-th attempt: the measured one, never
    /// past the call's deadline.
    fn set_timeout(&self, cfg: &mut ConfigBag, attempt: u32) {
        let mut t = self.latency.timeout(&operation(cfg), attempt);
        if let Some(deadline) = crate::scope::deadline() {
            t = t.min(deadline.remaining().max(Duration::from_millis(1)));
        }
        let current = cfg.load::<TimeoutConfig>().cloned();
        let next = match current {
            Some(c) => c.to_builder().operation_attempt_timeout(t).build(),
            None => TimeoutConfig::builder()
                .operation_attempt_timeout(t)
                .build(),
        };
        cfg.interceptor_state().store_put(next);
    }

    /// Counts the attempt in flight as timed out if it was sent and never answered, once.
    fn note_timeout(&self, cfg: &mut ConfigBag) {
        if let Some(Sent::InFlight(_)) = cfg.load::<Sent>() {
            self.latency.timed_out(&operation(cfg));
            cfg.interceptor_state().store_put(Sent::TimedOut);
        }
    }
}

impl Intercept for AdaptiveTimeouts {
    fn name(&self) -> &'static str {
        "AdaptiveTimeouts"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Attempts(0));
        self.set_timeout(cfg, 1);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The attempt before this one was cut off by its timeout if it sent and never
        // heard back: the store is slower than measured.
        self.note_timeout(cfg);
        let attempt = cfg.load::<Attempts>().map_or(1, |a| a.0 + 1);
        cfg.interceptor_state().store_put(Attempts(attempt));
        // This attempt's timeout is already set; this sets the next one's.
        self.set_timeout(cfg, attempt + 1);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(Sent::InFlight(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The call's last attempt: a call the SDK sends once (`once`) has no next
        // attempt to notice that this one timed out.
        self.note_timeout(cfg);
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(&Sent::InFlight(at)) = cfg.load::<Sent>() {
            cfg.interceptor_state()
                .store_put(Sent::Answered(at.elapsed()));
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if let Some(&Sent::Answered(rtt)) = cfg.load::<Sent>()
            && measures_the_work(response.status().as_u16(), response.body().bytes())
        {
            self.latency.sample(&operation(cfg), rtt);
        }
        Ok(())
    }
}

/// Whether an answer says how long the store takes to do the work: not a 5xx, and not
/// a refusal for load (an error code or a cancellation reason of throttling), which
/// comes back without the work being done.
fn measures_the_work(status: u16, body: Option<&[u8]>) -> bool {
    status < 500 && super::errors::refusal(status, body) != Some(super::errors::Refusal::Throttled)
}

/// A call the SDK sends once, leaving any other try to the caller: for writes that the
/// caller resends on its own condition (`reserve`).
pub fn once() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmeasured_operation_waits_long_enough_for_a_cold_connection() {
        let l = Latency::default();
        assert_eq!(l.timeout("PutItem", 1), INITIAL);
        assert_eq!(l.smoothed("PutItem"), None);
    }

    #[test]
    fn the_timeout_follows_the_measured_latency_and_its_variation() {
        let l = Latency::default();
        for _ in 0..50 {
            l.sample("GetItem", Duration::from_millis(5));
        }
        assert_eq!(l.timeout("GetItem", 1), FLOOR, "fast answers: the floor");
        // A store that slows down to about 1.2 s an answer (a long queue).
        for _ in 0..50 {
            l.sample("TransactWriteItems", Duration::from_millis(1_200));
        }
        let t = l.timeout("TransactWriteItems", 1);
        assert!(
            t >= Duration::from_millis(1_200),
            "never shorter than what the store takes: {t:?}"
        );
        // Jittery latency widens the timeout.
        let j = Latency::default();
        for i in 0..50 {
            j.sample(
                "Query",
                Duration::from_millis(if i % 2 == 0 { 100 } else { 900 }),
            );
        }
        assert!(j.timeout("Query", 1) > Duration::from_millis(1_500));
    }

    #[test]
    fn a_timeout_doubles_the_next_until_an_answer_is_measured_again() {
        let l = Latency::default();
        for _ in 0..20 {
            l.sample("UpdateItem", Duration::from_millis(400));
        }
        let base = l.timeout("UpdateItem", 1);
        l.timed_out("UpdateItem");
        assert_eq!(l.timeout("UpdateItem", 1), (base * 2).min(CEILING));
        assert_eq!(
            l.timeout("UpdateItem", 2),
            (base * 4).min(CEILING),
            "the call's next attempt doubles again"
        );
        for _ in 0..20 {
            l.timed_out("UpdateItem");
        }
        assert_eq!(
            l.timeout("UpdateItem", 3),
            CEILING,
            "never past the ceiling"
        );
        l.sample("UpdateItem", Duration::from_millis(400));
        assert!(
            l.timeout("UpdateItem", 1) <= base * 2,
            "an answer resets the backoff"
        );
    }

    #[test]
    fn only_answers_that_did_the_work_are_measured() {
        let body = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
        assert!(measures_the_work(200, Some(b"{}")), "a success");
        let refused = body(serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed"
        }));
        assert!(
            measures_the_work(400, Some(&refused)),
            "refused on its condition"
        );
        let throttled = body(serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "Rate of requests exceeds the allowed throughput."
        }));
        assert!(!measures_the_work(400, Some(&throttled)), "a throttle");
        let provisioned = body(serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        }));
        assert!(!measures_the_work(400, Some(&provisioned)));
        let cancelled = |code: &str| {
            body(serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "CancellationReasons": [{"Code": "None"}, {"Code": code}]
            }))
        };
        assert!(measures_the_work(
            400,
            Some(&cancelled("ConditionalCheckFailed"))
        ));
        assert!(!measures_the_work(400, Some(&cancelled("ThrottlingError"))));
        assert!(!measures_the_work(500, Some(b"{}")), "a 5xx");
        assert!(measures_the_work(400, None), "an unread body: as before");
    }

    #[test]
    fn operations_are_measured_apart() {
        let l = Latency::default();
        l.sample("GetItem", Duration::from_millis(3));
        l.sample("TransactWriteItems", Duration::from_secs(1));
        assert!(l.timeout("GetItem", 1) < l.timeout("TransactWriteItems", 1));
        // Not measured yet: twice the slowest measured one, since it is the same store.
        assert_eq!(
            l.timeout("Query", 1),
            l.timeout("TransactWriteItems", 1) * 2
        );
        let fast = Latency::default();
        fast.sample("GetItem", Duration::from_millis(3));
        assert_eq!(
            fast.timeout("Query", 1),
            INITIAL,
            "never below the initial timeout"
        );
    }
}
