//! The `vtid` binary as a user runs it: `vtid serve` on loopback (restart, token
//! checking, DynamoDB) and `vtid import`, over real HTTP.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// A `--data` folder without a ledger is refused unless `--init` (a typo would start a
/// second ledger whose numbers restart at 0001); the default folder starts by itself, so
/// the first `vtid serve` works.
#[test]
fn serve_starts_a_ledger_only_where_it_is_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join(".vtdi2");
    let (code, _, err) = vtid(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data",
        typo.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("holds no ledger") && err.contains("--init"),
        "{err}"
    );
    assert!(!typo.exists(), "nothing was created");
    // --init starts one there; afterwards the folder is served without it.
    drop(Server::start(&["--data", typo.to_str().unwrap(), "--init"]));
    assert!(typo.join("ledger.sqlite3").is_file());
    let (mut again, _) = common::spawn::spawn_exact(0, &["--data", typo.to_str().unwrap()]);
    let _ = again.kill();
    let _ = again.wait();
    // The default folder, ./.vtid, starts by itself on the first run.
    let home = tempfile::tempdir().unwrap();
    let mut first_run = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(home.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ledger = home.path().join(".vtid/ledger.sqlite3");
    wait_for(
        "the default ledger",
        std::time::Duration::from_secs(20),
        || ledger.is_file(),
    );
    let _ = first_run.kill();
    let _ = first_run.wait();
}

#[test]
fn refuses_to_listen_beyond_loopback_without_token_checking() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (code, _, err) = vtid(&["serve", "--addr", "0.0.0.0:0", "--data", data]);
    assert_ne!(code, 0);
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
}

