//! The rows of an import file: seed snake_case columns or API camelCase, each turned
//! into a record or a reason, the whole file read before anything is written.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};
use shared::api::json::StrictError;
use shared::lifecycle::Status;
use shared::record::{Draft, Record};
use shared::timestamp::Timestamp;
use shared::validation::parse_create;
use shared::vtid::Vtid;

use super::{Problem, Summary};

/// The highest number and version a row may carry.
const MAX_IMPORTED_SEQ: u32 = 999_999_999;
const MAX_IMPORTED_VERSION: u64 = 1_000_000_000;
/// The largest line accepted: a record with full metadata and description, with room.
const MAX_LINE_BYTES: usize = 256 * 1024;

/// Seed (snake_case) column to API (camelCase) field.
const SEED_COLUMNS: [(&str, &str); 18] = [
    ("vtid", "vtid"),
    ("task_family", "taskFamily"),
    ("task_type", "taskType"),
    ("title", "title"),
    ("description", "description"),
    ("status", "status"),
    ("tenant", "tenant"),
    ("assigned_to", "assignedTo"),
    ("parent_vtid", "parentVtid"),
    ("metadata", "metadata"),
    ("is_test", "isTest"),
    ("created_at", "createdAt"),
    ("updated_at", "updatedAt"),
    ("started_at", "startedAt"),
    ("completed_at", "completedAt"),
    ("created_by", "createdBy"),
    ("updated_by", "updatedBy"),
    ("duration_seconds", "durationSeconds"),
];
/// Fields a row may carry beyond the create body's: server-set ones, kept as they were.
const RECORD_ONLY: [&str; 8] = [
    "vtid",
    "createdAt",
    "updatedAt",
    "startedAt",
    "completedAt",
    "createdBy",
    "updatedBy",
    "version",
];
/// Accepted and dropped: the seed's row id and values this ledger derives itself.
const IGNORED: [&str; 2] = ["id", "durationSeconds"];

/// One row of the file as a record, or every reason it is not one.
pub fn row_to_record(row: &Value) -> Result<Record, String> {
    let Value::Object(map) = row else {
        return Err("a row must be a JSON object".into());
    };
    let mut fields = Map::new();
    for (k, v) in map {
        let name = SEED_COLUMNS
            .iter()
            .find(|(snake, _)| snake == k)
            .map_or(k.as_str(), |(_, camel)| camel);
        if IGNORED.contains(&name) {
            continue;
        }
        fields.insert(name.to_owned(), v.clone());
    }
    let mut problems = Vec::new();
    let vtid = row_vtid(fields.remove("vtid"))
        .map_err(|e| problems.push(e))
        .ok();
    // The API takes a canonical parent only; a seed row's padded one is trimmed here.
    if let Some(Value::String(p)) = fields.get_mut("parentVtid") {
        *p = p.trim().to_owned();
    }
    if fields.get("metadata").is_some_and(Value::is_null) {
        fields.insert("metadata".into(), Value::Object(Map::new()));
    }
    let mut server = Map::new();
    for k in RECORD_ONLY {
        if let Some(v) = fields.remove(k) {
            server.insert(k.to_owned(), v);
        }
    }
    let draft = parse_create(&Value::Object(fields), None, "")
        .map_err(|details| {
            problems.extend(
                details
                    .iter()
                    .map(|d| format!("{}: {}", d.field, d.message)),
            );
        })
        .ok();
    let kept = Kept::read(&server).map_err(|e| problems.extend(e)).ok();
    match (vtid, draft, kept) {
        (Some(vtid), Some(draft), Some(kept)) if problems.is_empty() => {
            Ok(kept.record(draft, vtid))
        }
        _ => Err(problems.join("; ")),
    }
}

/// A row's VTID: canonical once trimmed (the seed padded with spaces), and below the
/// ledger's own range.
fn row_vtid(value: Option<Value>) -> Result<Vtid, String> {
    let vtid: Vtid = match value {
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|e: shared::vtid::InvalidVtid| e.0)?,
        _ => return Err("vtid is required".into()),
    };
    // Room above any imported number for the ledger's own sequence.
    if vtid.seq() > MAX_IMPORTED_SEQ {
        return Err(format!(
            "{vtid}: numbers above {MAX_IMPORTED_SEQ} cannot be imported"
        ));
    }
    Ok(vtid)
}

/// The server-set fields a row keeps as they were.
struct Kept {
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    created_by: String,
    updated_by: Option<String>,
    version: u64,
}

