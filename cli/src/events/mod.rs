//! Events from the embedded store, as `vtid serve` gives them out: the outbox's tail
//! (one poller per process), the webhook deliverer (`--oasis-url`) and the
//! Server-Sent Events route `GET /vtid/events`. On DynamoDB the table's stream and the
//! events function do this instead; this server then has no event feed.

pub mod deliver;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use shared::store::sqlite::SqliteStore;
use tokio::sync::{Semaphore, watch};

use crate::store_args::Opened;

/// How often the tail looks for new events: also what a write from another process (an
/// import, a second server on the same folder) waits at most before a stream sees it.
const TAIL_EVERY: Duration = Duration::from_millis(200);

/// The outbox and who is reading it: the newest position, and room for streams.
#[derive(Clone)]
pub struct Feed {
    store: SqliteStore,
    newest: watch::Receiver<u64>,
    streams: Arc<Semaphore>,
    /// Streams open per caller (`sub`), so that one caller cannot hold them all.
    by_caller: sse::PerCaller,
}

impl Feed {
    /// Starts the tail: one cheap read of the newest position every [`TAIL_EVERY`],
    /// announced to every stream and to the deliverer.
    pub async fn start(store: SqliteStore) -> Result<Self, String> {
        let first = store
            .last_event()
            .await
            .map_err(|e| format!("cannot read the event outbox: {e}"))?;
        let (tx, newest) = watch::channel(first);
        let tail = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TAIL_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match tail.last_event().await {
                    Ok(n) => {
                        tx.send_if_modified(|seen| {
                            let moved = n > *seen;
                            *seen = (*seen).max(n);
                            moved
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "event tail: outbox unreadable"),
                }
                if tx.is_closed() {
                    break;
                }
            }
        });
        Ok(Self {
            store,
            newest,
            streams: Arc::new(Semaphore::new(sse::MAX_STREAMS)),
            by_caller: sse::PerCaller::default(),
        })
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// A receiver that wakes when newer events are committed.
    pub fn newest(&self) -> watch::Receiver<u64> {
        self.newest.clone()
    }
}

/// The event flags of `vtid serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct EventArgs {
    /// POST every create and change to this URL in OASIS's ingest shape: at least once,
    /// in order, the event ID as `Idempotency-Key` (embedded store only).
    #[arg(long, value_name = "URL")]
    pub oasis_url: Option<String>,
    /// Tries per event before it goes to the dead-letter table (1 to 100).
    #[arg(long, default_value_t = deliver::DEFAULT_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub oasis_attempts: u32,
}

/// What the local server adds to the API on the embedded store.
#[derive(Clone, Default)]
pub struct Local {
    pub feed: Option<Feed>,
}

impl EventArgs {
    /// A webhook needs the embedded store's outbox: checked before any store is opened.
    pub fn check_store(&self, on_dynamodb: bool) -> Result<(), String> {
        if on_dynamodb && self.oasis_url.is_some() {
            return Err(
                "--oasis-url needs the embedded store: on DynamoDB, events leave \
                 through the table's stream and the events function (OASIS_INGEST_URL)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Starts the feed (and the deliverer when a webhook is named) on the embedded store;
    /// on DynamoDB there is no outbox and a webhook is refused.
    pub async fn start(
        &self,
        opened: &Opened,
    ) -> Result<(Local, Option<Arc<dyn shared::events::Delivery>>), String> {
        let Some(store) = &opened.embedded else {
            self.check_store(true)?;
            return Ok((Local::default(), None));
        };
        let feed = Feed::start(store.clone()).await?;
        let target = match &self.oasis_url {
            Some(url) => {
                let oasis = shared::events::Oasis::new(url.trim())
                    .map_err(|e| format!("--oasis-url: {e}"))?;
                let policy = deliver::Policy::with_attempts(self.oasis_attempts);
                tokio::spawn(deliver::run(feed.clone(), oasis, policy));
                Some(deliver::TARGET)
            }
            None => None,
        };
        let delivery = Arc::new(store.delivery(target));
        Ok((Local { feed: Some(feed) }, Some(delivery)))
    }
}
