//! `vtid-bench contention`: creates from 1, 4 and 16 concurrent function instances, on
//! moto as it is, through the fault proxy with conflicts (each write holds its items
//! 8 ms), and with conflicts plus faults (throttling, internal errors, lost answers), with
//! and without idempotency keys; then 16 and 32 concurrent creators on a slow store (the
//! proxy serves one request at a time, each taking at least 50 ms), both as separate
//! function instances and as one shared app behind the store's concurrency gate, as
//! `vtid serve` runs it. Each run has a fresh table; a refused attempt (503, or 409 in
//! progress) is retried with the same key, as a pipeline would. Reports DynamoDB
//! requests per create (all attempts counted), latency to success, creates per second,
//! and what the audit finds once the run has settled: numbers given up (void), missing
//! and doubled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use shared::store::dynamo::{DynamoStore, endpoint_config};
use shared::store::{Audit, Records};
use vtid_faults::{Chances, Config, FaultProxy};

use crate::Args;
use crate::instance::{Instance, draft};

/// How long the audit is polled after a run for the numbers still missing: a number
/// given up is voided on a background task that may outlive its request by up to 20 s.
const SETTLE: Duration = Duration::from_secs(20);
const SETTLE_POLL: Duration = Duration::from_millis(500);
/// A create still refused after this long is given up (and counted as such).
const GIVE_UP: Duration = Duration::from_secs(120);
/// The slow store's service time per request.
const SLOW_SERVICE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Moto,
    Conflicts,
    Faults,
    Slow,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Moto => "moto alone",
            Setting::Conflicts => "conflicts",
            Setting::Faults => "conflicts + faults",
            Setting::Slow => "slow store",
        }
    }

    /// The name `--settings` takes.
    fn flag(self) -> &'static str {
        match self {
            Setting::Moto => "moto",
            Setting::Conflicts => "conflicts",
            Setting::Faults => "faults",
            Setting::Slow => "slow",
        }
    }

    fn proxy(self) -> Option<Config> {
        let conflicts = Config::conflicts(Duration::from_millis(8));
        match self {
            Setting::Moto => None,
            Setting::Conflicts => Some(conflicts),
            Setting::Faults => Some(conflicts.with_chances(Chances::realistic())),
            Setting::Slow => Some(Config::slow(SLOW_SERVICE)),
        }
    }
}

/// How the creators reach the store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Each creator its own function instance (its own client and counter cache), as
    /// Lambda runs them.
    Instances,
    /// All creators call one app, built once, its store behind the concurrency gate of
    /// `vtid serve` (`shared::store::gate::DEFAULT_CAPACITY` operations in flight).
    SharedApp,
}

impl Shape {
    fn label(self, setting: Setting) -> String {
        match (setting, self) {
            (Setting::Slow, Shape::Instances) => format!("{}, instances", setting.name()),
            (_, Shape::Instances) => setting.name().to_owned(),
            (_, Shape::SharedApp) => format!(
                "{}, one app (gate {})",
                setting.name(),
                shared::store::gate::DEFAULT_CAPACITY
            ),
        }
    }
}

struct Case {
    setting: Setting,
    shape: Shape,
    keyed: bool,
    creators: usize,
    creates: usize,
}

