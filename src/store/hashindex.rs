//! Open-addressing id indexes, one table per run of ids: the
//! transaction-hash index (`tx_hash_index.u32`, keys the 32-byte hashes)
//! and the address index (`addr_index.u32`, keys the stored address
//! bytes). Written with each segment, so a seed transaction or an address
//! an append meets costs a probe or two instead of a search.
//!
//! Slot count: keys + a third, rounded up (none for an empty table), so
//! the table is three quarters full; 5.3 bytes a key. A key's slot hash is
//! xxh3-64 (seed 0) of its bytes; probing starts at the slot its low 32
//! bits give when scaled to the table (`start`) and goes on linearly,
//! wrapping at the end. (Until format 7 the tables were a power of two
//! slots, 5 to 10 bytes a key: 8.4 a transaction in the generated world.) A slot holds the id relative to its run
//! in its low `id_bits` bits (the bit length of the run's key count) and
//! bits 32.. of the slot hash above them, so a probe reads a key from its
//! table only when those tag bits agree: a lookup touches one or two
//! pages of the index and one of the keys. `u32::MAX` marks an empty slot;
//! no entry equals it because the id field is never all ones.
//!
//! Why hashing and not a sorted index: a sorted index costs a binary
//! search per lookup, two pages touched per probe (the index entry and the
//! key it names), and the kernel maps 64 KB around every page fault. A
//! block's append into 10^8 events looked up some hundreds of addresses
//! that way, touched 5,300 pages and peaked at 300 MB (ADR 0010).

use super::Store;
use super::columns::{Column, cast};
use super::segment::Run;
use crate::model::Pseudo;
use xxhash_rust::xxh3::xxh3_64;

/// An empty slot.
pub const EMPTY: u32 = u32::MAX;

/// Slots in the index of `n` keys: always one more than `n` at least, so
/// a miss meets an empty slot.
pub fn slot_count(n: u64) -> u64 {
    n + n.div_ceil(3)
}

/// The first slot to probe for slot hash `h` in a table of `len` slots:
/// its low 32 bits scaled to the table (multiply and shift, no division).
/// The tag bits come from bits 32 and up, so they stay independent of the
/// slot.
#[inline]
fn start(h: u64, len: usize) -> usize {
    ((u128::from(h.rotate_left(32)) * len as u128) >> 64) as usize
}

/// Slots of the tables of every run, in run order.
pub fn slots_of(runs: &[Run]) -> u64 {
    runs.iter().map(|r| slot_count(r.count)).sum()
}

/// Bits of a slot that hold the id: the bit length of `n`, so the largest id,
/// `n - 1`, never fills them with ones.
fn id_bits(n: u64) -> u32 {
    (64 - n.leading_zeros()).min(32)
}

/// The slot of id `id` under slot hash `h`: tag bits above the id.
#[inline]
fn entry(h: u64, id: u64, id_bits: u32) -> u32 {
    (((h >> 32) << id_bits) | id) as u32
}

