//! Step 4 of a create (see `sequencing`): reserving a block of numbers with one
//! conditional update of the year's counter item, sent again after a lost answer
//! without reserving twice and without losing the block the first attempt took.
//!
//! The counter remembers its last [`RING`] reservations: slot `r0` holds the newest,
//! `r1` the one before, and so on. A slot is one number that packs the reservation's
//! token and its block's end: `token * 10^12 + end` (block ends stay below 2^32, tokens
//! below 2^48, so a slot has at most 27 digits of DynamoDB's 38). Packing halves the
//! actions of each update against a token and an end apart, and an emulator's time per
//! update grows faster than its actions (moto: 26 ms for 16 packed slots, 49 ms for 32,
//! 83 ms for 48; 51 ms for 16 unpacked, 131 ms for 32 unpacked). Each reservation
//! shifts the slots down by one and writes itself into `r0`, in the same update that
//! moves `n`, so the counter item stays the same size forever (under 1 KB: one write
//! unit). Every operand is read from the item as it was before the update, which is what
//! DynamoDB does (and what an emulator that applies the actions in order also does,
//! since each slot is read before it is overwritten).
//!
//! The update's condition is that no slot holds this reservation's token (no slot lies
//! in `token * 10^12 ..= token * 10^12 + 10^12 - 1`). A fresh token always passes; a
//! resend after a lost answer is refused exactly when the first attempt was applied, and
//! the refusal (`ALL_OLD`) names the slot, hence the block's end. That holds however
//! many other creators reserved in between, up to [`RING`] of them: past that the first
//! block can no longer be found, and it is the one gap a live process cannot account for
//! (logged; the audit shows it as missing). The window is the time between the lost
//! answer and the resend being applied: on DynamoDB a few milliseconds; on a store that
//! serves one request at a time, one pass of its queue per resend (up to 15 other
//! reservations with 16 busy creators, measured), and one more for every resend that is
//! itself throttled or lost.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::errors::{Backoff, Failure, classify};
use super::item::{COUNTER_VALUE, Item, counter_key, get_n, internal, n};
use crate::deadline::Deadline;
use crate::store::StoreError;

/// How many reservations the counter remembers: twice what one pass of a busy queue
/// brings (see above), for the cost of 16 unpacked slots on an emulator.
pub const RING: usize = 32;

/// A slot is `token * SLOT_SCALE + end`: ends are block ends, below 2^32.
const SLOT_SCALE: u128 = 1_000_000_000_000;

/// A reservation's token: 48 random bits, never 0 (a slot not written yet reads as 0),
/// unique among the [`RING`] the counter keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservationToken(u64);

impl ReservationToken {
    pub fn new() -> Self {
        Self(fastrand::u64(1..1 << 48))
    }

    /// The lowest slot value that names this token.
    fn slot_base(self) -> u128 {
        u128::from(self.0) * SLOT_SCALE
    }
}

