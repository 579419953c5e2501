//! Sweeps on several workers and processes (issue 17, ADR 0015):
//! timely-dataflow, the existing distributed engine, with its own
//! multi-process runtime over TCP; never a message layer of our own.
//!
//! Workers own addresses by a hash of their id, and the events their
//! addresses send; taint moves between workers only as messages about
//! tainted events. [`poison`] is the first sweep built this way.

pub mod account;
mod evidence;
pub mod exposure;
pub mod follow;
mod found;
pub mod net;
pub mod parts;
pub mod poison;
mod segments;
pub mod utxo;
pub use segments::Rounds;

use crate::store::part::{Keys, PartInfo};
use crate::store::{Store, StoreError};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

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
    /// Processes, and worker threads in each.
    pub fn layout(&self) -> (usize, usize) {
        match self {
            Workers::Local { threads } => (1, (*threads).max(1)),
            Workers::Cluster { threads, hosts, .. } => (hosts.len(), (*threads).max(1)),
        }
    }

    /// This process's index.
    pub fn process(&self) -> usize {
        match self {
            Workers::Local { .. } => 0,
            Workers::Cluster { process, .. } => *process,
        }
    }

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
/// (benches/RESULTS.md); hashing the blocks keeps the shares even. Runs
/// of store parts give the first block's ids out one by one instead, by
/// a table the parts carry ([`Owners::with_first_block`]).
///
/// A block's process depends on the count of processes alone, not on
/// their threads, so that a store cut into parts for `P` processes
/// (`chaintrace partition`) serves runs of any number of workers each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners {
    processes: u64,
    threads: u64,
    bits: u32,
    /// The process of each id of the first block, one by one (runs of
    /// parts); `None`: the block is owned whole, as any other.
    first: Option<Arc<[u16]>>,
}

impl Owners {
    /// Ownership among `processes` processes of `threads` workers each
    /// (worker `p * threads + t` is thread `t` of process `p`, as timely
    /// numbers them), by blocks of `2^bits` ids.
    pub fn new(processes: usize, threads: usize, bits: u32) -> Owners {
        Owners { processes: processes.max(1) as u64, threads: threads.max(1) as u64, bits, first: None }
    }

    /// The same, with the first block's ids given out one by one as store
    /// parts are cut (ADR 0016): id `a` to process `first[a]` (ids of the
    /// block past the table's end by their hash). That block holds the
    /// first addresses ingest met: in the generated world, and often in a
    /// chain's export, the services every later transfer touches (routers,
    /// pools, exchanges' hot wallets). As one block they put most of the
    /// store in one part (in the generated world at 10^7 events, 68% at
    /// four processes, where the others held 22-25%); `partition` gives
    /// them out by their events, largest first, to even the parts and keep
    /// those that transact together on one process (`parts::first_block`).
    /// Their other transfers with each other then cross processes, which
    /// slows the sweeps, so runs over the whole store, where every host
    /// holds all of it anyway, keep the block whole. `None` if a process
    /// in the table is not one of these.
    pub fn with_first_block(self, first: Arc<[u16]>) -> Option<Owners> {
        first.iter().all(|&p| u64::from(p) < self.processes).then_some(Owners { first: Some(first), ..self })
    }

    /// Worker threads in each process.
    pub fn threads(&self) -> usize {
        self.threads as usize
    }

    /// Workers in all.
    pub fn peers(&self) -> usize {
        (self.processes * self.threads) as usize
    }

