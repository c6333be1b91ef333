//! `GET /vtid/audit?year=YYYY`: the ledger proves its own integrity (admin and service).

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::{Call, reply};
use crate::App;
use crate::error::ApiError;
use crate::timestamp::Timestamp;
use crate::vtid::parse_year;

pub async fn audit(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(inner(app, &req)).await
}

async fn inner(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    // Refused before its query is read, as before any other work (the view checks again).
    caller.check_audit()?;
    let query = req.query_string_parameters_ref();
    let mut year = None;
    for (k, v) in query.into_iter().flat_map(|q| q.iter()) {
        match k {
            "year" if year.is_some() => {
                return Err(ApiError::invalid_query("year", "must be given once"));
            }
            "year" => {
                year = Some(parse_year(v).map_err(|why| ApiError::invalid_query("year", why))?);
            }
            other => {
                return Err(ApiError::invalid_query(
                    crate::vtid::printable(other),
                    "is not a known query parameter (known: year)",
                ));
            }
        }
    }
    let year = year.unwrap_or_else(|| Timestamp::now().year());
    let report = app.store_for(&caller).audit(year).await?;
    Ok(reply(StatusCode::OK, &json!({"ok": true, "data": report})))
}
