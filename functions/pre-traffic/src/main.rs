//! CodeDeploy's pre-traffic hook: wiring only; the checks and the report are `hook`.
//! It owns its module because it needs the client and CodeDeploy's SDK, which the
//! ledger's own functions (and so `shared`) do not take.

mod hook;

use lambda_http::Error;
use lambda_http::lambda_runtime::LambdaEvent;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let hook = hook::Hook::from_env().await;
    let hook = &hook;
    shared::telemetry::serve_events(move |event: LambdaEvent<Value>| async move {
        hook.run(event.payload).await.map_err(Error::from)
    })
    .await
}
