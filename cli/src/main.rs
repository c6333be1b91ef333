//! `vtid`: the local server and the import. See the README.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use shared::App;
use shared::identity::ReadScope;
use vtid_cli::auth::{LocalAuth, Verifier};
use vtid_cli::store_args::StoreArgs;

#[derive(Parser)]
#[command(
    name = "vtid",
    version,
    about = "The VTID ledger: local server, import, and a client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: vtid_cli::remote::Remote,
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
        #[command(flatten)]
        events: vtid_cli::events::EventArgs,
    },
    /// Print the ledger's changes as they happen (vtid serve), and keep reconnecting.
    Watch(vtid_cli::watch::WatchArgs),
    /// Register existing ledger rows (JSON lines, seed snake_case or API camelCase).
    Import {
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    #[command(flatten)]
    Client(vtid_cli::remote::RemoteCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Client(command) => match vtid_cli::remote::run(&cli.remote, command).await {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("vtid: {e}");
                ExitCode::from(2)
            }
        },
        Command::Watch(args) => match vtid_cli::watch::run(&cli.remote, args).await {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("vtid: {e}");
                ExitCode::from(2)
            }
        },
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
            events,
        } => {
            let auth = if jwt_hs256_secret_file.is_some() || jwks_file.is_some() {
                match Verifier::from_files(
                    jwt_hs256_secret_file.as_deref(),
                    jwks_file.as_deref(),
                    jwt_audience,
                    jwt_issuer,
                ) {
                    Ok(v) => LocalAuth::Verify(v),
                    Err(e) => return fail(&e),
                }
            } else {
                LocalAuth::Fixed {
                    role_claim: role_claim.clone(),
                }
            };
            let listener = match vtid_cli::serve::bind(addr, &auth).await {
                Ok(l) => l,
                Err(e) => return fail(&e),
            };
            let opened = match store.open().await {
                Ok(o) => o,
                Err(e) => return fail(&e),
            };
            let identity = shared::identity::IdentityConfig {
                role_claim,
                tenant_claim,
                reads: if reads == "tenant" {
                    ReadScope::OwnTenant
                } else {
                    ReadScope::All
                },
            };
            let (local, delivery) = match events.start(&opened).await {
                Ok(started) => started,
                Err(e) => return fail(&e),
            };
            let mut app = App::new(opened.store, identity, opened.cursor_key)
                .with_budget(std::time::Duration::from_secs_f64(request_budget));
            if let Some(delivery) = delivery {
                app = app.with_events(delivery);
            }
            let mode = match auth {
                LocalAuth::Fixed { .. } => "every caller is the local admin (sub 'local')",
                LocalAuth::Verify(_) => "bearer tokens are verified",
            };
            eprintln!(
                "vtid serve: http://{} on {}; {mode}; the page: http://{0}/",
                listener.local_addr().unwrap_or(addr),
                opened.description
            );
            vtid_cli::serve::run(listener, Arc::new(app), Arc::new(auth), Arc::new(local)).await;
            ExitCode::SUCCESS
        }
        Command::Import { file, store } => {
            let opened = match store.open().await {
                Ok(o) => o,
                Err(e) => return fail(&e),
            };
            let summary =
                vtid_cli::import::import(opened.store.as_ref(), &file, &mut std::io::stderr())
                    .await;
            for p in &summary.problems {
                eprintln!("{p}");
            }
            println!(
                "import: {} rows: {} imported, {} already present, {} conflicting, {} invalid{}",
                summary.rows,
                summary.imported,
                summary.already_present,
                summary.conflicting,
                summary.invalid,
                if summary.invalid > 0 {
                    " (nothing was imported)"
                } else {
                    ""
                }
            );
            if summary.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn parse_budget(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=120.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0.1 to 120".into()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("vtid: {message}");
    ExitCode::FAILURE
}
