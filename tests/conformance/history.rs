//! History pages: oldest first, a cursor bound to the VTID, limits.

use super::*;

async fn patched(api: &Api, changes: usize) -> String {
    let v = api.create(body("f")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..changes {
        let res = api
            .patch(&format!("/vtid/{v}"), json!({"metadata": {"step": i}}))
            .await;
        assert_eq!(res.status, 200, "{}", res.raw);
    }
    v
}

fn versions(res: &vtid_tests::Resp) -> Vec<u64> {
    res.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["toVersion"].as_u64().unwrap())
        .collect()
}

async fn history_pages_follow_a_cursor_oldest_first(api: Api) {
    let v = patched(&api, 5).await;
    let mut seen = Vec::new();
    let mut path = format!("/vtid/{v}/history?limit=2");
    let mut pages = 0;
    loop {
        let res = api.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.raw);
        assert!(res.body["count"].as_u64().unwrap() <= 2);
        seen.extend(versions(&res));
        pages += 1;
        match res.body["nextCursor"].as_str() {
            Some(c) => path = format!("/vtid/{v}/history?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (1..=6).collect::<Vec<u64>>(),
        "each entry once, in order"
    );
    assert_eq!(pages, 3);
    let whole = api.get(&format!("/vtid/{v}/history")).await;
    assert_eq!(versions(&whole), (1..=6).collect::<Vec<u64>>());
    assert!(whole.body["nextCursor"].is_null());
}

async fn a_long_history_starts_with_its_creation(api: Api) {
    // More changes than a page: the creation entry comes first all the same.
    let v = patched(&api, 12).await;
    let first = api.get(&format!("/vtid/{v}/history?limit=5")).await;
    assert_eq!(versions(&first), [1, 2, 3, 4, 5]);
    assert_eq!(first.body["data"][0]["action"], "created");
    let c = first.body["nextCursor"].as_str().unwrap();
    let second = api
        .get(&format!("/vtid/{v}/history?limit=5&cursor={c}"))
        .await;
    assert_eq!(versions(&second), [6, 7, 8, 9, 10]);
}

async fn history_refuses_bad_limits_foreign_cursors_and_unknown_parameters(api: Api) {
    let a = patched(&api, 3).await;
    let b = patched(&api, 3).await;
    for bad in [
        "limit=0",
        "limit=201",
        "limit=%2B5",
        "limit=x",
        "colour=red",
        "limit=1&limit=2",
    ] {
        api.get(&format!("/vtid/{a}/history?{bad}"))
            .await
            .assert_error(400, "invalid_query");
    }
    let page = api.get(&format!("/vtid/{a}/history?limit=1")).await;
    let c = page.body["nextCursor"].as_str().unwrap();
    api.get(&format!("/vtid/{b}/history?cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/{a}/history?cursor=garbage"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/{}/history", vtid(999)))
        .await
        .assert_error(404, "not_found");
}

on_both_stores!(
    history_pages_follow_a_cursor_oldest_first,
    a_long_history_starts_with_its_creation,
    history_refuses_bad_limits_foreign_cursors_and_unknown_parameters,
);
