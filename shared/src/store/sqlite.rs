//! The embedded store: SQLite in one file under a data folder. Every operation is one
//! `IMMEDIATE` transaction, so sequencing is atomic across threads and processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use super::{
    Audit, CreateOutcome, CreateRequest, IDEMPOTENCY_TTL_SECONDS, ImportResult, ListQuery, Page,
    Store, StoreError, UpdateOutcome, UpdateRequest, plan_update, skipped_ranges,
};
use crate::record::{Action, HistoryEntry, Record};
use crate::vtid::Vtid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    vtid TEXT NOT NULL UNIQUE,
    task_family TEXT NOT NULL,
    status TEXT NOT NULL,
    tenant TEXT NOT NULL,
    assigned_to TEXT,
    parent_vtid TEXT,
    is_test INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (year, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_task_family ON records (task_family, year, seq);
CREATE INDEX IF NOT EXISTS records_by_status ON records (status, year, seq);
CREATE INDEX IF NOT EXISTS records_by_tenant ON records (tenant, year, seq);
CREATE INDEX IF NOT EXISTS records_by_assigned_to ON records (assigned_to, year, seq);
CREATE INDEX IF NOT EXISTS records_by_parent_vtid ON records (parent_vtid, year, seq);
CREATE TABLE IF NOT EXISTS history (
    vtid TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (vtid, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (year INTEGER PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (
    year INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (year, first)
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    vtids TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => internal(e),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(internal)
}

impl SqliteStore {
    /// Opens (creating when needed) the ledger under the data folder `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(internal)?;
        Self::open_file(&dir.join("ledger.sqlite3"))
    }

    pub fn open_file(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db)?;
        // Other processes (an import, a second server) may hold the write lock briefly.
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A value kept in the store itself (e.g. the cursor key), made once by `init`.
    pub fn meta_value(
        &self,
        name: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = self.conn.lock().map_err(internal)?;
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

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(internal)?;
            f(&mut guard)
        })
        .await
        .map_err(internal)?
    }
}

fn load(conn: &Connection, vtid: Vtid) -> Result<Option<Record>, StoreError> {
    let doc: Option<String> = conn
        .query_row(
            "SELECT doc FROM records WHERE vtid = ?1",
            params![vtid.to_string()],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    doc.map(|d| from_json(&d)).transpose()
}

fn insert_record(conn: &Connection, r: &Record, entry: &HistoryEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO records (year, seq, vtid, task_family, status, tenant, assigned_to, parent_vtid, is_test, version, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            r.vtid.year(),
            r.vtid.seq(),
            r.vtid.to_string(),
            r.task_family,
            r.status.as_str(),
            r.tenant,
            r.assigned_to,
            r.parent_vtid.map(|p| p.to_string()),
            r.is_test,
            r.version,
            to_json(r)?
        ],
    )
    .map_err(db)?;
    insert_history(conn, entry)
}

fn insert_history(conn: &Connection, entry: &HistoryEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO history (vtid, version, doc) VALUES (?1, ?2, ?3)",
        params![entry.vtid.to_string(), entry.to_version, to_json(entry)?],
    )
    .map_err(db)?;
    Ok(())
}

