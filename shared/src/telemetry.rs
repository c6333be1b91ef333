//! Logs through `tracing`: JSON inside Lambda (CloudWatch parses it), text elsewhere; and
//! on Lambda, metrics as embedded metric format lines after each invocation.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lambda_http::RequestExt;
use lambda_http::lambda_runtime::{self, Context, LambdaEvent};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::api::ErrorCode;
use crate::metrics;

pub fn init() {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let logs = tracing_subscriber::registry().with(log_filter());
    // A second init (tests, a server started twice) keeps the first subscriber.
    let _ = if in_lambda {
        let json = fmt::layer()
            .json()
            .flatten_event(true)
            .without_time()
            .with_target(false);
        logs.with(json).try_init()
    } else {
        // Colour only for a person at a terminal: codes in a file or a CI log are noise.
        let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let text = fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false);
        logs.with(text).try_init()
    };
}

/// What to log: `VTID_LOG` (a level, or levels per target: `shared=debug,info`), else
/// Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`; a value that does not parse is passed
/// over. `Targets` rather than `EnvFilter`: the same directives without span and field
/// matchers, and without the regex engine that `EnvFilter` links into every function
/// (docs/performance.md, "Package size").
fn log_filter() -> Targets {
    ["VTID_LOG", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|name| std::env::var::<_>(name).ok()?.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
        // The runtime's span, which puts the request ID and the trace ID on every line
        // of an invocation, is at INFO: kept at any level, so a WARN line has them too.
        .with_target(RUNTIME_SPAN_TARGET, tracing::Level::INFO)
}

/// Where lambda_runtime opens each invocation's span ("Lambda runtime invoke").
const RUNTIME_SPAN_TARGET: &str = "lambda_runtime::layers::trace";

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
    let first = AtomicBool::new(true);
    lambda_http::run(lambda_http::service_fn(|req: lambda_http::Request| {
        let started = Instant::now();
        let context = req.lambda_context_ref().cloned();
        let answer = handler(req);
        let first = &first;
        async move {
            let res = answer.await;
            let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
            metrics::answered(res.status().as_u16(), code, started.elapsed());
            flush(collector, context.as_ref(), first);
            Ok::<_, Infallible>(res)
        }
    }))
    .await
}

/// Runs a Lambda function of other events (the stream consumer, the schedule), its
/// metrics flushed after each invocation as [`serve`]'s are.
pub async fn serve_events<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: for<'de> serde::Deserialize<'de>,
    R: serde::Serialize,
    F: Fn(LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    let collector = metrics_collector()?;
    let first = AtomicBool::new(true);
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<E>| {
        let context = event.context.clone();
        let answer = handler(event);
        let first = &first;
        async move {
            let result = answer.await;
            flush(collector, Some(&context), first);
            result
        }
    }))
    .await
}

/// The embedded metric format collector: the namespace and the function as a dimension.
/// (The crate's own Lambda integration is not used: it turns on every event type of
/// lambda_http, which the packages would carry.)
fn metrics_collector() -> Result<&'static metrics_cloudwatch_embedded::Collector, lambda_http::Error>
{
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(metrics::NAMESPACE)
        .with_dimension(metrics::dimension::FUNCTION, function)
        .init()
        .map_err(|e| format!("cannot start the metrics: {e}"))?;
    metrics::describe();
    Ok(collector)
}

/// One invocation's metrics as one document on stdout, with its request and trace IDs,
/// and the cold-start metric on the instance's first.
fn flush(
    collector: &metrics_cloudwatch_embedded::Collector,
    context: Option<&Context>,
    first: &AtomicBool,
) {
    if first.swap(false, Ordering::Relaxed) {
        metrics::add(metrics::name::COLD_START, 1);
    }
    if let Some(context) = context {
        collector.set_property("requestId", context.request_id.clone());
        match &context.xray_trace_id {
            Some(trace) => collector.set_property("traceId", trace.clone()),
            None => collector.remove_property("traceId"),
        };
    }
    // A closed stdout is no reason to fail the invocation that was answered.
    let _ = collector.flush(std::io::stdout().lock());
}
