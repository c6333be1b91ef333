//! One test body per behaviour, run against both stores: SQLite, and DynamoDB on moto's
//! server. Requests are API Gateway v2 events sent through the functions' handlers. One
//! file per group; each ends with its list of tests, which `on_both_stores!` runs on
//! each store (`<group>::sqlite::<test>` and `<group>::dynamo::<test>`).

#![recursion_limit = "256"]

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{Value, json};
use shared::store::{CounterAdvance, CreateRequest, Store};
use shared::timestamp::Timestamp;
use shared::vtid::Vtid;
use vtid_tests::{Api, Kind, Req, Who, body, seqs};

fn year() -> u16 {
    Timestamp::now().year()
}

fn vtid(seq: u32) -> String {
    Vtid::new(year(), seq).unwrap().to_string()
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(vtid_tests::Api::new(vtid_tests::Kind::Sqlite).await).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    vtid_tests::skip_without_dynamo!();
                    super::$name(vtid_tests::Api::new(vtid_tests::Kind::Dynamo).await).await;
                }
            )*
        }
    };
}

mod batch;
mod create;
mod dynamo_only;
mod embedded;
mod history;
mod idempotency;
mod input;
mod integrity;
mod list;
mod patch;
mod reads;
mod search;
mod void;
