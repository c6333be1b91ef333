//! Bad input: every field, path and header refused with its name.

use super::*;

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

on_both_stores!(
    every_bad_create_field_is_named,
    invalid_vtids_are_400_and_unknown_are_404,
    fixed_routes_are_not_vtids_and_delete_is_405,
);
