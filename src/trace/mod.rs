//! `chaintrace trace`: where stolen funds went (TRACING.md §2, §5, §6).
//!
//! One pass over the store's events in key order. Balances are kept for every
//! address (haircut and FIFO depend on the clean balance held before any taint
//! arrived); everything else (taint, queues, hops, stops) is touched only for
//! addresses that hold or receive taint.

mod account;
pub mod bridges;
pub mod conversions;
pub mod evidence;
pub mod fifo;
pub mod flow;
pub mod follow;
mod ledger;
pub mod multi;
pub(crate) mod num;
mod records;
pub(crate) mod rules;
mod seeds;
mod types;
mod utxo;

pub(crate) use account::state as account_state;
pub use account::{Running, run_account};
pub use follow::{Follow, Followed, run_follow};
pub use rules::{IdHasher, IdMap, StopLabels};
pub use seeds::{Seeds, resolve_asset, resolve_seeds};
pub(crate) use types::FirstBy;
pub use types::{Budget, Destination, Engine, EventRow, Evidence, Halt, Outcome, Policy, Spec, Tainted, TraceError, Traffic, Wide};
pub(crate) use utxo::{Inputs as UtxoInputs, Pieces as UtxoPieces};

use crate::store::Store;

/// Trace a Bitcoin store's outputs (TRACING.md §3); seeds may be addresses,
/// transactions and outpoints `(transaction id, output index)`.
pub fn run_utxo(store: &Store, spec: &Spec, outpoints: &[(u32, u32)]) -> Result<Outcome, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    let rules = rules::stop_rules(store, &spec.stop_at, &|a| spec.unit(a))?;
    let mut out = utxo::run(store, spec, &rules, outpoints)?;
    for &s in &spec.seeds {
        if rules.contains_key(&spec.unit(s)) {
            out.seed_stop_warnings.push(s);
        }
    }
    Ok(out)
}