#[test]
fn a_restarted_server_keeps_every_record_and_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let first_two: Vec<String> = {
        let server = Server::start(&["--data", data]);
        (0..2)
            .map(|_| {
                let (status, body) = server.call("POST", "/vtid/create", Some(rec("acme")), &[]);
                assert_eq!(status, 201, "{body}");
                assert_eq!(
                    body["data"]["createdBy"], "local",
                    "the fixed local identity"
                );
                body["vtid"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let server = Server::start(&["--data", data]);
    for v in &first_two {
        let (status, body) = server.call("GET", &format!("/vtid/{v}"), None, &[]);
        assert_eq!(
            (status, body["data"]["vtid"].as_str()),
            (200, Some(v.as_str()))
        );
    }
    let (status, body) = server.call("POST", "/vtid/create", Some(rec("acme")), &[]);
    assert_eq!(status, 201);
    assert_eq!(body["vtid"], format!("VTID-{}-0003", year()));
    let (status, head, _) = server
        .try_call("DELETE", &format!("/vtid/{}", first_two[0]), None, &[])
        .unwrap();
    assert_eq!(status, 405);
    assert!(head.contains("allow:"));
}

#[test]
fn bearer_tokens_are_verified_and_their_claims_are_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--data",
        dir.path().to_str().unwrap(),
        "--jwt-hs256-secret-file",
        &fixture("hs256-test-secret"),
        "--jwks-file",
        &fixture("jwks.json"),
    ]);
    let bearer = |t: &str| format!("Bearer {t}");
    let user = hs256(json!({"sub": "alice", "tenant": "acme", "exp": in_an_hour()}));
    let (status, body) = server.call(
        "POST",
        "/vtid/create",
        Some(rec("acme")),
        &[("Authorization", &bearer(&user))],
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["createdBy"], "alice");
    let (status, body) = server.call(
        "POST",
        "/vtid/create",
        Some(rec("umbrella")),
        &[("Authorization", &bearer(&user))],
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let admin = hs256(json!({"sub": "root", "role": "admin", "exp": in_an_hour()}));
    let (status, _) = server.call(
        "POST",
        "/vtid/create",
        Some(rec("umbrella")),
        &[("Authorization", &bearer(&admin))],
    );
    assert_eq!(status, 201);
    // A token without exp is accepted (exp is checked whenever present).
    let no_exp = hs256(json!({"sub": "bob", "tenant": "acme"}));
    let (status, body) = server.call(
        "GET",
        "/vtid/list",
        None,
        &[("Authorization", &bearer(&no_exp))],
    );
    assert_eq!(status, 200, "{body}");
    // The secret file ends with a newline; a token signed with it included is accepted too.
    let raw_secret = std::fs::read(fixture("hs256-test-secret")).unwrap();
    assert!(raw_secret.ends_with(b"\n"));
    let with_newline = tokens::signed_with(
        &raw_secret,
        tokens::HS256,
        &json!({"sub": "carol", "exp": in_an_hour()}).to_string(),
    );
    assert_eq!(
        server
            .call(
                "GET",
                "/vtid/list",
                None,
                &[("Authorization", &bearer(&with_newline))]
            )
            .0,
        200
    );
    // A signed token whose `sub` is not a string is a malformed identity: 403, as on
    // API Gateway's path and as the claim rules say.
    for sub in [json!(["eve"]), json!({"name": "eve"}), json!(7)] {
        let odd = hs256(json!({"sub": sub, "tenant": "acme", "exp": in_an_hour()}));
        let (status, body) = server.call(
            "GET",
            "/vtid/list",
            None,
            &[("Authorization", &bearer(&odd))],
        );
        assert_eq!(
            (status, &body["code"]),
            (403, &json!("forbidden")),
            "{sub}: {body}"
        );
    }

    let wrong_key = tokens::signed_with(
        b"another secret of more than thirty-two bytes",
        tokens::HS256,
        &json!({"sub": "mallory", "role": "admin", "exp": in_an_hour()}).to_string(),
    );
    let expired = hs256(
        json!({"sub": "alice", "tenant": "acme", "exp": chrono::Utc::now().timestamp() - 3600}),
    );
    let not_yet = hs256(
        json!({"sub": "alice", "tenant": "acme", "nbf": in_an_hour(), "exp": in_an_hour() + 60}),
    );
    let no_sub = hs256(json!({"tenant": "acme", "role": "admin", "exp": in_an_hour()}));
    let b64 = |v: &Value| tokens::b64(&v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"sub": "root", "role": "admin", "exp": in_an_hour()}))
    );
    let mut tampered: Vec<String> = user.split('.').map(str::to_owned).collect();
    tampered[1] =
        b64(&json!({"sub": "alice", "tenant": "acme", "role": "admin", "exp": in_an_hour()}));
    let tampered = tampered.join(".");
    for (what, header) in [
        ("no token", None),
        ("wrong signature", Some(bearer(&wrong_key))),
        ("expired", Some(bearer(&expired))),
        ("not yet valid", Some(bearer(&not_yet))),
        ("no sub", Some(bearer(&no_sub))),
        ("alg none", Some(bearer(&alg_none))),
        ("tampered claims", Some(bearer(&tampered))),
        ("malformed header", Some(bearer("not-a.jwt"))),
        (
            "not bearer",
            Some(format!("Basic {}", "YWxhZGRpbjpvcGVuc2VzYW1l")),
        ),
    ] {
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        let (status, body) = server.call("POST", "/vtid/create", Some(rec("acme")), &headers);
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["code"], "unauthenticated", "{what}");
    }
    // RS256 through the JWKS file; an unknown key id is refused.
    let pem = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let rs = encode(
        &header,
        &json!({"sub": "oidc-user", "tenant": "acme", "exp": in_an_hour()}),
        &key,
    )
    .unwrap();
    let (status, body) = server.call(
        "POST",
        "/vtid/create",
        Some(rec("acme")),
        &[("Authorization", &bearer(&rs))],
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["createdBy"], "oidc-user");
    header.kid = Some("other-key".into());
    let unknown = encode(
        &header,
        &json!({"sub": "oidc-user", "exp": in_an_hour()}),
        &key,
    )
    .unwrap();
    assert_eq!(
        server
            .call(
                "GET",
                "/vtid/list",
                None,
                &[("Authorization", &bearer(&unknown))]
            )
            .0,
        401
    );
    // Health needs no identity, and a bad token does not spoil it (its route has no authorizer).
    assert_eq!(server.call("GET", "/vtid/health", None, &[]).0, 200);
    assert_eq!(
        server
            .call(
                "GET",
                "/vtid/health",
                None,
                &[("Authorization", "Bearer nonsense")]
            )
            .0,
        200
    );
    let (_, list) = server.call(
        "GET",
        "/vtid/list",
        None,
        &[("Authorization", &bearer(&admin))],
    );
    assert_eq!(list["count"], 3, "only the accepted calls created records");
}

