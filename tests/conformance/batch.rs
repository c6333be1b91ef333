//! Batches.

use super::*;

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
    let r = api.post("/vtid/batch", json!({"items": orphan})).await;
    r.assert_error(422, "parent_not_found");
    assert_eq!(
        r.detail_fields(),
        ["items[1].parentVtid"],
        "the item is named"
    );
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

on_both_stores!(
    batch_takes_one_consecutive_block,
    a_bad_batch_item_creates_nothing,
    batch_is_idempotent_and_fifty_fit,
    batches_racing_single_creates_never_share_a_number,
);
