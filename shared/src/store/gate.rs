//! The concurrency gate of a process that serves many callers at once (`vtid serve`):
//! at most `capacity` store operations in flight, the rest waiting here, in the process,
//! each no longer than its call's deadline (the handler's guard ends the wait with a
//! 503). And changes of one record wait for each other here, one at a time, rather than
//! racing in the store, where each lost race costs a transaction.
//!
//! Why: a store slower than its load builds a queue somewhere. In the store, every
//! waiting request holds a connection and, past its attempt timeout, is sent again while
//! it still waits, which makes the store slower still. In the process, waiting is a
//! parked task: cheap, bounded by the deadline, and visible in `GET /vtid/health`
//! (`checks.store.gate`). A Lambda function serves one request at a time and needs none.
//!
//! The health check's own touch of the store does not wait here: it says whether the
//! store answers, and the gate's figures say how busy the process is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::{
    Audit, CounterAdvance, CreateOutcome, CreateRequest, HistoryPage, HistoryQuery, ImportResult,
    ListQuery, Maintenance, Page, Records, Store, StoreError, UpdateOutcome, UpdateRequest,
    Voiding,
};
use crate::record::Record;
use crate::vtid::Vtid;

/// Store operations in flight at once in `vtid serve` unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 8;

pub struct Gate {
    permits: Arc<Semaphore>,
    capacity: usize,
    waiting: AtomicUsize,
    /// One lock per record being changed; an entry goes when nobody holds its lock.
    records: Mutex<HashMap<Vtid, Weak<tokio::sync::Mutex<()>>>>,
}

/// How busy the gate is, for the health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateLoad {
    pub capacity: usize,
    pub in_use: usize,
    pub waiting: usize,
}

/// Counts a waiter while it waits (also when its call is cut off by the deadline).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            waiting: AtomicUsize::new(0),
            records: Mutex::default(),
        }
    }

    pub fn load(&self) -> GateLoad {
        GateLoad {
            capacity: self.capacity,
            in_use: self.capacity - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Waits for a place among the operations in flight.
    async fn enter(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _counted = Waiting(&self.waiting);
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Internal("the store's gate was closed".into()))
    }

    /// Waits until no other change of `vtid` is in flight in this process.
    async fn record(&self, vtid: Vtid) -> OwnedMutexGuard<()> {
        let lock = {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            if records.len() > 1024 {
                records.retain(|_, w| w.strong_count() > 0);
            }
            match records.get(&vtid).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    records.insert(vtid, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _counted = Waiting(&self.waiting);
        lock.lock_owned().await
    }
}

/// A store whose operations pass the gate.
pub struct GatedStore {
    inner: Arc<dyn Store>,
    gate: Arc<Gate>,
}

impl GatedStore {
    pub fn new(inner: Arc<dyn Store>, gate: Arc<Gate>) -> Self {
        Self { inner, gate }
    }
}

#[async_trait]
impl Records for GatedStore {
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
        let _in = req.deadline.bound(self.gate.enter()).await??;
        self.inner.create(req).await
    }

    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.get(vtid).await
    }

    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.exists(vtid).await
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
        let _record = req.deadline.bound(self.gate.record(req.vtid)).await?;
        let _in = req.deadline.bound(self.gate.enter()).await??;
        self.inner.update(req).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.list(query).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Option<HistoryPage>, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.history(query).await
    }

    async fn audit(&self, year: u16) -> Result<Audit, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.audit(year).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl Maintenance for GatedStore {
    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.import_record(record).await
    }

    async fn import_records(&self, records: &[Record]) -> Result<Vec<ImportResult>, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.import_records(records).await
    }

    async fn advance_counter(&self, advance: CounterAdvance) -> Result<(), StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.advance_counter(advance).await
    }

    async fn void_numbers(&self, voiding: Voiding) -> Result<Vec<u64>, StoreError> {
        let _in = self.gate.enter().await?;
        self.inner.void_numbers(voiding).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn past_its_capacity_the_gate_queues_and_counts_the_waiters() {
        let gate = Arc::new(Gate::new(2));
        let a = gate.enter().await.unwrap();
        let _b = gate.enter().await.unwrap();
        assert_eq!(
            gate.load(),
            GateLoad {
                capacity: 2,
                in_use: 2,
                waiting: 0
            }
        );
        let g = gate.clone();
        let third = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.load().waiting, 1, "the third waits in the process");
        drop(a);
        third.await.unwrap().unwrap();
        assert_eq!(gate.load().waiting, 0);
    }

    #[tokio::test]
    async fn a_waiter_cut_off_by_its_deadline_leaves_the_queue() {
        let gate = Gate::new(1);
        let _held = gate.enter().await.unwrap();
        let d = crate::deadline::Deadline::after(Duration::from_millis(20));
        assert!(d.bound(gate.enter()).await.is_err());
        assert_eq!(gate.load().waiting, 0);
    }

    #[tokio::test]
    async fn changes_of_one_record_wait_for_each_other_and_of_others_do_not() {
        let gate = Gate::new(8);
        let v1: Vtid = "VTID-2026-0001".parse().unwrap();
        let v2: Vtid = "VTID-2026-0002".parse().unwrap();
        let first = gate.record(v1).await;
        let other = tokio::time::timeout(Duration::from_millis(50), gate.record(v2)).await;
        assert!(other.is_ok(), "another record is not held up");
        let same = tokio::time::timeout(Duration::from_millis(50), gate.record(v1)).await;
        assert!(same.is_err(), "the same record waits");
        drop(first);
        let same = tokio::time::timeout(Duration::from_millis(50), gate.record(v1)).await;
        assert!(same.is_ok(), "and goes on once the first is done");
    }
}
