//! `vtid-fault-proxy`: the fault proxy as a process, for the benchmark and for trying the
//! ledger by hand against a DynamoDB that fails as the real one does.
//!
//! ```text
//! vtid-fault-proxy --upstream http://127.0.0.1:PORT [--port-file F] [--hold-ms 8]
//!     [--throttle 0.03] [--provisioned 0.01] [--internal-error 0.02]
//!     [--drop-after-apply 0.03] [--hang 0] [--latency-ms 0,5] [--service-ms 50]
//!     [--ignore-tokens] [--seed 42]
//! ```
//!
//! While it runs: `GET /_faults/stats`, `POST /_faults/reset`, `POST /_faults/chances`,
//! `POST /_faults/rules` (see the crate documentation).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vtid_faults::{Chances, Config, FaultProxy};

#[derive(Parser)]
#[command(
    name = "vtid-fault-proxy",
    about = "A DynamoDB proxy that fails as DynamoDB does"
)]
struct Args {
    /// The DynamoDB-compatible server to forward to.
    #[arg(long)]
    upstream: String,
    /// Address to listen on (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Write the port here once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// How long a write holds its items, in milliseconds (0: no conflicts).
    #[arg(long, default_value_t = 8)]
    hold_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    throttle: f64,
    #[arg(long, default_value_t = 0.0)]
    provisioned: f64,
    #[arg(long, default_value_t = 0.0)]
    internal_error: f64,
    #[arg(long, default_value_t = 0.0)]
    drop_after_apply: f64,
    #[arg(long, default_value_t = 0.0)]
    hang: f64,
    /// Extra latency on every request: MIN,MAX milliseconds.
    #[arg(long, value_parser = parse_range)]
    latency_ms: Option<(u64, u64)>,
    /// A slow store: each request served one at a time, taking at least this long (ms).
    #[arg(long, default_value_t = 0)]
    service_ms: u64,
    /// Ignore `ClientRequestToken` as moto does (resent transactions are applied again).
    #[arg(long)]
    ignore_tokens: bool,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once(',').ok_or("expected MIN,MAX")?;
    let a = a.trim().parse().map_err(|_| "MIN must be a number")?;
    let b = b.trim().parse().map_err(|_| "MAX must be a number")?;
    Ok((a, b))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        hold: Duration::from_millis(args.hold_ms),
        chances: Chances {
            throttle: args.throttle,
            provisioned_throughput_exceeded: args.provisioned,
            internal_error: args.internal_error,
            drop_after_apply: args.drop_after_apply,
            hang: args.hang,
            latency: args
                .latency_ms
                .map(|(a, b)| (Duration::from_millis(a), Duration::from_millis(b))),
        },
        seed: args.seed,
        honour_tokens: !args.ignore_tokens,
        service_time: Duration::from_millis(args.service_ms),
        ..Config::default()
    };
    let proxy = match FaultProxy::bind(args.addr, &args.upstream, config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vtid-fault-proxy: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    if let Some(f) = &args.port_file {
        let tmp = f.with_extension("tmp");
        let written = std::fs::write(&tmp, proxy.addr().port().to_string())
            .and_then(|()| std::fs::rename(&tmp, f));
        if let Err(e) = written {
            eprintln!("vtid-fault-proxy: cannot write {}: {e}", f.display());
            return ExitCode::FAILURE;
        }
    }
    eprintln!("vtid-fault-proxy: {} -> {}", proxy.url(), args.upstream);
    proxy.wait().await;
    ExitCode::SUCCESS
}
