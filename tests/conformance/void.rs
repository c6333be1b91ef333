//! Void numbers, on both stores: a number given up is accounted for in the audit with
//! its cause, is never a record (GET and HEAD 404, no list shows it, no import or parent
//! can use it), and a void never touches a number that holds a record. And `vtid
//! repair`'s rule: only missing numbers dated older than the grace period are voided.

use shared::store::repair::repair;
use shared::store::{ImportResult, VoidCause, Voiding};

use super::*;

async fn a_void_number_is_accounted_for_and_never_a_record(api: Api) {
    for i in 0..3 {
        api.create(body(&format!("v{i}"))).await;
    }
    let store = api.store();
    // Number 2 holds a record: left alone. Number 9 holds nothing: void.
    let voided = store
        .void_numbers(voiding(&[2, 9], "req-void"))
        .await
        .unwrap();
    assert_eq!(voided, [9]);
    let again = store
        .void_numbers(voiding(&[9], "req-again"))
        .await
        .unwrap();
    assert_eq!(again, [9], "voiding twice is the same void");
    let audit = store.audit(year()).await.unwrap();
    let listed: Vec<(u64, VoidCause, &str)> = audit
        .void
        .iter()
        .map(|v| (v.number, v.cause, v.request_id.as_str()))
        .collect();
    assert_eq!(listed, [(9, VoidCause::Admin, "req-void")]);
    assert_eq!(audit.records, 3);
    let rec2 = api.get(&format!("/vtid/{}", vtid(2))).await;
    assert_eq!(rec2.status, 200, "the record at 2 is untouched");
    // The void number is no record, anywhere.
    api.get(&format!("/vtid/{}", vtid(9)))
        .await
        .assert_error(404, "not_found");
    let head = api
        .send(Req::new("HEAD", &format!("/vtid/{}", vtid(9))))
        .await;
    assert_eq!(head.status, 404);
    api.get(&format!("/vtid/{}/history", vtid(9)))
        .await
        .assert_error(404, "not_found");
    api.patch(&format!("/vtid/{}", vtid(9)), json!({"status": "active"}))
        .await
        .assert_error(404, "not_found");
    let list = api.get("/vtid/list?limit=200&includeTest=true").await;
    assert_eq!(seqs(list.body["data"].as_array().unwrap()), [3, 2, 1]);
    let mut child = body("child");
    child["parentVtid"] = json!(vtid(9));
    api.post("/vtid/create", child)
        .await
        .assert_error(422, "parent_not_found");
    let r = vtid_tests::draft(&body("imported")).into_record(
        Vtid::new(year(), 9).unwrap(),
        "importer",
        Timestamp::now(),
    );
    assert_eq!(
        store.import_record(&r).await.unwrap(),
        ImportResult::Conflict,
        "a number given up stays given up"
    );
    let audit = api.get(&format!("/vtid/audit?year={}", year())).await;
    assert_eq!(audit.status, 200, "{}", audit.raw);
    assert_eq!(audit.body["data"]["void"][0]["number"], 9);
    assert_eq!(audit.body["data"]["void"][0]["cause"], "admin");
    assert_eq!(audit.body["data"]["void"][0]["requestId"], "req-void");
}

async fn a_repair_voids_nothing_that_is_accounted_for_or_recent(api: Api) {
    for i in 0..3 {
        api.create(body(&format!("r{i}"))).await;
    }
    let report = repair(api.store(), year(), std::time::Duration::ZERO, false, "rq")
        .await
        .unwrap();
    assert_eq!(
        (report.missing, report.voided.len(), report.left.len()),
        (0, 0, 0),
        "nothing missing, nothing voided"
    );
    assert!(api.store().audit(year()).await.unwrap().void.is_empty());
}

on_both_stores!(
    a_void_number_is_accounted_for_and_never_a_record,
    a_repair_voids_nothing_that_is_accounted_for_or_recent,
);

/// An admin's voiding of `numbers` of this year.
fn voiding(numbers: &[u64], request_id: &str) -> Voiding {
    Voiding {
        year: year(),
        numbers: numbers.to_vec(),
        cause: VoidCause::Admin,
        request_id: request_id.to_owned(),
    }
}
