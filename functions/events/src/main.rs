//! The table's change stream to EventBridge and OASIS: wiring only; the logic is
//! `shared::events`.

use aws_lambda_events::event::dynamodb::Event;
use lambda_http::lambda_runtime::{Error, LambdaEvent};
use shared::events::{Sink, handle, sinks_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sinks = sinks_from_env().await?;
    let sinks: Vec<&dyn Sink> = sinks.iter().map(AsRef::as_ref).collect();
    let sinks = &sinks;
    shared::telemetry::serve_events(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(&event.payload, sinks).await)
    })
    .await
}
