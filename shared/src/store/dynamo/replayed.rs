//! The create path's decisions on replayed DynamoDB answers, without a server. Each test
//! scripts DynamoDB's answers (real wire JSON, parsed by the SDK as any answer is) in the
//! order the store must ask, and checks what the store sent and what it decided: the
//! paths moto never takes, because it never cancels a transaction for a conflict and
//! never loses an answer after applying a write.
//!
//! The SDK's HTTP client is replaced through its own connector trait. Not with
//! `aws-smithy-http-client`'s `test-util` client: that feature turns on serde_json's
//! `preserve_order` for every crate of the test build, so the tests would no longer run
//! the JSON the functions ship with.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use serde_json::{Map, Value, json};

use super::DynamoStore;
use crate::deadline::Deadline;
use crate::store::{CreateRequest, Records};
use crate::timestamp::Timestamp;

/// An answer (status and body) made from the request's body.
type Reply = Box<dyn Fn(&Value) -> (u16, Value) + Send>;
/// One scripted answer: the operation it must answer, and its reply.
type Answer = (&'static str, Reply);

struct Script {
    answers: VecDeque<Answer>,
    /// Each request the store sent: its operation and body.
    sent: Vec<(String, Value)>,
}

/// Answers each request from the script, in order.
#[derive(Clone, Debug)]
struct Replay(Arc<Mutex<Script>>);

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sent, {} to answer",
            self.sent.len(),
            self.answers.len()
        )
    }
}

impl Replay {
    fn answer(&self, request: &HttpRequest) -> HttpResponse {
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let mut s = self.0.lock().unwrap();
        s.sent.push((op.clone(), body.clone()));
        let (status, answer) = match s.answers.pop_front() {
            Some((want, reply)) if want == op => reply(&body),
            Some((want, _)) => (500, json!({"unexpected": format!("{op}, not {want}")})),
            None => (500, json!({"unexpected": format!("{op} after the script")})),
        };
        let mut res = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(answer.to_string()),
        );
        res.headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        res
    }
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(self.answer(&request)))
    }
}

impl HttpClient for Replay {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.clone().into_shared()
    }
}

/// A store whose every DynamoDB request is answered from `answers`, in order.
async fn replaying(answers: Vec<Answer>) -> (DynamoStore, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        answers: answers.into(),
        sent: Vec::new(),
    }));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "replay", "replay", None, None, "replay",
        ))
        .http_client(Replay(script.clone()))
        .load()
        .await;
    (DynamoStore::new(&sdk, "ledger"), script)
}

fn ok(body: Value) -> Reply {
    Box::new(move |_| (200, body.clone()))
}

/// The reservation's answer: the counter after adding the block.
fn reserved(end: u64) -> Reply {
    ok(json!({"Attributes": {"n": {"N": end.to_string()}}}))
}

/// A cancelled transaction with one reason per item, as DynamoDB sends it.
fn cancelled(reasons: Vec<Value>) -> (u16, Value) {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    (
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            "CancellationReasons": reasons,
        }),
    )
}

/// The `Put` items of a `TransactWriteItems` request body.
fn puts(body: &Value) -> Vec<Map<String, Value>> {
    body["TransactItems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["Put"]["Item"].as_object().cloned())
        .collect()
}

fn one_create() -> CreateRequest {
    CreateRequest {
        drafts: vec![crate::test_support::draft()],
        by: "alice".into(),
        now: Timestamp::now(),
        idempotency: None,
        deadline: Deadline::after(std::time::Duration::from_secs(10)),
    }
}

fn operations(script: &Mutex<Script>) -> Vec<String> {
    script
        .lock()
        .unwrap()
        .sent
        .iter()
        .map(|(op, _)| op.clone())
        .collect()
}

/// Step 5 refused for a conflict keeps its numbers: the same records are sent again (no
/// second reservation, no number burnt) and the create succeeds.
#[tokio::test]
async fn a_write_cancelled_for_a_conflict_is_sent_again_with_the_same_numbers() {
    let (store, script) = replaying(vec![
        ("UpdateItem", reserved(7)),
        (
            "TransactWriteItems",
            Box::new(|_| cancelled(vec![json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})])),
        ),
        ("TransactWriteItems", ok(json!({}))),
    ])
    .await;
    let req = one_create();
    let year = req.now.year();
    let out = store.create(req).await.expect("created");
    assert_eq!(out.records[0].vtid.to_string(), format!("VTID-{year}-0007"));
    assert!(!out.replayed);
    assert_eq!(
        operations(&script),
        ["UpdateItem", "TransactWriteItems", "TransactWriteItems"]
    );
    let s = script.lock().unwrap();
    assert_eq!(
        puts(&s.sent[1].1),
        puts(&s.sent[2].1),
        "the same records, the same numbers"
    );
    assert!(s.answers.is_empty());
}