fn write_lines(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn import(file: &Path, store: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("import")
        .arg("--file")
        .arg(file)
        .args(store)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seed_rows() -> Vec<Value> {
    vec![
        json!({"id": 1, "vtid": "VTID-2025-0001", "task_family": "deploy", "task_type": "release",
               "description": "first", "status": "complete", "tenant": "acme", "assigned_to": "alice",
               "metadata": {"pr": 12}, "parent_vtid": null, "created_at": "2025-01-02 10:00:00",
               "updated_at": "2025-01-02 12:00:00", "is_test": false}),
        json!({"id": 2, "vtid": "VTID-2025-0004", "task_family": "deploy", "task_type": "hotfix",
               "description": "child", "status": "active", "tenant": "acme", "assigned_to": null,
               "metadata": null, "parent_vtid": "VTID-2025-0001   ", "created_at": "2025-01-03T09:00:00Z",
               "updated_at": "2025-01-03T09:30:00+00:00"}),
        json!({"vtid": "VTID-YEAR-9999", "taskFamily": "govern", "taskType": "review",
               "description": "camelCase row", "status": "pending", "tenant": "umbrella",
               "createdAt": "2026-01-01T00:00:00Z"}),
    ]
}

fn rows_for_this_year() -> Vec<Value> {
    let y = year().to_string();
    seed_rows()
        .into_iter()
        .map(|mut r| {
            if let Some(v) = r["vtid"].as_str() {
                r["vtid"] = json!(v.replace("YEAR", &y));
            }
            r
        })
        .collect()
}

fn import_scenario(store: &[&str], serve: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.jsonl");
    // A file with bad rows imports nothing and names every bad line at once: a malformed
    // row, and a valid row whose parent exists nowhere.
    let mut bad = rows_for_this_year();
    bad.insert(1, json!({"vtid": "VTID-2025-42", "task_family": "x"}));
    let mut orphan = bad[0].clone();
    orphan["vtid"] = json!("VTID-2025-0007");
    orphan["parent_vtid"] = json!("VTID-2024-0099");
    bad.push(orphan);
    write_lines(&file, &bad);
    // Line 6: what the API would refuse is refused here too (a key given twice; a number
    // that would come back changed), not silently changed.
    let strict = r#"{"vtid": "VTID-2025-0008", "task_family": "f", "task_type": "t", "description": "d", "tenant": "acme", "created_at": "2025-01-01", "metadata": {"x": 1, "x": 2}}"#;
    let inexact = r#"{"vtid": "VTID-2025-0009", "task_family": "f", "task_type": "t", "description": "d", "tenant": "acme", "created_at": "2025-01-01", "metadata": {"n": 123456789012345678901234567890}}"#;
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}{strict}\n{inexact}\n")).unwrap();
    let (ok, out, err) = import(&file, store);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("line 2: "), "{err}");
    // Every problem of line 2, not only the first.
    assert!(
        err.contains("VTID-YYYY-NNNN") && err.contains("createdAt (created_at) is required"),
        "{err}"
    );
    let parent = err
        .find("line 5: parentVtid VTID-2024-0099 exists neither")
        .unwrap_or_else(|| panic!("{err}"));
    let twice = err
        .find("line 6: metadata.x is given more than once")
        .unwrap_or_else(|| panic!("{err}"));
    let changed = err
        .find("line 7: metadata.n is the number")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(parent < twice && twice < changed, "in line order: {err}");
    assert!(
        out.contains("0 imported") && out.contains("4 invalid"),
        "{out}"
    );

    write_lines(&file, &rows_for_this_year());
    let (ok, out, err) = import(&file, store);
    assert!(ok, "{out}{err}");
    assert!(out.contains("3 imported"), "{out}");
    let (ok, out, _) = import(&file, store);
    assert!(ok, "a rerun succeeds");
    assert!(
        out.contains("0 imported") && out.contains("3 already present"),
        "{out}"
    );

    let mut changed = rows_for_this_year();
    changed[0]["description"] = json!("rewritten history");
    write_lines(&file, &changed);
    let (ok, out, err) = import(&file, store);
    assert!(!ok, "a conflict makes the exit code non-zero");
    assert!(
        out.contains("1 conflicting")
            && err.contains("VTID-2025-0001 exists with other description; left alone"),
        "the conflict names the field: {out}{err}"
    );

    let server = Server::start(serve);
    let (_, first) = server.call("GET", "/vtid/VTID-2025-0001", None, &[]);
    assert_eq!(
        first["data"]["description"], "first",
        "the conflicting row was left alone"
    );
    assert_eq!(
        first["data"]["createdAt"], "2025-01-02T10:00:00.000Z",
        "zoneless times are UTC"
    );
    assert_eq!(first["data"]["durationSeconds"], 7200.0);
    let (_, hist) = server.call("GET", "/vtid/VTID-2025-0004/history", None, &[]);
    assert_eq!(hist["data"][0]["action"], "imported");
    let (status, next) = server.call("POST", "/vtid/create", Some(rec("acme")), &[]);
    assert_eq!(status, 201);
    assert_eq!(
        next["vtid"],
        format!("VTID-{}-10000", year()),
        "the counter moved past the import"
    );
    let (_, list) = server.call(
        "GET",
        &format!("/vtid/list?year={}&limit=2", year()),
        None,
        &[],
    );
    let order: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["vtid"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            format!("VTID-{}-10000", year()),
            format!("VTID-{}-9999", year())
        ]
    );
    let (_, audit) = server.call("GET", "/vtid/audit?year=2025", None, &[]);
    assert_eq!(audit["data"]["counter"], 4);
    assert_eq!(audit["data"]["skipped"], json!([[2, 3]]));
    assert_eq!(audit["data"]["missing"], json!([]));
}

