//! What the proxy does to a request: a fault picked by script first, then by chance.

use std::time::Duration;

use serde_json::{Value, json};

/// One way a DynamoDB request can go wrong, as DynamoDB itself does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `ThrottlingException` (400); not applied.
    Throttle,
    /// `ProvisionedThroughputExceededException` (400); not applied.
    ProvisionedThroughputExceeded,
    /// `InternalServerError` (500); not applied.
    InternalError,
    /// A transaction cancelled with `TransactionConflict` on every item, or for a plain
    /// write `TransactionConflictException`; not applied.
    Conflict,
    /// A transaction cancelled with `TransactionConflict` on the item at this position
    /// only (`None` for the others, as DynamoDB reports items it did not get to); not
    /// applied.
    ConflictAt(usize),
    /// A transaction cancelled with `ThrottlingError` on every item; not applied.
    ThrottledCancellation,
    /// Applied, then the connection is closed without an answer (a lost answer).
    DropAfterApply,
    /// Applied, and no answer ever comes: the connection stays open until the client
    /// gives up.
    Hang,
    /// Answered normally after this extra delay.
    Delay(Duration),
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ProvisionedThroughputExceeded => "provisionedThroughputExceeded",
            Fault::InternalError => "internalError",
            Fault::Conflict => "conflict",
            Fault::ConflictAt(_) => "conflictAt",
            Fault::ThrottledCancellation => "throttledCancellation",
            Fault::DropAfterApply => "dropAfterApply",
            Fault::Hang => "hang",
            Fault::Delay(_) => "delay",
        }
    }

    /// Parses `name`, `conflictAt:INDEX` or `delay:MS`, the form the control endpoint and the CLI take.
    pub fn parse(s: &str) -> Option<Fault> {
        if let Some(i) = s.strip_prefix("conflictAt:") {
            return i.parse().ok().map(Fault::ConflictAt);
        }
        if let Some(ms) = s.strip_prefix("delay:") {
            return ms
                .parse()
                .ok()
                .map(|ms| Fault::Delay(Duration::from_millis(ms)));
        }
        Some(match s {
            "throttle" => Fault::Throttle,
            "provisionedThroughputExceeded" => Fault::ProvisionedThroughputExceeded,
            "internalError" => Fault::InternalError,
            "conflict" => Fault::Conflict,
            "throttledCancellation" => Fault::ThrottledCancellation,
            "dropAfterApply" => Fault::DropAfterApply,
            "hang" => Fault::Hang,
            _ => return None,
        })
    }
}

/// A scripted fault: the next `times` requests that match get `fault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The operation (`TransactWriteItems`, `UpdateItem`, ...); `None` matches any.
    pub operation: Option<String>,
    /// Only requests whose JSON body contains this text (a key such as `COUNTER#`).
    pub body_contains: Option<String>,
    pub fault: Fault,
    pub times: usize,
}

impl Rule {
    /// The next request of `operation` gets `fault`.
    pub fn next(operation: &str, fault: Fault) -> Self {
        Self {
            operation: Some(operation.to_owned()),
            body_contains: None,
            fault,
            times: 1,
        }
    }

    pub fn containing(mut self, text: &str) -> Self {
        self.body_contains = Some(text.to_owned());
        self
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    pub fn matches(&self, operation: &str, body: &str) -> bool {
        self.times > 0
            && self.operation.as_deref().is_none_or(|o| o == operation)
            && self
                .body_contains
                .as_deref()
                .is_none_or(|t| body.contains(t))
    }
}

/// Faults by chance, each a probability from 0 to 1 per request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chances {
    pub throttle: f64,
    pub provisioned_throughput_exceeded: f64,
    pub internal_error: f64,
    /// Writes only: applied, then the answer is lost.
    pub drop_after_apply: f64,
    pub hang: f64,
    /// Extra latency on every request, uniform between the two bounds.
    pub latency: Option<(Duration, Duration)>,
}

impl Chances {
    /// The mix the issue that asked for this proxy measured with: 4 % throttled, 2 %
    /// internal errors, 3 % of writes applied and then the answer dropped.
    pub fn realistic() -> Self {
        Self {
            throttle: 0.03,
            provisioned_throughput_exceeded: 0.01,
            internal_error: 0.02,
            drop_after_apply: 0.03,
            hang: 0.0,
            latency: None,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "throttle": self.throttle,
            "provisionedThroughputExceeded": self.provisioned_throughput_exceeded,
            "internalError": self.internal_error,
            "dropAfterApply": self.drop_after_apply,
            "hang": self.hang,
            "latencyMs": self.latency.map(|(a, b)| [a.as_millis() as u64, b.as_millis() as u64]),
        })
    }

    /// The control endpoint's JSON form (missing fields are 0).
    pub fn from_json(v: &Value) -> Option<Self> {
        let p = |k: &str| v.get(k).map_or(Some(0.0), Value::as_f64);
        let latency = match v.get("latencyMs") {
            None | Some(Value::Null) => None,
            Some(l) => {
                let a = l.get(0)?.as_u64()?;
                let b = l.get(1)?.as_u64()?;
                Some((Duration::from_millis(a), Duration::from_millis(b.max(a))))
            }
        };
        Some(Self {
            throttle: p("throttle")?,
            provisioned_throughput_exceeded: p("provisionedThroughputExceeded")?,
            internal_error: p("internalError")?,
            drop_after_apply: p("dropAfterApply")?,
            hang: p("hang")?,
            latency,
        })
    }

    /// Draws this request's fault, if any.
    pub fn draw(&self, rng: &mut fastrand::Rng, is_write: bool) -> Option<Fault> {
        let roll = rng.f64();
        let mut edge = 0.0;
        let mut hit = |p: f64| {
            edge += p;
            roll < edge
        };
        if hit(self.throttle) {
            return Some(Fault::Throttle);
        }
        if hit(self.provisioned_throughput_exceeded) {
            return Some(Fault::ProvisionedThroughputExceeded);
        }
        if hit(self.internal_error) {
            return Some(Fault::InternalError);
        }
        if is_write && hit(self.drop_after_apply) {
            return Some(Fault::DropAfterApply);
        }
        if hit(self.hang) {
            return Some(Fault::Hang);
        }
        self.latency.map(|(a, b)| {
            let span = b.saturating_sub(a).as_millis() as u64;
            Fault::Delay(a + Duration::from_millis(rng.u64(0..=span)))
        })
    }
}

