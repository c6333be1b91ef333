//! Every create and change, from the table's stream to other systems (docs/design.md, "Events"):
//! an EventBridge bus (source `vtid-ledger`) and, where configured, the OASIS ingest
//! URL. At least once, in order per VTID, each event with an ID (`VTID:version`) that
//! lets a consumer drop repeats. A failing target stops the batch at that record and
//! reports it, so Lambda retries from there (order kept); what still fails goes to the
//! dead-letter queue that the event source mapping names.

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use super::{Change, Sink, change_between, oasis_body};
use crate::api::SERVICE;
use crate::metrics;
use crate::record::Record;
use crate::store::schema::{RECORD_SK, SK};

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
    change_between(old.as_ref(), &new)
}

/// Delivers every change of the batch in stream order. On the first failure it stops and
/// reports that record, so Lambda retries from it and later changes never overtake it.
pub async fn handle(event: &Event, sinks: &[&dyn Sink]) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(oldest) = event
        .records
        .iter()
        .map(|r| r.change.approximate_creation_date_time)
        .min()
    {
        let age = chrono::Utc::now().signed_duration_since(oldest);
        metrics::stream_age(age.to_std().unwrap_or_default());
    }
    for record in &event.records {
        let Some(change) = change_of(record) else {
            continue;
        };
        for sink in sinks {
            let delivered = sink.deliver(&change).await;
            let counted = match delivered {
                Ok(()) => metrics::name::EVENTS_DELIVERED,
                Err(_) => metrics::name::EVENTS_RETRIED,
            };
            metrics::add_by(counted, metrics::dimension::SINK, sink.name(), 1);
            if let Err(why) = delivered {
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
        let mut conf = aws_sdk_eventbridge::config::Builder::from(config);
        if let Some(traced) = crate::xray::Subsegments::from_env() {
            conf.push_interceptor(aws_sdk_eventbridge::config::SharedInterceptor::new(traced));
        }
        Self {
            client: aws_sdk_eventbridge::Client::from_conf(conf.build()),
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

/// The targets the environment names: EventBridge always (`VTID_EVENT_BUS`, default
/// `default`), OASIS when `OASIS_INGEST_URL` is set.
pub async fn sinks_from_env() -> Result<Vec<Box<dyn Sink>>, String> {
    let sdk = crate::sdk::load_from_env().await;
    let bus = std::env::var("VTID_EVENT_BUS").unwrap_or_else(|_| "default".into());
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(EventBridge::new(&sdk, bus))];
    if let Ok(url) = std::env::var("OASIS_INGEST_URL").map(|u| u.trim().to_owned())
        && !url.is_empty()
    {
        sinks.push(Box::new(super::Oasis::new(url)?));
    }
    Ok(sinks)
}
