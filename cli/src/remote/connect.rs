//! The client the flags ask for: HTTP with a bearer token, HTTP signed with SigV4, or
//! direct Lambda invocation (those two with the `aws` feature), with the command's time
//! limit, its trace, and, with --verbose, each retry reported on stderr.

use std::sync::Arc;

use vtid_client::{Client, Config};

use super::{Remote, TransportArg};
use crate::exit::Fail;

pub async fn client(remote: &Remote) -> Result<Client, Fail> {
    let client = match remote.transport {
        TransportArg::Http => Client::http(&remote.url, remote.token.clone())?,
        TransportArg::Sigv4 | TransportArg::Lambda => aws_client(remote).await?,
    };
    // One span for the command: a child of the CI system's TRACEPARENT, or a new trace.
    let trace = vtid_client::TraceParent::from_env();
    if remote.verbose {
        eprintln!("vtid: traceparent: {trace}");
    }
    let mut config = Config {
        timeout: remote.timeout,
        trace: Some(trace),
        ..Config::default()
    };
    if remote.verbose {
        config.on_retry = Some(Arc::new(|r: &vtid_client::Retrying| {
            eprintln!(
                "vtid: try {} of {} failed ({}); retrying in {:.1} s",
                r.attempt,
                r.attempts,
                r.reason,
                r.wait.as_secs_f64()
            );
        }));
    }
    Ok(client.with_config(config))
}

/// A client over an AWS transport: HTTP signed with SigV4, or direct invocation.
#[cfg(feature = "aws")]
async fn aws_client(remote: &Remote) -> Result<Client, Fail> {
    use vtid_client::{Direct, FunctionNames, SigV4};
    if remote.transport == TransportArg::Sigv4 {
        refuse_token(remote, "sigv4")?;
        let sdk = aws_config::load_from_env().await;
        let credentials = sdk.credentials_provider().ok_or_else(|| {
            Fail::usage("--transport sigv4 needs AWS credentials (environment, profile or role); none were found")
        })?;
        let region = region_of(&remote.url)
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                Fail::usage("--transport sigv4 needs the API's region: set AWS_REGION")
            })?;
        return Ok(Client::sigv4(&remote.url, SigV4::new(credentials, region))?);
    }
    refuse_token(remote, "lambda")?;
    let path = remote.stack_outputs.as_ref().ok_or_else(|| {
        Fail::usage("--transport lambda needs --stack-outputs FILE (aws cloudformation describe-stacks --stack-name NAME --query 'Stacks[0].Outputs')")
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
    let functions = FunctionNames::from_stack_outputs(&text)?;
    let caller = remote.caller_arn.clone().ok_or_else(|| {
        Fail::usage(
            "--transport lambda needs --caller-arn (the role ARN the ledger records as createdBy)",
        )
    })?;
    let sdk = aws_config::load_from_env().await;
    Ok(Client::direct(Direct::new(&sdk, functions, caller)?))
}

/// Without the `aws` feature there are no AWS transports.
#[cfg(not(feature = "aws"))]
async fn aws_client(_: &Remote) -> Result<Client, Fail> {
    Err(Fail::usage(
        crate::WITHOUT_AWS.replace("{what}", "--transport sigv4 and lambda"),
    ))
}

#[cfg(feature = "aws")]
fn refuse_token(remote: &Remote, transport: &str) -> Result<(), Fail> {
    match remote.token {
        Some(_) => Err(Fail::usage(format!(
            "--token (or VTID_TOKEN) is for --transport http; --transport {transport} uses AWS credentials"
        ))),
        None => Ok(()),
    }
}

#[cfg(feature = "aws")]
/// The region of an API Gateway URL (`https://abc.execute-api.eu-west-1.amazonaws.com`).
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let rest = host.split_once(".execute-api.")?.1;
    let region = rest.split('.').next()?;
    (!region.is_empty()).then(|| region.to_owned())
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_api_gateway_url() {
        assert_eq!(
            region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:8787"), None);
    }
}
