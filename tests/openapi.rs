//! The API reference is a contract too: every response of a full session through the
//! handlers must match the schema `docs/openapi.json` names for it, and every route the
//! router serves must be documented.

use serde_json::{Value, json};
use vtid_tests::{Api, Kind, Req, Resp, Who};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json"))
        .expect("valid JSON")
}

/// Checks `instance` against `#/components/schemas/{name}` of the spec.
#[track_caller]
fn check(spec: &Value, name: &str, res: &Resp) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": spec["components"],
    });
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&res.body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not match {}: {errors:#?}",
        res.raw
    );
}

#[tokio::test]
async fn every_response_matches_its_documented_schema() {
    let spec = spec();
    let api = Api::new(Kind::Sqlite).await;
    let created = api
        .post(
            "/vtid/create",
            json!({"taskFamily": "deploy", "taskType": "release",
        "description": "d", "tenant": "acme", "metadata": {"a": {"b": [1, "x", null]}}}),
        )
        .await;
    check(&spec, "CreateResponse", &created);
    // The schemas are strict enough to catch a wrong response.
    let mut wrong = created.body.clone();
    wrong["data"]["version"] = json!("1");
    let schema =
        json!({"$ref": "#/components/schemas/CreateResponse", "components": spec["components"]});
    assert!(!jsonschema::validator_for(&schema).unwrap().is_valid(&wrong));
    let v = created.body["vtid"].as_str().unwrap().to_owned();
    let child = api.post("/vtid/create", json!({"taskFamily": "deploy", "taskType": "t", "description": "d",
        "tenant": "acme", "parentVtid": v, "status": "complete", "title": "T", "assignedTo": "bob", "isTest": true})).await;
    check(&spec, "CreateResponse", &child);
    check(&spec, "GetResponse", &api.get(&format!("/vtid/{v}")).await);
    check(
        &spec,
        "UpdateResponse",
        &api.patch(
            &format!("/vtid/{v}"),
            json!({"status": "active", "metadata": {"a": null}}),
        )
        .await,
    );
    check(
        &spec,
        "UpdateResponse",
        &api.patch(&format!("/vtid/{v}"), json!({"status": "active"}))
            .await,
    );
    check(
        &spec,
        "HistoryResponse",
        &api.get(&format!("/vtid/{v}/history")).await,
    );
    let batch = api.post("/vtid/batch", json!({"items": [{"taskFamily": "b", "taskType": "t", "description": "d", "tenant": "acme"}]})).await;
    check(&spec, "BatchResponse", &batch);
    let page = api.get("/vtid/list?limit=1&includeTest=true").await;
    check(&spec, "ListResponse", &page);
    assert!(page.body["nextCursor"].is_string());
    check(
        &spec,
        "ListResponse",
        &api.get("/vtid/list?taskFamily=none").await,
    );
    check(&spec, "HealthResponse", &api.get("/vtid/health").await);
    check(&spec, "AuditResponse", &api.get("/vtid/audit").await);
    for err in [
        api.post("/vtid/create", json!({"bad": 1})).await,
        api.get("/vtid/VTID-1").await,
        api.get("/vtid/list?limit=0").await,
        api.get("/vtid/list?cursor=x").await,
        api.send(Req::new("GET", "/vtid/list").who(Who::Nobody)).await,
        api.send(Req::new("GET", "/vtid/audit").who(Who::user("acme"))).await,
        api.get("/vtid/VTID-2020-0001").await,
        api.get("/vtid/vtid/VTID-2020-0001").await,
        api.send(Req::new("DELETE", &format!("/vtid/{v}"))).await,
        api.patch(&format!("/vtid/{v}"), json!({"status": "pending"})).await,
        api.send(Req::new("PATCH", &format!("/vtid/{v}")).header("If-Match", "1").json(json!({"title": "x"}))).await,
        api.post("/vtid/create", json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "parentVtid": "VTID-2020-0009"})).await,
    ] {
        assert!(err.status >= 400);
        check(&spec, "Error", &err);
    }
}

