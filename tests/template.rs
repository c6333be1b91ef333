//! One source of truth for the table: `template.yaml` must declare exactly the keys,
//! attributes, indexes, TTL attribute and stream that `shared::store::schema` declares
//! (and `vtid serve --create-table` creates). Also: every function binary of the
//! workspace is one function of the template, built by cargo-lambda for arm64.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;
use shared::store::schema::{
    AUDIT_INDEX, INDEXES, KeyType, ORD, PK, Projection, SK, TTL_ATTRIBUTE,
};

/// The table as a comparable value: what both sides must agree on.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    /// (attribute, HASH | RANGE), in key order.
    key: Vec<(String, String)>,
    /// (attribute, S | N | B).
    attributes: BTreeSet<(String, String)>,
    /// index name -> (key schema, projection).
    indexes: BTreeMap<String, (Vec<(String, String)>, String)>,
    ttl_attribute: String,
    stream_view: String,
    billing: String,
}

/// A projection as comparable text: its type and, for INCLUDE, the sorted attributes.
fn projection(kind: &str, non_key: impl IntoIterator<Item = String>) -> String {
    let mut attrs: Vec<String> = non_key.into_iter().collect();
    attrs.sort();
    if attrs.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", attrs.join(", "))
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

/// What `shared::store::schema` declares.
fn from_schema() -> TableShape {
    let mut attributes = BTreeSet::from([pair(PK, "S"), pair(SK, "S"), pair(ORD, "N")]);
    attributes.extend(INDEXES.iter().map(|i| {
        let t = match i.partition_type {
            KeyType::S => "S",
            KeyType::N => "N",
        };
        pair(i.partition, t)
    }));
    TableShape {
        key: vec![pair(PK, "HASH"), pair(SK, "RANGE")],
        attributes,
        indexes: INDEXES
            .iter()
            .map(|i| {
                (
                    i.name.to_owned(),
                    (
                        vec![pair(i.partition, "HASH"), pair(ORD, "RANGE")],
                        projection(
                            match i.projection {
                                Projection::KeysOnly => "KEYS_ONLY",
                                Projection::ListAttributes => "INCLUDE",
                            },
                            i.non_key_attributes().into_iter().map(str::to_owned),
                        ),
                    ),
                )
            })
            .collect(),
        ttl_attribute: TTL_ATTRIBUTE.to_owned(),
        stream_view: "NEW_AND_OLD_IMAGES".to_owned(),
        billing: "PAY_PER_REQUEST".to_owned(),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn template() -> Value {
    let path = root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, !If) parse as tagged values.
    serde_yaml::from_str(&text).expect("template.yaml is valid YAML")
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources")
        .iter()
        .map(|(k, v)| (k.as_str().expect("resource name").to_owned(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

#[track_caller]
fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} must be a literal string in template.yaml, found {v:?}"))
}

fn key_schema(v: &Value, what: &str) -> Vec<(String, String)> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: KeySchema must be a list"))
        .iter()
        .map(|k| {
            pair(
                text(&k["AttributeName"], "AttributeName"),
                text(&k["KeyType"], "KeyType"),
            )
        })
        .collect()
}

/// What `template.yaml` declares for its one table.
fn from_template(t: &Value) -> TableShape {
    let tables = of_type(t, "AWS::DynamoDB::Table");
    assert_eq!(
        tables.len(),
        1,
        "template.yaml must declare exactly one DynamoDB table"
    );
    let p = &tables[0].1["Properties"];
    let definitions = p["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions must be a list");
    let attributes: BTreeSet<(String, String)> = definitions
        .iter()
        .map(|d| {
            pair(
                text(&d["AttributeName"], "AttributeName"),
                text(&d["AttributeType"], "AttributeType"),
            )
        })
        .collect();
    assert_eq!(
        attributes.len(),
        definitions.len(),
        "an attribute is defined twice in template.yaml"
    );
    let gsis = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes must be a list");
    let indexes: BTreeMap<_, _> = gsis
        .iter()
        .map(|g| {
            let name = text(&g["IndexName"], "IndexName").to_owned();
            let keys = key_schema(&g["KeySchema"], &name);
            let non_key = g["Projection"]["NonKeyAttributes"]
                .as_sequence()
                .map(|a| {
                    a.iter()
                        .map(|v| text(v, "NonKeyAttributes").to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let projection = projection(
                text(&g["Projection"]["ProjectionType"], "ProjectionType"),
                non_key,
            );
            (name, (keys, projection))
        })
        .collect();
    assert_eq!(
        indexes.len(),
        gsis.len(),
        "an index is declared twice in template.yaml"
    );
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(
        ttl["Enabled"].as_bool(),
        Some(true),
        "TTL must be enabled in template.yaml"
    );
    TableShape {
        key: key_schema(&p["KeySchema"], "table"),
        attributes,
        indexes,
        ttl_attribute: text(&ttl["AttributeName"], "TTL AttributeName").to_owned(),
        stream_view: text(
            &p["StreamSpecification"]["StreamViewType"],
            "StreamViewType",
        )
        .to_owned(),
        billing: text(&p["BillingMode"], "BillingMode").to_owned(),
    }
}

#[test]
fn template_table_equals_the_schema() {
    assert_eq!(
        from_template(&template()),
        from_schema(),
        "template.yaml's table differs from shared/src/store/schema.rs (left: template, right: code)"
    );
}

#[test]
fn template_table_keeps_its_data() {
    let t = template();
    let (_, table) = of_type(&t, "AWS::DynamoDB::Table").remove(0);
    let p = &table["Properties"];
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true),
        "point-in-time recovery must be on"
    );
    assert!(
        !p["DeletionProtectionEnabled"].is_null(),
        "deletion protection must be set (from the DeletionProtection parameter)"
    );
    assert_eq!(
        t["Parameters"]["DeletionProtection"]["Default"].as_str(),
        Some("true"),
        "deletion protection must default to on"
    );
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
    assert!(
        p["TableName"].is_null(),
        "a fixed TableName would collide on a second stack"
    );
}

/// Every string in the template, tags included (`!Sub "${Table.Arn}/index/byAll"`).
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        Value::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

#[test]
fn policies_name_only_declared_indexes_and_list_and_audit_query_theirs() {
    let t = template();
    let names: BTreeSet<&str> = INDEXES.iter().map(|i| i.name).collect();
    let mut all = Vec::new();
    strings(&t["Resources"], &mut all);
    for s in &all {
        if let Some((_, index)) = s.split_once("/index/") {
            assert!(
                names.contains(index),
                "template.yaml names index {index}, which schema.rs does not declare"
            );
        }
    }
    let granted = |function: &str| -> BTreeSet<String> {
        let mut found = Vec::new();
        strings(
            &t["Resources"][function]["Properties"]["Policies"],
            &mut found,
        );
        found
            .iter()
            .filter_map(|s| s.split_once("/index/").map(|(_, i)| i.to_owned()))
            .collect()
    };
    // The list function picks any list index, so its policy must cover them all; the
    // audit reads its keys-only index and nothing else.
    let lists: BTreeSet<String> = INDEXES
        .iter()
        .filter(|i| i.projection == Projection::ListAttributes)
        .map(|i| i.name.to_owned())
        .collect();
    assert_eq!(
        granted("ListFunction"),
        lists,
        "ListFunction must be allowed to query every list index"
    );
    assert_eq!(
        granted("AuditFunction"),
        BTreeSet::from([AUDIT_INDEX.name.to_owned()]),
        "AuditFunction queries the audit index only"
    );
}

/// Binary name of each functions/* crate.
fn function_binaries() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut in_bin = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin && let Some(name) = line.strip_prefix("name") {
                let name = name.trim_start().trim_start_matches('=').trim();
                out.insert(name.trim_matches('"').to_owned());
            }
        }
    }
    out
}

#[test]
fn every_function_binary_is_one_arm64_function_of_the_template() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(
        globals["Architectures"],
        serde_yaml::from_str::<Value>("[arm64]").unwrap()
    );
    assert_eq!(
        globals["CodeUri"].as_str(),
        Some("."),
        "CodeUri must be the workspace root"
    );
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let mut built = BTreeSet::new();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name} must be built by cargo-lambda"
        );
        let binary = text(&f["Metadata"]["BuildProperties"]["Binary"], "Binary").to_owned();
        assert!(
            built.insert(binary.clone()),
            "{binary} is built by two functions"
        );
    }
    let binaries = function_binaries();
    assert!(
        binaries.len() >= 10,
        "expected the ten endpoint binaries, found {binaries:?}"
    );
    assert_eq!(
        built, binaries,
        "template.yaml's functions (left) must be the workspace's function binaries (right)"
    );
}

