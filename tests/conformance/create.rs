//! Create and the sequence.

use super::*;

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

on_both_stores!(
    create_answers_201_with_location_etag_and_record,
    sequence_starts_at_one_and_is_padded,
    created_status_sets_timestamps,
    concurrent_creates_get_unique_consecutive_numbers,
    a_second_process_continues_the_sequence,
    refused_creates_consume_no_number,
    parent_must_exist_and_is_a_filter,
);
