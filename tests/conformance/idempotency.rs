//! Idempotency keys.

use super::*;

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

/// A batch of several tenants' items keeps its key apart from each tenant's own: the
/// same key on a batch of its first item's tenant alone is another request, not a
/// conflict; and the mixed batch replays as itself.
async fn a_mixed_batch_keeps_its_key_apart_from_each_tenants(api: Api) {
    let item = |tenant: &str| {
        let mut b = body("f");
        b["tenant"] = json!(tenant);
        b
    };
    let batch = |items: Vec<Value>| {
        Req::new("POST", "/vtid/batch")
            .header("Idempotency-Key", "nightly")
            .json(json!({"items": items}))
    };
    let mixed = api.send(batch(vec![item("globex"), item("acme")])).await;
    assert_eq!(mixed.status, 201, "{}", mixed.raw);
    let alone = api.send(batch(vec![item("globex")])).await;
    assert_eq!(alone.status, 201, "another request: {}", alone.raw);
    let again = api.send(batch(vec![item("globex"), item("acme")])).await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert_eq!(again.body["data"], mixed.body["data"]);
}

on_both_stores!(
    a_mixed_batch_keeps_its_key_apart_from_each_tenants,
    idempotency_key_replays_and_conflicts,
    one_idempotency_key_from_many_callers_creates_once,
);