#[test]
fn import_registers_seed_rows_idempotently_and_moves_the_counter_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    import_scenario(&["--data", data, "--init"], &["--data", data]);
}

#[test]
fn import_and_serve_on_dynamodb() {
    let named = std::env::var_os("VTID_TEST_DYNAMODB_ENDPOINT").is_some();
    if !skip::runs_with("import_and_serve_on_dynamodb", "moto's server", named) {
        return;
    }
    let endpoint = moto();
    let table = format!("vtid-cli-{}-{}", std::process::id(), free_port());
    let store = [
        "--dynamodb-endpoint",
        endpoint.as_str(),
        "--table",
        table.as_str(),
    ];
    // The server creates the table with the deployment's keys and indexes.
    {
        let mut args = store.to_vec();
        args.push("--create-table");
        let server = Server::start(&args);
        assert_eq!(server.call("GET", "/vtid/health", None, &[]).0, 200);
    }
    import_scenario(&store, &store);

    // A bad file never creates a table, even with --create-table: the good file after it
    // finds no table to write to.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.jsonl");
    let fresh = format!("{table}-fresh");
    let fresh_store = [
        "--dynamodb-endpoint",
        endpoint.as_str(),
        "--table",
        fresh.as_str(),
    ];
    let mut rows = rows_for_this_year();
    rows.push(json!({"vtid": "VTID-2025-42"}));
    write_lines(&file, &rows);
    let mut create = fresh_store.to_vec();
    create.push("--create-table");
    let (ok, out, err) = import(&file, &create);
    assert!(!ok && out.contains("1 invalid"), "{out}{err}");
    write_lines(&file, &rows_for_this_year());
    let (ok, out, err) = import(&file, &fresh_store);
    assert!(!ok, "the bad file created {fresh}: {out}{err}");
    assert!(err.contains(&fresh), "{err}");
}

#[test]
fn health_shows_the_store_gate_and_its_size_is_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start(&["--data", data, "--store-concurrency", "3"]);
    let (status, body) = server.call("GET", "/vtid/health", None, &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["checks"]["store"]["gate"],
        json!({"capacity": 3, "inUse": 0, "waiting": 0}),
        "{body}"
    );
    drop(server);
    let (code, _, err) = vtid(&["serve", "--data", data, "--store-concurrency", "0"]);
    assert_ne!(code, 0, "a gate of 0 would serve nobody");
    assert!(err.contains("--store-concurrency"), "{err}");
}

