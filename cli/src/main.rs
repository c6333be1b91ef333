//! `vtid`: the local server, the import, and a client of a running ledger for pipelines,
//! deploy gates and scripts. See the README and docs/pipelines.md.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;
use shared::App;
use shared::identity::ReadScope;
use vtid_cli::auth::{LocalAuth, Verifier};
use vtid_cli::exit::{Exit, Fail};
use vtid_cli::import::{self, Summary, Target};
use vtid_cli::remote::terminal_safe;
use vtid_cli::remote::{CLIENT_FLAGS, Remote, RemoteCommand};
use vtid_cli::store_args::StoreArgs;

#[derive(Parser)]
#[command(
    name = "vtid",
    version,
    about = "The VTID ledger: local server, import, and a client for pipelines and scripts",
    after_help = vtid_cli::exit::TABLE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route of the API on one address.
    Serve {
        /// Address to listen on; without token checking only loopback is allowed.
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
        /// Verify `Authorization: Bearer` HS256 tokens with the secret in this file.
        #[arg(long)]
        jwt_hs256_secret_file: Option<PathBuf>,
        /// Verify RS256/ES256 tokens with the keys of this JWKS file.
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        /// Required `aud` of verified tokens.
        #[arg(long)]
        jwt_audience: Option<String>,
        /// Required `iss` of verified tokens.
        #[arg(long)]
        jwt_issuer: Option<String>,
        /// Claim that holds the caller's role (admin, service).
        #[arg(long, env = "VTID_ROLE_CLAIM", default_value = "role")]
        role_claim: String,
        /// Claim that holds the caller's tenant.
        #[arg(long, env = "VTID_TENANT_CLAIM", default_value = "tenant")]
        tenant_claim: String,
        /// Who may read: every authenticated caller (`all`) or only the caller's tenant (`tenant`).
        #[arg(long, env = "VTID_READS", default_value = "all", value_parser = ["all", "tenant"])]
        reads: String,
        /// The longest one request may take, in seconds; past it the answer is 503 with
        /// Retry-After (0.1 to 120).
        #[arg(long, default_value_t = 10.0, value_parser = parse_budget)]
        request_budget: f64,
        /// Store operations in flight at once; more callers wait in the server, each no
        /// longer than its request budget (1 to 1024).
        #[arg(long, default_value_t = shared::store::gate::DEFAULT_CAPACITY as u16,
              value_parser = clap::value_parser!(u16).range(1..=1024))]
        store_concurrency: u16,
        #[command(flatten)]
        http: vtid_cli::serve::HttpLimits,
        #[command(flatten)]
        events: vtid_cli::events::EventArgs,
    },
    /// Print the ledger's changes as they happen (vtid serve), and keep reconnecting.
    Watch(vtid_cli::watch::WatchArgs),
    /// Register existing ledger rows (JSON lines, seed snake_case or API camelCase) in a
    /// store directly (--data, or --table), never through the API.
    Import {
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Start a new ledger in a --data folder that holds none yet.
        #[arg(long)]
        init: bool,
        /// Validate the file and report what would change; write nothing.
        #[arg(long, conflicts_with = "create_table")]
        dry_run: bool,
    },
    /// Void the numbers of a year that nobody accounted for (a process killed between
    /// reserving a number and writing it), once the first record above them is older
    /// than --grace; works on a store directly (--data, or --table), like import.
    Repair {
        /// The year to repair (default: this year).
        #[arg(long, value_parser = clap::value_parser!(u16).range(i64::from(shared::vtid::MIN_YEAR)..=9999))]
        year: Option<u16>,
        /// How old a missing number must be before it is voided (e.g. 1h, 30m).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        grace: std::time::Duration,
        #[command(flatten)]
        store: StoreArgs,
        /// Report what would be voided; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a shell completion script (e.g. `vtid completions bash > /etc/bash_completion.d/vtid`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Client(RemoteCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    // A bug must still read as one line, never as a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        say(&format!(
            "vtid: internal error (a bug; please report it): {what}"
        ));
    }));
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json_errors = cli.remote.json;
    let result = match cli.command {
        Command::Client(command) => vtid_cli::remote::run(&cli.remote, command).await,
        Command::Watch(args) => vtid_cli::watch::run(&cli.remote, args).await,
        Command::Completions { shell } => completions(shell),
        Command::Serve {
            addr,
            store,
            jwt_hs256_secret_file,
            jwks_file,
            jwt_audience,
            jwt_issuer,
            role_claim,
            tenant_claim,
            reads,
            request_budget,
            store_concurrency,
            http,
            events,
        } => match refuse_client_flags(&matches, "serve") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                serve(ServeArgs {
                    addr,
                    store,
                    jwt_hs256_secret_file,
                    jwks_file,
                    jwt_audience,
                    jwt_issuer,
                    role_claim,
                    tenant_claim,
                    reads,
                    request_budget,
                    store_concurrency,
                    http,
                    events,
                })
                .await
            }
        },
        Command::Import {
            file,
            store,
            init,
            dry_run,
        } => match refuse_client_flags(&matches, "import") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                run_import(file, store, init, dry_run).await
            }
        },
        Command::Repair {
            year,
            grace,
            store,
            dry_run,
        } => match refuse_client_flags(&matches, "repair") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                run_repair(year, grace, store, dry_run).await
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => report(fail, json_errors),
    }
}

