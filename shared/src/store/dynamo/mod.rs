//! The DynamoDB store: one table (see `schema`), sequencing by conditional writes on a
//! per-year counter item, every multi-item change in one `TransactWriteItems`.
//!
//! Read it in this order: `item` (how things look in the table), `errors` (what
//! DynamoDB's failures mean, and the one backoff), `transact` (sending a transaction
//! until its outcome is known), `sequencing` (a create, step by step), `lease` (the
//! idempotency key's protocol), `update` (PATCH), `reads` and `query` (everything that
//! reads), `import` and `table`.

mod errors;
mod import;
mod item;
mod lease;
mod query;
mod reads;
#[cfg(test)]
mod replayed;
mod reserve;
mod sequencer;
mod sequencing;
mod table;
mod timeouts;
mod transact;
mod update;
mod void;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

pub use sequencer::CONTENTION_WINDOW;

use super::{
    Audit, CounterAdvance, CreateOutcome, CreateRequest, HistoryPage, HistoryQuery, ImportResult,
    ListQuery, Maintenance, Page, Records, StoreError, UpdateOutcome, UpdateRequest, Voiding,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::metrics;
use crate::record::Record;
use crate::vtid::Vtid;

/// The SDK's own limits on one call. The call's deadline bounds each attempt (see
/// `timeouts`, which sets every attempt's timeout from the measured latency); these are
/// for what runs outside a call (imports, start-up) and for connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The SDK retries throttling, 5xx and lost connections itself this many times in all,
/// with short jittered pauses (DynamoDB answers in milliseconds).
const SDK_ATTEMPTS: u32 = 3;
const SDK_INITIAL_BACKOFF: Duration = Duration::from_millis(20);
const SDK_MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Counts every request sent to DynamoDB, SDK retries included (the benchmark's round
/// trips), and every operation the store asked for (what its read budgets limit).
#[derive(Debug, Default)]
struct CountRequests {
    requests: Arc<AtomicU64>,
    operations: Arc<AtomicU64>,
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(op) = cfg.load::<Metadata>() {
            metrics::dynamodb_request(op.name());
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        match errors::refusal(response.status().as_u16(), response.body().bytes()) {
            Some(errors::Refusal::Throttled) => metrics::add(metrics::name::THROTTLES, 1),
            Some(errors::Refusal::Conflict) => metrics::add(metrics::name::CONFLICTS, 1),
            _ => {}
        }
        Ok(())
    }
}

/// Whether an AWS JSON answer is a refusal for throughput (DynamoDB's 400s of throttling,
/// the same reading the store's metrics and retries use): for the traces' flags.
pub(crate) fn throttled(status: u16, body: Option<&[u8]>) -> bool {
    errors::refusal(status, body) == Some(errors::Refusal::Throttled)
}

pub struct DynamoStore {
    client: Client,
    table: String,
    sequencer: sequencer::Sequencer,
    latency: Arc<timeouts::Latency>,
    requests: Arc<AtomicU64>,
    operations: Arc<AtomicU64>,
}

impl DynamoStore {
    /// The store over `table`, with a client built from `config` (once per cold start).
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let operations = Arc::new(AtomicU64::new(0));
        let latency = Arc::new(timeouts::Latency::default());
        let mut conf = aws_sdk_dynamodb::config::Builder::from(config);
        if let Some(traced) = crate::xray::Subsegments::from_env() {
            conf.push_interceptor(aws_sdk_dynamodb::config::SharedInterceptor::new(traced));
        }
        let conf = conf
            .interceptor(CountRequests {
                requests: requests.clone(),
                operations: operations.clone(),
            })
            .interceptor(timeouts::AdaptiveTimeouts {
                latency: latency.clone(),
            })
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(SDK_ATTEMPTS)
                    .with_initial_backoff(SDK_INITIAL_BACKOFF)
                    .with_max_backoff(SDK_MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(timeouts::INITIAL)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(conf),
            table: table.into(),
            sequencer: sequencer::Sequencer::default(),
            latency,
            requests,
            operations,
        }
    }

    /// The same store with attempt timeouts that may grow to `ceiling` (a benchmark on an
    /// emulator that takes seconds per query; DynamoDB answers in milliseconds).
    pub fn with_attempt_ceiling(self, ceiling: Duration) -> Self {
        self.latency.set_ceiling(ceiling);
        self
    }

    /// Another handle on the same client, table and measurements, for work that outlives
    /// the call that started it (voiding a block, see `sequencing`). Its own sequencer
    /// is never used.
    fn detached(&self) -> Self {
        Self {
            client: self.client.clone(),
            table: self.table.clone(),
            sequencer: sequencer::Sequencer::default(),
            latency: self.latency.clone(),
            requests: self.requests.clone(),
            operations: self.operations.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent so far (SDK retries included).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Operations asked of the SDK so far, each counted once however often the SDK sent it.
    pub fn operations_sent(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Records for DynamoStore {
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
        self.create_records(req).await
    }

    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        self.get_record(vtid).await
    }

    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        self.record_exists(vtid).await
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
        self.update_record(req).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.list_page(query).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Option<HistoryPage>, StoreError> {
        self.history_page(query).await
    }

    async fn audit(&self, year: u16) -> Result<Audit, StoreError> {
        self.audit_year(year).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.touch().await
    }
}

#[async_trait]
impl Maintenance for DynamoStore {
    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError> {
        self.import_one(record).await
    }

    async fn advance_counter(&self, advance: CounterAdvance) -> Result<(), StoreError> {
        self.move_counter(&advance).await
    }

    async fn void_numbers(&self, voiding: Voiding) -> Result<Vec<u64>, StoreError> {
        self.void_listed(&voiding).await
    }
}

/// SDK configuration for a DynamoDB-compatible endpoint (moto's server, a local
/// emulator, a VPC endpoint). Without credentials in the environment it uses fixed
/// placeholder ones, which such local servers accept.
pub async fn endpoint_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()));
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none()
    {
        loader = loader.credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "vtid-local",
        ));
    }
    loader.load().await
}
