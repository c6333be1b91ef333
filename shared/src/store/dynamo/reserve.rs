//! Step 4 of a create (see `sequencing`): reserving a block of numbers with one `ADD` on
//! the year's counter item, and telling after a lost answer whether it was reserved.

use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::errors::{Backoff, Failure, classify};
use super::item::{COUNTER_RESERVED_BY, COUNTER_VALUE, counter_key, get_n, internal, n, s};
use super::transact::new_token;
use crate::deadline::Deadline;
use crate::store::StoreError;

impl DynamoStore {
    /// Step 4: `ADD n :count` on the counter, with this reservation's token; the new
    /// value. The `ADD` has no request token of its own, so the SDK never sends it again:
    /// after an answer that may have been lost (a dropped connection, a 5xx) this reads the
    /// counter, and if it still names this reservation, its value is this block's end.
    /// Only when another creator reserved in between is a lost block a gap.
    pub(super) async fn reserve(
        &self,
        year: u16,
        count: u64,
        deadline: Deadline,
    ) -> Result<u64, StoreError> {
        let token = new_token();
        let mut backoff = Backoff::new();
        let mut maybe_applied = false;
        loop {
            if maybe_applied {
                match self.reservation_of(year, &token, deadline).await? {
                    Ok(Some(end)) => return Ok(end),
                    // Never applied, or another reservation came after it: ask again.
                    Ok(None) => maybe_applied = false,
                    Err(Failure::Busy(_) | Failure::Unknown(_)) => {
                        backoff.pause(deadline).await?;
                        continue;
                    }
                    Err(bug) => return Err(bug.into()),
                }
            }
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(counter_key(year)))
                .update_expression("ADD #n :count SET #by = :token")
                .expression_attribute_names("#n", COUNTER_VALUE)
                .expression_attribute_names("#by", COUNTER_RESERVED_BY)
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":token", s(&token))
                .return_values(ReturnValue::UpdatedNew)
                .customize()
                .config_override(one_patient_attempt(deadline))
                .send();
            match deadline.bound(sent).await? {
                Ok(out) => {
                    return out
                        .attributes()
                        .and_then(|a| get_n(a, COUNTER_VALUE))
                        .ok_or_else(|| internal("ADD returned no counter"));
                }
                Err(e) => match classify(&e) {
                    Failure::Busy(_) => {}
                    Failure::Unknown(_) => maybe_applied = true,
                    bug => return Err(bug.into()),
                },
            }
            backoff.pause(deadline).await?;
        }
    }

    /// The counter's value if its last reservation is `token`'s (one consistent read).
    async fn reservation_of(
        &self,
        year: u16,
        token: &str,
        deadline: Deadline,
    ) -> Result<Result<Option<u64>, Failure>, StoreError> {
        let sent = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(year)))
            .consistent_read(true)
            .projection_expression("#n, #by")
            .expression_attribute_names("#n", COUNTER_VALUE)
            .expression_attribute_names("#by", COUNTER_RESERVED_BY)
            .send();
        Ok(match deadline.bound(sent).await? {
            Ok(out) => Ok(out.item().and_then(|item| {
                let ours = item.get(COUNTER_RESERVED_BY).and_then(|v| v.as_s().ok());
                if ours.is_some_and(|t| t == token) {
                    get_n(item, COUNTER_VALUE)
                } else {
                    None
                }
            })),
            Err(e) => Err(classify(&e)),
        })
    }
}

/// The `ADD` has no request token: an attempt sent again blindly may be applied twice,
/// and the first block is then lost. So the SDK sends it once (`reserve` decides about
/// another try), and its attempt is not cut short by the usual attempt timeout (made for
/// hung connections, which the deadline ends too): a slow answer is waited for, up to the
/// deadline, rather than sent again.
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
