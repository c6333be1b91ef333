//! Hostile callers (issue 9) against the real `vtid serve`, over raw TCP: malformed
//! requests, oversized targets, headers and bodies, slow and idle connections, too many
//! connections, and tokens an attacker would forge. Every answer is asserted by status,
//! code and a small JSON body; nothing refused is written.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::http::Answer;
use common::tokens::{HS256, secret_file, signed};
use common::{Server, bearer, in_an_hour, rec};
use serde_json::{Value, json};

/// Reads until the server closes the connection; true when it did (not a client timeout).
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn count(server: &Server, auth: &[(&str, &str)]) -> Value {
    server
        .send("GET", "/vtid/list?includeTest=true", auth, "")
        .body["count"]
        .clone()
}

#[test]
fn malformed_and_oversized_requests_get_json_errors() {
    let server = Server::fresh(&[]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "Content-Length: -1",
            b"POST /vtid/create HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a raw 0xFF in the path",
            b"GET /vtid/\xFF HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a control byte in a header",
            b"GET /vtid/list HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x01b\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a broken chunked body",
            b"POST /vtid/create HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
                .to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a 100 KB request target",
            format!("GET /vtid/list?a={} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(100_000))
                .into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "a 10 KB request target",
            format!("GET /vtid/list?a={} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(10_000))
                .into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "a 20 KB header section",
            format!(
                "GET /vtid/list HTTP/1.1\r\nHost: localhost\r\nX-A: {0}\r\nX-B: {0}\r\n\r\n",
                "b".repeat(10_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "a 1 MB header",
            format!("GET /vtid/list HTTP/1.1\r\nHost: localhost\r\nX-A: {}\r\n\r\n", "b".repeat(1 << 20))
                .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "101 headers",
            format!(
                "GET /vtid/list HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                (0..101).map(|i| format!("X-{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (what, bytes, status, code) in cases {
        let answer = server.raw(&bytes);
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        answer.refused(status, code);
        assert!(
            answer.head.contains("connection: close"),
            "{what}: {answer:?}"
        );
    }
    // Raw UTF-8 in the target is read as its percent-encoded form would be, then checked.
    server
        .raw("GET /vtid/VTID-2026-00\u{e9} HTTP/1.1\r\nHost: localhost\r\n\r\n".as_bytes())
        .refused(400, "invalid_vtid");
    // A body declared past the limit is answered at once, before any of it is sent.
    let mut s = server.connect();
    s.write_all(
        b"POST /vtid/batch HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000000\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let answer = Answer::parse(&out);
    answer.refused(413, "payload_too_large");
    assert!(answer.head.contains("connection: close"));
    // Strict JSON over HTTP too.
    let dup =
        r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","tenant":"globex"}"#;
    let answer = server.send("POST", "/vtid/create", &[], dup);
    answer.refused(400, "invalid_payload");
    assert_eq!(answer.body["details"][0]["field"], "tenant");
    // The server is still serving, and nothing was created.
    assert_eq!(count(&server, &[]), 0);
    assert_eq!(
        server
            .send("POST", "/vtid/create", &[], &rec("acme").to_string())
            .status,
        201
    );
}

#[test]
fn slow_and_idle_connections_are_closed() {
    let server = Server::fresh(&["--header-timeout", "1"]);
    // A request head that never ends.
    let mut slow = server.connect();
    slow.write_all(b"GET /vtid/list HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    assert!(closed_by_server(&mut slow), "a partial head was kept open");
    // A connection that never sends anything.
    let mut silent = server.connect();
    assert!(
        closed_by_server(&mut silent),
        "a silent connection was kept open"
    );
    // A keep-alive connection, idle after its answer.
    let mut idle = server.connect();
    let answer = health_kept_alive(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed_by_server(&mut idle),
        "an idle keep-alive connection was kept open"
    );
}

/// Sends a keep-alive health check on `conn` and reads its answer (up to the end of a
/// health body, or until the server closes the connection).
fn health_kept_alive(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET /vtid/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"service\"") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A connection that holds one of the server's slots: its keep-alive request was served
/// (a connection past the cap is answered 503 and closed). The harness's own readiness
/// probe may hold a slot for a moment, so a 503 here is tried again.
fn hold_slot(server: &Server) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut conn = server.connect();
        let answer = health_kept_alive(&mut conn);
        if answer.starts_with("HTTP/1.1 200") {
            return conn;
        }
        assert!(Instant::now() < deadline, "no slot to hold: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_past_the_cap_are_answered_503() {
    let server = Server::fresh(&["--max-connections", "2", "--header-timeout", "60"]);
    let held: Vec<TcpStream> = (0..2).map(|_| hold_slot(&server)).collect();
    let answer = server.send("GET", "/vtid/list", &[], "");
    answer.refused(503, "unavailable");
    assert!(answer.head.contains("retry-after: 1"), "{answer:?}");
    for s in &held {
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(held);
    // The slots come back once those connections are gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = server.send("GET", "/vtid/list", &[], "");
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tokens_and_their_claims_are_read_strictly() {
    let server = Server::fresh(&["--jwt-hs256-secret-file", &secret_file()]);
    let admin = bearer(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    // The scheme in any case; Authorization twice is refused.
    let raw_admin = admin.trim_start_matches("Bearer ");
    for scheme in ["bearer", "BEARER"] {
        let auth = format!("{scheme} {raw_admin}");
        let answer = server.send("GET", "/vtid/audit", &[("Authorization", &auth)], "");
        assert_eq!(answer.status, 200, "{scheme}: {answer:?}");
    }
    let user = bearer(json!({"sub": "alice", "tenant": "acme", "exp": in_an_hour()}));
    let answer = server.send(
        "GET",
        "/vtid/audit",
        &[("Authorization", &user), ("Authorization", &admin)],
        "",
    );
    answer.refused(400, "invalid_payload");
    assert_eq!(answer.body["details"][0]["field"], "Authorization");
    // Time claims of the wrong type or out of range, and crit: 401.
    let now = chrono::Utc::now().timestamp();
    for (name, value) in [
        ("exp", json!(-1)),
        ("exp", json!("0")),
        ("exp", json!("1600000000")),
        ("exp", json!(true)),
        ("exp", json!([])),
        ("exp", json!({})),
        ("nbf", json!("9999999999")),
        ("nbf", json!(18446744073709551616.0)),
        ("iat", json!(-1)),
        ("exp", json!(now - 1)),
        ("nbf", json!(now + 3600)),
    ] {
        let mut claims = json!({"sub": "mallory", "role": "admin"});
        claims[name] = value.clone();
        let answer = server.send(
            "GET",
            "/vtid/audit",
            &[("Authorization", &bearer(claims))],
            "",
        );
        answer.refused(401, "unauthenticated");
        assert!(answer.raw.len() < 512, "{name}: {value}");
    }
    let crit = signed(
        r#"{"alg":"HS256","crit":["urn:example:must-understand"],"urn:example:must-understand":1}"#,
        &json!({"sub": "mallory", "role": "admin"}).to_string(),
    );
    let answer = server.send(
        "GET",
        "/vtid/audit",
        &[("Authorization", &format!("Bearer {crit}"))],
        "",
    );
    answer.refused(401, "unauthenticated");
    let dup = signed(HS256, r#"{"sub":"mallory","role":"user","role":"admin"}"#);
    let answer = server.send(
        "GET",
        "/vtid/audit",
        &[("Authorization", &format!("Bearer {dup}"))],
        "",
    );
    answer.refused(401, "unauthenticated");
    // Claims of the wrong JSON type are a malformed identity, never stringified.
    for claims in [
        json!({"sub": "mallory", "role": {"admin": false}}),
        json!({"sub": "mallory", "role": [{"admin": true}]}),
        json!({"sub": "mallory", "role": "admin", "tenant": true}),
        json!({"sub": "mallory", "role": "admin", "tenant": 7}),
        json!({"sub": "mal\u{0}lory", "role": "admin"}),
        json!({"sub": "mal\nlory", "role": "admin"}),
        json!({"sub": 42, "role": "admin"}),
    ] {
        let auth = bearer(claims.clone());
        let answer = server.send("GET", "/vtid/audit", &[("Authorization", &auth)], "");
        answer.refused(403, "forbidden");
        let answer = server.send(
            "POST",
            "/vtid/create",
            &[("Authorization", &auth)],
            &rec("acme").to_string(),
        );
        answer.refused(403, "forbidden");
    }
    // A null tenant is no tenant, not the tenant "null".
    let nameless = bearer(json!({"sub": "drifter", "tenant": null}));
    let answer = server.send(
        "POST",
        "/vtid/create",
        &[("Authorization", &nameless)],
        r#"{"taskFamily":"f","taskType":"t","description":"d"}"#,
    );
    answer.refused(400, "invalid_payload");
    assert_eq!(answer.body["details"][0]["field"], "tenant");
    let answer = server.send(
        "POST",
        "/vtid/create",
        &[("Authorization", &nameless)],
        &rec("null").to_string(),
    );
    answer.refused(403, "forbidden");
    // An array of strings is a role.
    let service = bearer(json!({"sub": "ci", "role": ["users", "service"]}));
    let answer = server.send(
        "POST",
        "/vtid/create",
        &[("Authorization", &service)],
        &rec("acme").to_string(),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["data"]["createdBy"], "ci");
    assert_eq!(
        count(&server, &[("Authorization", &admin)]),
        1,
        "only the service created"
    );
}

/// Without tokens every caller is the admin, so a page of another site must not write
/// (`Origin`, `Sec-Fetch-Site`: what a browser adds to a `no-cors` `text/plain` POST) and
/// a name rebound to loopback must not read (`Host`); programs, the server's own page
/// and a name given with `--allowed-host` go on as before. With tokens none of this
/// applies: a browser never adds a bearer token by itself.
#[test]
fn other_sites_pages_and_rebound_names_are_refused_without_tokens() {
    let server = Server::fresh(&["--allowed-host", "ledger.test"]);
    let own = format!("http://localhost:{}", server.port);
    for headers in [
        vec![
            ("Origin", "http://evil.example"),
            ("Content-Type", "text/plain"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![
            ("Origin", "http://localhost:3000"),
            ("Sec-Fetch-Site", "same-site"),
        ],
    ] {
        let answer = server.send("POST", "/vtid/create", &headers, &rec("acme").to_string());
        answer.refused(403, "forbidden");
        assert!(
            answer.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("another site")),
            "{answer:?}"
        );
    }
    assert_eq!(count(&server, &[]), 0, "nothing refused is written");
    let rebound = server.raw(
        b"GET /vtid/list HTTP/1.1\r\nHost: rebind.evil.example:8787\r\nConnection: close\r\n\r\n",
    );
    rebound.refused(403, "forbidden");
    assert!(
        rebound.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--allowed-host")),
        "{rebound:?}"
    );
    let own_page = [("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let answer = server.send("POST", "/vtid/create", &own_page, &rec("acme").to_string());
    assert_eq!(answer.status, 201, "the server's own page: {answer:?}");
    let answer = server.send("POST", "/vtid/create", &[], &rec("acme").to_string());
    assert_eq!(answer.status, 201, "a program: {answer:?}");
    let told = format!(
        "GET /vtid/list HTTP/1.1\r\nHost: LEDGER.test:{}\r\nConnection: close\r\n\r\n",
        server.port
    );
    let answer = server.raw(told.as_bytes());
    assert_eq!(answer.status, 200, "an allowed name: {answer:?}");
    assert_eq!(answer.body["count"], 2);

    let tokens = Server::fresh(&["--jwt-hs256-secret-file", &secret_file()]);
    let admin = bearer(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    let answer = tokens.send(
        "POST",
        "/vtid/create",
        &[("Authorization", &admin), ("Origin", "http://evil.example")],
        &rec("acme").to_string(),
    );
    assert_eq!(answer.status, 201, "with tokens: {answer:?}");
}

/// On a token server a caller with no token is answered 401 from the request head: its
/// body is not waited for, so a stranger cannot hold connections by trickling bodies.
#[test]
fn a_caller_without_a_token_is_refused_before_its_body_is_read() {
    let server = Server::fresh(&["--jwt-hs256-secret-file", &secret_file()]);
    let mut s = server.connect();
    // The head promises a body that never comes.
    s.write_all(
        b"POST /vtid/create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let answer = Answer::parse(&out);
    answer.refused(401, "unauthenticated");
    assert!(answer.head.contains("connection: close"), "{answer:?}");
    // The same with a token is served as before.
    let admin = bearer(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    let answer = server.send(
        "POST",
        "/vtid/create",
        &[("Authorization", &admin)],
        &rec("acme").to_string(),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(count(&server, &[("Authorization", &admin)]), 1);
}

/// Opens `GET /vtid/events` with `auth` and reads the answer's head; the connection stays
/// open for a stream.
fn open_stream(server: &Server, auth: &str) -> (TcpStream, String) {
    stream_on(server.connect(), auth, "")
}

/// Sends the events request with `auth` and `extra` headers on `s` and reads the head.
fn stream_on(mut s: TcpStream, auth: &str, extra: &str) -> (TcpStream, String) {
    let req = format!(
        "GET /vtid/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n{extra}\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).to_lowercase())
}

/// One caller holds at most four event streams, and the refusal says what is full; an
/// admin still gets one; and a stream ends when its caller's token expires, not ten
/// minutes later.
#[test]
fn one_caller_cannot_hold_every_event_stream_and_a_stream_ends_with_its_token() {
    let server = Server::fresh(&["--jwt-hs256-secret-file", &secret_file()]);
    let user = bearer(json!({"sub": "bob", "tenant": "globex", "exp": in_an_hour()}));
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let (s, head) = open_stream(&server, &user);
            assert!(head.starts_with("http/1.1 200"), "{head}");
            s
        })
        .collect();
    let (mut s, head) = open_stream(&server, &user);
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let mut body = Vec::new();
    let _ = s.read_to_end(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("4 event streams open")),
        "says what is full, not that the store failed: {body}"
    );
    let admin = bearer(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    let (_admin_stream, head) = open_stream(&server, &admin);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    drop(held);

    let soon = chrono::Utc::now().timestamp() + 2;
    let short = bearer(json!({"sub": "carol", "tenant": "acme", "exp": soon}));
    let (mut s, head) = open_stream(&server, &short);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert!(
        closed_by_server(&mut s),
        "the stream ended when its token expired"
    );
}

/// A stream whose reader never reads gives its place back once a frame has waited
/// `SEND_TIMEOUT` (30 s): four such streams of one caller, each with more events queued
/// than the sockets hold, stop counting against it, while their connections stay open.
#[test]
fn streams_that_never_read_give_their_places_back() {
    let server = Server::fresh(&["--jwt-hs256-secret-file", &secret_file()]);
    let admin = bearer(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    // About 2 KB an event (four-byte characters in every text field the event carries):
    // 3,000 events are more than a loopback socket's buffers hold (4 MiB to send).
    let wide = |n: usize| "\u{1F4E6}".repeat(n);
    let item = json!({"taskFamily": wide(64), "taskType": wide(64), "title": wide(200),
        "assignedTo": wide(128), "description": "d", "tenant": "globex"});
    let batch = json!({"items": vec![item; 50]}).to_string();
    for _ in 0..60 {
        let res = server.send("POST", "/vtid/batch", &[("Authorization", &admin)], &batch);
        assert_eq!(res.status, 201, "{res:?}");
    }
    let user = bearer(json!({"sub": "bob", "tenant": "globex", "exp": in_an_hour()}));
    let open = |auth: &str| {
        // A receive buffer of 1 KiB, set before connecting, so the window stays small.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let to = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
        socket.connect(&to.into()).unwrap();
        stream_on(socket.into(), auth, "Last-Event-ID: 0\r\n")
    };
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let (s, head) = open(&user);
            assert!(head.starts_with("http/1.1 200"), "{head}");
            s
        })
        .collect();
    let (_, head) = open(&user);
    assert!(
        head.starts_with("http/1.1 503"),
        "four streams held: {head}"
    );
    // The held streams never read again; their places come back within the send timeout
    // (and well before the 10-minute lifetime).
    let deadline = Instant::now() + Duration::from_secs(120);
    let freed = loop {
        std::thread::sleep(Duration::from_secs(2));
        let (_s, head) = open(&user);
        if head.starts_with("http/1.1 200") {
            break true;
        }
        assert!(head.starts_with("http/1.1 503"), "{head}");
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(freed, "a stream that never reads still holds its place");
    drop(held);
}

/// Answers on one kept-alive connection stay whole after a HEAD of the page, whose head
/// announces the file's length but whose body hyper never writes. Each answer is read
/// while the connection stays open, as a client that reuses it would.
#[test]
fn answers_after_a_head_of_the_page_are_whole() {
    let server = Server::fresh(&[]);
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for (method, path, status) in [
        ("HEAD", "/index.html", 200),
        ("HEAD", "/index.html", 200),
        ("TRACE", "/ui/app.js", 405),
        ("QUERY", "/ui/app.js", 405),
        ("PUT", "/ui/app.js", 405),
        ("GET", "/vtid/health", 200),
        ("HEAD", "/vtid/list", 405),
        ("GET", "/ui/app.css", 200),
    ] {
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        // Read until the head and the body its Content-Length announces (none for HEAD).
        let (head, body) = loop {
            let n = s.read(&mut buf).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: {e} after {:?}",
                    String::from_utf8_lossy(&got)
                )
            });
            assert!(
                n > 0,
                "{method} {path}: closed after {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let length: Option<usize> = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse().ok());
            let want = match (method, length) {
                ("HEAD", _) => 0,
                (_, Some(n)) => n,
                (_, None) => panic!("{method} {path}: no Content-Length in {head}"),
            };
            if got.len() >= end + 4 + want {
                assert_eq!(
                    got.len(),
                    end + 4 + want,
                    "{method} {path}: bytes past the answer"
                );
                break (head, got[end + 4..].to_vec());
            }
        };
        assert!(
            head.starts_with(&format!("http/1.1 {status}")),
            "{method} {path}: {head}"
        );
        if method != "HEAD" && (path.starts_with("/vtid") || status == 405) {
            let json: Value = serde_json::from_slice(&body).expect("a whole JSON body");
            assert!(json["ok"].is_boolean(), "{method} {path}: {json}");
        }
    }
}
