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
/// Sort key prefix of the notes of void numbers, kept beside the counter (the number is
/// given up; its record key holds a tombstone, see `dynamo::void`).
pub const VOID_SK_PREFIX: &str = "VOID#";
pub const IDEMPOTENCY_SK: &str = "IDEM";

/// The attributes a list reads from an index: the record's document and what the filters
/// test. Nothing else (not the creation entry the record item also carries) is copied
/// into the list indexes.
pub const LIST_ATTRIBUTES: [&str; 7] = [
    "doc",
    "isTest",
    "taskFamily",
    "status",
    "tenant",
    "assignedTo",
    "parentVtid",
];

/// The type of an index's partition key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    S,
    N,
}

/// What an index copies of each item besides the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// Only the keys: the audit reads numbers and nothing else.
    KeysOnly,
    /// What a list page needs ([`LIST_ATTRIBUTES`]).
    ListAttributes,
}

/// A global secondary index: partitioned by one dimension, sorted by [`ORD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub partition: &'static str,
    pub partition_type: KeyType,
    pub projection: Projection,
}

impl Index {
    const fn list(name: &'static str, partition: &'static str) -> Self {
        Self {
            name,
            partition,
            partition_type: KeyType::S,
            projection: Projection::ListAttributes,
        }
    }

    /// The non-key attributes this index copies (its own key attributes always come along).
    pub fn non_key_attributes(&self) -> Vec<&'static str> {
        match self.projection {
            Projection::KeysOnly => Vec::new(),
            Projection::ListAttributes => LIST_ATTRIBUTES
                .iter()
                .copied()
                .filter(|a| *a != self.partition)
                .collect(),
        }
    }
}

/// One index per filter dimension, one for the unfiltered list, and a keys-only one per
/// year for the audit.
pub const INDEXES: [Index; 7] = [
    Index::list("byAll", LIST_ALL_ATTRIBUTE),
    Index::list("byTaskFamily", "taskFamily"),
    Index::list("byStatus", "status"),
    Index::list("byTenant", "tenant"),
    Index::list("byAssignedTo", "assignedTo"),
    Index::list("byParentVtid", "parentVtid"),
    AUDIT_INDEX,
];

/// The audit's index: partition `year` (a number), keys only.
pub const AUDIT_INDEX: Index = Index {
    name: "byYear",
    partition: YEAR_ATTRIBUTE,
    partition_type: KeyType::N,
    projection: Projection::KeysOnly,
};

/// The record item's year (a number), the audit index's partition.
pub const YEAR_ATTRIBUTE: &str = "year";

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

pub fn void_sk(number: u64) -> String {
    format!("{VOID_SK_PREFIX}{number:010}")
}

pub fn idempotency_pk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}
