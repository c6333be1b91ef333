//! Property tests for hostile callers (issue 9): arbitrary JSON bodies (and bytes that are
//! not JSON), headers, query strings, paths and claim sets, thrown at the handlers on a
//! real store. Whatever comes in: never a 5xx, always a JSON body with `ok` (HEAD: none),
//! every error body of the API's error shape and under the size limit, no internals, and never
//! an identity with more rights than its claims give.
//!
//! Each run draws new cases. `VTID_PROP_SCALE=N` multiplies every case count, for a deep
//! sweep before a release (`VTID_PROP_SCALE=50 ./scripts/test --test hostile_props`).

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value, json};
use shared::error::{MAX_DETAILS, MAX_ERROR_BODY_BYTES};
use shared::identity::{Claims, IdentityConfig, ReadScope, Role};
use shared::validation::CREATE_FIELDS;
use vtid_tests::{Api, Kind, Req, Resp, Who, assert_no_internals};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,12}",
        Just("admin".to_owned()),
        Just("service".to_owned()),
        Just("acme".to_owned()),
        Just("[users admin]".to_owned()),
        Just("active".to_owned()),
        Just("VTID-2026-0001".to_owned()),
        Just("  ".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The keys a body of the API may carry: a create's fields and a batch's `items`.
fn fields() -> Vec<&'static str> {
    CREATE_FIELDS.into_iter().chain(["items"]).collect()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(fields()).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// A body: JSON objects shaped like the API's (known keys, any values), with a key given
/// twice or a number too long for a float, or arbitrary text.
fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => likely_create().prop_map(|v| Some(v.to_string())),
        2 => prop::collection::vec(likely_create(), 1..4)
            .prop_map(|items| Some(json!({ "items": items }).to_string())),
        4 => object().prop_map(|v| Some(v.to_string())),
        1 => (object(), key()).prop_map(|(v, k)| Some(with_key_twice(&v, &k))),
        1 => Just(Some(r#"{"metadata":{"n":123456789012345678901234567890}}"#.to_owned())),
        1 => json_value().prop_map(|v| Some(json!({"items": [v]}).to_string())),
        1 => "(?s).{0,40}".prop_map(Some),
    ]
}

/// A create body that is valid more often than not: some tenant or none, and at times
/// one field set to anything.
fn likely_create() -> impl Strategy<Value = Value> {
    let tenant = prop::sample::select(&[Some("acme"), Some("globex"), None][..]);
    let change = prop::option::of((key(), json_value()));
    (tenant, change).prop_map(|(tenant, change)| {
        let mut v = json!({"taskFamily": "f", "taskType": "t", "description": "d"});
        if let Some(t) = tenant {
            v["tenant"] = json!(t);
        }
        if let Some((k, value)) = change {
            v[k] = value;
        }
        v
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..10)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// The object's text with `key` given twice at its start.
fn with_key_twice(v: &Value, key: &str) -> String {
    let key = Value::String(key.to_owned());
    let text = v.to_string();
    format!(
        "{{{key}:1,{key}:2{}{}",
        if text == "{}" { "" } else { "," },
        &text[1..]
    )
}

/// Query strings of known and unknown names, values of any bytes, percent-encoded.
fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(
            &[
                "taskFamily",
                "status",
                "tenant",
                "assignedTo",
                "parentVtid",
                "year",
                "includeTest",
                "limit",
                "cursor",
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z+%]{0,6}",
    ];
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| { b.iter().map(|x| format!("%{x:02X}")).collect::<String>() }),
        "[-+a-zA-Z0-9 ._]{0,10}".prop_map(|s| s.replace(' ', "+")),
        Just("%2B5".to_owned()),
        Just("200".to_owned()),
    ];
    prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A path segment where a VTID goes: the seeded records, absent ones, or other text.
fn vtid_segment(seeded: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(seeded),
        Just("VTID-2026-9999".to_owned()),
        "[-A-Za-z0-9._~%]{1,20}",
    ]
}

