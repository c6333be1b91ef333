//! `GET /vtid/{vtid}/history`: wiring only; the logic is `shared::api::history`.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    shared::telemetry::serve(move |req| shared::api::history(app, req)).await
}
