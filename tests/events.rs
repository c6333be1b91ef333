//! The stream consumer (docs/design.md, "Events"). Stream events are built from items the
//! DynamoDB store really wrote on moto's server, delivered to a real HTTP endpoint on
//! loopback (OASIS) and to moto's EventBridge.

mod runtime_api;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use shared::events::{EventBridge, Kind, Oasis, Sink, change_of, handle};
use shared::metrics::{dimension, name};
use shared::store::dynamo::DynamoStore;
use vtid_tests::emf::{declared, documents, has, values};
use vtid_tests::{Api, Kind as StoreKind, body};

async fn raw(store: &DynamoStore, pk: &str, sk: &str) -> Value {
    let out = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap();
    let item = serde_dynamo::Item::from(out.item().cloned().expect("item"));
    serde_json::to_value(item).unwrap()
}

/// A DynamoDB stream record as Lambda delivers it.
fn stream_record(seq: u32, name: &str, new: &Value, old: Option<&Value>) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_790_000_000, "Keys": {"pk": new["pk"], "sk": new["sk"]},
        "NewImage": new, "SequenceNumber": format!("{seq:021}"), "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        dynamodb["OldImage"] = old.clone();
    }
    json!({"eventID": format!("e{seq}"), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": dynamodb,
           "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"})
}

/// The images a record went through: create, to active, a metadata change, to complete.
async fn lifecycle_stream() -> (Event, String) {
    let api = Api::new(StoreKind::Dynamo).await;
    let table = api.dynamo_table.clone().unwrap();
    let store = vtid_tests::dynamo_on(&table).await;
    let v = api.create(body("deploy")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut images = vec![raw(&store, &v, "RECORD").await];
    for patch in [
        json!({"status": "active"}),
        json!({"metadata": {"pr": 7}}),
        json!({"status": "complete"}),
    ] {
        assert_eq!(api.patch(&format!("/vtid/{v}"), patch).await.status, 200);
        images.push(raw(&store, &v, "RECORD").await);
    }
    let history = raw(&store, &v, "H#0000000002").await;
    let records = vec![
        stream_record(1, "INSERT", &images[0], None),
        stream_record(2, "MODIFY", &images[1], Some(&images[0])),
        stream_record(3, "INSERT", &history, None),
        stream_record(4, "MODIFY", &images[2], Some(&images[1])),
        stream_record(5, "MODIFY", &images[3], Some(&images[2])),
    ];
    let event: Event = serde_json::from_value(json!({"Records": records})).expect("a stream event");
    drop(api);
    (event, v)
}

#[tokio::test]
async fn stream_records_become_one_event_per_change() {
    vtid_tests::skip_without_dynamo!();
    let (event, v) = lifecycle_stream().await;
    let changes: Vec<_> = event.records.iter().filter_map(change_of).collect();
    let kinds: Vec<Kind> = changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vtid_tests::LIFECYCLE_KINDS,
        "history items are not events"
    );
    let ids: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("{v}:1"),
            format!("{v}:2"),
            format!("{v}:3"),
            format!("{v}:4")
        ]
    );
    let done = shared::events::oasis_body(&changes[3]);
    assert_eq!(done["service"], "vtid-ledger");
    assert_eq!(done["event"], "vtid-completed");
    assert_eq!(done["tenant"], "acme");
    assert_eq!(done["status"], "success");
    assert_eq!(done["metadata"]["vtid"], v);
    assert_eq!(done["metadata"]["taskFamily"], "deploy");
    assert!(done["metadata"]["durationSeconds"].as_f64().is_some());
    assert!(
        shared::events::oasis_body(&changes[0])["metadata"]
            .get("durationSeconds")
            .is_none()
    );
}

/// A loopback HTTP endpoint that records what it is sent and fails when told to.
struct Endpoint {
    url: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    fail_on: Arc<Mutex<Option<usize>>>,
}