fn route(seeded: Vec<String>) -> impl Strategy<Value = (String, String)> {
    (0..10usize, vtid_segment(seeded)).prop_map(|(i, v)| {
        let (m, p) = match i {
            0 | 1 => ("POST", "/vtid/create".to_owned()),
            2 => ("POST", "/vtid/batch".to_owned()),
            3 => ("PATCH", format!("/vtid/{v}")),
            4 => ("GET", format!("/vtid/{v}")),
            5 => ("HEAD", format!("/vtid/{v}")),
            6 => ("GET", format!("/vtid/{v}/history")),
            7 => ("GET", "/vtid/list".to_owned()),
            8 => ("GET", "/vtid/audit".to_owned()),
            _ => ("DELETE", format!("/vtid/{v}")),
        };
        (m.to_owned(), p)
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name =
        prop::sample::select(&["Idempotency-Key", "If-Match", "X-Role", "Authorization"][..]);
    let value = prop_oneof![
        "[ -~]{0,40}",
        Just("\"1\"".to_owned()),
        Just("*".to_owned())
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..3)
}

/// Claim sets: the names that matter, with any JSON value, plus others.
fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let name = prop_oneof![
        4 => prop::sample::select(&["sub", "role", "tenant"][..]).prop_map(str::to_owned),
        1 => text(),
    ];
    let value = prop_oneof![
        3 => text().prop_map(Value::String),
        1 => prop::collection::vec(text().prop_map(Value::String), 0..3).prop_map(Value::Array),
        2 => json_value(),
    ];
    prop::collection::vec((name, value), 0..5).prop_map(|kv| kv.into_iter().collect())
}

/// Claim sets that usually name a caller, with a role and a tenant of any kind.
fn caller_claims() -> impl Strategy<Value = Map<String, Value>> {
    let sub = prop_oneof![4 => "[a-z]{1,8}".prop_map(Value::String), 1 => json_value()];
    let role = prop_oneof![
        1 => Just(None),
        2 => json_value().prop_map(Some),
        2 => text().prop_map(|t| Some(Value::String(t))),
        1 => prop::collection::vec(text().prop_map(Value::String), 0..3).prop_map(|a| Some(Value::Array(a))),
    ];
    let tenant = prop_oneof![
        1 => Just(None),
        2 => prop::sample::select(&["acme", "globex"][..]).prop_map(|t| Some(json!(t))),
        1 => json_value().prop_map(Some),
    ];
    (sub, role, tenant, claims()).prop_map(|(sub, role, tenant, mut others)| {
        others.insert("sub".into(), sub);
        for (name, value) in [("role", role), ("tenant", tenant)] {
            match value {
                Some(v) => others.insert(name.into(), v),
                None => others.remove(name),
            };
        }
        others
    })
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        1 => Just(Who::Nobody),
        1 => Just(Who::admin()),
        3 => caller_claims().prop_map(|c| Who::LambdaAuthorizer(Value::Object(c))),
        // API Gateway's JWT authorizer passes strings only.
        2 => caller_claims().prop_map(|c| {
            let strings = c
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, Value::String(s)),
                    other => (k, Value::String(other.to_string())),
                })
                .collect();
            Who::Jwt(Value::Object(strings))
        }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    who: Who,
}

fn case(seeded: Vec<String>) -> impl Strategy<Value = Case> {
    (route(seeded), query(), headers(), body(), who()).prop_map(
        |((method, path), query, headers, body, who)| Case {
            method,
            path,
            query,
            headers,
            body,
            who,
        },
    )
}

/// What the claims allow at most, read independently of the ledger's reader: a role
/// name is a word of a role string or an entry of an array of strings; a tenant is the
/// tenant claim's string.
struct Rights {
    privileged: bool,
    tenant: Option<String>,
}

fn rights(who: &Who) -> Rights {
    let claims = match who {
        Who::Jwt(c) | Who::LambdaAuthorizer(c) => c.clone(),
        Who::Nobody => json!({}),
        Who::Iam(_) => {
            return Rights {
                privileged: true,
                tenant: None,
            };
        }
    };
    let names: Vec<String> = match &claims["role"] {
        Value::String(s) => s
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == ':'))
            .map(str::to_owned)
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Rights {
        privileged: names.iter().any(|n| n == "admin" || n == "service"),
        tenant: claims["tenant"].as_str().map(str::to_owned),
    }
}

/// The body's tenant for a create, or the caller's default.
fn create_tenant(body: &Value, rights: &Rights) -> Option<String> {
    match body.get("tenant") {
        Some(Value::String(t)) => Some(t.trim().to_owned()),
        None => rights.tenant.clone(),
        _ => None,
    }
}

