//! Step 4 of a create (see `sequencing`): reserving a block of numbers with one
//! conditional update of the year's counter item, sent again after a lost answer
//! without reserving twice and without losing the block the first attempt took.
//!
//! The counter remembers its last [`RING`] reservations: slot `b0`/`e0` holds the newest
//! reservation's token and block end, `b1`/`e1` the one before, and so on. Each
//! reservation shifts the slots down by one and writes itself into slot 0, in the same
//! update that moves `n`, so the counter item stays the same size forever (under 1 KB:
//! one write unit). Every operand is read from the item as it was before the update,
//! which is what DynamoDB does (and what an emulator that applies the actions in order
//! also does, since each slot is read before it is overwritten).
//!
//! The update's condition is that no slot holds this reservation's token. A fresh
//! token always passes; a resend after a lost answer is refused exactly when the first
//! attempt was applied, and the refusal (`ALL_OLD`) names the slot, hence the block's
//! end. That holds however many other creators reserved in between, up to [`RING`] of
//! them: past that the first block can no longer be found, and it is the one gap a live
//! process cannot account for (logged; the audit shows it as missing).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::errors::{Backoff, Failure, classify};
use super::item::{COUNTER_VALUE, Item, counter_key, get_n, get_s, internal, n, s};
use crate::deadline::Deadline;
use crate::store::StoreError;

/// How many reservations the counter remembers.
/// Sized for a burst: 16 other reservations between a lost answer and its resend. Each
/// slot costs nothing on DynamoDB (the item stays under 1 KB) but an emulator's time per
/// update grows with the expression (moto: 7 ms for a bare `ADD`, 37 ms at 16 slots, 78 ms
/// at 32).
pub const RING: usize = 16;

/// A reservation's token: 48 random bits, unique among the [`RING`] the counter keeps.
pub fn reservation_token() -> String {
    format!("{:012x}", fastrand::u64(..1 << 48))
}

/// Why a reservation did not return a block.
pub struct Unreserved {
    pub error: StoreError,
    /// Whether an attempt may have been applied (its outcome is unknown): the block, if
    /// any, can still be found by its token on the counter.
    pub maybe_applied: bool,
}

impl DynamoStore {
    /// Step 4: reserves `count` numbers under `token`; the block's end. `UpdateItem` has
    /// no request token, so the SDK never sends it again on its own (see
    /// `timeouts::once`): this loop does, after a throttle (not applied) or an unknown
    /// outcome (a dropped connection, a 5xx: maybe applied), always with the same token.
    pub(super) async fn reserve(
        &self,
        year: u16,
        count: u64,
        token: &str,
        deadline: Deadline,
    ) -> Result<u64, Unreserved> {
        let mut backoff = Backoff::new();
        let mut maybe_applied = false;
        loop {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(counter_key(year)))
                .update_expression(RESERVE_UPDATE.as_str())
                .condition_expression(RESERVE_CONDITION.as_str())
                .expression_attribute_names("#n", COUNTER_VALUE)
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":token", s(token))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":none", s("-"))
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .customize()
                .config_override(super::timeouts::once())
                .send();
            let e = match deadline.bound(sent).await {
                Err(expired) => {
                    return Err(Unreserved {
                        error: expired.into(),
                        // The attempt cut off may still be applied.
                        maybe_applied: true,
                    });
                }
                Ok(Ok(out)) => {
                    if maybe_applied {
                        // The ring did not hold our token: no earlier attempt was applied,
                        // or one was and more than RING reservations came after it.
                        tracing::info!(
                            token,
                            "a reservation sent again after an unknown outcome reserved anew"
                        );
                    }
                    return out
                        .attributes()
                        .and_then(|a| get_n(a, COUNTER_VALUE))
                        .ok_or_else(|| Unreserved {
                            error: internal("the reservation returned no counter"),
                            maybe_applied: false,
                        });
                }
                Ok(Err(e)) => e,
            };
            if let Some(UpdateItemError::ConditionalCheckFailedException(refused)) =
                e.as_service_error()
            {
                // An earlier attempt of ours was applied: its block is in the ring.
                return refused
                    .item()
                    .and_then(|item| block_end(item, token))
                    .ok_or_else(|| Unreserved {
                        error: internal("a refused reservation does not name its block"),
                        maybe_applied: false,
                    });
            }
            match classify(&e) {
                Failure::Busy(_) => {}
                Failure::Unknown(_) => maybe_applied = true,
                bug => {
                    return Err(Unreserved {
                        error: bug.into(),
                        maybe_applied,
                    });
                }
            }
            if let Err(expired) = backoff.pause(deadline).await {
                return Err(Unreserved {
                    error: expired.into(),
                    maybe_applied,
                });
            }
        }
    }
}

/// The end of the block the counter item remembers for `token`.
pub fn block_end(counter: &Item, token: &str) -> Option<u64> {
    (0..RING).find_map(|i| {
        (get_s(counter, &format!("b{i}")) == Some(token))
            .then(|| get_n(counter, &format!("e{i}")))
            .flatten()
    })
}

/// `SET b15 = b14, e15 = e14, ..., b0 = :token, e0 = n + :count, n = n + :count`: the
/// ring shifted by one and the new reservation in slot 0. Missing slots read as `-` and
/// 0 (a new year's counter has none).
static RESERVE_UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut actions: Vec<String> = (1..RING)
        .rev()
        .flat_map(|i| {
            let j = i - 1;
            [
                format!("b{i} = if_not_exists(b{j}, :none)"),
                format!("e{i} = if_not_exists(e{j}, :zero)"),
            ]
        })
        .collect();
    actions.push("b0 = :token".into());
    actions.push("e0 = if_not_exists(#n, :zero) + :count".into());
    actions.push("#n = if_not_exists(#n, :zero) + :count".into());
    format!("SET {}", actions.join(", "))
});

/// No slot holds this reservation's token (a missing slot compares unequal).
static RESERVE_CONDITION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let any: Vec<String> = (0..RING).map(|i| format!("b{i} = :token")).collect();
    format!("NOT ({})", any.join(" OR "))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_shifts_every_slot_once_and_stays_within_dynamodbs_limits() {
        let update = RESERVE_UPDATE.as_str();
        assert!(update.starts_with("SET b15 = if_not_exists(b14, :none)"));
        assert!(update.ends_with("#n = if_not_exists(#n, :zero) + :count"));
        for i in 0..RING {
            assert_eq!(update.matches(&format!("b{i} = ")).count(), 1, "b{i}");
            assert_eq!(update.matches(&format!("e{i} = ")).count(), 1, "e{i}");
        }
        // DynamoDB allows 4 KB per expression.
        assert!(update.len() < 4096 && RESERVE_CONDITION.len() < 4096);
        // The counter item's largest size: names, 12-character tokens, and numbers of
        // up to 10 digits (DynamoDB stores a number in 1 byte per 2 digits, plus 1).
        let slot = "b15".len() + 12 + "e15".len() + 6;
        assert!(RING * slot + 100 < 1024, "one write unit");
    }

    #[test]
    fn a_block_is_found_by_its_token_in_any_slot() {
        let mut counter: Item = Item::new();
        counter.insert("n".into(), n(40));
        for i in 0..RING {
            counter.insert(format!("b{i}"), s(format!("t{i}")));
            counter.insert(format!("e{i}"), n(40 - i as u64));
        }
        assert_eq!(block_end(&counter, "t0"), Some(40));
        assert_eq!(block_end(&counter, "t15"), Some(25));
        assert_eq!(block_end(&counter, "gone"), None);
        assert_eq!(reservation_token().len(), 12);
    }
}
