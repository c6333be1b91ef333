//! `kill -9` of `vtid serve` while 16 clients create: after a restart on the same data
//! folder, every VTID a client was told about exists, the audit is clean, and the
//! sequence continues.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BIN, Server, http, rec};
use serde_json::json;

#[test]
fn a_killed_server_loses_no_acknowledged_create() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(dir.path(), &[]);
    let port = server.port;
    let told: Arc<Mutex<Vec<String>>> = Arc::default();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let told = told.clone();
            std::thread::spawn(move || {
                let body = json!({"taskFamily": format!("c{c}"), "taskType": "t",
                                  "description": "d", "tenant": "acme"});
                // Until the server dies under it.
                while let Ok((status, _, res)) = http::call(
                    port,
                    Duration::from_secs(20),
                    "POST",
                    "/vtid/create",
                    Some(&body),
                    &[],
                ) {
                    // A kill between the answer's head and its body tells the client
                    // nothing: no VTID was read.
                    let Some(vtid) = res["vtid"].as_str().filter(|_| status == 201) else {
                        break;
                    };
                    told.lock().unwrap().push(vtid.to_owned());
                }
            })
        })
        .collect();
    while told.lock().unwrap().len() < 150 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let told = told.lock().unwrap().clone();
    let server = Server::on(dir.path(), &[]);
    for v in &told {
        let (status, res) = server.call("GET", &format!("/vtid/{v}"), None, &[]);
        assert_eq!(
            (status, res["data"]["vtid"].as_str()),
            (200, Some(v.as_str())),
            "{v} was lost"
        );
    }
    let (_, audit) = server.call("GET", "/vtid/audit", None, &[]);
    let audit = &audit["data"];
    assert_eq!(audit["missing"], json!([]), "{audit}");
    assert_eq!(audit["duplicates"], json!([]));
    assert_eq!(audit["aboveCounter"], json!([]));
    let counter = audit["counter"].as_u64().unwrap();
    assert!(counter >= told.len() as u64);
    let (status, next) = server.call("POST", "/vtid/create", Some(rec("acme")), &[]);
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
}

/// `vtid wait` rides out a restart of the ledger: the gate keeps waiting through refused
/// connections and exits 0 once the record reaches its status after the restart, and
/// says once why it waited.
#[test]
fn wait_rides_out_a_restart_of_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(dir.path(), &[]);
    let port = server.port;
    let (status, created) = server.call(
        "POST",
        "/vtid/create",
        Some(
            json!({"taskFamily": "deploy", "taskType": "release", "description": "d",
                     "tenant": "acme", "status": "active"}),
        ),
        &[],
    );
    assert_eq!(status, 201, "{created}");
    let vtid = created["vtid"].as_str().unwrap().to_owned();
    let waiter = std::process::Command::new(BIN)
        .args(["--url", &server.url(), "--timeout", "60s", "wait", &vtid])
        .args(["--status", "complete", "--interval", "200ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    server.kill9();
    // Down longer than the client's own retries last (at most about 3 s), so only the
    // wait's riding out can keep the gate alive: connections are refused meanwhile.
    std::thread::sleep(Duration::from_secs(6));
    let server = Server::restart_on(dir.path(), port, &[]);
    let (status, _) = server.call(
        "PATCH",
        &format!("/vtid/{vtid}"),
        Some(json!({"status": "complete"})),
        &[],
    );
    assert_eq!(status, 200);
    let out = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("still waiting").count(),
        1,
        "the outage is said once: {err}"
    );
}
