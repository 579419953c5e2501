//! The bodies of `POST /v1/screen` and `POST /v1/trace`, as the server
//! reads them before any work (`serve::check_body`): any bytes are a
//! request or a refusal, never a panic. A refusal is a 400 with one of the
//! codes docs/openapi.json lists and a message; a body accepted under a
//! server's small limits is accepted under its defaults too. The first
//! byte picks the route, the limits and the store's chain (the address
//! forms taken); the rest is the body.
#![no_main]
use chaintrace::serve::{Config, check_body};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CODES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../../docs/openapi.json")).expect("the document is JSON");
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    codes.as_array().expect("the Error schema lists its codes").iter().map(|c| c.as_str().expect("a code").to_string()).collect()
});

static CONFIGS: LazyLock<[Config; 2]> = LazyLock::new(|| {
    let default = Config::new(([127, 0, 0, 1], 0).into());
    let mut small = default.clone();
    small.max_batch = 3;
    small.limits.paths = 2;
    small.limits.paths_for = chaintrace::report::PathsFor::Top(5);
    small.limits.flow_edges = 7;
    [default, small]
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let route = if pick & 1 == 0 { "screen" } else { "trace" };
    let config = &CONFIGS[usize::from(pick >> 1 & 1)];
    let chain = if pick >> 2 & 1 == 0 { chaintrace::model::Chain::Ethereum } else { chaintrace::model::Chain::Bitcoin };
    match check_body(route, body, config, chain) {
        Ok(n) => {
            if route == "trace" {
                assert!(n >= 1, "a trace has a seed");
            } else {
                assert!(n <= config.max_batch);
            }
            assert!(check_body(route, body, &CONFIGS[0], chain).is_ok(), "accepted under small limits, refused under the defaults");
        }
        Err(r) => {
            assert_eq!(r.status, 400, "{r:?}");
            assert!(CODES.iter().any(|c| c == r.code), "code {:?} is not in docs/openapi.json", r.code);
            assert!(!r.message.is_empty());
        }
    }
});