fn parse_budget(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=120.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0.1 to 120".into()),
    }
}

/// A line on stderr; a closed stderr is no reason to panic.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn report(fail: Fail, json_errors: bool) -> ExitCode {
    let text = match &fail {
        Fail::Closed => return ExitCode::SUCCESS,
        Fail::Client(e) if json_errors => e.to_json().to_string(),
        // A message may quote what the server sent.
        Fail::Client(e) => format!("vtid: {}", terminal_safe(&e.to_string())),
        Fail::Exit { code, message, .. } if json_errors => {
            json!({"ok": false, "error": message, "code": code, "details": []}).to_string()
        }
        Fail::Exit { message, .. } => format!("vtid: {}", terminal_safe(message)),
    };
    say(&text);
    fail.exit().into()
}

/// `import` and `serve` work on a store directly: a client flag given to them would be
/// silently ignored, so it is refused (the environment's `VTID_URL` is not a mistake).
fn refuse_client_flags(matches: &ArgMatches, command: &str) -> Result<(), Fail> {
    let sub = matches.subcommand().map(|(_, m)| m);
    for id in CLIENT_FLAGS {
        let given = [Some(matches), sub]
            .into_iter()
            .flatten()
            .any(|m| m.value_source(id) == Some(ValueSource::CommandLine));
        if given {
            let flag = format!("--{}", id.replace('_', "-"));
            return Err(Fail::usage(format!(
                "vtid {command} works on a store directly (--data DIR, or --table NAME with \
                 --dynamodb-endpoint or AWS credentials), never through the API, so it does not \
                 take {flag}; run it where the store is reachable"
            )));
        }
    }
    Ok(())
}

fn completions(shell: clap_complete::Shell) -> Result<(), Fail> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vtid", &mut script);
    let mut out = std::io::stdout();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Fail::Closed),
        Err(e) => Err(Fail::usage(format!("cannot write to stdout: {e}"))),
    }
}

struct ServeArgs {
    addr: SocketAddr,
    store: StoreArgs,
    jwt_hs256_secret_file: Option<PathBuf>,
    jwks_file: Option<PathBuf>,
    jwt_audience: Option<String>,
    jwt_issuer: Option<String>,
    role_claim: String,
    tenant_claim: String,
    reads: String,
    request_budget: f64,
    store_concurrency: u16,
    http: vtid_cli::serve::HttpLimits,
    events: vtid_cli::events::EventArgs,
}

async fn serve(a: ServeArgs) -> Result<(), Fail> {
    let auth = if a.jwt_hs256_secret_file.is_some() || a.jwks_file.is_some() {
        let v = Verifier::from_files(
            a.jwt_hs256_secret_file.as_deref(),
            a.jwks_file.as_deref(),
            a.jwt_audience,
            a.jwt_issuer,
        )
        .map_err(Fail::usage)?;
        LocalAuth::Verify(v)
    } else {
        LocalAuth::Fixed {
            role_claim: a.role_claim.clone(),
        }
    };
    let listener = vtid_cli::serve::bind(a.addr, &auth)
        .await
        .map_err(Fail::usage)?;
    let opened = a.store.open().await.map_err(Fail::usage)?;
    let identity = shared::identity::IdentityConfig {
        role_claim: a.role_claim,
        tenant_claim: a.tenant_claim,
        reads: if a.reads == "tenant" {
            ReadScope::OwnTenant
        } else {
            ReadScope::All
        },
    };
    let (local, delivery) = a.events.start(&opened).await.map_err(Fail::usage)?;
    let mut app = App::new(opened.store, identity, opened.cursor_key)
        .with_budget(std::time::Duration::from_secs_f64(a.request_budget))
        .with_gate(usize::from(a.store_concurrency));
    if let Some(delivery) = delivery {
        app = app.with_events(delivery);
    }
    let mode = match auth {
        LocalAuth::Fixed { .. } => format!(
            "every caller is the local admin (sub 'local'); answers {} only, and no other site's page",
            vtid_cli::serve::Origins::new(&a.http.allowed_hosts, 0).names()
        ),
        LocalAuth::Verify(_) => "bearer tokens are verified".to_owned(),
    };
    say(&format!(
        "vtid serve: http://{} on {}; {mode}; the page: http://{0}/",
        listener.local_addr().unwrap_or(a.addr),
        opened.description
    ));
    vtid_cli::serve::run(
        listener,
        Arc::new(app),
        Arc::new(auth),
        a.http,
        Arc::new(local),
    )
    .await;
    Ok(())
}

