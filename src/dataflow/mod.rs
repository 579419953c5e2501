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

/// A map keyed by event indices or ids from the store, hashed by
/// Fibonacci hashing (`trace::IdHasher`) instead of SipHash: the keys are
/// dense integers that no client chooses, and the maps sit on the
/// per-event path of every round.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<crate::trace::IdHasher>>;
/// A set, hashed as [`Map`].
pub(crate) type Set<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<crate::trace::IdHasher>>;

/// Which worker owns each id: addresses (and, on Bitcoin, transactions)
/// in blocks of `2^bits` consecutive ids, each block given to a worker by a
/// hash of its number.
///
/// Ingest numbers addresses and transactions in the order it first meets
/// them, so a block holds ids first seen close together in time: fresh
/// intermediaries that pass funds on within minutes, a transaction and the
/// ones that soon spend its outputs. On one worker their chains do not
/// cross workers, so fewer messages and segment rounds are needed
/// (benches/RESULTS.md); hashing the blocks keeps the shares even.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owners {
    peers: u64,
    bits: u32,
}

impl Owners {
    /// Ownership among `peers` workers, by blocks of `2^bits` ids.
    pub fn new(peers: usize, bits: u32) -> Owners {
        Owners { peers: peers as u64, bits }
    }

    /// Workers in all.
    pub fn peers(self) -> usize {
        self.peers as usize
    }

    /// The worker that owns id `id`. A multiply and a shift map the hash
    /// onto the workers: scans ask twice an event, and a division costs
    /// more than the rest of the test.
    #[inline]
    pub fn of(self, id: u32) -> usize {
        (((u64::from(id >> self.bits).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) * self.peers) >> 32) as usize
    }
}

/// The largest ownership block, as bits (4,096 ids).
pub const OWNER_BITS: u32 = 12;

/// [`owner_bits`] for `store`: its addresses are owned, and on Bitcoin
/// its transactions too (the smaller table sizes the blocks).
pub fn owner_bits_of(store: &crate::store::Store) -> Result<u32, DataflowError> {
    let addresses = store.address_count();
    owner_bits(if store.manifest.chain.is_account() { addresses } else { addresses.min(store.manifest.tx_table as usize) })
}

/// The ownership blocks' size, as bits, for a store of `ids` ids (the
/// smaller of its address and transaction tables where both are owned):
/// at least 256 blocks, each at most [`OWNER_BITS`], so that a store of
/// few addresses still spreads them over every worker.
/// `CHAINTRACE_OWNER_BITS` sets it instead (every process of a run needs
/// the same; the run's key checks it).
pub fn owner_bits(ids: usize) -> Result<u32, DataflowError> {
    match std::env::var("CHAINTRACE_OWNER_BITS") {
        Ok(v) => match v.parse::<u32>() {
            Ok(b) if b < 32 => Ok(b),
            _ => Err(DataflowError::Unsupported(format!("CHAINTRACE_OWNER_BITS={v}: not a number of bits below 32"))),
        },
        Err(_) => Ok((ids / 256).max(1).ilog2().min(OWNER_BITS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_keep_a_block_on_one_worker_and_share_blocks_evenly() {
        let o = Owners::new(3, 12);
        let mut count = [0usize; 3];
        for block in 0..3000u32 {
            let w = o.of(block << 12);
            assert!((0..4096).step_by(97).all(|k| o.of((block << 12) + k) == w), "block {block} split");
            count[w] += 1;
        }
        assert!(count.iter().all(|&c| (900..=1100).contains(&c)), "blocks per worker: {count:?}");
        // Each id alone: neighbours spread, and the last id is owned.
        let o = Owners::new(2, 0);
        let first = (0..64).filter(|&a| o.of(a) == 0).count();
        assert!((16..=48).contains(&first), "{first} of 64 ids on worker 0");
        assert!(o.of(u32::MAX) < 2);
    }

    #[test]
    fn owner_blocks_grow_with_the_ids_up_to_4096() {
        if std::env::var_os("CHAINTRACE_OWNER_BITS").is_some() {
            return;
        }
        assert_eq!(owner_bits(0).unwrap(), 0);
        assert_eq!(owner_bits(300).unwrap(), 0);
        // 3,000 addresses: blocks of 8, 375 of them.
        assert_eq!(owner_bits(3_000).unwrap(), 3);
        assert_eq!(owner_bits(30_000).unwrap(), 6);
        assert_eq!(owner_bits(1_500_000).unwrap(), OWNER_BITS);
        assert_eq!(owner_bits(usize::MAX).unwrap(), OWNER_BITS);
    }
}
