//! The list's filters applied to an event: `GET /vtid/events?status=blocked` passes the
//! events whose record, as the change left it, `GET /vtid/list?status=blocked` would
//! list (test records only with `includeTest=true`).

use serde_json::Value;

use crate::store::ListQuery;
use crate::vtid::Vtid;

/// Whether the OASIS body `body` (see [`super::oasis_body`]) passes `query`'s filters.
pub fn event_matches(query: &ListQuery, body: &Value) -> bool {
    let m = &body["metadata"];
    let f = &query.filters;
    let text = |field: &Value, want: &Option<String>| {
        want.as_deref().is_none_or(|w| field.as_str() == Some(w))
    };
    let is_test = m["isTest"].as_bool().unwrap_or(false);
    let year = m["vtid"]
        .as_str()
        .and_then(|v| v.parse::<Vtid>().ok())
        .map(Vtid::year);
    (query.include_test || !is_test)
        && text(&m["taskFamily"], &f.task_family)
        && text(&body["tenant"], &f.tenant)
        && text(&m["assignedTo"], &f.assigned_to)
        && f.status
            .is_none_or(|s| m["status"].as_str() == Some(s.as_str()))
        && f.parent_vtid
            .is_none_or(|p| m["parentVtid"].as_str() == Some(p.to_string().as_str()))
        && f.year.is_none_or(|y| year == Some(y))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lifecycle::Status;
    use crate::store::Filters;

    fn query(filters: Filters, include_test: bool) -> ListQuery {
        ListQuery {
            filters,
            tenant_scoped: false,
            include_test,
            search: None,
            limit: 1,
            after: None,
        }
    }

    fn body(status: &str, is_test: bool) -> Value {
        json!({"service": "vtid-ledger", "event": "vtid-updated", "tenant": "acme", "status": "success",
               "metadata": {"eventId": "VTID-2026-0007:2", "vtid": "VTID-2026-0007", "taskFamily": "deploy",
                            "status": status, "assignedTo": null, "parentVtid": "VTID-2026-0001", "isTest": is_test}})
    }

    #[test]
    fn every_dimension_filters_as_the_list_does() {
        let b = body("blocked", false);
        assert!(event_matches(&query(Filters::default(), false), &b));
        let yes = [
            Filters {
                status: Some(Status::Blocked),
                ..Default::default()
            },
            Filters {
                tenant: Some("acme".into()),
                ..Default::default()
            },
            Filters {
                task_family: Some("deploy".into()),
                year: Some(2026),
                ..Default::default()
            },
            Filters {
                parent_vtid: "VTID-2026-0001".parse().ok(),
                ..Default::default()
            },
        ];
        for f in yes {
            assert!(event_matches(&query(f.clone(), false), &b), "{f:?}");
        }
        let no = [
            Filters {
                status: Some(Status::Active),
                ..Default::default()
            },
            Filters {
                tenant: Some("other".into()),
                ..Default::default()
            },
            Filters {
                task_family: Some("Deploy".into()),
                ..Default::default()
            },
            Filters {
                assigned_to: Some("bob".into()),
                ..Default::default()
            },
            Filters {
                parent_vtid: "VTID-2026-0002".parse().ok(),
                ..Default::default()
            },
            Filters {
                year: Some(2025),
                ..Default::default()
            },
        ];
        for f in no {
            assert!(!event_matches(&query(f.clone(), false), &b), "{f:?}");
        }
    }

    #[test]
    fn test_records_only_when_asked_for() {
        let b = body("pending", true);
        assert!(!event_matches(&query(Filters::default(), false), &b));
        assert!(event_matches(&query(Filters::default(), true), &b));
    }
}