fn counter(conn: &Connection, year: u16) -> Result<u64, StoreError> {
    let v: Option<u64> = conn
        .query_row(
            "SELECT value FROM counters WHERE year = ?1",
            params![year],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    Ok(v.unwrap_or(0))
}

fn set_counter(conn: &Connection, year: u16, value: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO counters (year, value) VALUES (?1, ?2) ON CONFLICT (year) DO UPDATE SET value = excluded.value",
        params![year, value],
    )
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            if let Some(idem) = &req.idempotency {
                let row: Option<(String, String, i64)> = tx
                    .query_row(
                        "SELECT fingerprint, vtids, expires_at FROM idempotency WHERE scope = ?1 AND key = ?2",
                        params![idem.scope, idem.key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(db)?;
                if let Some((fingerprint, vtids, expires_at)) = row
                    && expires_at > req.now.unix_seconds()
                {
                    if fingerprint != idem.fingerprint {
                        return Err(StoreError::IdempotencyConflict);
                    }
                    let vtids: Vec<Vtid> = from_json(&vtids)?;
                    let mut records = Vec::with_capacity(vtids.len());
                    for v in vtids {
                        records.push(
                            load(&tx, v)?.ok_or_else(|| internal("idempotent record vanished"))?,
                        );
                    }
                    return Ok(CreateOutcome {
                        records,
                        replayed: true,
                    });
                }
            }
            for parent in req.drafts.iter().filter_map(|d| d.parent_vtid) {
                if load(&tx, parent)?.is_none() {
                    return Err(StoreError::ParentNotFound(parent));
                }
            }
            let year = req.now.year();
            // A block already holding a record (written by something that did not move the
            // counter) is passed over, as DynamoDB's reserve-again does; the audit shows it.
            let n = req.drafts.len() as u64;
            let mut first = counter(&tx, year)? + 1;
            for _ in 0..1000 {
                let taken: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM records WHERE year = ?1 AND seq BETWEEN ?2 AND ?3",
                        params![year, first, first + n - 1],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                if taken == 0 {
                    break;
                }
                first += n;
            }
            let mut records = Vec::with_capacity(req.drafts.len());
            for (i, draft) in req.drafts.into_iter().enumerate() {
                let seq = u32::try_from(first + i as u64).map_err(internal)?;
                let vtid = Vtid::new(year, seq).ok_or_else(|| internal("sequence out of range"))?;
                let record = draft.into_record(vtid, &req.by, req.now);
                insert_record(&tx, &record, &HistoryEntry::creation(&record, Action::Created))?;
                records.push(record);
            }
            set_counter(&tx, year, first - 1 + records.len() as u64)?;
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
            Ok(CreateOutcome { records, replayed: false })
        })
        .await
    }

    async fn get(&self, vtid: Vtid) -> Result<Option<Record>, StoreError> {
        self.run(move |conn| load(conn, vtid)).await
    }

    async fn exists(&self, vtid: Vtid) -> Result<bool, StoreError> {
        self.run(move |conn| {
            conn.query_row(
                "SELECT 1 FROM records WHERE vtid = ?1",
                params![vtid.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db)
        })
        .await
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateOutcome, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let current = load(&tx, req.vtid)?.ok_or(StoreError::NotFound)?;
            let Some((next, entry)) = plan_update(&current, &req)? else {
                return Ok(UpdateOutcome { record: current, changed: false });
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
            insert_history(&tx, &entry)?;
            tx.commit().map_err(db)?;
            Ok(UpdateOutcome { record: next, changed: true })
        })
        .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let q = query.clone();
        self.run(move |conn| {
            // Every value is a bound parameter: filters are data, never SQL text.
            let mut sql = String::from("SELECT doc FROM records WHERE 1 = 1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            let mut add = |clause: &str, v: rusqlite::types::Value| {
                sql.push_str(clause);
                args.push(v);
            };
            let f = &q.filters;
            if let Some(v) = &f.task_family {
                add(" AND task_family = ?", v.clone().into());
            }
            if let Some(v) = f.status {
                add(" AND status = ?", v.as_str().to_owned().into());
            }
            if let Some(v) = &f.tenant {
                add(" AND tenant = ?", v.clone().into());
            }
            if let Some(v) = &f.assigned_to {
                add(" AND assigned_to = ?", v.clone().into());
            }
            if let Some(v) = f.parent_vtid {
                add(" AND parent_vtid = ?", v.to_string().into());
            }
            if let Some(y) = f.year {
                add(" AND year = ?", i64::from(y).into());
            }
            if let Some(after) = q.after {
                add(" AND (year < ?", i64::from(after.year()).into());
                add(" OR (year = ?", i64::from(after.year()).into());
                add(" AND seq < ?))", i64::from(after.seq()).into());
            }
            if !q.include_test {
                sql.push_str(" AND is_test = 0");
            }
            sql.push_str(" ORDER BY year DESC, seq DESC LIMIT ?");
            args.push((q.limit as i64 + 1).into());
            let mut stmt = conn.prepare(&sql).map_err(db)?;
            let docs = stmt
                .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let more = docs.len() > q.limit;
            let records = docs
                .iter()
                .take(q.limit)
                .map(|d| from_json(d))
                .collect::<Result<_, _>>()?;
            Ok(Page { records, more })
        })
        .await
    }

    async fn history(&self, vtid: Vtid) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare("SELECT doc FROM history WHERE vtid = ?1 ORDER BY version")
                .map_err(db)?;
            let docs = stmt
                .query_map(params![vtid.to_string()], |r| r.get::<_, String>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            if docs.is_empty() {
                return Ok(None);
            }
            docs.iter()
                .map(|d| from_json(d))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
    }

    async fn audit(&self, year: u16) -> Result<Audit, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let counter = counter(&tx, year)?;
            let seqs = {
                let mut stmt = tx
                    .prepare("SELECT seq FROM records WHERE year = ?1")
                    .map_err(db)?;
                stmt.query_map(params![year], |r| r.get::<_, u64>(0))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?
            };
            let skipped = {
                let mut stmt = tx
                    .prepare("SELECT first, last FROM skipped WHERE year = ?1 ORDER BY first")
                    .map_err(db)?;
                stmt.query_map(params![year], |r| {
                    Ok([r.get::<_, u64>(0)?, r.get::<_, u64>(1)?])
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?
            };
            Ok(Audit::compute(year, counter, seqs, skipped))
        })
        .await
    }

    async fn import_record(&self, record: &Record) -> Result<ImportResult, StoreError> {
        let record = record.clone();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            if let Some(existing) = load(&tx, record.vtid)? {
                return Ok(if existing == record {
                    ImportResult::AlreadyPresent
                } else {
                    ImportResult::Conflict
                });
            }
            insert_record(
                &tx,
                &record,
                &HistoryEntry::creation(&record, Action::Imported),
            )?;
            tx.commit().map_err(db)?;
            Ok(ImportResult::Imported)
        })
        .await
    }

    async fn advance_counter(
        &self,
        year: u16,
        to: u64,
        imported: &[u64],
    ) -> Result<(), StoreError> {
        let imported = imported.to_vec();
        self.run(move |conn| {
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

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            conn.query_row("SELECT COUNT(*) FROM counters", [], |r| r.get::<_, i64>(0))
                .map(|_| ())
                .map_err(db)
        })
        .await
    }
}
