//! Rows: reading and writing records, history entries and counters inside a transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{db, from_json, internal, to_json};
use crate::record::{HistoryEntry, Record};
use crate::search::fold;
use crate::store::{IdempotencyKey, StoreError};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

pub fn load(conn: &Connection, vtid: Vtid) -> Result<Option<Record>, StoreError> {
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

pub fn insert_record(
    conn: &Connection,
    r: &Record,
    entry: &HistoryEntry,
) -> Result<(), StoreError> {
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
    index_text(conn, r)?;
    insert_history(conn, entry)
}

/// What the search index holds of a record now (see `schema.rs`): written in the same
/// transaction as the record, so the index never disagrees with a committed record.
pub fn index_text(conn: &Connection, r: &Record) -> Result<(), StoreError> {
    let rowid = i64::try_from(r.vtid.ordinal()).map_err(internal)?;
    conn.execute(
        "INSERT OR REPLACE INTO search (rowid, title, description) VALUES (?1, ?2, ?3)",
        params![
            rowid,
            r.title.as_deref().map(fold).unwrap_or_default(),
            fold(&r.description)
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// The search index's version in `meta`: a ledger whose index was not filled by this
/// rule (made before the index, or by another folding) is indexed again when it opens.
const SEARCH_INDEX: (&str, &str) = ("search_index", "trigram-fold-1");

/// Indexes every record once per ledger (and again when [`SEARCH_INDEX`] changes), in
/// one `IMMEDIATE` transaction, so that a second process opening the ledger at the same
/// time waits and then finds it done.
pub fn fill_search_index(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let done: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE name = ?1",
            params![SEARCH_INDEX.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if done.as_deref() == Some(SEARCH_INDEX.1) {
        return Ok(());
    }
    tx.execute("INSERT INTO search (search) VALUES ('delete-all')", [])
        .map_err(db)?;
    {
        let mut stmt = tx.prepare("SELECT doc FROM records").map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let record: Record = from_json(&row.get::<_, String>(0).map_err(db)?)?;
            index_text(&tx, &record)?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
        params![SEARCH_INDEX.0, SEARCH_INDEX.1],
    )
    .map_err(db)?;
    tx.commit().map_err(db)
}

pub fn insert_history(conn: &Connection, entry: &HistoryEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO history (vtid, version, doc) VALUES (?1, ?2, ?3)",
        params![entry.vtid.to_string(), entry.to_version, to_json(entry)?],
    )
    .map_err(db)?;
    Ok(())
}

pub fn counter(conn: &Connection, year: u16) -> Result<u64, StoreError> {
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

pub fn set_counter(conn: &Connection, year: u16, value: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO counters (year, value) VALUES (?1, ?2) ON CONFLICT (year) DO UPDATE SET value = excluded.value",
        params![year, value],
    )
    .map_err(db)?;
    Ok(())
}

pub fn exists(conn: &Connection, vtid: Vtid) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM records WHERE vtid = ?1",
        params![vtid.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(db)
}

/// Whether `seq` of `year` was given up (void).
pub fn is_void(conn: &Connection, year: u16, seq: u64) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM voids WHERE year = ?1 AND seq = ?2)",
        params![year, seq],
        |r| r.get(0),
    )
    .map_err(db)
}

/// Whether any of `first ..= first + n - 1` already holds a record.
pub fn block_taken(conn: &Connection, year: u16, first: u64, n: u64) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM records WHERE year = ?1 AND seq BETWEEN ?2 AND ?3)",
        params![year, first, first + n - 1],
        |r| r.get(0),
    )
    .map_err(db)
}

/// The VTIDs an unexpired key made; 409 when the key came with another body.
pub fn idempotent_vtids(
    conn: &Connection,
    idem: &IdempotencyKey,
    now: Timestamp,
) -> Result<Option<Vec<Vtid>>, StoreError> {
    let row: Option<(String, String, i64)> = conn
        .query_row(
            "SELECT fingerprint, vtids, expires_at FROM idempotency WHERE scope = ?1 AND key = ?2",
            params![idem.scope, idem.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db)?;
    match row {
        Some((fingerprint, vtids, expires_at)) if expires_at > now.unix_seconds() => {
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyConflict);
            }
            from_json(&vtids).map(Some)
        }
        _ => Ok(None),
    }
}
