//! `vtid repair`: voids the numbers that nobody accounted for, once they are old enough
//! that no writer can still be about to write them.
//!
//! A number is missing when it is at or below the counter with no record, no void and no
//! import skip: only a process killed between reserving it and writing it leaves one
//! (every live writer voids what it gives up). How old a missing number is cannot be
//! read from the number itself, so it is judged by the first record above its run of
//! missing numbers: that record was reserved after the run, so a run whose next record
//! was created more than `grace` ago was reserved more than `grace` ago, longer than any
//! request may take. A run with no record above it yet waits for the next repair. A
//! number that holds a record is never touched (the void is conditional on that).

use std::time::Duration;

use super::{MAX_LISTED_MISSING, Store, StoreError, VoidCause, Voiding};
use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// How far above a run of missing numbers the repair looks for the record that dates it.
const LOOKAHEAD: u64 = 8;

/// What a repair found (and, unless it was a dry run, did).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repair {
    pub year: u16,
    /// Numbers missing before the repair (all of them, listed or not).
    pub missing: u64,
    /// Old enough: voided (or, in a dry run, to be voided).
    pub voided: Vec<u64>,
    /// Missing, but too recent (or not yet dated by a later record): left for later.
    pub left: Vec<u64>,
}

/// Finds the missing numbers of `year` older than `grace` and, unless `dry_run`, voids
/// them with the cause `admin` under `request_id`. At most [`MAX_LISTED_MISSING`]
/// numbers a run (the audit's listing); run it again for more.
pub async fn repair(
    store: &dyn Store,
    year: u16,
    grace: Duration,
    dry_run: bool,
    request_id: &str,
) -> Result<Repair, StoreError> {
    let audit = store.audit(year).await?;
    let now = Timestamp::now();
    let mut report = Repair {
        year,
        missing: audit.missing_count,
        ..Repair::default()
    };
    debug_assert!(audit.missing.len() <= MAX_LISTED_MISSING);
    for run in runs(&audit.missing) {
        let (first, last) = (run[0], run[run.len() - 1]);
        let dated_by = created_above(store, year, last, audit.counter).await?;
        let old = dated_by.is_some_and(|t| now.seconds_since(t) >= grace.as_secs_f64());
        tracing::info!(year, first, last, old, "repair: a run of missing numbers");
        if old {
            report.voided.extend(run);
        } else {
            report.left.extend(run);
        }
    }
    if !dry_run && !report.voided.is_empty() {
        let voiding = Voiding {
            year,
            numbers: std::mem::take(&mut report.voided),
            cause: VoidCause::Admin,
            request_id: request_id.to_owned(),
        };
        report.voided = store.void_numbers(voiding).await?;
    }
    Ok(report)
}

/// The runs of consecutive numbers in sorted `numbers`.
fn runs(numbers: &[u64]) -> Vec<Vec<u64>> {
    let mut runs: Vec<Vec<u64>> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some(run) if run.last() == Some(&(n - 1)) => run.push(n),
            _ => runs.push(vec![n]),
        }
    }
    runs
}

/// When the first record above `last` (within [`LOOKAHEAD`], at or below the counter)
/// was created.
async fn created_above(
    store: &dyn Store,
    year: u16,
    last: u64,
    counter: u64,
) -> Result<Option<Timestamp>, StoreError> {
    for n in (last + 1)..=(last + LOOKAHEAD).min(counter) {
        let Some(vtid) = u32::try_from(n).ok().and_then(|seq| Vtid::new(year, seq)) else {
            break;
        };
        if let Some(r) = store.get(vtid).await? {
            return Ok(Some(r.created_at));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_numbers_are_taken_in_runs() {
        assert_eq!(
            runs(&[2, 3, 4, 7, 9, 10]),
            [vec![2, 3, 4], vec![7], vec![9, 10]]
        );
        assert_eq!(runs(&[]), Vec::<Vec<u64>>::new());
    }
}
