//! The client crate's three transports (HTTP with a bearer token, HTTP signed with
//! SigV4, direct Lambda invocation) pass one test body against the real handlers, on
//! SQLite and on moto's DynamoDB.

mod servers;
mod sigv4_verifier;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use serde_json::json;
use shared::App;
use shared::identity::IdentityConfig;
use shared::store::Store;
use vtid_client::{
    Changes, Client, Direct, Error, FunctionNames, Kind, ListQuery, NewRecord, SigV4, Status,
    Version,
};
use vtid_tests::Kind as StoreKind;

/// The app over a fresh store; the guard keeps SQLite's folder.
async fn app(kind: StoreKind) -> (Arc<App>, Option<tempfile::TempDir>) {
    let (store, dir): (Arc<dyn Store>, _) = match kind {
        StoreKind::Sqlite => {
            let (s, d) = vtid_tests::sqlite();
            (Arc::new(s), Some(d))
        }
        StoreKind::Dynamo => (Arc::new(vtid_tests::dynamo().await), None),
    };
    let app = App::new(
        store,
        IdentityConfig::default(),
        b"client test key".to_vec(),
    );
    (Arc::new(app), dir)
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Bearer,
    SigV4,
    Lambda,
}

/// A client of a ledger reached by `transport`, and the identity the ledger records.
async fn client(transport: Transport, app: Arc<App>) -> (Client, String) {
    match transport {
        Transport::Bearer => {
            let token = bearer_token();
            let url = servers::bearer_ledger(app).await;
            (Client::http(&url, Some(token)).unwrap(), "ci-bot".into())
        }
        Transport::SigV4 => {
            let url = servers::iam_ledger(app).await;
            let creds =
                Credentials::new(servers::ACCESS_KEY, servers::SECRET_KEY, None, None, "test");
            let signer = SigV4::new(creds, servers::REGION);
            (
                Client::sigv4(&url, signer).unwrap(),
                servers::DEPLOYER_ARN.into(),
            )
        }
        Transport::Lambda => {
            let url = servers::invoke_api(app).await;
            let caller = "arn:aws:iam::123456789012:role/release-fn";
            let names = FunctionNames::from_stack_outputs(&servers::function_names()).unwrap();
            let direct = Direct::new(&sdk(&url).await, names, caller).unwrap();
            (Client::direct(direct), caller.into())
        }
    }
}

async fn sdk(endpoint: &str) -> aws_types::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .load()
        .await
}

fn bearer_token() -> String {
    let secret = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/fixtures/hs256-test-secret"
    ))
    .unwrap();
    let exp = chrono::Utc::now().timestamp() + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "ci-bot", "role": "service", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.trim_ascii()),
    )
    .unwrap()
}

fn new(family: &str) -> NewRecord {
    NewRecord::new(family, "release", "ship v7").tenant("acme")
}

