//! Hostile callers (issue 9), through the functions' handlers, as API Gateway v2 events:
//! each test sends the request an attacker would and asserts the status, the code, a
//! small JSON body, and that nothing was written. Tests that touch storage run on both
//! stores with one body.

use serde_json::{Value, json};
use shared::error::{MAX_DETAILS, MAX_ERROR_BODY_BYTES};
use shared::identity::{IdentityConfig, ReadScope};
use vtid_tests::{Api, Kind, Req, Resp, Who};

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(vtid_tests::Kind::Sqlite).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    vtid_tests::skip_without_dynamo!();
                    super::$name(vtid_tests::Kind::Dynamo).await;
                }
            )*
        }
    };
}

fn rec(tenant: &str) -> Value {
    json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": tenant})
}

/// An error of `status` and `code`, with a JSON body under the size limit.
#[track_caller]
fn refused(res: &Resp, status: u16, code: &str) {
    res.assert_error(status, code);
    assert!(
        res.raw.len() <= MAX_ERROR_BODY_BYTES,
        "{} bytes: {}",
        res.raw.len(),
        &res.raw[..200]
    );
}

async fn count(api: &Api) -> u64 {
    let list = api.get("/vtid/list?includeTest=true&limit=200").await;
    list.body["count"].as_u64().expect("a list")
}

async fn unknown_keys_get_a_small_answer(kind: Kind) {
    let api = Api::new(kind).await;
    // A 58 KB create with 7,000 unknown keys (once a 1.1 MB answer).
    let mut body = rec("acme");
    for i in 0..7000 {
        body[format!("{i:x}")] = json!(0);
    }
    let res = api.post("/vtid/create", body).await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.body["details"].as_array().unwrap().len(), MAX_DETAILS);
    assert_eq!(res.body["detailsOmitted"], 7000 - MAX_DETAILS);
    assert!(
        res.body["error"]
            .as_str()
            .unwrap()
            .ends_with("and 6995 more")
    );
    assert_eq!(res.raw.matches("known:").count(), 1, "{}", res.raw);
    // A 2.5 MB batch of unknown keys (once a 54.7 MB answer).
    let mut items = Vec::new();
    for item in 0..50 {
        let mut b = rec("acme");
        for i in 0..2500 {
            b[format!("unknown-{item}-{i}")] = json!(1);
        }
        items.push(b);
    }
    let batch = json!({ "items": items });
    assert!(batch.to_string().len() > 2_000_000);
    let res = api.post("/vtid/batch", batch).await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.body["detailsOmitted"], 50 * 2500 - MAX_DETAILS);
    assert_eq!(res.raw.matches("known:").count(), 1);
    // Long unknown keys are cut; no answer passes the limit.
    let mut body = rec("acme");
    for i in 0..8 {
        body[format!("{i}{}", "\u{1F600}".repeat(1500))] = json!(1);
    }
    let res = api.post("/vtid/create", body).await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(count(&api).await, 0, "nothing was created");
}

async fn duplicate_keys_are_refused_by_name(kind: Kind) {
    let api = Api::new(kind).await;
    let dup =
        r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","tenant":"globex"}"#;
    let res = api
        .send(Req::new("POST", "/vtid/create").raw_body(dup))
        .await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.detail_fields(), ["tenant"]);
    let nested = r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","metadata":{"k":1,"k":2}}"#;
    let res = api
        .send(Req::new("POST", "/vtid/create").raw_body(nested))
        .await;
    assert_eq!(res.detail_fields(), ["metadata.k"]);
    let batch = r#"{"items":[{"taskFamily":"f","taskType":"t","description":"d","tenant":"a"},{"taskFamily":"f","taskType":"t","description":"d","tenant":"a","isTest":true,"isTest":false}]}"#;
    let res = api
        .send(Req::new("POST", "/vtid/batch").raw_body(batch))
        .await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.detail_fields(), ["items[1].isTest"]);
    let v = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = api
        .send(Req::new("PATCH", &format!("/vtid/{v}")).raw_body(r#"{"title":"a","title":"b"}"#))
        .await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.detail_fields(), ["title"]);
    assert_eq!(
        api.get(&format!("/vtid/{v}")).await.body["data"]["version"],
        1
    );
    assert_eq!(count(&api).await, 1, "only the valid create wrote");
}

