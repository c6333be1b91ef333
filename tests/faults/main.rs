//! The DynamoDB store as DynamoDB really fails, through the fault proxy (`vtid-faults`)
//! in front of a moto server of the test's own: transaction conflicts on items in
//! flight, throttling, internal errors, lost and hung answers, `ClientRequestToken`.
//! Each simulated function instance has its own client and counter cache, as each warm
//! Lambda execution environment does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use shared::App;
use shared::identity::IdentityConfig;
use shared::store::dynamo::DynamoStore;
use shared::store::{Maintenance, Records};
use shared::timestamp::Timestamp;
use vtid_faults::{Chances, Config, Fault, FaultProxy, Rule};
use vtid_tests::{Moto, Req, Resp, body, dynamo_at};

mod stress;

const TABLE: &str = "vtid-faults";

struct Ledger {
    moto: Moto,
    proxy: FaultProxy,
}

/// One function instance: its own client (through the proxy) and counter cache.
struct Instance {
    app: App,
    store: Arc<DynamoStore>,
}

impl Ledger {
    async fn start(config: Config) -> Self {
        // The store's own account of what it did, on stderr, when asked for.
        if std::env::var_os("VTID_LOG").is_some() {
            shared::telemetry::init();
        }
        let moto = Moto::start();
        dynamo_at(&moto.url, TABLE)
            .await
            .create_table()
            .await
            .expect("create the table");
        let proxy = FaultProxy::start(&moto.url, config)
            .await
            .expect("start the fault proxy");
        Self { moto, proxy }
    }

    async fn instance(&self, budget: Duration) -> Instance {
        let store = Arc::new(dynamo_at(&self.proxy.url(), TABLE).await);
        let app =
            App::new(store.clone(), IdentityConfig::default(), b"k".to_vec()).with_budget(budget);
        Instance { app, store }
    }

    /// One process serving many callers, as `vtid serve` does: an instance's app behind
    /// the store gate (the instance, for its request count, and the app).
    async fn served(&self, budget: Duration) -> (Instance, App) {
        let inst = self.instance(budget).await;
        let app = inst
            .app
            .clone()
            .with_gate(shared::store::gate::DEFAULT_CAPACITY);
        (inst, app)
    }

    /// The store straight on moto, with no faults: what is really in the table.
    async fn truth(&self) -> DynamoStore {
        dynamo_at(&self.moto.url, TABLE).await
    }

    async fn audit(&self) -> shared::store::Audit {
        self.truth()
            .await
            .audit(Timestamp::now().year())
            .await
            .expect("audit")
    }
}

impl Instance {
    async fn send(&self, req: Req) -> (Resp, Duration) {
        let started = Instant::now();
        let res = shared::api::route(&self.app, req.into_lambda()).await;
        (Resp::from(res), started.elapsed())
    }
}

fn create(family: &str, key: Option<&str>) -> Req {
    let req = Req::new("POST", "/vtid/create").json(body(family));
    match key {
        Some(k) => req.header("Idempotency-Key", k),
        None => req,
    }
}

/// A refused attempt must be a 503 or a 409 in progress, with the JSON error body and
/// `Retry-After`, and must not outlive its deadline.
#[track_caller]
fn check_refusal(res: &Resp, elapsed: Duration, budget: Duration) {
    match res.status {
        503 => res.assert_error(503, "unavailable"),
        409 => res.assert_error(409, "idempotency_in_progress"),
        other => panic!("an attempt answered {other}: {}", res.raw),
    }
    assert_eq!(res.header("retry-after"), Some("1"), "{}", res.raw);
    // The handler's guard stops at the deadline; the slack covers a loaded machine (two
    // cores running other test binaries), and is still far below a hang.
    assert!(
        elapsed <= budget + Duration::from_secs(3),
        "an attempt took {elapsed:?} with a budget of {budget:?}"
    );
}

/// What a workload came to.
#[derive(Default)]
struct Tally {
    vtid_of: BTreeMap<String, String>,
    refusals: BTreeMap<u16, usize>,
    requests: u64,
    creates: u64,
}

