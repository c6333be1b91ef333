//! The embedded store: SQLite in one file under a data folder, in WAL mode. Every write
//! is one `IMMEDIATE` transaction on the one writer connection, so sequencing is atomic
//! across threads and processes (an import or a second server on the same folder).
//! Reads use their own connections, so a busy writer never stalls reads or the health
//! check; a write waits for the writer at most until its request's deadline.

pub mod outbox;
mod reads;
mod rows;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::Mutex;

use super::{
    Audit, CounterAdvance, CreateOutcome, CreateRequest, HistoryPage, HistoryQuery,
    IDEMPOTENCY_TTL_SECONDS, ImportResult, ListQuery, Maintenance, Page, Records, StoreError,
    UpdateOutcome, UpdateRequest, Voiding, number_drafts, plan_update, skipped_ranges,
};
use crate::deadline::Deadline;
use crate::record::{Action, HistoryEntry, Record};
use crate::vtid::Vtid;
use rows::{counter, insert_history, insert_record, load, set_counter};

/// Read connections: enough for a handful of concurrent readers on a small server.
const READERS: usize = 4;
/// Blocks a create steps over when records sit past the counter.
const MAX_BLOCKS_PASSED: usize = 1_000;
/// How long a write outside a request (import, startup) waits for the database.
const DEFAULT_WRITE_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Arc<Mutex<Connection>>>>,
    next_reader: Arc<AtomicUsize>,
    path: PathBuf,
}

pub(super) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// SQLite's "busy" (another process holds the write lock past the wait) is worth a retry.
pub(super) fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => internal(e),
    }
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(internal)
}

impl SqliteStore {
    /// The ledger's file in its data folder.
    pub const FILE: &str = "ledger.sqlite3";

    /// Whether the data folder `dir` holds a ledger.
    pub fn holds_ledger(dir: &Path) -> bool {
        dir.join(Self::FILE).is_file()
    }

    /// Opens (creating when needed) the ledger under the data folder `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(internal)?;
        Self::open_file(&dir.join(Self::FILE))
    }

    pub fn open_file(path: &Path) -> Result<Self, StoreError> {
        let mut writer = Connection::open(path).map_err(db)?;
        writer.busy_timeout(DEFAULT_WRITE_PATIENCE).map_err(db)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        writer.execute_batch(schema::SCHEMA).map_err(db)?;
        rows::fill_search_index(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db)?;
            r.busy_timeout(DEFAULT_WRITE_PATIENCE).map_err(db)?;
            readers.push(Arc::new(Mutex::new(r)));
        }
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A value kept in the store itself (e.g. the cursor key), made once by `init`. Called
    /// at startup, outside any request; uses a connection of its own.
    pub fn meta_value(
        &self,
        name: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = Connection::open(&self.path).map_err(db)?;
        conn.busy_timeout(DEFAULT_WRITE_PATIENCE).map_err(db)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
            params![name, init()],
        )
        .map_err(db)?;
        conn.query_row(
            "SELECT value FROM meta WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .map_err(db)
    }

    /// Runs `f` on the writer, waiting for it (and for SQLite's lock) no later than
    /// `deadline`.
    async fn write<T: Send + 'static>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut conn = deadline.bound(self.writer.clone().lock_owned()).await?;
        tokio::task::spawn_blocking(move || {
            // SQLite's own wait for another process's lock ends at the deadline too.
            conn.busy_timeout(deadline.remaining().max(Duration::from_millis(1)))
                .map_err(db)?;
            f(&mut conn)
        })
        .await
        .map_err(internal)?
    }

    /// Runs `f` on a read connection (a free one if any is free).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let free = self
            .readers
            .iter()
            .find_map(|r| r.clone().try_lock_owned().ok());
        let conn = match free {
            Some(c) => c,
            None => {
                let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
                self.readers[i].clone().lock_owned().await
            }
        };
        tokio::task::spawn_blocking(move || f(&conn))
            .await
            .map_err(internal)?
    }
}

