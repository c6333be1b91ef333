//! The audit's arithmetic, the same for both stores: from the numbers present, the
//! counter, the numbers the ledger gave up (void) and the ranges imports skipped, what is
//! missing, doubled or above the counter. The report is also what clients read back from
//! `GET /vtid/audit`.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;
use crate::vtid::Vtid;

/// Why the ledger gave a number up. Each is recorded by the request that gave it up (or
/// by an admin), at the record's own key, so that no record can appear there later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidCause {
    /// The writer reached its deadline before its write was confirmed.
    Deadline,
    /// The store refused or failed the write for a reason other than time.
    WriteFailed,
    /// A record written by something that ignored the counter held part of the block.
    Collision,
    /// An admin voided a number that nobody accounted for (`vtid repair`), after a grace period.
    Admin,
}

impl VoidCause {
    pub fn as_str(self) -> &'static str {
        match self {
            VoidCause::Deadline => "deadline",
            VoidCause::WriteFailed => "write_failed",
            VoidCause::Collision => "collision",
            VoidCause::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            VoidCause::Deadline,
            VoidCause::WriteFailed,
            VoidCause::Collision,
            VoidCause::Admin,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A number the ledger gave up: never a record, never listed, 404 on GET.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Void {
    pub number: u64,
    pub cause: VoidCause,
    /// The request that gave it up (empty where none was known, such as a CLI run).
    pub request_id: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub year: u16,
    pub counter: u64,
    pub records: u64,
    /// At most [`MAX_LISTED_MISSING`] numbers; `missing_count` counts them all.
    pub missing: Vec<u64>,
    pub missing_count: u64,
    /// Numbers given up, each with its cause (at most [`MAX_LISTED_MISSING`]).
    #[serde(default)]
    pub void: Vec<Void>,
    pub duplicates: Vec<String>,
    pub skipped: Vec<[u64; 2]>,
    /// Records numbered past the counter: written by something that did not advance it.
    pub above_counter: Vec<String>,
}

impl Audit {
    /// Fills `missing` from the numbers seen, the counter, the void numbers and the
    /// skipped ranges. A void number is accounted for, so it is not missing; a void
    /// number that also holds a record cannot happen (both live at the record's key).
    pub fn compute(
        year: u16,
        counter: u64,
        mut seqs: Vec<u64>,
        mut void: Vec<Void>,
        skipped: Vec<[u64; 2]>,
    ) -> Self {
        void.sort_by_key(|v| v.number);
        void.dedup_by_key(|v| v.number);
        // Void numbers are subtracted as one-number ranges, beside the import's skips.
        let mut accounted: Vec<[u64; 2]> = void.iter().map(|v| [v.number, v.number]).collect();
        accounted.extend(skipped.iter().copied());
        accounted.sort_unstable();
        void.truncate(MAX_LISTED_MISSING);
        seqs.sort_unstable();
        let mut duplicates = Vec::new();
        for w in seqs.windows(2) {
            if w[0] == w[1] {
                duplicates.push(vtid_string(year, w[0]));
            }
        }
        duplicates.dedup();
        let records = seqs.len() as u64;
        seqs.dedup();
        // Walk the gaps between present numbers rather than every number up to the counter.
        let mut missing = Vec::new();
        let mut missing_count = 0u64;
        let mut next = 1u64;
        for present in seqs
            .iter()
            .copied()
            .filter(|&n| n <= counter)
            .chain([counter + 1])
        {
            for gap in subtract(next, present.saturating_sub(1), &accounted) {
                missing_count += gap[1] - gap[0] + 1;
                let room = MAX_LISTED_MISSING.saturating_sub(missing.len()) as u64;
                missing.extend(gap[0]..=gap[1].min(gap[0].saturating_add(room).saturating_sub(1)));
            }
            next = present + 1;
        }
        let above_counter = seqs
            .iter()
            .filter(|&&n| n > counter)
            .map(|&n| vtid_string(year, n))
            .collect();
        Self {
            year,
            counter,
            records,
            missing,
            missing_count,
            void,
            duplicates,
            skipped,
            above_counter,
        }
    }
}

/// The most missing numbers an audit lists (it counts them all).
pub const MAX_LISTED_MISSING: usize = 10_000;

/// `[from, to]` without the `skipped` ranges (sorted or not), as ranges.
fn subtract(from: u64, to: u64, skipped: &[[u64; 2]]) -> Vec<[u64; 2]> {
    let mut parts = vec![[from, to]];
    if from > to {
        return Vec::new();
    }
    for [a, b] in skipped {
        parts = parts
            .into_iter()
            .flat_map(|[x, y]| {
                let mut kept = Vec::new();
                if *a > x {
                    kept.push([x, y.min(a - 1)]);
                }
                if *b < y {
                    kept.push([x.max(b + 1), y]);
                }
                kept.into_iter().filter(|[p, q]| p <= q)
            })
            .collect();
    }
    parts
}

/// The ranges in `(from, to]` that hold none of `imported`.
pub fn skipped_ranges(from: u64, to: u64, imported: &[u64]) -> Vec<[u64; 2]> {
    let mut taken: Vec<u64> = imported
        .iter()
        .copied()
        .filter(|n| *n > from && *n <= to)
        .collect();
    taken.sort_unstable();
    taken.dedup();
    let mut ranges = Vec::new();
    let mut next = from + 1;
    for n in taken.into_iter().chain(std::iter::once(to + 1)) {
        if n > next {
            ranges.push([next, n - 1]);
        }
        next = n + 1;
    }
    ranges
}

fn vtid_string(year: u16, seq: u64) -> String {
    u32::try_from(seq)
        .ok()
        .and_then(|s| Vtid::new(year, s))
        .map_or_else(|| format!("VTID-{year}-{seq:04}"), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_walks_gaps_and_honours_skips() {
        let a = Audit::compute(2026, 10, vec![1, 2, 5, 5, 9, 12], vec![], vec![[6, 7]]);
        assert_eq!(a.missing, [3, 4, 8, 10]);
        assert_eq!(a.missing_count, 4);
        assert_eq!(a.records, 6);
        assert_eq!(a.duplicates, ["VTID-2026-0005"]);
        assert_eq!(a.above_counter, ["VTID-2026-0012"]);
    }

    #[test]
    fn audit_of_a_huge_counter_is_bounded() {
        let a = Audit::compute(2026, 4_000_000_000, vec![1], vec![], vec![[2, 1_000]]);
        assert_eq!(a.missing.len(), MAX_LISTED_MISSING);
        assert_eq!(a.missing[0], 1_001);
        assert_eq!(a.missing_count, 4_000_000_000 - 1_000);
    }

    #[test]
    fn void_numbers_are_accounted_for_and_listed_with_their_cause() {
        let void = |number, cause| Void {
            number,
            cause,
            request_id: format!("r{number}"),
            at: Timestamp::now(),
        };
        let a = Audit::compute(
            2026,
            8,
            vec![1, 5, 8],
            vec![
                void(3, VoidCause::Deadline),
                void(2, VoidCause::WriteFailed),
            ],
            vec![[6, 6]],
        );
        assert_eq!(
            a.missing,
            [4, 7],
            "void and skipped numbers are not missing"
        );
        assert_eq!(a.missing_count, 2);
        let listed: Vec<(u64, VoidCause)> = a.void.iter().map(|v| (v.number, v.cause)).collect();
        assert_eq!(
            listed,
            [(2, VoidCause::WriteFailed), (3, VoidCause::Deadline)],
            "sorted by number"
        );
        let json = serde_json::to_value(&a.void[0]).unwrap();
        assert_eq!(json["cause"], "write_failed");
        assert_eq!(json["requestId"], "r2");
        for c in [
            VoidCause::Deadline,
            VoidCause::WriteFailed,
            VoidCause::Collision,
            VoidCause::Admin,
        ] {
            assert_eq!(VoidCause::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    #[test]
    fn skipped_ranges_leave_out_imported_numbers() {
        assert_eq!(skipped_ranges(5, 20, &[10, 11, 20, 3]), [[6, 9], [12, 19]]);
        assert_eq!(skipped_ranges(5, 5, &[]), Vec::<[u64; 2]>::new());
    }
}
