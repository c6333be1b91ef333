//! Events from the embedded store, over real HTTP: the outbox delivered to an OASIS sink
//! on loopback that fails on purpose (and across a `kill -9`), dead letters counted by
//! health, `GET /vtid/events` resumed with `Last-Event-ID`, and `vtid watch`.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::sink::Sink;
use common::{BIN, Server, wait_for};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn rec(family: &str) -> Value {
    json!({"taskFamily": family, "taskType": "t", "description": "d", "tenant": "acme"})
}

fn create(server: &Server, body: Value) -> String {
    let (status, res) = server.call("POST", "/vtid/create", Some(body), &[]);
    assert_eq!(status, 201, "{res}");
    res["vtid"].as_str().unwrap().to_owned()
}

fn patch(server: &Server, vtid: &str, body: Value) {
    let (status, res) = server.call("PATCH", &format!("/vtid/{vtid}"), Some(body), &[]);
    assert_eq!(status, 200, "{res}");
}

/// Every event the ledger holds, as `VTID:version` IDs: versions 1 to the current one.
fn expected_ids(server: &Server, vtids: &[&String]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for v in vtids {
        let (_, res) = server.call("GET", &format!("/vtid/{v}"), None, &[]);
        let version = res["data"]["version"].as_u64().unwrap();
        ids.extend((1..=version).map(|n| format!("{v}:{n}")));
    }
    ids
}

fn health_events(server: &Server) -> Value {
    server.call("GET", "/vtid/health", None, &[]).1["checks"]["events"].clone()
}

#[test]
fn the_outbox_reaches_a_failing_sink_in_order_across_a_kill_9() {
    // The first three posts fail, the fourth answers slowly: the server is killed while
    // it waits for that answer.
    let sink = Sink::start(|n, _| match n {
        0..=2 => (500, Duration::ZERO),
        3 => (200, Duration::from_millis(1500)),
        _ => (200, Duration::ZERO),
    });
    let dir = tempfile::tempdir().unwrap();
    let url = sink.url();
    let webhook = ["--oasis-url", url.as_str()];
    let first = Server::on(dir.path(), &webhook);
    let a = create(&first, rec("deploy"));
    let b = create(&first, rec("deploy"));
    patch(&first, &a, json!({"status": "active"}));
    let c = create(
        &first,
        json!({"taskFamily": "deploy", "taskType": "t", "description": "d",
                                  "tenant": "acme", "parentVtid": a}),
    );
    patch(&first, &b, json!({"status": "blocked"}));
    patch(&first, &a, json!({"metadata": {"pr": 7}}));
    wait_for("the slow post", PATIENCE, || sink.posts().len() >= 4);
    first.kill9();

    let second = Server::on(dir.path(), &webhook);
    patch(&second, &b, json!({"status": "active"}));
    patch(&second, &b, json!({"status": "complete"}));
    patch(&second, &c, json!({"title": "renamed"}));
    let d = create(&second, rec("hotfix"));
    let expected = expected_ids(&second, &[&a, &b, &c, &d]);
    wait_for("every event accepted", PATIENCE, || {
        let accepted: HashSet<String> = sink
            .posts()
            .iter()
            .filter(|p| p.status == 200)
            .map(|p| p.key.clone())
            .collect();
        accepted == expected && health_events(&second)["pending"] == json!(0)
    });

    let posts = sink.posts();
    let mut accepted: HashSet<String> = HashSet::new();
    let mut bodies: HashMap<String, Value> = HashMap::new();
    for p in &posts {
        // The ID is VTID:version, in the header and the body alike.
        let m = &p.body["metadata"];
        let (vtid, version) = p.key.split_once(':').unwrap();
        assert_eq!(m["eventId"], json!(p.key));
        assert_eq!(
            (m["vtid"].as_str(), m["version"].as_u64()),
            (Some(vtid), version.parse().ok())
        );
        // In order per VTID: every earlier version was accepted before this one was sent.
        let version: u64 = version.parse().unwrap();
        for earlier in 1..version {
            assert!(
                accepted.contains(&format!("{vtid}:{earlier}")),
                "{} was sent before {vtid}:{earlier} was accepted: {:?}",
                p.key,
                posts.iter().map(|p| (&p.key, p.status)).collect::<Vec<_>>()
            );
        }
        // Stable: a repeat carries the very same body.
        if let Some(before) = bodies.insert(p.key.clone(), p.body.clone()) {
            assert_eq!(before, p.body, "{} changed between deliveries", p.key);
        }
        if p.status == 200 {
            accepted.insert(p.key.clone());
        }
    }
    // The kill cut the slow delivery short: the restarted server sent that event again.
    assert_eq!(
        posts[3].key, posts[4].key,
        "the interrupted event is sent again"
    );
    assert!(
        posts
            .iter()
            .take(3)
            .all(|p| p.key == format!("{a}:1") && p.status == 500)
    );
    // The kinds follow the lifecycle, in OASIS's shape.
    let kind = |id: &str| bodies[id]["event"].as_str().unwrap().to_owned();
    assert_eq!(kind(&format!("{a}:1")), "vtid-created");
    assert_eq!(kind(&format!("{a}:2")), "vtid-status-changed");
    assert_eq!(kind(&format!("{a}:3")), "vtid-updated");
    assert_eq!(kind(&format!("{b}:4")), "vtid-completed");
    let done = &bodies[&format!("{b}:4")];
    assert_eq!(
        (
            done["service"].as_str(),
            done["status"].as_str(),
            done["tenant"].as_str()
        ),
        (Some("vtid-ledger"), Some("success"), Some("acme"))
    );
    assert!(done["metadata"]["durationSeconds"].is_number());
    assert_eq!(
        health_events(&second),
        json!({"ok": true, "webhook": true, "pending": 0, "deadLetters": 0})
    );
}

