//! A page that always fits a response: items are added while their JSON stays within
//! [`MAX_PAGE_BYTES`]; the rest is left for the next page.

use serde::Serialize;
use serde_json::Value;

use crate::store::limits::MAX_PAGE_BYTES;

pub struct Fitted<P> {
    pub items: Vec<Value>,
    /// Where the next page must continue when items were left out.
    pub cut_after: Option<P>,
}

/// The leading items of `items` that fit, with the position (`position_of` the last one
/// kept) to continue after when some did not.
pub fn fit_page<T: Serialize, P>(items: Vec<T>, position_of: impl Fn(&T) -> P) -> Fitted<P> {
    let mut kept = Vec::with_capacity(items.len());
    let mut bytes = 0usize;
    let mut last_kept: Option<P> = None;
    for item in items {
        let value = serde_json::to_value(&item).unwrap_or(Value::Null);
        let size = value.to_string().len() + 1;
        if !kept.is_empty() && bytes + size > MAX_PAGE_BYTES {
            return Fitted {
                items: kept,
                cut_after: last_kept,
            };
        }
        bytes += size;
        last_kept = Some(position_of(&item));
        kept.push(value);
    }
    Fitted {
        items: kept,
        cut_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_past_the_byte_budget_go_to_the_next_page() {
        let big = "x".repeat(MAX_PAGE_BYTES / 3);
        let items: Vec<(u32, String)> = (0..5).map(|i| (i, big.clone())).collect();
        let fitted = fit_page(items, |(i, _)| *i);
        assert_eq!(fitted.items.len(), 2);
        assert_eq!(fitted.cut_after, Some(1));
        let small: Vec<u32> = (0..10).collect();
        let fitted = fit_page(small, |i| *i);
        assert_eq!((fitted.items.len(), fitted.cut_after), (10, None));
    }
}
