//! The embedded store's outbox: one event per create, change and import, written with
//! the change itself and built by the same code as the stream consumer's; none for a
//! refused request, a replay or a change that changed nothing; delivery positions that
//! never go back and dead letters that health counts.

use std::sync::Arc;

use serde_json::{Value, json};
use shared::App;
use shared::events::{Delivery, Kind, change_between, oasis_body};
use shared::identity::IdentityConfig;
use shared::record::Record;
use shared::store::sqlite::SqliteStore;
use shared::store::sqlite::outbox::StoredEvent;
use vtid_tests::{Req, Resp, body, sqlite};

struct Ledger {
    app: App,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Ledger {
    fn new() -> Self {
        let (store, dir) = sqlite();
        let app = App::new(
            Arc::new(store.clone()),
            IdentityConfig::default(),
            b"k".to_vec(),
        );
        Self {
            app,
            store,
            _dir: dir,
        }
    }

    async fn send(&self, req: Req) -> Resp {
        Resp::from(Box::pin(shared::api::route(&self.app, req.into_lambda())).await)
    }

    async fn record(&self, req: Req) -> Record {
        let res = self.send(req).await;
        assert!(res.status < 300, "{}", res.raw);
        serde_json::from_value(res.body["data"].clone()).unwrap()
    }

    async fn events(&self) -> Vec<StoredEvent> {
        self.store.events_after(0, 1000).await.unwrap()
    }
}

#[tokio::test]
async fn every_change_is_one_event_built_as_the_stream_consumer_builds_it() {
    let l = Ledger::new();
    let created = l
        .record(Req::new("POST", "/vtid/create").json(body("deploy")))
        .await;
    let v = created.vtid;
    let path = format!("/vtid/{v}");
    let active = l
        .record(Req::new("PATCH", &path).json(json!({"status": "active"})))
        .await;
    // Changes nothing: no version, no history, no event.
    l.record(Req::new("PATCH", &path).json(json!({"status": "active"})))
        .await;
    let retitled = l
        .record(Req::new("PATCH", &path).json(json!({"title": "T"})))
        .await;
    let done = l
        .record(Req::new("PATCH", &path).json(json!({"status": "complete"})))
        .await;

    let events = l.events().await;
    let expected = [
        change_between(None, &created),
        change_between(Some(&created), &active),
        change_between(Some(&active), &retitled),
        change_between(Some(&retitled), &done),
    ]
    .map(Option::unwrap);
    assert_eq!(events.len(), expected.len());
    for (i, (e, c)) in events.iter().zip(&expected).enumerate() {
        assert_eq!(e.position, i as u64 + 1, "positions count up from 1");
        assert_eq!((&e.id, e.kind, e.vtid), (&c.id, c.kind, v));
        assert_eq!(
            e.body,
            oasis_body(c),
            "the same body as the stream consumer's"
        );
    }
    let kinds: Vec<Kind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vtid_tests::LIFECYCLE_KINDS);
    assert_eq!(l.store.last_event().await.unwrap(), 4);
    assert_eq!(l.store.events_after(2, 1).await.unwrap()[0].position, 3);
}

#[tokio::test]
async fn a_batch_and_an_import_are_events_and_a_refused_create_or_a_replay_is_not() {
    let l = Ledger::new();
    let batch = l
        .send(
            Req::new("POST", "/vtid/batch")
                .json(json!({"items": [body("a"), body("b"), body("c")]})),
        )
        .await;
    assert_eq!(batch.status, 201);
    let vtids: Vec<Value> = batch.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["vtid"].clone())
        .collect();
    // A missing parent: nothing is written, no event either.
    let mut orphan = body("x");
    orphan["parentVtid"] = json!("VTID-2020-0001");
    assert_eq!(
        l.send(Req::new("POST", "/vtid/create").json(orphan))
            .await
            .status,
        422
    );
    // An idempotent replay writes nothing new.
    let mut keyed = Vec::new();
    for status in [201, 200] {
        let res = l
            .send(
                Req::new("POST", "/vtid/create")
                    .header("Idempotency-Key", "k1")
                    .json(body("k")),
            )
            .await;
        assert_eq!(res.status, status, "{}", res.raw);
        keyed.push(res.body["vtid"].clone());
    }
    assert_eq!(keyed[0], keyed[1]);
    let mut imported = l
        .record(Req::new(
            "GET",
            &format!("/vtid/{}", vtids[0].as_str().unwrap()),
        ))
        .await;
    imported.vtid = "VTID-2019-0007".parse().unwrap();
    shared::store::Maintenance::import_record(&l.store, &imported)
        .await
        .unwrap();
    // Importing the same row again is "already present": no second event.
    shared::store::Maintenance::import_record(&l.store, &imported)
        .await
        .unwrap();

    let events = l.events().await;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let mut want: Vec<String> = vtids
        .iter()
        .map(|v| format!("{}:1", v.as_str().unwrap()))
        .collect();
    want.push(format!("{}:1", keyed[0].as_str().unwrap()));
    want.push("VTID-2019-0007:1".into());
    assert_eq!(ids, want);
    assert!(events.iter().all(|e| e.kind == Kind::Created));
}

#[tokio::test]
async fn delivery_positions_never_go_back_and_dead_letters_are_counted() {
    let l = Ledger::new();
    for family in ["a", "b", "c"] {
        l.record(Req::new("POST", "/vtid/create").json(body(family)))
            .await;
    }
    let delivery = l.store.delivery(Some("oasis"));
    let backlog = delivery.backlog().await.unwrap();
    assert_eq!(
        (backlog.webhook, backlog.pending, backlog.dead_letters),
        (true, 3, 0)
    );
    assert_eq!(l.store.delivered("oasis").await.unwrap(), 0);
    l.store.mark_delivered("oasis", 2).await.unwrap();
    l.store.mark_delivered("oasis", 1).await.unwrap();
    assert_eq!(
        l.store.delivered("oasis").await.unwrap(),
        2,
        "never backwards"
    );
    let third = l.store.events_after(2, 10).await.unwrap().remove(0);
    l.store
        .dead_letter("oasis", &third, 3, "answered 400")
        .await
        .unwrap();
    assert_eq!(l.store.delivered("oasis").await.unwrap(), 3);
    let backlog = delivery.backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.dead_letters), (0, 1));
    // Without a webhook nothing is pending; dead letters still show.
    let off = l.store.delivery(None).backlog().await.unwrap();
    assert_eq!((off.webhook, off.pending, off.dead_letters), (false, 0, 1));
    // Health reports it under checks.events.
    let app = l.app.clone().with_events(Arc::new(delivery));
    let health =
        Resp::from(shared::api::route(&app, Req::new("GET", "/vtid/health").into_lambda()).await);
    assert_eq!(
        health.body["checks"]["events"],
        json!({"ok": true, "webhook": true, "pending": 0, "deadLetters": 1})
    );
}
