//! Request bodies to domain values: every field checked, every problem named.
//! Text limits are declared with `validator`; types and unknown fields are checked
//! field by field so that each bad one gets its own detail. Problems are collected in
//! `Details`, which keeps the first few and counts the rest, and the list of known
//! fields is said once per answer, not once per unknown field.

use serde_json::{Map, Value};
use validator::{Validate, ValidationError, ValidationErrors};

use crate::error::{Detail, Details};
use crate::lifecycle::Status;
use crate::record::{Draft, Patch};
use crate::search::Search;
use crate::vtid::Vtid;
use crate::vtid::printable;

/// Largest body accepted by create and PATCH (metadata alone may take 16 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest batch body: 50 items of the largest create.
pub const MAX_BATCH_BODY_BYTES: usize = 50 * MAX_BODY_BYTES;
pub const MAX_BATCH_ITEMS: usize = 50;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_METADATA_DEPTH: usize = 8;

/// The fields a kind of object takes; `name` tells the lists apart.
#[derive(Clone, Copy)]
pub struct Known {
    name: &'static str,
    fields: &'static [&'static str],
}

pub const CREATE_BODY: Known = Known {
    name: "create",
    fields: &CREATE_FIELDS,
};
pub const PATCH_BODY: Known = Known {
    name: "patch",
    fields: &PATCH_FIELDS,
};
pub const BATCH_BODY: Known = Known {
    name: "batch",
    fields: &["items"],
};

const UNKNOWN_FIELD: &str = "is not a known field";

/// One detail per key of `map` that `known` does not hold. The first names the known
/// fields; the others (and those of later items of a batch) do not repeat them.
pub fn unknown_fields(map: &Map<String, Value>, prefix: &str, known: Known, out: &mut Details) {
    for k in map.keys().filter(|k| !known.fields.contains(&k.as_str())) {
        let list = !out.is_full() && out.first_time(known.name);
        out.push_with(|| {
            let message = match list {
                true => format!("{UNKNOWN_FIELD} (known: {})", known.fields.join(", ")),
                false => UNKNOWN_FIELD.to_owned(),
            };
            Detail::new(format!("{prefix}{}", printable(k)), message)
        });
    }
}

/// The fields a create body may carry.
pub const CREATE_FIELDS: [&str; 10] = [
    "taskFamily",
    "taskType",
    "title",
    "description",
    "status",
    "tenant",
    "assignedTo",
    "parentVtid",
    "metadata",
    "isTest",
];
const PATCH_FIELDS: [&str; 6] = [
    "status",
    "assignedTo",
    "title",
    "description",
    "metadata",
    "isTest",
];

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn no_control_chars(s: &str) -> Result<(), ValidationError> {
    match s.chars().any(char::is_control) {
        true => Err(error("control", "must not contain control characters")),
        false => Ok(()),
    }
}

/// Descriptions are prose: line breaks and tabs are fine, other control characters are not.
fn prose_chars(s: &str) -> Result<(), ValidationError> {
    match s
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        true => Err(error(
            "control",
            "must not contain control characters other than line breaks and tabs",
        )),
        false => Ok(()),
    }
}

/// The most characters a tenant has.
pub const MAX_TENANT_CHARS: usize = 64;

/// The tenant rule, for a body, a list filter and a token's claim alike: 1 to
/// [`MAX_TENANT_CHARS`] of A-Z, a-z, 0-9, '.', '_' and '-'.
pub fn is_tenant(s: &str) -> bool {
    (1..=MAX_TENANT_CHARS).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// What a tenant that breaks the rule is told.
pub fn tenant_rule() -> String {
    format!("must be 1 to {MAX_TENANT_CHARS} of A-Z, a-z, 0-9, '.', '_' and '-'")
}

/// The most characters a list's search (`q`) has, after trimming.
pub const MAX_SEARCH_CHARS: usize = 100;

/// What a search that breaks the rule is told.
pub fn search_rule() -> String {
    format!(
        "must be 1 to {MAX_SEARCH_CHARS} characters once surrounding whitespace is trimmed, with no control characters"
    )
}

/// A list's search (`q`): no control characters anywhere (tabs and line breaks
/// included, also around it: the document's pattern can then say the rule exactly), then
/// trimmed, then 1 to [`MAX_SEARCH_CHARS`] characters.
pub fn parse_search(text: &str) -> Result<Search, String> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_SEARCH_CHARS || text.chars().any(char::is_control) {
        return Err(search_rule());
    }
    // Not empty after trimming, so it has a word.
    Search::new(t).ok_or_else(search_rule)
}

fn tenant_field(s: &str) -> Result<(), ValidationError> {
    match is_tenant(s) {
        true => Ok(()),
        false => Err(ValidationError::new("tenant").with_message(tenant_rule().into())),
    }
}

