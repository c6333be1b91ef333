//! `vtid ci register|finish|check`: the deploy gate as a CI job runs it, reading the
//! platform's own variables, so that the GitHub Action and the GitLab CI component are a
//! line each and a re-run does the right thing without anyone writing a key by hand.
//!
//! What a re-run means: each attempt of the registering job is a release of its own. On
//! GitHub "Re-run jobs" keeps `GITHUB_RUN_ID` and counts `GITHUB_RUN_ATTEMPT` up; on
//! GitLab a retried job gets a new `CI_JOB_ID`. Either way the attempt registers a new
//! VTID (the first attempt's is `failed`, and a final status never changes), with the run
//! and the attempt in its metadata so the attempts of one run can be found together. A
//! step retried within one attempt sends the same Idempotency-Key, so it gets the same
//! VTID back. When a retry finishes with success a release that an earlier attempt ended
//! (GitLab retries a failed job, and the jobs after it run again with the first VTID),
//! `finish` registers the retry as a new release whose parent is the ended one, completes
//! it, and hands the new VTID on.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use vtid_client::{Changes, Client, NewRecord, Record, Status, Vtid};

use super::wait::wait;
use crate::exit::{Exit, Fail};

/// The longest idempotency key the API takes.
const MAX_KEY_CHARS: usize = 255;

#[derive(Subcommand, Debug, Clone)]
pub enum CiCommand {
    /// Register this job's release: a new VTID, made active, printed and written to the
    /// platform's outputs (GitHub: `vtid` in $GITHUB_OUTPUT; GitLab: `VTID` in the
    /// dotenv file). Retried within one attempt, the same VTID; a re-run, a new one.
    Register(RegisterArgs),
    /// Finish a release with the job's outcome (GitHub's `job.status`, GitLab's
    /// `CI_JOB_STATUS`): success is complete, failure failed, cancelled cancelled.
    Finish {
        vtid: Vtid,
        #[arg(long, value_enum)]
        outcome: Outcome,
        /// GitLab: the dotenv file to write the finished release's `VTID=...` to.
        #[arg(long, default_value = "vtid.env")]
        dotenv: PathBuf,
    },
    /// Gate a deploy: exit 0 once the release is complete; 4 when it failed or was
    /// cancelled; 1 when --timeout passes first; 5 when the ledger cannot be reached then.
    Check { vtid: Vtid },
}

#[derive(Args, Debug, Clone)]
pub struct RegisterArgs {
    /// The release's family.
    #[arg(long, default_value = "deploy")]
    pub family: String,
    /// The release's type.
    #[arg(long = "type", default_value = "release")]
    pub task_type: String,
    /// The tenant it belongs to (needed for service callers and `vtid serve` without tokens).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Default: the repository and the commit, and the attempt from the second on.
    #[arg(long)]
    pub title: Option<String>,
    /// Default: "release of <commit> (<run URL>)".
    #[arg(long)]
    pub description: Option<String>,
    /// GitLab: the dotenv file to write `VTID=...` to (declare it as `artifacts:
    /// reports: dotenv`).
    #[arg(long, default_value = "vtid.env")]
    pub dotenv: PathBuf,
    /// Outside GitHub and GitLab: the key that makes a retry get the same VTID.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// A job's outcome, in the words of both platforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Outcome {
    Success,
    #[value(alias = "failed")]
    Failure,
    #[value(alias = "canceled")]
    Cancelled,
}

impl Outcome {
    fn status(self) -> Status {
        match self {
            Outcome::Success => Status::Complete,
            Outcome::Failure => Status::Failed,
            Outcome::Cancelled => Status::Cancelled,
        }
    }
}

/// The CI platform a job runs on, from its variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    GitHub {
        repository: String,
        run_id: String,
        attempt: u32,
        job: String,
        sha: String,
        run_url: String,
        output: Option<PathBuf>,
    },
    GitLab {
        project: String,
        project_id: String,
        pipeline_id: String,
        job_id: String,
        sha: String,
        job_url: String,
    },
    Other,
}

