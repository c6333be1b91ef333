//! Each client command: flags to a typed request, the answer to stdout. Failures are
//! values ([`Fail`]) that `main` turns into a message and an exit code.

use serde_json::{Map, Value};
use tokio::time::Instant;
use vtid_client::{Changes, Client, ListQuery, NewRecord, Record, Status};
use vtid_model::version::IfMatch;

use super::output::{self, Out};
use super::{CreateFields, OutputArg, Remote, RemoteCommand, batch_file, connect, wait};
use crate::exit::{Exit, Fail};

/// Runs a client command within `--timeout`.
pub async fn run(remote: &Remote, command: RemoteCommand) -> Result<(), Fail> {
    let deadline = Instant::now() + remote.timeout;
    let client = connect::client(remote).await?;
    let mut out = Out::new();
    // `wait` keeps to the limit itself: reaching it is its answer (exit 1), not a failure.
    let own_limit = matches!(
        command,
        RemoteCommand::Wait { .. } | RemoteCommand::Ci(super::ci::CiCommand::Check { .. })
    );
    let work = command_body(remote, &client, command, &mut out, deadline);
    if own_limit {
        return work.await;
    }
    match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(Fail::Exit {
            exit: Exit::Unavailable,
            code: "timeout",
            // Worded as the client's own time limit, which may strike at the same moment.
            message: format!(
                "no answer from {} within {:.1} s",
                target(remote),
                remote.timeout.as_secs_f64()
            ),
        }),
    }
}

fn target(remote: &Remote) -> String {
    match remote.transport {
        super::TransportArg::Lambda => "the ledger's Lambda functions".into(),
        _ => vtid_client::redact_url(&remote.url),
    }
}

async fn command_body(
    remote: &Remote,
    client: &Client,
    command: RemoteCommand,
    out: &mut Out,
    deadline: Instant,
) -> Result<(), Fail> {
    match command {
        RemoteCommand::Create {
            fields,
            idempotency_key,
        } => {
            let record = new_record(fields)?;
            let key = idempotency_key.unwrap_or_else(vtid_client::new_idempotency_key);
            if remote.verbose {
                eprintln!("vtid: Idempotency-Key: {key}");
            }
            let created = client.create(&record, Some(&key)).await?;
            if remote.verbose && created.replayed {
                eprintln!(
                    "vtid: replayed: this key had created {} before",
                    created.record.vtid
                );
            }
            if remote.json {
                out.line(&output::json(&created.record))?;
            } else {
                out.line(&created.record.vtid.to_string())?;
            }
        }
        RemoteCommand::Batch {
            file,
            idempotency_key,
        } => {
            let items = batch_file::read(&file)?;
            let key = idempotency_key.unwrap_or_else(vtid_client::new_idempotency_key);
            if remote.verbose {
                eprintln!("vtid: Idempotency-Key: {key}");
            }
            for r in client.batch(&items, Some(&key)).await? {
                out.line(&if remote.json {
                    output::json(&r)
                } else {
                    r.vtid.to_string()
                })?;
            }
        }
        RemoteCommand::Get { vtid, field } => {
            let record = client.get(&vtid).await?;
            match field {
                // Raw for a script that reads it; literal on a terminal.
                Some(f) => {
                    let value = output::field(&record, &f)?;
                    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                        out.line(&output::terminal_safe(&value))?
                    } else {
                        out.line(&value)?
                    }
                }
                None => out.line(&output::json(&record))?,
            }
        }
        RemoteCommand::Exists { vtid, status } => {
            let wanted: Vec<Status> = status.into_iter().map(Status::from).collect();
            let record = client.find(&vtid).await?.ok_or_else(|| Fail::Exit {
                exit: Exit::Missing,
                code: "not_found",
                message: format!("{vtid} does not exist (404 not_found)"),
            })?;
            if !wanted.is_empty() && !wanted.contains(&record.status) {
                return Err(Fail::Exit {
                    exit: Exit::Missing,
                    code: "status_not_reached",
                    message: format!("{vtid} is {}, not {}", record.status, names(&wanted)),
                });
            }
            if remote.verbose {
                eprintln!("vtid: {vtid} exists, status {}", record.status);
            }
        }
        RemoteCommand::Wait {
            vtid,
            status,
            interval,
        } => {
            let wanted: Vec<Status> = status.into_iter().map(Status::from).collect();
            let reached =
                wait::wait(client, vtid, &wanted, interval, deadline, remote.verbose).await?;
            if remote.verbose {
                eprintln!("vtid: {vtid} is {reached}");
            }
        }
        RemoteCommand::Update {
            vtid,
            status,
            assigned_to,
            unassign,
            title,
            description,
            metadata,
            test,
            if_match,
        } => {
            let changes = Changes {
                status: status.map(Status::from),
                assigned_to: if unassign {
                    Some(None)
                } else {
                    assigned_to.map(Some)
                },
                title,
                description,
                metadata: metadata.map(|m| json_object("metadata", &m)).transpose()?,
                is_test: test,
            };
            if changes.is_empty() {
                return Err(Fail::usage(
                    "nothing to change: give --status, --assigned-to, --unassign, --title, --description, --metadata or --test",
                ));
            }
            let updated = client
                .update(&vtid, &changes, if_match.and_then(IfMatch::version))
                .await?;
            out.line(&output::json(&updated.record))?;
        }
        RemoteCommand::List {
            family,
            status,
            tenant,
            assigned_to,
            parent,
            year,
            search,
            include_test,
            limit,
            output: format,
        } => {
            let query = ListQuery {
                task_family: family,
                status: status.map(Status::from),
                tenant,
                assigned_to,
                parent_vtid: parent,
                year,
                include_test,
                search,
                limit: Some(limit.map_or(200, |l| l.clamp(1, 200)) as u16),
            };
            let format = format.unwrap_or_else(output::default_output);
            list(client, &query, limit, format, out).await?;
        }
        RemoteCommand::Tree { vtid } => {
            let root = client.get(&vtid).await?;
            print_tree(client, &root, 0, out).await?;
        }
        RemoteCommand::History { vtid } => {
            for entry in client.history(&vtid).await? {
                out.line(&output::json(&entry))?;
            }
        }
        RemoteCommand::Audit { year } => {
            out.line(&output::json(&client.audit(year).await?))?;
        }
        RemoteCommand::Health => {
            out.line(&output::json(&client.health().await?))?;
        }
        RemoteCommand::Ci(command) => {
            super::ci::run(client, command, deadline, remote.verbose).await?;
        }
    }
    out.flush()
}

