//! Reads that scan: the list (within the read budget), a page of history, the audit.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};

use super::{db, from_json, internal};
use crate::record::{HistoryEntry, Record};
use crate::store::audit::{Void, VoidCause};
use crate::store::limits::LIST;
use crate::store::{
    Audit, HistoryPage, HistoryQuery, ListQuery, Page, StoreError, list_dimensions,
};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// One list page. Like DynamoDB's query, it walks one index newest first, tests the
/// other filters on each row, and steps over at most [`LIST`]`.rows` rows: a filter that
/// matches almost nothing costs a bounded read and returns a cursor where it stopped.
/// The index is the full-text one when the list has a search it can serve (see
/// [`text_walk`]), else the first of [`list_dimensions`] (the primary key when none).
/// Every value is a bound parameter: filters are data, never SQL text. Every record is
/// also tested against the search itself, so a page holds what DynamoDB's would.
pub fn list(conn: &Connection, q: &ListQuery) -> Result<Page, StoreError> {
    let (sql, args) = match text_walk(q) {
        Some(expression) => by_text(q, expression),
        None => by_index(q),
    };
    let mut stmt = conn.prepare(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args)).map_err(db)?;
    let wanted = q.limit + 1;
    let mut records = Vec::with_capacity(wanted);
    let mut scanned = 0usize;
    let mut last_scanned = None;
    while let Some(row) = rows.next().map_err(db)? {
        scanned += 1;
        let (year, seq): (u16, u32) = (row.get(0).map_err(db)?, row.get(1).map_err(db)?);
        last_scanned = Vtid::new(year, seq);
        if let Some(doc) = row.get::<_, Option<String>>(2).map_err(db)? {
            let record: Record = from_json(&doc)?;
            if q.search.as_ref().is_none_or(|s| s.matches_record(&record)) {
                records.push(record);
            }
            if records.len() == wanted {
                break;
            }
        }
    }
    let more = records.len() > q.limit;
    records.truncate(q.limit);
    let next = if more {
        records.last().map(|r| r.vtid)
    } else if scanned == LIST.rows {
        // Out of budget: continue below the last row stepped over.
        last_scanned
    } else {
        None
    };
    Ok(Page { records, next })
}

/// `column = ?` for each filter the walk does not serve (`from` on: the first is the
/// walk's), and `is_test = 0` unless test records are asked for.
fn hit(q: &ListQuery, table: &str, from: usize) -> (String, Vec<Sql>) {
    let mut hit = vec!["1".to_owned()];
    let mut args: Vec<Sql> = Vec::new();
    for (d, v) in list_dimensions(q).into_iter().skip(from) {
        hit.push(format!("{table}.{} = ?", d.column()));
        args.push(v.into());
    }
    if !q.include_test {
        hit.push(format!("{table}.is_test = 0"));
    }
    (hit.join(" AND "), args)
}

/// The ordinals a page may reach: the year's, strictly below the cursor.
fn ordinal_range(q: &ListQuery) -> (i64, i64) {
    let (mut low, mut high) = (0u64, i64::MAX as u64);
    if let Some(y) = q.filters.year {
        low = u64::from(y) * 10_000_000_000;
        high = low + 9_999_999_999;
    }
    if let Some(after) = q.after {
        high = high.min(after.ordinal().saturating_sub(1));
    }
    // Both are at most 9999 * 10^10 + 10^10, far below i64::MAX.
    (low as i64, high as i64)
}

/// The walk of an indexed dimension (or of the primary key): rows that fail a filter
/// come back without their document, so that they count against the budget.
fn by_index(q: &ListQuery) -> (String, Vec<Sql>) {
    let f = &q.filters;
    let dims = list_dimensions(q);
    let (hit, mut args) = hit(q, "records", 1);
    let mut sql =
        format!("SELECT year, seq, CASE WHEN {hit} THEN doc END FROM records WHERE 1 = 1");
    if let Some((d, v)) = dims.into_iter().next() {
        sql.push_str(&format!(" AND {} = ?", d.column()));
        args.push(v.into());
    }
    if let Some(y) = f.year {
        sql.push_str(" AND year = ?");
        args.push(i64::from(y).into());
    }
    if let Some(after) = q.after {
        sql.push_str(" AND (year < ? OR (year = ? AND seq < ?))");
        args.push(i64::from(after.year()).into());
        args.push(i64::from(after.year()).into());
        args.push(i64::from(after.seq()).into());
    }
    sql.push_str(" ORDER BY year DESC, seq DESC LIMIT ?");
    args.push((LIST.rows as i64).into());
    (sql, args)
}