impl Kept {
    /// The kept fields, or every problem with them.
    fn read(server: &Map<String, Value>) -> Result<Kept, Vec<String>> {
        let mut problems = Vec::new();
        let mut time = |name: &str| -> Option<Timestamp> {
            match server.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Timestamp::parse_lenient(s).or_else(|| {
                    problems.push(format!("{name}: '{s}' is not a date-time"));
                    None
                }),
                Some(_) => {
                    problems.push(format!("{name}: must be a date-time string"));
                    None
                }
            }
        };
        let created_at = time("createdAt");
        let updated_at = time("updatedAt");
        let started_at = time("startedAt");
        let completed_at = time("completedAt");
        if created_at.is_none() && matches!(server.get("createdAt"), None | Some(Value::Null)) {
            problems.push("createdAt (created_at) is required".into());
        }
        let version = match server.get("version") {
            None | Some(Value::Null) => Some(1),
            Some(v) => v
                .as_u64()
                .filter(|v| (1..=MAX_IMPORTED_VERSION).contains(v))
                .or_else(|| {
                    problems.push("version: must be a whole number from 1 to 1000000000".into());
                    None
                }),
        };
        let text = |name: &str| server.get(name).and_then(Value::as_str).map(str::to_owned);
        match (created_at, version) {
            (Some(created_at), Some(version)) if problems.is_empty() => Ok(Kept {
                created_at,
                updated_at: updated_at.unwrap_or(created_at),
                started_at,
                completed_at,
                created_by: text("createdBy").unwrap_or_else(|| "import".into()),
                updated_by: text("updatedBy"),
                version,
            }),
            _ => Err(problems),
        }
    }

    /// The record of the row's create fields and its kept fields, with the times the
    /// lifecycle derives from them.
    fn record(self, draft: Draft, vtid: Vtid) -> Record {
        let mut record = draft.into_record(vtid, &self.created_by, self.created_at);
        record.updated_at = self.updated_at;
        record.updated_by = self.updated_by.unwrap_or(self.created_by);
        record.version = self.version;
        record.started_at = self.started_at.or(if record.status == Status::Active {
            Some(self.created_at)
        } else {
            None
        });
        record.completed_at = if record.status.is_terminal() {
            Some(self.completed_at.unwrap_or(self.updated_at))
        } else {
            None
        };
        record.duration_seconds = record
            .completed_at
            .map(|done| done.seconds_since(record.started_at.unwrap_or(record.created_at)));
        record
    }
}

/// Reads and validates the whole file: `(line, record)` pairs, or every bad line.
pub fn read_rows(path: &Path) -> Result<Vec<(usize, Record)>, BadFile> {
    let file = std::fs::File::open(path).map_err(|e| BadFile {
        valid: Vec::new(),
        summary: Summary {
            invalid: 1,
            problems: vec![Problem {
                line: 0,
                message: format!("cannot read {}: {e}", path.display()),
            }],
            ..Summary::default()
        },
    })?;
    let mut summary = Summary::default();
    let mut rows = Vec::new();
    let mut seen: HashMap<Vtid, (usize, Record)> = HashMap::new();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                summary.invalid += 1;
                summary.problem(n, format!("cannot read: {e}"));
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        summary.rows += 1;
        let parsed = if line.len() > MAX_LINE_BYTES {
            Err(format!("longer than {MAX_LINE_BYTES} bytes"))
        } else {
            // The API's strict reader: a key twice, or a number that would change, is
            // refused here as the API would refuse it.
            shared::api::json::parse(&line)
                .map_err(|e| match e {
                    StrictError::Syntax { column, .. } => {
                        format!("not valid JSON (column {column})")
                    }
                    refused => refused.to_string(),
                })
                .and_then(|v| row_to_record(&v))
        };
        match parsed {
            Ok(record) => match seen.get(&record.vtid) {
                Some((first, earlier)) if *earlier != record => {
                    summary.invalid += 1;
                    summary.problem(
                        n,
                        format!("{} also on line {first} with other content", record.vtid),
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(record.vtid, (n, record.clone()));
                    rows.push((n, record));
                }
            },
            Err(why) => {
                summary.invalid += 1;
                summary.problem(n, why);
            }
        }
    }
    if summary.invalid > 0 {
        Err(BadFile {
            valid: rows,
            summary,
        })
    } else {
        Ok(rows)
    }
}

/// A file with invalid rows: what was wrong, and the rows that were fine (whose parents
/// are still worth checking, so that one run reports every bad row).
pub struct BadFile {
    pub valid: Vec<(usize, Record)>,
    pub summary: Summary,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_rows_map_to_records() {
        let r = row_to_record(&json!({
            "id": 7, "vtid": "VTID-2025-0042 ", "task_family": "deploy", "task_type": "release",
            "description": "old work", "status": "complete", "tenant": "acme", "assigned_to": null,
            "metadata": null, "parent_vtid": null, "created_at": "2025-03-01 10:00:00",
            "updated_at": "2025-03-01 11:00:00", "is_test": false
        }))
        .unwrap();
        assert_eq!(r.vtid.to_string(), "VTID-2025-0042");
        assert_eq!(r.created_at.to_string(), "2025-03-01T10:00:00.000Z");
        assert_eq!(
            r.completed_at.unwrap().to_string(),
            "2025-03-01T11:00:00.000Z"
        );
        assert_eq!(r.duration_seconds, Some(3600.0));
        assert!(r.metadata.is_empty());
    }

    #[test]
    fn bad_rows_say_why() {
        let e = row_to_record(&json!({"vtid": "VTID-2025-42", "created_at": "2025-01-01"}))
            .unwrap_err();
        assert!(e.contains("VTID-YYYY-NNNN"), "{e}");
        let e = row_to_record(
            &json!({"vtid": "VTID-2025-0001", "task_family": "a", "task_type": "b",
            "description": "c", "tenant": "t"}),
        )
        .unwrap_err();
        assert!(e.contains("createdAt"), "{e}");
    }

    #[test]
    fn every_problem_of_a_row_is_named() {
        let e = row_to_record(&json!({"vtid": "VTID-2025-42", "task_family": "a",
            "task_type": "b", "description": "c", "tenant": "no spaces please",
            "created_at": "yesterday", "version": 0}))
        .unwrap_err();
        for part in [
            "VTID-YYYY-NNNN",
            "tenant: ",
            "createdAt: 'yesterday'",
            "version: ",
        ] {
            assert!(e.contains(part), "{part} missing from {e}");
        }
    }
}
