//! Logs through `tracing`: JSON inside Lambda (CloudWatch parses it), text elsewhere; and
//! on Lambda, metrics as embedded metric format lines after each invocation.

use std::future::Future;
use std::time::Instant;

use tracing_subscriber::EnvFilter;

use crate::api::ErrorCode;
use crate::metrics;

pub fn init() {
    let filter = EnvFilter::try_from_env("VTID_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests, a server started twice) keeps the first subscriber.
    let _ = if in_lambda {
        builder.json().flatten_event(true).without_time().try_init()
    } else {
        // Colour only for a person at a terminal: codes in a file or a CI log are noise.
        let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .try_init()
    };
}

/// Runs a Lambda HTTP function: `handler` answers each request, and every answer is
/// counted ([`crate::metrics::answered`]) and flushed as one embedded metric format
/// document with the request's ID and trace ID, plus a cold-start metric on the first.
/// Logs of a request carry both IDs too (the runtime's span).
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let collector = metrics_collector()?;
    metrics_cloudwatch_embedded::lambda::handler::run_http(collector, |req| {
        let started = Instant::now();
        let answer = handler(req);
        async move {
            let res = answer.await;
            let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
            metrics::answered(res.status().as_u16(), code, started.elapsed());
            Ok::<_, lambda_http::Error>(res)
        }
    })
    .await
}

/// Runs a Lambda function of other events (the stream consumer), its metrics flushed
/// after each invocation as [`serve`]'s are.
pub async fn serve_events<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: for<'de> serde::Deserialize<'de>,
    R: serde::Serialize,
    F: FnMut(lambda_http::lambda_runtime::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    let collector = metrics_collector()?;
    metrics_cloudwatch_embedded::lambda::handler::run(collector, handler).await
}

/// The embedded metric format collector: the namespace, the function as a dimension,
/// the cold-start metric, the request and trace IDs as properties.
fn metrics_collector() -> Result<&'static metrics_cloudwatch_embedded::Collector, lambda_http::Error>
{
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(metrics::NAMESPACE)
        .with_dimension(metrics::dimension::FUNCTION, function)
        .lambda_cold_start_metric(metrics::name::COLD_START)
        .with_lambda_request_id("requestId")
        .with_lambda_xray_trace_id("traceId")
        .init()
        .map_err(|e| format!("cannot start the metrics: {e}"))?;
    metrics::describe();
    Ok(collector)
}