/// The document is as strict as the server at the edges the contract fuzzer found loose:
/// each body here is valid by `CreateRequest` exactly when the server takes it.
#[tokio::test]
async fn the_create_schema_and_the_server_agree_at_the_edges() {
    let spec = spec();
    let api = Api::new(Kind::Sqlite).await;
    let schema =
        json!({"$ref": "#/components/schemas/CreateRequest", "components": spec["components"]});
    let validator = jsonschema::validator_for(&schema).unwrap();
    let nested = |levels: usize| {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!({"n": v});
        }
        v
    };
    let base = json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "acme"});
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b.to_string()
    };
    let mut empty_at_9 = json!([]);
    for _ in 0..8 {
        empty_at_9 = json!({"n": empty_at_9});
    }
    for (what, body, valid) in [
        ("plain", base.to_string(), true),
        ("metadata 8 deep", with("metadata", nested(8)), true),
        ("metadata 9 deep", with("metadata", nested(9)), false),
        (
            "an empty array at level 9",
            with("metadata", empty_at_9),
            false,
        ),
        (
            "a 64-bit integer",
            with("metadata", json!({"n": u64::MAX})),
            true,
        ),
        (
            "an integer past 64 bits",
            with("metadata", json!({"n": "N"})).replace("\"N\"", "18446744073709551616"),
            false,
        ),
        ("a float", with("metadata", json!({"n": 0.5})), true),
        (
            "whitespace only",
            with("taskFamily", json!(" \u{a0} ")),
            false,
        ),
        ("text around spaces", with("taskFamily", json!(" f ")), true),
        (
            "a parent of 1969",
            with("parentVtid", json!("VTID-1969-0001")),
            false,
        ),
        (
            "a parent numbered 0000",
            with("parentVtid", json!("VTID-2026-0000")),
            false,
        ),
        (
            "a parent past u32",
            with("parentVtid", json!("VTID-2026-4294967296")),
            false,
        ),
    ] {
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(validator.is_valid(&parsed), valid, "the document on {what}");
        let res = api
            .send(Req::new("POST", "/vtid/create").raw_body(body))
            .await;
        // A valid body may still name a parent that does not exist (422).
        let taken = res.status == 201 || res.body["code"] == "parent_not_found";
        assert_eq!(taken, valid, "the server on {what}: {}", res.raw);
    }
}

/// The list's search (`q`): the document's schema and the server take exactly the same
/// values (the pattern says "1 to 100 characters once trimmed, no control characters").
#[tokio::test]
async fn the_search_parameter_and_the_server_agree_at_the_edges() {
    let spec = spec();
    let api = Api::new(Kind::Sqlite).await;
    let schema = &spec["components"]["parameters"]["q"]["schema"];
    let validator = jsonschema::validator_for(schema).unwrap();
    let spaced = format!("  {}  ", "x".repeat(100));
    for (what, q) in [
        ("one letter", "x".to_owned()),
        ("two words", "a b".to_owned()),
        ("100 characters", "x".repeat(100)),
        ("100 characters of two bytes", "é".repeat(100)),
        ("100 characters and spaces around", spaced),
        ("no-break spaces around", "\u{a0}x\u{a0}".to_owned()),
        ("101 characters", "x".repeat(101)),
        ("101 characters of two bytes", "é".repeat(101)),
        ("empty", String::new()),
        ("blank", "  \u{3000} ".to_owned()),
        ("a tab around", "\tx".to_owned()),
        ("a line break after", "x\n".to_owned()),
        ("a tab between", "a\tb".to_owned()),
        ("a control character", "a\u{7f}b".to_owned()),
    ] {
        let valid = validator.is_valid(&json!(q));
        let enc: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        let res = api.get(&format!("/vtid/list?q={enc}")).await;
        let taken = res.status == 200;
        assert!(
            taken || res.body["code"] == "invalid_query",
            "{what}: {}",
            res.raw
        );
        assert_eq!(
            taken, valid,
            "the document and the server on {what}: {}",
            res.raw
        );
    }
}

/// A 405's `Allow` names exactly the methods the document gives the path, on the router
/// (`vtid serve`) and on the catch-all function (AWS).
#[tokio::test]
async fn allow_lists_the_documented_methods_of_each_path() {
    let spec = spec();
    let api = Api::new(Kind::Sqlite).await;
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        // The page and the event stream are `vtid serve`'s own, outside the router.
        if !path.starts_with("/vtid/") || path == "/vtid/events" {
            continue;
        }
        let mut documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !matches!(k.as_str(), "parameters" | "description" | "summary"))
            .map(|k| k.to_uppercase())
            .collect();
        documented.sort();
        let concrete = path.replace("{vtid}", "VTID-2026-0001");
        for res in [
            api.send(Req::new("OPTIONS", &concrete)).await,
            shared::api::fallback(
                Req::new("OPTIONS", &concrete)
                    .who(Who::Nobody)
                    .into_lambda(),
            )
            .await
            .into(),
        ] {
            res.assert_error(405, "method_not_allowed");
            let mut allowed: Vec<String> = res
                .header("allow")
                .unwrap_or_default()
                .split(", ")
                .map(str::to_owned)
                .collect();
            allowed.sort();
            assert_eq!(allowed, documented, "{path}");
            checked += 1;
        }
    }
    assert_eq!(checked, 14, "seven API paths, on both ways in");
}