/// `callers` instances create `per_caller` records each, one key each (or none),
/// retrying a refused attempt with the same key until it succeeds.
async fn create_all(
    ledger: &Ledger,
    callers: usize,
    per_caller: usize,
    keyed: bool,
    budget: Duration,
    tag: &str,
) -> Tally {
    let instances = join_all((0..callers).map(|_| ledger.instance(budget))).await;
    let runs = instances.iter().enumerate().map(|(c, inst)| async move {
        let mut tally = Tally::default();
        let before = inst.store.requests_sent();
        for i in 0..per_caller {
            let key = format!("{tag}-{c}-{i}");
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts <= 60, "{key}: still refused after 60 attempts");
                let (res, elapsed) = inst.send(create(&key, keyed.then_some(key.as_str()))).await;
                if res.status == 201 || res.status == 200 {
                    let v = res.body["vtid"].as_str().expect("a vtid").to_owned();
                    tally.vtid_of.insert(key.clone(), v);
                    break;
                }
                check_refusal(&res, elapsed, budget);
                *tally.refusals.entry(res.status).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(0..40))).await;
            }
        }
        tally.requests = inst.store.requests_sent() - before;
        tally.creates = per_caller as u64;
        tally
    });
    let mut all = Tally::default();
    for t in join_all(runs).await {
        all.vtid_of.extend(t.vtid_of);
        for (k, v) in t.refusals {
            *all.refusals.entry(k).or_default() += v;
        }
        all.requests += t.requests;
        all.creates += t.creates;
    }
    all
}

