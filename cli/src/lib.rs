//! The `vtid` command line: the local server and the import, as a library so that the
//! tests start the very same server in-process.

pub mod auth;
pub mod events;
pub mod import;
pub mod remote;
pub mod serve;
pub mod store_args;
pub mod watch;
pub mod web;
