//! What a function or the local server holds for its whole life: the store, the
//! identity settings and the cursor key. Built once per cold start.

use std::sync::Arc;
use std::time::Duration;

use crate::access::View;
use crate::deadline::DEFAULT_BUDGET;

use crate::events::Delivery;
use crate::identity::{Caller, IdentityConfig, ReadScope};
#[cfg(feature = "dynamodb")]
use crate::store::dynamo::DynamoStore;
use crate::store::gate::{Gate, GatedStore};
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct App {
    /// Reached by handlers only through [`App::store_for`], which applies the access rules.
    store: Arc<dyn Store>,
    pub identity: IdentityConfig,
    /// Signs list cursors so they cannot be forged or moved to other filters.
    pub cursor_key: Arc<CursorKey>,
    /// The longest a request may take where no invocation deadline says less.
    pub budget: Duration,
    /// Event delivery that the health check reports (`vtid serve` on the embedded store).
    pub events: Option<Arc<dyn Delivery>>,
    /// The store's concurrency gate, where many callers share the process (`vtid serve`).
    pub gate: Option<Arc<Gate>>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        identity: IdentityConfig,
        cursor_key: impl Into<CursorKey>,
    ) -> Self {
        Self {
            store,
            identity,
            cursor_key: Arc::new(cursor_key.into()),
            budget: DEFAULT_BUDGET,
            events: None,
            gate: None,
        }
    }

    /// The store as `caller` may use it: every access rule applied (see `access`).
    pub fn store_for<'a>(&'a self, caller: &'a Caller) -> View<'a> {
        View::new(self.store.as_ref(), caller, self.identity.reads)
    }

    /// Touches the store for real, for the health check (no caller, no records).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// The store with no access rule applied: for tools and tests that check what was
    /// stored, never for a handler.
    pub fn unscoped_store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The same app with its store behind a concurrency gate of `capacity` operations
    /// (see `store::gate`).
    pub fn with_gate(mut self, capacity: usize) -> Self {
        let gate = Arc::new(Gate::new(capacity));
        self.store = Arc::new(GatedStore::new(self.store, gate.clone()));
        self.gate = Some(gate);
        self
    }

    /// The same app reporting `events` in its health check.
    pub fn with_events(mut self, events: Arc<dyn Delivery>) -> Self {
        self.events = Some(events);
        self
    }

    /// The same app with another request budget (`vtid serve --request-budget`).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The Lambda functions' configuration, from the environment `template.yaml` sets:
    /// `VTID_TABLE` (required), `VTID_CURSOR_SECRET`, `VTID_ROLE_CLAIM`, `VTID_TENANT_CLAIM`,
    /// `VTID_READS` (`all` or `tenant`). `AWS_ENDPOINT_URL_DYNAMODB` points elsewhere.
    #[cfg(feature = "dynamodb")]
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table =
            std::env::var("VTID_TABLE").map_err(|_| ConfigError("VTID_TABLE is not set".into()))?;
        let identity = identity_from_env()?;
        let sdk = crate::sdk::load_from_env().await;
        let store = Arc::new(DynamoStore::new(&sdk, table));
        let cursor_key = CursorKey::for_table(store.clone());
        Ok(Self::new(store, identity, cursor_key))
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

/// The key that signs list cursors: `VTID_CURSOR_SECRET`, else a random key kept in the
/// table (made by the first process that needs it, read on the first list), so cursors
/// can never be forged from public facts such as the table name.
pub enum CursorKey {
    Fixed(Vec<u8>),
    #[cfg(feature = "dynamodb")]
    InTable {
        store: Arc<DynamoStore>,
        key: tokio::sync::OnceCell<Vec<u8>>,
    },
}

impl From<Vec<u8>> for CursorKey {
    fn from(key: Vec<u8>) -> Self {
        CursorKey::Fixed(key)
    }
}

impl CursorKey {
    #[cfg(feature = "dynamodb")]
    pub fn for_table(store: Arc<DynamoStore>) -> Self {
        match std::env::var("VTID_CURSOR_SECRET") {
            Ok(secret) if !secret.is_empty() => CursorKey::Fixed(secret.into_bytes()),
            _ => CursorKey::InTable {
                store,
                key: tokio::sync::OnceCell::new(),
            },
        }
    }

    pub async fn bytes(&self) -> Result<&[u8], StoreError> {
        match self {
            CursorKey::Fixed(k) => Ok(k),
            #[cfg(feature = "dynamodb")]
            CursorKey::InTable { store, key } => key
                .get_or_try_init(|| async {
                    store
                        .config_value("cursor-key", random_key)
                        .await
                        .map(String::into_bytes)
                })
                .await
                .map(Vec::as_slice),
        }
    }
}

/// 32 random bytes as hex, from the operating system.
pub fn random_key() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !filled {
        // Only where /dev/urandom is missing.
        bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
