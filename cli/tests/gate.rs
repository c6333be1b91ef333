//! `vtid` as a deploy gate and a pipeline uses it: the real binary against a real `vtid
//! serve`, and, for routing and timeouts, against loopback servers that are not a ledger
//! or never answer. Each test asserts exit codes (the table of `vtid --help`) and messages.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fakes::{losing_proxy, not_a_ledger};
use common::*;
use serde_json::{Value, json};

/// A fresh ledger: the server (kept alive by the guard) and its URL.
fn ledger(extra: &[&str]) -> (Server, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--data", dir.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let url = format!("http://127.0.0.1:{}", server.port);
    (server, dir, url)
}

fn create(url: &str, extra: &[&str]) -> String {
    let (code, vtid, err) = vtid_cmd(url, &create_args("acme", extra));
    assert_eq!(code, 0, "{err}");
    vtid
}

/// Runs `vtid` and waits at most `limit` for it: a hang is a failure, not a stuck test.
fn run_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vtid did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_deploy_gate_creates_waits_and_checks_the_status() {
    let (_server, _dir, url) = ledger(&[]);
    let vtid = create(&url, &["--metadata", r#"{"env":"prod"}"#]);
    assert_eq!(vtid, format!("VTID-{}-0001", year()));
    assert_eq!(vtid_cmd(&url, &["exists", &vtid]).0, 0);
    let (code, _, err) = vtid_cmd(&url, &["exists", &vtid, "--status", "complete"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{vtid} is pending, not complete")),
        "{err}"
    );
    assert_eq!(
        vtid_cmd(
            &url,
            &[
                "exists", &vtid, "--status", "complete", "--status", "pending"
            ]
        )
        .0,
        0,
        "any of the given statuses"
    );
    // `wait` polls while the pipeline moves the record on.
    let waiting = Command::new(BIN)
        .args(["--url", &url, "--timeout", "20s", "-v", "wait", &vtid])
        .args(["--status", "complete", "--interval", "100ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        vtid_cmd(&url, &["update", &vtid, "--status", "active"]).0,
        0
    );
    assert_eq!(
        vtid_cmd(&url, &["update", &vtid, "--status", "complete"]).0,
        0
    );
    let waited = waiting.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&waited.stderr);
    assert_eq!(waited.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for complete"), "{err}");
    assert_eq!(
        vtid_cmd(&url, &["exists", &vtid, "--status", "complete"]).0,
        0
    );
    assert_eq!(
        vtid_cmd(&url, &["get", &vtid, "--field", "status"]),
        (0, "complete".to_owned(), String::new())
    );
    assert_eq!(
        vtid_cmd(&url, &["get", &vtid, "--field", "metadata.env"]).1,
        "prod"
    );
    assert_eq!(vtid_cmd(&url, &["get", &vtid, "--field", "version"]).1, "3");
    let (code, _, err) = vtid_cmd(&url, &["get", &vtid, "--field", "colour"]);
    assert_eq!(code, 2);
    assert!(err.contains("no field 'colour'"), "{err}");
}

#[test]
fn wait_ends_with_4_on_another_final_status_and_1_at_the_time_limit() {
    let (_server, _dir, url) = ledger(&[]);
    let pending = create(&url, &[]);
    let (code, _, err) = vtid_cmd(
        &url,
        &["--timeout", "1s", "wait", &pending, "--status", "complete"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("still pending, not complete, at the time limit"),
        "{err}"
    );
    let failed = create(&url, &["--status", "failed"]);
    let (code, _, err) = vtid_cmd(&url, &["wait", &failed, "--status", "complete"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("ended failed, never complete"), "{err}");
    let (code, _, err) = vtid_cmd(
        &url,
        &[
            "wait",
            &format!("VTID-{}-0099", year()),
            "--status",
            "complete",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn exit_codes_and_messages_follow_the_table() {
    let (_server, _dir, url) = ledger(&[]);
    let missing = format!("VTID-{}-0099", year());
    for cmd in ["get", "exists", "history", "tree"] {
        let (code, _, err) = vtid_cmd(&url, &[cmd, &missing]);
        assert_eq!(code, 1, "{cmd}: {err}");
        assert!(
            err.contains(&format!("{missing} does not exist")),
            "{cmd}: {err}"
        );
    }
    // A bad VTID is refused before anything is sent.
    let (code, _, err) = vtid_cmd(&url, &["get", "vtid-2026-1"]);
    assert_eq!(code, 2);
    assert!(err.contains("VTID-YYYY-NNNN"), "{err}");
    // The server's details reach the user, field by field.
    let (code, _, err) = vtid_cmd(&url, &create_args("not a tenant!", &[]));
    assert_eq!(code, 2);
    assert!(err.contains("400 invalid_payload"), "{err}");
    assert!(err.contains("tenant: must be 1 to 64 of A-Z"), "{err}");
    // With --json, the error on stderr is the ledger's JSON body.
    let (code, _, err) = vtid_cmd(&url, &create_args("not a tenant!", &["--json"]));
    assert_eq!(code, 2);
    let body: Value = serde_json::from_str(err.trim()).expect("a JSON error body");
    assert_eq!(body["code"], "invalid_payload");
    assert_eq!(body["details"][0]["field"], "tenant");
    // Conflicts and preconditions: 4.
    let (code, _, err) = vtid_cmd(&url, &create_args("acme", &["--parent", &missing]));
    assert_eq!(code, 4);
    assert!(err.contains("parent_not_found"), "{err}");
    let v = create(&url, &[]);
    // A weak tag is refused before anything is sent, as the server refuses it (2: usage).
    for (if_match, code) in [
        ("\"1\"", 0),
        ("2", 0),
        ("W/\"3\"", 2),
        ("3", 0),
        ("\"1\"", 4),
    ] {
        let (got, _, err) = vtid_cmd(
            &url,
            &[
                "update",
                &v,
                "--title",
                &format!("t{if_match}"),
                "--if-match",
                if_match,
            ],
        );
        assert_eq!(got, code, "--if-match {if_match}: {err}");
        if code == 2 {
            assert!(err.contains("must be a version such as"), "{err}");
        }
        if code == 4 {
            assert!(err.contains("412 version_mismatch"), "{err}");
        }
    }
    let (code, _, err) = vtid_cmd(&url, &["update", &v, "--status", "complete"]);
    assert_eq!(code, 4, "pending cannot complete: {err}");
    assert!(
        err.contains("status: pending cannot move to complete"),
        "{err}"
    );
    // Usage errors: 2, with the allowed values named.
    let (code, _, err) = vtid_cmd(&url, &["update", &v, "--status", "done"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("possible values: pending, active, blocked, complete, failed, cancelled"),
        "{err}"
    );
    let (code, _, err) = vtid_cmd(&url, &["update", &v]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to change"), "{err}");
    let (code, _, err) = vtid_cmd(&url, &["--timeout", "soon", "health"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a duration"), "{err}");
}

#[test]
fn token_problems_are_named_and_exit_3() {
    let secret = fixture("hs256-test-secret");
    let (_server, _dir, url) =
        ledger(&["--jwt-hs256-secret-file", &secret, "--jwt-audience", "vtid"]);
    let args = create_args("acme", &[]);
    let with_token = |token: &str| {
        let out = Command::new(BIN)
            .args(["--url", &url, "--token", token])
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = hs256(json!({"sub": "ci", "role": "service", "aud": "vtid", "exp": in_an_hour()}));
    assert_eq!(with_token(&good).0, Some(0));
    let expired = hs256(json!({"sub": "ci", "aud": "vtid", "exp": 1_000_000}));
    let other_aud = hs256(json!({"sub": "ci", "aud": "other", "exp": in_an_hour()}));
    // Another signature of the same length: one character in its middle changed.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let flipped = if parts[2].as_bytes()[10] == b'A' {
        "B"
    } else {
        "A"
    };
    parts[2].replace_range(10..11, flipped);
    let forged = parts.join(".");
    for (token, why) in [
        (expired.as_str(), "the token has expired"),
        (other_aud.as_str(), "does not have a valid audience"),
        (forged.as_str(), "signature does not verify"),
    ] {
        let (code, err) = with_token(token);
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains("401 unauthenticated"), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    }
    let (code, _, err) = vtid_cmd(&url, &args);
    assert_eq!(code, 3, "no token: {err}");
    assert!(
        err.contains("no token was given: pass --token or set VTID_TOKEN"),
        "the flag and the variable are named: {err}"
    );
    let mut json_args = args.clone();
    json_args.push("--json");
    let (_, _, err) = vtid_cmd(&url, &json_args);
    let body: Value = serde_json::from_str(err.trim()).expect(&err);
    assert_eq!(body["code"], "unauthenticated");
    assert!(
        body["hint"]
            .as_str()
            .is_some_and(|h| h.contains("VTID_TOKEN")),
        "{body}"
    );
    // The whole header value, as people copy it, works too.
    assert_eq!(with_token(&format!("Bearer {good}")).0, Some(0));
    // A token without `sub` says so, in the JSON error too.
    let nameless = hs256(json!({"role": "service", "aud": "vtid", "exp": in_an_hour()}));
    let (code, err) = with_token(&nameless);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("the token has no sub claim"), "{err}");
    let out = Command::new(BIN)
        .args(["--json", "--url", &url, "--token", &nameless])
        .args(&args)
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(
        body["tokenProblem"]
            .as_str()
            .is_some_and(|p| p.contains("no sub claim")),
        "{body}"
    );
}

/// `vtid token` makes a token that the server with the same secret file accepts; a
/// secret too short to be safe is refused by both.
#[test]
fn vtid_token_makes_a_token_the_server_accepts() {
    let secret = fixture("hs256-test-secret");
    let (_server, dir, url) =
        ledger(&["--jwt-hs256-secret-file", &secret, "--jwt-audience", "vtid"]);
    let (code, token, err) = vtid(&[
        "token",
        "--secret-file",
        &secret,
        "--sub",
        "ci",
        "--role",
        "service",
        "--aud",
        "vtid",
        "--ttl",
        "10m",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(token.split('.').count(), 3, "one token on stdout: {token}");
    let out = Command::new(BIN)
        .args(["--url", &url, "--json"])
        .args(create_args("globex", &[]))
        .env("VTID_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["createdBy"], "ci");
    // Five bytes of secret could be guessed from any token signed with them.
    let short = dir.path().join("short-secret");
    std::fs::write(&short, "hunter\n").unwrap();
    let short = short.to_str().unwrap();
    let (code, _, err) = vtid(&["token", "--secret-file", short, "--sub", "ci"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it must be at least 32"), "{err}");
    let data = dir.path().join("ledger");
    let (code, _, err) = vtid(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--init",
        "--jwt-hs256-secret-file",
        short,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it must be at least 32"), "{err}");
    // A client flag means nothing to it, and is refused rather than ignored.
    let (code, _, err) = vtid(&[
        "token",
        "--secret-file",
        &secret,
        "--sub",
        "ci",
        "--url",
        &url,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not take --url"), "{err}");
}

/// The server's log on a stderr that is not a terminal (a file, a CI log) has no colour
/// codes.
#[test]
fn the_servers_log_is_plain_text_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut server = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path().join("ledger"))
        .args([
            "--init",
            "--jwt-hs256-secret-file",
            &fixture("hs256-test-secret"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    // A refused token is logged (info): the line to look at.
    wait_for("a logged refusal", Duration::from_secs(20), || {
        vtid_cmd(&url, &["--token", "not-a-token", "list"]);
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("bearer token refused"))
    });
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "colour codes in {text:?}");
}

#[test]
fn a_wrong_url_is_exit_5_and_never_a_missing_vtid() {
    let (_server, _dir, url) = ledger(&[]);
    let v = create(&url, &[]);
    // The template's ApiUrl with /vtid appended: the ledger answers no_route.
    for cmd in ["exists", "get"] {
        let (code, _, err) = vtid_cmd(&format!("{url}/vtid"), &[cmd, &v]);
        assert_eq!(code, 5, "{cmd}: {err}");
        assert!(err.contains("404 no_route"), "{err}");
        assert!(
            err.contains("the base URL ends in /vtid: leave that out"),
            "{err}"
        );
        assert!(
            err.contains(&format!("{url}/vtid/vtid/{v}")),
            "the URL is named: {err}"
        );
        assert!(!err.contains("does not exist"), "{err}");
    }
    for (what, server, expected) in [
        (
            "a web server's 404",
            not_a_ledger("404 Not Found", "text/html", "<h1>Not Found</h1>"),
            "answered 404 with a body that is not the ledger's JSON",
        ),
        (
            "API Gateway's own 404",
            not_a_ledger(
                "404 Not Found",
                "application/json",
                r#"{"message":"Not Found"}"#,
            ),
            "API Gateway's own answer",
        ),
        (
            "a page that answers 200 to anything",
            not_a_ledger("200 OK", "text/html", "<html>welcome</html>"),
            "answered 200 with a body that is not the ledger's JSON",
        ),
    ] {
        for cmd in ["exists", "get"] {
            let (code, _, err) = vtid_cmd(&server, &[cmd, &v]);
            assert_eq!(code, 5, "{what}, {cmd}: {err}");
            assert!(
                err.contains("did not answer as a VTID ledger"),
                "{what}: {err}"
            );
            assert!(err.contains(expected), "{what}: {err}");
            assert!(err.contains(&server), "{what}: the URL is named: {err}");
        }
    }
    // Nothing listening: the URL is in the message.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = vtid_cmd(&nowhere, &["--timeout", "5s", "exists", &v]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(&format!("cannot reach the ledger at {nowhere}/vtid/{v}")),
        "{err}"
    );
    // A password in the URL is never printed, in errors or in -v lines.
    let port = free_port();
    let secret = format!("http://gate:s3cret@127.0.0.1:{port}");
    for args in [
        vec!["--timeout", "2s", "exists", v.as_str()],
        vec!["-v", "--timeout", "2s", "get", v.as_str()],
    ] {
        let (code, out, err) = vtid_cmd(&secret, &args);
        assert_eq!(code, 5, "{err}");
        assert!(!err.contains("s3cret") && !out.contains("s3cret"), "{err}");
        assert!(
            err.contains(&format!("http://gate:***@127.0.0.1:{port}/vtid/{v}")),
            "{err}"
        );
    }
}

#[test]
fn a_ledger_that_never_answers_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and never reads or answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--timeout",
        "1s",
        "exists",
        "VTID-2026-0001",
    ]);
    let out = run_within(cmd, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!("no answer from http://127.0.0.1:{port}")),
        "the URL is named: {err}"
    );
    assert!(err.contains("within 1.0 s"), "{err}");
}

#[test]
fn a_create_whose_answer_was_lost_is_retried_without_a_second_vtid() {
    let (server, _dir, url) = ledger(&[]);
    let creates = Arc::new(AtomicUsize::new(0));
    let proxy = losing_proxy(server.port, creates.clone());
    let (code, vtid, err) = vtid_cmd(&proxy, &create_args("acme", &["-v"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(creates.load(Ordering::SeqCst), 2, "sent twice");
    assert!(err.contains("Idempotency-Key: vtid-"), "{err}");
    assert!(
        err.contains("try 1 of 5 failed") && err.contains("API Gateway answered 503"),
        "{err}"
    );
    assert!(
        err.contains("retrying in 1.0 s"),
        "Retry-After is honoured: {err}"
    );
    assert!(
        err.contains(&format!("replayed: this key had created {vtid}")),
        "{err}"
    );
    let (_, list, _) = vtid_cmd(&url, &["list", "--output", "jsonl"]);
    assert_eq!(list.lines().count(), 1, "one VTID: {list}");
    assert_eq!(vtid, format!("VTID-{}-0001", year()));
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let (_server, dir, url) = ledger(&[]);
    // 200 records make well over a pipe's buffer of JSON lines.
    let file = dir.path().join("batch.jsonl");
    let items: String = (0..50)
        .map(|i| {
            format!(
                "{}\n",
                json!({"taskFamily": "load", "taskType": "t", "description": format!("item {i}"), "tenant": "acme"})
            )
        })
        .collect();
    std::fs::write(&file, items).unwrap();
    for round in 0..4 {
        let (code, vtids, err) = vtid_cmd(&url, &["batch", "--file", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let numbers: Vec<String> = vtids.lines().map(str::to_owned).collect();
        assert_eq!(numbers.len(), 50);
        assert_eq!(
            numbers[0],
            format!("VTID-{}-{:04}", year(), round * 50 + 1),
            "consecutive, in order"
        );
    }
    for args in [&["list"][..], &["list", "--output", "csv"]] {
        let mut child: Child = Command::new(BIN)
            .args(["--url", &url])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone (`| head -1`).
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty());
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.is_empty(),
            "{args:?}: nothing on stderr, no panic: {err}"
        );
    }
}

#[test]
fn list_filters_every_dimension_and_prints_each_format() {
    let (_server, _dir, url) = ledger(&[]);
    let parent = create(&url, &["--title", "release, \"big\" one"]);
    let child = create(
        &url,
        &[
            "--parent",
            &parent,
            "--assigned-to",
            "bob",
            "--status",
            "active",
        ],
    );
    let test_row = create(&url, &["--test"]);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "--output", "jsonl"];
        all.extend_from_slice(args);
        let (code, out, err) = vtid_cmd(&url, &all);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["vtid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        ids(&[]),
        [child.clone(), parent.clone()],
        "newest first, test rows left out"
    );
    assert_eq!(ids(&["--include-test"]).len(), 3);
    assert!(ids(&["--include-test"]).contains(&test_row));
    assert_eq!(ids(&["--status", "active"]), std::slice::from_ref(&child));
    assert_eq!(ids(&["--assigned-to", "bob"]), std::slice::from_ref(&child));
    assert_eq!(ids(&["--parent", &parent]), std::slice::from_ref(&child));
    assert_eq!(ids(&["--family", "deploy", "--tenant", "acme"]).len(), 2);
    assert_eq!(ids(&["--tenant", "umbrella"]), Vec::<String>::new());
    assert_eq!(
        ids(&["--year", &year().to_string(), "--limit", "1"]),
        std::slice::from_ref(&child)
    );
    let (_, csv, _) = vtid_cmd(&url, &["list", "--output", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "VTID,STATUS,FAMILY,TYPE,TENANT,ASSIGNED,TITLE");
    assert_eq!(
        lines[2],
        format!("{parent},pending,deploy,release,acme,,\"release, \"\"big\"\" one\"")
    );
    let (_, array, _) = vtid_cmd(&url, &["list", "--output", "json"]);
    let array: Value = serde_json::from_str(&array).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 2);
    let (_, empty, _) = vtid_cmd(&url, &["list", "--output", "json", "--tenant", "none"]);
    assert_eq!(empty, "[]");
    let (_, table, _) = vtid_cmd(&url, &["list", "--output", "table"]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].starts_with("VTID") && rows[0].contains("ASSIGNED"),
        "{table}"
    );
    assert!(
        rows[1].starts_with(&child) && rows[1].contains("bob"),
        "{table}"
    );
}

#[test]
fn health_completions_and_help() {
    let (_server, _dir, url) = ledger(&[]);
    let (code, out, err) = vtid_cmd(&url, &["health"]);
    assert_eq!(code, 0, "{err}");
    let health: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(health["service"], "vtid-ledger");
    let (code, _, err) = vtid_cmd(
        &format!("http://127.0.0.1:{}", free_port()),
        &["--timeout", "3s", "health"],
    );
    assert_eq!(code, 5, "{err}");
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            script.contains("vtid") && script.contains("wait"),
            "{shell}"
        );
    }
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains(vtid_cli::exit::TABLE), "{help}");
    let pipelines =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pipelines.md"))
            .unwrap();
    assert!(
        pipelines.contains(vtid_cli::exit::TABLE),
        "docs/pipelines.md shows the exit codes exactly as vtid --help does"
    );
    let help = Command::new(BIN)
        .args(["exists", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout)
            .contains("possible values: pending, active, blocked, complete, failed, cancelled")
    );
}

#[test]
fn import_cannot_go_to_the_wrong_place() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.jsonl");
    std::fs::write(
        &rows,
        format!(
            "{}\n",
            json!({"vtid": "VTID-2025-0007", "task_family": "deploy", "task_type": "release",
                   "description": "old", "status": "complete", "tenant": "acme",
                   "created_at": "2025-01-02 10:00:00"})
        ),
    )
    .unwrap();
    let import = |args: &[&str]| {
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .args(["import", "--file", rows.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A client flag is refused, not ignored.
    let (code, _, err) = import(&["--url", "http://127.0.0.1:8787"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("never through the API, so it does not take --url"),
        "{err}"
    );
    assert!(!dir.path().join(".vtid").exists(), "nothing was created");
    // A folder without a ledger (a typo) is refused unless --init.
    let ledger = dir.path().join("ledger");
    let (code, _, err) = import(&["--data", ledger.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("holds no ledger") && err.contains("--init"),
        "{err}"
    );
    assert!(!ledger.exists(), "no new ledger was started");
    // A dry run writes nothing, not even the new ledger.
    let (code, out, err) = import(&["--data", ledger.to_str().unwrap(), "--init", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("1 would be imported") && out.contains("nothing was written"),
        "{out}"
    );
    assert!(!ledger.exists());
    let (code, out, err) = import(&["--data", ledger.to_str().unwrap(), "--init"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("1 imported"), "{out}");
    assert!(
        err.contains(&format!(
            "import: writing to embedded store {}",
            ledger.join("ledger.sqlite3").display()
        )),
        "the store is named before writing: {err}"
    );
    // Against the existing ledger, a dry run compares without writing.
    let (code, out, err) = import(&["--data", ledger.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("0 would be imported, 1 already present"),
        "{out}"
    );
    let server = Server::start(&["--data", ledger.to_str().unwrap()]);
    let (_, list) = server.call("GET", "/vtid/list?year=2025", None, &[]);
    assert_eq!(list["count"], 1);
}

/// What a server sends never reaches the terminal as control characters: a child whose
/// description holds a carriage return, a fake `[complete]` line and a right-to-left
/// override shows as one literal line in `tree`; `get --field` into a pipe stays raw for
/// scripts.
#[test]
fn text_from_the_ledger_is_printed_literally() {
    let (_server, _dir, url) = ledger(&[]);
    let parent = create(&url, &[]);
    let fake = "ok\r  VTID-2026-9999 [complete] all good\u{202e}";
    let (code, child, err) = vtid_cmd(
        &url,
        &[
            "create",
            "--family",
            "deploy",
            "--type",
            "step",
            "--tenant",
            "acme",
            "--parent",
            &parent,
            "--description",
            fake,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = vtid_cmd(&url, &["tree", &parent]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains(['\r', '\u{202e}']),
        "control characters reached the terminal: {out:?}"
    );
    assert!(
        out.contains(r"ok\r  VTID-2026-9999 [complete] all good\u{202e}"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "one line a record: {out}");
    let (code, raw, err) = vtid_cmd(&url, &["get", &child, "--field", "description"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        raw.contains('\r'),
        "a pipe gets the value as stored: {raw:?}"
    );
}

/// The CLI reads JSON as the API does: what `curl` would get a 400 for is refused before
/// anything is sent, and a batch file names every bad line at its own line.
#[test]
fn json_the_api_would_refuse_is_refused_and_every_bad_line_named() {
    let (_server, dir, url) = ledger(&[]);
    for (metadata, says) in [
        (
            r#"{"n":123456789012345678901234567890}"#,
            "n is the number 123456789012345678901234567890, which cannot be stored exactly",
        ),
        (
            r#"{"n":0.10000000000000000001}"#,
            "cannot be stored exactly",
        ),
        (r#"{"x":1,"x":2}"#, "x is given more than once"),
        (r#"{"x":"#, "not valid JSON at line 1, column 5"),
    ] {
        let (code, out, err) = vtid_cmd(&url, &create_args("acme", &["--metadata", metadata]));
        assert_eq!(code, 2, "{metadata}: {out}{err}");
        assert!(err.contains("--metadata: ") && err.contains(says), "{err}");
    }
    let file = dir.path().join("batch.jsonl");
    let good = r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme"}"#;
    let twice = r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","metadata":{"x":1,"x":2}}"#;
    let broken = r#"{"taskFamily":"f", oops}"#;
    std::fs::write(&file, format!("{good}\n{twice}\n\n{broken}\n")).unwrap();
    let (code, out, err) = vtid_cmd(&url, &["batch", "--file", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("2 problems; nothing was sent"), "{err}");
    assert!(
        err.contains("line 2: metadata.x is given more than once"),
        "{err}"
    );
    assert!(err.contains("line 4, column 20: not valid JSON"), "{err}");
    let (code, listed, _) = vtid_cmd(&url, &["list", "--output", "json"]);
    assert_eq!((code, listed.as_str()), (0, "[]"), "nothing was created");
}

/// Help says what each flag is and which values it takes; messages are alike across
/// commands; client flags are not offered where they are refused; with --json even a
/// usage error is JSON.
#[test]
fn help_and_messages_say_what_to_do() {
    let help = |args: &[&str]| {
        let (code, out, err) = vtid(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let create_help = help(&["create", "--help"]);
    for said in [
        "The kind of work",
        "The kind of task within the family",
        "What the task is",
        "Needed when the caller has no tenant",
    ] {
        assert!(create_help.contains(said), "{said}: {create_help}");
    }
    assert!(help(&["batch", "--help"]).contains("The file of create bodies"));
    let watch = help(&["watch", "--help"]);
    assert!(
        watch.contains("[possible values: pending, active, blocked, complete, failed, cancelled]"),
        "{watch}"
    );
    let (code, _, err) = vtid(&["watch", "--status", "done"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values: pending"), "{err}");
    for command in ["serve", "import", "repair", "token"] {
        let text = help(&[command, "--help"]);
        for flag in ["--url", "--token ", "--timeout", "--transport"] {
            assert!(!text.contains(flag), "{command} --help offers {flag}");
        }
    }
    let (code, _, err) = vtid(&["--json", "list", "--year", "99999"]);
    assert_eq!(code, 2, "{err}");
    let body: Value = serde_json::from_str(err.trim()).expect(&err);
    assert_eq!(body["code"], "usage");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("must be a four-digit year from 1970")),
        "{body}"
    );

    let (server, _dir, url) = ledger(&[]);
    let (code, _, err) = vtid_cmd(&url, &["exists", "VTID-2026-9999"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("VTID-2026-9999 does not exist (404 not_found)"),
        "{err}"
    );
    let v = create(&url, &[]);
    let (code, _, err) = vtid_cmd(
        &url,
        &["update", &v, "--status", "active", "--if-match", "*"],
    );
    assert_eq!(code, 0, "If-Match * as the API takes it: {err}");
    let (status, body) = server.call("GET", "/vtid/nothing/here/at/all", None, &[]);
    assert_eq!((status, body["code"].as_str()), (404, Some("no_route")));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("/vtid/events (vtid serve only)")),
        "{body}"
    );
}

/// A deploy gate's call can be followed into the ledger: the CLI continues the trace of
/// its environment's TRACEPARENT as a child span, and the server logs the request with
/// that trace.
#[test]
fn a_calls_trace_is_continued_into_the_ledgers_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut server = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path().join("ledger"))
        .arg("--init")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    wait_for(
        "the traced request in the log",
        Duration::from_secs(20),
        || {
            let _ = Command::new(BIN)
                .args(["--url", &url, "list"])
                .env("TRACEPARENT", parent)
                .output();
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("request traced"))
        },
    );
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("request traced"))
        .expect("a traced request");
    assert!(
        line.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736"),
        "{line}"
    );
    assert!(
        !line.contains("00f067aa0ba902b7"),
        "a child span of its own: {line}"
    );
}
