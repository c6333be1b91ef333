//! The outbox: the embedded store's change stream. DynamoDB has its table's stream; the
//! embedded store writes each event itself, in the transaction of the change:
//!
//! 1. *Record*: every create, change and import inserts one row (`position`, the event
//!    ID `VTID:version`, the kind, the OASIS body) in the same `IMMEDIATE` transaction
//!    as the record, so an event exists exactly when its change does, also after a
//!    `kill -9`. Writers are serialized, so positions grow in commit order: a reader that
//!    has seen position `n` has seen everything before it.
//! 2. *Read*: readers (the SSE stream, the deliverer) ask for rows after a position, in
//!    position order, a bounded batch at a time. Rows are kept: they are also what a
//!    stream resumes from (`Last-Event-ID`).
//! 3. *Deliver*: a target (the OASIS webhook) keeps its position in `deliveries`, moved
//!    only after the target accepted the event: at least once, in order.
//! 4. *Give up*: an event the target still refuses after its attempts moves to
//!    `dead_letters` in the same transaction that moves the position past it, so it is
//!    never lost from view; `GET /vtid/health` counts them.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{DEFAULT_WRITE_PATIENCE, SqliteStore, db, from_json, internal, to_json};
use crate::deadline::Deadline;
use crate::events::{Backlog, Delivery, Kind, change_between, oasis_body};
use crate::record::Record;
use crate::store::StoreError;
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// One event as the outbox holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Where it sits in the outbox: from 1, growing in commit order.
    pub position: u64,
    /// `VTID:version`.
    pub id: String,
    pub kind: Kind,
    pub vtid: Vtid,
    /// The OASIS body, exactly as the stream consumer builds it.
    pub body: Value,
}

/// Step 1: the event that turned `old` into `new`, written inside the caller's transaction.
pub(super) fn record(
    tx: &Connection,
    old: Option<&Record>,
    new: &Record,
) -> Result<(), StoreError> {
    let Some(change) = change_between(old, new) else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO outbox (event_id, vtid, kind, body) VALUES (?1, ?2, ?3, ?4)",
        params![
            change.id,
            new.vtid.to_string(),
            change.kind.as_str(),
            to_json(&oasis_body(&change))?
        ],
    )
    .map_err(super::db)?;
    Ok(())
}

fn last_position(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row("SELECT COALESCE(MAX(position), 0) FROM outbox", [], |r| {
        r.get(0)
    })
    .map_err(db)
}

fn delivered_position(conn: &Connection, target: &str) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT position FROM deliveries WHERE target = ?1",
        params![target],
        |r| r.get::<_, u64>(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
    .map_err(db)
}

fn set_delivered(conn: &Connection, target: &str, position: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO deliveries (target, position) VALUES (?1, ?2)
         ON CONFLICT (target) DO UPDATE SET position = MAX(position, excluded.position)",
        params![target, position],
    )
    .map_err(db)?;
    Ok(())
}

impl SqliteStore {
    /// The position of the newest event (0 when there is none).
    pub async fn last_event(&self) -> Result<u64, StoreError> {
        self.read(last_position).await
    }

    /// Step 2: at most `max` events after `position`, oldest first.
    pub async fn events_after(
        &self,
        position: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT position, event_id, vtid, kind, body FROM outbox
                     WHERE position > ?1 ORDER BY position LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![position, max as i64], |r| {
                    Ok((
                        r.get::<_, u64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(position, id, vtid, kind, body)| {
                    Ok(StoredEvent {
                        position,
                        id,
                        kind: kind.parse().map_err(internal)?,
                        vtid: vtid
                            .parse()
                            .map_err(|e: crate::vtid::InvalidVtid| internal(e.0))?,
                        body: from_json(&body)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Step 3: how far `target` has accepted events (0: none yet).
    pub async fn delivered(&self, target: &'static str) -> Result<u64, StoreError> {
        self.read(move |conn| delivered_position(conn, target))
            .await
    }

    /// Step 3: `target` accepted everything up to `position`. Never moves backwards.
    pub async fn mark_delivered(
        &self,
        target: &'static str,
        position: u64,
    ) -> Result<(), StoreError> {
        self.write(Deadline::after(DEFAULT_WRITE_PATIENCE), move |conn| {
            set_delivered(conn, target, position)
        })
        .await
    }

    /// Step 4: `target` never accepted `event`: keep it as a dead letter and move past it,
    /// in one transaction.
    pub async fn dead_letter(
        &self,
        target: &'static str,
        event: &StoredEvent,
        attempts: u32,
        error: &str,
    ) -> Result<(), StoreError> {
        let (position, id, error) = (event.position, event.id.clone(), error.to_owned());
        self.write(Deadline::after(DEFAULT_WRITE_PATIENCE), move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            tx.execute(
                "INSERT OR REPLACE INTO dead_letters (target, position, event_id, attempts, error, failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![target, position, id, attempts, error, to_json(&Timestamp::now())?],
            )
            .map_err(db)?;
            set_delivered(&tx, target, position)?;
            tx.commit().map_err(db)
        })
        .await
    }

    /// The backlog that `GET /vtid/health` reports, for `target` when a webhook is on.
    pub fn delivery(&self, target: Option<&'static str>) -> OutboxDelivery {
        OutboxDelivery {
            store: self.clone(),
            target,
        }
    }
}

/// [`Delivery`] over the outbox: pending events and dead letters of one target.
pub struct OutboxDelivery {
    store: SqliteStore,
    target: Option<&'static str>,
}

#[async_trait]
impl Delivery for OutboxDelivery {
    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let target = self.target;
        self.store
            .read(move |conn| {
                let dead_letters: u64 = conn
                    .query_row("SELECT COUNT(*) FROM dead_letters", [], |r| r.get(0))
                    .map_err(db)?;
                let pending = match target {
                    Some(t) => conn
                        .query_row(
                            "SELECT COUNT(*) FROM outbox WHERE position > ?1",
                            params![delivered_position(conn, t)?],
                            |r| r.get(0),
                        )
                        .map_err(db)?,
                    None => 0,
                };
                Ok(Backlog {
                    webhook: target.is_some(),
                    pending,
                    dead_letters,
                })
            })
            .await
    }
}
