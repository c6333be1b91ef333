//! `POST /vtid/create` and `POST /vtid/batch`. Validation, access and idempotency are
//! settled before the store is asked for a number, so a refused request consumes none.
//!
//! With tenant-scoped reads, a plain caller's parents are checked here first: a parent
//! of another tenant answers exactly as one that does not exist (422, before the store
//! and its idempotency key), so a create cannot reveal what a get would hide.

use http::StatusCode;
use http::header::{HeaderValue, LOCATION};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::{Call, fingerprint, idempotency_key, json_body, reply, with_etag};
use crate::App;
use crate::deadline::Deadline;
use crate::error::{ApiError, Details};
use crate::identity::Caller;
use crate::metrics;
use crate::record::Draft;
use crate::store::{CreateOutcome, CreateRequest, IdempotencyKey};
use crate::timestamp::Timestamp;
use crate::validation::{
    BATCH_BODY, MAX_BATCH_BODY_BYTES, MAX_BATCH_ITEMS, MAX_BODY_BYTES, parse_create, read_create,
    unknown_fields,
};
use crate::vtid::Vtid;

pub async fn create(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(create_inner(app, &req, call.deadline)).await
}

pub async fn batch(app: &App, req: Request) -> Response<Body> {
    let call = Call::new(app, &req);
    call.respond(batch_inner(app, &req, call.deadline)).await
}

async fn create_inner(
    app: &App,
    req: &Request,
    deadline: Deadline,
) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let body = json_body(req, MAX_BODY_BYTES)?;
    let key = idempotency_key(req)?;
    let draft =
        parse_create(&body, caller.tenant.as_deref(), "").map_err(ApiError::InvalidPayload)?;
    caller.check_create(&draft.tenant)?;
    let outcome = store_create(
        app,
        &caller,
        vec![draft],
        key,
        fingerprint("create", &body),
        deadline,
    )
    .await?;
    let record = outcome
        .records
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a create returned no record".into()))?;
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut res = reply(
        status,
        &json!({"ok": true, "vtid": record.vtid, "data": record}),
    );
    if let Ok(loc) = HeaderValue::from_str(&format!("/vtid/{}", record.vtid)) {
        res.headers_mut().insert(LOCATION, loc);
    }
    Ok(replayed(with_etag(res, &record), outcome.replayed))
}

async fn batch_inner(
    app: &App,
    req: &Request,
    deadline: Deadline,
) -> Result<Response<Body>, ApiError> {
    let caller = app.identity.caller(req)?;
    let body = json_body(req, MAX_BATCH_BODY_BYTES)?;
    let key = idempotency_key(req)?;
    let items = batch_items(&body)?;
    let mut drafts = Vec::with_capacity(items.len());
    let mut details = Details::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("items[{i}].");
        if let Some(d) = read_create(item, caller.tenant.as_deref(), &prefix, &mut details) {
            drafts.push(d);
        }
    }
    if !details.is_empty() {
        return Err(ApiError::InvalidPayload(details));
    }
    for (i, d) in drafts.iter().enumerate() {
        caller.check_create(&d.tenant).map_err(|_| {
            ApiError::Forbidden(format!(
                "items[{i}]: this caller may not create records for tenant '{}'",
                d.tenant
            ))
        })?;
    }
    // A missing parent is named by the first item that gave it.
    let parents: Vec<Option<Vtid>> = drafts.iter().map(|d| d.parent_vtid).collect();
    let in_batch = |e: ApiError| match e {
        ApiError::ParentNotFound { vtid, field } => {
            let at = parents
                .iter()
                .position(|p| p.is_some_and(|p| p.to_string() == vtid));
            let field = at.map_or(field, |i| format!("items[{i}].parentVtid"));
            ApiError::ParentNotFound { vtid, field }
        }
        other => other,
    };
    let outcome = store_create(
        app,
        &caller,
        drafts,
        key,
        fingerprint("batch", &body),
        deadline,
    )
    .await
    .map_err(in_batch)?;
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let res = reply(
        status,
        &json!({"ok": true, "count": outcome.records.len(), "data": outcome.records}),
    );
    Ok(replayed(res, outcome.replayed))
}

/// The tenant an idempotency key belongs to: the caller's; for a caller without one,
/// the body's. A batch whose items name several tenants belongs to all of them, as one
/// name no tenant can have (`+` and a hash of the sorted names), not to its first
/// item's tenant, whose own batches would then share its keys.
fn key_scope(caller: &Caller, drafts: &[Draft]) -> String {
    if let Some(own) = &caller.tenant {
        return own.clone();
    }
    let mut tenants: Vec<&str> = drafts.iter().map(|d| d.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    match tenants.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        several => format!("+{}", &super::fingerprint("tenants", &json!(several))[..32]),
    }
}

fn batch_items(body: &Value) -> Result<&Vec<Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::invalid_payload(
            "body",
            "must be a JSON object with an items array",
        ));
    };
    let mut unknown = Details::new();
    unknown_fields(map, "", BATCH_BODY, &mut unknown);
    if !unknown.is_empty() {
        return Err(ApiError::InvalidPayload(unknown));
    }
    match map.get("items") {
        Some(Value::Array(items)) if (1..=MAX_BATCH_ITEMS).contains(&items.len()) => Ok(items),
        Some(Value::Array(_)) => Err(ApiError::invalid_payload(
            "items",
            format!("must hold 1 to {MAX_BATCH_ITEMS} create bodies"),
        )),
        Some(_) => Err(ApiError::invalid_payload(
            "items",
            "must be an array of create bodies",
        )),
        None => Err(ApiError::invalid_payload("items", "is required")),
    }
}

async fn store_create(
    app: &App,
    caller: &Caller,
    drafts: Vec<Draft>,
    key: Option<String>,
    fingerprint: String,
    deadline: Deadline,
) -> Result<CreateOutcome, ApiError> {
    let scope = key_scope(caller, &drafts);
    let idempotency = key.map(|key| IdempotencyKey {
        scope,
        key,
        fingerprint,
    });
    let req = CreateRequest {
        drafts,
        by: caller.name.clone(),
        now: Timestamp::now(),
        idempotency,
        deadline: deadline.for_store(),
    };
    // The view checks each parent the caller may not see as missing, before anything
    // is reserved or the idempotency key is looked at.
    let outcome = app.store_for(caller).create(req).await?;
    if outcome.replayed {
        metrics::add(metrics::name::REPLAYS, 1);
    } else {
        metrics::add(metrics::name::CREATES, outcome.records.len() as u64);
    }
    Ok(outcome)
}

fn replayed(mut res: Response<Body>, replayed: bool) -> Response<Body> {
    if replayed {
        res.headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    res
}
