//! `vtid import --file rows.jsonl`: registers existing ledger rows under their own
//! VTIDs. The whole file is validated first (`rows`) and nothing is written if any row
//! is bad. Counters move past the highest imported number (never back) before any
//! record is written, so a create running meanwhile can never take an imported number.
//!
//! It cannot go to the wrong place: `main` prints the store before writing, a `--data`
//! folder must already hold a ledger unless `--init` is given, `--dry-run` writes nothing,
//! and client flags (`--url`, `--token`) are refused: an import writes to a store
//! directly, never through the API.

pub mod command;
mod rows;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Write;

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use shared::record::Record;
use shared::store::{CounterAdvance, ImportResult, Store};
use shared::vtid::Vtid;

pub use rows::{BadFile, read_rows, row_to_record};

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub rows: usize,
    /// Written (or, in a dry run, that would be).
    pub imported: usize,
    pub already_present: usize,
    pub conflicting: usize,
    pub invalid: usize,
    /// Rows (or counters) the store failed to read or write.
    pub failed: usize,
    /// Each bad row, each conflict, each failure: in line order once the run is over.
    pub problems: Vec<Problem>,
}

impl Summary {
    pub fn succeeded(&self) -> bool {
        self.invalid == 0 && self.conflicting == 0 && self.failed == 0
    }

    /// Notes a problem of the file's `line` (0: the file or a counter, not one row).
    pub fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            line,
            message: message.into(),
        });
    }

    /// The problems in line order: rows are read, then parents checked, then written, each
    /// pass adding its own, and a reader wants them by line.
    pub fn sort_problems(&mut self) {
        self.problems.sort_by_key(|p| p.line);
    }
}

/// One thing wrong, at its line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 0 when it is not one row's (the file cannot be read, a counter cannot move).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The fields in which `ours` (a row) and `theirs` (the ledger's record) differ, by their
/// API names: what a conflict is about.
pub fn differing_fields(ours: &Record, theirs: &Record) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(ours), serde_json::to_value(theirs))
    else {
        return Vec::new();
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// What a conflict says: the VTID, and the fields in which the row differs.
fn conflict_message(record: &Record, theirs: Option<&Record>, outcome: &str) -> String {
    let fields = theirs
        .map(|t| differing_fields(record, t))
        .unwrap_or_default();
    if fields.is_empty() {
        format!("{} exists with other content; {outcome}", record.vtid)
    } else {
        format!(
            "{} exists with other {}; {outcome}",
            record.vtid,
            fields.join(", ")
        )
    }
}

/// Validates, checks parents, moves counters, then writes. `progress` gets a line now and then.
pub async fn import(
    store: &dyn Store,
    rows: &[(usize, Record)],
    progress: &mut dyn Write,
) -> Summary {
    let mut summary = Summary {
        rows: rows.len(),
        ..Summary::default()
    };
    check_parents(Some(store), rows, &mut summary).await;
    if summary.invalid > 0 || summary.failed > 0 {
        return summary;
    }
    let mut per_year: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    for (_, r) in rows {
        per_year
            .entry(r.vtid.year())
            .or_default()
            .push(u64::from(r.vtid.seq()));
    }
    for (year, seqs) in &per_year {
        let top = seqs.iter().copied().max().unwrap_or(0);
        let advance = CounterAdvance {
            year: *year,
            to: top,
            imported: seqs.clone(),
        };
        if let Err(e) = store.advance_counter(advance).await {
            summary.problem(0, format!("could not move the {year} counter: {e}"));
            summary.failed += 1;
            return summary;
        }
    }
    let mut ordered: Vec<&(usize, Record)> = rows.iter().collect();
    ordered.sort_by_key(|(_, r)| r.vtid);
    let started = Instant::now();
    let mut last_report = Instant::now();
    for (done, (line, record)) in ordered.into_iter().enumerate() {
        match store.import_record(record).await {
            Ok(ImportResult::Imported) => summary.imported += 1,
            Ok(ImportResult::AlreadyPresent) => summary.already_present += 1,
            Ok(ImportResult::Conflict) => {
                summary.conflicting += 1;
                let theirs = store.get(record.vtid).await.ok().flatten();
                let message = conflict_message(record, theirs.as_ref(), "left alone");
                summary.problem(*line, message);
            }
            Err(e) => {
                summary.failed += 1;
                summary.problem(*line, format!("{} could not be written: {e}", record.vtid));
            }
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            let _ = writeln!(
                progress,
                "import: {}/{} rows ({:.0?})",
                done + 1,
                rows.len(),
                started.elapsed()
            );
            last_report = Instant::now();
        }
    }
    summary
}

/// Every parent must be in the file or in the ledger (`None`: a ledger not created yet).
pub async fn check_parents(
    store: Option<&dyn Store>,
    rows: &[(usize, Record)],
    summary: &mut Summary,
) {
    let in_file: HashSet<Vtid> = rows.iter().map(|(_, r)| r.vtid).collect();
    for (line, record) in rows {
        let Some(parent) = record.parent_vtid.filter(|p| !in_file.contains(p)) else {
            continue;
        };
        let found = match store {
            Some(store) => store.exists(parent).await,
            None => Ok(false),
        };
        match found {
            Ok(true) => {}
            Ok(false) => {
                summary.invalid += 1;
                summary.problem(
                    *line,
                    format!("parentVtid {parent} exists neither in the file (among its valid rows) nor in the ledger"),
                );
            }
            Err(e) => {
                summary.failed += 1;
                summary.problem(*line, format!("could not check parent {parent}: {e}"));
            }
        }
    }
}

/// What an import would do, writing nothing: the whole file validated, parents checked,
/// and each row compared with the ledger (`store`: `None` for a ledger not created yet).
pub async fn dry_run(store: Option<&dyn Store>, rows: &[(usize, Record)]) -> Summary {
    let mut summary = Summary {
        rows: rows.len(),
        ..Summary::default()
    };
    check_parents(store, rows, &mut summary).await;
    if summary.invalid > 0 || summary.failed > 0 {
        return summary;
    }
    let Some(store) = store else {
        summary.imported = rows.len();
        return summary;
    };
    for (line, record) in rows {
        // The comparison the stores make when importing.
        match store.get(record.vtid).await {
            Ok(None) => summary.imported += 1,
            Ok(Some(existing)) if existing == *record => summary.already_present += 1,
            Ok(Some(theirs)) => {
                summary.conflicting += 1;
                let message = conflict_message(record, Some(&theirs), "it would be left alone");
                summary.problem(*line, message);
            }
            Err(e) => {
                summary.failed += 1;
                summary.problem(*line, format!("could not read {}: {e}", record.vtid));
            }
        }
    }
    summary
}