/// The table that `DynamoStore::create_table` (`vtid serve --create-table`) really
/// creates on moto's server, read back with DescribeTable: it must equal the template.
#[tokio::test]
async fn created_table_equals_the_template() {
    vtid_tests::skip_without_dynamo!();
    let endpoint = vtid_tests::dynamo_endpoint();
    use shared::store::dynamo::{DynamoStore, endpoint_config};
    let table = format!("vtid-template-{}", std::process::id());
    let sdk = endpoint_config(&endpoint, "us-east-1").await;
    let store = DynamoStore::new(&sdk, &table);
    store.create_table().await.expect("create the table");
    let client = store.client();
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTable");
    let d = described.table().expect("a table description");
    let pairs = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        ks.iter()
            .map(|k| pair(k.attribute_name(), k.key_type().as_str()))
            .collect::<Vec<_>>()
    };
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTimeToLive");
    let created = TableShape {
        key: pairs(d.key_schema()),
        attributes: d
            .attribute_definitions()
            .iter()
            .map(|a| pair(a.attribute_name(), a.attribute_type().as_str()))
            .collect(),
        indexes: d
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                (
                    g.index_name().unwrap_or_default().to_owned(),
                    (
                        pairs(g.key_schema()),
                        projection(
                            g.projection()
                                .and_then(|p| p.projection_type())
                                .map(|p| p.as_str())
                                .unwrap_or_default(),
                            g.projection()
                                .map(|p| p.non_key_attributes().to_vec())
                                .unwrap_or_default(),
                        ),
                    ),
                )
            })
            .collect(),
        ttl_attribute: ttl
            .time_to_live_description()
            .and_then(|t| t.attribute_name())
            .unwrap_or_default()
            .to_owned(),
        stream_view: d
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        billing: d
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str().to_owned())
            .unwrap_or_else(|| "PAY_PER_REQUEST".to_owned()),
    };
    let _ = client.delete_table().table_name(&table).send().await;
    assert_eq!(
        created,
        from_template(&template()),
        "the table `vtid serve --create-table` creates (left) differs from template.yaml (right)"
    );
}