/// How the proxy behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a write still holds its items after it was applied (DynamoDB holds a
    /// transaction's items while it is in progress). Zero turns conflicts off.
    pub hold: Duration,
    /// Whether a transaction meeting an item held by a plain write is cancelled too (the
    /// stricter reading; DynamoDB documents only transaction-on-transaction).
    pub transactions_conflict_with_plain_writes: bool,
    pub chances: Chances,
    /// The table's key attributes, which name an item.
    pub key_attributes: Vec<String>,
    /// How long a `ClientRequestToken` is honoured (DynamoDB: 10 minutes).
    pub token_window: Duration,
    /// Whether `ClientRequestToken` is honoured at all. Off, the proxy passes every
    /// transaction on as moto does (moto ignores the token): a resend after a lost answer
    /// is applied again, or refused on its conditions.
    pub honour_tokens: bool,
    /// A slow store: each request takes at least this long to serve, one at a time, so
    /// that latency grows with the queue of requests waiting their turn (as a store
    /// does that is slower than the load it gets). Zero: as fast as the upstream.
    pub service_time: Duration,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hold: Duration::ZERO,
            transactions_conflict_with_plain_writes: true,
            chances: Chances::default(),
            key_attributes: vec!["pk".into(), "sk".into()],
            token_window: Duration::from_secs(600),
            honour_tokens: true,
            service_time: Duration::ZERO,
            seed: 42,
        }
    }
}

impl Config {
    /// Conflicts only: each write holds its items for `hold`.
    pub fn conflicts(hold: Duration) -> Self {
        Self {
            hold,
            ..Self::default()
        }
    }

    /// A store that serves one request at a time, each taking `service_time`.
    pub fn slow(service_time: Duration) -> Self {
        Self {
            service_time,
            ..Self::default()
        }
    }

    /// The same proxy ignoring `ClientRequestToken`, as moto does.
    pub fn ignoring_tokens(mut self) -> Self {
        self.honour_tokens = false;
        self
    }

    pub fn with_chances(mut self, chances: Chances) -> Self {
        self.chances = chances;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_chances() {
        let mut rng = fastrand::Rng::with_seed(7);
        let c = Chances {
            throttle: 0.5,
            ..Chances::default()
        };
        let n = 10_000;
        let hits = (0..n)
            .filter(|_| c.draw(&mut rng, true) == Some(Fault::Throttle))
            .count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
        let none = Chances::default();
        assert!((0..1000).all(|_| none.draw(&mut rng, true).is_none()));
        let drops = Chances {
            drop_after_apply: 1.0,
            ..Chances::default()
        };
        assert_eq!(drops.draw(&mut rng, false), None, "reads are never dropped");
        assert_eq!(drops.draw(&mut rng, true), Some(Fault::DropAfterApply));
    }

    #[test]
    fn rules_match_operation_and_body() {
        let r = Rule::next("UpdateItem", Fault::Throttle).containing("COUNTER#");
        assert!(r.matches("UpdateItem", r#"{"Key":{"pk":{"S":"COUNTER#2026"}}}"#));
        assert!(!r.matches("UpdateItem", r#"{"Key":{"pk":{"S":"VTID-2026-0001"}}}"#));
        assert!(!r.matches("PutItem", "COUNTER#"));
        assert!(!r.clone().times(0).matches("UpdateItem", "COUNTER#"));
    }

    #[test]
    fn faults_and_chances_round_trip_their_text_forms() {
        for f in [
            Fault::Throttle,
            Fault::Conflict,
            Fault::Hang,
            Fault::Delay(Duration::from_millis(30)),
        ] {
            let text = match f {
                Fault::Delay(d) => format!("delay:{}", d.as_millis()),
                other => other.name().to_owned(),
            };
            assert_eq!(Fault::parse(&text), Some(f));
        }
        assert_eq!(Fault::parse("nonsense"), None);
        let c = Chances::realistic();
        assert_eq!(Chances::from_json(&c.to_json()), Some(c));
    }
}