async fn numbers_round_trip_exactly_or_are_refused(kind: Kind) {
    let api = Api::new(kind).await;
    let kept = r#"{"u":18446744073709551615,"i":-9223372036854775808,"tenth":0.1,"big":1e300,
        "tiny":5e-324,"max":1.7976931348623157e308,"sum":0.30000000000000004,"neg":-1.5e3,"zero":0}"#;
    let body = format!(
        r#"{{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","metadata":{kept}}}"#
    );
    let res = api
        .send(Req::new("POST", "/vtid/create").raw_body(body))
        .await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let v = res.body["vtid"].as_str().unwrap().to_owned();
    let sent: Value = serde_json::from_str(kept).unwrap();
    let stored = api.get(&format!("/vtid/{v}")).await.body["data"]["metadata"].clone();
    assert_eq!(stored, sent, "every number comes back as sent");
    assert_eq!(stored["u"].as_u64(), Some(u64::MAX));
    assert_eq!(stored["i"].as_i64(), Some(i64::MIN));
    for bad in [
        "123456789012345678901234567890",
        "18446744073709551616",
        "0.10000000000000000001",
        "1e-400",
    ] {
        let body = format!(
            r#"{{"taskFamily":"f","taskType":"t","description":"d","tenant":"acme","metadata":{{"n":{bad}}}}}"#
        );
        let res = api
            .send(Req::new("POST", "/vtid/create").raw_body(body))
            .await;
        refused(&res, 400, "invalid_payload");
        assert_eq!(res.detail_fields(), ["metadata.n"], "{bad}");
        let res = api
            .send(
                Req::new("PATCH", &format!("/vtid/{v}"))
                    .raw_body(format!(r#"{{"metadata":{{"n":{bad}}}}}"#)),
            )
            .await;
        refused(&res, 400, "invalid_payload");
    }
    let after = api.get(&format!("/vtid/{v}")).await.body["data"].clone();
    assert_eq!((after["version"].clone(), count(&api).await), (json!(1), 1));
}

/// Claims as a Lambda authorizer (and `vtid serve`) passes them: JSON values.
fn lambda(claims: Value) -> Who {
    Who::LambdaAuthorizer(claims)
}

async fn claims_of_the_wrong_type_grant_nothing(kind: Kind) {
    let api = Api::new(kind).await;
    for role in [
        json!({"admin": false}),
        json!([{"admin": true}]),
        json!(["admin", 7]),
        json!(1),
        json!(true),
    ] {
        let who = lambda(json!({"sub": "mallory", "role": role, "tenant": "acme"}));
        let audit = api
            .send(Req::new("GET", "/vtid/audit").who(who.clone()))
            .await;
        refused(&audit, 403, "forbidden");
        assert!(audit.body["error"].as_str().unwrap().contains("malformed"));
        let create = api
            .send(
                Req::new("POST", "/vtid/create")
                    .who(who)
                    .json(rec("globex")),
            )
            .await;
        refused(&create, 403, "forbidden");
    }
    for tenant in [
        json!(true),
        json!(false),
        json!(0),
        json!(["acme"]),
        json!({}),
    ] {
        let who = lambda(json!({"sub": "u", "tenant": tenant}));
        let res = api
            .send(Req::new("POST", "/vtid/create").who(who).json(rec("acme")))
            .await;
        refused(&res, 403, "forbidden");
    }
    for sub in ["nul\u{0}byte", "line\nbreak", "tab\there"] {
        let who = Who::Jwt(json!({"sub": sub, "role": "admin"}));
        let res = api
            .send(Req::new("POST", "/vtid/create").who(who).json(rec("acme")))
            .await;
        refused(&res, 403, "forbidden");
    }
    // A null tenant is no tenant: such a caller must name one and may name none.
    let nameless = lambda(json!({"sub": "drifter", "tenant": null}));
    let res = api
        .send(
            Req::new("POST", "/vtid/create")
                .who(nameless.clone())
                .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
        )
        .await;
    refused(&res, 400, "invalid_payload");
    assert_eq!(res.detail_fields(), ["tenant"]);
    let res = api
        .send(
            Req::new("POST", "/vtid/create")
                .who(nameless)
                .json(rec("null")),
        )
        .await;
    refused(&res, 403, "forbidden");
    // Strings and arrays of strings still work, both ways of passing claims.
    let svc = lambda(json!({"sub": "ci", "role": ["users", "service"]}));
    let res = api
        .send(
            Req::new("POST", "/vtid/create")
                .who(svc)
                .json(rec("globex")),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let listed = Who::Jwt(json!({"sub": "ops", "role": "[users admin]"}));
    let res = api.send(Req::new("GET", "/vtid/audit").who(listed)).await;
    assert_eq!(res.status, 200, "{}", res.raw);
    assert_eq!(count(&api).await, 1, "only the service's create wrote");
}

fn scoped() -> IdentityConfig {
    IdentityConfig {
        reads: ReadScope::OwnTenant,
        ..IdentityConfig::default()
    }
}

fn child_of(parent: &str) -> Value {
    json!({"taskFamily": "f", "taskType": "t", "description": "d", "parentVtid": parent})
}

fn batch_with_child_of(parent: &str) -> Value {
    json!({"items": [{"taskFamily": "f", "taskType": "t", "description": "d"}, child_of(parent)]})
}

/// The body with every VTID replaced, to compare two answers about different VTIDs.
fn shape(res: &Resp, vtids: &[&str]) -> (u16, String) {
    let mut raw = res.raw.clone();
    for v in vtids {
        raw = raw.replace(v, "VTID-X");
    }
    (res.status, raw)
}

async fn another_tenants_record_looks_absent_on_every_route(kind: Kind) {
    let api = Api::with_identity(kind, scoped()).await;
    let theirs = api.create(rec("globex")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let absent = format!("VTID-{}-9999", &theirs[5..9]);
    let user = Who::user("acme");
    let as_user = |req: Req| api.send(req.who(user.clone()));
    let same = |a: &Resp, b: &Resp, what: &str| {
        assert_eq!(
            shape(a, &[&theirs]),
            shape(b, &[&absent]),
            "{what}: another tenant's VTID answers differently from an absent one"
        );
    };
    // Create and batch, with and without a reused idempotency key.
    for (path, body) in [
        ("/vtid/create", child_of as fn(&str) -> Value),
        ("/vtid/batch", batch_with_child_of),
    ] {
        let a = as_user(Req::new("POST", path).json(body(&theirs))).await;
        let b = as_user(Req::new("POST", path).json(body(&absent))).await;
        refused(&a, 422, "parent_not_found");
        same(&a, &b, path);
        let key = format!("key-{path}");
        let first = as_user(
            Req::new("POST", path)
                .header("Idempotency-Key", &key)
                .json(body(&mine)),
        )
        .await;
        assert!(first.status == 201, "{}", first.raw);
        let a = as_user(
            Req::new("POST", path)
                .header("Idempotency-Key", &key)
                .json(body(&theirs)),
        )
        .await;
        let b = as_user(
            Req::new("POST", path)
                .header("Idempotency-Key", &key)
                .json(body(&absent)),
        )
        .await;
        same(&a, &b, &format!("{path} with a reused key"));
    }
    // Reads and PATCH.
    for (method, suffix, body) in [
        ("GET", "", None),
        ("HEAD", "", None),
        ("GET", "/history", None),
        ("PATCH", "", Some(json!({"title": "mine now"}))),
        ("PATCH", "", Some(json!({"status": "complete"}))),
    ] {
        let req = |v: &str| {
            let r = Req::new(method, &format!("/vtid/{v}{suffix}"));
            match &body {
                Some(b) => r.json(b.clone()).header("If-Match", "7"),
                None => r,
            }
        };
        let a = as_user(req(&theirs)).await;
        let b = as_user(req(&absent)).await;
        assert_eq!(a.status, 404, "{method} {suffix}: {}", a.raw);
        same(&a, &b, &format!("{method} {suffix}"));
    }
    let a = as_user(Req::new("GET", &format!("/vtid/list?parentVtid={theirs}"))).await;
    let b = as_user(Req::new("GET", &format!("/vtid/list?parentVtid={absent}"))).await;
    assert_eq!(
        (a.body["count"].clone(), b.body["count"].clone()),
        (json!(0), json!(0))
    );
    let theirs_now = api.get(&format!("/vtid/{theirs}")).await.body["data"].clone();
    assert_eq!(
        (theirs_now["version"].clone(), theirs_now["title"].clone()),
        (json!(1), Value::Null)
    );
    assert_eq!(
        count(&api).await,
        2 + 1 + 2,
        "only the two seeds and the keyed creates wrote"
    );
}

#[tokio::test]
async fn small_ones_limits_and_header_messages() {
    let api = Api::new(Kind::Sqlite).await;
    let v = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/vtid/list?limit=%2B5".to_owned(),
        "/vtid/list?limit=+5".to_owned(),
        format!("/vtid/{v}/history?limit=%2B5"),
    ] {
        let res = api.get(&path).await;
        refused(&res, 400, "invalid_query");
        assert_eq!(res.detail_fields(), ["limit"], "{path}");
    }
    let res = api
        .send(
            Req::new("PATCH", &format!("/vtid/{v}"))
                .header("If-Match", "W/\"1\"")
                .json(json!({"title": "x"})),
        )
        .await;
    refused(&res, 400, "invalid_payload");
    let error = res.body["error"].as_str().unwrap();
    assert!(
        error.starts_with("the If-Match header is not valid"),
        "{error}"
    );
    assert!(!error.contains("body"), "{error}");
    let res = api
        .send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", &"k".repeat(300))
                .json(rec("acme")),
        )
        .await;
    refused(&res, 400, "invalid_payload");
    assert!(
        res.body["error"]
            .as_str()
            .unwrap()
            .starts_with("the Idempotency-Key header")
    );
    assert_eq!(res.detail_fields(), ["Idempotency-Key"]);
}

/// Every JSON answer, success or error, tells a browser not to guess another type.
async fn json_answers_forbid_sniffing(kind: Kind) {
    let api = Api::new(kind).await;
    let created = api.post("/vtid/create", rec("acme")).await;
    let vtid = created.body["vtid"].as_str().unwrap().to_owned();
    let answers = [
        created,
        api.get(&format!("/vtid/{vtid}")).await,
        api.get("/vtid/list").await,
        api.get("/vtid/VTID-26-1").await,
        api.post("/vtid/create", json!({"taskFamily": 1})).await,
    ];
    for res in &answers {
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{} {}",
            res.status,
            res.raw
        );
    }
}

