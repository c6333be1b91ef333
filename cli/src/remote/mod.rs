//! The client commands (`vtid create|batch|get|exists|wait|update|list|tree|history|audit|
//! health`) against a running ledger, for CI/CD pipelines, deploy gates and scripts: their
//! flags here, the transport in `connect`, the commands in `commands` and `wait`, what
//! they print in `output`.

mod batch_file;
pub mod ci;
mod commands;
mod connect;
mod output;

pub use output::terminal_safe;
mod wait;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use vtid_client::{Status, Vtid};
use vtid_model::version::IfMatch;

pub use commands::run;

/// How the client reaches the ledger, and how the command behaves; global flags.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// Base URL of the ledger: the stack's ApiUrl output, or http://127.0.0.1:8787 (without /vtid).
    #[arg(
        long,
        env = "VTID_URL",
        default_value = "http://127.0.0.1:8787",
        global = true
    )]
    pub url: String,
    /// Bearer token (an API Gateway JWT authorizer, or `vtid serve` with token checking).
    #[arg(long, env = "VTID_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// How to reach the ledger: HTTP with the bearer token, HTTP signed with SigV4 (an
    /// IAM-authorized API; AWS credentials as usual), or direct Lambda invocation.
    #[arg(long, env = "VTID_TRANSPORT", value_enum, default_value_t = TransportArg::Http, global = true)]
    pub transport: TransportArg,
    /// For --transport lambda: the stack's outputs as JSON (`aws cloudformation
    /// describe-stacks --query 'Stacks[0].Outputs'`), naming the functions.
    #[arg(long, env = "VTID_STACK_OUTPUTS", global = true)]
    pub stack_outputs: Option<PathBuf>,
    /// For --transport lambda: the caller's IAM ARN, recorded as createdBy/updatedBy.
    #[arg(long, env = "VTID_CALLER_ARN", global = true)]
    pub caller_arn: Option<String>,
    /// Time limit for the whole command, retries included (30s, 2m, 1h; a bare number is seconds).
    #[arg(long, env = "VTID_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,
    /// Errors on stderr as the ledger's JSON error body; records as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Say more on stderr: the Idempotency-Key sent, retries, what `wait` sees.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// The ids of the flags above that only the client commands use, for the commands
/// that must refuse them (`import`, `serve`).
pub const CLIENT_FLAGS: [&str; 6] = [
    "url",
    "token",
    "transport",
    "stack_outputs",
    "caller_arn",
    "timeout",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    Http,
    Sigv4,
    Lambda,
}

/// A status flag value: the model's statuses, by their names; `--help` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusArg(pub Status);

/// Every status, in the model's order.
const STATUS_ARGS: [StatusArg; Status::ALL.len()] = {
    let mut all = [StatusArg(Status::Pending); Status::ALL.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = StatusArg(Status::ALL[i]);
        i += 1;
    }
    all
};

impl ValueEnum for StatusArg {
    fn value_variants<'a>() -> &'a [Self] {
        &STATUS_ARGS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()))
    }
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Self {
        s.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// One JSON array.
    Json,
    /// One JSON object a line.
    Jsonl,
    /// Columns for people.
    Table,
    /// Comma-separated, with a header line.
    Csv,
}

/// A `--year`: four digits from 1970, by the API's own rule.
pub fn year_arg(s: &str) -> Result<u16, String> {
    vtid_model::vtid::parse_year(s.trim())
}

/// `30`, `30s`, `2m`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string())?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("'{s}' is not a duration ({e}); e.g. 30s, 2m, 1h"))?
    };
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return Err(format!("'{s}' must be more than 0 and at most 24h"));
    }
    Ok(d)
}