/// The template's HTTP routes are the route table's (`shared::api::routes::ROUTES`): each
/// function answers exactly its routes, and the fallback takes every method that a fixed
/// path does not serve but `/vtid/{vtid}` does (else API Gateway would read the fixed
/// path as a VTID), DELETE of a record, and the `$default` route.
#[test]
fn the_templates_routes_are_the_route_table() {
    use shared::api::routes::ROUTES;
    let t = template();
    let mut served: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut fallback: BTreeSet<(String, String)> = BTreeSet::new();
    let mut default_routes = 0;
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let binary = text(&f["Metadata"]["BuildProperties"]["Binary"], "Binary").to_owned();
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &event["Properties"];
            if p["Path"].is_null() && p["Method"].is_null() {
                assert_eq!(
                    binary, "vtid-fallback",
                    "{name}: only the fallback is $default"
                );
                default_routes += 1;
                continue;
            }
            let method = text(&p["Method"], "Method").to_owned();
            let path = text(&p["Path"], "Path").to_owned();
            if binary == "vtid-fallback" {
                fallback.insert((method, path));
            } else {
                served.insert((method, path, binary.clone()));
            }
        }
    }
    let table: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .filter_map(|r| {
            r.function
                .map(|f| (r.method.to_owned(), r.path.to_owned(), f.to_owned()))
        })
        .collect();
    assert_eq!(
        served, table,
        "template.yaml (left) and the route table (right)"
    );
    assert_eq!(default_routes, 1, "one $default route, on the fallback");
    let methods = |path: &str| -> BTreeSet<&str> {
        ROUTES
            .iter()
            .filter(|r| r.function.is_some() && r.path == path)
            .map(|r| r.method)
            .collect()
    };
    let record = methods("/vtid/{vtid}");
    let mut expected: BTreeSet<(String, String)> =
        BTreeSet::from([("DELETE".to_owned(), "/vtid/{vtid}".to_owned())]);
    for r in ROUTES
        .iter()
        .filter(|r| r.function.is_some() && !r.path.contains('{'))
    {
        for m in record.difference(&methods(r.path)) {
            expected.insert(((*m).to_owned(), r.path.to_owned()));
        }
    }
    assert_eq!(
        fallback, expected,
        "the fallback's 405 routes (left), derived (right)"
    );
}

/// The text of a plain or `!Sub` string.
fn sub_text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        _ => None,
    }
}

/// The metric and the `SCHEMA` dimensions of each Metrics Insights query in `text`
/// (`SELECT SUM(Name) FROM SCHEMA(VtidLedger, A, "B") ...`).
fn insights_queries(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for part in text.split("SELECT ").skip(1) {
        let metric = part
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(m, _)| m.trim().to_owned())
            .expect("SELECT STAT(Metric)");
        let schema = part
            .split_once("SCHEMA(")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(s, _)| s)
            .expect("FROM SCHEMA(...)");
        let mut names = schema.split(',').map(|n| {
            n.trim()
                .trim_matches('\\')
                .trim_matches('"')
                .trim_matches('\\')
                .to_owned()
        });
        assert_eq!(
            names.next().as_deref(),
            Some(shared::metrics::NAMESPACE),
            "{text}"
        );
        out.push((metric, names.collect()));
    }
    out
}