fn names(statuses: &[Status]) -> String {
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Page by page, so that a reader that stops early (`| head`) stops the paging too; a
/// table is printed whole, to align its columns.
async fn list(
    client: &Client,
    query: &ListQuery,
    limit: Option<usize>,
    format: OutputArg,
    out: &mut Out,
) -> Result<(), Fail> {
    let mut left = limit.unwrap_or(usize::MAX);
    let mut cursor: Option<String> = None;
    let mut printed = 0usize;
    let mut table: Vec<Record> = Vec::new();
    while left > 0 {
        let page = client.list_page(query, cursor.as_deref()).await?;
        let records: Vec<Record> = page.records.into_iter().take(left).collect();
        left -= records.len();
        if format == OutputArg::Table {
            table.extend(records);
        } else {
            output::records(out, format, &records, printed == 0)?;
            printed += records.len();
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if format == OutputArg::Table {
        output::records(out, format, &table, true)?;
        printed = table.len();
    }
    output::finish(out, format, printed > 0)
}

async fn print_tree(
    client: &Client,
    record: &Record,
    depth: usize,
    out: &mut Out,
) -> Result<(), Fail> {
    let label = record.title.as_deref().unwrap_or(&record.description);
    out.line(&format!(
        "{}{} [{}] {}",
        "  ".repeat(depth),
        record.vtid,
        record.status,
        output::terminal_safe(label)
    ))?;
    // Parents are checked on create, so a cycle cannot form; the bound is for safety.
    if depth >= 32 {
        return Ok(());
    }
    let children = client
        .list_all(&ListQuery {
            parent_vtid: Some(record.vtid),
            include_test: true,
            limit: Some(200),
            ..ListQuery::default()
        })
        .await?;
    for child in children.iter().rev() {
        Box::pin(print_tree(client, child, depth + 1, out)).await?;
    }
    Ok(())
}

fn new_record(f: CreateFields) -> Result<NewRecord, Fail> {
    Ok(NewRecord {
        task_family: f.family,
        task_type: f.task_type,
        description: f.description,
        tenant: f.tenant,
        title: f.title,
        status: f.status.map(Status::from),
        assigned_to: f.assigned_to,
        parent_vtid: f.parent,
        metadata: f
            .metadata
            .map(|m| json_object("metadata", &m))
            .transpose()?,
        is_test: f.test.then_some(true),
    })
}

/// A flag's JSON object, read with the API's strict reader: what the API would refuse
/// (a key twice, a number that would change) is refused here, not silently changed.
fn json_object(flag: &str, text: &str) -> Result<Map<String, Value>, Fail> {
    match shared::api::json::parse(text.as_bytes()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Fail::usage(format!("--{flag} must be a JSON object"))),
        Err(e) => Err(Fail::usage(format!("--{flag}: {e}"))),
    }
}
