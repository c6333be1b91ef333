//! Lambda active tracing as the X-Ray daemon sees it. `vtid-create` runs as Lambda starts
//! it (the Runtime API stand-in hands it a sampled trace header), against moto's
//! DynamoDB, with `AWS_XRAY_DAEMON_ADDRESS` pointing at a UDP socket on loopback standing
//! in for the daemon: every DynamoDB request must arrive there as a subsegment of the
//! invocation's trace, begun and ended, named by its operation.

mod runtime_api;

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{Value, json};
use vtid_tests::{Api, Kind, Req, Who, body};

/// The trace the Runtime API stand-in hands every invocation.
const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

/// Every datagram the daemon stand-in received: the daemon's header line, then one
/// segment document.
fn received(daemon: &UdpSocket) -> Vec<Value> {
    daemon
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let mut docs = Vec::new();
    let mut buf = vec![0; 65_536];
    while let Ok(n) = daemon.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (header, doc) = text.split_once('\n').expect("a header line");
        let header: Value = serde_json::from_str(header).expect("a JSON header");
        assert_eq!(header, json!({"format": "json", "version": 1}), "{text}");
        docs.push(serde_json::from_str(doc).expect("a JSON segment document"));
    }
    docs
}

/// One create by `vtid-create` as Lambda runs it, with the daemon stand-in's address
/// and `trace` as the invocation's trace header: what the daemon received.
fn create_with_trace(trace: &str) -> Vec<Value> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let api = runtime.block_on(Api::new(Kind::Dynamo));
    let table = api.dynamo_table.clone().expect("a table");
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let address = daemon.local_addr().expect("its address").to_string();
    let create = Req::new("POST", "/vtid/create")
        .json(body("traced"))
        .who(Who::Jwt(json!({"sub": "u-1", "tenant": "acme"})))
        .event();
    let (answers, _) = runtime_api::run_traced(
        "vtid-create",
        &table,
        &vtid_tests::dynamo_endpoint(),
        &[("AWS_XRAY_DAEMON_ADDRESS", &address)],
        trace,
        vec![create],
    );
    assert_eq!(answers[0]["statusCode"], 201, "{answers:?}");
    received(&daemon)
}

#[test]
fn every_dynamodb_request_is_a_subsegment_of_the_invocations_trace() {
    vtid_tests::skip_without_dynamo!();
    let docs = create_with_trace(runtime_api::SAMPLED);
    // Each subsegment is sent when it begins (in progress) and again when it ends.
    let ended: Vec<&Value> = docs.iter().filter(|d| d["end_time"].is_number()).collect();
    assert!(!ended.is_empty(), "no subsegment ended: {docs:#?}");
    for doc in &docs {
        assert_eq!(doc["type"], "subsegment", "{doc}");
        assert_eq!(doc["trace_id"], TRACE, "{doc}");
        assert_eq!(doc["parent_id"], PARENT, "{doc}");
        assert_eq!(doc["name"], "DynamoDB", "{doc}");
        assert_eq!(doc["namespace"], "aws", "{doc}");
        assert!(doc["start_time"].is_number(), "{doc}");
    }
    for doc in &ended {
        let begun = docs
            .iter()
            .any(|d| d["id"] == doc["id"] && d["in_progress"] == true);
        assert!(begun, "ended but never begun: {doc}");
        assert!(
            doc["end_time"].as_f64() >= doc["start_time"].as_f64(),
            "{doc}"
        );
        assert_eq!(doc["http"]["response"]["status"], 200, "{doc}");
    }
    // A create writes its record, its history and the counter in one transaction.
    let operations: Vec<&str> = ended
        .iter()
        .filter_map(|d| d["aws"]["operation"].as_str())
        .collect();
    assert!(operations.contains(&"TransactWriteItems"), "{operations:?}");
}

#[test]
fn a_trace_that_is_not_sampled_sends_nothing() {
    vtid_tests::skip_without_dynamo!();
    let unsampled = runtime_api::SAMPLED.replace("Sampled=1", "Sampled=0");
    assert_eq!(create_with_trace(&unsampled), Vec::<Value>::new());
}
