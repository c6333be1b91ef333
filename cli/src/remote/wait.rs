//! `vtid wait VTID --status complete`: poll until the record reaches one of the awaited
//! statuses (exit 0), a final status that is not awaited (exit 4: it can never get
//! there), or the time limit (exit 1). Polls back off from `--interval` to 15 s; none
//! runs past the limit. A ledger that stops answering (a restart, an outage: refused
//! connections, timeouts, 429, 5xx) is waited for like a status that has not come yet;
//! still unreachable at the limit, it is exit 5 with the last error.

use std::time::Duration;

use tokio::time::Instant;
use vtid_client::{Client, Status, Vtid};

use vtid_model::backoff::{Backoff, Jitter};

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
    let backoff = Backoff {
        first: first_interval,
        longest: MAX_INTERVAL,
        factor: 1.5,
        jitter: Jitter::None,
    };
    let mut polls = 0u32;
    let mut last_seen: Option<Status> = None;
    let mut outage: Option<vtid_client::Error> = None;
    loop {
        polls += 1;
        let found = tokio::time::timeout_at(deadline, client.find(&vtid))
            .await
            .map_err(|_| Fail::Exit {
                exit: Exit::Unavailable,
                code: "timeout",
                message: format!("the ledger did not answer about {vtid} within the time limit"),
            })?;
        match found {
            Ok(found) => {
                if outage.take().is_some() && verbose {
                    eprintln!("vtid: the ledger answers again");
                }
                let record = found.ok_or_else(|| Fail::Exit {
                    exit: Exit::Missing,
                    code: "not_found",
                    message: format!("{vtid} does not exist (404 not_found)"),
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
            }
            Err(e) if e.is_passing() => {
                if outage.is_none() {
                    // Said once per outage, whatever --verbose: a gate's log shows why it waited.
                    eprintln!("vtid: {e}; still waiting for {vtid} until the time limit");
                }
                outage = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
        let interval = backoff.pause(polls);
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= interval {
            // The next poll would come after the limit: wait it out, then say so.
            tokio::time::sleep(left).await;
            return Err(match (outage, last_seen) {
                (Some(e), _) => e.into(),
                (None, status) => Fail::Exit {
                    exit: Exit::Missing,
                    code: "status_not_reached",
                    message: format!(
                        "{vtid} is still {}, not {names}, at the time limit",
                        status.map_or("unknown", |s| s.as_str())
                    ),
                },
            });
        }
        tokio::time::sleep(interval).await;
    }
}
