//! `PATCH /vtid/{vtid}`: wiring only; the logic is `shared::api::update`.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    shared::telemetry::serve(move |req| shared::api::update(app, req)).await
}
