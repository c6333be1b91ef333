//! The exit codes: one table, shown by `vtid --help` and in docs/pipelines.md (a test
//! keeps the two equal), and how a failure maps onto it.

use std::process::ExitCode;

use vtid_client::Kind;

/// What a command's exit code says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// The asked-for VTID does not exist, or is not in the asked-for status.
    Missing = 1,
    /// A usage or validation error.
    Usage = 2,
    /// Not authenticated, or not allowed.
    Denied = 3,
    /// A conflict or a failed precondition.
    Conflict = 4,
    /// The ledger cannot be reached, did not answer in time, or is not a VTID ledger.
    Unavailable = 5,
}

/// The table, as `vtid --help` prints it.
pub const TABLE: &str = "\
Exit codes:
  0  success
  1  the VTID does not exist (or, with `exists --status` and `wait`, is not in that status)
  2  usage or validation error: a bad flag, a bad VTID, a bad import file (400, 413)
  3  not authenticated or not allowed (401, 403)
  4  conflict or precondition: a refused status move, a stale --if-match, a missing parent,
     an import row that differs from the ledger, `wait` ended in another final status
     (409, 412, 422)
  5  the ledger cannot be reached, did not answer within --timeout, failed (429, 5xx after
     the retries), or what answered is not a VTID ledger (a wrong URL: 404 no_route, a
     body that is not the ledger's JSON, API Gateway's own {\"message\": ...})";

impl From<Kind> for Exit {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::NotFound => Exit::Missing,
            Kind::Invalid => Exit::Usage,
            Kind::Denied => Exit::Denied,
            Kind::Conflict => Exit::Conflict,
            Kind::Unavailable => Exit::Unavailable,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Why a command ends with a non-zero code (or quietly, when stdout was closed).
#[derive(Debug)]
pub enum Fail {
    /// What the client call answered; the code follows its kind.
    Client(vtid_client::Error),
    /// A code, a machine `code` for `--json`, and a sentence for a person.
    Exit {
        exit: Exit,
        code: &'static str,
        message: String,
    },
    /// Stdout was closed (`vtid list | head -1`): nothing more to say, exit 0.
    Closed,
}

impl Fail {
    pub fn usage(message: impl Into<String>) -> Self {
        Fail::Exit {
            exit: Exit::Usage,
            code: "usage",
            message: message.into(),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Fail::Client(e) => e.kind().into(),
            Fail::Exit { exit, .. } => *exit,
            Fail::Closed => Exit::Success,
        }
    }
}

impl From<vtid_client::Error> for Fail {
    fn from(e: vtid_client::Error) -> Self {
        Fail::Client(e)
    }
}

/// A line on stderr; a closed stderr is no reason to panic.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}