fn metadata_limits(m: &Map<String, Value>) -> Result<(), ValidationError> {
    let size = serde_json::to_string(m)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(error(
            "size",
            "must be at most 16 KiB (16384 bytes) as JSON",
        ));
    }
    fn depth(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if m.values().map(depth).max().unwrap_or(0) + 1 > MAX_METADATA_DEPTH {
        return Err(error(
            "depth",
            "must nest at most 8 levels deep, counting the top object as 1",
        ));
    }
    Ok(())
}

/// The text and object limits of docs/api.md's "The record", on values already trimmed and typed.
#[derive(Validate, Default)]
struct Limits {
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    task_family: Option<String>,
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    task_type: Option<String>,
    #[validate(length(min = 1, max = 200), custom(function = "no_control_chars"))]
    title: Option<String>,
    #[validate(length(min = 1, max = 4000), custom(function = "prose_chars"))]
    description: Option<String>,
    #[validate(custom(function = "tenant_field"))]
    tenant: Option<String>,
    #[validate(length(min = 1, max = 128), custom(function = "no_control_chars"))]
    assigned_to: Option<String>,
    #[validate(custom(function = "metadata_limits"))]
    metadata: Option<Map<String, Value>>,
}

fn camel(field: &str) -> &str {
    match field {
        "task_family" => "taskFamily",
        "task_type" => "taskType",
        "assigned_to" => "assignedTo",
        other => other,
    }
}

fn limit_details(errors: ValidationErrors, prefix: &str, out: &mut Details) {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by_key(|(f, _)| f.to_string());
    for (field, errs) in fields {
        if let Some(e) = errs.first() {
            let message = match (&e.message, e.params.get("min"), e.params.get("max")) {
                (Some(m), _, _) => m.to_string(),
                // A length rule: its bounds, as the derive declares them.
                (None, Some(min), Some(max)) => {
                    format!("must be {min} to {max} characters after trimming")
                }
                (None, _, _) => "is not valid".to_owned(),
            };
            out.add(format!("{prefix}{}", camel(&field)), message);
        }
    }
}

/// Reads typed fields out of a JSON object, recording one detail per bad field.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
    details: &'a mut Details,
    /// Problems recorded before this object was read (a batch shares one `Details`).
    before: usize,
}

impl<'a> Reader<'a> {
    /// `None` when `body` is not an object (recorded as a problem).
    fn new(
        body: &'a Value,
        prefix: &'a str,
        known: Known,
        details: &'a mut Details,
    ) -> Option<Self> {
        let before = details.len();
        let Value::Object(map) = body else {
            let field = if prefix.is_empty() {
                "body"
            } else {
                prefix.trim_end_matches('.')
            };
            details.add(field, "must be a JSON object");
            return None;
        };
        unknown_fields(map, prefix, known, details);
        Some(Self {
            map,
            prefix,
            details,
            before,
        })
    }

    fn bad(&mut self, field: &str, message: &str) {
        self.details.add(format!("{}{field}", self.prefix), message);
    }

    /// `None` when absent; `Some(None)` when null; text is trimmed.
    fn text(&mut self, field: &str) -> Option<Option<String>> {
        match self.map.get(field)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.trim().to_owned())),
            _ => {
                self.bad(field, "must be a string");
                None
            }
        }
    }

    /// Like `text`, but null is not allowed.
    fn required_text(&mut self, field: &str) -> Option<String> {
        match self.text(field)? {
            Some(s) => Some(s),
            None => {
                self.bad(field, "must be a string, not null");
                None
            }
        }
    }

    fn status(&mut self, field: &str) -> Option<Status> {
        let s = self.required_text(field)?;
        match s.parse() {
            Ok(st) => Some(st),
            Err(m) => {
                self.bad(field, &m);
                None
            }
        }
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.map.get(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.bad(field, "must be true or false");
                None
            }
        }
    }

    fn object(&mut self, field: &str) -> Option<Map<String, Value>> {
        match self.map.get(field)? {
            Value::Object(m) => Some(m.clone()),
            _ => {
                self.bad(field, "must be a JSON object");
                None
            }
        }
    }

    /// A VTID is canonical or refused: never trimmed, as no padding is part of the form.
    fn vtid(&mut self, field: &str) -> Option<Option<Vtid>> {
        let raw = match self.map.get(field)? {
            Value::Null => None,
            Value::String(s) => Some(s.as_str()),
            _ => {
                self.bad(field, "must be a string");
                return None;
            }
        };
        match raw {
            None => Some(None),
            Some(s) => match s.parse() {
                Ok(v) => Some(Some(v)),
                Err(e) => {
                    self.bad(field, &e.0);
                    None
                }
            },
        }
    }

    fn require<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.map.contains_key(field) {
            self.bad(field, "is required");
        }
        value
    }

    /// True when this object had no problem.
    fn finish(self, limits: Limits) -> bool {
        if let Err(e) = limits.validate() {
            limit_details(e, self.prefix, self.details);
        }
        self.details.len() == self.before
    }
}