/// The slot hash of a key.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The index of `n` keys (id = position) whose slot hashes `hash` gives.
pub fn build_with(n: usize, hash: impl Fn(usize) -> u64 + Sync) -> Vec<u32> {
    use rayon::prelude::*;
    let mut slots = crate::sys::huge_vec(slot_count(n as u64) as usize, EMPTY);
    if slots.is_empty() {
        return slots;
    }
    let (len, bits) = (slots.len(), id_bits(n as u64));
    // Hashing reads the keys in order and runs on every core; the inserts
    // that follow go to random slots of a table far larger than the
    // caches, so each starts loading a few slots ahead.
    let hashes: Vec<u64> = (0..n).into_par_iter().map(&hash).collect();
    const AHEAD: usize = 16;
    for id in 0..n {
        if id + AHEAD < n {
            crate::sys::prefetch(&slots[start(hashes[id + AHEAD], len)]);
        }
        let h = hashes[id];
        let mut i = start(h, len);
        while slots[i] != EMPTY {
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        slots[i] = entry(h, id as u64, bits);
    }
    slots
}

/// The index of `hashes` (transaction id = position).
pub fn build(hashes: &[[u8; 32]]) -> Vec<u32> {
    build_with(hashes.len(), |id| key_hash(&hashes[id]))
}

/// Look a key of slot hash `h` up in `slots`, the index of `n` keys:
/// `is(id)` says whether key `id` is the one sought (called only when the
/// tag bits agree). A damaged index gives `None` or a wrong miss, never a
/// panic.
#[inline]
pub fn find_with(slots: &[u32], n: u64, h: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
    if slots.is_empty() {
        return None;
    }
    let bits = id_bits(n);
    let id_mask = ((1u64 << bits) - 1) as u32;
    let tag = entry(h, 0, bits);
    let len = slots.len();
    let mut i = start(h, len);
    for _ in 0..slots.len() {
        let s = slots[i];
        if s == EMPTY {
            return None;
        }
        let id = s & id_mask;
        if s & !id_mask == tag && u64::from(id) < n && is(id) {
            return Some(id);
        }
        i = if i + 1 == len { 0 } else { i + 1 };
    }
    None
}

/// Look `key` up in `slots`, the index of `hashes` (32 bytes per transaction).
pub fn find(slots: &[u32], hashes: &[u8], key: &[u8]) -> Option<u32> {
    let key: &[u8; 32] = key.try_into().ok()?;
    let n = (hashes.len() / 32) as u64;
    find_with(slots, n, key_hash(key), |id| &hashes[id as usize * 32..id as usize * 32 + 32] == key)
}

impl Store {
    /// The id of the transaction with this 32-byte hash: a lookup in the
    /// store's transaction-hash index.
    /// One table per run of transactions, each over its own ids.
    pub fn find_tx(&self, hash: &[u8]) -> Option<u32> {
        let slots: &[u32] = cast(self.bytes(Column::TxHashIndex));
        let hashes = self.bytes(Column::TxHashes);
        let (mut first, mut at) = (0usize, 0usize);
        for run in &self.manifest.tx_runs {
            let n = run.count as usize;
            let s = slot_count(run.count) as usize;
            if let Some(id) = find(&slots[at..at + s], &hashes[first * 32..(first + n) * 32], hash) {
                return Some(first as u32 + id);
            }
            first += n;
            at += s;
        }
        None
    }

    /// An address-index table over the store's addresses from id `first`
    /// to the last (a run: consecutive ids).
    pub(super) fn address_index_from(&self, first: usize) -> Vec<u32> {
        let n = self.address_count().saturating_sub(first);
        build_with(n, |rel| key_hash(self.address_bytes((first + rel) as u32)))
    }

    /// The id of the address stored as `key` (20 raw bytes on Ethereum, the
    /// text on Bitcoin): a probe of each run's table of the address index,
    /// newest first (pseudo addresses are not in the index). Run `k` holds
    /// the ids that follow run `k - 1`'s, from the first after the pseudo
    /// addresses.
    pub fn address_id(&self, key: &[u8]) -> Option<u32> {
        let slots: &[u32] = cast(self.bytes(Column::AddrIndex));
        let h = key_hash(key);
        let runs = &self.manifest.addr_runs;
        let (mut first, mut at) = (Pseudo::ALL.len() as u64 + runs.iter().map(|r| r.count).sum::<u64>(), slots.len());
        for run in runs.iter().rev() {
            first -= run.count;
            at -= slot_count(run.count) as usize;
            let table = &slots[at..at + slot_count(run.count) as usize];
            let is = |rel: u32| self.address_bytes((first + u64::from(rel)) as u32) == key;
            if let Some(rel) = find_with(table, run.count, h, is) {
                return Some((first + u64::from(rel)) as u32);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_empty_marker() {
        assert_eq!(slot_count(0), 0);
        assert_eq!(slot_count(1), 2);
        assert_eq!(slot_count(3), 4);
        assert_eq!(slot_count(4), 6);
        assert_eq!(slot_count(800), 1067);
        for n in [1u64, 2, 3, 7, 1 << 20, u64::from(u32::MAX)] {
            assert!(slot_count(n) > n && slot_count(n) * 3 <= n * 4 + 3, "{n}");
        }
        // Every hash starts inside the table, whatever its size.
        for len in [1usize, 2, 3, 1067, 1 << 33] {
            for h in [0u64, 1, u64::MAX, 0xdead_beef_0000_0000, 0x0000_0000_ffff_ffff] {
                assert!(start(h, len) < len, "{h:x} in {len}");
            }
        }
        for n in [1u64, 2, 3, 7, 8, 1 << 20, (1 << 32) - 1] {
            // The largest id with every tag bit set is still not EMPTY.
            assert_ne!(entry(u64::MAX, n - 1, id_bits(n)), EMPTY, "{n}");
        }
    }

    #[test]
    fn finds_every_key_and_no_other() {
        // Keys that differ only in their last bytes, as hand-made fixtures do.
        let keys: Vec<[u8; 32]> = (0..5000u32)
            .map(|k| {
                let mut h = [0u8; 32];
                h[28..].copy_from_slice(&k.to_be_bytes());
                h
            })
            .collect();
        let slots = build(&keys);
        assert_eq!(slots.len(), 6667);
        let flat = keys.as_flattened();
        for (id, k) in keys.iter().enumerate() {
            assert_eq!(find(&slots, flat, k), Some(id as u32));
        }
        let mut other = [0u8; 32];
        other[27] = 1;
        assert_eq!(find(&slots, flat, &other), None);
        assert_eq!(find(&slots, flat, &[0u8; 20]), None);
        assert_eq!(find(&[], &[], &[0u8; 32]), None);
        // A full table of garbage ends the probe without a panic.
        assert_eq!(find(&[7u32; 16], &flat[..64], &other), None);
    }
}
