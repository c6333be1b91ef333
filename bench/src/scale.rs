//! `vtid-bench scale`: the ledger at size. The embedded store is filled to 10,000 and
//! then 1,000,000 records of one year (numbers past 999,999 included), moto's DynamoDB
//! to 20,000, and at each size the same calls are timed through the handlers: a list
//! page for each filter, get, HEAD, history, the audit, and creates. A list page, an
//! exists and a create must not grow with the table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use shared::App;
use shared::identity::IdentityConfig;
use shared::record::Record;
use shared::store::dynamo::{DynamoStore, endpoint_config};
use shared::store::sqlite::SqliteStore;
use shared::store::{CounterAdvance, Store};
use shared::timestamp::Timestamp;
use shared::vtid::Vtid;

use crate::instance::Instance;

const TENANTS: [&str; 10] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
];

/// Record `seq` of the year: spread over tenants, families, statuses and assignees;
/// every tenth is a subtask of the one before.
fn record(year: u16, seq: u32, now: Timestamp) -> Record {
    let status = [
        "pending",
        "active",
        "blocked",
        "complete",
        "failed",
        "cancelled",
    ][seq as usize % 6];
    let mut body = json!({
        "taskFamily": format!("family-{}", seq % 20), "taskType": "task",
        "description": "a record of the scale benchmark", "tenant": TENANTS[seq as usize % 10],
        "status": status, "isTest": seq % 50 == 7,
    });
    if !seq.is_multiple_of(3) {
        body["assignedTo"] = json!(format!("user-{}", seq % 50));
    }
    if seq.is_multiple_of(10) && seq > 1 {
        body["parentVtid"] = json!(Vtid::new(year, seq - 1).expect("a VTID").to_string());
    }
    let draft = shared::validation::parse_create(&body, None, "").expect("a valid body");
    draft.into_record(Vtid::new(year, seq).expect("a VTID"), "bench", now)
}

/// The calls timed at each size.
fn queries(year: u16, n: u32) -> Vec<(String, String)> {
    let parent = Vtid::new(year, n - (n % 10) - 1).expect("a VTID");
    vec![
        ("list, no filter".into(), "/vtid/list?limit=50".into()),
        (
            "list, taskFamily".into(),
            "/vtid/list?taskFamily=family-7&limit=50".into(),
        ),
        (
            "list, status".into(),
            "/vtid/list?status=blocked&limit=50".into(),
        ),
        (
            "list, tenant".into(),
            "/vtid/list?tenant=hooli&limit=50".into(),
        ),
        (
            "list, assignedTo".into(),
            "/vtid/list?assignedTo=user-7&limit=50".into(),
        ),
        (
            "list, parentVtid".into(),
            format!("/vtid/list?parentVtid={parent}&limit=50"),
        ),
        (
            "list, year".into(),
            format!("/vtid/list?year={year}&limit=50"),
        ),
        (
            "list, tenant + status (1 in 6 of a tenant)".into(),
            "/vtid/list?tenant=hooli&status=blocked&limit=50".into(),
        ),
        (
            "list, tenant + family that never meet".into(),
            "/vtid/list?tenant=hooli&taskFamily=family-3&limit=50".into(),
        ),
    ]
}

pub struct Row {
    store: &'static str,
    records: u32,
    operation: String,
    median_ms: f64,
    p99_ms: f64,
    requests: String,
    note: String,
}

impl Row {
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            self.store,
            self.records,
            self.operation,
            self.median_ms,
            self.p99_ms,
            self.requests,
            self.note
        )
    }
}