struct Run {
    /// Requests per create, where each create's own can be counted (one instance per
    /// creator); `None` where the creators share one client.
    requests: Option<Vec<u64>>,
    /// Every request the run's clients sent while it created.
    total_requests: u64,
    latencies: Vec<Duration>,
    refused_503: usize,
    refused_409: usize,
    /// Other 5xx answers, retried like a 503.
    refused_other: usize,
    given_up: usize,
    elapsed: Duration,
    settled_in: Duration,
    audit: Audit,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn cases(args: &Args) -> Vec<Case> {
    let mut cases = Vec::new();
    for setting in [Setting::Moto, Setting::Conflicts, Setting::Faults] {
        for keyed in [false, true] {
            for creators in [1usize, 4, 16] {
                cases.push(Case {
                    setting,
                    shape: Shape::Instances,
                    keyed,
                    creators,
                    creates: args.creates,
                });
            }
        }
    }
    for shape in [Shape::Instances, Shape::SharedApp] {
        for keyed in [false, true] {
            for creators in [16usize, 32] {
                cases.push(Case {
                    setting: Setting::Slow,
                    shape,
                    keyed,
                    creators,
                    creates: args.slow_creates,
                });
            }
        }
    }
    let wanted: Vec<&str> = args.settings.split(',').map(str::trim).collect();
    cases.retain(|c| wanted.contains(&"all") || wanted.contains(&c.setting.flag()));
    cases
}

pub async fn contention(args: &Args) -> Vec<String> {
    let mut rows = Vec::new();
    for case in cases(args) {
        let table = format!(
            "{}-{}-{}-{}-{}",
            args.table, case.setting as u8, case.shape as u8, case.keyed as u8, case.creators
        );
        let run = run(args, &case, &table).await;
        let done = run.latencies.len();
        let n = done.max(1) as f64;
        let (mean, max) = match &run.requests {
            Some(r) => (
                r.iter().sum::<u64>() as f64 / n,
                r.iter().copied().max().unwrap_or(0).to_string(),
            ),
            None => (run.total_requests as f64 / n, "–".to_owned()),
        };
        let mut lat = run.latencies.clone();
        lat.sort();
        let creates = if run.given_up > 0 {
            format!("{done} ({} given up)", run.given_up)
        } else {
            done.to_string()
        };
        let refused = run.refused_503 + run.refused_409 + run.refused_other;
        let mut kinds = Vec::new();
        if run.refused_409 > 0 {
            kinds.push(format!("409: {}", run.refused_409));
        }
        if run.refused_other > 0 {
            kinds.push(format!("other 5xx: {}", run.refused_other));
        }
        let refused = if kinds.is_empty() {
            refused.to_string()
        } else {
            format!("{refused} ({})", kinds.join(", "))
        };
        let label = case.shape.label(case.setting);
        let key = if case.keyed { "yes" } else { "no" };
        eprintln!(
            "contention: {label}, key {key}, {} creators: {done} creates in {:.1} s, \
             refused 503: {}, 409: {}, other: {}; settled in {:.1} s: void {}, missing {}",
            case.creators,
            run.elapsed.as_secs_f64(),
            run.refused_503,
            run.refused_409,
            run.refused_other,
            run.settled_in.as_secs_f64(),
            run.audit.void.len(),
            run.audit.missing_count,
        );
        rows.push(format!(
            "| {label} | {key} | {} | {creates} | {:.0} | {mean:.2} | {max} | {:.1} | {:.1} | {refused} | {} | {} | {} |",
            case.creators,
            done as f64 / run.elapsed.as_secs_f64(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            run.audit.void.len(),
            run.audit.missing_count,
            run.audit.duplicates.len(),
        ));
    }
    rows
}

/// What one creator did.
#[derive(Default)]
struct Creator {
    done: Vec<(u64, Duration)>,
    refused_503: usize,
    refused_409: usize,
    refused_other: usize,
    given_up: usize,
}

async fn run(args: &Args, case: &Case, table: &str) -> Run {
    let sdk = endpoint_config(&args.endpoint, "us-east-1").await;
    let truth = DynamoStore::new(&sdk, table);
    truth.create_table().await.expect("create the table");
    let proxy = match case.setting.proxy() {
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
    let creators = case.creators;
    let per = (case.creates / creators).max(1);
    let instances: Vec<Arc<Instance>> = match case.shape {
        Shape::Instances => join_all((0..creators).map(|_| Instance::new(&endpoint, table)))
            .await
            .into_iter()
            .map(Arc::new)
            .collect(),
        Shape::SharedApp => {
            let mut one = Instance::new(&endpoint, table).await;
            one.app = one.app.with_gate(shared::store::gate::DEFAULT_CAPACITY);
            vec![Arc::new(one)]
        }
    };
    let sent =
        |instances: &[Arc<Instance>]| -> u64 { instances.iter().map(|i| i.requests_sent()).sum() };
    let sent_before = sent(&instances);
    let keyed = case.keyed;
    let started = Instant::now();
    let results = join_all((0..creators).map(|c| {
        let inst = instances[c % instances.len()].clone();
        async move {
            let mut out = Creator::default();
            for i in 0..per {
                let key = format!("{c}-{i}");
                let headers: Vec<(&str, &str)> = if keyed {
                    vec![("Idempotency-Key", key.as_str())]
                } else {
                    Vec::new()
                };
                let begun = Instant::now();
                let mut requests = 0;
                let created = loop {
                    let call = inst
                        .call("POST", "/vtid/create", Some(draft("bench")), &headers)
                        .await;
                    requests += call.requests;
                    match call.status {
                        200 | 201 => break true,
                        503 => out.refused_503 += 1,
                        409 => out.refused_409 += 1,
                        s if s >= 500 => {
                            out.refused_other += 1;
                            eprintln!("contention: create answered {s}: {}", call.body);
                        }
                        other => panic!("create answered {other}: {}", call.body),
                    }
                    if begun.elapsed() > GIVE_UP {
                        break false;
                    }
                    tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(0..30))).await;
                };
                if created {
                    out.done.push((requests, begun.elapsed()));
                } else {
                    out.given_up += 1;
                }
            }
            out
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let total_requests = sent(&instances) - sent_before;
    // Numbers given up are voided on background tasks that may still be running (over
    // the proxy, which stays up until then), and an abandoned attempt may still wait in
    // the slow store's queue: poll until nothing is missing in two audits in a row that
    // agree (counter, records, void), or SETTLE.
    let year = shared::timestamp::Timestamp::now().year();
    let settling = Instant::now();
    let mut last: Option<Audit> = None;
    let audit = loop {
        let audit = truth.audit(year).await.expect("audit");
        let steady = last.as_ref().is_some_and(|l| {
            (l.counter, l.records, l.void.len()) == (audit.counter, audit.records, audit.void.len())
        });
        if (audit.missing_count == 0 && steady) || settling.elapsed() >= SETTLE {
            break audit;
        }
        last = Some(audit);
        tokio::time::sleep(SETTLE_POLL).await;
    };
    let settled_in = settling.elapsed();
    drop(instances);
    drop(proxy);
    let mut run = Run {
        requests: (case.shape == Shape::Instances).then(Vec::new),
        total_requests,
        latencies: Vec::new(),
        refused_503: 0,
        refused_409: 0,
        refused_other: 0,
        given_up: 0,
        elapsed,
        settled_in,
        audit,
    };
    for out in results {
        run.refused_503 += out.refused_503;
        run.refused_409 += out.refused_409;
        run.refused_other += out.refused_other;
        run.given_up += out.given_up;
        for (r, l) in out.done {
            if let Some(requests) = &mut run.requests {
                requests.push(r);
            }
            run.latencies.push(l);
        }
    }
    run
}
