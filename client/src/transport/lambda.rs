//! Direct invocation of the ledger's functions (`lambda:InvokeFunction`, the stack's
//! `DirectInvokePolicy`): no HTTP API in between. The caller's IAM identity goes into the
//! event's request context, where the functions read it; only roles trusted as `service`
//! should hold the invoke permission.

use std::collections::HashMap;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use serde::Deserialize;

use super::{Call, Failure, Op, apigw, cause_chain};
use crate::answer::Reply;
use crate::error::Error;

/// The functions to invoke, by operation: the stack's outputs `CreateFunctionName`,
/// `BatchFunctionName`, ... `HealthFunctionName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionNames {
    pub create: String,
    pub batch: String,
    pub get: String,
    pub update: String,
    pub list: String,
    pub history: String,
    pub health: String,
    pub audit: String,
}

const OUTPUT_KEYS: [&str; 8] = [
    "CreateFunctionName",
    "BatchFunctionName",
    "GetFunctionName",
    "UpdateFunctionName",
    "ListFunctionName",
    "HistoryFunctionName",
    "HealthFunctionName",
    "AuditFunctionName",
];

#[derive(Deserialize)]
#[serde(untagged)]
enum Outputs {
    /// `aws cloudformation describe-stacks --query 'Stacks[0].Outputs'`.
    List(Vec<Output>),
    /// `{"CreateFunctionName": "...", ...}`.
    Map(HashMap<String, String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    output_key: String,
    output_value: String,
}

impl FunctionNames {
    /// From the stack's outputs as JSON: the list `aws cloudformation describe-stacks
    /// --query 'Stacks[0].Outputs'` prints, or an object of output keys to names.
    pub fn from_stack_outputs(json: &str) -> Result<Self, Error> {
        let outputs: Outputs = serde_json::from_str(json).map_err(|e| {
            Error::Invalid(format!(
                "the stack outputs are neither a list of {{OutputKey, OutputValue}} nor an object: {e}"
            ))
        })?;
        let map: HashMap<String, String> = match outputs {
            Outputs::List(list) => list
                .into_iter()
                .map(|o| (o.output_key, o.output_value))
                .collect(),
            Outputs::Map(m) => m,
        };
        Self::from_map(&map)
    }

    /// From output keys to names (e.g. read from the environment by the caller).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, Error> {
        let missing: Vec<&str> = OUTPUT_KEYS
            .into_iter()
            .filter(|k| map.get(*k).is_none_or(|v| v.trim().is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "the stack outputs lack {}",
                missing.join(", ")
            )));
        }
        let name = |k: &str| map.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Ok(Self {
            create: name("CreateFunctionName"),
            batch: name("BatchFunctionName"),
            get: name("GetFunctionName"),
            update: name("UpdateFunctionName"),
            list: name("ListFunctionName"),
            history: name("HistoryFunctionName"),
            health: name("HealthFunctionName"),
            audit: name("AuditFunctionName"),
        })
    }

    pub fn for_op(&self, op: Op) -> &str {
        match op {
            Op::Create => &self.create,
            Op::Batch => &self.batch,
            Op::Get => &self.get,
            Op::Update => &self.update,
            Op::List => &self.list,
            Op::History => &self.history,
            Op::Health => &self.health,
            Op::Audit => &self.audit,
        }
    }
}

/// Invokes the ledger's functions with the AWS SDK. The SDK's own retries are off: the
/// client's policy retries (throttling, no connection) within the call's time limit.
pub struct Direct {
    lambda: aws_sdk_lambda::Client,
    functions: FunctionNames,
    caller_arn: String,
}

impl Direct {
    /// `sdk`: e.g. `aws_config::load_from_env().await`; `caller_arn`: the identity the
    /// ledger records as `createdBy`/`updatedBy` (the calling role's ARN).
    pub fn new(
        sdk: &aws_types::SdkConfig,
        functions: FunctionNames,
        caller_arn: impl Into<String>,
    ) -> Result<Self, Error> {
        let caller_arn = caller_arn.into();
        if caller_arn.trim().is_empty() {
            return Err(Error::Invalid(
                "direct invocation needs the caller's ARN (the identity the ledger records)".into(),
            ));
        }
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        Ok(Self {
            lambda: aws_sdk_lambda::Client::from_conf(config),
            functions,
            caller_arn,
        })
    }

    pub(crate) fn target(&self, op: Op) -> String {
        format!("Lambda function {}", self.functions.for_op(op))
    }

    pub(crate) async fn send(&self, call: &Call) -> Result<Reply, Failure> {
        let function = self.functions.for_op(call.op);
        let event = apigw::event(call, &self.caller_arn);
        let out = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| self.failure(call.op, e))?;
        let payload = out.payload().map(Blob::as_ref).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            let said: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            return Err(Failure::Final(Error::Unreachable {
                target: self.target(call.op),
                cause: format!(
                    "the function failed ({kind}): {}",
                    said["errorMessage"].as_str().unwrap_or("no message")
                ),
            }));
        }
        apigw::reply(payload).ok_or_else(|| {
            Failure::Final(Error::NotALedger {
                target: self.target(call.op),
                status: None,
                why: "its answer is not an API Gateway HTTP API response".into(),
            })
        })
    }

    fn failure(&self, op: Op, e: SdkError<InvokeError>) -> Failure {
        let target = self.target(op);
        let cause = cause_chain(&e);
        match e {
            SdkError::DispatchFailure(_) => Failure::NotSent(cause),
            SdkError::TimeoutError(_) => Failure::Lost("the invocation timed out".into()),
            SdkError::ResponseError(_) => Failure::Lost("the answer could not be read".into()),
            SdkError::ServiceError(s) => {
                let err = s.into_err();
                let said = err.to_string();
                match err {
                    InvokeError::TooManyRequestsException(_)
                    | InvokeError::Ec2ThrottledException(_) => Failure::Throttled(said),
                    InvokeError::ResourceNotFoundException(_) => {
                        Failure::Final(Error::NotALedger {
                            target,
                            status: Some(404),
                            why: format!("no such function: {said}"),
                        })
                    }
                    _ => Failure::Final(Error::Unreachable {
                        target,
                        cause: format!("{}: {said}", err.meta().code().unwrap_or("error")),
                    }),
                }
            }
            _ => Failure::Final(Error::Unreachable { target, cause }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_the_stack_outputs() {
        let list: Vec<serde_json::Value> = OUTPUT_KEYS
            .iter()
            .map(|k| serde_json::json!({"OutputKey": k, "OutputValue": format!("vtid-{k}"), "Description": "x"}))
            .chain([serde_json::json!({"OutputKey": "ApiUrl", "OutputValue": "https://x"})])
            .collect();
        let names =
            FunctionNames::from_stack_outputs(&serde_json::Value::from(list).to_string()).unwrap();
        assert_eq!(names.for_op(Op::Get), "vtid-GetFunctionName");
        assert_eq!(names.for_op(Op::Health), "vtid-HealthFunctionName");
        let e = FunctionNames::from_stack_outputs(r#"{"CreateFunctionName": "c"}"#).unwrap_err();
        assert!(e.to_string().contains("BatchFunctionName"), "{e}");
    }
}