impl Platform {
    /// The platform of the job whose variables `var` reads.
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> Platform {
        let get = |name: &str| var(name).unwrap_or_default();
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            return Platform::GitHub {
                run_url: format!(
                    "{server}/{}/actions/runs/{}",
                    get("GITHUB_REPOSITORY"),
                    get("GITHUB_RUN_ID")
                ),
                repository: get("GITHUB_REPOSITORY"),
                run_id: get("GITHUB_RUN_ID"),
                attempt: get("GITHUB_RUN_ATTEMPT").parse().unwrap_or(1),
                job: get("GITHUB_JOB"),
                sha: get("GITHUB_SHA"),
                output: var("GITHUB_OUTPUT").map(PathBuf::from),
            };
        }
        if var("GITLAB_CI").as_deref() == Some("true") {
            return Platform::GitLab {
                project: get("CI_PROJECT_PATH"),
                project_id: get("CI_PROJECT_ID"),
                pipeline_id: get("CI_PIPELINE_ID"),
                job_id: get("CI_JOB_ID"),
                sha: get("CI_COMMIT_SHA"),
                job_url: get("CI_JOB_URL"),
            };
        }
        Platform::Other
    }

    /// The Idempotency-Key of this job attempt's `what`: the same for a retried step,
    /// another for a re-run.
    fn key(&self, what: &str) -> Option<String> {
        match self {
            Platform::GitHub {
                repository,
                run_id,
                attempt,
                job,
                ..
            } => Some(format!("gh-{repository}-{run_id}-{attempt}-{job}-{what}")),
            Platform::GitLab {
                project_id, job_id, ..
            } => Some(format!("gl-{project_id}-{job_id}-{what}")),
            Platform::Other => None,
        }
    }

    /// What the release records about the run that made it.
    fn metadata(&self) -> Map<String, Value> {
        let value = match self {
            Platform::GitHub {
                repository,
                run_id,
                attempt,
                job,
                sha,
                run_url,
                ..
            } => json!({"ci": "github", "repository": repository, "run": run_id,
                        "attempt": attempt, "job": job, "sha": sha, "url": run_url}),
            Platform::GitLab {
                project,
                pipeline_id,
                job_id,
                sha,
                job_url,
                ..
            } => json!({"ci": "gitlab", "project": project, "pipeline": pipeline_id,
                        "job": job_id, "sha": sha, "url": job_url}),
            Platform::Other => json!({}),
        };
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn title(&self) -> String {
        match self {
            Platform::GitHub {
                repository,
                sha,
                attempt,
                ..
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                format!("{repository} {}{again}", short(sha))
            }
            Platform::GitLab { project, sha, .. } => format!("{project} {}", short(sha)),
            Platform::Other => "release".into(),
        }
    }

    fn description(&self) -> String {
        match self {
            Platform::GitHub { sha, run_url, .. } => format!("release of {sha} ({run_url})"),
            Platform::GitLab { sha, job_url, .. } => format!("release of {sha} ({job_url})"),
            Platform::Other => "release".into(),
        }
    }

    /// Hands `name=value` to the job's later steps or jobs.
    fn publish(&self, name: &str, value: &str, dotenv: &Path) -> Result<(), Fail> {
        let (path, line, append) = match self {
            Platform::GitHub {
                output: Some(path), ..
            } => (path.as_path(), format!("{name}={value}\n"), true),
            Platform::GitLab { .. } => (
                dotenv,
                format!("{}={value}\n", name.to_ascii_uppercase()),
                false,
            ),
            _ => return Ok(()),
        };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        written.map_err(|e| Fail::usage(format!("cannot write {}: {e}", path.display())))
    }
}

/// The first seven characters of a commit, as people write it.
fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Runs a `vtid ci` command; `check` keeps to `deadline` itself.
pub async fn run(
    client: &Client,
    command: CiCommand,
    deadline: Instant,
    verbose: bool,
) -> Result<(), Fail> {
    let platform = Platform::detect(|name| std::env::var(name).ok());
    match command {
        CiCommand::Register(args) => {
            let vtid = register(client, &platform, &args).await?;
            println!("{vtid}");
            platform.publish("vtid", &vtid.to_string(), &args.dotenv)
        }
        CiCommand::Finish {
            vtid,
            outcome,
            dotenv,
        } => {
            let finished = finish(client, &platform, vtid, outcome).await?;
            println!("{finished} {}", outcome.status());
            platform.publish("vtid", &finished.to_string(), &dotenv)
        }
        CiCommand::Check { vtid } => {
            let status = wait(
                client,
                vtid,
                &[Status::Complete],
                std::time::Duration::from_secs(2),
                deadline,
                verbose,
            )
            .await?;
            println!("{vtid} {status}");
            platform.publish("status", status.as_str(), Path::new("vtid.env"))
        }
    }
}