#[test]
fn every_served_route_is_documented() {
    let spec = spec();
    let paths = &spec["paths"];
    // Every route of the table, the API's and `vtid serve`'s own.
    for r in shared::api::routes::ROUTES {
        assert!(
            paths[r.path][r.method.to_lowercase()].is_object(),
            "{} {} is not documented",
            r.method,
            r.path
        );
    }
    let codes = &spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
    for code in [
        "invalid_payload",
        "invalid_vtid",
        "invalid_query",
        "invalid_cursor",
        "unauthenticated",
        "forbidden",
        "not_found",
        "no_route",
        "method_not_allowed",
        "invalid_transition",
        "idempotency_conflict",
        "version_mismatch",
        "parent_not_found",
        "payload_too_large",
        "unavailable",
    ] {
        assert!(
            codes.as_array().unwrap().iter().any(|c| c == code),
            "{code} is not documented"
        );
    }
}

/// A wrong base URL must never read as a missing VTID: the catch-all function (on AWS) and
/// the router (`vtid serve`) answer an unknown path with `no_route`, a missing VTID with
/// `not_found`.
#[tokio::test]
async fn unknown_paths_are_no_route_on_both_paths() {
    let spec = spec();
    let api = Api::new(Kind::Sqlite).await;
    for path in [
        "/vtid/vtid/VTID-2026-0001",
        "/elsewhere",
        "/vtid/a/b/c",
        "/",
    ] {
        let served = api.get(path).await;
        served.assert_error(404, "no_route");
        check(&spec, "Error", &served);
        let fallback: Resp =
            shared::api::fallback(Req::new("GET", path).who(Who::Nobody).into_lambda())
                .await
                .into();
        fallback.assert_error(404, "no_route");
        assert_eq!(
            fallback.body, served.body,
            "{path}: one answer on both paths"
        );
    }
    api.get("/vtid/VTID-2026-0001")
        .await
        .assert_error(404, "not_found");
}

/// A HEAD answer never has a body, whatever answers it: a found or missing record, a path
/// with dot segments that the event reader normalises away, an unknown route, a 405.
#[tokio::test]
async fn head_answers_have_no_body_on_both_paths() {
    let api = Api::new(Kind::Sqlite).await;
    for (path, status) in [
        ("/vtid/VTID-2026-0001", 404),
        ("/vtid/.", 404),
        ("/vtid/..", 404),
        ("/elsewhere", 404),
        ("/vtid/list", 405),
        ("/vtid/create", 405),
    ] {
        let served = api.send(Req::new("HEAD", path)).await;
        assert_eq!(served.status, status, "{path}");
        assert!(served.raw.is_empty(), "{path}: {}", served.raw);
        let fallback: Resp =
            shared::api::fallback(Req::new("HEAD", path).who(Who::Nobody).into_lambda())
                .await
                .into();
        assert!(fallback.raw.is_empty(), "{path}: {}", fallback.raw);
        assert!(fallback.status >= 400, "{path}");
    }
}

/// `vtid serve` on the embedded store: health with its event backlog, and the events
/// themselves (the SSE `data`, the OASIS body) as documented.
#[tokio::test]
async fn event_shapes_match_their_documented_schemas() {
    use std::sync::Arc;

    let spec = spec();
    let (store, _dir) = vtid_tests::sqlite();
    let app = shared::App::new(
        Arc::new(store.clone()),
        shared::identity::IdentityConfig::default(),
        b"k".to_vec(),
    )
    .with_events(Arc::new(store.delivery(Some("oasis"))));
    let send = |req: Req| shared::api::route(&app, req.into_lambda());
    let created = Resp::from(
        send(
            Req::new("POST", "/vtid/create").json(json!({"taskFamily": "f",
        "taskType": "t", "description": "d", "tenant": "acme", "title": "T"})),
        )
        .await,
    );
    let v = created.body["vtid"].as_str().unwrap().to_owned();
    for patch in [
        json!({"status": "active"}),
        json!({"assignedTo": "bob"}),
        json!({"status": "complete"}),
    ] {
        let res = Resp::from(send(Req::new("PATCH", &format!("/vtid/{v}")).json(patch)).await);
        assert_eq!(res.status, 200);
    }
    check(
        &spec,
        "HealthResponse",
        &Resp::from(send(Req::new("GET", "/vtid/health")).await),
    );
    let events = store.events_after(0, 10).await.unwrap();
    assert_eq!(events.len(), 4);
    for e in events {
        let res = Resp {
            status: 200,
            headers: Default::default(),
            raw: e.body.to_string(),
            body: e.body,
        };
        check(&spec, "OasisEvent", &res);
    }
}
