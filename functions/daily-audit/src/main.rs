//! The daily audit, on a schedule: wiring only; the logic is `shared::daily_audit`.

use lambda_http::Error;
use lambda_http::lambda_runtime::LambdaEvent;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    shared::telemetry::serve_events(move |_: LambdaEvent<Value>| async move {
        let today = shared::timestamp::Timestamp::now();
        shared::daily_audit::run(app, today)
            .await
            .map_err(Error::from)
    })
    .await
}