/// Keeps a row and prints it at once, so that a long run shows its figures as it goes.
fn emit(rows: &mut Vec<Row>, row: Row) {
    println!("{}", row.markdown());
    rows.push(row);
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples
            .get(i)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

struct Target {
    name: &'static str,
    instance: Instance,
}

impl Target {
    /// DynamoDB requests per call as the table prints them ("–" on SQLite, which sends none).
    fn per_call(&self, requests: u64, calls: usize) -> String {
        if self.name == "SQLite" {
            "–".into()
        } else {
            format!("{:.1}", requests as f64 / calls.max(1) as f64)
        }
    }

    async fn time(&self, rows: &mut Vec<Row>, n: u32, operation: &str, path: &str, times: usize) {
        let mut samples = Vec::new();
        let mut requests = Vec::new();
        let mut note = String::new();
        let method = if operation.starts_with("HEAD") {
            "HEAD"
        } else {
            "GET"
        };
        for _ in 0..times {
            let started = Instant::now();
            let call = self.instance.call(method, path, None, &[]).await;
            samples.push(started.elapsed());
            requests.push(call.requests);
            if call.status != 200 {
                // Reported, not fatal: the row says what answered instead.
                note = format!("answered {} {}", call.status, call.body["code"]);
                break;
            }
            if let Some(count) = call.body["count"].as_u64() {
                note = format!(
                    "{count} records, next page: {}",
                    !call.body["nextCursor"].is_null()
                );
                if operation == "list, no filter" {
                    note.push_str(&format!(
                        ", first {}",
                        call.body["data"][0]["vtid"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
        let (median_ms, p99_ms) = stats(samples);
        emit(
            rows,
            Row {
                store: self.name,
                records: n,
                operation: operation.to_owned(),
                median_ms,
                p99_ms,
                requests: self.per_call(requests.iter().sum(), requests.len()),
                note,
            },
        );
    }

    /// Every call at this size; `creates` creates after (none: the store is too slow for
    /// transactions at this size, as moto is).
    async fn measure(&self, rows: &mut Vec<Row>, year: u16, n: u32, creates: usize) {
        for (operation, path) in queries(year, n) {
            self.time(rows, n, &operation, &path, 20).await;
        }
        let probe = Vtid::new(year, n / 2 + 1).expect("a VTID");
        self.time(rows, n, "get", &format!("/vtid/{probe}"), 50)
            .await;
        self.time(rows, n, "HEAD (exists)", &format!("/vtid/{probe}"), 50)
            .await;
        self.time(rows, n, "history", &format!("/vtid/{probe}/history"), 50)
            .await;
        self.time(
            rows,
            n,
            "audit of the year",
            &format!("/vtid/audit?year={year}"),
            1,
        )
        .await;
        if creates == 0 {
            return;
        }
        let mut samples = Vec::new();
        let mut requests = 0;
        let started = Instant::now();
        for _ in 0..creates {
            let t = Instant::now();
            let call = self.instance.create("scale").await;
            samples.push(t.elapsed());
            requests += call.requests;
        }
        let rate = creates as f64 / started.elapsed().as_secs_f64();
        let (median_ms, p99_ms) = stats(samples);
        emit(
            rows,
            Row {
                store: self.name,
                records: n,
                operation: format!("create ({creates} in a row)"),
                median_ms,
                p99_ms,
                requests: self.per_call(requests, creates),
                note: format!("{rate:.0} creates/s"),
            },
        );
    }
}

/// Fills `store` with records `from..=to` of `year`, in chunks, the counter moved first
/// (as `vtid import` does).
async fn fill(store: &dyn Store, year: u16, from: u32, to: u32, chunk: usize, parallel: bool) {
    let advance = CounterAdvance {
        year,
        to: u64::from(to),
        imported: (1..=u64::from(to)).collect(),
    };
    store
        .advance_counter(advance)
        .await
        .expect("move the counter");
    let now = Timestamp::now();
    let mut seq = from;
    while seq <= to {
        let end = (seq + chunk as u32 - 1).min(to);
        let batch: Vec<Record> = (seq..=end).map(|s| record(year, s, now)).collect();
        if parallel {
            for part in batch.chunks(32) {
                for r in join_all(part.iter().map(|r| store.import_record(r))).await {
                    r.expect("import a record");
                }
            }
        } else {
            store.import_records(&batch).await.expect("import records");
        }
        seq = end + 1;
    }
}

pub async fn scale(
    sqlite_dir: &str,
    sqlite_sizes: &[u32],
    endpoint: &str,
    table: &str,
    dynamo_size: u32,
) -> Vec<Row> {
    let year = Timestamp::now().year();
    let mut rows = Vec::new();
    // The embedded store.
    let store = Arc::new(
        SqliteStore::open(std::path::Path::new(sqlite_dir)).expect("open the data folder"),
    );
    let target = Target {
        name: "SQLite",
        instance: Instance::over(store.clone()),
    };
    let mut filled = 0;
    for &n in sqlite_sizes {
        let started = Instant::now();
        fill(store.as_ref(), year, filled + 1, n, 10_000, false).await;
        eprintln!(
            "bench: SQLite filled to {n} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        target.measure(&mut rows, year, n, 500).await;
        // The creates moved the counter: continue after them.
        filled = n + 500;
    }
    // moto's DynamoDB.
    if dynamo_size > 0 {
        let sdk = endpoint_config(endpoint, "us-east-1").await;
        let store = DynamoStore::new(&sdk, table);
        store.create_table().await.expect("create the table");
        let started = Instant::now();
        fill(&store, year, 1, dynamo_size, 1_000, true).await;
        eprintln!(
            "bench: moto filled to {dynamo_size} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        // moto answers a query at this size in seconds (it reads whole items, even of a
        // KEYS_ONLY index): the instance waits for it rather than time out, since what
        // this run measures on moto is the requests per call, not moto's speed.
        let store =
            Arc::new(DynamoStore::new(&sdk, table).with_attempt_ceiling(Duration::from_secs(120)));
        let app = App::new(
            store.clone(),
            IdentityConfig::default(),
            b"vtid-bench cursor key".to_vec(),
        )
        .with_budget(Duration::from_secs(600));
        let target = Target {
            name: "DynamoDB (moto)",
            instance: Instance {
                store: Some(store),
                app,
            },
        };
        // moto copies the whole table for every transaction: at this size a create takes
        // seconds there, so creates are measured on SQLite and in the contention run.
        target.measure(&mut rows, year, dynamo_size, 0).await;
    }
    rows
}
