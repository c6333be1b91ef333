//! `vtid`: the local server, the import, and a client of a running ledger for pipelines,
//! deploy gates and scripts. See the README and docs/pipelines.md.

use std::io::Write;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;
use vtid_cli::exit::{Fail, say};
use vtid_cli::import::command::ImportArgs;
use vtid_cli::remote::terminal_safe;
use vtid_cli::remote::{CLIENT_FLAGS, Remote, RemoteCommand};
use vtid_cli::repair::RepairArgs;
use vtid_cli::serve::command::ServeArgs;

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
    Serve(ServeArgs),
    /// Print the ledger's changes as they happen (vtid serve), and keep reconnecting.
    Watch(vtid_cli::watch::WatchArgs),
    /// Register existing ledger rows (JSON lines, seed snake_case or API camelCase) in a
    /// store directly (--data, or --table), never through the API.
    Import(ImportArgs),
    /// Void the numbers of a year that nobody accounted for (a process killed between
    /// reserving a number and writing it), once the first record above them is older
    /// than --grace; works on a store directly (--data, or --table), like import.
    Repair(RepairArgs),
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
        Command::Serve(args) => match refuse_client_flags(&matches, "serve") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::serve::command::run(args).await
            }
        },
        Command::Import(args) => match refuse_client_flags(&matches, "import") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::import::command::run(args).await
            }
        },
        Command::Repair(args) => match refuse_client_flags(&matches, "repair") {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::repair::run(args).await
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => report(fail, json_errors),
    }
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
