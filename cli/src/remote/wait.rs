//! `vtid wait VTID --status complete`: poll until the record reaches one of the awaited
//! statuses (exit 0), a final status that is not awaited (exit 4: it can never get
//! there), or the time limit (exit 1). Polls back off from `--interval` to 15 s; none
//! runs past the limit (a ledger that stops answering is exit 5).

use std::time::Duration;

use tokio::time::Instant;
use vtid_client::{Client, Status, Vtid};

use crate::exit::{Exit, Fail};

const MAX_INTERVAL: Duration = Duration::from_secs(15);

pub async fn wait(
    client: &Client,
    vtid: Vtid,
    wanted: &[Status],
    first_interval: Duration,
    deadline: Instant,
    verbose: bool,
) -> Result<Status, Fail> {
    let names = wanted
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ");
    let mut interval = first_interval;
    let mut last_seen: Option<Status> = None;
    loop {
        let found = tokio::time::timeout_at(deadline, client.find(&vtid))
            .await
            .map_err(|_| Fail::Exit {
                exit: Exit::Unavailable,
                code: "timeout",
                message: format!("the ledger did not answer about {vtid} within the time limit"),
            })?;
        let record = found?.ok_or_else(|| Fail::Exit {
            exit: Exit::Missing,
            code: "not_found",
            message: format!("{vtid} does not exist"),
        })?;
        let status = record.status;
        if wanted.contains(&status) {
            return Ok(status);
        }
        if status.is_terminal() {
            return Err(Fail::Exit {
                exit: Exit::Conflict,
                code: "other_final_status",
                message: format!("{vtid} ended {status}, never {names}"),
            });
        }
        if verbose && last_seen != Some(status) {
            eprintln!("vtid: {vtid} is {status}; waiting for {names}");
        }
        last_seen = Some(status);
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= interval {
            // The next poll would come after the limit: wait it out, then say so.
            tokio::time::sleep(left).await;
            return Err(Fail::Exit {
                exit: Exit::Missing,
                code: "status_not_reached",
                message: format!("{vtid} is still {status}, not {names}, at the time limit"),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval.mul_f64(1.5)).min(MAX_INTERVAL);
    }
}
