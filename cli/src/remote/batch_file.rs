//! A batch file for `vtid batch`: one JSON array of create bodies, or one body a line
//! (`-` is stdin). Read with the API's strict reader (a key given twice, or a number that
//! would change, is refused here as the API would refuse it), and every bad item is
//! reported at once, each by the line it is on.

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use shared::api::json;
use vtid_client::NewRecord;

use crate::exit::Fail;

/// The largest batch file read (the API takes 1 to 50 items, at most 3.2 MB).
const MAX_BATCH_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Most problems listed; the rest are counted.
const MAX_LISTED: usize = 20;

/// The file's items, or every problem found in it.
pub fn read(path: &Path) -> Result<Vec<NewRecord>, Fail> {
    let text = read_text(path)?;
    let (items, problems) = if text.trim_start().starts_with('[') {
        array_items(&text)
    } else {
        line_items(&text)
    };
    if !problems.is_empty() {
        return Err(Fail::usage(report(path, &problems)));
    }
    if items.is_empty() {
        return Err(Fail::usage(format!("{} holds no items", path.display())));
    }
    Ok(items)
}

fn read_text(path: &Path) -> Result<String, Fail> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_BATCH_FILE_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BATCH_FILE_BYTES + 1).read_to_string(&mut text))
    };
    read.map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_BATCH_FILE_BYTES {
        return Err(Fail::usage(format!(
            "{} is larger than {MAX_BATCH_FILE_BYTES} bytes",
            path.display()
        )));
    }
    Ok(text)
}

/// One JSON array: a syntax error stops the reading; each item is checked on its own.
fn array_items(text: &str) -> (Vec<NewRecord>, Vec<String>) {
    let items = match json::parse(text.as_bytes()) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            return (
                Vec::new(),
                vec!["must be one JSON array or one object a line".into()],
            );
        }
        Err(e) => return (Vec::new(), vec![e.to_string()]),
    };
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value(item) {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!("item {}: {e}", i + 1)),
        }
    }
    (records, problems)
}

/// One object a line: each line read and checked on its own.
fn line_items(text: &str) -> (Vec<NewRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        match json::parse(line.as_bytes()) {
            Ok(v) => match serde_json::from_value(v) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("line {n}: {e}")),
            },
            Err(json::StrictError::Syntax { column, .. }) => {
                problems.push(format!("line {n}, column {column}: not valid JSON"));
            }
            Err(e) => problems.push(format!("line {n}: {e}")),
        }
    }
    (records, problems)
}

fn report(path: &Path, problems: &[String]) -> String {
    let mut lines = vec![format!(
        "{} has {} problem{}; nothing was sent:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )];
    lines.extend(problems.iter().take(MAX_LISTED).map(|p| format!("  {p}")));
    if problems.len() > MAX_LISTED {
        lines.push(format!("  ... and {} more", problems.len() - MAX_LISTED));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_reported_at_its_own_line() {
        let text = concat!(
            r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"a"}"#,
            "\n",
            r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"a","metadata":{"x":1,"x":2}}"#,
            "\n\n",
            r#"{"taskFamily":"f","taskType":"t","description":"d","tenant":"a","metadata":{"n":123456789012345678901234567890}}"#,
            "\n",
            r#"{"taskFamily": "f", oops}"#,
            "\n",
        );
        let (items, problems) = line_items(text);
        assert_eq!(items.len(), 1);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("line 2: metadata.x is given more than once"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("line 4: metadata.n is the number"),
            "{problems:?}"
        );
        assert_eq!(problems[2], "line 5, column 21: not valid JSON");
    }

    #[test]
    fn every_bad_item_of_an_array_is_reported() {
        let (items, problems) = array_items(r#"[{"taskFamily":"f"}, 7, {"x":1,"x":1}]"#);
        assert!(items.is_empty());
        assert_eq!(
            problems,
            ["[2].x is given more than once in one object; give each key once"]
        );
        let (_, problems) = array_items(r#"[{"taskFamily":"f"}, 7]"#);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("item 1: "), "{problems:?}");
        assert!(problems[1].starts_with("item 2: "), "{problems:?}");
    }
}
