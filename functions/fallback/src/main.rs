//! API Gateway's remaining routes (`DELETE /vtid/{vtid}` above all): 405 or 404 with the
//! API's error body. Needs no store, so it builds no client.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    shared::telemetry::serve(shared::api::fallback).await
}