/// The dimensions `metric` is published with (the function's among them), or a failure
/// naming it.
#[track_caller]
fn published(metric: &str) -> BTreeSet<String> {
    let (_, dims) = shared::metrics::ALL
        .iter()
        .find(|(name, _)| *name == metric)
        .unwrap_or_else(|| panic!("{metric} is not a metric the code publishes"));
    std::iter::once(shared::metrics::dimension::FUNCTION)
        .chain(dims.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// Every alarm watches a metric the code publishes, by the name and the dimensions the
/// code gives it (a Metrics Insights `SCHEMA` matches metrics with exactly those
/// dimensions), or an AWS metric; every alarm reaches the alarm topic, and the runbook
/// has its entry. The dashboard's queries name published metrics too.
#[test]
fn every_alarm_watches_a_published_metric_reaches_the_topic_and_has_a_runbook_entry() {
    let t = template();
    let runbook = std::fs::read_to_string(root().join("docs/operations.md"))
        .expect("docs/operations.md, the runbook");
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 7, "{} alarms", alarms.len());
    for (name, alarm) in &alarms {
        let p = &alarm["Properties"];
        let topic = |key: &str| {
            p[key]
                .as_sequence()
                .is_some_and(|a| a.iter().any(|v| matches!(v, Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("AlarmTopic"))))
        };
        assert!(
            topic("AlarmActions") && topic("OKActions"),
            "{name} does not reach AlarmTopic"
        );
        assert!(
            runbook.contains(&format!("### {name}")),
            "docs/operations.md has no entry for {name}"
        );
        match p["Namespace"].as_str() {
            Some(ns) if ns == shared::metrics::NAMESPACE => {
                let metric = text(&p["MetricName"], "MetricName");
                let dims: BTreeSet<String> = p["Dimensions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|d| text(&d["Name"], "a dimension").to_owned())
                    .collect();
                assert_eq!(dims, published(metric), "{name}: {metric}'s dimensions");
            }
            Some(other) => assert!(other.starts_with("AWS/"), "{name}: namespace {other}"),
            None => {
                let parts = p["Metrics"].as_sequence().expect("a metric or a query");
                let queries: Vec<_> = parts
                    .iter()
                    .filter_map(|m| sub_text(&m["Expression"]))
                    .flat_map(insights_queries)
                    .collect();
                // Metric math over AWS's own metrics (Lambda's Errors of each function).
                let aws: Vec<&str> = parts
                    .iter()
                    .filter_map(|m| m["MetricStat"]["Metric"]["Namespace"].as_str())
                    .collect();
                assert!(
                    !queries.is_empty() || !aws.is_empty(),
                    "{name}: no query and no metric"
                );
                for ns in aws {
                    assert!(ns.starts_with("AWS/"), "{name}: namespace {ns}");
                }
                for (metric, dims) in queries {
                    assert_eq!(dims, published(&metric), "{name}: SCHEMA of {metric}");
                }
            }
        }
    }
    let (_, dashboard) = of_type(&t, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()
        .expect("a dashboard");
    let body = sub_text(&dashboard["Properties"]["DashboardBody"]).expect("a !Sub body");
    let queries = insights_queries(body);
    assert!(queries.len() >= 10, "{} queries", queries.len());
    for (metric, dims) in queries {
        assert_eq!(dims, published(&metric), "dashboard: SCHEMA of {metric}");
    }
    for (metric, _) in shared::metrics::ALL {
        assert!(
            body.contains(metric),
            "the dashboard does not show {metric}"
        );
    }
}

/// Every function's own failures (Lambda's `Errors`: a crash, a timeout, a failed start,
/// which no metric of the code can count) are watched by an alarm, as awslabs'
/// serverless-rules ask of every function.
#[test]
fn every_functions_lambda_errors_are_watched_by_an_alarm() {
    let t = template();
    let watched: BTreeSet<String> = of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .flat_map(|(_, alarm)| {
            alarm["Properties"]["Metrics"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| {
            m["MetricStat"]["Metric"]["Namespace"].as_str() == Some("AWS/Lambda")
                && m["MetricStat"]["Metric"]["MetricName"].as_str() == Some("Errors")
        })
        .flat_map(|m| {
            m["MetricStat"]["Metric"]["Dimensions"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|d| d["Name"].as_str() == Some("FunctionName"))
        .filter_map(|d| match &d["Value"] {
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_owned),
            _ => None,
        })
        .collect();
    let functions: BTreeSet<String> = of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(watched, functions);
}
