//! The client commands: `vtid create|get|exists|update|list|tree|history|audit` against a
//! running ledger (API Gateway or `vtid serve`), for CI/CD pipelines and scripts.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use vtid_client::{Client, Error};

#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// Base URL of the ledger.
    #[arg(
        long,
        env = "VTID_URL",
        default_value = "http://127.0.0.1:8787",
        global = true
    )]
    pub url: String,
    /// Bearer token (for an API Gateway JWT authorizer or `vtid serve` with token checking).
    #[arg(long, env = "VTID_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum RemoteCommand {
    /// Create a VTID; prints it (or the whole record with --json).
    Create {
        #[arg(long)]
        family: String,
        #[arg(long = "type")]
        task_type: String,
        #[arg(long)]
        description: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        assigned_to: Option<String>,
        #[arg(long)]
        parent: Option<String>,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        test: bool,
        /// Makes a retry of this command return the same VTID.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a record as JSON; exit code 1 when it does not exist.
    Get { vtid: String },
    /// Exit 0 when the VTID exists, 1 when not: the deploy gate.
    Exists { vtid: String },
    /// Change a record; prints it as JSON.
    Update {
        vtid: String,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, conflicts_with = "unassign")]
        assigned_to: Option<String>,
        #[arg(long)]
        unassign: bool,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A JSON object merged by top-level key (null removes a key).
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        test: Option<bool>,
        /// Only if the record is still at this version.
        #[arg(long)]
        if_match: Option<u64>,
    },
    /// List records as JSON lines, newest first.
    List {
        #[arg(long)]
        family: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        assigned_to: Option<String>,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        year: Option<u16>,
        #[arg(long)]
        include_test: bool,
        /// At most this many (default: every match, page by page).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Print a VTID and its subtasks, indented.
    Tree { vtid: String },
    /// Print a record's history as JSON lines, oldest first.
    History { vtid: String },
    /// Print the year's integrity report (admin and service callers).
    Audit {
        #[arg(long)]
        year: Option<u16>,
    },
}

fn json_arg(name: &str, text: &str) -> Result<Value, Error> {
    match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Error::Usage(format!("--{name} must be a JSON object"))),
    }
}

/// Runs a client command; the exit code is 0, 1 (not found) or 2 (any other error).
pub async fn run(remote: &Remote, command: RemoteCommand) -> Result<u8, Error> {
    let client = Client::new(&remote.url, remote.token.clone())?;
    match command {
        RemoteCommand::Create {
            family,
            task_type,
            description,
            tenant,
            title,
            status,
            assigned_to,
            parent,
            metadata,
            test,
            idempotency_key,
            json,
        } => {
            let mut body = Map::new();
            body.insert("taskFamily".into(), family.into());
            body.insert("taskType".into(), task_type.into());
            body.insert("description".into(), description.into());
            for (k, v) in [
                ("tenant", tenant),
                ("title", title),
                ("status", status),
                ("assignedTo", assigned_to),
                ("parentVtid", parent),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), v.into());
                }
            }
            if let Some(m) = metadata {
                body.insert("metadata".into(), json_arg("metadata", &m)?);
            }
            if test {
                body.insert("isTest".into(), true.into());
            }
            let record = client
                .create(&Value::Object(body), idempotency_key.as_deref())
                .await?;
            if json {
                println!("{record}");
            } else {
                println!("{}", record["vtid"].as_str().unwrap_or_default());
            }
            Ok(0)
        }
        RemoteCommand::Get { vtid } => match client.get(&vtid).await {
            Ok(r) => {
                println!("{r}");
                Ok(0)
            }
            Err(Error::Api { status: 404, .. }) => {
                eprintln!("vtid: {vtid} does not exist");
                Ok(1)
            }
            Err(e) => Err(e),
        },
        RemoteCommand::Exists { vtid } => Ok(if client.exists(&vtid).await? { 0 } else { 1 }),
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
            let mut patch = Map::new();
            for (k, v) in [
                ("status", status),
                ("title", title),
                ("description", description),
            ] {
                if let Some(v) = v {
                    patch.insert(k.into(), v.into());
                }
            }
            if let Some(a) = assigned_to {
                patch.insert("assignedTo".into(), a.into());
            }
            if unassign {
                patch.insert("assignedTo".into(), Value::Null);
            }
            if let Some(m) = metadata {
                patch.insert("metadata".into(), json_arg("metadata", &m)?);
            }
            if let Some(t) = test {
                patch.insert("isTest".into(), t.into());
            }
            println!(
                "{}",
                client
                    .update(&vtid, &Value::Object(patch), if_match)
                    .await?
            );
            Ok(0)
        }
        RemoteCommand::List {
            family,
            status,
            tenant,
            assigned_to,
            parent,
            year,
            include_test,
            limit,
        } => {
            let mut q: Vec<(&str, String)> = Vec::new();
            for (k, v) in [
                ("taskFamily", family),
                ("status", status),
                ("tenant", tenant),
                ("assignedTo", assigned_to),
                ("parentVtid", parent),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            if let Some(y) = year {
                q.push(("year", y.to_string()));
            }
            if include_test {
                q.push(("includeTest", "true".into()));
            }
            let records = match limit {
                Some(l) => {
                    q.push(("limit", l.clamp(1, 200).to_string()));
                    client.list(&q).await?.records
                }
                None => client.list_all(&q).await?,
            };
            for r in records {
                println!("{r}");
            }
            Ok(0)
        }
        RemoteCommand::Tree { vtid } => {
            let root = client.get(&vtid).await?;
            print_tree(&client, &root, 0).await?;
            Ok(0)
        }
        RemoteCommand::History { vtid } => {
            for e in client.history(&vtid).await? {
                println!("{e}");
            }
            Ok(0)
        }
        RemoteCommand::Audit { year } => {
            println!("{}", json!(client.audit(year).await?));
            Ok(0)
        }
    }
}

async fn print_tree(client: &Client, record: &Value, depth: usize) -> Result<(), Error> {
    // Iterative over levels would avoid recursion; trees of tasks are shallow, and a boxed
    // future keeps this simple.
    let line = format!(
        "{}{} [{}] {}",
        "  ".repeat(depth),
        record["vtid"].as_str().unwrap_or("?"),
        record["status"].as_str().unwrap_or("?"),
        record["title"]
            .as_str()
            .or(record["description"].as_str())
            .unwrap_or("")
    );
    println!("{line}");
    if depth >= 32 {
        return Ok(());
    }
    let vtid = record["vtid"].as_str().unwrap_or_default().to_owned();
    let mut children = client
        .list_all(&[("parentVtid", vtid), ("includeTest", "true".into())])
        .await?;
    children.reverse();
    for child in children {
        Box::pin(print_tree(client, &child, depth + 1)).await?;
    }
    Ok(())
}
