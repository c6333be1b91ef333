//! The store flags shared by `vtid serve` and `vtid import`.

use std::path::PathBuf;
use std::sync::Arc;

use shared::store::Store;
use shared::store::dynamo::{DynamoStore, endpoint_config};
use shared::store::sqlite::SqliteStore;

#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Data folder of the embedded (SQLite) store.
    #[arg(long, default_value = "./.vtid", conflicts_with_all = ["dynamodb_endpoint", "table"])]
    pub data: PathBuf,
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

pub struct Opened {
    pub store: Arc<dyn Store>,
    /// The embedded store itself, for its event outbox (`None` on DynamoDB).
    pub embedded: Option<SqliteStore>,
    pub cursor_key: shared::config::CursorKey,
    pub description: String,
}

impl StoreArgs {
    pub async fn open(&self) -> Result<Opened, String> {
        match &self.table {
            Some(table) => {
                let sdk = match &self.dynamodb_endpoint {
                    Some(url) => endpoint_config(url, &self.region).await,
                    None => aws_config::load_from_env().await,
                };
                let store = Arc::new(DynamoStore::new(&sdk, table.clone()));
                if self.create_table {
                    store
                        .create_table()
                        .await
                        .map_err(|e| format!("could not create table {table}: {e}"))?;
                }
                let cursor_key = shared::config::CursorKey::for_table(store.clone());
                let where_ = self.dynamodb_endpoint.as_deref().unwrap_or("AWS");
                Ok(Opened {
                    store,
                    embedded: None,
                    cursor_key,
                    description: format!("DynamoDB table {table} at {where_}"),
                })
            }
            None => {
                let store = SqliteStore::open(&self.data).map_err(|e| {
                    format!(
                        "could not open the data folder {}: {e}",
                        self.data.display()
                    )
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
