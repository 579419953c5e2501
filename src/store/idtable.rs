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

/// Hash of a 20-byte address: three loads and two multiplies.
#[inline]
pub fn hash20(a: &[u8; 20]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let x = u64::from_le_bytes(a[0..8].try_into().expect("8"));
    let y = u64::from_le_bytes(a[8..16].try_into().expect("8"));
    let z = u64::from(u32::from_le_bytes(a[16..20].try_into().expect("4")));
    let h = (x ^ y.rotate_left(29)).wrapping_mul(K) ^ z.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^ (h >> 32)
}

/// Hash of a 32-byte transaction hash (already uniform; mixed anyway).
#[inline]
pub fn hash32(a: &[u8; 32]) -> u64 {
    let x = u64::from_le_bytes(a[0..8].try_into().expect("8"));
    let y = u64::from_le_bytes(a[8..16].try_into().expect("8"));
    let h = (x ^ y.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 32)
}

/// Maps keys to dense ids; the caller keeps the keys. Each slot holds the id
/// and 32 bits of the key's hash, so a probe touches the key store only when
/// the hash bits agree.
#[derive(Default, Clone)]
pub struct IdTable {
    slots: Vec<u64>,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

#[inline]
fn tag(h: u64) -> u64 {
    (h >> 32) << 32
}

impl IdTable {
    /// Find the id of a key with hash `h`, where `eq(id)` tells whether id holds
    /// the key, or insert `new_id`. Returns `(id, inserted)`. `hash_of(id)`
    /// rehashes existing ids when the table grows.
    #[inline]
    pub fn find_or_insert(&mut self, h: u64, new_id: u32, eq: impl Fn(u32) -> bool, hash_of: impl Fn(u32) -> u64) -> (u32, bool) {
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            self.grow(&hash_of);
        }
        match self.probe(h, eq) {
            Ok(id) => (id, false),
            Err(i) => {
                self.slots[i] = tag(h) | u64::from(new_id);
                self.len += 1;
                (new_id, true)
            }
        }
    }

    /// The id of a key with hash `h`, if the table holds it (`eq(id)` tells
    /// whether id holds the key); nothing is inserted.
    pub fn find(&self, h: u64, eq: impl Fn(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() { None } else { self.probe(h, eq).ok() }
    }

    /// Linear probing from `h`'s home slot: the id whose slot matches, or
    /// the first empty slot. The table is never full (it grows at 70%).
    #[inline]
    fn probe(&self, h: u64, eq: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        let t = tag(h);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return Err(i);
            }
            if s & !0xFFFF_FFFF == t && eq(s as u32) {
                return Ok(s as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Start loading the slot a probe for `h` reads first.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if !self.slots.is_empty() {
            crate::sys::prefetch(&self.slots[(h as usize) & (self.slots.len() - 1)]);
        }
    }

    /// The id in the first slot whose hash bits match, if any: a guess for
    /// which key to prefetch, not an answer.
    #[inline]
    pub fn candidate(&self, h: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        let t = tag(h);
        for _ in 0..4 {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s & !0xFFFF_FFFF == t {
                return Some(s as u32);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Forget ids at or above `keep`, which must be the most recently inserted.
    pub fn truncate(&mut self, keep: u32, hash_of: impl Fn(u32) -> u64) {
        let ids: Vec<u32> = self.slots.iter().filter(|&&s| s != EMPTY && (s as u32) < keep).map(|&s| s as u32).collect();
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
        self.slots[i] = tag(h) | u64::from(id);
        self.len += 1;
    }

    fn grow(&mut self, hash_of: &impl Fn(u32) -> u64) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, crate::sys::huge_vec(cap, EMPTY));
        self.len = 0;
        for s in old.into_iter().filter(|&s| s != EMPTY) {
            let id = s as u32;
            self.place(id, hash_of(id));
        }
    }

    /// Reserve room for `n` more keys without growing on the way.
    pub fn reserve(&mut self, n: usize, hash_of: impl Fn(u32) -> u64) {
        while (self.len + n) * 10 > self.slots.len() * 7 {
            self.grow(&hash_of);
        }
    }
}
