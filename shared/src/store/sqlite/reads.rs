//! Reads that scan: the list (within the read budget), a page of history, the audit.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};

use super::{db, from_json, internal};
use crate::record::HistoryEntry;
use crate::store::audit::{Void, VoidCause};
use crate::store::limits::LIST;
use crate::store::{
    Audit, HistoryPage, HistoryQuery, ListQuery, Page, StoreError, list_dimensions,
};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// One list page. Like DynamoDB's query, it walks one index (the first of
/// [`list_dimensions`]; the primary key when none) newest first, tests the other filters on
/// each row, and steps over at most [`LIST`]`.rows` rows: a filter that matches almost
/// nothing costs a bounded read and returns a cursor where it stopped. Every value is a
/// bound parameter: filters are data, never SQL text.
pub fn list(conn: &Connection, q: &ListQuery) -> Result<Page, StoreError> {
    let f = &q.filters;
    let dims: Vec<(&str, Sql)> = list_dimensions(q)
        .into_iter()
        .map(|(d, v)| (d.column(), v.into()))
        .collect();
    let mut hit = vec!["1".to_owned()];
    let mut hit_args: Vec<Sql> = Vec::new();
    for (column, v) in dims.iter().skip(1) {
        hit.push(format!("{column} = ?"));
        hit_args.push(v.clone());
    }
    if !q.include_test {
        hit.push("is_test = 0".into());
    }
    let mut sql = format!(
        "SELECT year, seq, CASE WHEN {} THEN doc END FROM records WHERE 1 = 1",
        hit.join(" AND ")
    );
    let mut args = hit_args;
    if let Some((column, v)) = dims.first() {
        sql.push_str(&format!(" AND {column} = ?"));
        args.push(v.clone());
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
            records.push(from_json(&doc)?);
            if records.len() == wanted {
                break;
            }
        }
    }
    let more = records.len() > q.limit;
    records.truncate(q.limit);
    let next = if more {
        records.last().map(|r: &crate::record::Record| r.vtid)
    } else if scanned == LIST.rows {
        // Out of budget: continue below the last row stepped over.
        last_scanned
    } else {
        None
    };
    Ok(Page { records, next })
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
