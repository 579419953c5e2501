//! chaintrace follows stolen cryptocurrency through public blockchain exports.
//!
//! The library is stacked one way; a module imports only those below it
//! (`tests/architecture.rs` checks it):
//!
//! 1. [`model`] (value types, ids, their text forms) and [`sys`] (what the
//!    engine asks of the machine);
//! 2. [`store`]: events on disk in key order as flat columns;
//! 3. [`ingest`] (export readers), [`labels`] (importers, taxonomy),
//!    [`cluster`] (Bitcoin address clusters), [`convert`] (swap logs and
//!    swap detection), [`stats`], [`synth`]
//!    (generated chains for tests and benchmarks);
//! 4. [`trace`]: the time-respecting sweeps and their evidence;
//! 5. [`screen`]: the exposure index and screening answers;
//! 6. [`dataflow`]: the sweeps and the exposure index on timely-dataflow,
//!    across workers and processes; [`report`]: reports in every format, and the store's export;
//! 7. [`app`]: each question a user asks, checked, answered and rendered;
//! 8. [`serve`] (the HTTP API) and the `chaintrace` command line, which
//!    both call [`app`].
//!
//! Semantics follow `TRACING.md` and the command contract `INTERFACE.md`
//! (copies in `docs/spec/`).

pub mod model;
pub mod sys;

pub mod store;

pub mod cluster;
pub mod convert;
pub mod ingest;
pub mod labels;
pub mod stats;
pub mod synth;

pub mod trace;

pub mod screen;

pub mod dataflow;

pub mod report;

pub mod app;

pub mod serve;