#[test]
fn repair_reports_a_ledger_with_nothing_missing_and_refuses_a_folder_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    {
        let server = Server::start(&["--data", data]);
        let (status, body) = server.call("POST", "/vtid/create", Some(rec("acme")), &[]);
        assert_eq!(status, 201, "{body}");
    }
    let (code, report, err) = vtid(&["repair", "--data", data, "--grace", "0s"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["missing"], 0, "{report}");
    assert_eq!(report["voided"], json!([]));
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = vtid(&["repair", "--data", empty.path().to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("holds no ledger"),
        "a typo in --data is not a repair of an empty ledger: {err}"
    );
    assert!(
        !empty.path().join("ledger.sqlite3").exists(),
        "and it creates nothing"
    );
}

#[test]
fn health_is_503_when_the_store_is_unreachable() {
    if !skip::runs_with(
        "health_is_503_when_the_store_is_unreachable",
        "the aws feature",
        cfg!(feature = "aws"),
    ) {
        return;
    }
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let server = Server::start_unready(&["--dynamodb-endpoint", &endpoint, "--table", "absent"]);
    let (status, head, body) = server.try_call("GET", "/vtid/health", None, &[]).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["checks"]["store"]["ok"], false);
    assert!(head.contains("retry-after:"), "{head}");
    let raw = body.to_string();
    assert!(
        !raw.contains("Dispatch") && !raw.contains("Sdk") && !raw.contains("127.0.0.1"),
        "{raw}"
    );
}

#[test]
fn the_client_commands_drive_a_running_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--data", dir.path().to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let epic_args = [
        "create",
        "--family",
        "deploy",
        "--type",
        "epic",
        "--description",
        "release 7",
        "--tenant",
        "acme",
        "--idempotency-key",
        "run-1",
    ];
    let (code, epic, err) = vtid_cmd(&url, &epic_args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(epic, format!("VTID-{}-0001", year()));
    let (_, again, _) = vtid_cmd(&url, &epic_args);
    assert_eq!(again, epic, "a retried pipeline step gets the same VTID");
    let (code, child, _) = vtid_cmd(
        &url,
        &create_args(
            "acme",
            &["--parent", &epic, "--metadata", "{\"db\":\"main\"}"],
        ),
    );
    assert_eq!(code, 0);
    assert_eq!(vtid_cmd(&url, &["exists", &child]).0, 0);
    assert_eq!(
        vtid_cmd(&url, &["exists", &format!("VTID-{}-0099", year())]).0,
        1
    );
    assert_eq!(
        vtid_cmd(&url, &["get", &format!("VTID-{}-0099", year())]).0,
        1
    );
    let (code, updated, err) = vtid_cmd(
        &url,
        &["update", &child, "--status", "active", "--if-match", "1"],
    );
    assert_eq!(code, 0, "{err}");
    let updated: Value = serde_json::from_str(&updated).unwrap();
    assert_eq!(
        (updated["status"].as_str(), updated["version"].as_u64()),
        (Some("active"), Some(2))
    );
    let (code, _, err) = vtid_cmd(&url, &["update", &child, "--status", "pending"]);
    assert_eq!(code, 4, "a refused move is a conflict");
    assert!(err.contains("invalid_transition"), "{err}");
    let (_, listed, _) = vtid_cmd(&url, &["list", "--family", "deploy", "--status", "active"]);
    assert_eq!(listed.lines().count(), 1);
    let (_, tree, _) = vtid_cmd(&url, &["tree", &epic]);
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines.len(), 2, "{tree}");
    assert!(
        lines[0].starts_with(&epic) && lines[1].starts_with(&format!("  {child} [active]")),
        "{tree}"
    );
    let (_, history, _) = vtid_cmd(&url, &["history", &child]);
    assert_eq!(history.lines().count(), 2);
    let (_, audit, _) = vtid_cmd(&url, &["audit"]);
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["counter"], 2);
    let (code, _, err) = vtid_cmd(
        &url,
        &[
            "create",
            "--family",
            "f",
            "--type",
            "t",
            "--description",
            "d",
            "--tenant",
            "a",
            "--metadata",
            "[1]",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--metadata must be a JSON object"), "{err}");
}
