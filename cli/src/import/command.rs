//! `vtid import`'s flags and its orchestration: the target checked, the whole file read
//! first, then a dry run or the import, and the summary with its exit code.

use std::io::Write;
use std::path::PathBuf;

use super::Summary;
use crate::exit::{Exit, Fail, say};
use crate::store_args::{StoreArgs, Target};

#[derive(clap::Args)]
pub struct ImportArgs {
    #[arg(long)]
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Start a new ledger in a --data folder that holds none yet.
    #[arg(long)]
    pub init: bool,
    /// Validate the file and report what would change; write nothing.
    #[arg(long, conflicts_with = "create_table")]
    pub dry_run: bool,
}

pub async fn run(args: ImportArgs) -> Result<(), Fail> {
    let ImportArgs {
        file,
        mut store,
        init,
        dry_run,
    } = args;
    // Say where the rows go in full, whatever the current folder.
    let data = store.data_folder();
    store.data = Some(std::path::absolute(&data).unwrap_or(data));
    let target = store.target(init, false).map_err(Fail::usage)?;
    // The whole file first: a bad file creates no store, and writes nothing. The parents
    // of its valid rows are still checked (a read), so one run names every bad row.
    let rows = match super::read_rows(&file) {
        Ok(rows) => rows,
        Err(bad) => {
            let summary = bad_file_parents(&store, &target, bad).await;
            return finish_import(summary, dry_run);
        }
    };
    let unavailable = |message: String| Fail::Exit {
        exit: Exit::Unavailable,
        code: "store_unavailable",
        message,
    };
    let summary = if dry_run {
        // A dry run creates nothing, not even the new ledger it would write to.
        let opened = match &target {
            Target::NewLedger(dir) => {
                say(&format!(
                    "import: dry run for a new ledger in {}; nothing is written",
                    dir.display()
                ));
                None
            }
            Target::Ready => {
                let opened = store.open().await.map_err(unavailable)?;
                say(&format!(
                    "import: dry run against {}; nothing is written",
                    opened.description
                ));
                Some(opened)
            }
        };
        super::dry_run(opened.as_ref().map(|o| o.store.as_ref()), &rows).await
    } else {
        let opened = store.open().await.map_err(unavailable)?;
        opened
            .store
            .ping()
            .await
            .map_err(|e| unavailable(format!("cannot use the {}: {e}", opened.description)))?;
        say(&format!("import: writing to {}", opened.description));
        super::import(opened.store.as_ref(), &rows, &mut std::io::stderr()).await
    };
    finish_import(summary, dry_run)
}

/// A bad file's summary with the parents of its valid rows checked too, so that one run
/// names every bad row: against the ledger if it exists and answers (a read; a table is
/// never created for a bad file), else not at all, and then it says so.
async fn bad_file_parents(store: &StoreArgs, target: &Target, bad: super::BadFile) -> Summary {
    let mut summary = bad.summary;
    if bad.valid.iter().all(|(_, r)| r.parent_vtid.is_none()) {
        return summary;
    }
    if let Target::NewLedger(_) = target {
        super::check_parents(None, &bad.valid, &mut summary).await;
        return summary;
    }
    let existing = StoreArgs {
        create_table: false,
        ..store.clone()
    };
    let answering = match existing.open().await {
        Ok(opened) => opened
            .store
            .ping()
            .await
            .map(|()| opened)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match answering {
        Ok(opened) => {
            super::check_parents(Some(opened.store.as_ref()), &bad.valid, &mut summary).await;
        }
        Err(e) => say(&format!(
            "import: parents were not checked, the store did not answer: {e}"
        )),
    }
    summary
}

/// The problems, the summary line, and the exit code the outcome means.
fn finish_import(mut summary: Summary, dry_run: bool) -> Result<(), Fail> {
    summary.sort_problems();
    for p in &summary.problems {
        say(&p.to_string());
    }
    print_summary(&summary, dry_run);
    if summary.invalid > 0 {
        Err(Fail::Exit {
            exit: Exit::Usage,
            code: "invalid_rows",
            message: format!("{} invalid rows; nothing was imported", summary.invalid),
        })
    } else if summary.failed > 0 {
        Err(Fail::Exit {
            exit: Exit::Unavailable,
            code: "store_unavailable",
            message: format!("{} rows could not be checked or written", summary.failed),
        })
    } else if summary.conflicting > 0 {
        Err(Fail::Exit {
            exit: Exit::Conflict,
            code: "conflicting_rows",
            message: format!(
                "{} rows differ from the ledger's records and were left alone",
                summary.conflicting
            ),
        })
    } else {
        Ok(())
    }
}

fn print_summary(s: &Summary, dry_run: bool) {
    let (prefix, imported) = if dry_run {
        ("import (dry run)", "would be imported")
    } else {
        ("import", "imported")
    };
    let failed = if s.failed > 0 {
        format!(", {} failed", s.failed)
    } else {
        String::new()
    };
    let tail = if s.invalid > 0 || (dry_run && s.rows > 0) {
        if dry_run {
            " (nothing was written)"
        } else {
            " (nothing was imported)"
        }
    } else {
        ""
    };
    let line = format!(
        "{prefix}: {} rows: {} {imported}, {} already present, {} conflicting, {} invalid{failed}{tail}",
        s.rows, s.imported, s.already_present, s.conflicting, s.invalid
    );
    // The exit code carries the outcome even when no one reads stdout.
    let _ = writeln!(std::io::stdout(), "{line}");
}