    /// The hash of id `id`'s block. Block 0 hashes as 1 would: it holds
    /// the first addresses ingest met, and 0 would give it to process 0,
    /// which also gathers the findings and writes the report. As 1 it goes
    /// to process ⌊0.618·P⌋, never 0. Given out one by one, its ids hash
    /// one by one (for their threads).
    #[inline]
    fn hash(&self, id: u32) -> u64 {
        let block = id >> self.bits;
        let key = if block == 0 && self.first.is_some() { 1 << 32 | u64::from(id) } else { u64::from(block) + 1 };
        key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// The process of id `id`, whose hash is `h`.
    #[inline]
    fn process_by(&self, id: u32, h: u64) -> u64 {
        if let Some(f) = &self.first
            && id >> self.bits == 0
            && let Some(&p) = f.get(id as usize)
        {
            return u64::from(p);
        }
        ((h >> 32) * self.processes) >> 32
    }

    /// The worker that owns id `id`. Multiplies and shifts map the hash
    /// onto processes (its high half) and their threads (its low half):
    /// a division costs more than the rest of the test.
    #[inline]
    pub fn of(&self, id: u32) -> usize {
        let h = self.hash(id);
        let process = self.process_by(id, h);
        let thread = ((h & 0xffff_ffff) * self.threads) >> 32;
        (process * self.threads + thread) as usize
    }

    /// The process that owns id `id`.
    #[inline]
    pub fn process_of(&self, id: u32) -> usize {
        self.process_by(id, self.hash(id)) as usize
    }

    /// Whether process `p`'s part of a store holds an event `u -> v`: one
    /// of the halves ([`halves_by`]) runs on a worker of `p` (the fees' receive
    /// half with the sender's).
    #[inline]
    pub fn reads(&self, p: usize, u: u32, v: u32) -> bool {
        self.process_of(u) == p || (v != crate::model::Pseudo::Fees.id() && self.process_of(v) == p)
    }
}

/// Bit `a` of a set of store ids, a bit each ([`owned_bits`], a sweep's hot sets).
#[inline]
pub(crate) fn bit(set: &[u64], a: u32) -> bool {
    set[a as usize / 64] >> (a % 64) & 1 != 0
}

/// The store ids of `0..n` that worker `me` owns, a bit each.
pub(crate) fn owned_bits(owners: &Owners, me: usize, n: usize) -> Vec<u64> {
    let mut set = vec![0u64; n.div_ceil(64)];
    for (w, word) in set.iter_mut().enumerate() {
        let base = w as u32 * 64;
        for b in 0..64u32.min((n - w * 64) as u32) {
            *word |= u64::from(owners.of(base + b) == me) << b;
        }
    }
    set
}

/// Whether a worker runs the send half of an event `u -> v`, and its
/// receive half, where `owns` tells what it owns (its bit set of the ids
/// it owns, [`owned_bits`]: a scan asks twice an event). The fees'
/// pseudo-address, while it is not a seed (`fees_everyones`), is
/// everyone's: it absorbs what arrives and never sends, so its receive
/// half reads nothing of its state, and each sender's owner runs it. A
/// fourth or more of a chain's events pay a fee (all of them on
/// Ethereum): none of them then crosses workers, and no store part needs
/// them all ([`Owners::reads`]).
#[inline]
pub(crate) fn halves_by(u: u32, v: u32, fees_everyones: bool, owns: impl Fn(u32) -> bool) -> (bool, bool) {
    let ou = owns(u);
    (ou, if fees_everyones && v == crate::model::Pseudo::Fees.id() { ou } else { owns(v) })
}

/// What a process's workers read: the whole store, or the process's part
/// of it (`store::part`, written by `chaintrace partition`).
///
/// A run is given a directory: a store, read whole by every process; or a
/// directory of parts (it holds [`PARTS_FILE`]), where process `p` reads
/// `part-p` alone, so that hosts need only their own part.
pub(crate) struct Read {
    /// The store read.
    pub(crate) store: Store,
    /// Events in the whole store.
    pub(crate) n: u64,
    /// What a part is a part of (`None`: the store is whole).
    pub(crate) info: Option<PartInfo>,
}

/// Where the events of the store a worker reads sit in the whole store:
/// a part's positions, or (`None`) the same indexes.
#[derive(Clone)]
pub(crate) struct Positions(pub(crate) Option<Arc<Keys>>);

/// A process's [`Positions`], read by its first worker that needs them.
pub(crate) type PositionsOnce = Arc<std::sync::OnceLock<Result<Positions, String>>>;

impl Positions {
    /// The whole store's events `lo..hi`, as indexes into the read store.
    pub(crate) fn local(&self, lo: u64, hi: u64) -> (usize, usize) {
        match &self.0 {
            Some(k) => (k.lower(lo), k.lower(hi)),
            None => (lo as usize, hi as usize),
        }
    }

