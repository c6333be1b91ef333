//! The audit, and integrity after everything at once.

use super::*;

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
    let advance = CounterAdvance {
        year: year(),
        to: 5,
        imported: vec![5],
    };
    api.store().advance_counter(advance).await.unwrap();
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
        .create(vtid_tests::create_request(vec![draft.clone(), orphan]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, shared::store::StoreError::ParentNotFound(_)),
        "{err:?}"
    );
    let ok = store
        .create(vtid_tests::create_request(vec![draft]))
        .await
        .unwrap();
    assert_eq!(ok.records[0].vtid.seq(), 1);
    assert!(store.exists(ok.records[0].vtid).await.unwrap());
    assert!(!store.exists(Vtid::new(year(), 2).unwrap()).await.unwrap());
    store.ping().await.unwrap();
}

on_both_stores!(
    audit_reports_counter_records_and_gaps,
    a_mixed_workload_leaves_no_gap_and_no_duplicate,
    a_record_written_past_the_counter_is_passed_over,
    store_create_is_all_or_nothing,
);
