//! `GET /vtid/{vtid}/history`: the creation and every change, oldest first, a page at a
//! time (`limit`, default 100, at most 200; `nextCursor` when more follow).

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::page::fit_page;
use super::{Call, parse_limit, path_vtid, reply};
use crate::App;
use crate::access::absent;
use crate::cursor;
use crate::error::ApiError;
use crate::store::HistoryQuery;
use crate::store::limits::{DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT};
use crate::vtid::{Vtid, printable};

pub async fn history(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(inner(app, &req)).await
}

async fn inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let vtid = path_vtid(req)?;
    let (limit, cursor_text) = parse(req)?;
    let key = app.cursor_key.bytes().await?;
    let bound_to = bound_to(vtid);
    let after_version = match cursor_text {
        Some(c) => Some(cursor::decode_position(key, &bound_to, &c)?),
        None => None,
    };
    let page = app
        .store_for(&caller)
        .history(&HistoryQuery {
            vtid,
            after_version,
            limit,
        })
        .await?
        .ok_or_else(|| absent(vtid))?;
    let fitted = fit_page(page.entries, |e| e.to_version);
    let next = fitted
        .cut_after
        .or(page.next)
        .map(|v| cursor::encode_position(key, &bound_to, v));
    Ok(reply(
        StatusCode::OK,
        &json!({"ok": true, "vtid": vtid, "count": fitted.items.len(), "data": fitted.items, "nextCursor": next}),
    ))
}

/// What a history cursor is bound to: its VTID.
fn bound_to(vtid: Vtid) -> String {
    format!("history\u{1f}{vtid}")
}

fn parse(req: &Request) -> Result<(usize, Option<String>), ApiError> {
    let mut limit = None;
    let mut cursor_text = None;
    let params = req.query_string_parameters_ref();
    for (k, v) in params.into_iter().flat_map(|q| q.iter()) {
        match k {
            "limit" | "cursor"
                if (k == "limit" && limit.is_some())
                    || (k == "cursor" && cursor_text.is_some()) =>
            {
                return Err(ApiError::invalid_query(k, "must be given once"));
            }
            "limit" => limit = Some(parse_limit(k, v, MAX_HISTORY_LIMIT)?),
            "cursor" => cursor_text = Some(v.to_owned()),
            other => {
                return Err(ApiError::invalid_query(
                    printable(other),
                    "is not a known query parameter (known: limit, cursor)",
                ));
            }
        }
    }
    Ok((limit.unwrap_or(DEFAULT_HISTORY_LIMIT), cursor_text))
}