async fn register(client: &Client, platform: &Platform, args: &RegisterArgs) -> Result<Vtid, Fail> {
    let key = match args
        .idempotency_key
        .clone()
        .or_else(|| platform.key("register"))
    {
        Some(key) => key,
        None => {
            return Err(Fail::usage(
                "outside GitHub Actions and GitLab CI, give --idempotency-key (the same for a retry of this step)",
            ));
        }
    };
    if key.len() > MAX_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Fail::usage(format!(
            "the idempotency key {key:?} is not 1 to {MAX_KEY_CHARS} printable ASCII characters"
        )));
    }
    let mut record = NewRecord::new(
        args.family.clone(),
        args.task_type.clone(),
        args.description
            .clone()
            .unwrap_or_else(|| platform.description()),
    );
    record.tenant = args.tenant.clone();
    record.title = Some(args.title.clone().unwrap_or_else(|| platform.title()));
    let metadata = platform.metadata();
    record.metadata = (!metadata.is_empty()).then_some(metadata);
    let created = client.create(&record, Some(&key)).await?;
    let vtid = created.record.vtid;
    match created.record.status {
        Status::Pending => {
            client
                .update(&vtid, &Changes::status(Status::Active), None)
                .await?;
        }
        Status::Active => {}
        // A replay of a release that has already ended: its job is over.
        other => {
            return Err(Fail::Exit {
                exit: Exit::Conflict,
                code: "already_final",
                message: format!("{vtid}, this job's release, has already ended {other}"),
            });
        }
    }
    Ok(vtid)
}

/// Ends the release with `outcome`; the VTID that carries the outcome (a new one when a
/// retry succeeds where an earlier attempt ended the release).
async fn finish(
    client: &Client,
    platform: &Platform,
    vtid: Vtid,
    outcome: Outcome,
) -> Result<Vtid, Fail> {
    let record = client.get(&vtid).await?;
    let wanted = outcome.status();
    if record.status == wanted {
        return Ok(vtid);
    }
    if outcome == Outcome::Success && record.status.is_terminal() {
        return retried(client, platform, &record).await;
    }
    client.update(&vtid, &Changes::status(wanted), None).await?;
    Ok(vtid)
}

/// A retry that succeeded after `ended` was failed or cancelled: a new release, its
/// parent the ended one, made complete.
async fn retried(client: &Client, platform: &Platform, ended: &Record) -> Result<Vtid, Fail> {
    let key = platform.key("finish").ok_or_else(|| Fail::Exit {
        exit: Exit::Conflict,
        code: "already_final",
        message: format!("{} has already ended {}", ended.vtid, ended.status),
    })?;
    let mut record = NewRecord::new(
        ended.task_family.clone(),
        ended.task_type.clone(),
        ended.description.clone(),
    )
    .tenant(ended.tenant.clone())
    .parent(ended.vtid);
    record.title = Some(format!("{} (retry)", platform.title()));
    let mut metadata = platform.metadata();
    metadata.insert("retryOf".into(), json!(ended.vtid.to_string()));
    record.metadata = Some(metadata);
    let created = client.create(&record, Some(&key)).await?;
    let vtid = created.record.vtid;
    for step in [Status::Active, Status::Complete] {
        let current = client.get(&vtid).await?.status;
        if current != step && !current.is_terminal() {
            client.update(&vtid, &Changes::status(step), None).await?;
        }
    }
    Ok(vtid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn github(attempt: &str) -> Platform {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "9001"),
            ("GITHUB_RUN_ATTEMPT", attempt),
            ("GITHUB_JOB", "build"),
            ("GITHUB_SHA", "0123456789abcdef"),
        ]);
        Platform::detect(|n| vars.get(n).map(|v| (*v).to_owned()))
    }

    #[test]
    fn a_rerun_is_another_key_and_a_retried_step_the_same() {
        assert_eq!(github("1").key("register"), github("1").key("register"));
        assert_ne!(github("1").key("register"), github("2").key("register"));
        assert_eq!(
            github("2").key("register").as_deref(),
            Some("gh-acme/shop-9001-2-build-register")
        );
        assert_eq!(github("2").title(), "acme/shop 0123456 (attempt 2)");
        assert_eq!(github("1").metadata()["attempt"], 1);
    }

    #[test]
    fn gitlab_keys_by_job_and_elsewhere_there_is_no_key() {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "42"),
            ("CI_JOB_ID", "777"),
        ]);
        let gl = Platform::detect(|n| vars.get(n).map(|v| (*v).to_owned()));
        assert_eq!(gl.key("register").as_deref(), Some("gl-42-777-register"));
        assert_eq!(Platform::detect(|_| None), Platform::Other);
        assert_eq!(Platform::Other.key("register"), None);
    }
}
