//! List: filters, limits, cursors, full pages, numeric order.

use super::*;

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
        .advance_counter(CounterAdvance {
            year: year(),
            to: 9998,
            imported: vec![],
        })
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

/// `n` records of tenant `acme`, status pending, numbered from 1.
fn records(n: u32, body: &Value) -> Vec<shared::record::Record> {
    let draft = vtid_tests::draft(body);
    (1..=n)
        .map(|seq| {
            draft
                .clone()
                .into_record(Vtid::new(year(), seq).unwrap(), "seed", Timestamp::now())
        })
        .collect()
}

async fn a_filter_that_matches_nothing_reads_within_the_budget_and_pages_on(api: Api) {
    let api = api.on_private_server().await;
    api.seed(records(5_000, &body("f"))).await;
    let mut path = "/vtid/list?tenant=acme&status=failed".to_owned();
    let mut cursors = BTreeSet::new();
    let mut pages = 0;
    loop {
        let before = api.operations();
        let res = api.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.raw);
        assert_eq!(res.body["count"], 0);
        if api.kind == Kind::Dynamo {
            let sent = api.operations() - before;
            assert!(
                sent <= shared::store::limits::LIST.queries as u64,
                "one page sent {sent} queries"
            );
        }
        pages += 1;
        let Some(c) = res.body["nextCursor"].as_str() else {
            break;
        };
        assert!(cursors.insert(c.to_owned()), "a cursor came back twice");
        path = format!("/vtid/list?tenant=acme&status=failed&cursor={c}");
        assert!(pages <= 20, "the pages never end");
    }
    assert!(
        pages > 1,
        "the first page stopped at its budget and gave a cursor"
    );
}

/// The few matches of a filter behind a thousand newer records that do not match still
/// make a full first page: the read budget reaches that deep on both stores.
async fn a_filtered_page_is_full_behind_a_thousand_newer_misses(api: Api) {
    let mut active = body("deep");
    active["status"] = json!("active");
    let (hit, miss) = (vtid_tests::draft(&active), vtid_tests::draft(&body("deep")));
    let mut seeded = Vec::new();
    for seq in 1..=1_003 {
        let draft = if seq <= 3 { &hit } else { &miss };
        seeded.push(draft.clone().into_record(
            Vtid::new(year(), seq).unwrap(),
            "seed",
            Timestamp::now(),
        ));
    }
    api.seed(seeded).await;
    for limit in [1, 3] {
        let res = api
            .get(&format!(
                "/vtid/list?taskFamily=deep&status=active&limit={limit}"
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.raw);
        let want: Vec<u32> = (1..=3).rev().take(limit).collect();
        assert_eq!(
            seqs(res.body["data"].as_array().unwrap()),
            want,
            "limit {limit}"
        );
    }
}

async fn a_page_of_the_largest_records_fits_a_response(api: Api) {
    let mut big = body("big");
    big["title"] = json!("T".repeat(200));
    big["description"] = json!("€".repeat(4_000));
    big["metadata"] = json!({"blob": "m".repeat(16_000)});
    api.seed(records(200, &big)).await;
    let mut seen = BTreeSet::new();
    let mut path = "/vtid/list?limit=200".to_owned();
    let mut pages = 0;
    loop {
        let res = api.get(&path).await;
        assert_eq!(res.status, 200);
        assert!(
            res.raw.len() < 5 * 1024 * 1024,
            "a page of {} bytes does not fit Lambda's 6 MB with room",
            res.raw.len()
        );
        for r in res.body["data"].as_array().unwrap() {
            assert!(
                seen.insert(r["vtid"].as_str().unwrap().to_owned()),
                "repeated"
            );
        }
        pages += 1;
        match res.body["nextCursor"].as_str() {
            Some(c) => path = format!("/vtid/list?limit=200&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 200, "every record once");
    assert!(pages > 1, "200 of them do not fit one response");
}

on_both_stores!(
    list_filters_in_any_combination,
    list_values_are_data_not_query_text,
    list_refuses_bad_queries,
    list_limits_and_default,
    cursor_pages_exactly_while_creates_continue,
    cursor_is_bound_to_filters_and_tamper_proof,
    filtered_pages_are_full_and_test_rows_hidden,
    order_is_numeric_past_9999,
    a_filter_that_matches_nothing_reads_within_the_budget_and_pages_on,
    a_filtered_page_is_full_behind_a_thousand_newer_misses,
    a_page_of_the_largest_records_fits_a_response,
);
