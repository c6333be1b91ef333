//! The daily audit (the `vtid-daily-audit` function, on a schedule): audits this year,
//! and in January the previous one too (its last numbers may have been issued in the
//! last minutes of December), publishes the figures as metrics, and logs each full
//! report. The alarm on `AuditMissing` asks for `vtid repair` (or an explanation); no
//! data for a day (the audit did not run) alarms too.

use serde_json::{Value, json};

use crate::App;
use crate::metrics::{self, name};
use crate::store::Audit;
use crate::timestamp::Timestamp;

/// The years to audit on `today`: this one, and the one before in January.
pub fn years(today: Timestamp) -> Vec<u16> {
    use chrono::Datelike;
    let year = today.year();
    if today.as_datetime().month() == 1 {
        vec![year - 1, year]
    } else {
        vec![year]
    }
}

/// Audits each year, publishes the figures and logs each report; the reports.
pub async fn run(app: &App, today: Timestamp) -> Result<Value, String> {
    let mut reports = Vec::new();
    for year in years(today) {
        let audit = app
            .unscoped_store()
            .audit(year)
            .await
            .map_err(|e| format!("the audit of {year} failed: {e}"))?;
        tracing::info!(year, report = %json!(audit), "daily audit");
        reports.push(audit);
    }
    publish(&reports);
    Ok(json!({"ok": true, "data": reports}))
}

/// The figures, summed over the years audited: what the alarm and the dashboard read.
fn publish(reports: &[Audit]) {
    let sum = |f: fn(&Audit) -> u64| reports.iter().map(f).sum::<u64>() as f64;
    metrics::gauge(name::AUDIT_COUNTER, sum(|a| a.counter));
    metrics::gauge(name::AUDIT_RECORDS, sum(|a| a.records));
    metrics::gauge(name::AUDIT_VOID, sum(|a| a.void.len() as u64));
    metrics::gauge(name::AUDIT_MISSING, sum(|a| a.missing_count));
    metrics::gauge(
        name::AUDIT_ANOMALIES,
        sum(|a| (a.duplicates.len() + a.above_counter.len()) as u64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn january_audits_the_year_before_too() {
        let at = |s: &str| Timestamp::parse_lenient(s).expect("a time");
        assert_eq!(years(at("2027-01-01T00:05:00Z")), [2026, 2027]);
        assert_eq!(years(at("2027-01-31T23:59:59Z")), [2026, 2027]);
        assert_eq!(years(at("2027-02-01T00:00:00Z")), [2027]);
        assert_eq!(years(at("2026-12-31T23:00:00Z")), [2026]);
    }
}
