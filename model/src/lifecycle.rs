//! Statuses and the moves allowed between them (docs/api.md, "The record").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Blocked,
    Complete,
    Failed,
    Cancelled,
}

pub const STATUS_NAMES: &str = "pending, active, blocked, complete, failed, cancelled";

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Active,
        Status::Blocked,
        Status::Complete,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Blocked => "blocked",
            Status::Complete => "complete",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Complete | Status::Failed | Status::Cancelled)
    }

    /// Whether `self -> to` is one of the lifecycle's moves (staying put is not a move).
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Pending, Active | Blocked | Cancelled)
                | (Active, Blocked | Complete | Failed | Cancelled)
                | (Blocked, Active | Pending | Cancelled)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("status must be one of {STATUS_NAMES}"))
    }
}

/// A status change that the lifecycle allows; only [`Transition::new`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a record cannot move from {from} to {to}")]
pub struct InvalidTransition {
    pub from: Status,
    pub to: Status,
}

impl Transition {
    pub fn new(from: Status, to: Status) -> Result<Self, InvalidTransition> {
        if from.can_move_to(to) {
            Ok(Self { from, to })
        } else {
            Err(InvalidTransition { from, to })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn allowed_moves_are_exactly_the_specs() {
        let allowed = [
            (Pending, Active),
            (Pending, Blocked),
            (Pending, Cancelled),
            (Active, Blocked),
            (Active, Complete),
            (Active, Failed),
            (Active, Cancelled),
            (Blocked, Active),
            (Blocked, Pending),
            (Blocked, Cancelled),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(
                    Transition::new(from, to).is_ok(),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn terminal_statuses_have_no_way_out() {
        for from in [Complete, Failed, Cancelled] {
            assert!(from.is_terminal());
            assert!(Status::ALL.iter().all(|&to| !from.can_move_to(to)));
        }
    }

    #[test]
    fn parse_names() {
        assert_eq!("active".parse::<Status>(), Ok(Active));
        assert!("Active".parse::<Status>().is_err());
    }
}
