//! The `vtid` command line: the local server, the import, and the client commands, as a
//! library so that the tests start the very same server in-process.

/// What a command needs that this build left out (`{what}`), and how to get it.
pub const WITHOUT_AWS: &str = "{what} needs the AWS SDK, which this vtid was built \
    without: install it with `cargo install --path cli --locked --features aws`";

pub mod auth;
pub mod events;
pub mod exit;
pub mod import;
pub mod remote;
pub mod repair;
pub mod serve;
pub mod store_args;
pub mod token;
pub mod watch;
pub mod web;
