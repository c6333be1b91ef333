//! Lambda active tracing as the X-Ray daemon sees it. `vtid-create` runs as Lambda starts
//! it (the Runtime API stand-in hands it a sampled trace header), against moto's
//! DynamoDB, with `AWS_XRAY_DAEMON_ADDRESS` pointing at a UDP socket on loopback standing
//! in for the daemon: every DynamoDB request must arrive there as a subsegment of the
//! invocation's trace, begun and ended, named by its operation, and reach DynamoDB (a
//! TCP relay in front of moto keeps what was sent) with the trace header naming it.

mod runtime_api;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shared::metrics::name;
use vtid_tests::emf::{declared, documents, values};
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

/// A TCP relay on loopback in front of `upstream` (moto, which closes each connection
/// after its answer): its URL, and every byte the function sent through it.
fn relay(upstream: &str) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let keep = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = TcpStream::connect(&upstream).expect("moto");
            let (mut from_client, mut to_server) = (
                client.try_clone().expect("a handle"),
                server.try_clone().expect("a handle"),
            );
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 16_384];
                while let Ok(n @ 1..) = from_client.read(&mut buf) {
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Write);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
        }
    });
    (url, sent)
}

/// What one traced create left: the daemon's documents, the function's stdout, and the
/// trace headers its DynamoDB requests carried.
struct Traced {
    docs: Vec<Value>,
    lines: Vec<String>,
    headers: Vec<String>,
}

/// One create by `vtid-create` as Lambda runs it, with the daemon stand-in's address
/// and `trace` as the invocation's trace header.
fn create_with_trace(trace: &str) -> Traced {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let api = runtime.block_on(Api::new(Kind::Dynamo));
    let table = api.dynamo_table.clone().expect("a table");
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let address = daemon.local_addr().expect("its address").to_string();
    let (endpoint, sent) = relay(&vtid_tests::dynamo_endpoint());
    let create = Req::new("POST", "/vtid/create")
        .json(body("traced"))
        .who(Who::Jwt(json!({"sub": "u-1", "tenant": "acme"})))
        .event();
    let (answers, lines) = runtime_api::run_traced(
        "vtid-create",
        &table,
        &endpoint,
        &[("AWS_XRAY_DAEMON_ADDRESS", &address)],
        trace,
        vec![create],
    );
    assert_eq!(answers[0]["statusCode"], 201, "{answers:?}");
    let sent = String::from_utf8_lossy(&sent.lock().unwrap()).into_owned();
    let headers = sent
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amzn-trace-id")
                .then(|| v.trim().to_owned())
        })
        .collect();
    Traced {
        docs: received(&daemon),
        lines,
        headers,
    }
}

#[test]
fn every_dynamodb_request_is_a_subsegment_of_the_invocations_trace() {
    vtid_tests::skip_without_dynamo!();
    let Traced {
        docs,
        lines,
        headers,
    } = create_with_trace(runtime_api::SAMPLED);
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
    // One subsegment for every request the function counted as sent.
    let sent: f64 = values(&declared(&documents(&lines)), name::DYNAMODB_REQUESTS, &[]).sum();
    assert_eq!(ended.len() as f64, sent, "{operations:?}");
    // Each request carried the trace, with its own subsegment as the parent.
    assert_eq!(headers.len(), ended.len(), "{headers:?}");
    for header in &headers {
        let parent = header
            .split(';')
            .find_map(|p| p.strip_prefix("Parent="))
            .unwrap_or_else(|| panic!("no parent: {header}"));
        assert!(header.starts_with(&format!("Root={TRACE};")), "{header}");
        assert!(
            ended.iter().any(|d| d["id"] == parent),
            "{header} names no subsegment"
        );
    }
}

#[test]
fn a_trace_that_is_not_sampled_sends_nothing() {
    vtid_tests::skip_without_dynamo!();
    let unsampled = runtime_api::SAMPLED.replace("Sampled=1", "Sampled=0");
    let traced = create_with_trace(&unsampled);
    assert_eq!(traced.docs, Vec::<Value>::new());
}
