//! `HEAD /vtid/{vtid}`: wiring only; the logic is `shared::api::head`.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(shared::api::head(app, req).await)
    }))
    .await
}
