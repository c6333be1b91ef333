//! SQLite only: a database another process keeps busy stalls no read and no health
//! check, and a write waits no longer than its deadline.

use std::sync::Arc;
use std::time::Duration;

use shared::App;
use vtid_tests::Resp;

use super::*;

async fn send(app: &App, req: Req) -> Resp {
    Resp::from(shared::api::route(app, req.into_lambda()).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_database_stalls_neither_reads_nor_health_and_a_write_ends_at_its_deadline() {
    let (store, dir) = vtid_tests::sqlite();
    let app = App::new(Arc::new(store), Default::default(), b"k".to_vec())
        .with_budget(Duration::from_millis(1500));
    let made = send(&app, Req::new("POST", "/vtid/create").json(body("f"))).await;
    assert_eq!(made.status, 201);
    let v = made.body["vtid"].as_str().unwrap().to_owned();
    // Another process (an import, a second server) holds the write lock.
    let other = rusqlite::Connection::open(dir.path().join("ledger.sqlite3")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let app = Arc::new(app);
    let writer = {
        let app = app.clone();
        tokio::spawn(
            async move { send(&app, Req::new("POST", "/vtid/create").json(body("g"))).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = send(&app, Req::new("GET", &format!("/vtid/{v}"))).await;
    assert_eq!(got.status, 200, "{}", got.raw);
    let health = send(&app, Req::new("GET", "/vtid/health")).await;
    assert_eq!(health.status, 200, "{}", health.raw);
    let list = send(&app, Req::new("GET", "/vtid/list")).await;
    assert_eq!(list.body["count"], 1);
    assert!(
        !writer.is_finished(),
        "the write is still waiting for the lock"
    );
    let refused = writer.await.unwrap();
    refused.assert_error(503, "unavailable");
    assert_eq!(refused.header("retry-after"), Some("1"));
    other.execute_batch("ROLLBACK").unwrap();
    let after = send(&app, Req::new("POST", "/vtid/create").json(body("g"))).await;
    assert_eq!(after.status, 201, "{}", after.raw);
    assert_eq!(
        after.body["vtid"],
        vtid(2),
        "the refused write took no number"
    );
}

/// The search (`q`) walks the full-text index when a word is long enough for it, and a
/// ledger made before the index (or indexed by another rule) is indexed when it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_index_serves_the_list_and_is_filled_for_an_older_ledger() {
    let (store, dir) = vtid_tests::sqlite();
    let app = App::new(Arc::new(store), Default::default(), b"k".to_vec());
    for title in ["Deploy ALPHA", "Something else"] {
        let mut b = body("f");
        b["title"] = json!(title);
        assert_eq!(
            send(&app, Req::new("POST", "/vtid/create").json(b))
                .await
                .status,
            201
        );
    }
    let found = |app: &App, q: &str| {
        let req = Req::new("GET", &format!("/vtid/list?q={q}"));
        let app = app.clone();
        async move {
            let r = send(&app, req).await;
            assert_eq!(r.status, 200, "{}", r.raw);
            seqs(r.body["data"].as_array().unwrap())
        }
    };
    assert_eq!(found(&app, "alpha").await, [1]);
    let file = dir.path().join("ledger.sqlite3");
    let db = rusqlite::Connection::open(&file).unwrap();
    let first = Vtid::new(year(), 1).unwrap().ordinal() as i64;
    let indexed: Vec<i64> = db
        .prepare("SELECT rowid FROM search WHERE search MATCH '\"alpha\"'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexed, [first], "folded text under the record's ordinal");
    // Without its index row the record is not found by a word the index serves, but is by
    // a word too short for it (which walks the records): the index is what answers.
    db.execute("DELETE FROM search WHERE rowid = ?1", [first])
        .unwrap();
    assert_eq!(found(&app, "alpha").await, Vec::<u32>::new());
    assert_eq!(found(&app, "al").await, [1]);
    drop(app);
    // A ledger of before the index: no index, no note of it.
    db.execute_batch("DROP TABLE search; DELETE FROM meta WHERE name = 'search_index';")
        .unwrap();
    drop(db);
    let reopened = shared::store::sqlite::SqliteStore::open(dir.path()).unwrap();
    let app = App::new(Arc::new(reopened), Default::default(), b"k".to_vec());
    assert_eq!(found(&app, "alpha").await, [1], "indexed when it opened");
    assert_eq!(found(&app, "else").await, [2]);
}