#[async_trait]
impl Records for SqliteStore {
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
        self.write(req.deadline, move |conn| create(conn, req))
            .await
    }

    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        self.read(move |conn| load(conn, vtid)).await
    }

    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        self.read(move |conn| rows::exists(conn, vtid)).await
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
        self.write(req.deadline, move |conn| update(conn, req))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let q = query.clone();
        self.read(move |conn| reads::list(conn, &q)).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Option<HistoryPage>, StoreError> {
        let q = query.clone();
        self.read(move |conn| reads::history(conn, &q)).await
    }

    async fn audit(&self, year: u16) -> Result<Audit, StoreError> {
        self.read(move |conn| reads::audit(conn, year)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM counters", [], |r| r.get::<_, i64>(0))
                .map(|_| ())
                .map_err(db)
        })
        .await
    }
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError> {
        let mut results = self.import_records(std::slice::from_ref(record)).await?;
        results
            .pop()
            .ok_or_else(|| internal("an import of one record answered nothing"))
    }

    /// Every record in one transaction: a bulk import is one sync, not one per row.
    async fn import_records(&self, records: &[Record]) -> Result<Vec<ImportResult>, StoreError> {
        let records = records.to_vec();
        let deadline = Deadline::after(DEFAULT_WRITE_PATIENCE);
        self.write(deadline, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let mut results = Vec::with_capacity(records.len());
            for record in &records {
                let (year, seq) = (record.vtid.year(), u64::from(record.vtid.seq()));
                if rows::is_void(&tx, year, seq)? {
                    // A number the ledger gave up stays given up.
                    results.push(ImportResult::Conflict);
                    continue;
                }
                results.push(match load(&tx, record.vtid)? {
                    Some(existing) if existing == *record => ImportResult::AlreadyPresent,
                    Some(_) => ImportResult::Conflict,
                    None => {
                        insert_record(
                            &tx,
                            record,
                            &HistoryEntry::creation(record, Action::Imported),
                        )?;
                        outbox::record(&tx, None, record)?;
                        ImportResult::Imported
                    }
                });
            }
            tx.commit().map_err(db)?;
            Ok(results)
        })
        .await
    }

    async fn advance_counter(&self, advance: CounterAdvance) -> Result<(), StoreError> {
        let CounterAdvance { year, to, imported } = advance;
        let deadline = Deadline::after(DEFAULT_WRITE_PATIENCE);
        self.write(deadline, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let current = counter(&tx, year)?;
            if to <= current {
                return Ok(());
            }
            set_counter(&tx, year, to)?;
            for [first, last] in skipped_ranges(current, to, &imported) {
                tx.execute(
                    "INSERT OR REPLACE INTO skipped (year, first, last) VALUES (?1, ?2, ?3)",
                    params![year, first, last],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)
        })
        .await
    }

    async fn void_numbers(&self, voiding: Voiding) -> Result<Vec<u64>, StoreError> {
        let (year, cause) = (voiding.year, voiding.cause);
        let deadline = Deadline::after(DEFAULT_WRITE_PATIENCE);
        self.write(deadline, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let at = crate::timestamp::Timestamp::now().to_string();
            let mut voided = Vec::new();
            for seq in voiding.numbers {
                if rows::block_taken(&tx, year, seq, 1)? {
                    continue;
                }
                tx.execute(
                    "INSERT OR IGNORE INTO voids (year, seq, cause, request_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![year, seq, cause.as_str(), voiding.request_id, at],
                )
                .map_err(db)?;
                voided.push(seq);
            }
            tx.commit().map_err(db)?;
            Ok(voided)
        })
        .await
    }
}

/// One create or batch in one `IMMEDIATE` transaction: the key, the parents, the
/// counter, the records and their creation entries, the key again.
fn create(conn: &mut Connection, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    if let Some(idem) = &req.idempotency
        && let Some(vtids) = rows::idempotent_vtids(&tx, idem, req.now)?
    {
        let mut records = Vec::with_capacity(vtids.len());
        for v in vtids {
            records.push(load(&tx, v)?.ok_or_else(|| internal("idempotent record vanished"))?);
        }
        return Ok(CreateOutcome {
            records,
            replayed: true,
        });
    }
    for parent in req.drafts.iter().filter_map(|d| d.parent_vtid) {
        if !rows::exists(&tx, parent)? {
            return Err(StoreError::ParentNotFound(parent));
        }
    }
    let year = req.now.year();
    let n = req.drafts.len() as u64;
    // A block already holding a record (written by something that did not move the
    // counter) is passed over, as DynamoDB's reserve-again does; the audit shows it.
    let mut first = counter(&tx, year)? + 1;
    let mut passed = 0;
    while rows::block_taken(&tx, year, first, n)? {
        passed += 1;
        if passed > MAX_BLOCKS_PASSED {
            return Err(StoreError::Unavailable(
                "the numbers past the counter are taken".into(),
            ));
        }
        first += n;
    }
    let built = number_drafts(&req.drafts, year, first, &req.by, req.now)?;
    for (record, entry) in &built {
        insert_record(&tx, record, entry)?;
        outbox::record(&tx, None, record)?;
    }
    set_counter(&tx, year, first - 1 + n)?;
    let records: Vec<Record> = built.into_iter().map(|(r, _)| r).collect();
    if let Some(idem) = &req.idempotency {
        let vtids: Vec<Vtid> = records.iter().map(|r| r.vtid).collect();
        tx.execute(
            "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, vtids, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                idem.scope,
                idem.key,
                idem.fingerprint,
                to_json(&vtids)?,
                req.now.unix_seconds() + IDEMPOTENCY_TTL_SECONDS
            ],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    Ok(CreateOutcome {
        records,
        replayed: false,
    })
}

/// A PATCH: read, plan (shared with DynamoDB), write the record and its history row.
fn update(conn: &mut Connection, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let current = load(&tx, req.vtid)?.ok_or(StoreError::NotFound)?;
    let Some((next, entry)) = plan_update(&current, &req)? else {
        return Ok(UpdateOutcome {
            record: current,
            changed: false,
        });
    };
    tx.execute(
        "UPDATE records SET status = ?2, assigned_to = ?3, is_test = ?4, version = ?5, doc = ?6 WHERE vtid = ?1",
        params![
            next.vtid.to_string(),
            next.status.as_str(),
            next.assigned_to,
            next.is_test,
            next.version,
            to_json(&next)?
        ],
    )
    .map_err(db)?;
    if (&next.title, &next.description) != (&current.title, &current.description) {
        rows::index_text(&tx, &next)?;
    }
    insert_history(&tx, &entry)?;
    outbox::record(&tx, Some(&current), &next)?;
    tx.commit().map_err(db)?;
    Ok(UpdateOutcome {
        record: next,
        changed: true,
    })
}
