//! How much one request may read, on either store: a caller can never make the ledger
//! read unbounded data, and a page always fits a Lambda response (6 MB) with room.

/// What one list or history page may read before it answers with what it found and a
/// cursor that continues exactly there (a short, even empty, page is then allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBudget {
    /// DynamoDB queries (each reads at most 1 MB, DynamoDB's own page limit).
    pub queries: usize,
    /// Index rows SQLite may step over (the equivalent of the queries' bytes).
    pub rows: usize,
}

pub const LIST: ReadBudget = ReadBudget {
    queries: 4,
    rows: 4_000,
};

pub const HISTORY: ReadBudget = ReadBudget {
    queries: 4,
    rows: 4_000,
};

/// The most items one DynamoDB list query asks for.
pub const MAX_QUERY_ITEMS: usize = 1_000;

/// The most bytes of records (or history entries) one response carries; the rest goes to
/// the next page. Lambda's response limit is 6 MB.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// History page sizes.
pub const DEFAULT_HISTORY_LIMIT: usize = 100;
pub const MAX_HISTORY_LIMIT: usize = 200;
