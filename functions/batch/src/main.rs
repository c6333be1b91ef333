//! `POST /vtid/batch`: wiring only; the logic is `shared::api::batch`.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    shared::telemetry::serve(move |req| shared::api::batch(app, req)).await
}
