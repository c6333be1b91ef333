//! `vtid-bench`: DynamoDB round trips per operation (docs/design.md, "Round trips"), counted by
//! `DynamoStore::requests_sent()` (every request the SDK sends, its retries included)
//! while the same handlers the Lambda functions run serve API Gateway v2 events.
//! Each simulated function instance has its own client and its own counter cache, as
//! each warm Lambda execution environment does.
//!
//! ```text
//! vtid-bench create-table --endpoint URL --table NAME
//! vtid-bench roundtrips   --endpoint URL --table NAME [--creators 16] [--creates 5]
//! vtid-bench contention   --endpoint URL --table NAME [--creates 96] [--slow-creates 64]
//!                         [--settings all|moto,conflicts,faults,slow]
//! ```
//!
//! `roundtrips` wants a fresh table (it numbers from the table's first VTID of the year)
//! and prints a markdown table. `scripts/bench` runs both against moto's server.

mod contention;
mod instance;
mod roundtrips;
mod scale;

use std::process::ExitCode;

use shared::store::dynamo::{DynamoStore, endpoint_config};

pub struct Args {
    command: String,
    pub endpoint: String,
    pub table: String,
    pub creators: usize,
    pub creates: usize,
    pub sqlite_dir: String,
    pub sqlite_sizes: String,
    pub dynamo_records: u32,
    /// Creates per slow-store run of `contention` (the slow store serves 20 requests a second).
    pub slow_creates: usize,
    /// Which settings `contention` runs: `all`, or some of `moto,conflicts,faults,slow`.
    pub settings: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("usage: vtid-bench create-table|roundtrips|contention|scale --endpoint URL --table NAME [--creators N] [--creates N] [--slow-creates N] [--settings LIST]")?;
    let mut args = Args {
        command,
        endpoint: String::new(),
        table: String::new(),
        creators: 16,
        creates: 5,
        sqlite_dir: String::new(),
        sqlite_sizes: "10000,1000000".into(),
        dynamo_records: 20_000,
        slow_creates: 64,
        settings: "all".into(),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoint" => args.endpoint = value,
            "--table" => args.table = value,
            "--creators" => args.creators = value.parse().map_err(|_| "--creators: a number")?,
            "--creates" => args.creates = value.parse().map_err(|_| "--creates: a number")?,
            "--sqlite-dir" => args.sqlite_dir = value,
            "--sqlite-sizes" => args.sqlite_sizes = value,
            "--dynamo-records" => {
                args.dynamo_records = value.parse().map_err(|_| "--dynamo-records: a number")?
            }
            "--slow-creates" => {
                args.slow_creates = value.parse().map_err(|_| "--slow-creates: a number")?
            }
            "--settings" => args.settings = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.endpoint.is_empty() || args.table.is_empty() {
        return Err("--endpoint and --table are required".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vtid-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match args.command.as_str() {
        "create-table" => {
            let sdk = endpoint_config(&args.endpoint, "us-east-1").await;
            match DynamoStore::new(&sdk, &args.table).create_table().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vtid-bench: create-table: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        "roundtrips" => {
            let rows = roundtrips::roundtrips(&args).await;
            println!(
                "| operation | budget | round trips, mean | max | calls | spread (round trips: calls) |"
            );
            println!("|---|---|---|---|---|---|");
            for r in rows {
                println!("{}", r.markdown());
            }
            ExitCode::SUCCESS
        }
        "scale" => {
            let sizes: Vec<u32> = args
                .sqlite_sizes
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect();
            println!(
                "| store | records | call | median ms | p99 ms | DynamoDB requests per call | note |"
            );
            println!("|---|---|---|---|---|---|---|");
            for row in scale::scale(
                &args.sqlite_dir,
                &sizes,
                &args.endpoint,
                &args.table,
                args.dynamo_records,
            )
            .await
            {
                println!("{}", row.markdown());
            }
            ExitCode::SUCCESS
        }
        "contention" => {
            println!(
                "| setting | key | creators | creates | creates/s | requests/create, mean | max | p50 ms | p99 ms | refused attempts | void | missing | duplicates |"
            );
            println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            for row in contention::contention(&args).await {
                println!("{row}");
            }
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("vtid-bench: unknown command {other}");
            ExitCode::from(2)
        }
    }
}