/// A tenant-scoped list walks the caller's own tenant: thousands of another tenant's
/// records that match its other filter, more than one page may read, are neither read
/// nor hinted at (a short page with a cursor positioned at one of them, or an answer
/// slower than for a filter that matches nothing), and the caller's one match is found.
async fn a_scoped_list_reads_nothing_of_another_tenant(kind: Kind) {
    let api = Api::with_identity(kind, scoped())
        .await
        .on_private_server()
        .await;
    let year = shared::timestamp::Timestamp::now().year();
    let now = shared::timestamp::Timestamp::now();
    let assigned = |tenant: &str| {
        vtid_tests::draft(
            &json!({"taskFamily": "f", "taskType": "t", "description": "d",
                                  "tenant": tenant, "assignedTo": "bob"}),
        )
    };
    let number = |seq: u32| shared::vtid::Vtid::new(year, seq).expect("a VTID");
    let mut seeded = vec![assigned("acme").into_record(number(1), "seed", now)];
    let theirs = assigned("globex");
    let beyond_one_page = shared::store::limits::LIST.rows as u32 + 100;
    for seq in 2..=beyond_one_page + 1 {
        seeded.push(theirs.clone().into_record(number(seq), "seed", now));
    }
    api.seed(seeded).await;
    let res = api
        .send(Req::new("GET", "/vtid/list?assignedTo=bob&limit=5").who(Who::user("acme")))
        .await;
    assert_eq!(res.status, 200, "{}", res.raw);
    assert_eq!(res.body["count"], 1, "{}", res.raw);
    assert_eq!(res.body["data"][0]["vtid"], number(1).to_string());
    assert_eq!(
        res.body["nextCursor"],
        Value::Null,
        "no cursor into another tenant's records"
    );
}

on_both_stores!(
    a_scoped_list_reads_nothing_of_another_tenant,
    json_answers_forbid_sniffing,
    unknown_keys_get_a_small_answer,
    duplicate_keys_are_refused_by_name,
    numbers_round_trip_exactly_or_are_refused,
    claims_of_the_wrong_type_grant_nothing,
    another_tenants_record_looks_absent_on_every_route,
);
