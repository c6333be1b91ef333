//! DynamoDB only: the idempotency lease, a parent made by another process, and the
//! request counts of docs/design.md's "Round trips" (the store counts every request it sends).

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::dynamo::DynamoStore;
use shared::store::schema::{IDEMPOTENCY_SK, idempotency_pk};
use shared::store::{IdempotencyKey, ListQuery, StoreError};

use super::*;
use shared::store::Records;

/// Puts an unfinished lease of another request on key `k` of tenant `acme`, ending
/// `until_ms` from now (negative: already over).
async fn foreign_lease(store: &DynamoStore, fingerprint: &str, until_ms: i64) {
    let now_ms = Timestamp::now().as_datetime().timestamp_millis();
    let until = now_ms + until_ms;
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(idempotency_pk("acme", "k")))
        .item("sk", AttributeValue::S(IDEMPOTENCY_SK.into()))
        .item("fingerprint", AttributeValue::S(fingerprint.into()))
        .item("lease", AttributeValue::S("a-dead-request".into()))
        .item("leaseUntil", AttributeValue::N(until.to_string()))
        .item(
            "expiresAt",
            AttributeValue::N(((until + 999) / 1000).to_string()),
        )
        .send()
        .await
        .unwrap();
}

fn keyed(fingerprint: &str, budget_ms: u64) -> CreateRequest {
    let mut req = vtid_tests::create_request(vec![vtid_tests::draft(&body("f"))]);
    req.idempotency = Some(IdempotencyKey {
        scope: "acme".into(),
        key: "k".into(),
        fingerprint: fingerprint.into(),
    });
    req.deadline = shared::deadline::Deadline::after(std::time::Duration::from_millis(budget_ms));
    req
}

#[tokio::test]
async fn a_parent_made_by_another_process_inside_the_guessed_block_is_found() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    api.create(body("first")).await;
    // Another warm instance takes the next number; this one still guesses it is free.
    let other = vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await;
    let epic = other
        .create(vtid_tests::create_request(vec![vtid_tests::draft(&body(
            "epic",
        ))]))
        .await
        .unwrap()
        .records[0]
        .vtid;
    let mut child = body("step");
    child["parentVtid"] = json!(epic.to_string());
    let res = api.post("/vtid/create", child).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    assert_eq!(res.body["data"]["parentVtid"], epic.to_string());
    assert_eq!(
        res.body["vtid"],
        Vtid::new(epic.year(), epic.seq() + 1).unwrap().to_string()
    );
    // A parent that names the very number this create would get does not exist yet.
    let mut ahead = body("x");
    ahead["parentVtid"] = json!(Vtid::new(epic.year(), epic.seq() + 2).unwrap().to_string());
    api.post("/vtid/create", ahead)
        .await
        .assert_error(422, "parent_not_found");
    let audit = api.store().audit(year()).await.unwrap();
    assert_eq!(
        audit.missing,
        Vec::<u64>::new(),
        "the refused create took no number"
    );
}

#[tokio::test]
async fn a_lease_of_another_body_conflicts_and_a_dead_lease_is_taken_over() {
    vtid_tests::skip_without_dynamo!();
    let store = vtid_tests::dynamo().await;
    foreign_lease(&store, "other-body", 30_000).await;
    let err = store.create(keyed("this-body", 5_000)).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict), "{err:?}");
    foreign_lease(&store, "this-body", -1).await;
    let first = store.create(keyed("this-body", 5_000)).await.unwrap();
    assert!(!first.replayed, "the lease that ran out was taken over");
    let again = store.create(keyed("this-body", 5_000)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.records[0].vtid, first.records[0].vtid);
    assert_eq!(
        store.audit(year()).await.unwrap().missing,
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn a_live_lease_is_waited_for_until_the_deadline_then_in_progress() {
    vtid_tests::skip_without_dynamo!();
    let store = vtid_tests::dynamo().await;
    foreign_lease(&store, "same-body", 30_000).await;
    let err = store.create(keyed("same-body", 300)).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyInProgress), "{err:?}");
    let audit = store.audit(year()).await.unwrap();
    assert_eq!(
        (audit.counter, audit.records),
        (0, 0),
        "nothing was reserved"
    );
}

