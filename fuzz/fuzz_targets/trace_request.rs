//! The body of `POST /v1/trace` (and a trace plan's question): any bytes
//! are a question or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(q) = serde_json::from_slice::<chaintrace::app::trace::Query>(body) {
        let _ = q.evidence();
    }
});
