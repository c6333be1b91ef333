//! One simulated function instance, sending API Gateway v2 events through the handlers.

use std::sync::Arc;

use lambda_http::Body;
use serde_json::{Value, json};
use shared::App;
use shared::identity::IdentityConfig;
use shared::store::Store;
use shared::store::dynamo::{DynamoStore, endpoint_config};

/// One warm function instance: its own SDK client, its own counter cache.
pub struct Instance {
    /// The DynamoDB store, whose requests are counted (none on SQLite).
    pub store: Option<Arc<DynamoStore>>,
    pub app: App,
}

impl Instance {
    pub async fn new(endpoint: &str, table: &str) -> Self {
        let sdk = endpoint_config(endpoint, "us-east-1").await;
        let store = Arc::new(DynamoStore::new(&sdk, table));
        let app = App::new(
            store.clone(),
            IdentityConfig::default(),
            b"vtid-bench cursor key".to_vec(),
        );
        Self {
            store: Some(store),
            app,
        }
    }

    /// An instance over any store (the embedded one).
    pub fn over(store: Arc<dyn Store>) -> Self {
        let app = App::new(
            store,
            IdentityConfig::default(),
            b"vtid-bench cursor key".to_vec(),
        );
        Self { store: None, app }
    }

    /// DynamoDB requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.requests_sent())
    }

    /// Sends one API Gateway v2 event through the handlers; returns the status, the
    /// body and the DynamoDB requests it took.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Call {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut h = serde_json::Map::new();
        h.insert("content-type".into(), "application/json".into());
        for (k, v) in headers {
            h.insert(k.to_lowercase(), Value::String((*v).to_owned()));
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": h,
            "requestContext": {
                "accountId": "local", "apiId": "bench", "domainName": "localhost", "domainPrefix": "localhost",
                "requestId": "bench", "routeKey": "$default", "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "vtid-bench"},
                "authorizer": {"jwt": {"claims": {"sub": "bench", "role": "service"}, "scopes": null}}
            },
            "body": body.map(|b| b.to_string()), "isBase64Encoded": false
        });
        let req = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
        let before = self.requests_sent();
        let res = shared::api::route(&self.app, req).await;
        let requests = self.requests_sent() - before;
        let status = res.status().as_u16();
        let body = match res.into_body() {
            Body::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
            Body::Binary(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Call {
            status,
            body,
            requests,
        }
    }

    pub async fn create(&self, family: &str) -> Call {
        let c = self
            .call("POST", "/vtid/create", Some(draft(family)), &[])
            .await;
        assert_eq!(c.status, 201, "create failed: {}", c.body);
        c
    }
}

pub struct Call {
    pub status: u16,
    pub body: Value,
    pub requests: u64,
}

pub fn draft(family: &str) -> Value {
    json!({"taskFamily": family, "taskType": "deploy", "description": "benchmark record",
           "tenant": "acme", "status": "pending"})
}