#[test]
fn an_event_the_sink_never_takes_becomes_a_counted_dead_letter() {
    let sink = Sink::start(|_, body| match body["tenant"].as_str() {
        Some("poison") => (400, Duration::ZERO),
        _ => (200, Duration::ZERO),
    });
    let dir = tempfile::tempdir().unwrap();
    let url = sink.url();
    let server = Server::on(dir.path(), &["--oasis-url", &url, "--oasis-attempts", "2"]);
    let poison = create(
        &server,
        json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "poison"}),
    );
    let fine = create(&server, rec("deploy"));
    wait_for("the next event delivered", PATIENCE, || {
        sink.posts()
            .iter()
            .any(|p| p.key == format!("{fine}:1") && p.status == 200)
    });
    let keys: Vec<(String, u16)> = sink
        .posts()
        .into_iter()
        .map(|p| (p.key, p.status))
        .collect();
    assert_eq!(
        keys,
        vec![
            (format!("{poison}:1"), 400),
            (format!("{poison}:1"), 400),
            (format!("{fine}:1"), 200)
        ]
    );
    wait_for("health to settle", PATIENCE, || {
        health_events(&server)["pending"] == json!(0)
    });
    assert_eq!(
        health_events(&server),
        json!({"ok": true, "webhook": true, "pending": 0, "deadLetters": 1})
    );
}

#[test]
fn a_webhook_needs_the_embedded_store_and_a_url() {
    for (args, says) in [
        (
            vec![
                "--table",
                "t",
                "--dynamodb-endpoint",
                "http://127.0.0.1:9",
                "--oasis-url",
                "http://127.0.0.1:9/x",
            ],
            "--oasis-url needs the embedded store",
        ),
        (
            vec!["--oasis-url", "ftp://example.com/x"],
            "is not an http:// or https:// URL",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["serve", "--addr", "127.0.0.1:0"];
        if !args.contains(&"--table") {
            all.extend(["--data", dir.path().to_str().unwrap(), "--init"]);
        }
        all.extend(&args);
        let (code, _, err) = common::vtid(&all);
        assert_ne!(code, 0);
        assert!(err.contains(says), "{err}");
    }
}

/// Reads `n` events of a stream, with a bound on the wait.
async fn take(stream: &mut vtid_client::EventStream, n: usize) -> Vec<vtid_client::Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream is readable")
            .expect("the stream is open");
        out.push(next);
    }
    out
}

fn event_id(e: &vtid_client::Event) -> String {
    let body: Value = serde_json::from_str(&e.data).unwrap();
    body["metadata"]["eventId"].as_str().unwrap().to_owned()
}

/// An event as the client read it from the stream matches `SseEvent` of the API reference.
fn documented_as_sse_event(e: &vtid_client::Event) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = json!({
        "$ref": "#/components/schemas/SseEvent",
        "components": spec["components"],
    });
    let instance = json!({
        "id": e.id,
        "event": e.event,
        "data": serde_json::from_str::<Value>(&e.data).unwrap(),
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|x| x.to_string())
        .collect();
    assert!(errors.is_empty(), "{instance}: {errors:?}");
    assert_eq!(instance["event"], instance["data"]["event"]);
}

