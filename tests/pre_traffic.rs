//! The pre-traffic hook (`vtid-pre-traffic`) as CodeDeploy runs it, without AWS: its
//! binary runs in the Runtime API stand-in; a Lambda Invoke stand-in on loopback answers
//! each invocation of a version ARN by running the real ledger function (`vtid-health`,
//! `vtid-create`) on that event against moto's DynamoDB; a CodeDeploy stand-in records
//! the status the hook reports. What this does not exercise: real CodeDeploy calling the
//! hook, and real Lambda versions and permissions.

mod runtime_api;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use shared::metrics::{dimension, name};
use vtid_tests::emf::{declared, documents, has};
use vtid_tests::{Api, Kind, Req, Who};

use runtime_api::{run, run_with};

const HEALTH_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:vtid-health:7";
const CREATE_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:vtid-create:7";

/// One HTTP request as a stand-in sees it.
struct Request {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// An answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

type Handler = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// An HTTP/1.1 server on loopback (keep-alive, Content-Length bodies, as the SDK sends).
fn stand_in(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || serve(conn, &handler));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn serve(conn: TcpStream, handler: &Handler) {
    let mut reader = BufReader::new(conn.try_clone().expect("a second handle"));
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, headers, body) = handler(Request {
            target,
            headers,
            body,
        });
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// Lambda's Invoke: `POST /2015-03-31/functions/{name}/invocations`, answered by running
/// the ledger function the version ARN names on the event, on `table`. Records the names.
fn lambda(table: String, endpoint: String, invoked: Arc<Mutex<Vec<String>>>) -> String {
    stand_in(Arc::new(move |req: Request| {
        let path = req.target.split('?').next().unwrap_or("");
        let name = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|p| p.strip_suffix("/invocations"))
            .map(|n| percent_decode_str(n).decode_utf8_lossy().into_owned())
            .unwrap_or_default();
        invoked.lock().unwrap().push(name.clone());
        let binary = match name.as_str() {
            HEALTH_ARN => "vtid-health",
            CREATE_ARN => "vtid-create",
            _ => {
                let said =
                    json!({"Type": "User", "message": format!("Function not found: {name}")});
                return (
                    404,
                    vec![
                        ("Content-Type", "application/json".into()),
                        ("X-Amzn-ErrorType", "ResourceNotFoundException".into()),
                    ],
                    said.to_string().into_bytes(),
                );
            }
        };
        let event: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let (answers, _) = run(binary, &table, &endpoint, vec![event]);
        let answer = answers.into_iter().next().unwrap_or(Value::Null);
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Amz-Executed-Version", "7".to_owned()),
        ];
        if answer.get("error").is_some() {
            headers.push(("X-Amz-Function-Error", "Unhandled".to_owned()));
        }
        (200, headers, answer.to_string().into_bytes())
    }))
}