/// Each key's VTID is unique, and replaying each key gives that VTID again.
async fn replay_all(ledger: &Ledger, tally: &Tally, budget: Duration) {
    let distinct: BTreeSet<&String> = tally.vtid_of.values().collect();
    assert_eq!(distinct.len(), tally.vtid_of.len(), "two keys share a VTID");
    let inst = ledger.instance(budget).await;
    for (key, vtid) in &tally.vtid_of {
        loop {
            let (res, elapsed) = inst.send(create(key, Some(key))).await;
            if res.status == 200 {
                assert_eq!(res.body["vtid"], *vtid, "{key} replayed another VTID");
                assert_eq!(res.header("idempotent-replayed"), Some("true"));
                break;
            }
            check_refusal(&res, elapsed, budget);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// 16 concurrent PATCHes of different metadata keys of one record, each retried until it
/// succeeds: all survive, and the history has one entry per version.
async fn patch_concurrently(ledger: &Ledger, budget: Duration) {
    let inst = ledger.instance(budget).await;
    let vtid = loop {
        let (res, _) = inst.send(create("patched", Some("patched"))).await;
        if res.status == 201 || res.status == 200 {
            break res.body["vtid"].as_str().unwrap().to_owned();
        }
    };
    let instances = join_all((0..16).map(|_| ledger.instance(budget))).await;
    join_all(instances.iter().enumerate().map(|(i, inst)| {
        let vtid = vtid.clone();
        async move {
            loop {
                let req = Req::new("PATCH", &format!("/vtid/{vtid}"))
                    .json(json!({"metadata": {format!("k{i}"): i}}));
                let (res, elapsed) = inst.send(req).await;
                if res.status == 200 {
                    break;
                }
                assert_eq!(res.status, 503, "{}", res.raw);
                check_refusal(&res, elapsed, budget);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }))
    .await;
    every_patch_kept(ledger, &vtid, 16).await;
}

/// The record holds every key `k0 .. k{patches-1}`, and its history has one entry per
/// version, from 1 to its version; the record as it is.
async fn every_patch_kept(ledger: &Ledger, vtid: &str, patches: usize) -> shared::record::Record {
    let truth = ledger.truth().await;
    let v: shared::vtid::Vtid = vtid.parse().unwrap();
    let record = truth.get(v).await.unwrap().unwrap();
    for i in 0..patches {
        assert_eq!(record.metadata[&format!("k{i}")], json!(i), "k{i} was lost");
    }
    let history = truth
        .history(&shared::store::HistoryQuery {
            vtid: v,
            after_version: None,
            limit: 200,
        })
        .await
        .unwrap()
        .unwrap();
    let versions: Vec<u64> = history.entries.iter().map(|e| e.to_version).collect();
    assert_eq!(versions, (1..=record.version).collect::<Vec<_>>());
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotent_creates_under_conflicts_and_every_fault_each_get_exactly_one_vtid() {
    vtid_tests::skip_without_dynamo!();
    let chances = Chances {
        hang: 0.003,
        ..Chances::realistic()
    };
    let ledger =
        Ledger::start(Config::conflicts(Duration::from_millis(8)).with_chances(chances)).await;
    let budget = Duration::from_secs(4);
    // 16 callers, 200 keys.
    let mut tally = create_all(&ledger, 16, 12, true, budget, "a").await;
    let rest = create_all(&ledger, 8, 1, true, budget, "b").await;
    tally.vtid_of.extend(rest.vtid_of);
    assert_eq!(tally.vtid_of.len(), 200);
    replay_all(&ledger, &tally, budget).await;
    patch_concurrently(&ledger, budget).await;
    let stats = ledger.proxy.stats();
    assert!(
        stats.total("dropAfterApply") > 0
            && stats.total("throttle") > 0
            && stats.total("conflict") > 0,
        "the faults really happened: {}",
        stats.to_json()
    );
    let audit = ledger.audit().await;
    assert_eq!(audit.duplicates, Vec::<String>::new());
    assert_eq!(audit.above_counter, Vec::<String>::new());
    assert_eq!(
        audit.records, 201,
        "one record per key, and the patched one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicts_alone_lose_no_number_and_stay_within_the_request_budget() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::conflicts(Duration::from_millis(8))).await;
    // Generous: on a busy test machine moto alone can take seconds to answer 16 callers,
    // and a request cut off by its deadline after reserving leaves its block unused.
    let budget = Duration::from_secs(20);
    let keyed = create_all(&ledger, 16, 10, true, budget, "k").await;
    let plain = create_all(&ledger, 16, 10, false, budget, "p").await;
    for t in [&keyed, &plain] {
        assert_eq!(
            t.refusals,
            BTreeMap::new(),
            "conflicts alone refuse nothing"
        );
    }
    let per_keyed = keyed.requests as f64 / keyed.creates as f64;
    let per_plain = plain.requests as f64 / plain.creates as f64;
    assert!(
        per_keyed <= 4.0,
        "{per_keyed} requests per create with a key"
    );
    assert!(
        per_plain <= 3.0,
        "{per_plain} requests per create without one"
    );
    assert!(
        ledger.proxy.stats().total("conflict") > 0,
        "conflicts really happened"
    );
    replay_all(&ledger, &keyed, budget).await;
    patch_concurrently(&ledger, budget).await;
    let audit = ledger.audit().await;
    assert_eq!(audit.missing_count, 0, "missing: {:?}", audit.missing);
    assert_eq!(audit.duplicates, Vec::<String>::new());
    assert_eq!(audit.records, 321);
}

#[tokio::test]
async fn a_failed_create_releases_its_lease_so_a_retry_need_not_wait() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    // Records written past the counter by something that ignored it: every block this
    // create reserves is taken, so it fails after it leased its key.
    let truth = ledger.truth().await;
    let year = Timestamp::now().year();
    for seq in 1..=3 {
        let r = vtid_tests::draft(&body("outsider")).into_record(
            shared::vtid::Vtid::new(year, seq).unwrap(),
            "outsider",
            Timestamp::now(),
        );
        truth.import_record(&r).await.unwrap();
    }
    let first = ledger.instance(Duration::from_secs(10)).await;
    let (res, _) = first.send(create("f", Some("key"))).await;
    res.assert_error(503, "unavailable");
    // Had the lease stayed, this retry would wait for it (10 s) past its own 1 s budget.
    let retry = ledger.instance(Duration::from_secs(1)).await;
    let (res, _) = retry.send(create("f", Some("key"))).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    assert_eq!(res.body["vtid"], format!("VTID-{year}-0004"));
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_belongs_to_its_sender() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    ledger
        .proxy
        .script(Rule::next("PutItem", Fault::DropAfterApply).containing("IDEM#"));
    // A cold instance does not guess: it leases the key first.
    let inst = ledger.instance(Duration::from_secs(3)).await;
    let (res, _) = inst.send(create("f", Some("key"))).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let stats = ledger.proxy.stats();
    assert_eq!(stats.count("PutItem", "dropAfterApply"), 1);
    assert!(
        stats.requests("PutItem") >= 2,
        "the SDK sent the claim again"
    );
    let audit = ledger.audit().await;
    assert_eq!(
        (audit.counter, audit.records, audit.missing_count),
        (1, 1, 0)
    );
}

/// A reservation whose answer was lost (applied) or failed with a 500 (not applied):
/// sent again on its own token's condition, it is refused if the first was applied and
/// takes that block from the counter's ring, so each create gets the next number and no
/// number is left behind.
#[tokio::test]
async fn a_reservation_whose_answer_was_lost_leaves_no_gap() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    let year = Timestamp::now().year();
    for (seq, fault) in [(1, Fault::DropAfterApply), (2, Fault::InternalError)] {
        ledger
            .proxy
            .script(Rule::next("UpdateItem", fault).containing("r0 = if_not_exists"));
        // A cold instance does not guess: it reserves with ADD.
        let inst = ledger.instance(Duration::from_secs(3)).await;
        let (res, _) = inst.send(create("f", None)).await;
        assert_eq!(res.status, 201, "{}", res.raw);
        assert_eq!(res.body["vtid"], format!("VTID-{year}-000{seq}"));
    }
    let stats = ledger.proxy.stats();
    assert_eq!(
        (
            stats.count("UpdateItem", "dropAfterApply"),
            stats.count("UpdateItem", "internalError")
        ),
        (1, 1),
        "{}",
        stats.to_json()
    );
    let audit = ledger.audit().await;
    assert_eq!(
        (audit.counter, audit.records, audit.missing_count),
        (2, 2, 0),
        "missing: {:?}",
        audit.missing
    );
}

#[tokio::test]
async fn a_conflict_is_not_taken_as_proof_that_a_parent_exists() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    let inst = ledger.instance(Duration::from_secs(3)).await;
    let (res, _) = inst.send(create("warm", None)).await;
    assert_eq!(res.status, 201);
    // The guess meets a conflict on the counter (position 1, after the parent check); the
    // parent's reason is `None` only because DynamoDB did not get to it.
    ledger
        .proxy
        .script(Rule::next("TransactWriteItems", Fault::ConflictAt(1)));
    let year = Timestamp::now().year();
    let mut orphan = body("orphan");
    orphan["parentVtid"] = json!(format!("VTID-{year}-0999"));
    let (res, _) = inst
        .send(Req::new("POST", "/vtid/create").json(orphan))
        .await;
    res.assert_error(422, "parent_not_found");
    assert_eq!(
        ledger.proxy.pending_rules(),
        0,
        "the guess met the conflict"
    );
    let audit = ledger.audit().await;
    assert_eq!(
        (audit.counter, audit.missing_count),
        (1, 0),
        "no number was taken"
    );
}

#[tokio::test]
async fn a_throttled_patch_is_503_with_retry_after() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    let inst = ledger.instance(Duration::from_secs(3)).await;
    let (res, _) = inst.send(create("f", None)).await;
    let v = res.body["vtid"].as_str().unwrap().to_owned();
    let patch = || Req::new("PATCH", &format!("/vtid/{v}")).json(json!({"status": "active"}));
    ledger.proxy.script(Rule::next(
        "TransactWriteItems",
        Fault::ThrottledCancellation,
    ));
    let (res, _) = inst.send(patch()).await;
    res.assert_error(503, "unavailable");
    assert_eq!(res.header("retry-after"), Some("1"));
    // Throttled past the SDK's three attempts.
    ledger
        .proxy
        .script(Rule::next("TransactWriteItems", Fault::Throttle).times(3));
    let (res, _) = inst.send(patch()).await;
    res.assert_error(503, "unavailable");
    // And then it goes through.
    let (res, _) = inst.send(patch()).await;
    assert_eq!(res.status, 200, "{}", res.raw);
    assert_eq!(res.body["data"]["version"], 2);
}

#[tokio::test]
async fn a_hung_answer_ends_in_503_at_the_deadline() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    let inst = ledger.instance(Duration::from_millis(800)).await;
    let (res, _) = inst.send(create("f", None)).await;
    let v = res.body["vtid"].as_str().unwrap().to_owned();
    ledger
        .proxy
        .script(Rule::next("GetItem", Fault::Hang).times(5));
    let (res, elapsed) = inst.send(Req::new("GET", &format!("/vtid/{v}"))).await;
    check_refusal(&res, elapsed, Duration::from_millis(800));
    res.assert_error(503, "unavailable");
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_applied_once() {
    vtid_tests::skip_without_dynamo!();
    let ledger = Ledger::start(Config::default()).await;
    let inst = ledger.instance(Duration::from_secs(3)).await;
    // Cold: reserve, then the write's answer is lost; the SDK sends it again with the
    // same token. Warm: the same for the guessed transaction.
    for _ in 0..2 {
        ledger
            .proxy
            .script(Rule::next("TransactWriteItems", Fault::DropAfterApply));
        let (res, _) = inst.send(create("f", None)).await;
        assert_eq!(res.status, 201, "{}", res.raw);
    }
    assert_eq!(
        ledger
            .proxy
            .stats()
            .count("TransactWriteItems", "dropAfterApply"),
        2
    );
    let audit = ledger.audit().await;
    assert_eq!(
        (audit.counter, audit.records, audit.missing_count),
        (2, 2, 0)
    );
    // Each record exists once, as first written: version 1, one history entry.
    let truth = ledger.truth().await;
    for seq in 1..=2 {
        let v = shared::vtid::Vtid::new(Timestamp::now().year(), seq).unwrap();
        let r = truth.get(v).await.unwrap().expect("written");
        assert_eq!(r.version, 1, "{v} was changed by its resend");
        let history = truth
            .history(&shared::store::HistoryQuery {
                vtid: v,
                after_version: None,
                limit: 10,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(history.entries.len(), 1, "{v}: one creation");
    }
}