#[tokio::test]
async fn sse_resumes_after_last_event_id_with_no_gap_and_no_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(dir.path(), &[]);
    let client = vtid_client::Client::http(&server.url(), None).unwrap();
    let a = create(&server, rec("deploy"));
    patch(&server, &a, json!({"status": "active"}));
    let b = create(&server, rec("deploy"));
    patch(&server, &b, json!({"status": "blocked"}));
    patch(&server, &a, json!({"title": "one"}));

    let mut stream = client.events(&[], Some("0")).await.unwrap();
    let seen = take(&mut stream, 3).await;
    let resume = stream.last_event_id().unwrap().to_owned();
    drop(stream);
    patch(&server, &b, json!({"status": "active"}));
    let c = create(&server, rec("hotfix"));
    let mut stream = client.events(&[], Some(&resume)).await.unwrap();
    let rest = take(&mut stream, 4).await;
    // One more change: the next event is it, not a repeat of anything before.
    patch(&server, &c, json!({"status": "active"}));
    let last = take(&mut stream, 1).await;

    let all: Vec<_> = seen.iter().chain(&rest).chain(&last).collect();
    for e in &all {
        documented_as_sse_event(e);
    }
    let positions: Vec<String> = all.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(
        positions,
        (1..=8).map(|n| n.to_string()).collect::<Vec<_>>()
    );
    let ids: Vec<String> = all.iter().map(|e| event_id(e)).collect();
    assert_eq!(
        ids,
        [
            format!("{a}:1"),
            format!("{a}:2"),
            format!("{b}:1"),
            format!("{b}:2"),
            format!("{a}:3"),
            format!("{b}:3"),
            format!("{c}:1"),
            format!("{c}:2"),
        ]
    );
    assert_eq!(all[1].event, "vtid-status-changed");

    // Filtered as the list is: only blocked records' events, and none of the others.
    let mut blocked = client
        .events(&[("status", "blocked".to_owned())], Some("0"))
        .await
        .unwrap();
    let only = take(&mut blocked, 1).await;
    assert_eq!(event_id(&only[0]), format!("{b}:2"));
    patch(&server, &c, json!({"title": "not blocked"}));
    patch(&server, &c, json!({"status": "blocked"}));
    let next = take(&mut blocked, 1).await;
    assert_eq!(event_id(&next[0]), format!("{c}:4"));

    // Without Last-Event-ID a stream starts now.
    let mut now = client.events(&[], None).await.unwrap();
    let d = create(&server, rec("fresh"));
    assert_eq!(event_id(&take(&mut now, 1).await[0]), format!("{d}:1"));

    // A position this ledger never gave out, or a bad filter, is a clear 400.
    for (query, last, field) in [
        (vec![], Some("999"), "Last-Event-ID"),
        (vec![], Some("x"), "Last-Event-ID"),
        (vec![("limit", "5".to_owned())], None, "limit"),
        (vec![("status", "done".to_owned())], None, "status"),
    ] {
        match client.events(&query, last).await {
            Err(vtid_client::Error::Refused(r)) if r.status == 400 => {
                assert_eq!(r.details[0].field, field);
            }
            other => panic!("expected 400 for {query:?} {last:?}, got {:?}", other.err()),
        }
    }
}

/// Lines of a child's pipe, delivered through a channel so a test can wait with a bound.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn next_line(rx: &mpsc::Receiver<String>, containing: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line with {containing:?} within 30 s"));
        if line.contains(containing) {
            return line;
        }
    }
}

#[test]
fn vtid_watch_shows_another_clients_create_and_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(dir.path(), &[]);
    let port = server.port;
    let mut watch = Command::new(BIN)
        .args(["--url", &server.url(), "watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(watch.stdout.take().unwrap());
    let err = lines(watch.stderr.take().unwrap());
    next_line(&err, "connected");
    let v = create(
        &server,
        json!({"taskFamily": "deploy", "taskType": "t", "description": "d",
                                   "tenant": "acme", "title": "From another client"}),
    );
    let line = next_line(&out, &v);
    assert!(
        line.contains("created") && line.contains("From another client"),
        "{line}"
    );

    // The server dies and comes back on the same address: watch continues after the
    // last event it printed.
    server.kill9();
    let server = Server::restart_on(dir.path(), port, &[]);
    next_line(&err, "after event 1");
    patch(&server, &v, json!({"status": "active"}));
    let line = next_line(&out, &v);
    assert!(
        line.contains("status-changed") && line.contains("active"),
        "{line}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
}
