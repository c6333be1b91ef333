//! DynamoDB's JSON 1.0 protocol as far as the proxy needs it: which operation a request
//! is, which items it writes, its `ClientRequestToken`, and the error bodies DynamoDB
//! answers with.

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

const TARGET_PREFIX: &str = "DynamoDB_20120810.";
const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// The operation named by `X-Amz-Target`, or "" when there is none.
pub fn operation(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("")
        .to_owned()
}

pub fn is_write(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
    )
}

pub fn is_transaction(operation: &str) -> bool {
    operation == "TransactWriteItems"
}

/// The items a write touches, in request order (a transaction's items in the order of
/// `TransactItems`, so a cancellation can name each one's reason). Each item is named by
/// its table and key attributes.
pub fn written_items(operation: &str, body: &Value, key_attributes: &[String]) -> Vec<String> {
    let name = |table: &Value, attrs: &Value| {
        let mut id = table.as_str().unwrap_or("").to_owned();
        for k in key_attributes {
            id.push('|');
            id.push_str(&attrs.get(k).map(Value::to_string).unwrap_or_default());
        }
        id
    };
    match operation {
        "PutItem" => vec![name(&body["TableName"], &body["Item"])],
        "UpdateItem" | "DeleteItem" => vec![name(&body["TableName"], &body["Key"])],
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                for (kind, attrs) in [
                    ("Put", "Item"),
                    ("Update", "Key"),
                    ("Delete", "Key"),
                    ("ConditionCheck", "Key"),
                ] {
                    if let Some(op) = entry.get(kind) {
                        return name(&op["TableName"], &op[attrs]);
                    }
                }
                String::new()
            })
            .collect(),
        "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(table, requests)| {
                let table = Value::String(table.clone());
                requests
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |r| match r.get("PutRequest") {
                        Some(p) => name(&table, &p["Item"]),
                        None => name(&table, &r["DeleteRequest"]["Key"]),
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A transaction's `ClientRequestToken`, when it has one.
pub fn client_request_token(operation: &str, body: &Value) -> Option<String> {
    if !is_transaction(operation) {
        return None;
    }
    body["ClientRequestToken"].as_str().map(str::to_owned)
}

/// A DynamoDB error answer.
pub fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    answer(
        status,
        json!({"__type": format!("{ERROR_PREFIX}{code}"), "message": message}),
    )
}

/// A cancelled transaction with one reason per item (`None` for items that were fine).
pub fn cancelled(reasons: &[&str]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let list: Vec<Value> = reasons
        .iter()
        .map(|r| match *r {
            "None" => json!({"Code": "None"}),
            "TransactionConflict" => {
                json!({"Code": r, "Message": "Transaction is ongoing for the item"})
            }
            other => json!({"Code": other, "Message": "Throughput exceeds the current capacity"}),
        })
        .collect();
    answer(
        StatusCode::BAD_REQUEST,
        json!({
            "__type": format!("{ERROR_PREFIX}TransactionCanceledException"),
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", reasons.join(", ")),
            "CancellationReasons": list,
        }),
    )
}

fn answer(status: StatusCode, body: Value) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    (status, headers, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["pk".into(), "sk".into()]
    }

    #[test]
    fn items_of_each_write_are_named_by_table_and_key() {
        let put = json!({"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "R"}, "doc": {"S": "x"}}});
        let update = json!({"TableName": "t", "Key": {"sk": {"S": "R"}, "pk": {"S": "a"}}});
        assert_eq!(
            written_items("PutItem", &put, &keys()),
            written_items("UpdateItem", &update, &keys()),
            "the same item whatever the attribute order"
        );
        let tx = json!({"TransactItems": [
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "p"}, "sk": {"S": "R"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "c"}, "sk": {"S": "C"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "R"}}}},
        ]});
        let items = written_items("TransactWriteItems", &tx, &keys());
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], written_items("PutItem", &put, &keys())[0]);
        assert!(written_items("GetItem", &put, &keys()).is_empty());
    }

    #[test]
    fn error_bodies_name_the_code_as_the_sdk_reads_it() {
        let (status, _, body) = error(StatusCode::BAD_REQUEST, "ThrottlingException", "slow down");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400);
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ThrottlingException"
        );
        let (_, _, body) = cancelled(&["None", "TransactionConflict"]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["CancellationReasons"][1]["Code"], "TransactionConflict");
        assert_eq!(v["CancellationReasons"][0], json!({"Code": "None"}));
    }
}