#[tokio::test]
async fn a_live_lease_that_finishes_is_replayed() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    let store = vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await;
    foreign_lease(&store, "same-body", 30_000).await;
    let waiting = tokio::spawn(async move { store.create(keyed("same-body", 5_000)).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The lease holder finishes: it writes the finished key (as its write would).
    let other = vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await;
    let made = other
        .create(vtid_tests::create_request(vec![vtid_tests::draft(&body(
            "made",
        ))]))
        .await
        .unwrap()
        .records[0]
        .vtid;
    other
        .client()
        .put_item()
        .table_name(other.table())
        .item("pk", AttributeValue::S(idempotency_pk("acme", "k")))
        .item("sk", AttributeValue::S(IDEMPOTENCY_SK.into()))
        .item("fingerprint", AttributeValue::S("same-body".into()))
        .item("vtids", AttributeValue::S(json!([made]).to_string()))
        .item("expiresAt", AttributeValue::N("99999999999".into()))
        .send()
        .await
        .unwrap();
    let outcome = waiting.await.unwrap().unwrap();
    assert!(outcome.replayed);
    assert_eq!(outcome.records[0].vtid, made);
}

/// The request counts of docs/design.md's "Round trips", as the store counts them.
#[tokio::test]
async fn a_cold_create_takes_two_requests_a_warm_one_one_and_reads_one() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    api.create(body("before")).await;
    let cold = vtid_tests::dynamo_on(api.dynamo_table.as_deref().unwrap()).await;
    // Operations, not transmissions: an SDK retry on a busy test machine is not a request
    // the store chose to make.
    let sent = |s: &DynamoStore| s.operations_sent();
    let made = cold
        .create(vtid_tests::create_request(vec![vtid_tests::draft(&body(
            "cold",
        ))]))
        .await
        .unwrap();
    assert_eq!(
        sent(&cold),
        2,
        "a cold instance reserves and writes; it does not guess"
    );
    assert_eq!(made.records[0].vtid.seq(), 2);
    cold.create(vtid_tests::create_request(vec![vtid_tests::draft(&body(
        "warm",
    ))]))
    .await
    .unwrap();
    assert_eq!(
        sent(&cold),
        3,
        "a warm uncontended create is one transaction"
    );
    assert!(cold.exists(made.records[0].vtid).await.unwrap());
    assert_eq!(sent(&cold), 4, "exists is one GetItem");
    cold.get(made.records[0].vtid).await.unwrap();
    assert_eq!(sent(&cold), 5, "get is one GetItem");
    let page = cold
        .list(&ListQuery {
            filters: shared::store::Filters {
                tenant: Some("acme".into()),
                ..Default::default()
            },
            tenant_scoped: false,
            include_test: false,
            search: None,
            limit: 50,
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 3);
    assert_eq!(sent(&cold), 6, "a list page with one filter is one query");
}

/// A process that died between reserving numbers and writing them: the counter moved by
/// 2 with no records. The audit shows them missing; a repair with a grace period leaves
/// them until the record above them is old enough, then voids them as `admin`.
#[tokio::test]
async fn a_repair_voids_the_numbers_a_dead_writer_left_once_they_are_old_enough() {
    vtid_tests::skip_without_dynamo!();
    let api = Api::new(Kind::Dynamo).await;
    api.create(body("before")).await;
    let store = api.dynamo.as_ref().unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("COUNTER#{}", year())))
        .key("sk", AttributeValue::S("COUNTER".into()))
        .update_expression("ADD #n :two")
        .expression_attribute_names("#n", "n")
        .expression_attribute_values(":two", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    api.create(body("after")).await;
    let audit = store.audit(year()).await.unwrap();
    assert_eq!(audit.missing, [2, 3]);
    let hour = std::time::Duration::from_secs(3600);
    let waiting = shared::store::repair::repair(api.store(), year(), hour, false, "rq")
        .await
        .unwrap();
    assert_eq!(
        (waiting.voided.len(), waiting.left.clone()),
        (0, vec![2, 3])
    );
    let dry =
        shared::store::repair::repair(api.store(), year(), std::time::Duration::ZERO, true, "rq")
            .await
            .unwrap();
    assert_eq!(dry.voided, [2, 3]);
    assert_eq!(
        store.audit(year()).await.unwrap().missing,
        [2, 3],
        "a dry run writes nothing"
    );
    let done =
        shared::store::repair::repair(api.store(), year(), std::time::Duration::ZERO, false, "rq")
            .await
            .unwrap();
    assert_eq!(done.voided, [2, 3]);
    let audit = store.audit(year()).await.unwrap();
    assert_eq!(audit.missing_count, 0);
    let causes: Vec<(u64, shared::store::VoidCause)> =
        audit.void.iter().map(|v| (v.number, v.cause)).collect();
    assert_eq!(
        causes,
        [
            (2, shared::store::VoidCause::Admin),
            (3, shared::store::VoidCause::Admin)
        ]
    );
    // The next create takes the next number, not a void one.
    let next = api.create(body("next")).await;
    assert_eq!(next["vtid"], vtid(5));
}
