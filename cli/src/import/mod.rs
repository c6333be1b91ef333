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
use std::io::Write;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde::Serialize;
use shared::record::Record;
use shared::store::{CounterAdvance, ImportResult, Store};
use shared::vtid::Vtid;

pub use rows::{BadFile, read_rows, row_to_record};

/// The file of the embedded store in a `--data` folder (as `SqliteStore::open` names it).
const SQLITE_FILE: &str = "ledger.sqlite3";

/// Where an import would write, checked before anything is opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A store that exists (or that `--init` / `--create-table` may create).
    Ready,
    /// `--data` names a folder without a ledger, and `--init` was given.
    NewLedger(PathBuf),
}

/// A `--data` folder must hold a ledger already unless `init`: a typo must not start a
/// new, empty ledger and import into it.
pub fn check_data_folder(data: &Path, init: bool) -> Result<Target, String> {
    let file = data.join(SQLITE_FILE);
    if file.is_file() {
        return Ok(Target::Ready);
    }
    if init {
        return Ok(Target::NewLedger(data.to_owned()));
    }
    Err(format!(
        "{} holds no ledger (no {SQLITE_FILE}): check --data, or pass --init to start a new ledger there",
        data.display()
    ))
}

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
    /// `line: message` for each bad row, and each conflict.
    pub problems: Vec<String>,
}

impl Summary {
    pub fn succeeded(&self) -> bool {
        self.invalid == 0 && self.conflicting == 0 && self.failed == 0
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
            summary
                .problems
                .push(format!("could not move the {year} counter: {e}"));
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
                summary.problems.push(format!(
                    "line {line}: {} exists with other content; left alone",
                    record.vtid
                ));
            }
            Err(e) => {
                summary.failed += 1;
                summary.problems.push(format!(
                    "line {line}: {} could not be written: {e}",
                    record.vtid
                ));
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
                summary.problems.push(format!(
                    "line {line}: parentVtid {parent} exists neither in the file (among its valid rows) nor in the ledger"
                ));
            }
            Err(e) => {
                summary.failed += 1;
                summary
                    .problems
                    .push(format!("line {line}: could not check parent {parent}: {e}"));
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
            Ok(Some(_)) => {
                summary.conflicting += 1;
                summary.problems.push(format!(
                    "line {line}: {} exists with other content; it would be left alone",
                    record.vtid
                ));
            }
            Err(e) => {
                summary.failed += 1;
                summary
                    .problems
                    .push(format!("line {line}: could not read {}: {e}", record.vtid));
            }
        }
    }
    summary
}
