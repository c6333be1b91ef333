//! The rows of an import file: seed snake_case columns or API camelCase, each turned
//! into a record or a reason, the whole file read before anything is written.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};
use shared::lifecycle::Status;
use shared::record::Record;
use shared::timestamp::Timestamp;
use shared::validation::parse_create;
use shared::vtid::Vtid;

use super::Summary;

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

/// One row of the file as a record, or why not.
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
    // The seed padded with spaces; the VTID itself must then be canonical.
    let vtid: Vtid = match fields.remove("vtid") {
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
    let draft = parse_create(&Value::Object(fields), None, "").map_err(|details| {
        details
            .iter()
            .map(|d| format!("{}: {}", d.field, d.message))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let time = |name: &str| -> Result<Option<Timestamp>, String> {
        match server.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Timestamp::parse_lenient(s)
                .map(Some)
                .ok_or_else(|| format!("{name}: '{s}' is not a date-time")),
            Some(_) => Err(format!("{name}: must be a date-time string")),
        }
    };
    let text = |name: &str| server.get(name).and_then(Value::as_str).map(str::to_owned);
    let created_at = time("createdAt")?.ok_or("createdAt (created_at) is required")?;
    let updated_at = time("updatedAt")?.unwrap_or(created_at);
    let started_at = time("startedAt")?;
    let created_by = text("createdBy").unwrap_or_else(|| "import".into());
    let version = match server.get("version") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|v| (1..=MAX_IMPORTED_VERSION).contains(v))
            .ok_or("version: must be a whole number from 1 to 1000000000")?,
    };
    let mut record = draft.into_record(vtid, &created_by, created_at);
    record.updated_at = updated_at;
    record.updated_by = text("updatedBy").unwrap_or(created_by);
    record.version = version;
    record.started_at = started_at.or(if record.status == Status::Active {
        Some(created_at)
    } else {
        None
    });
    record.completed_at = if record.status.is_terminal() {
        Some(time("completedAt")?.unwrap_or(updated_at))
    } else {
        None
    };
    record.duration_seconds = record
        .completed_at
        .map(|done| done.seconds_since(record.started_at.unwrap_or(record.created_at)));
    Ok(record)
}

/// Reads and validates the whole file: `(line, record)` pairs, or every bad line.
pub fn read_rows(path: &Path) -> Result<Vec<(usize, Record)>, BadFile> {
    let file = std::fs::File::open(path).map_err(|e| BadFile {
        valid: Vec::new(),
        summary: Summary {
            invalid: 1,
            problems: vec![format!("cannot read {}: {e}", path.display())],
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
                summary.problems.push(format!("line {n}: cannot read: {e}"));
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
            serde_json::from_slice::<Value>(&line)
                .map_err(|e| format!("not valid JSON (column {})", e.column()))
                .and_then(|v| row_to_record(&v))
        };
        match parsed {
            Ok(record) => match seen.get(&record.vtid) {
                Some((first, earlier)) if *earlier != record => {
                    summary.invalid += 1;
                    summary.problems.push(format!(
                        "line {n}: {} also on line {first} with other content",
                        record.vtid
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(record.vtid, (n, record.clone()));
                    rows.push((n, record));
                }
            },
            Err(why) => {
                summary.invalid += 1;
                summary.problems.push(format!("line {n}: {why}"));
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
}