/// A create body to a draft. `default_tenant` fills a missing `tenant` (the caller's own).
/// `prefix` names fields inside a batch (`items[3].`).
pub fn parse_create(
    body: &Value,
    default_tenant: Option<&str>,
    prefix: &str,
) -> Result<Draft, Details> {
    let mut details = Details::new();
    match read_create(body, default_tenant, prefix, &mut details) {
        Some(draft) => Ok(draft),
        None => Err(details),
    }
}

/// Like [`parse_create`], adding the problems to `details` (a batch collects all its
/// items' in one); `None` when this body had any.
pub fn read_create(
    body: &Value,
    default_tenant: Option<&str>,
    prefix: &str,
    details: &mut Details,
) -> Option<Draft> {
    let mut r = Reader::new(body, prefix, CREATE_BODY, details)?;
    let task_family = r.required_text("taskFamily");
    let task_family = r.require("taskFamily", task_family);
    let task_type = r.required_text("taskType");
    let task_type = r.require("taskType", task_type);
    let description = r.required_text("description");
    let description = r.require("description", description);
    let title = r.text("title").flatten();
    let status = r.status("status");
    let tenant = r.required_text("tenant").or_else(|| {
        if r.map.contains_key("tenant") {
            None
        } else {
            default_tenant.map(str::to_owned)
        }
    });
    if tenant.is_none() && !r.map.contains_key("tenant") {
        r.bad(
            "tenant",
            "is required (the caller's identity carries no tenant)",
        );
    }
    let assigned_to = r.text("assignedTo").flatten();
    let parent_vtid = r.vtid("parentVtid").flatten();
    let metadata = r.object("metadata");
    let is_test = r.boolean("isTest");
    let limits = Limits {
        task_family: task_family.clone(),
        task_type: task_type.clone(),
        title: title.clone(),
        description: description.clone(),
        tenant: tenant.clone(),
        assigned_to: assigned_to.clone(),
        metadata: metadata.clone(),
    };
    if !r.finish(limits) {
        return None;
    }
    // Each missing field already produced a detail, so all four are here.
    Some(Draft {
        task_family: task_family?,
        task_type: task_type?,
        title,
        description: description?,
        status: status.unwrap_or(Status::Pending),
        tenant: tenant?,
        assigned_to,
        parent_vtid,
        metadata: metadata.unwrap_or_default(),
        is_test: is_test.unwrap_or(false),
    })
}

/// A PATCH body to a patch. An empty body or `{}` is refused: it cannot mean anything.
pub fn parse_patch(body: &Value) -> Result<Patch, Details> {
    let mut details = Details::new();
    let Some(mut r) = Reader::new(body, "", PATCH_BODY, &mut details) else {
        return Err(details);
    };
    if r.map.is_empty() {
        return Err(Detail::new(
            "body",
            format!("must set at least one of {}", PATCH_FIELDS.join(", ")),
        )
        .into());
    }
    let status = r.status("status");
    let assigned_to = r.text("assignedTo");
    let title = r.text("title");
    let description = r.required_text("description");
    let metadata = r.object("metadata");
    let is_test = r.boolean("isTest");
    let limits = Limits {
        title: title.clone().flatten(),
        description: description.clone(),
        assigned_to: assigned_to.clone().flatten(),
        // A merge patch may be checked whole: the merged result is checked again by the store.
        metadata: metadata.clone(),
        ..Limits::default()
    };
    if !r.finish(limits) {
        return Err(details);
    }
    Ok(Patch {
        status,
        assigned_to,
        title,
        description,
        metadata,
        is_test,
    })
}

