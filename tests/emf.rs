//! Metrics as Lambda publishes them. Each API function's binary runs as Lambda starts it,
//! against a Runtime API stand-in on loopback and moto's DynamoDB, answers a success and
//! a failure, and its stdout must hold CloudWatch embedded metric format documents that
//! parse by the format's specification, carrying the metrics and dimensions of
//! `shared::metrics` (the names the template's alarms use).

mod runtime_api;

use serde_json::{Value, json};
use shared::metrics::{dimension, name};
use vtid_tests::emf::{declared, documents, has, values};
use vtid_tests::{Api, Kind, Req, Who, body};

use runtime_api::run;

#[tokio::test(flavor = "multi_thread")]
async fn every_function_publishes_its_metrics_as_embedded_metric_format() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    let table = api.dynamo_table.clone().expect("a table");
    let endpoint = vtid_tests::dynamo_endpoint();
    let created = api.create(body("metrics")).await;
    let v = created["vtid"].as_str().expect("a VTID").to_owned();
    // As API Gateway hands a `/vtid/{vtid}` route its path parameter.
    let event = |req: Req| {
        let mut e = req.event();
        let path = e["rawPath"].as_str().unwrap_or("").to_owned();
        let mut parts = path.trim_start_matches('/').split('/');
        if let (Some("vtid"), Some(vtid)) = (parts.next(), parts.next())
            && !["create", "batch", "list", "health", "audit"].contains(&vtid)
        {
            e["pathParameters"] = json!({"vtid": vtid});
        }
        e
    };
    let plain = || Who::Jwt(json!({"sub": "u-1", "tenant": "acme"}));
    // Each function: a request it answers 2xx, and one it refuses (with its code).
    let cases: Vec<(&str, Req, Req, &str)> = vec![
        (
            "vtid-create",
            Req::new("POST", "/vtid/create")
                .json(body("emf"))
                .who(plain()),
            Req::new("POST", "/vtid/create")
                .json(json!({"taskFamily": 7}))
                .who(plain()),
            "invalid_payload",
        ),
        (
            "vtid-batch",
            Req::new("POST", "/vtid/batch")
                .json(json!({"items": [body("emf")]}))
                .who(plain()),
            Req::new("POST", "/vtid/batch")
                .json(json!({"items": []}))
                .who(plain()),
            "invalid_payload",
        ),
        (
            "vtid-get",
            Req::new("GET", &format!("/vtid/{v}")).who(plain()),
            Req::new("GET", "/vtid/nope").who(plain()),
            "invalid_vtid",
        ),
        (
            "vtid-head",
            Req::new("HEAD", &format!("/vtid/{v}")).who(plain()),
            Req::new("HEAD", "/vtid/VTID-2026-99999").who(Who::Nobody),
            "unauthenticated",
        ),
        (
            "vtid-update",
            Req::new("PATCH", &format!("/vtid/{v}"))
                .json(json!({"title": "emf"}))
                .who(plain()),
            Req::new("PATCH", &format!("/vtid/{v}"))
                .json(json!({"status": "nonsense"}))
                .who(plain()),
            "invalid_payload",
        ),
        (
            "vtid-list",
            Req::new("GET", "/vtid/list").who(plain()),
            Req::new("GET", "/vtid/list?limit=0").who(plain()),
            "invalid_query",
        ),
        (
            "vtid-history",
            Req::new("GET", &format!("/vtid/{v}/history")).who(plain()),
            Req::new("GET", "/vtid/nope/history").who(plain()),
            "invalid_vtid",
        ),
        (
            "vtid-audit",
            Req::new("GET", "/vtid/audit").who(Who::admin()),
            Req::new("GET", "/vtid/audit").who(plain()),
            "forbidden",
        ),
        (
            "vtid-health",
            Req::new("GET", "/vtid/health"),
            // Run on a table that does not exist (below): the store does not answer.
            Req::new("GET", "/vtid/health"),
            "unavailable",
        ),
        (
            "vtid-fallback",
            Req::new("GET", "/vtid/list/extra").who(plain()),
            Req::new("GET", "/elsewhere").who(plain()),
            "no_route",
        ),
    ];
    let mut logged = 0;
    for (function, ok, refused, code) in cases {
        let (answers, lines) = if function == "vtid-health" {
            let (mut answers, mut lines) = run(function, &table, &endpoint, vec![event(ok)]);
            // At Lambda's WARN level: the warning still names its invocation.
            let (a, l) = runtime_api::run_with(
                function,
                "no-such-table",
                &endpoint,
                &[("AWS_LAMBDA_LOG_LEVEL", "WARN")],
                vec![event(refused)],
            );
            answers.extend(a);
            lines.extend(l);
            (answers, lines)
        } else {
            run(function, &table, &endpoint, vec![event(ok), event(refused)])
        };
        let statuses: Vec<u64> = answers
            .iter()
            .map(|a| a["statusCode"].as_u64().unwrap_or(0))
            .collect();
        let docs = documents(&lines);
        // Every log line of an invocation names it: the runtime's span carries the
        // request ID and the trace ID.
        let logs: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l.get("level").is_some())
            .collect();
        for log in &logs {
            assert!(
                log["span"]["requestId"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("req-")),
                "{function}: {log}"
            );
            assert!(
                log["span"]["xrayTraceId"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Root=")),
                "{function}: {log}"
            );
        }
        logged += logs.len();
        assert!(
            docs.len() >= 2,
            "{function}: {} documents in {lines:#?}",
            docs.len()
        );
        let found = declared(&docs);
        let me = format!("{function}-emf");
        let function_dim = (dimension::FUNCTION, me.as_str());
        assert!(
            found
                .iter()
                .all(|(_, d, _)| d.iter().any(|(k, v)| k == dimension::FUNCTION && *v == me)),
            "{function}: every metric carries the function: {found:?}"
        );
        assert!(
            has(&found, name::COLD_START, &[function_dim]),
            "{function}: {found:?}"
        );
        assert!(has(&found, name::LATENCY, &[function_dim]), "{function}");
        // The unit the latency alarm names (an alarm's unit must match its data's).
        let latency_units: Vec<&Value> = docs
            .iter()
            .flat_map(|d| {
                d["_aws"]["CloudWatchMetrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .flat_map(|d| d["Metrics"].as_array().into_iter().flatten())
            .filter(|m| m["Name"] == name::LATENCY)
            .map(|m| &m["Unit"])
            .collect();
        assert!(
            !latency_units.is_empty() && latency_units.iter().all(|u| *u == "Milliseconds"),
            "{function}: {latency_units:?}"
        );
        // The fallback's "success" is its 404: every path it gets is unknown.
        let first = if function == "vtid-fallback" {
            "4xx"
        } else {
            "2xx"
        };
        assert_eq!(
            shared::metrics::outcome(statuses[0] as u16),
            first,
            "{function}: {answers:?}"
        );
        assert!(
            has(
                &found,
                name::REQUESTS,
                &[function_dim, (dimension::OUTCOME, first)]
            ),
            "{function}: {found:?}"
        );
        let refused_class = shared::metrics::outcome(statuses[1] as u16);
        assert!(
            has(
                &found,
                name::REQUESTS,
                &[(dimension::OUTCOME, refused_class)]
            ),
            "{function}: {found:?}"
        );
        assert!(
            has(&found, name::ERRORS, &[(dimension::CODE, code)]),
            "{function}: Errors by code {code}: {found:?}"
        );
        // Each document names the invocation it belongs to.
        for doc in &docs {
            assert!(
                doc["requestId"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("req-")),
                "{doc}"
            );
            assert!(
                doc["traceId"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Root=")),
                "{doc}"
            );
        }
        if function == "vtid-create" {
            assert!(has(&found, name::CREATES, &[function_dim]), "{found:?}");
            assert!(
                found.iter().any(|(m, d, _)| m == name::DYNAMODB_REQUESTS
                    && d.iter()
                        .any(|(k, v)| k == dimension::OPERATION && v == "TransactWriteItems")),
                "{found:?}"
            );
        }
    }
    assert!(logged > 0, "no function logged a line inside an invocation");
}

/// Every metric the code declares is one `shared::metrics::ALL` lists, with its
/// dimensions: what the template's alarms rely on.
#[test]
fn the_list_of_metrics_has_each_name_once() {
    let mut names: Vec<&str> = shared::metrics::ALL.iter().map(|(n, _)| *n).collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all);
}

/// The daily audit, run by its schedule's event, publishes the year's figures and
/// answers with the reports.
#[tokio::test(flavor = "multi_thread")]
async fn the_daily_audit_publishes_the_years_figures() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    let table = api.dynamo_table.clone().expect("a table");
    for i in 0..3 {
        api.create(body(&format!("audit-{i}"))).await;
    }
    let scheduled =
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let (answers, lines) = run(
        "vtid-daily-audit",
        &table,
        &vtid_tests::dynamo_endpoint(),
        vec![scheduled],
    );
    assert_eq!(answers[0]["ok"], true, "{answers:?}");
    let years = answers[0]["data"].as_array().expect("the reports");
    assert!(years.iter().any(|r| r["records"] == 3), "{years:?}");
    let found = declared(&documents(&lines));
    let figure = |metric: &str| {
        values(
            &found,
            metric,
            &[(dimension::FUNCTION, "vtid-daily-audit-emf")],
        )
        .next()
        .unwrap_or_else(|| panic!("{metric} not published: {found:?}"))
    };
    assert_eq!(figure(name::AUDIT_RECORDS), 3.0);
    assert_eq!(figure(name::AUDIT_COUNTER), 3.0);
    assert_eq!(figure(name::AUDIT_MISSING), 0.0);
    assert_eq!(figure(name::AUDIT_ANOMALIES), 0.0);
    assert_eq!(figure(name::AUDIT_VOID), 0.0);
}
