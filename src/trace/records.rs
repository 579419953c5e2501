//! What the account sweep keeps per address, and the bit sets its skip test
//! reads: flat arrays over address ids, on zero pages that cost nothing until
//! written (ADR 0005).

use super::Num;

/// One bit per address.
pub(super) struct Bits {
    map: memmap2::MmapMut,
    words: usize,
}

impl Bits {
    pub(super) fn new(n: usize) -> Self {
        let words = n.div_ceil(64);
        let map = memmap2::MmapMut::map_anon((words * 8).max(1)).expect("memory for an address bit set");
        // The skip test reads these bits at random, once or twice an event:
        // on 2 MiB pages they cost no TLB misses.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Bits { map, words }
    }
    #[inline]
    pub(super) fn words(&self) -> &[u64] {
        // SAFETY: the anonymous mapping is page aligned, zeroed, and `words` u64s long.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<u64>(), self.words) }
    }
    #[inline]
    pub(super) fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `words`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<u64>(), self.words) }
    }
    #[inline]
    pub(super) fn get(&self, i: u32) -> bool {
        self.words()[(i >> 6) as usize] >> (i & 63) & 1 != 0
    }
    #[inline]
    pub(super) fn set(&mut self, i: u32) {
        self.words_mut()[(i >> 6) as usize] |= 1 << (i & 63);
    }
    #[inline]
    pub(super) fn clear(&mut self, i: u32) {
        self.words_mut()[(i >> 6) as usize] &= !(1 << (i & 63));
    }
}

/// Everything the sweep keeps per address, in one cache line: an event then
/// touches two lines (sender, receiver), both prefetched ahead.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(super) struct St<N> {
    pub(super) bal: N,
    /// Haircut: tainted part of `bal`; poison: value of tainted arrivals.
    pub(super) t: N,
    /// `!hop`, hop being the smallest at which the address has held taint
    /// (`u32::MAX`: never), so that all-zero bytes are the initial state.
    pub(super) not_hop: u32,
    pub(super) fl: u8,
}

impl<N> St<N> {
    #[inline]
    pub(super) fn hop(&self) -> u32 {
        !self.not_hop
    }
    #[inline]
    pub(super) fn set_hop(&mut self, h: u32) {
        self.not_hop = !h;
    }
}

/// Sparse sweep: the addresses that make an event matter, as sender (it can
/// pass taint) or as receiver (a seed, or a FIFO queue that must see every
/// arrival), and a count of changes so that masks made earlier can be trusted.
pub(super) struct Hot {
    send: Bits,
    /// Receivers: seeds only (haircut, poison), a handful, or seeds and FIFO queues.
    recv: Receivers,
    /// Bumped by every change, so that a mask made earlier can be trusted.
    pub(super) changes: u64,
}

/// Who must see every arrival. Seeds alone are few: a sorted list checked
/// without touching the address-sized bit set keeps that out of the cache the
/// skip test lives in.
pub(super) enum Receivers {
    Few(Vec<u32>),
    Many(Bits),
}

impl Hot {
    pub(super) fn new(n: usize, queues: bool) -> Self {
        let recv = if queues { Receivers::Many(Bits::new(n)) } else { Receivers::Few(Vec::new()) };
        Hot { send: Bits::new(n), recv, changes: 0 }
    }
    /// Whether an event from `f` to `t` may matter.
    #[inline]
    pub(super) fn event(&self, f: u32, t: u32) -> bool {
        self.send.get(f)
            | match &self.recv {
                Receivers::Few(v) => v.contains(&t),
                Receivers::Many(b) => b.get(t),
            }
    }
    /// Bit `k` set where event `k` of the block may matter.
    #[inline]
    pub(super) fn mask(&self, from: &[u32], to: &[u32]) -> u64 {
        from.iter().zip(to).enumerate().fold(0, |m, (k, (&f, &t))| m | (u64::from(self.event(f, t)) << k))
    }
    /// Returns whether `a` was not already a hot sender.
    pub(super) fn mark_send(&mut self, a: u32) -> bool {
        if self.send.get(a) {
            return false;
        }
        self.send.set(a);
        self.changes += 1;
        true
    }
    pub(super) fn mark_both(&mut self, a: u32) {
        self.send.set(a);
        match &mut self.recv {
            Receivers::Few(v) => {
                v.push(a);
                // Past a few dozen, a bit set is cheaper than the list.
                if v.len() > 32 {
                    let mut b = Bits::new(self.send.words * 64);
                    for &x in v.iter() {
                        b.set(x);
                    }
                    self.recv = Receivers::Many(b);
                }
            }
            Receivers::Many(b) => b.set(a),
        }
        self.changes += 1;
    }
    pub(super) fn clear_both(&mut self, a: u32) {
        self.send.clear(a);
        match &mut self.recv {
            Receivers::Few(v) => v.retain(|&x| x != a),
            Receivers::Many(b) => b.clear(a),
        }
        self.changes += 1;
    }
}

