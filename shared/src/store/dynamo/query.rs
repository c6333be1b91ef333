//! Index queries: the list and the audit. A list page reads at most [`limits::LIST`]
//! queries, so no filter can make it read unbounded data; when the budget runs out first
//! it answers with what it found and where it stopped. A search (`q`) has no index here:
//! the list's own query reads the candidates and each is tested in this code, within
//! the same budget.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::errors::sdk_error;
use super::item::{DOC, Item, doc, get_n, n, s};
use crate::record::Record;
use crate::store::limits::{self, LIST};
use crate::store::schema::{self, Index, ORD};
use crate::store::{Audit, ListQuery, Page, StoreError, list_dimensions};
use crate::vtid::Vtid;

/// One index query newest first (or oldest first), page by page.
struct IndexQuery {
    index: Index,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    filter: Option<String>,
    projection: Option<String>,
    newest_first: bool,
}

/// One query's answer: the items, and where the next query would start.
struct Read {
    items: Vec<Item>,
    start: Option<Item>,
}

impl IndexQuery {
    /// `partition = value AND ord BETWEEN low AND high` on `index`.
    fn new(index: Index, partition_value: AttributeValue, low: u64, high: u64) -> Self {
        Self {
            index,
            names: HashMap::from([
                ("#p".to_owned(), index.partition.to_owned()),
                ("#o".to_owned(), ORD.to_owned()),
            ]),
            values: HashMap::from([
                (":p".to_owned(), partition_value),
                (":low".to_owned(), n(low)),
                (":high".to_owned(), n(high)),
            ]),
            filter: None,
            projection: None,
            newest_first: true,
        }
    }
}

impl DynamoStore {
    async fn query_once(
        &self,
        q: &IndexQuery,
        start: Option<Item>,
        limit: Option<usize>,
    ) -> Result<Read, StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(q.index.name)
            .key_condition_expression("#p = :p AND #o BETWEEN :low AND :high")
            .set_expression_attribute_names(Some(q.names.clone()))
            .set_expression_attribute_values(Some(q.values.clone()))
            .scan_index_forward(!q.newest_first)
            .set_filter_expression(q.filter.clone())
            .set_projection_expression(q.projection.clone())
            .set_exclusive_start_key(start);
        if let Some(l) = limit {
            req = req.limit(i32::try_from(l).unwrap_or(i32::MAX));
        }
        let out = req.send().await.map_err(sdk_error)?;
        Ok(Read {
            items: out.items().to_vec(),
            start: out.last_evaluated_key().cloned(),
        })
    }

    pub(super) async fn list_page(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let q = list_query(query);
        let wanted = query.limit + 1;
        let mut records: Vec<Record> = Vec::with_capacity(wanted);
        let mut start: Option<Item> = None;
        let mut stopped_at = None;
        for round in 0..LIST.queries {
            // DynamoDB's Limit counts items read before the filter: ask for what is still
            // missing (an eighth more when a filter may drop some, so that a few test rows
            // do not cost a second query), then eight times more each round while the
            // filter drops items, so that the budget reaches deep (about 1,300 items for a
            // page of 3, 2,500 for 50) before a page may come back short.
            let missing = wanted - records.len();
            let dropping = q.filter.is_some() || query.search.is_some();
            let slack = if dropping { missing / 8 } else { 0 };
            let read = (missing + slack)
                .saturating_mul(1 << (3 * round).min(20))
                .min(limits::MAX_QUERY_ITEMS);
            let out = self.query_once(&q, start.take(), Some(read)).await?;
            for item in &out.items {
                if records.len() < wanted {
                    let record = doc::<Record>(item, DOC)?;
                    // DynamoDB cannot fold case in a filter expression: the search is
                    // tested here, on the items the query read anyway.
                    if query
                        .search
                        .as_ref()
                        .is_none_or(|s| s.matches_record(&record))
                    {
                        records.push(record);
                    }
                }
            }
            start = out.start;
            if records.len() >= wanted {
                break;
            }
            let Some(last) = &start else { break };
            if round + 1 == LIST.queries {
                // Out of budget: continue below the last item read.
                stopped_at = get_n(last, ORD).and_then(Vtid::from_ordinal);
            }
        }
        let more = records.len() > query.limit;
        records.truncate(query.limit);
        let next = if more {
            records.last().map(|r| r.vtid)
        } else {
            stopped_at
        };
        Ok(Page { records, next })
    }

    pub(super) async fn audit_year(&self, year: u16) -> Result<Audit, StoreError> {
        let low = u64::from(year) * 10_000_000_000;
        // The keys-only index of the year: the least a count of numbers can read.
        let mut q = IndexQuery::new(schema::AUDIT_INDEX, n(year), low, low + 9_999_999_999);
        q.projection = Some("#o".into());
        q.newest_first = false;
        let mut seqs = Vec::new();
        let mut start = None;
        loop {
            let out = self.query_once(&q, start, None).await?;
            seqs.extend(
                out.items
                    .iter()
                    .filter_map(|i| get_n(i, ORD))
                    .map(|o| o - low),
            );
            start = out.start;
            if start.is_none() {
                break;
            }
        }
        let notes = self.counter_notes(year).await?;
        Ok(Audit::compute(
            year,
            notes.counter,
            seqs,
            notes.void,
            notes.skipped,
        ))
    }
}

/// The query a list runs: the first of [`list_dimensions`] picks the index (else
/// `byAll`), `year`
/// and the cursor narrow the key range, the other filters are a filter expression. Every
/// value is an expression attribute value, never text of the expression.
fn list_query(query: &ListQuery) -> IndexQuery {
    let f = &query.filters;
    let dims: Vec<(&str, String)> = list_dimensions(query)
        .into_iter()
        .map(|(d, v)| (d.attribute(), v))
        .collect();
    let (index, partition_value) = match dims.first() {
        Some((attr, v)) => (schema::index(attr), v.clone()),
        None => (
            schema::index(schema::LIST_ALL_ATTRIBUTE),
            schema::LIST_ALL_VALUE.to_owned(),
        ),
    };
    let (mut low, mut high) = (0u64, u64::MAX / 2);
    if let Some(y) = f.year {
        low = u64::from(y) * 10_000_000_000;
        high = low + 9_999_999_999;
    }
    if let Some(after) = query.after {
        high = high.min(after.ordinal().saturating_sub(1));
    }
    let mut q = IndexQuery::new(index, s(partition_value), low, high);
    let mut filters = Vec::new();
    for (i, (attr, v)) in dims.iter().enumerate().skip(1) {
        filters.push(format!("#f{i} = :f{i}"));
        q.names.insert(format!("#f{i}"), (*attr).to_owned());
        q.values.insert(format!(":f{i}"), s(v.clone()));
    }
    if !query.include_test {
        filters.push("#test = :false".into());
        q.names.insert("#test".into(), "isTest".into());
        q.values
            .insert(":false".into(), AttributeValue::Bool(false));
    }
    if !filters.is_empty() {
        q.filter = Some(filters.join(" AND "));
    }
    q
}
