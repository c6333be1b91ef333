//! `kill -9` of `vtid serve` while 16 clients create: after a restart on the same data
//! folder, every VTID a client was told about exists, the audit is clean, and the
//! sequence continues.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_vtid");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data: &str, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            data,
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok((200, _)) = call(port, "GET", "/vtid/health", None) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("vtid serve did not start");
}

/// One request on its own connection: the status and the JSON body.
fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

#[test]
fn a_killed_server_loses_no_acknowledged_create() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let port = free_port();
    let mut server = start(&data, port);
    let told: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let told = told.clone();
            std::thread::spawn(move || {
                let body = json!({"taskFamily": format!("c{c}"), "taskType": "t",
                                  "description": "d", "tenant": "acme"});
                // Until the server dies under it.
                while let Ok((status, res)) = call(port, "POST", "/vtid/create", Some(&body)) {
                    if status != 201 {
                        break;
                    }
                    told.lock()
                        .unwrap()
                        .push(res["vtid"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    while told.lock().unwrap().len() < 150 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    let told = told.lock().unwrap().clone();
    let port = free_port();
    let mut server = start(&data, port);
    for v in &told {
        let (status, res) = call(port, "GET", &format!("/vtid/{v}"), None).unwrap();
        assert_eq!(
            (status, res["data"]["vtid"].as_str()),
            (200, Some(v.as_str())),
            "{v} was lost"
        );
    }
    let (_, audit) = call(port, "GET", "/vtid/audit", None).unwrap();
    let audit = &audit["data"];
    assert_eq!(audit["missing"], json!([]), "{audit}");
    assert_eq!(audit["duplicates"], json!([]));
    assert_eq!(audit["aboveCounter"], json!([]));
    let counter = audit["counter"].as_u64().unwrap();
    assert!(counter >= told.len() as u64);
    let (status, next) = call(
        port,
        "POST",
        "/vtid/create",
        Some(&json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "acme"})),
    )
    .unwrap();
    assert_eq!(status, 201);
    let seq: u64 = next["vtid"]
        .as_str()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(seq, counter + 1, "the sequence continues");
    let _ = server.kill();
    let _ = server.wait();
}
