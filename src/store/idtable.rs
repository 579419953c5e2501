//! Compact open-addressing id tables: a slot holds only a `u32` id, and the key
//! bytes live once, in the table being interned into. Ten million transaction
//! hashes cost 4 bytes a slot instead of a 40-byte map entry.

/// Mix key bytes into a 64-bit hash. Vanity addresses share long zero prefixes,
/// so every byte takes part.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    let rem = chunks.remainder();
    last[..rem.len()].copy_from_slice(rem);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// Maps keys to dense ids; the caller keeps the keys.
#[derive(Default, Clone)]
pub struct IdTable {
    slots: Vec<u32>,
    len: usize,
}

const EMPTY: u32 = u32::MAX;

impl IdTable {
    /// Find the id of a key with hash `h`, where `eq(id)` tells whether id holds
    /// the key, or insert `new_id`. Returns `(id, inserted)`. `hash_of(id)`
    /// rehashes existing ids when the table grows.
    #[inline]
    pub fn find_or_insert(
        &mut self,
        h: u64,
        new_id: u32,
        eq: impl Fn(u32) -> bool,
        hash_of: impl Fn(u32) -> u64,
    ) -> (u32, bool) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(&hash_of);
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                self.slots[i] = new_id;
                self.len += 1;
                return (new_id, true);
            }
            if eq(s) {
                return (s, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Look up without inserting.
    pub fn find(&self, h: u64, eq: impl Fn(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if eq(s) {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
    }

    /// Forget ids at or above `keep`, which must be the most recently inserted.
    pub fn truncate(&mut self, keep: u32, hash_of: impl Fn(u32) -> u64) {
        let ids: Vec<u32> = self.slots.iter().copied().filter(|&s| s != EMPTY && s < keep).collect();
        self.slots.iter_mut().for_each(|s| *s = EMPTY);
        self.len = 0;
        for id in ids {
            self.place(id, hash_of(id));
        }
    }

    fn place(&mut self, id: u32, h: u64) {
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = id;
        self.len += 1;
    }

    fn grow(&mut self, hash_of: &impl Fn(u32) -> u64) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        self.len = 0;
        for id in old.into_iter().filter(|&s| s != EMPTY) {
            self.place(id, hash_of(id));
        }
    }

    /// Reserve room for `n` more keys without growing on the way.
    pub fn reserve(&mut self, n: usize, hash_of: impl Fn(u32) -> u64) {
        while (self.len + n) * 2 > self.slots.len() {
            self.grow(&hash_of);
        }
    }
}