async fn endpoint() -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ingest", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let fail_on: Arc<Mutex<Option<usize>>> = Arc::default();
    let (s, f) = (seen.clone(), fail_on.clone());
    tokio::spawn(async move {
        let calls = Arc::new(Mutex::new(0usize));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (s, f, calls) = (s.clone(), f.clone(), calls.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (s, f, calls) = (s.clone(), f.clone(), calls.clone());
                        async move {
                            let key = req
                                .headers()
                                .get("idempotency-key")
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let n = {
                                let mut c = calls.lock().unwrap();
                                *c += 1;
                                *c
                            };
                            let status = if *f.lock().unwrap() == Some(n) {
                                500
                            } else {
                                s.lock()
                                    .unwrap()
                                    .push((key, serde_json::from_slice(&body).unwrap()));
                                202
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Endpoint { url, seen, fail_on }
}

#[tokio::test]
async fn a_failing_target_stops_the_batch_and_the_retry_keeps_order() {
    vtid_tests::skip_without_dynamo!();
    let (event, v) = lifecycle_stream().await;
    let ep = endpoint().await;
    let oasis = Oasis::new(&ep.url).unwrap();
    *ep.fail_on.lock().unwrap() = Some(2);
    let sinks: Vec<&dyn Sink> = vec![&oasis];
    let response = handle(&event, &sinks).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let failed = response.batch_item_failures[0]
        .item_identifier
        .clone()
        .unwrap();
    assert_eq!(
        failed,
        format!("{:021}", 2),
        "the first change that failed is reported"
    );
    assert_eq!(
        ep.seen.lock().unwrap().len(),
        1,
        "nothing after the failure was sent"
    );
    // Lambda retries from the reported record.
    let mut retry = event.clone();
    retry
        .records
        .retain(|r| r.change.sequence_number.as_deref() >= Some(failed.as_str()));
    let response = handle(&retry, &sinks).await;
    assert!(response.batch_item_failures.is_empty());
    let seen = ep.seen.lock().unwrap();
    let order: Vec<&str> = seen
        .iter()
        .map(|(_, b)| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "vtid-created",
            "vtid-status-changed",
            "vtid-updated",
            "vtid-completed"
        ]
    );
    let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("{v}:1"),
            format!("{v}:2"),
            format!("{v}:3"),
            format!("{v}:4")
        ],
        "ids let consumers drop repeats"
    );
}

#[tokio::test]
async fn eventbridge_takes_the_events_and_an_unreachable_bus_is_a_failure() {
    vtid_tests::skip_without_dynamo!();
    let (event, _) = lifecycle_stream().await;
    let endpoint = vtid_tests::dynamo_endpoint();
    let sdk = shared::store::dynamo::endpoint_config(&endpoint, "us-east-1").await;
    let bus = EventBridge::new(&sdk, "default");
    let sinks: Vec<&dyn Sink> = vec![&bus];
    assert!(handle(&event, &sinks).await.batch_item_failures.is_empty());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere =
        shared::store::dynamo::endpoint_config(&format!("http://{closed}"), "us-east-1").await;
    let down = EventBridge::new(&nowhere, "default");
    let sinks: Vec<&dyn Sink> = vec![&down];
    let response = handle(&event, &sinks).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some(format!("{:021}", 1).as_str())
    );
}

/// `vtid-events` run as Lambda starts it, on the same stream: EventBridge on moto takes
/// every change, the OASIS endpoint fails the second, so the batch stops there. Its
/// metrics say so: delivered and retried by sink, and the stream's age.
#[tokio::test(flavor = "multi_thread")]
async fn the_stream_consumer_publishes_what_it_delivered_and_what_it_hands_back() {
    vtid_tests::skip_without_dynamo!();
    let (event, _) = lifecycle_stream().await;
    let ep = endpoint().await;
    *ep.fail_on.lock().unwrap() = Some(2);
    let endpoint = vtid_tests::dynamo_endpoint();
    let url = ep.url.clone();
    let (answers, lines) = tokio::task::spawn_blocking(move || {
        runtime_api::run_with(
            "vtid-events",
            "unused",
            &endpoint,
            &[
                ("AWS_ENDPOINT_URL_EVENTBRIDGE", &endpoint),
                ("OASIS_INGEST_URL", &url),
            ],
            vec![serde_json::to_value(&event).expect("the event as JSON")],
        )
    })
    .await
    .expect("the run");
    let failures = answers[0]["batchItemFailures"]
        .as_array()
        .expect("a batch response");
    assert_eq!(failures.len(), 1, "{answers:?}");
    assert_eq!(failures[0]["itemIdentifier"], format!("{:021}", 2));
    let found = declared(&documents(&lines));
    let sum = |metric: &str, sink: &str| -> f64 {
        let dims = [
            (dimension::SINK, sink),
            (dimension::FUNCTION, "vtid-events-emf"),
        ];
        values(&found, metric, &dims).sum()
    };
    assert_eq!(sum(name::EVENTS_DELIVERED, "eventbridge"), 2.0, "{found:?}");
    assert_eq!(sum(name::EVENTS_DELIVERED, "oasis"), 1.0, "{found:?}");
    assert_eq!(sum(name::EVENTS_RETRIED, "oasis"), 1.0, "{found:?}");
    assert_eq!(sum(name::EVENTS_RETRIED, "eventbridge"), 0.0, "{found:?}");
    assert!(has(&found, name::STREAM_AGE, &[]), "{found:?}");
    assert!(has(&found, name::COLD_START, &[]), "{found:?}");
}