impl std::fmt::Display for ReservationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:012x}", self.0)
    }
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
        token: ReservationToken,
        deadline: Deadline,
    ) -> Result<u64, Unreserved> {
        let base = token.slot_base();
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
                .expression_attribute_values(":slot", n(base + u128::from(count)))
                .expression_attribute_values(":lo", n(base))
                .expression_attribute_values(":hi", n(base + SLOT_SCALE - 1))
                .expression_attribute_values(":zero", n(0))
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
                    crate::metrics::add(crate::metrics::name::RESERVATIONS, 1);
                    if maybe_applied {
                        // The ring did not hold our token: no earlier attempt was applied,
                        // or one was and more than RING reservations came after it.
                        tracing::info!(
                            %token,
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
                let Some((slot, end)) = refused.item().and_then(|item| find_block(item, token))
                else {
                    return Err(Unreserved {
                        error: internal("a refused reservation does not name its block"),
                        maybe_applied: false,
                    });
                };
                // How far back: what the ring's size is measured against.
                tracing::debug!(%token, slot, end, "a resent reservation found its first attempt");
                return Ok(end);
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

/// The slot and the block end the counter item remembers for `token`.
pub fn find_block(counter: &Item, token: ReservationToken) -> Option<(usize, u64)> {
    let base = token.slot_base();
    (0..RING).find_map(|i| {
        let slot: u128 = counter.get(&format!("r{i}"))?.as_n().ok()?.parse().ok()?;
        let end = slot.checked_sub(base).filter(|end| *end < SLOT_SCALE)?;
        Some((i, u64::try_from(end).ok()?))
    })
}

/// `SET r31 = r30, ..., r1 = r0, r0 = n + :slot, n = n + :count`: the ring shifted by
/// one and the new reservation in slot 0 (`:slot` is the token's base plus the count,
/// so `r0` is the base plus the new `n`). Missing slots and a new year's missing `n`
/// read as 0.
static RESERVE_UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut actions: Vec<String> = (1..RING)
        .rev()
        .map(|i| format!("r{i} = if_not_exists(r{}, :zero)", i - 1))
        .collect();
    actions.push("r0 = if_not_exists(#n, :zero) + :slot".into());
    actions.push("#n = if_not_exists(#n, :zero) + :count".into());
    format!("SET {}", actions.join(", "))
});

/// No slot holds this reservation's token (a missing slot compares unequal).
static RESERVE_CONDITION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let any: Vec<String> = (0..RING)
        .map(|i| format!("r{i} BETWEEN :lo AND :hi"))
        .collect();
    format!("NOT ({})", any.join(" OR "))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_shifts_every_slot_once_and_stays_within_dynamodbs_limits() {
        let update = RESERVE_UPDATE.as_str();
        assert!(update.starts_with("SET r31 = if_not_exists(r30, :zero)"));
        assert!(update.ends_with("#n = if_not_exists(#n, :zero) + :count"));
        for i in 0..RING {
            assert_eq!(update.matches(&format!("r{i} = ")).count(), 1, "r{i}");
            assert_eq!(
                RESERVE_CONDITION.matches(&format!("r{i} BETWEEN")).count(),
                1,
                "r{i}"
            );
        }
        // DynamoDB allows 4 KB per expression.
        assert!(update.len() < 4096 && RESERVE_CONDITION.len() < 4096);
        // The counter item's largest size: names, and slots of up to 27 digits
        // (DynamoDB stores a number in 1 byte per 2 digits, plus 1).
        let slot = "r31".len() + 27 / 2 + 2;
        assert!(RING * slot + 100 < 1024, "one write unit");
        // The largest slot fits DynamoDB's 38 digits.
        let largest = ReservationToken((1 << 48) - 1).slot_base() + SLOT_SCALE - 1;
        assert!(largest.to_string().len() <= 38);
    }

    #[test]
    fn a_block_is_found_by_its_token_in_any_slot() {
        let tokens: Vec<ReservationToken> = (0..RING).map(|_| ReservationToken::new()).collect();
        let mut counter: Item = Item::new();
        counter.insert("n".into(), n(100));
        for (i, t) in tokens.iter().enumerate() {
            counter.insert(format!("r{i}"), n(t.slot_base() + 100 - i as u128));
        }
        assert_eq!(find_block(&counter, tokens[0]), Some((0, 100)));
        assert_eq!(
            find_block(&counter, tokens[RING - 1]),
            Some((RING - 1, 100 - RING as u64 + 1))
        );
        assert_eq!(find_block(&counter, ReservationToken(7)), None);
        // A token next to another's is not it: the slot's range is the token's alone.
        let next = ReservationToken(tokens[0].0 + 1);
        assert!(tokens.iter().all(|t| *t != next) && find_block(&counter, next).is_none());
        assert_eq!(ReservationToken::new().to_string().len(), 12);
    }

    #[test]
    fn a_new_counter_names_no_token() {
        // A slot not written yet reads as 0, which no token's range holds.
        let mut counter: Item = Item::new();
        counter.insert("r0".into(), n(0));
        assert_eq!(find_block(&counter, ReservationToken(1)), None);
        assert!(ReservationToken::new().0 > 0);
    }
}
