//! Logs through `tracing`: JSON inside Lambda (CloudWatch parses it), text elsewhere.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("VTID_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests, a server started twice) keeps the first subscriber.
    let _ = if in_lambda {
        builder.json().flatten_event(true).without_time().try_init()
    } else {
        // Colour only for a person at a terminal: codes in a file or a CI log are noise.
        let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .try_init()
    };
}