async fn run_import(
    file: PathBuf,
    mut store: StoreArgs,
    init: bool,
    dry_run: bool,
) -> Result<(), Fail> {
    // Say where the rows go in full, whatever the current folder.
    store.data = std::path::absolute(&store.data).unwrap_or(store.data);
    let target = match &store.table {
        Some(_) => Target::Ready,
        None => import::check_data_folder(&store.data, init).map_err(Fail::usage)?,
    };
    // The whole file first: a bad file creates no store, and writes nothing. The parents
    // of its valid rows are still checked (a read), so one run names every bad row.
    let rows = match import::read_rows(&file) {
        Ok(rows) => rows,
        Err(bad) => {
            let summary = bad_file_parents(&store, &target, bad).await;
            return finish_import(&summary, dry_run);
        }
    };
    let unavailable = |message: String| Fail::Exit {
        exit: Exit::Unavailable,
        code: "store_unavailable",
        message,
    };
    let summary = if dry_run {
        // A dry run creates nothing, not even the new ledger it would write to.
        let opened = match &target {
            Target::NewLedger(dir) => {
                say(&format!(
                    "import: dry run for a new ledger in {}; nothing is written",
                    dir.display()
                ));
                None
            }
            Target::Ready => {
                let opened = store.open().await.map_err(unavailable)?;
                say(&format!(
                    "import: dry run against {}; nothing is written",
                    opened.description
                ));
                Some(opened)
            }
        };
        import::dry_run(opened.as_ref().map(|o| o.store.as_ref()), &rows).await
    } else {
        let opened = store.open().await.map_err(unavailable)?;
        opened
            .store
            .ping()
            .await
            .map_err(|e| unavailable(format!("cannot use the {}: {e}", opened.description)))?;
        say(&format!("import: writing to {}", opened.description));
        import::import(opened.store.as_ref(), &rows, &mut std::io::stderr()).await
    };
    finish_import(&summary, dry_run)
}

async fn run_repair(
    year: Option<u16>,
    grace: std::time::Duration,
    store: StoreArgs,
    dry_run: bool,
) -> Result<(), Fail> {
    let unavailable = |message: String| Fail::Exit {
        exit: Exit::Unavailable,
        code: "store_unavailable",
        message,
    };
    if store.table.is_none() && !store.data.join("ledger.sqlite3").exists() {
        return Err(Fail::usage(format!(
            "{} holds no ledger: nothing to repair",
            store.data.display()
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

/// A bad file's summary with the parents of its valid rows checked too, so that one run
/// names every bad row: against the ledger if it exists and answers (a read; a table is
/// never created for a bad file), else not at all, and then it says so.
async fn bad_file_parents(store: &StoreArgs, target: &Target, bad: import::BadFile) -> Summary {
    let mut summary = bad.summary;
    if bad.valid.iter().all(|(_, r)| r.parent_vtid.is_none()) {
        return summary;
    }
    if let Target::NewLedger(_) = target {
        import::check_parents(None, &bad.valid, &mut summary).await;
        return summary;
    }
    let existing = StoreArgs {
        create_table: false,
        ..store.clone()
    };
    let answering = match existing.open().await {
        Ok(opened) => opened
            .store
            .ping()
            .await
            .map(|()| opened)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match answering {
        Ok(opened) => {
            import::check_parents(Some(opened.store.as_ref()), &bad.valid, &mut summary).await;
        }
        Err(e) => say(&format!(
            "import: parents were not checked, the store did not answer: {e}"
        )),
    }
    summary
}

/// The problems, the summary line, and the exit code the outcome means.
fn finish_import(summary: &Summary, dry_run: bool) -> Result<(), Fail> {
    for p in &summary.problems {
        say(p);
    }
    print_summary(summary, dry_run);
    if summary.invalid > 0 {
        Err(Fail::Exit {
            exit: Exit::Usage,
            code: "invalid_rows",
            message: format!("{} invalid rows; nothing was imported", summary.invalid),
        })
    } else if summary.failed > 0 {
        Err(Fail::Exit {
            exit: Exit::Unavailable,
            code: "store_unavailable",
            message: format!("{} rows could not be checked or written", summary.failed),
        })
    } else if summary.conflicting > 0 {
        Err(Fail::Exit {
            exit: Exit::Conflict,
            code: "conflicting_rows",
            message: format!(
                "{} rows differ from the ledger's records and were left alone",
                summary.conflicting
            ),
        })
    } else {
        Ok(())
    }
}

fn print_summary(s: &Summary, dry_run: bool) {
    let (prefix, imported) = if dry_run {
        ("import (dry run)", "would be imported")
    } else {
        ("import", "imported")
    };
    let failed = if s.failed > 0 {
        format!(", {} failed", s.failed)
    } else {
        String::new()
    };
    let tail = if s.invalid > 0 || (dry_run && s.rows > 0) {
        if dry_run {
            " (nothing was written)"
        } else {
            " (nothing was imported)"
        }
    } else {
        ""
    };
    let line = format!(
        "{prefix}: {} rows: {} {imported}, {} already present, {} conflicting, {} invalid{failed}{tail}",
        s.rows, s.imported, s.already_present, s.conflicting, s.invalid
    );
    // The exit code carries the outcome even when no one reads stdout.
    let _ = writeln!(std::io::stdout(), "{line}");
}
