//! One test body per behaviour, run against both stores: SQLite, and DynamoDB on moto's
//! server. Requests are API Gateway v2 events sent through the functions' handlers.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{Value, json};
use shared::store::{CreateRequest, Store};
use shared::timestamp::Timestamp;
use shared::vtid::Vtid;
use vtid_tests::{Api, Kind, Req, Who, body, seqs};

fn year() -> u16 {
    Timestamp::now().year()
}

fn vtid(seq: u32) -> String {
    Vtid::new(year(), seq).unwrap().to_string()
}

// ---------- create and the sequence ----------

async fn create_answers_201_with_location_etag_and_record(api: Api) {
    let res = api.post("/vtid/create", json!({
        "taskFamily": " deploy ", "taskType": "release", "description": "ship v1", "tenant": "acme",
        "title": "Ship", "assignedTo": "alice", "metadata": {"k": [1, 2]}, "isTest": false
    })).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let v = vtid(1);
    assert_eq!(res.body["ok"], true);
    assert_eq!(res.body["vtid"], v);
    assert_eq!(res.header("location"), Some(format!("/vtid/{v}").as_str()));
    assert_eq!(res.header("etag"), Some("\"1\""));
    let d = &res.body["data"];
    assert_eq!(d["taskFamily"], "deploy", "trimmed");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["version"], 1);
    assert_eq!(d["createdBy"], "admin-1");
    assert_eq!(d["metadata"], json!({"k": [1, 2]}));
    assert_eq!(d["createdAt"], d["updatedAt"]);
    assert!(
        d["startedAt"].is_null() && d["completedAt"].is_null() && d["durationSeconds"].is_null()
    );
    let got = api.get(&format!("/vtid/{v}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["data"], *d);
    assert_eq!(got.header("etag"), Some("\"1\""));
}

async fn sequence_starts_at_one_and_is_padded(api: Api) {
    for i in 1..=3u32 {
        let d = api.create(body("f")).await;
        assert_eq!(d["vtid"], format!("VTID-{}-{:04}", year(), i));
    }
}

async fn created_status_sets_timestamps(api: Api) {
    let active = api.create(json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "status": "active"})).await;
    assert_eq!(active["startedAt"], active["createdAt"]);
    assert!(active["completedAt"].is_null());
    let done = api.create(json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "status": "complete"})).await;
    assert_eq!(done["completedAt"], done["createdAt"]);
    assert_eq!(done["durationSeconds"], 0.0);
}

async fn concurrent_creates_get_unique_consecutive_numbers(api: Api) {
    const CALLERS: usize = 40;
    let results =
        join_all((0..CALLERS).map(|i| api.post("/vtid/create", body(&format!("fam{i}"))))).await;
    let mut numbers = BTreeSet::new();
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.raw);
        let v: Vtid = r.body["vtid"].as_str().unwrap().parse().unwrap();
        assert_eq!(v.year(), year());
        assert!(numbers.insert(v.seq()), "{v} issued twice");
    }
    let expected: BTreeSet<u32> = (1..=CALLERS as u32).collect();
    assert_eq!(numbers, expected, "the block is 1..={CALLERS} with no gap");
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(audit.body["data"]["counter"], CALLERS as u64);
    assert_eq!(audit.body["data"]["missing"], json!([]));
}

async fn a_second_process_continues_the_sequence(api: Api) {
    api.create(body("f")).await;
    api.create(body("f")).await;
    // A fresh process (cold function, restarted server) on the same data.
    let other: std::sync::Arc<dyn Store> = match api.kind {
        Kind::Dynamo => {
            std::sync::Arc::new(vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await)
        }
        Kind::Sqlite => return, // covered by the local server restart test
    };
    let app = shared::App::new(other, Default::default(), b"k".to_vec());
    let res = shared::api::route(
        &app,
        Req::new("POST", "/vtid/create")
            .json(body("f"))
            .into_lambda(),
    )
    .await;
    let res = vtid_tests::Resp::from(res);
    assert_eq!(res.status, 201, "{}", res.raw);
    assert_eq!(res.body["vtid"], vtid(3));
    // And the first process, whose cached counter is now stale, still gets a fresh number.
    assert_eq!(api.create(body("f")).await["vtid"], vtid(4));
}

async fn refused_creates_consume_no_number(api: Api) {
    api.create(body("f")).await;
    let bad = api.post("/vtid/create", json!({"taskFamily": "f"})).await;
    bad.assert_error(400, "invalid_payload");
    let orphan = api
        .post(
            "/vtid/create",
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a",
            "parentVtid": vtid(999)}),
        )
        .await;
    orphan.assert_error(422, "parent_not_found");
    let forbidden = api
        .send(
            Req::new("POST", "/vtid/create")
                .json(body("f"))
                .who(Who::user("other")),
        )
        .await;
    forbidden.assert_error(403, "forbidden");
    assert_eq!(
        api.create(body("f")).await["vtid"],
        vtid(2),
        "no number was consumed"
    );
}

async fn parent_must_exist_and_is_a_filter(api: Api) {
    let parent = api.create(body("epic")).await;
    let pv = parent["vtid"].as_str().unwrap();
    let child = api
        .create(json!({"taskFamily": "sub", "taskType": "t", "description": "d", "tenant": "acme", "parentVtid": pv}))
        .await;
    assert_eq!(child["parentVtid"], pv);
    api.create(body("other")).await;
    let list = api.get(&format!("/vtid/list?parentVtid={pv}")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 1);
    assert_eq!(list.body["data"][0]["vtid"], child["vtid"]);
    let bad = api
        .post(
            "/vtid/create",
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a",
        "parentVtid": "VTID-2026-42"}),
        )
        .await;
    bad.assert_error(400, "invalid_payload");
    assert_eq!(bad.detail_fields(), ["parentVtid"]);
}