/// The one test body: every operation, typed, through one transport.
async fn every_operation_is_typed(transport: Transport, store: StoreKind) {
    let (app, _dir) = app(store).await;
    let (ledger, who) = client(transport, app).await;
    let health = ledger.health().await.unwrap();
    assert_eq!((health.ok, health.service.as_str()), (true, "vtid-ledger"));

    let created = ledger.create(&new("deploy"), Some("run-42")).await.unwrap();
    let epic = created.record.clone();
    assert!(!created.replayed);
    assert_eq!((epic.version, epic.status), (1, Status::Pending));
    assert_eq!(
        epic.created_by, who,
        "{transport:?}: the caller's identity is recorded"
    );
    let again = ledger.create(&new("deploy"), Some("run-42")).await.unwrap();
    assert!(again.replayed, "{transport:?}");
    assert_eq!(
        again.record, epic,
        "a retried create returns the same record"
    );
    let other = ledger.create(&new("deploy"), None).await.unwrap();
    assert!(
        other.idempotency_key.starts_with("vtid-"),
        "a key is always sent"
    );
    assert_eq!(other.record.vtid.seq(), epic.vtid.seq() + 1);

    let items: Vec<NewRecord> = (0..3).map(|_| new("step").parent(epic.vtid)).collect();
    let steps = ledger.batch(&items, None).await.unwrap();
    let seqs: Vec<u32> = steps.iter().map(|r| r.vtid.seq()).collect();
    assert_eq!(
        seqs,
        [3, 4, 5].map(|n| epic.vtid.seq() - 1 + n),
        "consecutive, in order"
    );

    assert_eq!(ledger.get(&epic.vtid).await.unwrap(), epic);
    let missing: vtid_client::Vtid = format!("VTID-{}-0999", epic.vtid.year()).parse().unwrap();
    assert_eq!(ledger.find(&missing).await.unwrap(), None);
    let e = ledger.get(&missing).await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (Kind::NotFound, "not_found"), "{e}");

    let moved = ledger
        .update(
            &epic.vtid,
            &Changes::status(Status::Active),
            Some(Version(1)),
        )
        .await
        .unwrap();
    assert!(moved.changed);
    assert_eq!(
        (moved.record.version, moved.record.status),
        (2, Status::Active)
    );
    assert_eq!(moved.record.updated_by, who);
    let stale = ledger
        .update(
            &epic.vtid,
            &Changes::status(Status::Blocked),
            Some(Version(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (stale.kind(), stale.code()),
        (Kind::Conflict, "version_mismatch"),
        "{stale}"
    );
    let Error::Refused(refusal) = ledger
        .update(&epic.vtid, &Changes::status(Status::Pending), None)
        .await
        .unwrap_err()
    else {
        panic!("a refusal")
    };
    assert_eq!(
        (refusal.status, refusal.code.as_str()),
        (409, "invalid_transition")
    );
    assert_eq!(refusal.details[0].field, "status");

    let children = ListQuery {
        parent_vtid: Some(epic.vtid),
        limit: Some(2),
        ..ListQuery::default()
    };
    let page = ledger.list_page(&children, None).await.unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(page.records[0].vtid, steps[2].vtid, "newest first");
    let rest = ledger
        .list_page(&children, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!((rest.records.len(), rest.next_cursor), (1, None));
    assert_eq!(ledger.list_all(&children).await.unwrap().len(), 3);
    let active = ListQuery {
        status: Some(Status::Active),
        ..ListQuery::default()
    };
    assert_eq!(
        ledger.list_all(&active).await.unwrap(),
        std::slice::from_ref(&moved.record)
    );

    let history = ledger.history(&epic.vtid).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].from_version, history[1].to_version),
        (Some(1), 2)
    );

    let audit = ledger.audit(Some(epic.vtid.year())).await.unwrap();
    assert_eq!(
        (audit.counter, audit.records, audit.missing_count),
        (5, 5, 0)
    );

    let Error::Refused(bad) = ledger
        .create(
            &NewRecord::new("deploy", "release", "x").tenant("not a tenant!"),
            None,
        )
        .await
        .unwrap_err()
    else {
        panic!("a refusal")
    };
    assert_eq!((bad.status, bad.code.as_str()), (400, "invalid_payload"));
    assert_eq!(bad.details[0].field, "tenant");
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_over_sqlite() {
    every_operation_is_typed(Transport::Bearer, StoreKind::Sqlite).await
}
#[tokio::test(flavor = "multi_thread")]
async fn bearer_over_dynamo() {
    vtid_tests::skip_without_dynamo!();
    every_operation_is_typed(Transport::Bearer, StoreKind::Dynamo).await
}
#[tokio::test(flavor = "multi_thread")]
async fn sigv4_over_sqlite() {
    every_operation_is_typed(Transport::SigV4, StoreKind::Sqlite).await
}
#[tokio::test(flavor = "multi_thread")]
async fn sigv4_over_dynamo() {
    vtid_tests::skip_without_dynamo!();
    every_operation_is_typed(Transport::SigV4, StoreKind::Dynamo).await
}
#[tokio::test(flavor = "multi_thread")]
async fn direct_invoke_over_sqlite() {
    every_operation_is_typed(Transport::Lambda, StoreKind::Sqlite).await
}
#[tokio::test(flavor = "multi_thread")]
async fn direct_invoke_over_dynamo() {
    vtid_tests::skip_without_dynamo!();
    every_operation_is_typed(Transport::Lambda, StoreKind::Dynamo).await
}

/// The IAM-authorized API refuses a signature made with another secret: the verifier
/// verifies, and the client reads API Gateway's refusal as "not allowed".
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_signature_is_refused() {
    let (app, _dir) = app(StoreKind::Sqlite).await;
    let url = servers::iam_ledger(app).await;
    let creds = Credentials::new(servers::ACCESS_KEY, "another secret", None, None, "test");
    let ledger = Client::sigv4(&url, SigV4::new(creds, servers::REGION)).unwrap();
    let e = ledger.create(&new("deploy"), None).await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (Kind::Denied, "forbidden"), "{e}");
    assert!(
        e.to_string()
            .contains("API Gateway refused the call: Forbidden"),
        "{e}"
    );
}

/// A function name that the stack does not have is a misconfiguration, never "not found".
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_function_name_is_not_a_ledger() {
    let (app, _dir) = app(StoreKind::Sqlite).await;
    let url = servers::invoke_api(app).await;
    let outputs = servers::function_names().replace("vtid-get", "vtid-gte");
    let names = FunctionNames::from_stack_outputs(&outputs).unwrap();
    let ledger =
        Client::direct(Direct::new(&sdk(&url).await, names, "arn:aws:iam::1:role/x").unwrap());
    let vtid = "VTID-2026-0001".parse().unwrap();
    let e = ledger.find(&vtid).await.unwrap_err();
    assert!(matches!(e, Error::NotALedger { .. }), "{e:?}");
    assert!(e.to_string().contains("Lambda function vtid-gte"), "{e}");
    assert!(e.to_string().contains("no such function"), "{e}");
}