#[derive(Subcommand, Debug, Clone)]
pub enum RemoteCommand {
    /// Create a VTID; prints it (the whole record with --json).
    Create {
        #[command(flatten)]
        fields: CreateFields,
        /// Makes a retry of this command return the same VTID (e.g. the pipeline run's ID);
        /// without it, one is generated per run (shown with --verbose).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Create 1 to 50 VTIDs with consecutive numbers, or none: one create body a line
    /// (JSON lines) or one JSON array, camelCase; `-` reads stdin. Prints the VTIDs.
    Batch {
        /// The file of create bodies (the API's camelCase fields); `-` is stdin.
        #[arg(long)]
        file: PathBuf,
        /// Makes a retry of this command return the same VTIDs; without it, one is
        /// generated per run (shown with --verbose).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Print a record as JSON (or one field of it).
    Get {
        vtid: Vtid,
        /// Print only this field (e.g. status, version, metadata.env): text as is, else JSON.
        #[arg(long)]
        field: Option<String>,
    },
    /// The deploy gate: exit 0 when the VTID exists (and, with --status, is in one of
    /// those statuses), 1 when not.
    Exists {
        vtid: Vtid,
        /// Also require one of these statuses (repeat the flag for several).
        #[arg(long, value_enum)]
        status: Vec<StatusArg>,
    },
    /// Wait until a VTID reaches one of the given statuses (exit 0), polling with backoff;
    /// exit 4 when it reaches another final status, 1 when --timeout passes first.
    Wait {
        vtid: Vtid,
        #[arg(long, value_enum, required = true)]
        status: Vec<StatusArg>,
        /// The first pause between polls; it grows to 15s.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Change a record; prints it as JSON.
    Update {
        vtid: Vtid,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
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
        /// Only if the record is still at this version: 2, "2" or the ETag as returned
        /// (`*`: whatever its version, as the API takes it).
        #[arg(long)]
        if_match: Option<IfMatch>,
    },
    /// List records, newest first, every page (or --limit of them).
    List {
        /// Only this family (an exact match).
        #[arg(long)]
        family: Option<String>,
        /// Only this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only records assigned to this name.
        #[arg(long)]
        assigned_to: Option<String>,
        /// Only the subtasks of this VTID.
        #[arg(long)]
        parent: Option<Vtid>,
        /// Only VTIDs of this year.
        #[arg(long, value_parser = year_arg)]
        year: Option<u16>,
        /// Only records whose title or description contains every word of TEXT, in any
        /// case ("dep" finds "Deploy"); 1 to 100 characters.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Include test records.
        #[arg(long)]
        include_test: bool,
        /// At most this many (default: every match).
        #[arg(long)]
        limit: Option<usize>,
        /// Default: a table on a terminal, JSON lines when piped.
        #[arg(long, value_enum)]
        output: Option<OutputArg>,
    },
    /// Print a VTID and its subtasks, indented.
    Tree { vtid: Vtid },
    /// Print a record's history as JSON lines, oldest first.
    History { vtid: Vtid },
    /// Print the year's integrity report (admin and service callers).
    Audit {
        /// The year to audit (default: this year).
        #[arg(long, value_parser = year_arg)]
        year: Option<u16>,
    },
    /// Check that the ledger and its store answer (exit 0), else exit 5.
    Health,
    /// The deploy gate in a CI job (GitHub Actions, GitLab CI): register a release, finish
    /// it, check it before deploying; keys and outputs from the platform's variables.
    #[command(subcommand)]
    Ci(ci::CiCommand),
}

#[derive(Args, Debug, Clone)]
pub struct CreateFields {
    /// The kind of work, as lists filter it (e.g. deploy, governance, incident).
    #[arg(long)]
    pub family: String,
    /// The kind of task within the family (e.g. release, hotfix, review).
    #[arg(long = "type")]
    pub task_type: String,
    /// What the task is, for people.
    #[arg(long)]
    pub description: String,
    /// The tenant it belongs to. Needed when the caller has no tenant of its own: on
    /// `vtid serve` without tokens, and for admin and service callers.
    #[arg(long)]
    pub tenant: Option<String>,
    /// A short title.
    #[arg(long)]
    pub title: Option<String>,
    /// The status it starts in (default: pending).
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Who works on it.
    #[arg(long)]
    pub assigned_to: Option<String>,
    /// The VTID it is a subtask of.
    #[arg(long)]
    pub parent: Option<Vtid>,
    /// A JSON object, read as strictly as the API reads it.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Mark it a test record (left out of lists unless asked for).
    #[arg(long)]
    pub test: bool,
}