    /// The read store's index of whole-store event `e`, which it holds.
    pub(crate) fn at(&self, e: u64) -> usize {
        match &self.0 {
            Some(k) => k.lower(e),
            None => e as usize,
        }
    }

    /// The whole-store positions of the read store's events `from..from + out.len()`.
    #[inline]
    pub(crate) fn fill(&self, from: usize, out: &mut [u64]) {
        match &self.0 {
            Some(k) => k.fill(from, out),
            None => out.iter_mut().zip(from as u64..).for_each(|(o, e)| *o = e),
        }
    }

    /// The whole-store position of the read store's event `i`.
    pub(crate) fn key(&self, i: usize) -> u64 {
        self.0.as_ref().map_or(i as u64, |k| k.key(i))
    }
}

/// The file that marks a directory of parts (`chaintrace partition`).
pub const PARTS_FILE: &str = "parts.json";

/// Whether `dir` is a directory of parts rather than a store.
pub fn is_parts(dir: &Path) -> bool {
    dir.join(PARTS_FILE).is_file()
}

impl Read {
    /// Process `process`'s view of `dir` (a store, or a directory of parts).
    pub(crate) fn open(dir: &Path, process: usize) -> Result<Read, StoreError> {
        if !is_parts(dir) {
            let store = Store::open(dir)?;
            let n = store.len() as u64;
            return Ok(Read { store, n, info: None });
        }
        let at = crate::store::part::part_dir(dir, process);
        if !at.exists() {
            return Err(StoreError::Mismatch {
                path: at,
                message: format!("process {process}'s part is not here: copy it from where `chaintrace partition` wrote it"),
            });
        }
        let (store, info) = crate::store::part::open(&at)?;
        if info.process as usize != process {
            return Err(StoreError::Mismatch {
                path: at,
                message: format!("holds process {}'s part, not process {process}'s", info.process),
            });
        }
        Ok(Read { store, n: info.whole_events, info: Some(info) })
    }

    /// Where the read store's events sit in the whole store, read once
    /// for all the workers of a process and all its questions (`once`).
    pub(crate) fn positions(&self, once: &PositionsOnce) -> Result<Positions, String> {
        let Some(info) = &self.info else { return Ok(Positions(None)) };
        once.get_or_init(|| crate::store::part::keys(&self.store, info).map(|k| Positions(Some(Arc::new(k)))).map_err(|e| e.to_string()))
            .clone()
    }

    /// The run's identity: the whole store's events and labels. Processes
    /// whose identities differ refuse each other.
    pub(crate) fn identity(&self) -> String {
        match &self.info {
            Some(i) => i.whole.clone(),
            None => whole_identity(&self.store),
        }
    }

    /// Who owns what in a run of the workers `w` over what was read, with
    /// ownership blocks of `2^bits` ids (`None`: [`Read::owner_bits`]):
    /// parts are cut with the first block given out by their table.
    pub(crate) fn owners(&self, w: &Workers, bits: Option<u32>) -> Result<Owners, DataflowError> {
        let (processes, threads) = w.layout();
        let bits = match bits {
            Some(b) => b,
            None => self.owner_bits(w)?,
        };
        let owners = Owners::new(processes, threads, bits);
        match &self.info {
            None => Ok(owners),
            Some(info) => owners.with_first_block(info.first_block.as_slice().into()).ok_or_else(|| {
                DataflowError::Unsupported(format!(
                    "{}: its table of the first block's owners names a process past the {processes} of the run",
                    self.store.dir.display()
                ))
            }),
        }
    }