/// Step 5 refused because its records already exist and carry this create's own writer
/// token: an earlier attempt was applied and its answer lost. The create is done, with
/// no second reservation and no void.
#[tokio::test]
async fn a_write_refused_for_records_of_its_own_token_was_applied_before() {
    let (store, script) = replaying(vec![
        ("UpdateItem", reserved(3)),
        (
            "TransactWriteItems",
            Box::new(|body: &Value| {
                // DynamoDB (or a server that ignores ClientRequestToken) refuses the resend
                // and names the record as written, writer token included.
                let put = puts(body).remove(0);
                cancelled(vec![json!({"Code": "ConditionalCheckFailed", "Item": put})])
            }),
        ),
    ])
    .await;
    let req = one_create();
    let year = req.now.year();
    let out = store
        .create(req)
        .await
        .expect("the earlier attempt's records");
    assert_eq!(out.records[0].vtid.to_string(), format!("VTID-{year}-0003"));
    assert_eq!(operations(&script), ["UpdateItem", "TransactWriteItems"]);
}

/// Step 5 refused because someone else's record holds a reserved number: the block is
/// voided as a collision and a new one reserved, and the create lands there.
#[tokio::test]
async fn a_reserved_number_holding_another_writers_record_reserves_again() {
    let (store, script) = replaying(vec![
        ("UpdateItem", reserved(5)),
        (
            "TransactWriteItems",
            Box::new(|body: &Value| {
                let mut theirs = puts(body).remove(0);
                theirs.insert("writer".into(), json!({"S": "someone-else"}));
                cancelled(vec![
                    json!({"Code": "ConditionalCheckFailed", "Item": theirs}),
                ])
            }),
        ),
        // The void of the collided block: its tombstone is refused by the record that
        // stands there (another writer's: nothing of ours), then the new reservation and
        // its write.
        (
            "TransactWriteItems",
            Box::new(|_| {
                let theirs = json!({"writer": {"S": "someone-else"}});
                cancelled(vec![
                    json!({"Code": "ConditionalCheckFailed", "Item": theirs}),
                    json!({"Code": "None"}),
                ])
            }),
        ),
        ("UpdateItem", reserved(6)),
        ("TransactWriteItems", ok(json!({}))),
    ])
    .await;
    let req = one_create();
    let year = req.now.year();
    let out = store.create(req).await.expect("created in the next block");
    assert_eq!(out.records[0].vtid.to_string(), format!("VTID-{year}-0006"));
    assert_eq!(
        operations(&script),
        [
            "UpdateItem",
            "TransactWriteItems",
            "TransactWriteItems",
            "UpdateItem",
            "TransactWriteItems"
        ]
    );
    let s = script.lock().unwrap();
    // The void names the collided number, with its cause.
    let void = s.sent[2].1.to_string();
    assert!(void.contains("collision"), "{void}");
}

/// Step 5 refused on the idempotency key: this request outlived its lease and another
/// request with the same key finished meanwhile. The answer is that request's records
/// (a replay); this request's block stays unwritten and is voided for time.
#[tokio::test]
async fn a_write_that_lost_its_lease_answers_with_the_new_holders_records() {
    let mut req = one_create();
    let year = req.now.year();
    req.idempotency = Some(crate::store::IdempotencyKey {
        scope: "acme".into(),
        key: "deploy-42".into(),
        fingerprint: "f1".into(),
    });
    let theirs = format!("VTID-{year}-0008");
    // The other holder's record, as BatchGetItem returns it (its document only): made
    // from the record this request tried to write, at the other holder's number.
    let doc = Arc::new(Mutex::new(String::new()));
    let (keep, give) = (doc.clone(), doc.clone());
    let vtids = format!("[\"{theirs}\"]");
    let (store, script) = replaying(vec![
        ("PutItem", ok(json!({}))),
        ("UpdateItem", reserved(9)),
        (
            "TransactWriteItems",
            Box::new(move |body: &Value| {
                let mut record: Value = puts(body)[0]["doc"]["S"]
                    .as_str()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                record["vtid"] = json!(theirs);
                *keep.lock().unwrap() = record.to_string();
                let key = json!({"fingerprint": {"S": "f1"}, "vtids": {"S": vtids}});
                cancelled(vec![
                    json!({"Code": "None"}),
                    json!({"Code": "ConditionalCheckFailed", "Item": key}),
                ])
            }),
        ),
        (
            "BatchGetItem",
            Box::new(move |_| {
                let item = json!({"doc": {"S": give.lock().unwrap().clone()}});
                (
                    200,
                    json!({"Responses": {"ledger": [item]}, "UnprocessedKeys": {}}),
                )
            }),
        ),
        // The void of block 9: its tombstone and note.
        ("TransactWriteItems", ok(json!({}))),
    ])
    .await;
    let out = store.create(req).await.expect("the new holder's outcome");
    assert!(out.replayed);
    assert_eq!(out.records[0].vtid.to_string(), format!("VTID-{year}-0008"));
    assert_eq!(
        operations(&script),
        [
            "PutItem",
            "UpdateItem",
            "TransactWriteItems",
            "BatchGetItem",
            "TransactWriteItems"
        ]
    );
    let s = script.lock().unwrap();
    let void = s.sent[4].1.to_string();
    assert!(
        void.contains("deadline") && void.contains(&format!("VTID-{year}-0009")),
        "block 9 voided for time: {void}"
    );
}
