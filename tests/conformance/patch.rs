//! PATCH: the lifecycle, merges, If-Match, concurrent changes.

use super::*;

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

on_both_stores!(
    patch_moves_through_the_lifecycle,
    patch_merges_metadata_and_fields,
    patch_refuses_bad_bodies,
    if_match_makes_patch_conditional,
    concurrent_patches_of_different_keys_all_survive,
);
