//! The ledger behind each transport, on loopback, running the real handlers over the
//! test's store: `vtid serve` checking bearer tokens; an IAM-authorized API that verifies
//! SigV4 and fills `requestContext.authorizer.iam` as API Gateway does; and the Lambda
//! Invoke API, handing each event to the handler its function runs.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::tower::Service;
use lambda_http::{Body, Context, LambdaEvent, Request};
use serde_json::json;
use shared::App;
use shared::api;
use tokio::net::TcpListener;
use vtid_cli::auth::{LocalAuth, Verifier};
use vtid_tests::{Req, Who};

use super::sigv4_verifier::{Signed, verify};

pub const ACCESS_KEY: &str = "AKIDVTIDTEST";
pub const SECRET_KEY: &str = "vtid-test-secret-key-for-sigv4-only";
pub const REGION: &str = "eu-west-1";
/// The IAM principal the verifier maps [`ACCESS_KEY`] to.
pub const DEPLOYER_ARN: &str = "arn:aws:sts::123456789012:assumed-role/deployer/ci";

/// The function names of the stack, by output key.
pub fn function_names() -> String {
    json!({
        "CreateFunctionName": "vtid-create", "BatchFunctionName": "vtid-batch",
        "GetFunctionName": "vtid-get", "UpdateFunctionName": "vtid-update",
        "ListFunctionName": "vtid-list", "HistoryFunctionName": "vtid-history",
        "HealthFunctionName": "vtid-health", "AuditFunctionName": "vtid-audit"
    })
    .to_string()
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    (listener, url)
}

/// Serves `handle` on `listener` until the test's runtime ends.
fn serve<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

fn to_hyper(res: http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn plain(status: u16, body: serde_json::Value) -> hyper::Response<Full<Bytes>> {
    let mut res = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
    res
}

/// `vtid serve` (in-process) verifying HS256 bearer tokens with the CLI tests' secret.
pub async fn bearer_ledger(app: Arc<App>) -> String {
    let secret = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/fixtures/hs256-test-secret"
    );
    let verifier = Verifier::from_files(Some(std::path::Path::new(secret)), None, None, None)
        .expect("the test secret");
    let (listener, url) = listen().await;
    tokio::spawn(vtid_cli::serve::run(
        listener,
        app,
        Arc::new(LocalAuth::Verify(verifier)),
        vtid_cli::serve::HttpLimits::default(),
        Arc::new(vtid_cli::events::Local { feed: None }),
    ));
    url
}

/// An HTTP API with the IAM authorizer: a request whose signature does not verify is
/// refused as API Gateway refuses it (403 `{"message": "Forbidden"}`).
pub async fn iam_ledger(app: Arc<App>) -> String {
    let (listener, url) = listen().await;
    serve(listener, move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                return plain(400, json!({"message": "Bad Request"}));
            };
            let headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let signed = Signed {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            let secret_of = |k: &str| (k == ACCESS_KEY).then(|| SECRET_KEY.to_owned());
            if verify(&signed, REGION, "execute-api", secret_of).is_err() {
                return plain(403, json!({"message": "Forbidden"}));
            }
            let mut req = Req::new(parts.method.as_str(), &parts.uri.to_string())
                .who(Who::Iam(DEPLOYER_ARN.into()));
            for (k, v) in headers.iter().filter(|(k, _)| k != "authorization") {
                req = req.header(k, v);
            }
            if !body.is_empty() {
                req = req.raw_body(String::from_utf8_lossy(&body).into_owned());
            }
            to_hyper(api::route(&app, req.into_lambda()).await)
        }
    });
    url
}

/// The handler each function of the stack runs (`functions/*/src/main.rs`).
async fn function(app: &App, name: &str, req: Request) -> http::Response<Body> {
    match name {
        "vtid-create" => api::create(app, req).await,
        "vtid-batch" => api::batch(app, req).await,
        "vtid-get" => api::get(app, req).await,
        "vtid-update" => api::update(app, req).await,
        "vtid-list" => api::list(app, req).await,
        "vtid-history" => api::history(app, req).await,
        "vtid-health" => api::health(app, req).await,
        "vtid-audit" => api::audit(app, req).await,
        _ => unreachable!("checked by the caller"),
    }
}

/// The Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`): the event is
/// read and the response written by `lambda_http` itself, as in a deployed function.
pub async fn invoke_api(app: Arc<App>) -> String {
    let (listener, url) = listen().await;
    serve(listener, move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        async move {
            let path = req.uri().path().to_owned();
            let name = path
                .strip_prefix("/2015-03-31/functions/")
                .and_then(|p| p.strip_suffix("/invocations"))
                .unwrap_or("")
                .to_owned();
            let known = function_names().contains(&format!("\"{name}\""));
            if req.method() != http::Method::POST || !known {
                let mut res = plain(
                    404,
                    json!({"Type": "User", "message": format!("Function not found: {name}")}),
                );
                res.headers_mut().insert(
                    "x-amzn-errortype",
                    "ResourceNotFoundException".parse().expect("header"),
                );
                return res;
            }
            let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
                return plain(400, json!({"message": "Bad Request"}));
            };
            let Ok(event) = serde_json::from_slice::<lambda_http::request::LambdaRequest>(&body)
            else {
                // What a function does with an event it cannot read: an unhandled error.
                let mut res = plain(
                    200,
                    json!({"errorType": "Runtime.InvalidEvent", "errorMessage": "not an API Gateway event"}),
                );
                res.headers_mut()
                    .insert("x-amz-function-error", "Unhandled".parse().expect("header"));
                return res;
            };
            let mut adapter =
                lambda_http::Adapter::from(lambda_http::service_fn(move |req: Request| {
                    let app = app.clone();
                    let name = name.clone();
                    async move { Ok::<_, Infallible>(function(&app, &name, req).await) }
                }));
            match adapter
                .call(LambdaEvent::new(event, Context::default()))
                .await
            {
                Ok(res) => plain(
                    200,
                    serde_json::to_value(&res).expect("a response serializes"),
                ),
                Err(never) => match never {},
            }
        }
    });
    url
}