/// The walk of the full-text index: the records whose title or description holds each
/// word of three characters or more (rowid = ordinal, newest first), every filter tested
/// on each, at most [`LIST`]`.rows` of them.
fn by_text(q: &ListQuery, expression: String) -> (String, Vec<Sql>) {
    let (hit, mut args) = hit(q, "r", 0);
    let (low, high) = ordinal_range(q);
    // A row of the index without its record (never written so) counts as stepped over.
    let hit = format!("r.year IS NOT NULL AND {hit}");
    let sql = format!(
        "SELECT c.o / 10000000000, c.o % 10000000000, CASE WHEN {hit} THEN r.doc END
         FROM (SELECT rowid AS o FROM search WHERE search MATCH ? AND rowid BETWEEN ? AND ?
               ORDER BY rowid DESC LIMIT ?) AS c
         LEFT JOIN records AS r ON r.year = c.o / 10000000000 AND r.seq = c.o % 10000000000
         ORDER BY c.o DESC"
    );
    args.extend([
        expression.into(),
        low.into(),
        high.into(),
        (LIST.rows as i64).into(),
    ]);
    (sql, args)
}

/// The full-text query for a list's search, when the index can serve it: each word of
/// three characters or more (a trigram index cannot find less) as a quoted phrase, all
/// required. `None` without such a word, and for a caller whose reads are scoped to its
/// tenant: that walk stays on its own tenant's index, as on DynamoDB, so that neither a
/// page, nor its cursor, nor its time says anything of another tenant's records. Shorter
/// words are left to [`crate::search::Search::matches_record`], like everything else.
fn text_walk(q: &ListQuery) -> Option<String> {
    if q.tenant_scoped {
        return None;
    }
    let phrases: Vec<String> = q
        .search
        .as_ref()?
        .words()
        .iter()
        .filter(|w| w.chars().count() >= 3)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

/// One page of history, oldest first (the creation is version 1).
pub fn history(conn: &Connection, q: &HistoryQuery) -> Result<Option<HistoryPage>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT doc FROM history WHERE vtid = ?1 AND version > ?2 ORDER BY version LIMIT ?3",
        )
        .map_err(db)?;
    let docs = stmt
        .query_map(
            params![
                q.vtid.to_string(),
                q.after_version.unwrap_or(0),
                (q.limit + 1) as i64
            ],
            |r| r.get::<_, String>(0),
        )
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    if docs.is_empty() && q.after_version.is_none() {
        return Ok(None);
    }
    let mut entries = docs
        .iter()
        .map(|d| from_json::<HistoryEntry>(d))
        .collect::<Result<Vec<_>, _>>()?;
    let more = entries.len() > q.limit;
    entries.truncate(q.limit);
    let next = if more {
        entries.last().map(|e| e.to_version)
    } else {
        None
    };
    Ok(Some(HistoryPage { entries, next }))
}

/// The year's audit, read in one transaction so counter and numbers agree.
pub fn audit(conn: &Connection, year: u16) -> Result<Audit, StoreError> {
    let tx = conn.unchecked_transaction().map_err(db)?;
    let counter = super::rows::counter(&tx, year)?;
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
    let void = {
        let mut stmt = tx
            .prepare("SELECT seq, cause, request_id, at FROM voids WHERE year = ?1 ORDER BY seq")
            .map_err(db)?;
        let rows = stmt
            .query_map(params![year], |r| {
                Ok((
                    r.get::<_, u64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter()
            .map(|(number, cause, request_id, at)| {
                Ok(Void {
                    number,
                    cause: VoidCause::parse(&cause)
                        .ok_or_else(|| internal(format!("unknown void cause {cause}")))?,
                    request_id,
                    at: Timestamp::parse_lenient(&at)
                        .ok_or_else(|| internal(format!("bad void time {at}")))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?
    };
    Ok(Audit::compute(year, counter, seqs, void, skipped))
}
