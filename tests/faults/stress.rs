//! Under stress: a slow store is served, not refused; a write sent again after a lost
//! answer is recognised by its own token even where the store ignores
//! `ClientRequestToken`; and every number is a record or a void with its cause.

use super::*;

/// Every number from 1 to the counter is a record or a void, none twice, and every void
/// says why and which request gave it up.
#[track_caller]
fn every_number_accounted_for(audit: &shared::store::Audit) {
    assert_eq!(audit.duplicates, Vec::<String>::new());
    assert_eq!(audit.above_counter, Vec::<String>::new());
    assert_eq!(
        audit.missing_count, 0,
        "numbers missing with no cause: {:?}",
        audit.missing
    );
    assert_eq!(audit.records + audit.void.len() as u64, audit.counter);
    for v in &audit.void {
        assert!(
            !v.request_id.is_empty(),
            "void {} names no request",
            v.number
        );
    }
}

/// The audit once the voids of requests that gave up have landed: each is written on a
/// task of its own, which may outlive the answer of the request (up to 20 s).
async fn settled_audit(ledger: &Ledger) -> shared::store::Audit {
    let started = Instant::now();
    loop {
        let audit = ledger.audit().await;
        if audit.missing_count == 0 || started.elapsed() > Duration::from_secs(25) {
            return audit;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The VTIDs handed out are exactly 1 ..= n, each once.
#[track_caller]
fn contiguous(tally: &Tally, n: u64) {
    let year = Timestamp::now().year();
    let issued: BTreeSet<&String> = tally.vtid_of.values().collect();
    let expected: Vec<String> = (1..=n)
        .map(|seq| {
            shared::vtid::Vtid::new(year, seq as u32)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        issued.len(),
        tally.vtid_of.len(),
        "two creates share a VTID"
    );
    assert_eq!(
        issued.into_iter().cloned().collect::<Vec<_>>(),
        expected,
        "numbers not contiguous"
    );
}

/// 32 concurrent callers making 10 creates each through one process (as `vtid serve`
/// serves them, behind its gate) on a store that serves one request at a time at 50 ms
/// each: the timeouts follow the queue instead of racing it and the gate keeps the
/// queue in the process, so nothing is refused and nothing is sent twice for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_store_serves_32_creators_without_refusing_one() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::slow(Duration::from_millis(50))).await;
    let (inst, app) = ledger.served(shared::deadline::DEFAULT_BUDGET).await;
    let before = inst.store.requests_sent();
    let runs = (0..32).map(|c| {
        let app = &app;
        async move {
            let mut mine = Vec::new();
            for i in 0..10 {
                let req = create(&format!("s-{c}-{i}"), None).into_lambda();
                let res = Resp::from(shared::api::route(app, req).await);
                assert_eq!(
                    res.status, 201,
                    "a slow store refused a create: {}",
                    res.raw
                );
                mine.push((
                    format!("s-{c}-{i}"),
                    res.body["vtid"].as_str().unwrap().to_owned(),
                ));
            }
            mine
        }
    });
    let mut tally = Tally::default();
    tally
        .vtid_of
        .extend(join_all(runs).await.into_iter().flatten());
    contiguous(&tally, 320);
    let per_create = (inst.store.requests_sent() - before) as f64 / 320.0;
    assert!(per_create <= 3.0, "{per_create} requests per create");
    let audit = settled_audit(&ledger).await;
    every_number_accounted_for(&audit);
    assert_eq!((audit.counter, audit.records), (320, 320));
}

/// 32 concurrent metadata PATCHes of one record through one process (as `vtid serve`
/// runs them, behind its gate) on the same slow store: every key is kept, and each
/// change is one version with one history entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_store_keeps_every_key_of_32_concurrent_patches() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::slow(Duration::from_millis(50))).await;
    let (inst, app) = ledger.served(shared::deadline::DEFAULT_BUDGET).await;
    let (res, _) = inst.send(create("patched", None)).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let vtid = res.body["vtid"].as_str().unwrap().to_owned();
    let answers = join_all((0..32).map(|i| {
        let (app, vtid) = (&app, &vtid);
        async move {
            let req = Req::new("PATCH", &format!("/vtid/{vtid}"))
                .json(json!({"metadata": {format!("k{i}"): i}}));
            Resp::from(shared::api::route(app, req.into_lambda()).await)
        }
    }))
    .await;
    for res in &answers {
        assert_eq!(res.status, 200, "{}", res.raw);
    }
    let record = every_patch_kept(&ledger, &vtid, 32).await;
    assert_eq!(record.version, 33, "one version per PATCH");
}

/// Answers lost after the write was applied, on a store that ignores
/// `ClientRequestToken` (as moto does): each resent write finds its own records by their
/// writer token, so every create answered makes exactly one record, and no record
/// exists that no caller was told of.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answers_with_tokens_ignored_make_one_record_per_create() {
    vtid_tests::skip_without_dynamo!();
    let chances = Chances {
        drop_after_apply: 0.15,
        ..Chances::default()
    };
    let ledger = Ledger::start(Config::default().ignoring_tokens().with_chances(chances)).await;
    let budget = shared::deadline::DEFAULT_BUDGET;
    let plain = create_all(&ledger, 8, 6, false, budget, "p").await;
    let keyed = create_all(&ledger, 8, 6, true, budget, "k").await;
    let stats = ledger.proxy.stats();
    assert!(
        stats.count("TransactWriteItems", "dropAfterApply") > 0,
        "answers were lost: {}",
        stats.to_json()
    );
    for t in [&plain, &keyed] {
        assert_eq!(
            t.refusals,
            BTreeMap::new(),
            "a lost answer became a refusal"
        );
    }
    let audit = settled_audit(&ledger).await;
    every_number_accounted_for(&audit);
    assert_eq!(
        audit.records, 96,
        "one record per create answered, no orphan (void: {:?})",
        audit.void
    );
    replay_all(&ledger, &keyed, budget).await;
}

/// 10 % of answers dropped after the write was applied and 20 % of requests throttled:
/// every create is answered within its deadline, no VTID is issued twice, and every
/// number is a record or a void with its cause: none is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_dropped_answers_and_throttling_no_number_goes_missing() {
    vtid_tests::skip_without_dynamo!();
    let chances = Chances {
        drop_after_apply: 0.10,
        throttle: 0.20,
        ..Chances::default()
    };
    let ledger =
        Ledger::start(Config::conflicts(Duration::from_millis(8)).with_chances(chances)).await;
    // The production request budget: a refusal at it is a void, never a gap.
    let budget = shared::deadline::DEFAULT_BUDGET;
    let tally = create_all(&ledger, 16, 8, true, budget, "d").await;
    assert_eq!(tally.vtid_of.len(), 128);
    replay_all(&ledger, &tally, budget).await;
    let stats = ledger.proxy.stats();
    assert!(
        stats.total("dropAfterApply") > 0 && stats.total("throttle") > 0,
        "the faults really happened: {}",
        stats.to_json()
    );
    let audit = settled_audit(&ledger).await;
    every_number_accounted_for(&audit);
    assert_eq!(audit.records, 128, "one record per key");
}

/// A store that refuses every connection: the create ends in 503 at its deadline, not
/// before the retries are spent and never after.
#[tokio::test]
async fn an_unreachable_store_ends_in_503_at_the_deadline() {
    vtid_tests::skip_without_dynamo!();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = Arc::new(dynamo_at(&format!("http://127.0.0.1:{port}"), TABLE).await);
    let budget = Duration::from_millis(1500);
    let app = App::new(store, IdentityConfig::default(), b"k".to_vec()).with_budget(budget);
    let started = Instant::now();
    let res = Resp::from(shared::api::route(&app, create("f", None).into_lambda()).await);
    check_refusal(&res, started.elapsed(), budget);
    res.assert_error(503, "unavailable");
}