/// The merged metadata must still fit the limits.
pub fn check_metadata(m: &Map<String, Value>) -> Result<(), Vec<Detail>> {
    metadata_limits(m).map_err(|e| {
        vec![Detail::new(
            "metadata",
            e.message.as_deref().unwrap_or("is too large").to_owned(),
        )]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(d: &Details) -> Vec<&str> {
        d.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn minimal_create_gets_defaults_and_trims() {
        let d = parse_create(
            &json!({"taskFamily": "  deploy ", "taskType": "release", "description": "x", "tenant": "acme"}),
            None,
            "",
        )
        .unwrap();
        assert_eq!(d.task_family, "deploy");
        assert_eq!(d.status, Status::Pending);
        assert!(!d.is_test);
    }

    #[test]
    fn a_parent_vtid_is_canonical_never_trimmed() {
        let body = |p: &str| {
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a",
                   "parentVtid": p})
        };
        for padded in [" VTID-2026-0001", "VTID-2026-0001 ", "VTID-2026-0001\t"] {
            let err = parse_create(&body(padded), None, "").unwrap_err();
            assert_eq!(fields(&err), ["parentVtid"], "{padded:?}");
        }
        let d = parse_create(&body("VTID-2026-0001"), None, "").unwrap();
        assert_eq!(
            d.parent_vtid.map(|v| v.to_string()).as_deref(),
            Some("VTID-2026-0001")
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = parse_create(
            &json!({
                "taskFamily": "   ", "taskType": 5, "description": "x".repeat(4001),
                "tenant": "a b", "status": "done", "parentVtid": "VTID-2026-42",
                "metadata": [], "isTest": "yes", "assignedTo": "", "title": "t\u{7}", "colour": 1
            }),
            None,
            "",
        )
        .unwrap_err();
        let mut got = fields(&err);
        got.sort();
        assert_eq!(
            got,
            [
                "assignedTo",
                "colour",
                "description",
                "isTest",
                "metadata",
                "parentVtid",
                "status",
                "taskFamily",
                "taskType",
                "tenant",
                "title"
            ]
        );
    }

    #[test]
    fn the_known_fields_are_listed_once_and_unknown_keys_are_counted_past_the_limit() {
        let mut body =
            json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": "a"});
        for i in 0..7000 {
            body[format!("k{i}")] = json!(0);
        }
        let err = parse_create(&body, None, "").unwrap_err();
        assert_eq!(err.len(), 7000);
        assert_eq!(err.iter().count(), crate::error::MAX_DETAILS);
        let listing: Vec<&Detail> = err
            .iter()
            .filter(|d| d.message.contains("known:"))
            .collect();
        assert_eq!(listing.len(), 1, "the known fields are said once");
        assert!(err.iter().all(|d| d.message.starts_with(UNKNOWN_FIELD)));
        // Across the items of a batch too.
        let mut all = Details::new();
        for i in 0..3 {
            let prefix = format!("items[{i}].");
            assert!(read_create(&json!({"x": 1}), Some("t"), &prefix, &mut all).is_none());
        }
        let known = all.iter().filter(|d| d.message.contains("known:")).count();
        assert_eq!(known, 1);
    }

    #[test]
    fn missing_required_fields_and_tenant_default() {
        let err = parse_create(&json!({}), None, "items[2].").unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "items[2].taskFamily",
                "items[2].taskType",
                "items[2].description",
                "items[2].tenant"
            ]
        );
        let d = parse_create(
            &json!({"taskFamily": "a", "taskType": "b", "description": "c"}),
            Some("t1"),
            "",
        )
        .unwrap();
        assert_eq!(d.tenant, "t1");
    }

    #[test]
    fn length_limits_count_characters() {
        let ok = json!({"taskFamily": "é".repeat(64), "taskType": "b", "description": "c", "tenant": "t"});
        assert!(parse_create(&ok, None, "").is_ok());
        let long = json!({"taskFamily": "é".repeat(65), "taskType": "b", "description": "c",
            "title": "t".repeat(201), "tenant": "t"});
        let err = parse_create(&long, None, "").unwrap_err();
        assert_eq!(fields(&err), ["taskFamily", "title"]);
        // Each message names the field's own bounds.
        let text = format!("{err:?}");
        assert!(
            text.contains("must be 1 to 64 characters after trimming"),
            "{text}"
        );
        assert!(
            text.contains("must be 1 to 200 characters after trimming"),
            "{text}"
        );
    }

    #[test]
    fn metadata_size_and_depth() {
        // Eight objects deep, counting the top one: the limit.
        let deep8 = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}});
        assert!(check_metadata(deep8.as_object().unwrap()).is_ok());
        let deep9 = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}});
        assert!(check_metadata(deep9.as_object().unwrap()).is_err());
        // Arrays nest too.
        let deep9_array = json!({"a": [[[[[[[[1]]]]]]]]});
        assert!(check_metadata(deep9_array.as_object().unwrap()).is_err());
        assert!(check_metadata(deep9.as_object().unwrap()).is_err());
        let big = json!({"a": "x".repeat(MAX_METADATA_BYTES)});
        assert!(check_metadata(big.as_object().unwrap()).is_err());
    }

    #[test]
    fn patch_rules() {
        assert!(parse_patch(&json!({})).is_err());
        assert!(parse_patch(&json!([])).is_err());
        let p = parse_patch(&json!({"assignedTo": null, "status": "active"})).unwrap();
        assert_eq!(p.assigned_to, Some(None));
        assert_eq!(p.status, Some(Status::Active));
        assert_eq!(
            fields(&parse_patch(&json!({"tenant": "x"})).unwrap_err()),
            ["tenant"]
        );
        assert_eq!(
            fields(&parse_patch(&json!({"description": null})).unwrap_err()),
            ["description"]
        );
    }
}