// ---------- bad input ----------

async fn every_bad_create_field_is_named(api: Api) {
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"taskType": "t", "description": "d", "tenant": "a"}),
            "taskFamily",
        ),
        (
            json!({"taskFamily": "  ", "taskType": "t", "description": "d", "tenant": "a"}),
            "taskFamily",
        ),
        (
            json!({"taskFamily": long(65), "taskType": "t", "description": "d", "tenant": "a"}),
            "taskFamily",
        ),
        (
            json!({"taskFamily": "a\u{0}b", "taskType": "t", "description": "d", "tenant": "a"}),
            "taskFamily",
        ),
        (
            json!({"taskFamily": 7, "taskType": "t", "description": "d", "tenant": "a"}),
            "taskFamily",
        ),
        (
            json!({"taskFamily": "f", "taskType": long(65), "description": "d", "tenant": "a"}),
            "taskType",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": long(4001), "tenant": "a"}),
            "description",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "", "tenant": "a"}),
            "description",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "title": long(201)}),
            "title",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a b"}),
            "tenant",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": long(65)}),
            "tenant",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "status": "done"}),
            "status",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "assignedTo": long(129)}),
            "assignedTo",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "metadata": [1]}),
            "metadata",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a",
            "metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}),
            "metadata",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a",
            "metadata": {"big": long(16 * 1024)}}),
            "metadata",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "isTest": "yes"}),
            "isTest",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "colour": "red"}),
            "colour",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "vtid": vtid(5)}),
            "vtid",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "createdAt": "2020-01-01T00:00:00Z"}),
            "createdAt",
        ),
        (
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a", "createdBy": "mallory"}),
            "createdBy",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (b, field) in cases {
        let res = api.post("/vtid/create", b.clone()).await;
        res.assert_error(400, "invalid_payload");
        assert!(
            res.detail_fields().iter().any(|f| f == field),
            "{field} not named for {b}: {}",
            res.raw
        );
    }
    for raw in ["", "{", "nope", "{\"taskFamily\": }"] {
        let res = api
            .send(Req::new("POST", "/vtid/create").raw_body(raw))
            .await;
        res.assert_error(400, "invalid_payload");
    }
    let huge = api
        .send(Req::new("POST", "/vtid/create").raw_body(" ".repeat(70 * 1024) + "{}"))
        .await;
    huge.assert_error(413, "payload_too_large");
    // Nothing above consumed a number.
    assert_eq!(api.create(body("f")).await["vtid"], vtid(1));
}

async fn invalid_vtids_are_400_and_unknown_are_404(api: Api) {
    api.create(body("f")).await;
    for bad in [
        "vtid-2026-0001",
        "VTID-2026-1",
        "VTID-2026-00001",
        "VTID-26-0001",
        "VTID-2026-0000",
        "VTID-2026-0001%20",
        "x",
    ] {
        for req in [
            Req::new("GET", &format!("/vtid/{bad}")),
            Req::new("PATCH", &format!("/vtid/{bad}")).json(json!({"title": "t"})),
            Req::new("GET", &format!("/vtid/{bad}/history")),
        ] {
            let res = api.send(req).await;
            res.assert_error(400, "invalid_vtid");
            assert!(
                res.body["error"]
                    .as_str()
                    .unwrap()
                    .contains("VTID-YYYY-NNNN"),
                "{}",
                res.raw
            );
        }
    }
    let missing = vtid(77);
    api.get(&format!("/vtid/{missing}"))
        .await
        .assert_error(404, "not_found");
    api.patch(&format!("/vtid/{missing}"), json!({"status": "active"}))
        .await
        .assert_error(404, "not_found");
    api.get(&format!("/vtid/{missing}/history"))
        .await
        .assert_error(404, "not_found");
}

async fn fixed_routes_are_not_vtids_and_delete_is_405(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.get("/vtid/list").await.body["count"], 1);
    assert_eq!(api.get("/vtid/health").await.body["service"], "vtid-ledger");
    let del = api.send(Req::new("DELETE", &format!("/vtid/{v}"))).await;
    del.assert_error(405, "method_not_allowed");
    assert!(del.header("allow").is_some());
    api.send(Req::new("PUT", &format!("/vtid/{v}")).json(body("f")))
        .await
        .assert_error(405, "method_not_allowed");
    api.send(Req::new("GET", "/vtid/create"))
        .await
        .assert_error(405, "method_not_allowed");
    api.send(Req::new("GET", "/elsewhere"))
        .await
        .assert_error(404, "no_route");
    assert_eq!(
        api.get(&format!("/vtid/{v}")).await.status,
        200,
        "still there"
    );
}

// ---------- PATCH ----------

