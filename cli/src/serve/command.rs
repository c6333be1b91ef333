//! `vtid serve`'s flags and its wiring: the verifier or the fixed local identity, the
//! listener, the store, the events, the app; then the server runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use shared::App;
use shared::identity::ReadScope;

use crate::auth::{LocalAuth, Verifier};
use crate::exit::{Fail, say};
use crate::store_args::StoreArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; without token checking only loopback is allowed.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Start a new ledger in a --data folder that holds none yet (the default folder,
    /// ./.vtid, starts by itself on the first run).
    #[arg(long)]
    pub init: bool,
    /// Verify `Authorization: Bearer` HS256 tokens with the secret in this file.
    #[arg(long)]
    jwt_hs256_secret_file: Option<PathBuf>,
    /// Verify RS256/ES256 tokens with the keys of this JWKS file.
    #[arg(long)]
    pub jwks_file: Option<PathBuf>,
    /// Required `aud` of verified tokens.
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// Required `iss` of verified tokens.
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// Claim that holds the caller's role (admin, service).
    #[arg(long, env = "VTID_ROLE_CLAIM", default_value = "role")]
    pub role_claim: String,
    /// Claim that holds the caller's tenant.
    #[arg(long, env = "VTID_TENANT_CLAIM", default_value = "tenant")]
    pub tenant_claim: String,
    /// Who may read: every authenticated caller (`all`) or only the caller's tenant (`tenant`).
    #[arg(long, env = "VTID_READS", default_value = "all", value_parser = ["all", "tenant"])]
    pub reads: String,
    /// The longest one request may take, in seconds; past it the answer is 503 with
    /// Retry-After (0.1 to 120).
    #[arg(long, default_value_t = 10.0, value_parser = parse_budget)]
    pub request_budget: f64,
    /// Store operations in flight at once; more callers wait in the server, each no
    /// longer than its request budget (1 to 1024).
    #[arg(long, default_value_t = shared::store::gate::DEFAULT_CAPACITY as u16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub store_concurrency: u16,
    #[command(flatten)]
    pub http: super::HttpLimits,
    #[command(flatten)]
    pub events: crate::events::EventArgs,
}

fn parse_budget(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=120.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0.1 to 120".into()),
    }
}

pub async fn run(a: ServeArgs) -> Result<(), Fail> {
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
    let listener = super::bind(a.addr, &auth).await.map_err(Fail::usage)?;
    // Before anything is created: a typo in --data must not start a second ledger.
    a.events
        .check_store(a.store.table.is_some())
        .map_err(Fail::usage)?;
    a.store.target(a.init, true).map_err(Fail::usage)?;
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
            super::Origins::new(&a.http.allowed_hosts, 0).names()
        ),
        LocalAuth::Verify(_) => "bearer tokens are verified".to_owned(),
    };
    say(&format!(
        "vtid serve: http://{} on {}; {mode}; the page: http://{0}/",
        listener.local_addr().unwrap_or(a.addr),
        opened.description
    ));
    super::run(
        listener,
        Arc::new(app),
        Arc::new(auth),
        a.http,
        Arc::new(local),
    )
    .await;
    Ok(())
}
