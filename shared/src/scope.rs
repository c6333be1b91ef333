//! What the store knows of the call it serves: the call's deadline, request ID and trace,
//! set once per call by `api::Call` around the handler's work, so that the SDK's attempt
//! timeouts never outlive the deadline (`store::dynamo::timeouts`), a number given up
//! names the request that gave it up (`store::dynamo::void`), and work that outlives its
//! invocation is not traced under the next one (`xray`), without every store method
//! taking them as arguments.

use std::future::Future;

use crate::deadline::Deadline;

tokio::task_local! {
    static CALL: InForce;
}

#[derive(Clone, Debug)]
struct InForce {
    deadline: Deadline,
    request_id: String,
    trace: Option<String>,
}

/// Runs `work` as the call with this deadline (the store's) and request ID, and the trace
/// in force when it is called (the enclosing call's, else the invocation's): taken now,
/// not when `work` first runs, so that work spawned to finish after its answer keeps
/// its own invocation's trace.
pub fn within<F: Future>(
    deadline: Deadline,
    request_id: String,
    work: F,
) -> impl Future<Output = F::Output> {
    let trace = CALL
        .try_with(|c| c.trace.clone())
        .unwrap_or_else(|_| invocation_trace());
    CALL.scope(
        InForce {
            deadline,
            request_id,
            trace,
        },
        work,
    )
}

/// The X-Ray trace header Lambda set for the invocation running now, if any.
pub fn invocation_trace() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok()
}

/// The trace of the call in progress (`None` outside a call, or a call without one).
pub fn trace() -> Option<String> {
    CALL.try_with(|c| c.trace.clone()).ok().flatten()
}

/// The deadline of the call in progress, if any (none outside a call: imports, start-up).
pub fn deadline() -> Option<Deadline> {
    CALL.try_with(|c| c.deadline).ok()
}

/// The request ID of the call in progress (empty outside a call).
pub fn request_id() -> String {
    CALL.try_with(|c| c.request_id.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_call_sees_its_own_deadline_and_request_id_and_nothing_leaks_outside() {
        assert_eq!(deadline(), None);
        assert_eq!(request_id(), "");
        let d = Deadline::after(Duration::from_secs(3));
        let seen = within(d, "req-1".into(), async { (deadline(), request_id()) }).await;
        assert_eq!(seen, (Some(d), "req-1".to_owned()));
        assert_eq!(deadline(), None, "the scope ends with the call");
    }
}
