//! What the client commands print: lines on stdout that end the command quietly when the
//! reader has gone (`vtid list | head -1`), records as JSON, JSON lines, a table or CSV,
//! and one field of a record.

use std::io::{ErrorKind, IsTerminal, Write};

use serde_json::Value;
use vtid_client::Record;

use super::OutputArg;
use crate::exit::Fail;

/// Stdout, where a closed pipe ends the command with exit 0 instead of a panic.
pub struct Out {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Out {
    pub fn new() -> Self {
        Self {
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    pub fn line(&mut self, text: &str) -> Result<(), Fail> {
        writeln!(self.out, "{text}").map_err(closed)
    }

    pub fn flush(&mut self) -> Result<(), Fail> {
        self.out.flush().map_err(closed)
    }
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

fn closed(e: std::io::Error) -> Fail {
    if e.kind() == ErrorKind::BrokenPipe {
        Fail::Closed
    } else {
        Fail::Exit {
            exit: crate::exit::Exit::Usage,
            code: "output",
            message: format!("cannot write to stdout: {e}"),
        }
    }
}

/// The format a list prints in when none is asked for: a table for a person at a
/// terminal, JSON lines for a pipe.
pub fn default_output() -> OutputArg {
    if std::io::stdout().is_terminal() {
        OutputArg::Table
    } else {
        OutputArg::Jsonl
    }
}

const COLUMNS: [&str; 7] = [
    "VTID", "STATUS", "FAMILY", "TYPE", "TENANT", "ASSIGNED", "TITLE",
];
const MAX_CELL: usize = 48;

fn cells(r: &Record) -> [String; 7] {
    [
        r.vtid.to_string(),
        r.status.to_string(),
        r.task_family.clone(),
        r.task_type.clone(),
        r.tenant.clone(),
        r.assigned_to.clone().unwrap_or_default(),
        r.title.clone().unwrap_or_else(|| r.description.clone()),
    ]
}

/// Records in a format; `first` says whether these are the first of the output (for a
/// CSV header and a JSON array's bracket, printed by the caller with [`finish`]).
pub fn records(
    out: &mut Out,
    format: OutputArg,
    records: &[Record],
    first: bool,
) -> Result<(), Fail> {
    match format {
        OutputArg::Jsonl => {
            for r in records {
                out.line(&json(r))?;
            }
        }
        OutputArg::Json => {
            for (i, r) in records.iter().enumerate() {
                let sep = if first && i == 0 { "[" } else { "," };
                out.line(&format!("{sep}{}", json(r)))?;
            }
        }
        OutputArg::Csv => {
            if first {
                out.line(&COLUMNS.join(","))?;
            }
            for r in records {
                let row: Vec<String> = cells(r).iter().map(|c| csv_cell(c)).collect();
                out.line(&row.join(","))?;
            }
        }
        OutputArg::Table => {
            let rows: Vec<[String; 7]> = records
                .iter()
                .map(|r| cells(r).map(|c| one_line(&c)))
                .collect();
            let mut widths = COLUMNS.map(|c| c.chars().count());
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            if first {
                out.line(&table_row(&COLUMNS.map(str::to_owned), &widths))?;
            }
            for row in &rows {
                out.line(&table_row(row, &widths))?;
            }
        }
    }
    Ok(())
}

/// Ends the output of [`records`]: the closing bracket of a JSON array (an empty one
/// when nothing was printed).
pub fn finish(out: &mut Out, format: OutputArg, printed_any: bool) -> Result<(), Fail> {
    if format == OutputArg::Json {
        out.line(if printed_any { "]" } else { "[]" })?;
    }
    out.flush()
}

pub fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn table_row(cells: &[String; 7], widths: &[usize; 7]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect();
    padded.join("  ").trim_end().to_owned()
}

/// `text` as a terminal shows it literally: control characters (ESC, BEL, CR, line
/// breaks, C1) and the characters that reorder a line (bidirectional overrides and
/// isolates) written as escapes (`\r`, `\u{1b}`, `\u{202e}`), so that nothing a
/// server sent can move the cursor, recolour, hide or fake a line, or make a link.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => safe.push_str("\\n"),
            '\r' => safe.push_str("\\r"),
            '\t' => safe.push_str("\\t"),
            c if unsafe_char(c) => safe.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => safe.push(c),
        }
    }
    std::borrow::Cow::Owned(safe)
}

/// A cell on one line and at most [`MAX_CELL`] characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX_CELL {
        let cut: String = flat.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// RFC 4180: quoted when it holds a comma, a quote or a line break; quotes doubled.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One field of a record by a dotted path (`status`, `metadata.env`): text as is, other
/// values as JSON, `null` when the record has the field without a value.
pub fn field(record: &Record, path: &str) -> Result<String, Fail> {
    let value = serde_json::to_value(record).unwrap_or_default();
    let mut parts = path.split('.');
    let top = parts.next().unwrap_or_default();
    let Some(mut current) = value.get(top) else {
        let names: Vec<&str> = value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(Fail::usage(format!(
            "a record has no field '{top}'; its fields: {}",
            names.join(", ")
        )));
    };
    for part in parts {
        current = current.get(part).unwrap_or(&Value::Null);
    }
    Ok(match current {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_a_server_sends_reaches_the_terminal_as_control() {
        assert_eq!(terminal_safe("plain text, é"), "plain text, é");
        assert_eq!(
            terminal_safe("ok\rVTID-2026-0002 [complete] fake"),
            "ok\\rVTID-2026-0002 [complete] fake"
        );
        assert_eq!(terminal_safe("\u{1b}[31mred\u{7}"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(terminal_safe("a\u{202e}b\nc"), "a\\u{202e}b\\nc");
        assert_eq!(
            terminal_safe("\u{1b}]8;;http://x\u{1b}\\link"),
            "\\u{1b}]8;;http://x\\u{1b}\\link"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn table_cells_are_one_short_line() {
        assert_eq!(one_line("a\nb"), "a b");
        let long = "x".repeat(100);
        assert_eq!(one_line(&long).chars().count(), MAX_CELL);
    }
}
