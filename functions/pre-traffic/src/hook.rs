//! The pre-traffic hook: before CodeDeploy shifts any traffic to a deployment's new
//! versions, call the new health and create functions directly (their version ARNs,
//! not the `live` alias), and report `Succeeded` only when health answers ok and a test
//! create returns a VTID; anything else, a timeout included, is `Failed`, which makes
//! CodeDeploy roll the deployment back. It always reports: a hook that stays silent
//! holds the deployment for an hour before CodeDeploy gives up on it.

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::Deserialize;
use serde_json::{Value, json};
use vtid_client::{Client, Config, Direct, FunctionNames, NewRecord};

/// The version ARN of the new health function (`!Ref HealthFunction.Version`).
pub const HEALTH_VERSION: &str = "VTID_HEALTH_VERSION";
/// The version ARN of the new create function (`!Ref CreateFunction.Version`).
pub const CREATE_VERSION: &str = "VTID_CREATE_VERSION";
/// The tenant of the test record (default `vtid-pre-traffic`).
pub const TENANT: &str = "VTID_PRE_TRAFFIC_TENANT";
/// The identity the ledger records as the test record's creator (the hook's role ARN).
pub const CALLER: &str = "VTID_PRE_TRAFFIC_CALLER";

const DEFAULT_TENANT: &str = "vtid-pre-traffic";
const DEFAULT_CALLER: &str = "vtid-pre-traffic";

/// Both checks together, retries included; the template gives the function 60 s, so the
/// report below always has time to go out.
const CHECKS_BUDGET: Duration = Duration::from_secs(30);
/// One call to the ledger, the client's retries included.
const CALL_BUDGET: Duration = Duration::from_secs(12);
/// The report to CodeDeploy, the SDK's retries included.
const REPORT_BUDGET: Duration = Duration::from_secs(15);

/// What CodeDeploy sends a lifecycle hook.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LifecycleEvent {
    deployment_id: String,
    lifecycle_event_hook_execution_id: String,
}

pub struct Hook {
    codedeploy: aws_sdk_codedeploy::Client,
    /// The ledger's new versions, or why they cannot be called (reported as `Failed`).
    ledger: Result<Client, String>,
    tenant: String,
}

impl Hook {
    /// Never fails: a missing setting is a failed check, reported to CodeDeploy, rather
    /// than a function that cannot start and so never reports.
    pub async fn from_env() -> Self {
        let sdk = shared::sdk::load_from_env().await;
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let ledger = match (var(HEALTH_VERSION), var(CREATE_VERSION)) {
            (Some(health), Some(create)) => {
                // Only health and create are ever called; the other names stay empty.
                let functions = FunctionNames {
                    create,
                    batch: String::new(),
                    get: String::new(),
                    update: String::new(),
                    list: String::new(),
                    history: String::new(),
                    health,
                    audit: String::new(),
                };
                let caller = var(CALLER).unwrap_or_else(|| DEFAULT_CALLER.to_owned());
                Direct::new(&sdk, functions, caller)
                    .map(|direct| {
                        Client::direct(direct).with_config(Config {
                            timeout: CALL_BUDGET,
                            ..Config::default()
                        })
                    })
                    .map_err(|e| e.to_string())
            }
            _ => Err(format!("{HEALTH_VERSION} and {CREATE_VERSION} must be set")),
        };
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
            ledger,
            tenant: var(TENANT).unwrap_or_else(|| DEFAULT_TENANT.to_owned()),
        }
    }

    /// Checks, reports, and answers with what it found. An error only when the event is
    /// not CodeDeploy's (nothing to report to) or the report itself could not be sent.
    pub async fn run(&self, event: Value) -> Result<Value, String> {
        let event: LifecycleEvent = serde_json::from_value(event).map_err(|e| {
            tracing::error!(error = %e, "not a CodeDeploy lifecycle event: nothing to report to");
            format!("not a CodeDeploy lifecycle event: {e}")
        })?;
        let checked =
            match tokio::time::timeout(CHECKS_BUDGET, self.check(&event.deployment_id)).await {
                Ok(checked) => checked,
                Err(_) => Err(format!(
                    "the checks took longer than {} s",
                    CHECKS_BUDGET.as_secs()
                )),
            };
        let (status, summary) = match checked {
            Ok(vtid) => (
                LifecycleEventStatus::Succeeded,
                json!({"status": "Succeeded", "vtid": vtid}),
            ),
            Err(why) => (
                LifecycleEventStatus::Failed,
                json!({"status": "Failed", "why": why}),
            ),
        };
        tracing::info!(
            deployment = %event.deployment_id,
            status = %status.as_str(),
            result = %summary,
            "pre-traffic checks done, reporting"
        );
        let report = self
            .codedeploy
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&event.deployment_id)
            .lifecycle_event_hook_execution_id(&event.lifecycle_event_hook_execution_id)
            .status(status)
            .send();
        match tokio::time::timeout(REPORT_BUDGET, report).await {
            Ok(Ok(_)) => Ok(summary),
            Ok(Err(e)) => {
                let e = aws_sdk_codedeploy::error::DisplayErrorContext(e).to_string();
                tracing::error!(error = %e, "the report to CodeDeploy failed");
                Err(format!("the report to CodeDeploy failed: {e}"))
            }
            Err(_) => {
                tracing::error!("the report to CodeDeploy timed out");
                Err("the report to CodeDeploy timed out".into())
            }
        }
    }

    /// Health answers ok, then one test create returns a VTID: the VTID, or why not.
    async fn check(&self, deployment_id: &str) -> Result<String, String> {
        let ledger = self.ledger.as_ref().map_err(Clone::clone)?;
        let health = ledger.health().await.map_err(|e| format!("health: {e}"))?;
        if !health.ok {
            return Err(format!("health answered not ok: {}", health.checks));
        }
        tracing::info!(checks = %health.checks, "health answered ok");
        let mut record = NewRecord::new(
            "deploy",
            "pre-traffic",
            format!("pre-traffic check of CodeDeploy deployment {deployment_id}"),
        )
        .tenant(&self.tenant);
        // A test record: lists and the audit tell it apart from real work.
        record.is_test = Some(true);
        // The deployment's ID as the key: CodeDeploy retrying the hook makes no second record.
        let key = format!("pre-traffic-{deployment_id}");
        let created = ledger
            .create(&record, Some(&key))
            .await
            .map_err(|e| format!("create: {e}"))?;
        let vtid = created.record.vtid.to_string();
        tracing::info!(vtid = %vtid, replayed = created.replayed, "create answered");
        Ok(vtid)
    }
}
