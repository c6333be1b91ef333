//! `vtid repair`: voiding the numbers of a year that nobody accounted for, on a store
//! directly (`shared::store::repair` decides which).

use std::io::Write;

use serde_json::json;

use crate::exit::{Exit, Fail, say};
use crate::store_args::{StoreArgs, Target, no_ledger};

#[derive(clap::Args)]
pub struct RepairArgs {
    /// The year to repair (default: this year).
    #[arg(long, value_parser = clap::value_parser!(u16).range(i64::from(shared::vtid::MIN_YEAR)..=9999))]
    pub year: Option<u16>,
    /// How old a missing number must be before it is voided (e.g. 1h, 30m).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Report what would be voided; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(args: RepairArgs) -> Result<(), Fail> {
    let RepairArgs {
        year,
        grace,
        store,
        dry_run,
    } = args;
    let unavailable = |message: String| Fail::Exit {
        exit: Exit::Unavailable,
        code: "store_unavailable",
        message,
    };
    if let Target::NewLedger(data) = store.target(true, false).map_err(Fail::usage)? {
        return Err(Fail::usage(no_ledger(
            &data,
            "check --data; there is nothing to repair",
        )));
    }
    let opened = store.open().await.map_err(unavailable)?;
    let year = year.unwrap_or_else(|| shared::timestamp::Timestamp::now().year());
    let request_id = format!("vtid-repair-{}", shared::timestamp::Timestamp::now());
    let report =
        shared::store::repair::repair(opened.store.as_ref(), year, grace, dry_run, &request_id)
            .await
            .map_err(|e| unavailable(format!("repair of {}: {e}", opened.description)))?;
    say(&format!(
        "repair {year} on {}: {} missing, {} {}, {} left (too recent or not yet dated)",
        opened.description,
        report.missing,
        report.voided.len(),
        if dry_run { "would be voided" } else { "voided" },
        report.left.len()
    ));
    let mut out = std::io::stdout();
    match writeln!(out, "{}", json!(report)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Fail::Closed),
        Err(e) => Err(unavailable(format!("cannot write to stdout: {e}"))),
    }
}
