//! The embedded store's tables and indexes (the indexes mirror DynamoDB's GSIs), the
//! full-text index of titles and descriptions (`search`), and the outbox of events with
//! its delivery positions and dead letters (`outbox.rs`).

pub const SCHEMA: &str = "
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
-- The list's search (`q`): each record's title and description, folded to lower case by
-- `vtid_model::search::fold` (SQLite's own folding is not Rust's), under the record's
-- ordinal (year * 10^10 + seq) as rowid. Trigrams find any part of a word, as the search
-- does; case_sensitive 1 because the text is folded already. Contentless (the text is in
-- `records.doc`), with deletes, so a PATCH can replace a row. Written by `rows.rs` in
-- each record's own transaction; filled for records older than it when a ledger opens.
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    title, description,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
);
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
CREATE TABLE IF NOT EXISTS voids (
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    cause TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (year, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    vtids TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    vtid TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (target TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    target TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (target, position)
) WITHOUT ROWID;
";