/// CodeDeploy (JSON 1.1): records each PutLifecycleEventHookExecutionStatus's body.
fn codedeploy(reports: Arc<Mutex<Vec<Value>>>) -> String {
    stand_in(Arc::new(move |req: Request| {
        let target = req
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-target")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let json_type = ("Content-Type", "application/x-amz-json-1.1".to_owned());
        if target != "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus" {
            let said = json!({"__type": "UnknownOperationException", "message": target});
            return (400, vec![json_type], said.to_string().into_bytes());
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let id = body["lifecycleEventHookExecutionId"].clone();
        reports.lock().unwrap().push(body);
        let said = json!({"lifecycleEventHookExecutionId": id});
        (200, vec![json_type], said.to_string().into_bytes())
    }))
}

/// What one run of the hook did.
struct Run {
    answer: Value,
    reports: Vec<Value>,
    invoked: Vec<String>,
    lines: Vec<String>,
}

/// Runs the hook on one lifecycle event, its ledger functions on `functions_table`.
fn hook(deployment: &str, table: &str, functions_table: &str) -> Run {
    let endpoint = vtid_tests::dynamo_endpoint();
    let invoked = Arc::new(Mutex::new(Vec::new()));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let lambda_url = lambda(
        functions_table.to_owned(),
        endpoint.clone(),
        invoked.clone(),
    );
    let codedeploy_url = codedeploy(reports.clone());
    let event = json!({
        "DeploymentId": deployment,
        "LifecycleEventHookExecutionId": format!("hook-{deployment}"),
    });
    let (answers, lines) = run_with(
        "vtid-pre-traffic",
        table,
        &endpoint,
        &[
            ("AWS_ENDPOINT_URL_LAMBDA", &lambda_url),
            ("AWS_ENDPOINT_URL_CODEDEPLOY", &codedeploy_url),
            ("VTID_HEALTH_VERSION", HEALTH_ARN),
            ("VTID_CREATE_VERSION", CREATE_ARN),
            (
                "VTID_PRE_TRAFFIC_CALLER",
                "arn:aws:iam::123456789012:role/pre-traffic",
            ),
        ],
        vec![event],
    );
    let reports = reports.lock().unwrap().clone();
    let invoked = invoked.lock().unwrap().clone();
    Run {
        answer: answers.into_iter().next().unwrap_or(Value::Null),
        reports,
        invoked,
        lines,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_reports_succeeded_when_the_new_versions_work() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    let table = api.dynamo_table.clone().expect("a table");
    let deployment = "d-PRETRAFFIC1";
    let run = tokio::task::spawn_blocking({
        let table = table.clone();
        move || hook(deployment, &table, &table)
    })
    .await
    .expect("the hook's run");
    assert_eq!(
        run.reports.len(),
        1,
        "one report: {:?}\n{:#?}",
        run.reports,
        run.lines
    );
    let report = &run.reports[0];
    assert_eq!(report["status"], "Succeeded", "{report}\n{:#?}", run.lines);
    assert_eq!(report["deploymentId"], deployment);
    assert_eq!(
        report["lifecycleEventHookExecutionId"],
        format!("hook-{deployment}")
    );
    // The new versions themselves, by their ARNs: health first, then one create.
    assert_eq!(
        run.invoked,
        vec![HEALTH_ARN.to_owned(), CREATE_ARN.to_owned()]
    );
    assert_eq!(run.answer["status"], "Succeeded", "{}", run.answer);
    let vtid = run.answer["vtid"].as_str().expect("the created VTID");
    let got = api
        .send(Req::new("GET", &format!("/vtid/{vtid}")).who(Who::admin()))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let record = &got.body["data"];
    assert_eq!(record["isTest"], true, "{record}");
    assert_eq!(record["tenant"], "vtid-pre-traffic", "{record}");
    assert_eq!(
        record["createdBy"], "arn:aws:iam::123456789012:role/pre-traffic",
        "{record}"
    );
    // What it checked is in its log.
    let log = run.lines.join("\n");
    assert!(log.contains("health answered ok"), "{log}");
    assert!(log.contains(vtid), "{log}");
    // Its metrics, like every function's: EMF that parses, with its cold start.
    let found = declared(&documents(&run.lines));
    assert!(
        has(
            &found,
            name::COLD_START,
            &[(dimension::FUNCTION, "vtid-pre-traffic-emf")]
        ),
        "{found:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_reports_failed_when_the_store_is_broken() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    let table = api.dynamo_table.clone().expect("a table");
    let deployment = "d-PRETRAFFIC2";
    // The functions point at a table that does not exist: health answers 503.
    let run = tokio::task::spawn_blocking(move || hook(deployment, &table, "no-such-table"))
        .await
        .expect("the hook's run");
    assert_eq!(
        run.reports.len(),
        1,
        "one report: {:?}\n{:#?}",
        run.reports,
        run.lines
    );
    assert_eq!(run.reports[0]["status"], "Failed", "{:?}", run.reports);
    assert_eq!(run.reports[0]["deploymentId"], deployment);
    assert_eq!(run.answer["status"], "Failed", "{}", run.answer);
    assert!(
        run.answer["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("health")),
        "{}",
        run.answer
    );
    // No create once health failed: nothing is written through a broken version.
    assert!(
        !run.invoked.is_empty() && run.invoked.iter().all(|n| n == HEALTH_ARN),
        "{:?}",
        run.invoked
    );
}
