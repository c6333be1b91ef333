//! Every create and change, from the table's stream to other systems (SPEC section 7):
//! an EventBridge bus (source `vtid-ledger`) and, where configured, the OASIS ingest
//! URL. At least once, in order per VTID, each event with an ID (`VTID:version`) that
//! lets a consumer drop repeats. A failing target stops the batch at that record and
//! reports it, so Lambda retries from there (order kept); what still fails goes to the
//! dead-letter queue that the event source mapping names.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::api::SERVICE;
use crate::lifecycle::Status;
use crate::record::Record;
use crate::store::schema::{RECORD_SK, SK};

/// What happened to a record, in OASIS's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    StatusChanged,
    Completed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "vtid-created",
            Kind::Updated => "vtid-updated",
            Kind::StatusChanged => "vtid-status-changed",
            Kind::Completed => "vtid-completed",
        }
    }
}

/// One event: a record after a create or a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// `VTID:version`: the same change always has the same ID, so repeats can be dropped.
    pub id: String,
    pub kind: Kind,
    pub record: Record,
}

fn record_of(image: &serde_dynamo::Item) -> Option<Record> {
    match image.get(SK) {
        Some(serde_dynamo::AttributeValue::S(sk)) if sk == RECORD_SK => {}
        _ => return None,
    }
    match image.get("doc") {
        Some(serde_dynamo::AttributeValue::S(doc)) => serde_json::from_str(doc).ok(),
        _ => None,
    }
}

/// The event a stream record stands for; `None` for items that are not records
/// (history, counters, idempotency keys) and for writes that changed no record.
pub fn change_of(record: &EventRecord) -> Option<Change> {
    let new = record_of(&record.change.new_image)?;
    let old = record_of(&record.change.old_image);
    let kind = match &old {
        None => Kind::Created,
        Some(o) if o.version == new.version => return None,
        Some(o) if o.status != new.status && new.status == Status::Complete => Kind::Completed,
        Some(o) if o.status != new.status => Kind::StatusChanged,
        Some(_) => Kind::Updated,
    };
    Some(Change {
        id: format!("{}:{}", new.vtid, new.version),
        kind,
        record: new,
    })
}

/// The OASIS ingest body: `{service, event, tenant, status, metadata: {vtid, ...}}`.
pub fn oasis_body(change: &Change) -> Value {
    let r = &change.record;
    let mut metadata = json!({
        "eventId": change.id,
        "vtid": r.vtid,
        "taskFamily": r.task_family,
        "taskType": r.task_type,
        "title": r.title,
        "status": r.status,
        "assignedTo": r.assigned_to,
        "parentVtid": r.parent_vtid,
        "version": r.version,
        "isTest": r.is_test,
        "updatedAt": r.updated_at,
        "updatedBy": r.updated_by,
    });
    if change.kind == Kind::Completed {
        metadata["durationSeconds"] = json!(r.duration_seconds);
        metadata["completedAt"] = json!(r.completed_at);
    }
    json!({
        "service": SERVICE,
        "event": change.kind.as_str(),
        "tenant": r.tenant,
        "status": "success",
        "metadata": metadata,
    })
}

/// A target that events are delivered to.
#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &'static str;
    async fn deliver(&self, change: &Change) -> Result<(), String>;
}

/// Delivers every change of the batch in stream order. On the first failure it stops and
/// reports that record, so Lambda retries from it and later changes never overtake it.
pub async fn handle(event: &Event, sinks: &[&dyn Sink]) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let Some(change) = change_of(record) else {
            continue;
        };
        for sink in sinks {
            if let Err(why) = sink.deliver(&change).await {
                tracing::warn!(sink = sink.name(), event_id = %change.id, %why, "delivery failed; retrying from here");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                return response;
            }
        }
    }
    response
}

/// EventBridge: source `vtid-ledger`, detail-type the event name, detail the OASIS body.
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(config),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl Sink for EventBridge {
    fn name(&self) -> &'static str {
        "eventbridge"
    }

    async fn deliver(&self, change: &Change) -> Result<(), String> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SERVICE)
            .detail_type(change.kind.as_str())
            .detail(oasis_body(change).to_string())
            .resources(change.record.vtid.to_string())
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        match out.failed_entry_count() {
            0 => Ok(()),
            _ => Err(out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

/// OASIS: one HTTP POST of the OASIS body per event; any non-2xx answer is a failure.
pub struct Oasis {
    url: String,
    http: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
}

impl Oasis {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Self {
            url: url.into(),
            http,
        })
    }
}

#[async_trait]
impl Sink for Oasis {
    fn name(&self) -> &'static str {
        "oasis"
    }

    async fn deliver(&self, change: &Change) -> Result<(), String> {
        let req = http::Request::post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &change.id)
            .body(Full::new(Bytes::from(oasis_body(change).to_string())))
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(Duration::from_secs(10), self.http.request(req))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let status = res.status();
        // Read the body so the connection can be reused.
        let _ = res.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

/// The targets the environment names: EventBridge always (`VTID_EVENT_BUS`, default
/// `default`), OASIS when `OASIS_INGEST_URL` is set.
pub async fn sinks_from_env() -> Result<Vec<Box<dyn Sink>>, String> {
    let sdk = aws_config::load_from_env().await;
    let bus = std::env::var("VTID_EVENT_BUS").unwrap_or_else(|_| "default".into());
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(EventBridge::new(&sdk, bus))];
    if let Ok(url) = std::env::var("OASIS_INGEST_URL").map(|u| u.trim().to_owned())
        && !url.is_empty()
    {
        sinks.push(Box::new(Oasis::new(url)?));
    }
    Ok(sinks)
}
