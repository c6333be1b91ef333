//! List search (`q`): every word in the title or the description, any case, with the
//! other filters, paged exactly, cursors bound to the search, the limits of `q`, and reads
//! within the list's budget. SQLite answers from its full-text index, DynamoDB by testing
//! the records its list query reads: the same records either way.

use shared::identity::{IdentityConfig, ReadScope};

use super::*;

/// `text` percent-encoded whole, as a query value.
fn enc(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The sequence numbers `GET /vtid/list?{query}` lists on its first page.
async fn found(api: &Api, query: &str) -> Vec<u32> {
    let r = api.get(&format!("/vtid/list?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.raw);
    seqs(r.body["data"].as_array().unwrap())
}

fn record(title: Option<&str>, description: &str, tenant: &str) -> Value {
    json!({"taskFamily": "ops", "taskType": "t", "title": title, "description": description,
           "tenant": tenant})
}

/// Five records: 1 and 5 deploy something, 2 mentions billing only in its description,
/// 4 is a test record.
async fn five(api: &Api) {
    api.create(record(
        Some("Deploy the Billing service"),
        "Ship 1.4 to production",
        "acme",
    ))
    .await;
    api.create(record(None, "Rotate signing KEYS for billing", "acme"))
        .await;
    api.create(record(
        Some("Canary in eu-west-1"),
        "Watch the dashboards",
        "acme",
    ))
    .await;
    let mut test = record(Some("Deploy a test"), "nothing real", "acme");
    test["isTest"] = json!(true);
    api.create(test).await;
    api.create(record(
        Some("Café ÉTÉ deploy"),
        "Push to production",
        "umbrella",
    ))
    .await;
}

async fn search_finds_every_word_in_title_or_description_in_any_case(api: Api) {
    five(&api).await;
    assert_eq!(found(&api, "q=dep").await, [5, 1], "a part of a word");
    assert_eq!(found(&api, "q=DEPLOY").await, [5, 1], "any case");
    assert_eq!(found(&api, "q=dEpLoY").await, [5, 1]);
    assert_eq!(
        found(&api, "q=billing").await,
        [2, 1],
        "title or description"
    );
    assert_eq!(found(&api, "q=keys").await, [2], "a description's word");
    assert_eq!(found(&api, "q=canary").await, [3], "a title's word");
    assert_eq!(found(&api, "q=deploy+production").await, [5, 1]);
    assert_eq!(
        found(&api, &format!("q={}", enc("  production   DEPLOY "))).await,
        [5, 1],
        "trimmed, words split on any whitespace, in any order"
    );
    assert_eq!(
        found(&api, "q=deploy+keys").await,
        Vec::<u32>::new(),
        "every word is required"
    );
    assert_eq!(
        found(&api, "q=zanzibar").await,
        Vec::<u32>::new(),
        "a word nobody used"
    );
    assert_eq!(
        found(&api, "q=ice+production").await,
        [1],
        "one word in the title, the other in the description"
    );
    assert_eq!(
        found(&api, "q=serviceship").await,
        Vec::<u32>::new(),
        "a word is not found across the end of the title and the description"
    );
    assert_eq!(found(&api, "q=eu").await, [3], "a word of two characters");
    assert_eq!(found(&api, "q=eu+canary").await, [3]);
    assert_eq!(found(&api, "q=1.4").await, [1]);
    assert_eq!(
        found(&api, &format!("q={}", enc("été"))).await,
        [5],
        "any case beyond ASCII"
    );
    assert_eq!(found(&api, &format!("q={}", enc("CAFÉ"))).await, [5]);
    // With the other filters.
    assert_eq!(found(&api, "q=deploy&tenant=acme").await, [1]);
    assert_eq!(found(&api, "q=deploy&tenant=umbrella").await, [5]);
    assert_eq!(found(&api, "q=deploy&includeTest=true").await, [5, 4, 1]);
    assert_eq!(
        found(&api, "q=billing&taskFamily=ops&tenant=acme").await,
        [2, 1]
    );
    assert_eq!(
        found(&api, "q=billing&status=active").await,
        Vec::<u32>::new()
    );
    assert_eq!(
        found(&api, &format!("q=deploy&year={}", year())).await,
        [5, 1]
    );
    assert_eq!(
        found(&api, &format!("q=deploy&year={}", year() - 1)).await,
        Vec::<u32>::new()
    );
    assert_eq!(found(&api, "q=deploy&limit=1").await, [5]);
    // Words are data, never query syntax (SQLite's full-text queries have one).
    for tricky in [
        "\"",
        "\"\"\"",
        "a\"b",
        "NEAR(abc",
        "title:abc",
        "abc*",
        "^abc",
        "-abc",
        "x' OR '1'='1",
        "AND OR NOT",
        "(((",
        "%_\\",
    ] {
        assert_eq!(
            found(&api, &format!("q={}", enc(tricky))).await,
            Vec::<u32>::new(),
            "{tricky}"
        );
    }
    let mut quoted = record(Some("Say \"hello\" to title:abc*"), "d", "acme");
    quoted["taskFamily"] = json!("quoted");
    api.create(quoted).await;
    for tricky in ["\"hello\"", "title:abc*", "\"", "o\""] {
        assert_eq!(
            found(&api, &format!("q={}", enc(tricky))).await,
            [6],
            "{tricky} is found literally"
        );
    }
}

async fn search_follows_changes_of_title_and_description(api: Api) {
    five(&api).await;
    let v3 = vtid(3);
    let r = api
        .patch(
            &format!("/vtid/{v3}"),
            json!({"title": "Renamed rollout", "description": "Now about Kubernetes"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        found(&api, "q=canary").await,
        Vec::<u32>::new(),
        "the old title"
    );
    assert_eq!(found(&api, "q=dashboards").await, Vec::<u32>::new());
    assert_eq!(found(&api, "q=renamed").await, [3], "the new title");
    assert_eq!(
        found(&api, "q=kubernetes").await,
        [3],
        "the new description"
    );
    let r = api
        .patch(&format!("/vtid/{v3}"), json!({"title": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(found(&api, "q=renamed").await, Vec::<u32>::new(), "cleared");
    // A change of other fields keeps the record findable.
    let r = api
        .patch(&format!("/vtid/{v3}"), json!({"status": "active"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(found(&api, "q=kubernetes&status=active").await, [3]);
}

/// Imported records (`seed` writes as `vtid import` does), every third a match: pages of
/// two list each match once, newest first, whatever the store reads per page.
async fn search_pages_list_each_match_once(api: Api) {
    let hit = vtid_tests::draft(&record(Some("Needle"), "in a haystack", "acme"));
    let miss = vtid_tests::draft(&record(Some("Straw"), "more hay", "acme"));
    let seeded: Vec<_> = (1..=30)
        .map(|seq| {
            let d = if seq % 3 == 0 { &hit } else { &miss };
            d.clone()
                .into_record(Vtid::new(year(), seq).unwrap(), "seed", Timestamp::now())
        })
        .collect();
    api.seed(seeded).await;
    for q in ["needle", "NEEDLE+haystack", "ee"] {
        let mut seen = Vec::new();
        let mut cursors = BTreeSet::new();
        let mut path = format!("/vtid/list?q={q}&limit=2");
        for page in 0.. {
            let r = api.get(&path).await;
            assert_eq!(r.status, 200, "{}", r.raw);
            seen.extend(seqs(r.body["data"].as_array().unwrap()));
            let Some(c) = r.body["nextCursor"].as_str() else {
                break;
            };
            assert!(cursors.insert(c.to_owned()), "a cursor came back twice");
            path = format!("/vtid/list?q={q}&limit=2&cursor={c}");
            assert!(page < 20, "the pages never end");
        }
        let want: Vec<u32> = (1..=30).rev().filter(|s| s % 3 == 0).collect();
        assert_eq!(seen, want, "q={q}: each match once, newest first");
    }
}

async fn search_cursor_is_bound_to_q(api: Api) {
    for i in 0..3 {
        api.create(record(Some(&format!("alpha beta {i}")), "d", "acme"))
            .await;
    }
    let r = api.get("/vtid/list?q=alpha&limit=1").await;
    let c = r.body["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(
        found(&api, &format!("q=alpha&limit=1&cursor={c}")).await,
        [2]
    );
    assert_eq!(
        found(&api, &format!("q=ALPHA&limit=1&cursor={c}")).await,
        [2],
        "the same words in another case are the same search"
    );
    api.get(&format!("/vtid/list?q=beta&limit=1&cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/list?q=alpha+beta&limit=1&cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    api.get(&format!("/vtid/list?limit=1&cursor={c}"))
        .await
        .assert_error(400, "invalid_cursor");
    let plain = api.get("/vtid/list?limit=1").await.body["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    api.get(&format!("/vtid/list?q=alpha&limit=1&cursor={plain}"))
        .await
        .assert_error(400, "invalid_cursor");
}

async fn search_refuses_a_bad_q_naming_it(api: Api) {
    for (what, q) in [
        ("empty", String::new()),
        ("blank", enc("   ")),
        ("too long", "x".repeat(101)),
        ("a control character", enc("a\u{1}b")),
        ("a tab between words", enc("a\tb")),
        ("a line break around it", enc("deploy\n")),
        ("not UTF-8", "%FF%FE".to_owned()),
    ] {
        let r = api.get(&format!("/vtid/list?q={q}")).await;
        r.assert_error(400, "invalid_query");
        assert_eq!(r.detail_fields(), ["q"], "{what}: {}", r.raw);
    }
    let r = api.get("/vtid/list?q=a&q=b").await;
    r.assert_error(400, "invalid_query");
    assert_eq!(r.detail_fields(), ["q"]);
    let r = api.get("/vtid/list?q=&taskFamily=").await;
    r.assert_error(400, "invalid_query");
    let mut fields = r.detail_fields();
    fields.sort();
    assert_eq!(fields, ["q", "taskFamily"], "every problem at once");
}

/// The limit is exactly 100 characters after trimming, counted in characters (not
/// bytes): 99 or 101, or bytes, or a length taken before trimming, fail here.
async fn search_limit_is_100_characters_after_trimming(api: Api) {
    api.create(record(Some(&"é".repeat(100)), "d", "acme"))
        .await;
    let at = |text: String| {
        let api = &api;
        async move { api.get(&format!("/vtid/list?q={}", enc(&text))).await }
    };
    let r = at("é".repeat(100)).await;
    assert_eq!(
        (r.status, r.body["count"].as_u64()),
        (200, Some(1)),
        "{}",
        r.raw
    );
    let r = at(format!("   {}   ", "é".repeat(100))).await;
    assert_eq!(r.status, 200, "surrounding spaces do not count: {}", r.raw);
    let r = at("x".repeat(100)).await;
    assert_eq!((r.status, r.body["count"].as_u64()), (200, Some(0)));
    for long in [
        "é".repeat(101),
        "x".repeat(101),
        format!("{} b", "a".repeat(99)),
    ] {
        let r = at(long).await;
        r.assert_error(400, "invalid_query");
        assert_eq!(r.detail_fields(), ["q"]);
        assert!(
            r.raw.contains("1 to 100 characters"),
            "the message says the limit: {}",
            r.raw
        );
    }
}

/// A word found only in the oldest of 1,500 records: each page reads within the list's
/// budget (on DynamoDB at most 4 queries, so the first pages come back empty with a
/// cursor), and following the cursors finds it once.
async fn a_rare_word_is_found_within_the_read_budget(api: Api) {
    let api = api.on_private_server().await;
    let rare = vtid_tests::draft(&record(Some("The only quokka"), "d", "acme"));
    let common = vtid_tests::draft(&record(Some("Routine"), "nothing to see", "acme"));
    let seeded: Vec<_> = (1..=1_500)
        .map(|seq| {
            let d = if seq == 1 { &rare } else { &common };
            d.clone()
                .into_record(Vtid::new(year(), seq).unwrap(), "seed", Timestamp::now())
        })
        .collect();
    api.seed(seeded).await;
    // "quokka" is served by SQLite's index; "qu" and "ly" are too short for it, so SQLite
    // walks and tests as DynamoDB does.
    for q in ["quokka", "QUOKKA+only", "qu+ly", "nobody-wrote-this"] {
        let mut path = format!("/vtid/list?q={q}&limit=5");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let before = api.operations();
            let r = api.get(&path).await;
            assert_eq!(r.status, 200, "{}", r.raw);
            if api.kind == Kind::Dynamo {
                let sent = api.operations() - before;
                assert!(
                    sent <= shared::store::limits::LIST.queries as u64,
                    "q={q}: one page sent {sent} queries"
                );
            }
            seen.extend(seqs(r.body["data"].as_array().unwrap()));
            pages += 1;
            let Some(c) = r.body["nextCursor"].as_str() else {
                break;
            };
            path = format!("/vtid/list?q={q}&limit=5&cursor={c}");
            assert!(pages <= 20, "q={q}: the pages never end");
        }
        let want: Vec<u32> = if q.starts_with("nobody") {
            vec![]
        } else {
            vec![1]
        };
        assert_eq!(seen, want, "q={q}");
        if api.kind == Kind::Dynamo {
            assert!(
                pages > 1,
                "q={q}: 1,500 records are more than one page's budget"
            );
        }
    }
}

/// A caller whose reads are kept to its tenant searches its own records only, and its
/// pages never stop on another tenant's (SQLite walks the tenant's index then, not the
/// full-text index).
async fn a_tenant_scoped_search_sees_its_own_tenant_only(api: Api) {
    let identity = IdentityConfig {
        reads: ReadScope::OwnTenant,
        ..IdentityConfig::default()
    };
    let api = Api::with_identity(api.kind, identity).await;
    api.create(record(Some("Deploy acme"), "d", "acme")).await;
    api.create(record(Some("Deploy umbrella"), "d", "umbrella"))
        .await;
    api.create(record(Some("Deploy umbrella again"), "d", "umbrella"))
        .await;
    let r = api
        .send(Req::new("GET", "/vtid/list?q=deploy").who(Who::user("acme")))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(seqs(r.body["data"].as_array().unwrap()), [1]);
    let r = api
        .send(Req::new("GET", "/vtid/list?q=deploy&limit=1").who(Who::user("umbrella")))
        .await;
    assert_eq!(seqs(r.body["data"].as_array().unwrap()), [3]);
    let c = r.body["nextCursor"].as_str().unwrap().to_owned();
    let r = api
        .send(
            Req::new("GET", &format!("/vtid/list?q=deploy&limit=1&cursor={c}"))
                .who(Who::user("umbrella")),
        )
        .await;
    assert_eq!(seqs(r.body["data"].as_array().unwrap()), [2]);
    assert!(r.body["nextCursor"].is_null(), "{}", r.raw);
    assert_eq!(
        found(&api, "q=deploy").await,
        [3, 2, 1],
        "an admin searches every tenant"
    );
}

on_both_stores!(
    search_finds_every_word_in_title_or_description_in_any_case,
    search_follows_changes_of_title_and_description,
    search_pages_list_each_match_once,
    search_cursor_is_bound_to_q,
    search_refuses_a_bad_q_naming_it,
    search_limit_is_100_characters_after_trimming,
    a_rare_word_is_found_within_the_read_budget,
    a_tenant_scoped_search_sees_its_own_tenant_only,
);
