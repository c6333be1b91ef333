//! What a function or the local server holds for its whole life: the store, the
//! identity settings and the cursor key. Built once per cold start.

use std::sync::Arc;

use crate::identity::{IdentityConfig, ReadScope};
use crate::store::Store;
use crate::store::dynamo::DynamoStore;

#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub identity: IdentityConfig,
    /// Signs list cursors so they cannot be forged or moved to other filters.
    pub cursor_key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl App {
    pub fn new(store: Arc<dyn Store>, identity: IdentityConfig, cursor_key: Vec<u8>) -> Self {
        Self {
            store,
            identity,
            cursor_key,
        }
    }

    /// The Lambda functions' configuration, from the environment `template.yaml` sets:
    /// `VTID_TABLE` (required), `VTID_CURSOR_SECRET`, `VTID_ROLE_CLAIM`, `VTID_TENANT_CLAIM`,
    /// `VTID_READS` (`all` or `tenant`). `AWS_ENDPOINT_URL_DYNAMODB` points elsewhere.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table =
            std::env::var("VTID_TABLE").map_err(|_| ConfigError("VTID_TABLE is not set".into()))?;
        let identity = identity_from_env()?;
        let sdk = aws_config::load_from_env().await;
        let store = DynamoStore::new(&sdk, table.clone());
        let cursor_key = std::env::var("VTID_CURSOR_SECRET")
            .unwrap_or(table)
            .into_bytes();
        Ok(Self::new(Arc::new(store), identity, cursor_key))
    }
}

/// Identity settings from `VTID_ROLE_CLAIM`, `VTID_TENANT_CLAIM` and `VTID_READS`.
pub fn identity_from_env() -> Result<IdentityConfig, ConfigError> {
    let mut identity = IdentityConfig::default();
    if let Ok(c) = std::env::var("VTID_ROLE_CLAIM") {
        identity.role_claim = c;
    }
    if let Ok(c) = std::env::var("VTID_TENANT_CLAIM") {
        identity.tenant_claim = c;
    }
    identity.reads = match std::env::var("VTID_READS").as_deref() {
        Err(_) | Ok("all") => ReadScope::All,
        Ok("tenant") => ReadScope::OwnTenant,
        Ok(other) => {
            return Err(ConfigError(format!(
                "VTID_READS must be 'all' or 'tenant', not '{other}'"
            )));
        }
    };
    Ok(identity)
}