/// The positions of the set bits of `m`, lowest first.
pub(super) fn set_bits(mut m: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let k = m.trailing_zeros() as usize;
            m &= m - 1;
            k
        })
    })
}

/// Per-address records on zero pages of an anonymous mapping: the kernel
/// supplies a page only when it is first written, so the sparse sweep pays
/// only for the records of addresses that taint reaches. (The allocator would
/// clear the whole array itself: `St` is aligned to 64 bytes, more than
/// `calloc` promises.)
pub(super) struct Records<N> {
    map: memmap2::MmapMut,
    n: usize,
    _n: std::marker::PhantomData<N>,
}

impl<N: Num> Records<N> {
    pub(super) fn zeroed(n: usize) -> Self {
        let bytes = (n * std::mem::size_of::<St<N>>()).max(1);
        let map = memmap2::MmapMut::map_anon(bytes).expect("anonymous memory for the per-address records");
        assert!((map.as_ptr() as usize).is_multiple_of(std::mem::align_of::<St<N>>()), "mapping is page aligned");
        Records { map, n, _n: std::marker::PhantomData }
    }
}

impl<N: Num> std::ops::Deref for Records<N> {
    type Target = [St<N>];
    fn deref(&self) -> &[St<N>] {
        // SAFETY: the mapping is page aligned and holds `n` records; `St`
        // holds integers and flags only (u128 or ruint limbs), for which the
        // mapping's all-zero bytes are valid: zero, no taint, never reached.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<St<N>>(), self.n) }
    }
}

impl<N: Num> std::ops::DerefMut for Records<N> {
    fn deref_mut(&mut self) -> &mut [St<N>] {
        // SAFETY: as for `deref`, and the mapping is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<St<N>>(), self.n) }
    }
}

/// The per-address records a sweep keeps, indexed by address id.
pub(super) trait Recs<N>: std::ops::Index<usize, Output = St<N>> + std::ops::IndexMut<usize> {
    fn with_addresses(n: usize) -> Self;
    /// Start loading the record of `a`, some events before it is needed.
    fn prefetch(&self, a: u32);
    /// The second stage where records are reached through a slot that
    /// [`Recs::prefetch`] loaded earlier.
    fn prefetch_record(&self, _a: u32) {}
    /// Whether every address has its record in place (no slot to go through).
    fn is_dense(&self) -> bool {
        true
    }
}

impl<N: Num> std::ops::Index<usize> for Records<N> {
    type Output = St<N>;
    #[inline]
    fn index(&self, a: usize) -> &St<N> {
        &(**self)[a]
    }
}

impl<N: Num> std::ops::IndexMut<usize> for Records<N> {
    #[inline]
    fn index_mut(&mut self, a: usize) -> &mut St<N> {
        &mut (**self)[a]
    }
}