async fn patch_moves_through_the_lifecycle(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    let r = api.patch(&path, json!({"status": "active"})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["vtid"], v);
    assert_eq!(r.body["data"]["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert!(r.body["data"]["startedAt"].is_string());
    let again = api.patch(&path, json!({"status": "active"})).await;
    assert_eq!(again.status, 200, "same status is a no-op that succeeds");
    assert_eq!(again.body["data"]["version"], 2, "no version for no change");
    let bad = api.patch(&path, json!({"status": "pending"})).await;
    bad.assert_error(409, "invalid_transition");
    assert!(
        bad.body["error"].as_str().unwrap().contains("active")
            && bad.body["error"].as_str().unwrap().contains("pending")
    );
    let done = api.patch(&path, json!({"status": "complete"})).await;
    assert_eq!(done.body["data"]["status"], "complete");
    assert!(done.body["data"]["completedAt"].is_string());
    assert!(done.body["data"]["durationSeconds"].as_f64().unwrap() >= 0.0);
    api.patch(&path, json!({"status": "active"}))
        .await
        .assert_error(409, "invalid_transition");
    let hist = api.get(&format!("{path}/history")).await;
    assert_eq!(
        hist.body["count"], 3,
        "create + 2 changes, the no-op wrote none: {}",
        hist.raw
    );
}

async fn patch_merges_metadata_and_fields(api: Api) {
    let v = api
        .create(json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "acme",
            "metadata": {"keep": 1, "drop": 2, "nested": {"a": 1}}, "assignedTo": "bob", "title": "T"}))
        .await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    let r = api
        .patch(
            &path,
            json!({"metadata": {"drop": null, "nested": {"b": 2}, "new": true}, "assignedTo": null,
            "title": "New", "description": "changed", "isTest": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let d = &r.body["data"];
    assert_eq!(
        d["metadata"],
        json!({"keep": 1, "nested": {"b": 2}, "new": true})
    );
    assert!(d["assignedTo"].is_null());
    assert_eq!(
        (
            d["title"].as_str(),
            d["description"].as_str(),
            d["isTest"].as_bool()
        ),
        (Some("New"), Some("changed"), Some(true))
    );
    assert_eq!(d["version"], 2);
    assert_eq!(d["updatedBy"], "admin-1");
}

async fn patch_refuses_bad_bodies(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    for (b, field) in [
        (json!({}), "body"),
        (json!({"tenant": "other"}), "tenant"),
        (json!({"taskFamily": "x"}), "taskFamily"),
        (json!({"version": 9}), "version"),
        (json!({"status": "finished"}), "status"),
        (json!({"description": null}), "description"),
        (json!({"metadata": "x"}), "metadata"),
        (json!({"title": "x".repeat(201)}), "title"),
    ] {
        let res = api.patch(&path, b.clone()).await;
        res.assert_error(400, "invalid_payload");
        assert!(
            res.detail_fields().iter().any(|f| f == field),
            "{field} for {b}: {}",
            res.raw
        );
    }
    api.send(Req::new("PATCH", &path))
        .await
        .assert_error(400, "invalid_payload");
    // Merged metadata over the limit is refused too.
    let half = "y".repeat(9000);
    assert_eq!(
        api.patch(&path, json!({"metadata": {"a": half}}))
            .await
            .status,
        200
    );
    let res = api.patch(&path, json!({"metadata": {"b": half}})).await;
    res.assert_error(400, "invalid_payload");
    assert_eq!(
        api.get(&path).await.body["data"]["version"],
        2,
        "the refused PATCH changed nothing"
    );
}

async fn if_match_makes_patch_conditional(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    let ok = api
        .send(
            Req::new("PATCH", &path)
                .header("If-Match", "\"1\"")
                .json(json!({"title": "a"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let bare = api
        .send(
            Req::new("PATCH", &path)
                .header("If-Match", "2")
                .json(json!({"title": "b"})),
        )
        .await;
    assert_eq!(bare.status, 200, "{}", bare.raw);
    let stale = api
        .send(
            Req::new("PATCH", &path)
                .header("If-Match", "\"2\"")
                .json(json!({"title": "c"})),
        )
        .await;
    stale.assert_error(412, "version_mismatch");
    for bad in ["abc", "\"x\"", "-1", "0", "\"1", "99999999999999999999999"] {
        let res = api
            .send(
                Req::new("PATCH", &path)
                    .header("If-Match", bad)
                    .json(json!({"title": "d"})),
            )
            .await;
        res.assert_error(400, "invalid_payload");
    }
    let got = api.get(&path).await;
    assert_eq!(got.body["data"]["title"], "b");
    assert_eq!(got.header("etag"), Some("\"3\""));
}

async fn concurrent_patches_of_different_keys_all_survive(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    const CALLERS: usize = 16;
    let results =
        join_all((0..CALLERS).map(|i| api.patch(&path, json!({"metadata": {format!("k{i}"): i}}))))
            .await;
    for r in &results {
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let d = api.get(&path).await.body["data"].clone();
    for i in 0..CALLERS {
        assert_eq!(
            d["metadata"][format!("k{i}")],
            i,
            "k{i} lost: {}",
            d["metadata"]
        );
    }
    assert_eq!(d["version"], CALLERS as u64 + 1);
    let hist = api.get(&format!("{path}/history")).await;
    let entries = hist.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), CALLERS + 1, "one entry per change");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["toVersion"], i as u64 + 1, "versions consecutive");
        if i > 0 {
            assert_eq!(e["fromVersion"], i as u64);
        }
    }
}

// ---------- history and HEAD ----------

async fn history_lists_creation_and_changes_oldest_first(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    api.patch(&path, json!({"status": "active", "assignedTo": "carol"}))
        .await;
    api.send(
        Req::new("PATCH", &path)
            .who(Who::Jwt(json!({"sub": "svc-9", "role": "service"})))
            .json(json!({"status": "blocked"})),
    )
    .await;
    let hist = api.get(&format!("{path}/history")).await;
    assert_eq!(hist.status, 200);
    let e = hist.body["data"].as_array().unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e[0]["action"], "created");
    assert_eq!(e[0]["toVersion"], 1);
    assert!(e[0]["fromVersion"].is_null());
    assert_eq!(e[0]["changes"]["taskFamily"]["after"], "f");
    assert_eq!(
        e[1]["changes"]["status"],
        json!({"before": "pending", "after": "active"})
    );
    assert_eq!(
        e[1]["changes"]["assignedTo"],
        json!({"before": null, "after": "carol"})
    );
    assert_eq!(e[2]["by"], "svc-9");
    assert_eq!(
        (e[2]["fromVersion"].as_u64(), e[2]["toVersion"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(e[1]["at"].as_str() <= e[2]["at"].as_str());
}

async fn head_answers_existence_without_a_body(api: Api) {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let yes = api.send(Req::new("HEAD", &format!("/vtid/{v}"))).await;
    assert_eq!((yes.status, yes.raw.as_str()), (200, ""));
    let no = api
        .send(Req::new("HEAD", &format!("/vtid/{}", vtid(50))))
        .await;
    assert_eq!((no.status, no.raw.as_str()), (404, ""));
    let bad = api.send(Req::new("HEAD", "/vtid/VTID-2026-1")).await;
    assert_eq!((bad.status, bad.raw.as_str()), (400, ""));
}

// ---------- list ----------

async fn list_filters_in_any_combination(api: Api) {
    let rows = [
        ("deploy", "acme", Some("alice"), "pending"),
        ("deploy", "acme", Some("bob"), "active"),
        ("deploy", "umbrella", Some("alice"), "active"),
        ("govern", "acme", None, "active"),
        ("govern", "umbrella", Some("alice"), "blocked"),
    ];
    for (fam, tenant, who, status) in rows {
        api.create(
            json!({"taskFamily": fam, "taskType": "t", "description": "d", "tenant": tenant,
            "assignedTo": who, "status": status}),
        )
        .await;
    }
    let count = |q: &str| {
        let q = q.to_owned();
        let api = &api;
        async move {
            let r = api.get(&format!("/vtid/list?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.raw);
            seqs(r.body["data"].as_array().unwrap())
        }
    };
    assert_eq!(count("").await, [5, 4, 3, 2, 1], "newest first");
    assert_eq!(count("taskFamily=deploy").await, [3, 2, 1]);
    assert_eq!(count("tenant=acme").await, [4, 2, 1]);
    assert_eq!(count("assignedTo=alice").await, [5, 3, 1]);
    assert_eq!(count("status=active").await, [4, 3, 2]);
    assert_eq!(count("taskFamily=deploy&status=active").await, [3, 2]);
    assert_eq!(
        count("taskFamily=deploy&tenant=acme&assignedTo=alice").await,
        [1]
    );
    assert_eq!(
        count("tenant=umbrella&status=blocked&assignedTo=alice&taskFamily=govern").await,
        [5]
    );
    assert_eq!(
        count(&format!("year={}&status=active", year())).await,
        [4, 3, 2]
    );
    assert_eq!(
        count(&format!("year={}", year() - 1)).await,
        Vec::<u32>::new()
    );
    assert_eq!(count("taskFamily=nothing").await, Vec::<u32>::new());
}

async fn list_values_are_data_not_query_text(api: Api) {
    let tricky = "x' OR '1'='1\" -- ; DROP TABLE records; %00 #{}:=<>";
    api.create(
        json!({"taskFamily": tricky, "taskType": "t", "description": "d", "tenant": "acme"}),
    )
    .await;
    api.create(body("plain")).await;
    let enc: String = tricky.bytes().map(|b| format!("%{b:02X}")).collect();
    let r = api.get(&format!("/vtid/list?taskFamily={enc}")).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        seqs(r.body["data"].as_array().unwrap()),
        [1],
        "matched literally"
    );
    let r = api.get("/vtid/list?taskFamily=%27%20OR%201%3D1").await;
    assert_eq!(r.body["count"], 0);
    let r = api.get("/vtid/list?assignedTo=%FF%FE").await;
    r.assert_error(400, "invalid_query");
    assert_eq!(r.detail_fields(), ["assignedTo"]);
    let unicode = api.get("/vtid/list?taskFamily=%E2%9C%93").await;
    assert_eq!(
        (unicode.status, unicode.body["count"].as_u64()),
        (200, Some(0))
    );
}

async fn list_refuses_bad_queries(api: Api) {
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("status=done", "status"),
        ("year=26", "year"),
        ("year=abcd", "year"),
        ("parentVtid=VTID-2026-1", "parentVtid"),
        ("tenant=a%20b", "tenant"),
        ("taskFamily=", "taskFamily"),
        ("includeTest=yes", "includeTest"),
        ("staus=active", "staus"),
        ("status=active&status=pending", "status"),
    ] {
        let r = api.get(&format!("/vtid/list?{q}")).await;
        r.assert_error(400, "invalid_query");
        assert!(
            r.detail_fields().iter().any(|f| f == field),
            "{q}: {}",
            r.raw
        );
    }
    let long = "x".repeat(65);
    api.get(&format!("/vtid/list?taskFamily={long}"))
        .await
        .assert_error(400, "invalid_query");
}

async fn list_limits_and_default(api: Api) {
    let items: Vec<Value> = (0..50).map(|i| body(&format!("f{i}"))).collect();
    assert_eq!(
        api.post("/vtid/batch", json!({"items": items}))
            .await
            .status,
        201
    );
    api.create(body("last")).await;
    let all = api.get("/vtid/list").await;
    assert_eq!(all.body["count"], 50, "default limit is 50");
    assert!(all.body["nextCursor"].is_string());
    let one = api.get("/vtid/list?limit=1").await;
    assert_eq!(seqs(one.body["data"].as_array().unwrap()), [51]);
    let max = api.get("/vtid/list?limit=200").await;
    assert_eq!(max.body["count"], 51);
    assert!(
        max.body["nextCursor"].is_null(),
        "no cursor on the last page"
    );
}

async fn cursor_pages_exactly_while_creates_continue(api: Api) {
    for i in 0..12 {
        api.create(body(if i % 2 == 0 { "even" } else { "odd" }))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let q = match &cursor {
            Some(c) => format!("/vtid/list?taskFamily=even&limit=2&cursor={c}"),
            None => "/vtid/list?taskFamily=even&limit=2".into(),
        };
        let r = api.get(&q).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let data = r.body["data"].as_array().unwrap();
        seen.extend(seqs(data));
        // New records keep arriving between pages.
        api.create(body("even")).await;
        match r.body["nextCursor"].as_str() {
            Some(c) => {
                assert_eq!(data.len(), 2, "a full page whenever more match");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
        assert!(page < 10);
    }
    assert_eq!(seen, [11, 9, 7, 5, 3, 1], "nothing repeated or skipped");
}

async fn cursor_is_bound_to_filters_and_tamper_proof(api: Api) {
    for _ in 0..3 {
        api.create(body("f")).await;
    }
    let r = api.get("/vtid/list?taskFamily=f&limit=1").await;
    let c = r.body["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/vtid/list?taskFamily=f&limit=1&cursor={c}"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/vtid/list?taskFamily=f&limit=5&cursor={c}"))
            .await
            .status,
        200,
        "limit may change"
    );
    api.get(&format!("/vtid/list?taskFamily=g&limit=1&cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/list?limit=1&cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!(
        "/vtid/list?taskFamily=f&includeTest=true&cursor={c}"
    ))
    .await
    .assert_error(400, "invalid_cursor");
    let mut t = c.clone().into_bytes();
    t[1] = if t[1] == b'A' { b'B' } else { b'A' };
    let t = String::from_utf8(t).unwrap();
    api.get(&format!("/vtid/list?taskFamily=f&cursor={t}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get("/vtid/list?cursor=garbage")
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/list?cursor={}", "A".repeat(500)))
        .await
        .assert_error(400, "invalid_cursor");
}

async fn filtered_pages_are_full_and_test_rows_hidden(api: Api) {
    // Most records are test rows: a page must still hold `limit` real ones.
    for i in 0..30 {
        let mut b = body("mixed");
        b["isTest"] = json!(i % 5 != 0);
        api.create(b).await;
    }
    let r = api.get("/vtid/list?taskFamily=mixed&limit=4").await;
    assert_eq!(seqs(r.body["data"].as_array().unwrap()), [26, 21, 16, 11]);
    assert!(r.body["nextCursor"].is_string());
    let c = r.body["nextCursor"].as_str().unwrap();
    let r2 = api
        .get(&format!("/vtid/list?taskFamily=mixed&limit=4&cursor={c}"))
        .await;
    assert_eq!(seqs(r2.body["data"].as_array().unwrap()), [6, 1]);
    assert!(r2.body["nextCursor"].is_null());
    let all = api.get("/vtid/list?limit=200").await;
    assert_eq!(all.body["count"], 6);
    let with_tests = api.get("/vtid/list?limit=200&includeTest=true").await;
    assert_eq!(with_tests.body["count"], 30);
    let unfiltered = api.get("/vtid/list?limit=3").await;
    assert_eq!(
        seqs(unfiltered.body["data"].as_array().unwrap()),
        [26, 21, 16]
    );
}

async fn order_is_numeric_past_9999(api: Api) {
    api.store()
        .advance_counter(year(), 9998, &[])
        .await
        .unwrap();
    let a = api.create(body("f")).await;
    let b = api.create(body("f")).await;
    assert_eq!(a["vtid"], format!("VTID-{}-9999", year()));
    assert_eq!(b["vtid"], format!("VTID-{}-10000", year()));
    let r = api.get("/vtid/list").await;
    assert_eq!(seqs(r.body["data"].as_array().unwrap()), [10000, 9999]);
    let c = api.get("/vtid/list?limit=1").await.body["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = api.get(&format!("/vtid/list?limit=1&cursor={c}")).await;
    assert_eq!(seqs(next.body["data"].as_array().unwrap()), [9999]);
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(audit.body["data"]["missing"], json!([]));
    assert_eq!(audit.body["data"]["skipped"], json!([[1, 9998]]));
}

// ---------- health ----------

async fn health_touches_the_store(api: Api) {
    let r = api
        .send(Req::new("GET", "/vtid/health").who(Who::Nobody))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["service"], "vtid-ledger");
    assert_eq!(r.body["checks"]["store"]["ok"], true);
    assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
}

// ---------- idempotency ----------

async fn idempotency_key_replays_and_conflicts(api: Api) {
    let first = api
        .send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "deploy-42")
                .json(body("f")),
        )
        .await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    // Same body, other key order and spacing: the same request.
    let same = json!({"tenant": "acme", "description": "something to do", "taskType": "task", "taskFamily": "f"});
    let again = api
        .send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "deploy-42")
                .json(same),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["vtid"], first.body["vtid"]);
    let other = api
        .send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "deploy-42")
                .json(body("g")),
        )
        .await;
    other.assert_error(409, "idempotency_conflict");
    // Keys are per tenant: the same key in another tenant is another request.
    let mut b = body("f");
    b["tenant"] = json!("umbrella");
    let elsewhere = api
        .send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "deploy-42")
                .json(b),
        )
        .await;
    assert_eq!(elsewhere.status, 201);
    assert_eq!(elsewhere.body["vtid"], vtid(2));
    for bad in ["", &"k".repeat(256), "tab\there"] {
        let r = api
            .send(
                Req::new("POST", "/vtid/create")
                    .header("Idempotency-Key", bad)
                    .json(body("f")),
            )
            .await;
        r.assert_error(400, "invalid_payload");
    }
    assert_eq!(api.create(body("f")).await["vtid"], vtid(3));
}

async fn one_idempotency_key_from_many_callers_creates_once(api: Api) {
    api.create(body("warm")).await;
    let results = join_all((0..16).map(|_| {
        api.send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "same-key")
                .json(body("f")),
        )
    }))
    .await;
    let vtids: BTreeSet<String> = results
        .iter()
        .map(|r| {
            assert!(r.status == 201 || r.status == 200, "{}", r.raw);
            r.body["vtid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(vtids.len(), 1, "one VTID for one key: {vtids:?}");
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    let list = api.get("/vtid/list?taskFamily=f").await;
    assert_eq!(list.body["count"], 1);
}

// ---------- batch ----------

async fn batch_takes_one_consecutive_block(api: Api) {
    api.create(body("before")).await;
    let items: Vec<Value> = (0..5).map(|i| body(&format!("b{i}"))).collect();
    let r = api.post("/vtid/batch", json!({"items": items})).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(seqs(data), [2, 3, 4, 5, 6]);
    for (i, rec) in data.iter().enumerate() {
        assert_eq!(
            rec["taskFamily"],
            format!("b{i}"),
            "in the order of the items"
        );
    }
    assert_eq!(api.create(body("after")).await["vtid"], vtid(7));
}

async fn a_bad_batch_item_creates_nothing(api: Api) {
    let mut items: Vec<Value> = (0..4).map(|i| body(&format!("b{i}"))).collect();
    items[2]["status"] = json!("nope");
    items[3]["tenant"] = json!("bad tenant");
    let r = api.post("/vtid/batch", json!({"items": items})).await;
    r.assert_error(400, "invalid_payload");
    assert_eq!(r.detail_fields(), ["items[2].status", "items[3].tenant"]);
    let mut orphan: Vec<Value> = (0..3).map(|i| body(&format!("b{i}"))).collect();
    orphan[1]["parentVtid"] = json!(vtid(500));
    api.post("/vtid/batch", json!({"items": orphan}))
        .await
        .assert_error(422, "parent_not_found");
    api.post("/vtid/batch", json!({"items": []}))
        .await
        .assert_error(400, "invalid_payload");
    let many: Vec<Value> = (0..51).map(|_| body("x")).collect();
    api.post("/vtid/batch", json!({"items": many}))
        .await
        .assert_error(400, "invalid_payload");
    api.post("/vtid/batch", json!({"items": [body("x")], "extra": 1}))
        .await
        .assert_error(400, "invalid_payload");
    api.post("/vtid/batch", json!([body("x")]))
        .await
        .assert_error(400, "invalid_payload");
    let forbidden = api.send(Req::new("POST", "/vtid/batch").who(Who::user("acme"))
        .json(json!({"items": [body("x"), {"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "umbrella"}]}))).await;
    forbidden.assert_error(403, "forbidden");
    assert_eq!(
        api.get("/vtid/list?includeTest=true").await.body["count"],
        0,
        "nothing was created"
    );
    assert_eq!(
        api.create(body("f")).await["vtid"],
        vtid(1),
        "no number was consumed"
    );
}

async fn batch_is_idempotent_and_fifty_fit(api: Api) {
    let items: Vec<Value> = (0..50)
        .map(|i| {
            let mut b = body(&format!("b{i}"));
            b["metadata"] = json!({"i": i, "pad": "p".repeat(500)});
            b
        })
        .collect();
    let r = api
        .send(
            Req::new("POST", "/vtid/batch")
                .header("Idempotency-Key", "b1")
                .json(json!({"items": items})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["count"], 50);
    let again = api
        .send(
            Req::new("POST", "/vtid/batch")
                .header("Idempotency-Key", "b1")
                .json(json!({"items": items})),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        seqs(again.body["data"].as_array().unwrap()),
        (1..=50).collect::<Vec<u32>>()
    );
}

async fn batches_racing_single_creates_never_share_a_number(api: Api) {
    let batches = (0..6).map(|b| {
        let items: Vec<Value> = (0..5).map(|i| body(&format!("batch{b}-{i}"))).collect();
        api.post("/vtid/batch", json!({"items": items}))
    });
    let singles = (0..20).map(|i| api.post("/vtid/create", body(&format!("single{i}"))));
    let (b, s) = futures::join!(join_all(batches), join_all(singles));
    let mut all = Vec::new();
    for r in b {
        assert_eq!(r.status, 201, "{}", r.raw);
        let block = seqs(r.body["data"].as_array().unwrap());
        assert!(
            block.windows(2).all(|w| w[1] == w[0] + 1),
            "a batch is one consecutive block: {block:?}"
        );
        all.extend(block);
    }
    for r in s {
        assert_eq!(r.status, 201, "{}", r.raw);
        all.extend(seqs(std::slice::from_ref(&r.body["data"])));
    }
    let unique: BTreeSet<u32> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a number issued twice");
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    let counter = audit.body["data"]["counter"].as_u64().unwrap();
    let missing = audit.body["data"]["missing"].as_array().unwrap().len() as u64;
    assert_eq!(
        counter - missing,
        50,
        "every number is a record or shown as missing"
    );
    assert_eq!(audit.body["data"]["duplicates"], json!([]));
}

// ---------- audit ----------

async fn audit_reports_counter_records_and_gaps(api: Api) {
    for _ in 0..3 {
        api.create(body("f")).await;
    }
    let r = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let d = &r.body["data"];
    assert_eq!(d["year"], year());
    assert_eq!(
        (d["counter"].as_u64(), d["records"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(d["missing"], json!([]));
    assert_eq!(d["duplicates"], json!([]));
    // A number reserved and never written (a crash between the two writes) shows up.
    api.store().advance_counter(year(), 5, &[5]).await.unwrap();
    let r = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(r.body["data"]["missing"], json!([5]));
    assert_eq!(r.body["data"]["skipped"], json!([[4, 4]]));
    api.send(Req::new("GET", "/vtid/audit").who(Who::user("acme")))
        .await
        .assert_error(403, "forbidden");
    api.get("/vtid/audit?year=20x6")
        .await
        .assert_error(400, "invalid_query");
    api.get("/vtid/audit?yr=2026")
        .await
        .assert_error(400, "invalid_query");
}

// ---------- integrity after everything at once ----------

async fn a_mixed_workload_leaves_no_gap_and_no_duplicate(api: Api) {
    let parent = api.create(body("epic")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let singles = (0..16).map(|i| {
        let mut b = body(&format!("s{i}"));
        if i % 4 == 0 {
            b["parentVtid"] = json!(parent);
        }
        api.post("/vtid/create", b)
    });
    let batch_keys: Vec<String> = (0..4).map(|b| format!("batch-{b}")).collect();
    let batches = batch_keys.iter().enumerate().map(|(b, key)| {
        let items: Vec<Value> = (0..3).map(|i| body(&format!("b{b}-{i}"))).collect();
        api.send(
            Req::new("POST", "/vtid/batch")
                .header("Idempotency-Key", key)
                .json(json!({"items": items})),
        )
    });
    let retries = (0..8).map(|_| {
        api.send(
            Req::new("POST", "/vtid/create")
                .header("Idempotency-Key", "retried")
                .json(body("r")),
        )
    });
    let refused = (0..8).map(|i| {
        let mut b = body("bad");
        if i % 2 == 0 {
            b["parentVtid"] = json!(vtid(9000));
        } else {
            b["status"] = json!("unknown");
        }
        api.post("/vtid/create", b)
    });
    let parent_path = format!("/vtid/{parent}");
    let patches =
        (0..8).map(|i| api.patch(&parent_path, json!({"metadata": {format!("m{i}"): i}})));
    let (s, b, r, x, p) = futures::join!(
        join_all(singles),
        join_all(batches),
        join_all(retries),
        join_all(refused),
        join_all(patches)
    );
    assert!(s.iter().all(|r| r.status == 201) && b.iter().all(|r| r.status == 201));
    assert!(r.iter().all(|r| r.status == 201 || r.status == 200));
    assert!(x.iter().all(|r| r.status == 400 || r.status == 422));
    assert!(p.iter().all(|r| r.status == 200));
    // Retried batches replay their block.
    let again = api
        .send(
            Req::new("POST", "/vtid/batch")
                .header("Idempotency-Key", "batch-0")
                .json(
                    json!({"items": (0..3).map(|i| body(&format!("b0-{i}"))).collect::<Vec<_>>()}),
                ),
        )
        .await;
    assert_eq!(again.status, 200);
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await.body["data"].clone();
    let expected = 1 + 16 + 4 * 3 + 1;
    assert_eq!(audit["counter"], expected, "{audit}");
    assert_eq!(audit["records"], expected);
    assert_eq!(audit["missing"], json!([]), "no gap");
    assert_eq!(audit["duplicates"], json!([]));
    assert_eq!(audit["aboveCounter"], json!([]));
    let listed = api.get("/vtid/list?limit=200").await;
    let mut numbers = seqs(listed.body["data"].as_array().unwrap());
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=expected as u32).collect::<Vec<_>>());
}

// ---------- the store contract directly ----------

async fn a_record_written_past_the_counter_is_passed_over(api: Api) {
    let draft = shared::validation::parse_create(&body("outside"), None, "").unwrap();
    let outsider = draft.into_record(Vtid::new(year(), 1).unwrap(), "outsider", Timestamp::now());
    api.store().import_record(&outsider).await.unwrap();
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(audit.body["data"]["aboveCounter"], json!([vtid(1)]));
    assert_eq!(api.create(body("f")).await["vtid"], vtid(2));
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(audit.body["data"]["counter"], 2);
    assert_eq!(audit.body["data"]["missing"], json!([]));
}

async fn store_create_is_all_or_nothing(api: Api) {
    let store = api.store();
    let draft = shared::validation::parse_create(&body("f"), None, "").unwrap();
    let mut orphan = draft.clone();
    orphan.parent_vtid = Some(Vtid::new(year(), 99).unwrap());
    let err = store
        .create(CreateRequest {
            drafts: vec![draft.clone(), orphan],
            by: "t".into(),
            now: Timestamp::now(),
            idempotency: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, shared::store::StoreError::ParentNotFound(_)),
        "{err:?}"
    );
    let ok = store
        .create(CreateRequest {
            drafts: vec![draft],
            by: "t".into(),
            now: Timestamp::now(),
            idempotency: None,
        })
        .await
        .unwrap();
    assert_eq!(ok.records[0].vtid.seq(), 1);
    assert!(store.exists(ok.records[0].vtid).await.unwrap());
    assert!(!store.exists(Vtid::new(year(), 2).unwrap()).await.unwrap());
    store.ping().await.unwrap();
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(vtid_tests::Api::new(vtid_tests::Kind::Sqlite).await).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(vtid_tests::Api::new(vtid_tests::Kind::Dynamo).await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    create_answers_201_with_location_etag_and_record,
    sequence_starts_at_one_and_is_padded,
    created_status_sets_timestamps,
    concurrent_creates_get_unique_consecutive_numbers,
    a_second_process_continues_the_sequence,
    refused_creates_consume_no_number,
    parent_must_exist_and_is_a_filter,
    every_bad_create_field_is_named,
    invalid_vtids_are_400_and_unknown_are_404,
    fixed_routes_are_not_vtids_and_delete_is_405,
    patch_moves_through_the_lifecycle,
    patch_merges_metadata_and_fields,
    patch_refuses_bad_bodies,
    if_match_makes_patch_conditional,
    concurrent_patches_of_different_keys_all_survive,
    history_lists_creation_and_changes_oldest_first,
    head_answers_existence_without_a_body,
    list_filters_in_any_combination,
    list_values_are_data_not_query_text,
    list_refuses_bad_queries,
    list_limits_and_default,
    cursor_pages_exactly_while_creates_continue,
    cursor_is_bound_to_filters_and_tamper_proof,
    filtered_pages_are_full_and_test_rows_hidden,
    order_is_numeric_past_9999,
    health_touches_the_store,
    idempotency_key_replays_and_conflicts,
    one_idempotency_key_from_many_callers_creates_once,
    batch_takes_one_consecutive_block,
    a_bad_batch_item_creates_nothing,
    batch_is_idempotent_and_fifty_fit,
    batches_racing_single_creates_never_share_a_number,
    audit_reports_counter_records_and_gaps,
    store_create_is_all_or_nothing,
    a_mixed_workload_leaves_no_gap_and_no_duplicate,
    a_record_written_past_the_counter_is_passed_over,
);

/// DynamoDB only: the contended path's lease on an idempotency key.
mod dynamo_lease {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::store::schema::{IDEMPOTENCY_SK, idempotency_pk};
    use shared::store::{CreateRequest, IdempotencyKey, Store, StoreError};
    use shared::timestamp::Timestamp;

    async fn lease(store: &shared::store::dynamo::DynamoStore, fingerprint: &str, until: i64) {
        let now = Timestamp::now().unix_seconds();
        store
            .client()
            .put_item()
            .table_name(store.table())
            .item("pk", AttributeValue::S(idempotency_pk("acme", "k")))
            .item("sk", AttributeValue::S(IDEMPOTENCY_SK.into()))
            .item("fingerprint", AttributeValue::S(fingerprint.into()))
            .item("lease", AttributeValue::S("a-dead-request".into()))
            .item("leaseUntil", AttributeValue::N((now + until).to_string()))
            .item("expiresAt", AttributeValue::N((now + 3600).to_string()))
            .send()
            .await
            .unwrap();
    }

    fn request(fingerprint: &str) -> CreateRequest {
        let draft = shared::validation::parse_create(&vtid_tests::body("f"), None, "").unwrap();
        CreateRequest {
            drafts: vec![draft],
            by: "t".into(),
            now: Timestamp::now(),
            idempotency: Some(IdempotencyKey {
                scope: "acme".into(),
                key: "k".into(),
                fingerprint: fingerprint.into(),
            }),
        }
    }

    #[tokio::test]
    async fn a_parent_made_by_another_process_inside_the_guessed_block_is_found() {
        let api = vtid_tests::Api::new(vtid_tests::Kind::Dynamo).await;
        api.create(vtid_tests::body("first")).await;
        // Another warm instance takes the next number; this one still guesses it is free.
        let other = vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await;
        let draft = shared::validation::parse_create(&vtid_tests::body("epic"), None, "").unwrap();
        let epic = other
            .create(CreateRequest {
                drafts: vec![draft],
                by: "b".into(),
                now: Timestamp::now(),
                idempotency: None,
            })
            .await
            .unwrap()
            .records[0]
            .vtid;
        let mut child = vtid_tests::body("step");
        child["parentVtid"] = serde_json::json!(epic.to_string());
        let res = api.post("/vtid/create", child).await;
        assert_eq!(res.status, 201, "{}", res.raw);
        assert_eq!(res.body["data"]["parentVtid"], epic.to_string());
        assert_eq!(
            res.body["vtid"],
            shared::vtid::Vtid::new(epic.year(), epic.seq() + 1)
                .unwrap()
                .to_string()
        );
        // A parent that names the very number this create would get does not exist yet.
        let mut ahead = vtid_tests::body("x");
        ahead["parentVtid"] = serde_json::json!(
            shared::vtid::Vtid::new(epic.year(), epic.seq() + 2)
                .unwrap()
                .to_string()
        );
        api.post("/vtid/create", ahead)
            .await
            .assert_error(422, "parent_not_found");
        let audit = store_audit(&api).await;
        assert_eq!(
            audit.missing,
            Vec::<u64>::new(),
            "the refused create took no number"
        );
    }

    async fn store_audit(api: &vtid_tests::Api) -> shared::store::Audit {
        api.store().audit(Timestamp::now().year()).await.unwrap()
    }

    #[tokio::test]
    async fn a_dead_requests_lease_runs_out_and_another_body_still_conflicts() {
        let store = vtid_tests::dynamo().await;
        lease(&store, "other-body", 30).await;
        let err = store.create(request("this-body")).await.unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyConflict), "{err:?}");
        lease(&store, "this-body", -1).await;
        let first = store.create(request("this-body")).await.unwrap();
        assert!(!first.replayed, "the expired lease was taken over");
        let again = store.create(request("this-body")).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.records[0].vtid, first.records[0].vtid);
        assert_eq!(
            store.audit(Timestamp::now().year()).await.unwrap().missing,
            Vec::<u64>::new()
        );
    }
}
