//! How a call reaches the ledger: HTTP (with a bearer token, or signed with SigV4) or a
//! direct invocation of the ledger's Lambda functions. Every transport hands back the
//! same [`Reply`], read by the same rules ([`crate::answer`]).

#[cfg(feature = "lambda")]
mod apigw;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "sigv4")]
pub mod sigv4;

use ::http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use vtid_model::Vtid;

use crate::answer::Reply;
use crate::error::Error;

/// RFC 3986's unreserved characters stay as they are; everything else is escaped (the
/// form SigV4's canonical query string uses too).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The API's operations: each is one route, and one function on AWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Batch,
    Get,
    Update,
    List,
    History,
    Health,
    Audit,
}

impl Op {
    pub fn method(self) -> Method {
        match self {
            Op::Create | Op::Batch => Method::POST,
            Op::Update => Method::PATCH,
            _ => Method::GET,
        }
    }

    /// The route as API Gateway names it (`routeKey`).
    pub fn route_key(self) -> &'static str {
        match self {
            Op::Create => "POST /vtid/create",
            Op::Batch => "POST /vtid/batch",
            Op::Get => "GET /vtid/{vtid}",
            Op::Update => "PATCH /vtid/{vtid}",
            Op::List => "GET /vtid/list",
            Op::History => "GET /vtid/{vtid}/history",
            Op::Health => "GET /vtid/health",
            Op::Audit => "GET /vtid/audit",
        }
    }
}

/// One call: the operation, its path VTID, query, extra headers and JSON body.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub op: Op,
    pub vtid: Option<Vtid>,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn new(op: Op) -> Self {
        Self {
            op,
            vtid: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// The path; a VTID needs no escaping (it is canonical).
    pub fn path(&self) -> String {
        let vtid = self.vtid.map(|v| v.to_string()).unwrap_or_default();
        match self.op {
            Op::Create => "/vtid/create".into(),
            Op::Batch => "/vtid/batch".into(),
            Op::Get | Op::Update => format!("/vtid/{vtid}"),
            Op::List => "/vtid/list".into(),
            Op::History => format!("/vtid/{vtid}/history"),
            Op::Health => "/vtid/health".into(),
            Op::Audit => "/vtid/audit".into(),
        }
    }

    pub fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn path_and_query(&self) -> String {
        let q = self.query_string();
        if q.is_empty() {
            self.path()
        } else {
            format!("{}?{q}", self.path())
        }
    }
}

/// Why a transport got no answer, and whether trying again may help.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Nothing reached the ledger (no connection): safe to try again.
    NotSent(String),
    /// The transport itself throttled the call (Lambda's `TooManyRequests`).
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    Throttled(String),
    /// The call may have reached the ledger, but no answer came back.
    Lost(String),
    /// Trying again cannot help (no such function, no permission, no credentials).
    Final(Error),
}

pub(crate) enum Transport {
    Http(http::HttpTransport),
    #[cfg(feature = "lambda")]
    Lambda(lambda::Direct),
}

impl Transport {
    /// Where a call goes, for messages: the URL, or the function's name.
    pub fn target(&self, call: &Call) -> String {
        match self {
            Transport::Http(t) => t.shown_url(call),
            #[cfg(feature = "lambda")]
            Transport::Lambda(t) => t.target(call.op),
        }
    }

    pub async fn send(&self, call: &Call) -> Result<Reply, Failure> {
        match self {
            Transport::Http(t) => t.send(call).await,
            #[cfg(feature = "lambda")]
            Transport::Lambda(t) => t.send(call).await,
        }
    }

    /// A likely cause to add when the answer was not a ledger's.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Transport::Http(t) => t.hint(),
            #[cfg(feature = "lambda")]
            Transport::Lambda(_) => Some(
                "check the function names (the stack's outputs CreateFunctionName, GetFunctionName, ...)",
            ),
        }
    }
}

/// An error and its causes, as one line ("client error (Connect): tcp connect error:
/// Connection refused").
pub(crate) fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
