//! Items and attributes: how records, history entries and keys look in the table (see
//! `schema` for the layout), and the small helpers every module reads items with.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::super::StoreError;
use super::super::schema::{self, ORD, PK, RECORD_SK, SK};
use crate::record::{HistoryEntry, Record};
use crate::vtid::Vtid;

pub type Item = HashMap<String, AttributeValue>;

/// The record's JSON document.
pub const DOC: &str = "doc";
/// The record item's creation entry (history version 1).
pub const CREATED: &str = "created";
/// The counter item's value: the highest number reserved in the year.
pub const COUNTER_VALUE: &str = "n";
/// The token of the write that made or last changed an item (a record, a tombstone): a
/// write sent again after a lost answer recognises its own work by it (see `sequencing`,
/// `update`, `void`), on any DynamoDB-compatible server, whatever it does with
/// `ClientRequestToken`.
pub const WRITER: &str = "writer";
/// A fresh writer token: 64 random bits, 16 characters on every item it marks.
pub fn writer_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// A tombstone's cause: the item at a record's key that says the number was given up.
pub const VOID_CAUSE: &str = "voidCause";

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub fn record_key(vtid: Vtid) -> Item {
    key(vtid.to_string(), RECORD_SK)
}

pub fn counter_key(year: u16) -> Item {
    key(schema::counter_pk(year), schema::COUNTER_SK)
}

pub fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// A JSON document kept in a string attribute.
pub fn doc<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    let text = get_s(item, name).ok_or_else(|| internal(format!("item without {name}")))?;
    serde_json::from_str(text).map_err(internal)
}

pub fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

/// A record item: the JSON document plus the attributes the indexes and filters use.
/// Null filter attributes are left out, so the sparse indexes skip them. The creation
/// entry lives in the record item: one item per record keeps a batch of 50 inside one
/// transaction.
pub fn record_item(r: &Record, creation: &HistoryEntry, writer: &str) -> Result<Item, StoreError> {
    let mut item = record_key(r.vtid);
    item.insert(WRITER.into(), s(writer));
    item.insert(ORD.into(), n(r.vtid.ordinal()));
    item.insert(schema::LIST_ALL_ATTRIBUTE.into(), s(schema::LIST_ALL_VALUE));
    item.insert(schema::YEAR_ATTRIBUTE.into(), n(r.vtid.year()));
    item.insert("taskFamily".into(), s(&r.task_family));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("tenant".into(), s(&r.tenant));
    if let Some(a) = &r.assigned_to {
        item.insert("assignedTo".into(), s(a));
    }
    if let Some(p) = r.parent_vtid {
        item.insert("parentVtid".into(), s(p.to_string()));
    }
    item.insert("isTest".into(), AttributeValue::Bool(r.is_test));
    item.insert("version".into(), n(r.version));
    item.insert(DOC.into(), s(to_json(r)?));
    item.insert(CREATED.into(), s(to_json(creation)?));
    Ok(item)
}

/// Whether an item at a record's key is a tombstone (a number given up), not a record.
pub fn is_tombstone(item: &Item) -> bool {
    item.contains_key(VOID_CAUSE)
}

/// Whether `item` was written by the write that carries `writer`.
pub fn written_by(item: &Item, writer: &str) -> bool {
    get_s(item, WRITER) == Some(writer)
}

/// A history item of one change (version 2 and up).
pub fn history_item(entry: &HistoryEntry) -> Result<Item, StoreError> {
    let mut item = key(entry.vtid.to_string(), schema::history_sk(entry.to_version));
    item.insert(DOC.into(), s(to_json(entry)?));
    Ok(item)
}
