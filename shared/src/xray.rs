//! Lambda active tracing: one X-Ray subsegment per attempt of every AWS call the store
//! and the stream consumer make, under the invocation's trace, so a slow request shows
//! which DynamoDB call (and which retry of it) took the time.
//!
//! Lambda runs the X-Ray daemon when the function has `Tracing: Active`, says where in
//! `AWS_XRAY_DAEMON_ADDRESS`, and the runtime puts each invocation's trace header in
//! `_X_AMZN_TRACE_ID` (one invocation at a time per instance). `xray-lite` writes the
//! segment documents to the daemon over UDP; this interceptor decides when. Nothing is
//! sent for an invocation that is not sampled, and nothing at all outside Lambda
//! (`vtid serve`, the tests without a daemon stand-in): no daemon address, no interceptor.
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
    AwsNamespace, Context, DaemonClient, Header, SubsegmentContext, SubsegmentSession,
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

/// The attempt in flight: its subsegment, ended and sent when dropped.
#[derive(Debug)]
struct Attempt(Mutex<Option<SubsegmentSession<DaemonClient, AwsNamespace>>>);

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

/// Whether the invocation's trace header asks for this trace to be recorded.
fn sampled(header: &str) -> bool {
    header.split(';').any(|part| part.trim() == "Sampled=1")
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
        // The invocation's header as the runtime set it for this invocation.
        let traced = std::env::var("_X_AMZN_TRACE_ID").is_ok_and(|h| sampled(&h));
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("AWS", "unknown"), |m| (m.service(), m.name()));
        let session = traced
            .then(|| SubsegmentContext::from_lambda_env(self.daemon.clone()).ok())
            .flatten()
            .map(|context| context.enter_subsegment(AwsNamespace::new(service, operation)));
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
        // The service joins its side of the call to the same trace.
        let header = cfg.load::<Attempt>().and_then(|a| {
            let session = a.0.lock().unwrap_or_else(|p| p.into_inner());
            session.as_ref()?.x_amzn_trace_id()
        });
        if let Some(header) = header {
            context
                .request_mut()
                .headers_mut()
                .insert(Header::NAME, header);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(attempt) = cfg.load::<Attempt>() else {
            return Ok(());
        };
        let session = attempt.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut session) = session
            && let Some(namespace) = session.namespace_mut()
            && let Some(response) = context.response()
        {
            namespace.response_status(response.status().as_u16());
            if let Some(id) = response.headers().get("x-amzn-requestid") {
                namespace.request_id(id);
            }
        }
        // Dropping the session ends the subsegment and sends it.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::sampled;

    #[test]
    fn only_a_sampled_trace_is_recorded() {
        let root = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        assert!(sampled(&format!("{root};Sampled=1")));
        assert!(!sampled(&format!("{root};Sampled=0")));
        assert!(!sampled(&format!("{root};Sampled=?")));
        assert!(!sampled(root));
    }
}
