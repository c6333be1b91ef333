//! Step 4 of a create (see `sequencing`): reserving a block of numbers with one `ADD` on
//! the year's counter item, sent again after a lost answer without reserving twice.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::errors::{Backoff, Failure, classify};
use super::item::{COUNTER_RESERVED_BY, COUNTER_VALUE, counter_key, get_n, internal, n, s};
use super::transact::new_token;
use crate::deadline::Deadline;
use crate::store::StoreError;

impl DynamoStore {
    /// Step 4: `ADD n :count` on the counter, naming this reservation's token; the new
    /// value. `UpdateItem` has no request token, so the SDK never sends it again on its
    /// own. This code does, after a throttle (not applied) or an unknown outcome (a
    /// dropped connection, a 5xx: maybe applied), always with the same token and on the
    /// condition that the counter's last reservation is not that token. Refused for
    /// that condition, an earlier attempt was applied and nothing has reserved since:
    /// the old value is this block's end. So a lost answer costs no number, and a late
    /// attempt that lands after its resend is refused instead of reserving twice. Only
    /// when another creator reserved between the lost answer and the resend is a block
    /// left unwritten: a gap.
    pub(super) async fn reserve(
        &self,
        year: u16,
        count: u64,
        deadline: Deadline,
    ) -> Result<u64, StoreError> {
        let token = new_token();
        let mut backoff = Backoff::new();
        loop {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(counter_key(year)))
                .update_expression("ADD #n :count SET #by = :token")
                .condition_expression("attribute_not_exists(#by) OR #by <> :token")
                .expression_attribute_names("#n", COUNTER_VALUE)
                .expression_attribute_names("#by", COUNTER_RESERVED_BY)
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":token", s(&token))
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .customize()
                .config_override(one_patient_attempt(deadline))
                .send();
            let e = match deadline.bound(sent).await? {
                Ok(out) => {
                    return out
                        .attributes()
                        .and_then(|a| get_n(a, COUNTER_VALUE))
                        .ok_or_else(|| internal("ADD returned no counter"));
                }
                Err(e) => e,
            };
            if let Some(UpdateItemError::ConditionalCheckFailedException(ours)) =
                e.as_service_error()
            {
                return ours
                    .item()
                    .and_then(|item| get_n(item, COUNTER_VALUE))
                    .ok_or_else(|| internal("a refused ADD returned no counter"));
            }
            match classify(&e) {
                Failure::Busy(_) | Failure::Unknown(_) => backoff.pause(deadline).await?,
                bug => return Err(bug.into()),
            }
        }
    }
}

/// The SDK sends the `ADD` once: `reserve` alone decides about another try, with its
/// condition. And its attempt is not cut short by the usual attempt timeout (made for
/// hung connections, which the deadline ends too): a slow answer is waited for, up to the
/// deadline, rather than raced by a resend.
fn one_patient_attempt(deadline: Deadline) -> aws_sdk_dynamodb::config::Builder {
    let left = deadline
        .remaining()
        .max(std::time::Duration::from_millis(1));
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(1))
                .operation_attempt_timeout(left)
                .operation_timeout(left)
                .build(),
        )
}