impl<N: Num> Recs<N> for Records<N> {
    fn with_addresses(n: usize) -> Self {
        let r = Records::zeroed(n);
        // The full sweep writes every record: 2 MiB pages cut the faults and
        // TLB misses 512-fold.
        #[cfg(target_os = "linux")]
        let _ = r.map.advise(memmap2::Advice::HugePage);
        r
    }
    #[inline]
    fn prefetch(&self, a: u32) {
        crate::store::idtable::prefetch(&self[a as usize]);
    }
}

/// The sparse sweep's records: only addresses it writes get one, packed in
/// the order they are first written; a 4-byte slot per address (zero pages
/// until written) points to it. Taint reaches a few percent of addresses, so
/// this holds a few percent of the full array, instead of faulting in and
/// clearing pages of it all over.
pub(super) struct Packed<N> {
    slot: Slots,
    recs: Vec<St<N>>,
    /// Set once taint reaches more than one address in 16 (see `densify`).
    dense: Option<Records<N>>,
}

/// One `u32` an address, zero until written, on 2 MiB pages (read at random
/// for every visited event: huge pages spare the TLB misses).
pub(super) struct Slots {
    map: memmap2::MmapMut,
    n: usize,
}

impl Slots {
    pub(super) fn new(n: usize) -> Self {
        let map = memmap2::MmapMut::map_anon((n * 4).max(1)).expect("memory for the address slots");
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Slots { map, n }
    }
}

impl std::ops::Deref for Slots {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        // SAFETY: the anonymous mapping is page aligned, zeroed and `n` u32s long.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<u32>(), self.n) }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [u32] {
        // SAFETY: as in `deref`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<u32>(), self.n) }
    }
}

impl<N: Num> Packed<N> {
    /// Taint turned out dense: move every record to its own place in a full
    /// array, which costs one miss an access instead of two. Once.
    #[cold]
    #[inline(never)]
    pub(super) fn densify(&mut self) {
        let mut dense = <Records<N> as Recs<N>>::with_addresses(self.slot.len());
        for (a, &s) in self.slot.iter().enumerate() {
            if s != 0 {
                dense[a] = self.recs[s as usize];
            }
        }
        self.dense = Some(dense);
        self.recs = Vec::new();
        self.slot = Slots::new(0);
    }
}

impl<N: Num> std::ops::Index<usize> for Packed<N> {
    type Output = St<N>;
    #[inline]
    fn index(&self, a: usize) -> &St<N> {
        match &self.dense {
            Some(d) => &d[a],
            // Slot 0 is the all-zero record that is never written.
            None => &self.recs[self.slot[a] as usize],
        }
    }
}

impl<N: Num> std::ops::IndexMut<usize> for Packed<N> {
    #[inline(always)]
    fn index_mut(&mut self, a: usize) -> &mut St<N> {
        if self.dense.is_none() {
            let mut s = self.slot[a];
            if s == 0 {
                s = u32::try_from(self.recs.len()).expect("fewer than 2^32 addresses");
                // Past one address in 16 the packing saves little and the slot costs a miss.
                if s as usize > (self.slot.len() / 16).max(64) {
                    self.densify();
                } else {
                    self.slot[a] = s;
                    self.recs.push(self.recs[0]);
                }
            }
            if self.dense.is_none() {
                return &mut self.recs[s as usize];
            }
        }
        &mut self.dense.as_mut().expect("dense after densify")[a]
    }
}

impl<N: Num> Recs<N> for Packed<N> {
    fn with_addresses(n: usize) -> Self {
        let zero = St { bal: N::ZERO, t: N::ZERO, not_hop: 0, fl: 0 };
        Packed { slot: Slots::new(n), recs: vec![zero], dense: None }
    }
    #[inline]
    fn prefetch(&self, a: u32) {
        match &self.dense {
            Some(d) => d.prefetch(a),
            None => crate::store::idtable::prefetch(&self.slot[a as usize]),
        }
    }
    fn is_dense(&self) -> bool {
        self.dense.is_some()
    }
    #[inline]
    fn prefetch_record(&self, a: u32) {
        if self.dense.is_none() {
            crate::store::idtable::prefetch(&self.recs[self.slot[a as usize] as usize]);
        }
    }
}
