//! API Gateway's remaining routes (`DELETE /vtid/{vtid}` above all): 405 or 404 with the
//! API's error body. Needs no store, so it builds no client.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    lambda_http::run(service_fn(|req: Request| async move {
        Ok::<_, Infallible>(shared::api::fallback(req).await)
    }))
    .await
}
