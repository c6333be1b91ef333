//! The `vtid` command line: the local server, the import, and the client commands, as a
//! library so that the tests start the very same server in-process.

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
