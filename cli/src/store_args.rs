//! The store flags shared by `vtid serve` and `vtid import`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared::store::Store;
#[cfg(feature = "aws")]
use shared::store::dynamo::{DynamoStore, endpoint_config};
use shared::store::sqlite::SqliteStore;

/// The embedded store's folder when `--data` is not given.
pub const DEFAULT_DATA: &str = "./.vtid";

#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Data folder of the embedded (SQLite) store [default: ./.vtid]. A folder given here
    /// must hold a ledger already (a typo must not start a new one); --init starts one.
    #[arg(long, conflicts_with_all = ["dynamodb_endpoint", "table"])]
    pub data: Option<PathBuf>,
    /// Use DynamoDB (or a compatible server) at this URL instead of the embedded store.
    #[arg(long, requires = "table")]
    pub dynamodb_endpoint: Option<String>,
    /// DynamoDB table name. Alone (without --dynamodb-endpoint) it uses AWS with the usual credentials.
    #[arg(long)]
    pub table: Option<String>,
    /// Create the table, with the deployment's keys and indexes, when it does not exist.
    #[arg(long, requires = "table")]
    pub create_table: bool,
    /// AWS region for DynamoDB.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

/// What a command finds where the embedded store would be.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A store that exists (or a table that `--create-table` may create).
    Ready,
    /// A folder without a ledger, which the command may start.
    NewLedger(PathBuf),
}

pub struct Opened {
    pub store: Arc<dyn Store>,
    /// The embedded store itself, for its event outbox (`None` on DynamoDB).
    pub embedded: Option<SqliteStore>,
    pub cursor_key: shared::config::CursorKey,
    pub description: String,
}

impl StoreArgs {
    /// The embedded store's folder: `--data`, or the default.
    pub fn data_folder(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
    }

    /// The one rule for data folders: a folder without a ledger is started only when the
    /// user says so (`init`), or for `serve` in the default folder (`default_starts`),
    /// so that the first `vtid serve` works and a typo in `--data` never starts a second
    /// ledger whose numbers restart at 0001 and collide with the real one's.
    pub fn target(&self, init: bool, default_starts: bool) -> Result<Target, String> {
        if self.table.is_some() {
            return Ok(Target::Ready);
        }
        let data = self.data_folder();
        if SqliteStore::holds_ledger(&data) {
            return Ok(Target::Ready);
        }
        if init || (default_starts && self.data.is_none()) {
            return Ok(Target::NewLedger(data));
        }
        Err(no_ledger(
            &data,
            "check --data, or pass --init to start a new ledger there",
        ))
    }

    pub async fn open(&self) -> Result<Opened, String> {
        match &self.table {
            Some(table) => open_table(self, table).await,
            None => {
                let data = self.data_folder();
                let store = SqliteStore::open(&data).map_err(|e| {
                    format!("could not open the data folder {}: {e}", data.display())
                })?;
                let key = store
                    .meta_value("cursor_key", shared::config::random_key)
                    .map_err(|e| e.to_string())?;
                let description = format!("embedded store {}", store.path().display());
                Ok(Opened {
                    store: Arc::new(store.clone()),
                    embedded: Some(store),
                    cursor_key: key.into_bytes().into(),
                    description,
                })
            }
        }
    }
}

/// The DynamoDB table `--table` names, at `--dynamodb-endpoint` or AWS.
#[cfg(feature = "aws")]
async fn open_table(args: &StoreArgs, table: &str) -> Result<Opened, String> {
    let sdk = match &args.dynamodb_endpoint {
        Some(url) => endpoint_config(url, &args.region).await,
        None => aws_config::load_from_env().await,
    };
    let store = Arc::new(DynamoStore::new(&sdk, table.to_owned()));
    if args.create_table {
        store
            .create_table()
            .await
            .map_err(|e| format!("could not create table {table}: {e}"))?;
    }
    let cursor_key = shared::config::CursorKey::for_table(store.clone());
    let where_ = args.dynamodb_endpoint.as_deref().unwrap_or("AWS");
    Ok(Opened {
        store,
        embedded: None,
        cursor_key,
        description: format!("DynamoDB table {table} at {where_}"),
    })
}

/// Without the `aws` feature there is no DynamoDB store to open.
#[cfg(not(feature = "aws"))]
async fn open_table(_: &StoreArgs, _: &str) -> Result<Opened, String> {
    Err(crate::WITHOUT_AWS.replace("{what}", "--table (DynamoDB)"))
}

/// The message for a folder without a ledger, ending with what the user can do.
pub fn no_ledger(data: &Path, what_to_do: &str) -> String {
    format!(
        "{} holds no ledger (no {}): {what_to_do}",
        data.display(),
        SqliteStore::FILE
    )
}