async fn check(api: &Api, case: Case, skipped: &AtomicUsize) -> Result<(), TestCaseError> {
    let mut req = Req::new(&case.method, &case.path);
    if !case.query.is_empty() {
        req = Req::new(&case.method, &format!("{}?{}", case.path, case.query));
    }
    for (k, v) in &case.headers {
        req = req.header(k, v);
    }
    if let Some(b) = &case.body {
        req = req.raw_body(b.clone());
    }
    let req = req.who(case.who.clone());
    // An event the Lambda runtime itself cannot read never reaches a handler.
    let Ok(event) = lambda_http::request::from_str(&req.event().to_string()) else {
        skipped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let res = Resp::from(shared::api::route(&api.app, event).await);
    prop_assert!(res.status < 500, "{case:?} -> {} {}", res.status, res.raw);
    if case.method == "HEAD" {
        prop_assert!(res.raw.is_empty(), "HEAD with a body: {}", res.raw);
        return Ok(());
    }
    prop_assert!(res.body.is_object(), "not a JSON object: {}", res.raw);
    assert_no_internals(&res.raw);
    if res.status >= 400 {
        prop_assert_eq!(&res.body["ok"], &json!(false));
        prop_assert!(res.body["code"].is_string() && res.body["error"].is_string());
        let details = res.body["details"].as_array().map(Vec::len);
        prop_assert!(details.is_some_and(|n| n <= MAX_DETAILS), "{}", res.raw);
        prop_assert!(
            res.raw.len() <= MAX_ERROR_BODY_BYTES,
            "{} bytes",
            res.raw.len()
        );
        return Ok(());
    }
    prop_assert_eq!(&res.body["ok"], &json!(true));
    // Never more rights than the claims give.
    let rights = rights(&case.who);
    let body: Value = case
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    match (case.method.as_str(), case.path.as_str()) {
        ("GET", "/vtid/audit") => prop_assert!(rights.privileged, "audit for {:?}", case.who),
        ("POST", "/vtid/create") => {
            let tenant = create_tenant(&body, &rights);
            prop_assert!(
                rights.privileged || (tenant.is_some() && tenant == rights.tenant),
                "create for {tenant:?} by {:?}",
                case.who
            );
        }
        ("POST", "/vtid/batch") => {
            for item in body["items"].as_array().into_iter().flatten() {
                let tenant = create_tenant(item, &rights);
                prop_assert!(rights.privileged || (tenant.is_some() && tenant == rights.tenant));
            }
        }
        ("PATCH", _) => {
            let tenant = res.body["data"]["tenant"].as_str().map(str::to_owned);
            prop_assert!(
                rights.privileged || (tenant.is_some() && tenant == rights.tenant),
                "PATCH of {tenant:?} by {:?}",
                case.who
            );
        }
        _ => {}
    }
    Ok(())
}

/// The case count times `VTID_PROP_SCALE` (1 when unset).
fn scaled(cases: u32) -> u32 {
    let scale = std::env::var("VTID_PROP_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    cases.saturating_mul(scale)
}

fn run(kind: Kind, reads: ReadScope, cases: u32) {
    let cases = scaled(cases);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let identity = IdentityConfig {
        reads,
        ..IdentityConfig::default()
    };
    let (api, seeded) = rt.block_on(async {
        let api = Api::with_identity(kind, identity).await;
        let mut seeded = Vec::new();
        for tenant in ["acme", "globex"] {
            let rec =
                json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": tenant});
            seeded.push(api.create(rec).await["vtid"].as_str().unwrap().to_owned());
        }
        (api, seeded)
    });
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let skipped = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(seeded), |c| rt.block_on(check(&api, c, &skipped)));
    if let Err(e) = result {
        panic!("{e}");
    }
    let skipped = skipped.load(Ordering::Relaxed);
    assert!(
        (skipped as u32) < cases / 4,
        "{skipped} of {cases} cases never reached a handler"
    );
}

#[test]
fn arbitrary_requests_on_sqlite() {
    run(Kind::Sqlite, ReadScope::All, 1000);
}

#[test]
fn arbitrary_requests_on_sqlite_with_tenant_scoped_reads() {
    run(Kind::Sqlite, ReadScope::OwnTenant, 300);
}

#[test]
fn arbitrary_requests_on_dynamodb() {
    vtid_tests::skip_without_dynamo!();
    run(Kind::Dynamo, ReadScope::All, 120);
}

proptest! {
    #![proptest_config(Config { cases: scaled(2000), failure_persistence: None, ..Config::default() })]

    /// The claim reader alone, on any claim set: what it grants, the claims hold.
    #[test]
    fn the_claim_reader_grants_only_what_the_claims_say(claims in claims()) {
        let cfg = IdentityConfig::default();
        let claims: Claims = claims.into_iter().collect();
        if let Ok(caller) = cfg.caller_from_claims(&claims) {
            prop_assert_eq!(Some(caller.name.as_str()), claims.get("sub").and_then(Value::as_str).map(|s| {
                s.char_indices().nth(256).map_or(s, |(i, _)| &s[..i])
            }));
            prop_assert!(!caller.name.chars().any(char::is_control));
            let who = Who::LambdaAuthorizer(Value::Object(claims.clone().into_iter().collect()));
            let rights = rights(&who);
            match caller.role {
                Role::Admin | Role::Service => prop_assert!(rights.privileged),
                Role::User => {}
            }
            if caller.tenant.is_some() {
                prop_assert_eq!(caller.tenant, rights.tenant);
            }
        }
    }
}
