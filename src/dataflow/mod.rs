//! Sweeps on several workers and processes (issue 17, ADR 0015):
//! timely-dataflow, the existing distributed engine, with its own
//! multi-process runtime over TCP; never a message layer of our own.
//!
//! Workers own addresses by a hash of their id, and the events their
//! addresses send; taint moves between workers only as messages about
//! tainted events. [`poison`] is the first sweep built this way.

pub mod account;
pub mod exposure;
mod found;
pub mod net;
pub mod poison;
mod segments;
pub mod utxo;

use std::net::SocketAddr;

/// Where the workers of a run are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    /// `threads` workers in this process.
    Local {
        /// Worker threads (at least one).
        threads: usize,
    },
    /// Process `process` of a cluster whose processes listen at `hosts`
    /// (process 0 first), each with `threads` workers.
    Cluster {
        /// Worker threads per process.
        threads: usize,
        /// This process's index into `hosts`.
        process: usize,
        /// Every process's address.
        hosts: Vec<SocketAddr>,
    },
}

impl Workers {
    /// Whether this process is process 0, the one that gets the results.
    pub fn is_first(&self) -> bool {
        matches!(self, Workers::Local { .. } | Workers::Cluster { process: 0, .. })
    }
}

/// A run across workers failed.
#[derive(Debug, thiserror::Error)]
pub enum DataflowError {
    /// timely could not set the run up (a host unreachable, a port taken).
    #[error("the workers could not start: {0}")]
    Start(String),
    /// What the sweeps across workers do not do yet.
    #[error("{0}")]
    Unsupported(String),
    /// The question cannot be answered (as the single-process trace says).
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    /// The exposure sweep cannot be run (as the single-process one says).
    #[error(transparent)]
    Screen(#[from] crate::screen::ScreenError),
    /// A worker stopped (a process died, its connection broke).
    #[error("a worker stopped before the sweep finished: {0}")]
    Worker(String),
}

/// The worker that owns address `a` among `peers`: a hash of its id, so
/// that owners are spread whatever the ids' order, mapped onto the
/// workers by a multiply and a shift (scans ask this twice an event; a
/// division costs more than the rest of the test).
#[inline]
pub fn owner(a: u32, peers: usize) -> usize {
    (((u64::from(a).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) * peers as u64) >> 32) as usize
}
