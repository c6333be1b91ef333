//! Lambda active tracing: one X-Ray subsegment per attempt of every AWS call the store
//! and the stream consumer make, under the invocation's trace, so a slow request shows
//! which DynamoDB call (and which retry of it) took the time.
//!
//! Lambda runs the X-Ray daemon when the function has `Tracing: Active`, says where in
//! `AWS_XRAY_DAEMON_ADDRESS`, and the runtime puts each invocation's trace header in
//! `_X_AMZN_TRACE_ID` (one invocation at a time per instance). `xray-lite` writes the
//! segment documents to the daemon over UDP; this interceptor decides when, and marks
//! each attempt as X-Ray colours calls: a fault (5xx, or no answer: timed out or the
//! connection lost), an error (4xx), throttled. Nothing is sent for an invocation that
//! is not sampled, for work that outlived its invocation (a void finished after the
//! answer, `scope::within`), or outside Lambda (no daemon address, no interceptor).
//! X-Ray rather than OpenTelemetry: the daemon is already there, while the collector
//! layer adds its own cold start and the SDK crates a megabyte to each package.

use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use xray_lite::{
    AwsNamespace, Context, DaemonClient, Header, Namespace, Subsegment, SubsegmentContext,
    SubsegmentSession,
};

/// The interceptor that reports each attempt of a call as a subsegment.
#[derive(Clone, Debug)]
pub struct Subsegments {
    daemon: DaemonClient,
}

impl Subsegments {
    /// When the function runs with active tracing; otherwise there is no daemon to tell.
    pub fn from_env() -> Option<Self> {
        DaemonClient::from_lambda_env()
            .ok()
            .map(|daemon| Self { daemon })
    }
}

/// How an attempt ended, as far as X-Ray's flags go.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Not ended yet (the subsegment as sent when it begins).
    Pending,
    Answered {
        status: u16,
        throttled: bool,
    },
    /// Cut off by its timeout, or its connection lost.
    NoAnswer,
}

/// One attempt of an AWS call: the operation (`AwsNamespace`) and its outcome's flags.
#[derive(Debug)]
struct Call {
    aws: AwsNamespace,
    outcome: Outcome,
}

impl Namespace for Call {
    fn name(&self, prefix: &str) -> String {
        self.aws.name(prefix)
    }

    fn update_subsegment(&self, subsegment: &mut Subsegment) {
        self.aws.update_subsegment(subsegment);
        match self.outcome {
            Outcome::Pending => {}
            Outcome::NoAnswer => subsegment.fault = true,
            Outcome::Answered { status, throttled } => {
                subsegment.throttled = throttled;
                subsegment.error = (400..500).contains(&status);
                subsegment.fault = status >= 500;
            }
        }
    }
}

type Session = SubsegmentSession<DaemonClient, Call>;

/// The attempt in flight: its subsegment, ended and sent when dropped.
#[derive(Debug)]
struct Attempt(Mutex<Option<Session>>);

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

impl Attempt {
    /// Takes the attempt's subsegment to end it.
    fn take(&self) -> Option<Session> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Whether the invocation's trace header asks for this trace to be recorded.
fn sampled(header: &str) -> bool {
    header.split(';').any(|part| part.trim() == "Sampled=1")
}

/// Ends an attempt that got no answer: the SDK skips the after-attempt hooks when it
/// cuts an attempt off, so this runs when the next attempt begins (after the SDK's
/// backoff, at most half a second) or the call ends.
fn end_unanswered(cfg: &ConfigBag) {
    if let Some(mut session) = cfg.load::<Attempt>().and_then(Attempt::take)
        && let Some(call) = session.namespace_mut()
    {
        call.outcome = Outcome::NoAnswer;
    }
}

impl Intercept for Subsegments {
    fn name(&self) -> &'static str {
        "XRaySubsegments"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        end_unanswered(cfg);
        // The invocation running now; the call's own, if it began in another (work that
        // outlived its answer), is not this trace's to record.
        let now = crate::scope::invocation_trace();
        let ours = crate::scope::trace().or_else(|| now.clone());
        let traced = now.as_deref().is_some_and(sampled) && ours == now;
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("AWS", "unknown"), |m| (m.service(), m.name()));
        let session = traced
            .then(|| SubsegmentContext::from_lambda_env(self.daemon.clone()).ok())
            .flatten()
            .map(|context| {
                context.enter_subsegment(Call {
                    aws: AwsNamespace::new(service, operation),
                    outcome: Outcome::Pending,
                })
            });
        cfg.interceptor_state()
            .store_put(Attempt(Mutex::new(session)));
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The service joins its side of the call to the same trace (SigV4 leaves this
        // header out of the signature, so it may be added after signing).
        let header = cfg.load::<Attempt>().and_then(|a| {
            let session = a.0.lock().unwrap_or_else(|p| p.into_inner());
            session.as_ref()?.x_amzn_trace_id()
        });
        if let Some(header) = header {
            // A header that does not fit is left out, never a failed call.
            let _ = context
                .request_mut()
                .headers_mut()
                .try_insert(Header::NAME, header);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut session) = cfg.load::<Attempt>().and_then(Attempt::take) else {
            return Ok(());
        };
        if let Some(call) = session.namespace_mut() {
            call.outcome = match context.response() {
                Some(response) => {
                    let status = response.status().as_u16();
                    if let Some(id) = response.headers().get("x-amzn-requestid") {
                        call.aws.request_id(id);
                    }
                    call.aws.response_status(status);
                    Outcome::Answered {
                        status,
                        throttled: crate::store::dynamo::throttled(status, response.body().bytes()),
                    }
                }
                None => Outcome::NoAnswer,
            };
        }
        // Dropping the session ends the subsegment and sends it.
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The call's last attempt, if the SDK cut it off.
        end_unanswered(cfg);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xray_lite::TraceId;

    #[test]
    fn only_a_sampled_trace_is_recorded() {
        let root = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        assert!(sampled(&format!("{root};Sampled=1")));
        assert!(!sampled(&format!("{root};Sampled=0")));
        assert!(!sampled(&format!("{root};Sampled=?")));
        assert!(!sampled(root));
    }

    /// The flags X-Ray colours a call by, from each way an attempt ends.
    #[test]
    fn each_outcome_sets_the_flags_xray_colours_a_call_by() {
        let flags = |outcome| {
            let call = Call {
                aws: AwsNamespace::new("DynamoDB", "PutItem"),
                outcome,
            };
            let mut s = Subsegment::begin(TraceId::new(), None, "DynamoDB");
            call.update_subsegment(&mut s);
            (s.fault, s.error, s.throttled)
        };
        let answered = |status, throttled| Outcome::Answered { status, throttled };
        assert_eq!(flags(Outcome::Pending), (false, false, false));
        assert_eq!(flags(answered(200, false)), (false, false, false));
        assert_eq!(flags(answered(400, false)), (false, true, false));
        assert_eq!(flags(answered(400, true)), (false, true, true));
        assert_eq!(flags(answered(503, false)), (true, false, false));
        assert_eq!(flags(Outcome::NoAnswer), (true, false, false));
    }
}
