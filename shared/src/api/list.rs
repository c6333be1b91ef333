//! `GET /vtid/list`: filters in any combination, free text (`q`), newest first, full
//! pages, and a signed cursor bound to its filters and its search.

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::page::fit_page;
use super::{Call, parse_limit, reply};
use crate::App;
use crate::cursor;
use crate::error::{ApiError, Detail};
use crate::identity::Caller;
use crate::store::{Filters, ListQuery};
use crate::validation::{is_tenant, parse_search, tenant_rule};
use crate::vtid::{parse_year, printable};
use percent_encoding::percent_decode_str;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// The filter parameters, named once for both messages below.
macro_rules! filter_names {
    () => {
        "taskFamily, status, tenant, assignedTo, parentVtid, year, includeTest"
    };
}
const KNOWN_FILTERS: &str = filter_names!();
// `q` is the list's alone: an event carries a record's title but not its description, so
// `GET /vtid/events` could not apply it (it refuses it as unknown).
const KNOWN: &str = concat!(filter_names!(), ", q, limit, cursor");

pub async fn list(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(inner(app, &req)).await
}

async fn inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let view = app.store_for(&caller);
    let (mut query, cursor_text) = parse(req, Paging::Yes)?;
    view.scope(&mut query)?;
    let bound_to = filters_fingerprint(&query);
    let key = app.cursor_key.bytes().await?;
    if let Some(c) = cursor_text {
        query.after = Some(cursor::decode(key, &bound_to, &c)?);
    }
    let page = view.list(&query).await?;
    let fitted = fit_page(page.records, |r| r.vtid);
    let next = fitted.cut_after.or(page.next);
    let next = next.map(|v| cursor::encode(key, &bound_to, v));
    Ok(reply(
        StatusCode::OK,
        &json!({"ok": true, "count": fitted.items.len(), "data": fitted.items, "nextCursor": next}),
    ))
}

/// The filters of `GET /vtid/list` without its paging (`limit`, `cursor`), parsed by the
/// same rules and narrowed to the caller's tenant the same way: what a route that
/// filters records as the list does (`GET /vtid/events`) accepts.
pub fn filters_only(app: &App, caller: &Caller, req: &Request) -> Result<ListQuery, ApiError> {
    let (mut query, _) = parse(req, Paging::No)?;
    app.store_for(caller).scope(&mut query)?;
    Ok(query)
}

/// Whether `limit` and `cursor` are parameters of the route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paging {
    Yes,
    No,
}

/// What a cursor is bound to: every filter, in a fixed order, and the search.
fn filters_fingerprint(q: &ListQuery) -> String {
    let f = &q.filters;
    let parts = [
        f.task_family.clone().unwrap_or_default(),
        f.status.map(|s| s.to_string()).unwrap_or_default(),
        f.tenant.clone().unwrap_or_default(),
        f.assigned_to.clone().unwrap_or_default(),
        f.parent_vtid.map(|v| v.to_string()).unwrap_or_default(),
        f.year.map(|y| y.to_string()).unwrap_or_default(),
        q.include_test.to_string(),
    ];
    // Presence matters as well as value; a unit separator cannot occur in a valid filter.
    let presence = [
        f.task_family.is_some(),
        f.status.is_some(),
        f.tenant.is_some(),
        f.assigned_to.is_some(),
        f.parent_vtid.is_some(),
        f.year.is_some(),
    ];
    let filters = format!("{presence:?}\u{1f}{}", parts.join("\u{1f}"));
    // Added only with a search, so that the cursors of lists without one stay valid. Its
    // words hold no unit separator (no control character), so two more separators always
    // mean a search: no list with one shares its text with a list without.
    match &q.search {
        Some(s) => format!("{filters}\u{1f}q\u{1f}{}", s.canonical()),
        None => filters,
    }
}

fn text_filter(field: &str, v: &str, max: usize) -> Result<String, Detail> {
    let n = v.chars().count();
    if n == 0 || n > max || v.chars().any(char::is_control) {
        return Err(Detail::new(
            field,
            format!("must be 1 to {max} characters with no control characters"),
        ));
    }
    Ok(v.to_owned())
}

fn parse(req: &Request, paging: Paging) -> Result<(ListQuery, Option<String>), ApiError> {
    let paged = paging == Paging::Yes;
    let known = if paged { KNOWN } else { KNOWN_FILTERS };
    let mut filters = Filters::default();
    let mut include_test = false;
    let mut search = None;
    let mut limit = DEFAULT_LIMIT;
    let mut cursor_text = None;
    let mut details = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    // The query map decodes lossily; a value that is not UTF-8 could then never be matched
    // literally, so it is refused instead.
    for pair in req.uri().query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_decode_str(&v.replace('+', " "))
            .decode_utf8()
            .is_ok()
            && percent_decode_str(&k.replace('+', " "))
                .decode_utf8()
                .is_ok();
        if !decoded {
            let name = percent_decode_str(k).decode_utf8_lossy().into_owned();
            details.push(Detail::new(printable(&name), "must be UTF-8 text"));
        }
    }
    let params = req.query_string_parameters_ref();
    for (k, v) in params.into_iter().flat_map(|q| q.iter()) {
        if seen.iter().any(|s| s == k) {
            details.push(Detail::new(printable(k), "must be given once"));
            continue;
        }
        seen.push(k.to_owned());
        let parsed: Result<(), Detail> = match k {
            "taskFamily" => text_filter(k, v, 64).map(|v| filters.task_family = Some(v)),
            "assignedTo" => text_filter(k, v, 128).map(|v| filters.assigned_to = Some(v)),
            "tenant" => match is_tenant(v) {
                true => {
                    filters.tenant = Some(v.to_owned());
                    Ok(())
                }
                false => Err(Detail::new(k, tenant_rule())),
            },
            "status" => v
                .parse()
                .map(|s| filters.status = Some(s))
                .map_err(|m| Detail::new(k, m)),
            "parentVtid" => v
                .parse()
                .map(|p| filters.parent_vtid = Some(p))
                .map_err(|e: crate::vtid::InvalidVtid| Detail::new(k, e.0)),
            "year" => parse_year(v)
                .map(|y| filters.year = Some(y))
                .map_err(|why| Detail::new(k, why)),
            "includeTest" => match v {
                "true" => {
                    include_test = true;
                    Ok(())
                }
                "false" => Ok(()),
                _ => Err(Detail::new(k, "must be true or false")),
            },
            "q" if paged => parse_search(v)
                .map(|s| search = Some(s))
                .map_err(|why| Detail::new(k, why)),
            "limit" if paged => match parse_limit(k, v, MAX_LIMIT) {
                Ok(l) => {
                    limit = l;
                    Ok(())
                }
                Err(_) => Err(Detail::new(
                    k,
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
            "cursor" if paged => {
                cursor_text = Some(v.to_owned());
                Ok(())
            }
            other => Err(Detail::new(
                printable(other),
                format!("is not a known query parameter (known: {known})"),
            )),
        };
        if let Err(d) = parsed {
            details.push(d);
        }
    }
    if !details.is_empty() {
        return Err(ApiError::InvalidQuery(details));
    }
    Ok((
        ListQuery {
            filters,
            tenant_scoped: false,
            include_test,
            search,
            limit,
            after: None,
        },
        cursor_text,
    ))
}
