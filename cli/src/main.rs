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
    /// Make a bearer token for a `vtid serve` that checks HS256 tokens
    /// (`VTID_TOKEN=$(vtid token --secret-file FILE --sub ci --role service)`).
    Token(vtid_cli::token::TokenArgs),
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
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let json_errors = cli.remote.json;
    let tokenless = cli
        .remote
        .token
        .as_deref()
        .is_none_or(|t| t.trim().is_empty())
        && cli.remote.transport == vtid_cli::remote::TransportArg::Http;
    let result = match cli.command {
        Command::Client(command) => vtid_cli::remote::run(&cli.remote, command).await,
        Command::Watch(args) => vtid_cli::watch::run(&cli.remote, args).await,
        Command::Completions { shell } => completions(shell),
        Command::Token(args) => match refuse_client_flags(&matches, "token", MAKES_A_TOKEN) {
            Err(f) => Err(f),
            Ok(()) => vtid_cli::token::run(args),
        },
        Command::Serve(args) => match refuse_client_flags(&matches, "serve", ON_A_STORE) {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::serve::command::run(args).await
            }
        },
        Command::Import(args) => match refuse_client_flags(&matches, "import", ON_A_STORE) {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::import::command::run(args).await
            }
        },
        Command::Repair(args) => match refuse_client_flags(&matches, "repair", ON_A_STORE) {
            Err(f) => Err(f),
            Ok(()) => {
                shared::telemetry::init();
                vtid_cli::repair::run(args).await
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => report(fail, json_errors, tokenless),
    }
}

/// The command line, with the client flags left out of the help of the commands that
/// refuse them (they are global, so clap would list them everywhere).
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // A subcommand that has an argument of a global's id keeps its own: a hidden copy.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| CLIENT_FLAGS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    for sub in ["serve", "import", "repair", "token"] {
        cmd = cmd.mut_subcommand(sub, |s| s.args(hidden.iter().cloned()));
    }
    cmd
}

/// A usage error: clap's text, or with `--json` anywhere on the line the JSON error
/// shape with code `usage` that docs/pipelines.md promises; exit 2 either way. Help and
/// version requests print as clap prints them.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !std::env::args_os().any(|a| a == "--json") {
        e.exit()
    }
    let text = e.kind().as_str().map_or_else(
        || e.to_string(),
        |_| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        },
    );
    say(&json!({"ok": false, "error": text, "code": "usage", "details": []}).to_string());
    std::process::exit(2)
}

/// What a 401 means when no token was given: where a token goes, and how to make one.
const NO_TOKEN: &str = "no token was given: pass --token or set VTID_TOKEN (for a vtid \
     serve that checks HS256 tokens, `vtid token` makes one)";

fn report(fail: Fail, json_errors: bool, tokenless: bool) -> ExitCode {
    let hint = match &fail {
        Fail::Client(vtid_client::Error::Refused(r)) if r.status == 401 && tokenless => {
            Some(NO_TOKEN)
        }
        _ => None,
    };
    let text = match &fail {
        Fail::Closed => return ExitCode::SUCCESS,
        Fail::Client(e) if json_errors => {
            let mut body = e.to_json();
            if let (Some(hint), Some(o)) = (hint, body.as_object_mut()) {
                o.insert("hint".into(), json!(hint));
            }
            body.to_string()
        }
        // A message may quote what the server sent.
        Fail::Client(e) => {
            let hint = hint.map(|h| format!("; {h}")).unwrap_or_default();
            format!("vtid: {}{hint}", terminal_safe(&e.to_string()))
        }
        Fail::Exit { code, message, .. } if json_errors => {
            json!({"ok": false, "error": message, "code": code, "details": []}).to_string()
        }
        Fail::Exit { message, .. } => format!("vtid: {}", terminal_safe(message)),
    };
    say(&text);
    fail.exit().into()
}

/// Why `serve`, `import` and `repair` take no client flag.
const ON_A_STORE: &str = "works on a store directly (--data DIR, or --table NAME with \
     --dynamodb-endpoint or AWS credentials), never through the API, so it does not take \
     {flag}; run it where the store is reachable";
/// Why `token` takes no client flag.
const MAKES_A_TOKEN: &str = "only makes a token from its secret file and calls no ledger, \
     so it does not take {flag}";

/// Commands that call no ledger: a client flag given to them would be silently ignored,
/// so it is refused (the environment's `VTID_URL` is not a mistake). `why` says what the
/// command does instead, with `{flag}` for the flag.
fn refuse_client_flags(matches: &ArgMatches, command: &str, why: &str) -> Result<(), Fail> {
    let sub = matches.subcommand().map(|(_, m)| m);
    for id in CLIENT_FLAGS {
        let given = [Some(matches), sub]
            .into_iter()
            .flatten()
            .any(|m| m.value_source(id) == Some(ValueSource::CommandLine));
        if given {
            let flag = format!("--{}", id.replace('_', "-"));
            let why = why.replace("{flag}", &flag);
            return Err(Fail::usage(format!("vtid {command} {why}")));
        }
    }
    Ok(())
}

fn completions(shell: clap_complete::Shell) -> Result<(), Fail> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "vtid", &mut script);
    let mut out = std::io::stdout();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Fail::Closed),
        Err(e) => Err(Fail::usage(format!("cannot write to stdout: {e}"))),
    }
}
