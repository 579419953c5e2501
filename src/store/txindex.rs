//! The transaction-hash index (`tx_hash_index.u32`): an open-addressing table
//! written with each generation, so a seed transaction costs a lookup instead
//! of a map over every hash of the store.
//!
//! Slot count: the smallest power of two ≥ 1.25 × transactions (none for an
//! empty table), so the table is at most 80% full; 5 to 10 bytes a
//! transaction. A key's slot hash is xxh3-64 (seed 0) of its 32 bytes; probing
//! starts at its low bits and goes on linearly. A slot holds the transaction id
//! in its low `id_bits` bits (the bit length of the transaction count) and bits
//! 32.. of the slot hash above them, so a probe reads a hash from
//! `tx_hashes.bin` only when those tag bits agree: a lookup touches one or two
//! pages of the table and one of the hashes. `u32::MAX` marks an empty slot; no
//! entry equals it because the id field is never all ones.

use super::Store;
use super::columns::{Column, cast};
use xxhash_rust::xxh3::xxh3_64;

/// An empty slot.
pub const EMPTY: u32 = u32::MAX;

/// Slots in the index of `n` transactions.
pub fn slot_count(n: u64) -> u64 {
    if n == 0 { 0 } else { (n + n.div_ceil(4)).next_power_of_two() }
}

/// Bits of a slot that hold the id: the bit length of `n`, so the largest id,
/// `n - 1`, never fills them with ones.
fn id_bits(n: u64) -> u32 {
    (64 - n.leading_zeros()).min(32)
}

/// The slot of transaction `id` under slot hash `h`: tag bits above the id.
#[inline]
fn entry(h: u64, id: u64, id_bits: u32) -> u32 {
    (((h >> 32) << id_bits) | id) as u32
}

/// The index of `hashes` (transaction id = position).
pub fn build(hashes: &[[u8; 32]]) -> Vec<u32> {
    let n = hashes.len() as u64;
    let mut slots = vec![EMPTY; slot_count(n) as usize];
    if slots.is_empty() {
        return slots;
    }
    let (mask, bits) = (slots.len() - 1, id_bits(n));
    // The table is far larger than the caches: hash a few keys ahead and
    // start loading their first slots.
    const AHEAD: usize = 16;
    let hash = |id: usize| xxh3_64(&hashes[id]);
    let mut ahead: [u64; AHEAD] = std::array::from_fn(|k| if k < hashes.len() { hash(k) } else { 0 });
    for id in 0..hashes.len() {
        let h = ahead[id % AHEAD];
        if id + AHEAD < hashes.len() {
            let next = hash(id + AHEAD);
            crate::sys::prefetch(&slots[next as usize & mask]);
            ahead[id % AHEAD] = next;
        }
        let mut i = h as usize & mask;
        while slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        slots[i] = entry(h, id as u64, bits);
    }
    slots
}

/// Look `key` up in `slots`, the index of `hashes` (32 bytes per transaction).
/// A damaged index gives `None` or a wrong miss, never a panic.
pub fn find(slots: &[u32], hashes: &[u8], key: &[u8]) -> Option<u32> {
    let key: &[u8; 32] = key.try_into().ok()?;
    if slots.is_empty() {
        return None;
    }
    let n = (hashes.len() / 32) as u64;
    let bits = id_bits(n);
    let id_mask = ((1u64 << bits) - 1) as u32;
    let h = xxh3_64(key);
    let tag = entry(h, 0, bits);
    let mask = slots.len() - 1;
    let mut i = h as usize & mask;
    for _ in 0..slots.len() {
        let s = slots[i];
        if s == EMPTY {
            return None;
        }
        let id = u64::from(s & id_mask);
        if s & !id_mask == tag && id < n && &hashes[id as usize * 32..id as usize * 32 + 32] == key {
            return Some(id as u32);
        }
        i = (i + 1) & mask;
    }
    None
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_empty_marker() {
        assert_eq!(slot_count(0), 0);
        assert_eq!(slot_count(1), 2);
        assert_eq!(slot_count(4), 8);
        assert_eq!(slot_count(800), 1024);
        assert_eq!(slot_count(820), 2048);
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
        assert_eq!(slots.len(), 8192);
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
