//! CloudWatch embedded metric format, as the tests read a function's stdout: the
//! documents checked against the format's specification, and the metrics they declare.

use serde_json::Value;
use shared::metrics::NAMESPACE;

/// The embedded metric format documents among `lines`, each checked against the
/// specification: `_aws.Timestamp` a number; `CloudWatchMetrics` directives each with a
/// namespace, dimension sets of at most 30 names that are string members of the
/// document, and metrics that are numeric members (or arrays of numbers).
pub fn documents(lines: &[String]) -> Vec<Value> {
    let mut docs = Vec::new();
    for line in lines {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(aws) = doc.get("_aws") else { continue };
        assert!(aws["Timestamp"].is_u64(), "Timestamp: {line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect(line);
        assert!(!directives.is_empty(), "{line}");
        for d in directives {
            assert!(
                d["Namespace"].as_str().is_some_and(|n| !n.is_empty()),
                "{line}"
            );
            for set in d["Dimensions"].as_array().expect(line) {
                let set = set.as_array().expect(line);
                assert!(set.len() <= 30, "{line}");
                for dim in set {
                    let dim = dim.as_str().expect(line);
                    assert!(
                        doc[dim].is_string(),
                        "dimension {dim} is not a member: {line}"
                    );
                }
            }
            let metrics = d["Metrics"].as_array().expect(line);
            assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
            for m in metrics {
                let metric = m["Name"].as_str().expect(line);
                let value = &doc[metric];
                let numeric = value.is_number()
                    || value
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_number));
                assert!(numeric, "metric {metric} has no numeric value: {line}");
            }
        }
        docs.push(doc);
    }
    docs
}

/// A metric as declared: its name, its dimensions with their values, its value's sum.
pub type Declared = (String, Vec<(String, String)>, f64);

/// Every (metric, dimensions) the documents declare, with the value's sum.
pub fn declared(docs: &[Value]) -> Vec<Declared> {
    let mut out = Vec::new();
    for doc in docs {
        for d in doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(d["Namespace"], NAMESPACE);
            let sets = d["Dimensions"].as_array().cloned().unwrap_or_default();
            for m in d["Metrics"].as_array().into_iter().flatten() {
                let metric = m["Name"].as_str().unwrap_or_default().to_owned();
                let value = match &doc[&metric] {
                    Value::Array(a) => a.iter().filter_map(Value::as_f64).sum(),
                    v => v.as_f64().unwrap_or(0.0),
                };
                for set in &sets {
                    let dims = set
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|d| (d.to_owned(), doc[d].as_str().unwrap_or("").to_owned()))
                        .collect();
                    out.push((metric.clone(), dims, value));
                }
            }
        }
    }
    out
}

/// The values `metric` was published with under these dimension values (and maybe
/// others), one per declaration.
pub fn values<'a>(
    found: &'a [Declared],
    metric: &'a str,
    dims: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = f64> + 'a {
    found
        .iter()
        .filter(move |(m, d, _)| {
            m == metric
                && dims
                    .iter()
                    .all(|(k, v)| d.iter().any(|(dk, dv)| dk == k && dv == v))
        })
        .map(|(_, _, v)| *v)
}

/// Whether `metric` was published with these dimension values (and maybe others).
pub fn has(found: &[Declared], metric: &str, dims: &[(&str, &str)]) -> bool {
    values(found, metric, dims).next().is_some()
}
