//! `vtid-bench contention`: creates from 1, 4 and 16 concurrent function instances, on
//! moto as it is, through the fault proxy with conflicts (each write holds its items
//! 8 ms), and with conflicts plus faults (throttling, internal errors, lost answers), with
//! and without idempotency keys. Each run has a fresh table; a refused attempt (503, or
//! 409 in progress) is retried with the same key, as a pipeline would. Reports DynamoDB
//! requests per create (all attempts counted), latency to success, creates per second,
//! and the numbers the audit finds missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use shared::store::Store;
use shared::store::dynamo::{DynamoStore, endpoint_config};
use vtid_faults::{Chances, Config, FaultProxy};

use crate::Args;
use crate::instance::{Instance, draft};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Moto,
    Conflicts,
    Faults,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Moto => "moto alone",
            Setting::Conflicts => "conflicts",
            Setting::Faults => "conflicts + faults",
        }
    }

    fn proxy(self) -> Option<Config> {
        let conflicts = Config::conflicts(Duration::from_millis(8));
        match self {
            Setting::Moto => None,
            Setting::Conflicts => Some(conflicts),
            Setting::Faults => Some(conflicts.with_chances(Chances::realistic())),
        }
    }
}

struct Run {
    requests: Vec<u64>,
    latencies: Vec<Duration>,
    refused: usize,
    elapsed: Duration,
    missing: u64,
    duplicates: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn contention(args: &Args) -> Vec<String> {
    let mut rows = Vec::new();
    for setting in [Setting::Moto, Setting::Conflicts, Setting::Faults] {
        for keyed in [false, true] {
            for creators in [1usize, 4, 16] {
                let table = format!(
                    "{}-{}-{}-{creators}",
                    args.table, setting as u8, keyed as u8
                );
                let run = run(args, setting, keyed, creators, &table).await;
                let n = run.requests.len().max(1) as f64;
                let mean = run.requests.iter().sum::<u64>() as f64 / n;
                let max = run.requests.iter().copied().max().unwrap_or(0);
                let mut lat = run.latencies.clone();
                lat.sort();
                rows.push(format!(
                    "| {} | {} | {creators} | {} | {:.0} | {mean:.2} | {max} | {:.1} | {:.1} | {} | {} | {} |",
                    setting.name(),
                    if keyed { "yes" } else { "no" },
                    run.requests.len(),
                    run.requests.len() as f64 / run.elapsed.as_secs_f64(),
                    percentile(&lat, 0.5),
                    percentile(&lat, 0.99),
                    run.refused,
                    run.missing,
                    run.duplicates,
                ));
            }
        }
    }
    rows
}

async fn run(args: &Args, setting: Setting, keyed: bool, creators: usize, table: &str) -> Run {
    let sdk = endpoint_config(&args.endpoint, "us-east-1").await;
    let truth = DynamoStore::new(&sdk, table);
    truth.create_table().await.expect("create the table");
    let proxy = match setting.proxy() {
        Some(config) => Some(
            FaultProxy::start(&args.endpoint, config)
                .await
                .expect("start the fault proxy"),
        ),
        None => None,
    };
    let endpoint = proxy
        .as_ref()
        .map_or(args.endpoint.clone(), FaultProxy::url);
    let per = (args.creates / creators).max(1);
    let instances: Vec<Arc<Instance>> =
        join_all((0..creators).map(|_| Instance::new(&endpoint, table)))
            .await
            .into_iter()
            .map(Arc::new)
            .collect();
    let started = Instant::now();
    let results = join_all(instances.iter().enumerate().map(|(c, inst)| {
        let inst = inst.clone();
        async move {
            let mut out = Vec::new();
            let mut refused = 0;
            for i in 0..per {
                let key = format!("{c}-{i}");
                let headers: Vec<(&str, &str)> = if keyed {
                    vec![("Idempotency-Key", key.as_str())]
                } else {
                    Vec::new()
                };
                let begun = Instant::now();
                let mut requests = 0;
                loop {
                    let call = inst
                        .call("POST", "/vtid/create", Some(draft("bench")), &headers)
                        .await;
                    requests += call.requests;
                    match call.status {
                        200 | 201 => break,
                        503 | 409 => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(0..30)))
                                .await;
                        }
                        other => panic!("create answered {other}: {}", call.body),
                    }
                }
                out.push((requests, begun.elapsed()));
            }
            (out, refused)
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let audit = truth
        .audit(shared::timestamp::Timestamp::now().year())
        .await
        .expect("audit");
    let mut run = Run {
        requests: Vec::new(),
        latencies: Vec::new(),
        refused: 0,
        elapsed,
        missing: audit.missing_count,
        duplicates: audit.duplicates.len(),
    };
    for (out, refused) in results {
        run.refused += refused;
        for (r, l) in out {
            run.requests.push(r);
            run.latencies.push(l);
        }
    }
    run
}
