//! History, HEAD and health.

use super::*;

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

on_both_stores!(
    history_lists_creation_and_changes_oldest_first,
    head_answers_existence_without_a_body,
    health_touches_the_store,
);