    /// The ownership blocks' size: a part's own, else as [`owner_bits_of`].
    /// A run of parts needs as many processes as the parts were cut for.
    pub(crate) fn owner_bits(&self, w: &Workers) -> Result<u32, DataflowError> {
        let Some(info) = &self.info else { return owner_bits_of(&self.store) };
        let processes = w.layout().0;
        if info.processes as usize != processes {
            return Err(DataflowError::Unsupported(format!(
                "the parts were cut for {} processes and this run has {processes}: run `chaintrace partition` for {processes}",
                info.processes
            )));
        }
        if let Ok(v) = std::env::var("CHAINTRACE_OWNER_BITS")
            && v.parse::<u32>().ok() != Some(info.owner_bits)
        {
            return Err(DataflowError::Unsupported(format!(
                "CHAINTRACE_OWNER_BITS={v}, but the parts were cut with ownership blocks of {} bits",
                info.owner_bits
            )));
        }
        Ok(info.owner_bits)
    }
}

/// A store's events and labels, as runs key them.
pub fn whole_identity(store: &Store) -> String {
    format!("{} labels {}", store.manifest.events_identity(), net::key_of_bytes(store.label_rows()))
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
        let o = Owners::new(3, 1, 12);
        let mut count = [0usize; 3];
        for block in 0..3000u32 {
            let w = o.of(block << 12);
            assert!((0..4096).step_by(97).all(|k| o.of((block << 12) + k) == w), "block {block} split");
            count[w] += 1;
        }
        assert!(count.iter().all(|&c| (900..=1100).contains(&c)), "blocks per worker: {count:?}");
        // Each id alone: neighbours spread, and the last id is owned.
        let o = Owners::new(2, 1, 0);
        let first = (0..64).filter(|&a| o.of(a) == 0).count();
        assert!((16..=48).contains(&first), "{first} of 64 ids on worker 0");
        assert!(o.of(u32::MAX) < 2);
        // The first block is never process 0's; given out by a table, its
        // ids go where the table says (past its end, by their hash), their
        // threads by their hash, and the other blocks stay where they were.
        for p in 2..64 {
            assert_ne!(Owners::new(p, 1, 12).process_of(0), 0, "{p} processes");
        }
        for p in 2..9 {
            let table: Vec<u16> = (0..3000u16).map(|a| (a * 7 + 1) % p as u16).collect();
            let o = Owners::new(p, 2, 12).with_first_block(table.as_slice().into()).unwrap();
            assert!((1..3000u32).all(|b| o.of(b << 12) == Owners::new(p, 2, 12).of(b << 12)), "{p} processes");
            assert!((0..3000u32).all(|a| o.process_of(a) == usize::from(table[a as usize])), "{p} processes");
            assert!((0..3000u32).all(|a| o.of(a) / 2 == o.process_of(a)), "{p} processes");
            assert!((3000..4096u32).all(|a| o.process_of(a) < p), "{p} processes");
            let threads: Vec<usize> = (0..3000u32).map(|a| o.of(a) % 2).collect();
            assert!(threads.contains(&0) && threads.contains(&1), "{p} processes");
            assert!(Owners::new(p, 1, 12).with_first_block(vec![p as u16].into()).is_none(), "{p} processes");
        }
        // Threads split a process's blocks; the process stays.
        let (two, six) = (Owners::new(2, 1, 4), Owners::new(2, 3, 4));
        let mut threads = [0usize; 6];
        for id in (0..100_000u32).step_by(16) {
            assert_eq!(two.of(id), six.process_of(id));
            assert_eq!(six.of(id) / 3, six.process_of(id));
            threads[six.of(id)] += 1;
        }
        assert!(threads.iter().all(|&c| (800..=1300).contains(&c)), "blocks per worker: {threads:?}");
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
