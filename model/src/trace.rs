//! W3C Trace Context: the `traceparent` a call carries, so that a deploy gate's request
//! can be followed into the ledger's logs. A CI system or a tracing tool that started a
//! trace hands it on in the `TRACEPARENT` environment variable (the convention of
//! OpenTelemetry's environment carriers); the calls then continue that trace as a child
//! span, and without one they start a trace of their own.

use std::fmt;

/// A valid `traceparent` value: `00-<trace id>-<parent id>-<flags>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    parent_id: String,
    flags: String,
}

impl TraceParent {
    /// A child of `TRACEPARENT` from the environment when it holds a valid one, else the
    /// root of a new trace.
    pub fn from_env() -> Self {
        std::env::var("TRACEPARENT")
            .ok()
            .and_then(|v| Self::parse(&v))
            .map_or_else(Self::new_root, |parent| parent.child())
    }

    /// The first span of a new, sampled trace.
    pub fn new_root() -> Self {
        Self {
            trace_id: random_hex(16),
            parent_id: random_hex(8),
            flags: "01".into(),
        }
    }

    /// A span under this one: the same trace, a new parent id.
    pub fn child(&self) -> Self {
        Self {
            parent_id: random_hex(8),
            ..self.clone()
        }
    }

    /// `value` when it is a version-00 `traceparent` with non-zero ids, lower-case hex.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let valid = parts.next().is_none()
            && version == "00"
            && hex(trace_id, 32)
            && hex(parent_id, 16)
            && hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && parent_id.bytes().any(|b| b != b'0');
        valid.then(|| Self {
            trace_id: trace_id.into(),
            parent_id: parent_id.into(),
            flags: flags.into(),
        })
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

/// `bytes` random bytes as lower-case hex, never all zero (an invalid id).
fn random_hex(bytes: usize) -> String {
    loop {
        let text: String = (0..bytes)
            .map(|_| format!("{:02x}", fastrand::u8(..)))
            .collect();
        if text.bytes().any(|b| b != b'0') {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_continued_and_a_bad_one_ignored() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(given).expect("valid");
        assert_eq!(parent.to_string(), given);
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.to_string(), given);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        let root = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&root.to_string()), Some(root));
    }
}
