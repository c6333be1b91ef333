//! The DynamoDB table's one definition: keys, item kinds and indexes. `vtid serve
//! --create-table` builds the table from this, and a test holds `template.yaml` to it.

/// Partition and sort key of the table.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Sort key of every index: `year * 10^10 + sequence`, a number, so order is numeric.
pub const ORD: &str = "ord";
/// Idempotency items expire through DynamoDB TTL on this attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// Constant partition of the unfiltered list index.
pub const LIST_ALL_ATTRIBUTE: &str = "listAll";
pub const LIST_ALL_VALUE: &str = "ALL";

/// Sort key of a record item (partition: the VTID itself).
pub const RECORD_SK: &str = "RECORD";
/// Sort key prefix of history items (partition: the VTID; then the zero-padded version).
pub const HISTORY_SK_PREFIX: &str = "H#";
/// Sort key of a year's counter item (partition: `COUNTER#YYYY`).
pub const COUNTER_SK: &str = "COUNTER";
/// Sort key prefix of the import skip notes, kept beside the counter.
pub const SKIP_SK_PREFIX: &str = "SKIP#";
pub const IDEMPOTENCY_SK: &str = "IDEM";

/// A global secondary index: partitioned by one filter dimension, sorted by [`ORD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub partition: &'static str,
}

/// One index per filter dimension, plus one for the unfiltered list. Each projects all
/// attributes so that a list page is one query.
pub const INDEXES: [Index; 6] = [
    Index {
        name: "byAll",
        partition: LIST_ALL_ATTRIBUTE,
    },
    Index {
        name: "byTaskFamily",
        partition: "taskFamily",
    },
    Index {
        name: "byStatus",
        partition: "status",
    },
    Index {
        name: "byTenant",
        partition: "tenant",
    },
    Index {
        name: "byAssignedTo",
        partition: "assignedTo",
    },
    Index {
        name: "byParentVtid",
        partition: "parentVtid",
    },
];

pub fn index(partition: &str) -> Index {
    INDEXES
        .iter()
        .copied()
        .find(|i| i.partition == partition)
        .unwrap_or(INDEXES[0])
}

pub fn counter_pk(year: u16) -> String {
    format!("COUNTER#{year}")
}

pub fn history_sk(version: u64) -> String {
    format!("{HISTORY_SK_PREFIX}{version:010}")
}

pub fn skip_sk(to: u64) -> String {
    format!("{SKIP_SK_PREFIX}{to:010}")
}

pub fn idempotency_pk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}
