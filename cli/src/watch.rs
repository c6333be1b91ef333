//! `vtid watch`: the ledger's changes as they happen (`GET /vtid/events` of `vtid serve`),
//! one line each, readable or JSON. It reconnects on its own and continues right after
//! the last event it printed, so a dropped connection or a restarted server loses and
//! repeats nothing.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use vtid_client::{Client, Error, Event};

use crate::exit::Fail;
use crate::remote::{Remote, StatusArg, year_arg};
use vtid_client::Vtid;

/// The longest pause between reconnection attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Only changes of records of this family.
    #[arg(long)]
    pub family: Option<String>,
    /// Only changes of records now in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only changes of this tenant's records.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only changes of records assigned to this name.
    #[arg(long)]
    pub assigned_to: Option<String>,
    /// Only changes of the subtasks of this VTID.
    #[arg(long)]
    pub parent: Option<Vtid>,
    /// Only changes of VTIDs of this year.
    #[arg(long, value_parser = year_arg)]
    pub year: Option<u16>,
    /// Include test records.
    #[arg(long)]
    pub include_test: bool,
    /// One JSON object a line: `{"id", "event", "data"}`, `data` being the OASIS body.
    #[arg(long)]
    pub json: bool,
    /// Start right after this event id (0: from the first event recorded); default: now.
    #[arg(long)]
    pub after: Option<u64>,
    /// Exit after this many events.
    #[arg(long)]
    pub count: Option<u64>,
}

impl WatchArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (k, v) in [
            ("taskFamily", self.family.clone()),
            ("status", self.status.map(|s| s.0.as_str().to_owned())),
            ("tenant", self.tenant.clone()),
            ("assignedTo", self.assigned_to.clone()),
            ("parentVtid", self.parent.map(|p| p.to_string())),
        ] {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        if let Some(y) = self.year {
            q.push(("year", y.to_string()));
        }
        if self.include_test {
            q.push(("includeTest", "true".into()));
        }
        q
    }
}

/// A readable line: when, what, which record, its status and who.
pub fn readable(e: &Event) -> String {
    let body: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    let m = &body["metadata"];
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let kind = e.event.strip_prefix("vtid-").unwrap_or(&e.event);
    let mut line = format!(
        "{}  {} v{}  {:<14} {:<9} {}/{}  by {}",
        s(&m["updatedAt"]),
        s(&m["vtid"]),
        m["version"].as_u64().unwrap_or(0),
        kind,
        s(&m["status"]),
        s(&body["tenant"]),
        s(&m["taskFamily"]),
        s(&m["updatedBy"]),
    );
    if let Some(t) = m["title"].as_str() {
        line.push_str(&format!("  \"{t}\""));
    }
    line
}

/// Runs until `--count` events were printed, or a request is refused for good (a bad
/// filter, no access, not a ledger): that is the failure returned.
pub async fn run(remote: &Remote, args: WatchArgs) -> Result<(), Fail> {
    let client = Client::http(&remote.url, remote.token.clone())?;
    let query = args.query();
    let mut resume = args.after.map(|a| a.to_string());
    let mut printed = 0u64;
    let mut failures = 0u32;
    let mut out = std::io::stdout();
    loop {
        if args.count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        let mut stream = match client.events(&query, resume.as_deref()).await {
            Ok(s) => s,
            // Refused for good (a bad filter, no access, not a ledger): retrying cannot help.
            Err(e) if !e.is_passing() => return Err(Fail::Client(e)),
            Err(e) => {
                failures += 1;
                pause(&e, failures).await;
                continue;
            }
        };
        eprintln!(
            "vtid watch: connected to {}, {}",
            vtid_client::redact_url(&remote.url),
            match stream.last_event_id() {
                Some(id) => format!("after event {id}"),
                None => "from now".to_owned(),
            }
        );
        failures = 0;
        loop {
            match stream.next().await {
                Ok(Some(e)) => {
                    let line = if args.json {
                        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                        json!({"id": e.id, "event": e.event, "data": data}).to_string()
                    } else {
                        crate::remote::terminal_safe(&readable(&e)).into_owned()
                    };
                    // A closed stdout (`vtid watch | head`) ends the command quietly.
                    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                        return Ok(());
                    }
                    printed += 1;
                    if args.count.is_some_and(|c| printed >= c) {
                        return Ok(());
                    }
                }
                // The server ended the stream (its lifetime): reconnect at once.
                Ok(None) => break,
                Err(e) => {
                    failures += 1;
                    resume = stream.last_event_id().map(str::to_owned).or(resume);
                    pause(&e, failures).await;
                    break;
                }
            }
        }
        resume = stream.last_event_id().map(str::to_owned).or(resume);
    }
}

/// Waits before reconnecting: doubling from 1 s, at most [`LONGEST_PAUSE`].
async fn pause(why: &Error, failures: u32) {
    let wait = vtid_model::backoff::Backoff {
        first: Duration::from_secs(1),
        longest: LONGEST_PAUSE,
        factor: 2.0,
        jitter: vtid_model::backoff::Jitter::None,
    }
    .pause(failures);
    eprintln!("vtid watch: {why}; reconnecting in {} s", wait.as_secs());
    tokio::time::sleep(wait).await;
}
