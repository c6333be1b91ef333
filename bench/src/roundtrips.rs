//! `vtid-bench roundtrips`: DynamoDB requests per operation (docs/design.md, "Round trips").

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::Args;
use serde_json::{Value, json};

use crate::instance::{Instance, draft};

/// One row of the report: the round trips of every call of one operation.
pub struct Row {
    operation: String,
    budget: &'static str,
    samples: Vec<u64>,
}

impl Row {
    fn new(operation: impl Into<String>, budget: &'static str, samples: Vec<u64>) -> Self {
        Self {
            operation: operation.into(),
            budget,
            samples,
        }
    }

    pub fn markdown(&self) -> String {
        let n = self.samples.len().max(1) as f64;
        let mean = self.samples.iter().sum::<u64>() as f64 / n;
        let max = self.samples.iter().copied().max().unwrap_or(0);
        let mut spread: BTreeMap<u64, usize> = BTreeMap::new();
        for s in &self.samples {
            *spread.entry(*s).or_default() += 1;
        }
        let spread = spread
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "| {} | {} | {:.2} | {} | {} | {} |",
            self.operation,
            self.budget,
            mean,
            max,
            self.samples.len(),
            spread
        )
    }
}

pub async fn roundtrips(args: &Args) -> Vec<Row> {
    let mut rows = Vec::new();
    let a = Instance::new(&args.endpoint, &args.table).await;

    // The year's first create: no counter item yet, the process has seen none.
    let first = a.create("bench").await;
    rows.push(Row::new(
        "create, first of the year (cold: no counter yet)",
        "≤ 2",
        vec![first.requests],
    ));
    let vtid = first.body["vtid"].as_str().expect("a vtid").to_owned();

    // Warm and uncontended: the counter is where this instance last saw it.
    let mut warm = Vec::new();
    for i in 0..20 {
        warm.push(
            a.create(if i % 2 == 0 { "bench" } else { "other" })
                .await
                .requests,
        );
    }
    rows.push(Row::new("create, warm, uncontended", "1", warm));

    // A cold instance (or one whose cache is stale): the counter moved since.
    let cold = Instance::new(&args.endpoint, &args.table).await;
    rows.push(Row::new(
        "create, cold instance (it does not guess)",
        "≤ 2",
        vec![cold.create("bench").await.requests],
    ));

    // N warm instances creating at once.
    let mut instances = Vec::new();
    for _ in 0..args.creators {
        let i = Instance::new(&args.endpoint, &args.table).await;
        i.create("bench").await; // warm it: each has seen the counter once
        instances.push(Arc::new(i));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(args.creators));
    let mut tasks = Vec::new();
    for inst in &instances {
        let (inst, barrier, creates) = (inst.clone(), barrier.clone(), args.creates);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut out = Vec::new();
            for _ in 0..creates {
                let c = inst.create("bench").await;
                out.push((c.requests, c.body["vtid"].as_str().unwrap_or("").to_owned()));
            }
            out
        }));
    }
    let mut contended = Vec::new();
    let mut seen = HashSet::new();
    for t in tasks {
        for (requests, v) in t.await.expect("a creator task") {
            assert!(seen.insert(v.clone()), "VTID {v} was issued twice");
            contended.push(requests);
        }
    }
    rows.push(Row::new(
        format!(
            "create, {} concurrent warm creators × {} each (all {} VTIDs distinct)",
            args.creators,
            args.creates,
            seen.len()
        ),
        "≤ 3",
        contended,
    ));

    // A batch of 50: one block of numbers, one counter write, one transaction.
    // An instance that met the contention skips guessing for a while; a new one that
    // has made one create of its own is warm and uncontended.
    let a = Instance::new(&args.endpoint, &args.table).await;
    a.create("bench").await;
    let items: Vec<Value> = (0..50).map(|_| draft("batch")).collect();
    let batch = a
        .call("POST", "/vtid/batch", Some(json!({"items": items})), &[])
        .await;
    assert_eq!(batch.status, 201, "batch failed: {}", batch.body);
    rows.push(Row::new(
        "batch of 50 creates, warm",
        "1 counter write",
        vec![batch.requests],
    ));

    // Idempotent replay of a create.
    let key = [("Idempotency-Key", "bench-key-1")];
    let made = a
        .call("POST", "/vtid/create", Some(draft("bench")), &key)
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let replay = a
        .call("POST", "/vtid/create", Some(draft("bench")), &key)
        .await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    rows.push(Row::new(
        "create with Idempotency-Key, first / replayed",
        "1 / –",
        vec![made.requests, replay.requests],
    ));

    let path = format!("/vtid/{vtid}");
    let mut gets = Vec::new();
    let mut heads = Vec::new();
    for _ in 0..10 {
        let g = a.call("GET", &path, None, &[]).await;
        assert_eq!(g.status, 200, "{}", g.body);
        gets.push(g.requests);
        let h = a.call("HEAD", &path, None, &[]).await;
        assert_eq!(h.status, 200);
        heads.push(h.requests);
    }
    rows.push(Row::new("get", "1", gets));
    rows.push(Row::new("head", "1", heads));
    let missing = a.call("GET", "/vtid/VTID-2001-0001", None, &[]).await;
    assert_eq!(missing.status, 404);
    rows.push(Row::new("get, not found", "1", vec![missing.requests]));

    let mut patches = Vec::new();
    let mut version = 1;
    for i in 0..10 {
        let mut metadata = serde_json::Map::new();
        metadata.insert(format!("k{i}"), json!(i));
        let body = json!({ "metadata": metadata });
        let if_match = version.to_string();
        let p = a
            .call("PATCH", &path, Some(body), &[("If-Match", &if_match)])
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        version = p.body["data"]["version"].as_u64().unwrap_or(version + 1);
        patches.push(p.requests);
    }
    rows.push(Row::new("PATCH (metadata merge, If-Match)", "≤ 2", patches));
    let status = a
        .call("PATCH", &path, Some(json!({"status": "active"})), &[])
        .await;
    assert_eq!(status.status, 200, "{}", status.body);
    let noop = a
        .call("PATCH", &path, Some(json!({"status": "active"})), &[])
        .await;
    assert_eq!(noop.status, 200, "{}", noop.body);
    rows.push(Row::new(
        "PATCH status change / repeated (no-op)",
        "≤ 2",
        vec![status.requests, noop.requests],
    ));
    let stale = a
        .call(
            "PATCH",
            &path,
            Some(json!({"title": "x"})),
            &[("If-Match", "1")],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    rows.push(Row::new(
        "PATCH with a stale If-Match (412)",
        "≤ 2",
        vec![stale.requests],
    ));

    let mut lists = Vec::new();
    let mut cursor = None;
    for _ in 0..3 {
        let q = match &cursor {
            None => "/vtid/list?limit=20".to_owned(),
            Some(c) => format!("/vtid/list?limit=20&cursor={c}"),
        };
        let l = a.call("GET", &q, None, &[]).await;
        assert_eq!(l.status, 200, "{}", l.body);
        assert_eq!(l.body["count"], 20, "a full page");
        cursor = l.body["nextCursor"].as_str().map(str::to_owned);
        lists.push(l.requests);
    }
    rows.push(Row::new(
        "list page (no filter, 20, with cursor)",
        "1",
        lists,
    ));
    let by_family = a
        .call("GET", "/vtid/list?taskFamily=other&limit=5", None, &[])
        .await;
    assert_eq!(by_family.body["count"], 5, "{}", by_family.body);
    let by_tenant = a
        .call("GET", "/vtid/list?tenant=acme&limit=50", None, &[])
        .await;
    assert_eq!(by_tenant.body["count"], 50, "{}", by_tenant.body);
    rows.push(Row::new(
        "list page, one filter (taskFamily / tenant)",
        "1",
        vec![by_family.requests, by_tenant.requests],
    ));
    let two = a
        .call(
            "GET",
            "/vtid/list?taskFamily=bench&status=active&limit=5",
            None,
            &[],
        )
        .await;
    assert_eq!(two.status, 200, "{}", two.body);
    rows.push(Row::new(
        "list page, two filters (index + filter, 1 match)",
        "1 unless filters drop records",
        vec![two.requests],
    ));

    // Records whose item sizes the report measures for the cost table: a typical record
    // (assigned, titled) with no metadata, with 4 KiB and with 16 KiB of metadata.
    for (family, bytes) in [
        ("size-0k", 0usize),
        ("size-4k", 4 * 1024),
        ("size-16k", 16 * 1024 - 16),
    ] {
        let mut body = draft(family);
        body["title"] = json!("Release 1.4.0 to production");
        body["assignedTo"] = json!("ci-bot");
        if bytes > 0 {
            body["metadata"] = json!({"blob": "m".repeat(bytes - 12)});
        }
        let c = a.call("POST", "/vtid/create", Some(body), &[]).await;
        assert_eq!(c.status, 201, "{}", c.body);
    }
    let h = a.call("GET", &format!("{path}/history"), None, &[]).await;
    assert_eq!(h.status, 200, "{}", h.body);
    rows.push(Row::new(
        format!("history ({} entries)", h.body["count"]),
        "–",
        vec![h.requests],
    ));
    let health = a.call("GET", "/vtid/health", None, &[]).await;
    assert_eq!(health.status, 200, "{}", health.body);
    rows.push(Row::new("health", "1", vec![health.requests]));
    let year = &vtid[5..9];
    let audit = a
        .call("GET", &format!("/vtid/audit?year={year}"), None, &[])
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let records = audit.body["data"]["records"].as_u64().unwrap_or(0);
    rows.push(Row::new(
        format!("audit of a year ({records} records)"),
        "–",
        vec![audit.requests],
    ));
    rows
}
