//! What the account sweep keeps per address, and the bit sets its skip test
//! reads: flat arrays over address ids, on zero pages that cost nothing until
//! written (ADR 0005).

use super::num::Num;

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for plain integers and structs of them.
pub(crate) unsafe trait Zeroable: Copy {}

// SAFETY: integers.
unsafe impl Zeroable for u32 {}
// SAFETY: integers.
unsafe impl Zeroable for u64 {}
// SAFETY: `St` holds integers and flags only (u128 or ruint limbs): all-zero
// bytes are zero balance, no taint, never reached.
unsafe impl<N: Num> Zeroable for St<N> {}

/// `n` values on zero pages of an anonymous mapping, on 2 MiB pages. The
/// kernel supplies a page only when it is first written, so arrays over
/// every address cost only where taint goes; the allocator would clear them
/// itself (`St` is aligned to 64 bytes, more than `calloc` promises). They
/// are read at random, so huge pages spare the TLB misses, and where they
/// are written all over (the full sweep) cut the faults 512-fold.
pub(crate) struct ZeroPages<T> {
    map: memmap2::MmapMut,
    n: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Zeroable> ZeroPages<T> {
    pub(crate) fn new(n: usize) -> Self {
        let bytes = (n * std::mem::size_of::<T>()).max(1);
        let map = memmap2::MmapMut::map_anon(bytes).expect("anonymous memory for an array over addresses");
        assert!((map.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()), "mapping is page aligned");
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        ZeroPages { map, n, _t: std::marker::PhantomData }
    }

    /// Room for `n` values, the new ones zero (a store that grew by an
    /// append, under a sweep that runs on). The mapping grows by an eighth
    /// more than asked, so that a block's few new addresses seldom move it.
    pub(crate) fn grow(&mut self, n: usize) {
        if n <= self.n {
            return;
        }
        let bytes = n * std::mem::size_of::<T>();
        if bytes > self.map.len() {
            let want = bytes + bytes / 8;
            #[cfg(target_os = "linux")]
            {
                // SAFETY: an anonymous mapping has no file to run past; the
                // pages mremap adds are zero, and no slice into the old
                // pages outlives `&mut self`.
                unsafe { self.map.remap(want, memmap2::RemapOptions::new().may_move(true)) }
                    .expect("anonymous memory for an array over addresses");
                let _ = self.map.advise(memmap2::Advice::HugePage);
            }
            #[cfg(not(target_os = "linux"))]
            {
                let mut map = memmap2::MmapMut::map_anon(want).expect("anonymous memory for an array over addresses");
                map[..self.map.len()].copy_from_slice(&self.map);
                self.map = map;
            }
        }
        self.n = n;
    }
}

impl<T: Zeroable> std::ops::Deref for ZeroPages<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: the mapping is page aligned (checked), `n` values long and
        // zeroed, and all-zero bytes are a valid `T` (`Zeroable`).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<T>(), self.n) }
    }
}

impl<T: Zeroable> std::ops::DerefMut for ZeroPages<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and the mapping is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<T>(), self.n) }
    }
}

/// The events of transactions `txs`, in order: a sparse sweep visits them
/// whatever their parties.
pub(super) fn seed_tx_events(store: &crate::store::Store, txs: &[u32]) -> Vec<usize> {
    seed_tx_events_in(store, txs, 0..store.len())
}

/// [`seed_tx_events`] among events `range` (a sweep that runs on over the
/// events an append added).
pub(super) fn seed_tx_events_in(store: &crate::store::Store, txs: &[u32], range: std::ops::Range<usize>) -> Vec<usize> {
    if txs.is_empty() {
        return Vec::new();
    }
    // A sorted slice, not a set: one or a few compares an event instead of
    // a SipHash; on one thread, as a bit-packed column scans faster than a
    // busy machine wakes a pool (issue 13: 1.4x-1.7x the trace by address before).
    let mut want = txs.to_vec();
    want.sort_unstable();
    let ev = store.events();
    range
        .filter(|&i| {
            let t = ev.tx(i);
            t != crate::model::NO_TX && want.binary_search(&t).is_ok()
        })
        .collect()
}

/// One bit per address.
pub(super) struct Bits {
    words: ZeroPages<u64>,
}

impl Bits {
    pub(super) fn new(n: usize) -> Self {
        Bits { words: ZeroPages::new(n.div_ceil(64)) }
    }
    /// Addresses it has room for.
    pub(super) fn len(&self) -> usize {
        self.words.len() * 64
    }
    /// Room for `n` addresses, the new ones unset.
    pub(super) fn grow(&mut self, n: usize) {
        self.words.grow(n.div_ceil(64));
    }
    #[inline]
    pub(super) fn get(&self, i: u32) -> bool {
        self.words[(i >> 6) as usize] >> (i & 63) & 1 != 0
    }
    #[inline]
    pub(super) fn set(&mut self, i: u32) {
        self.words[(i >> 6) as usize] |= 1 << (i & 63);
    }
    #[inline]
    pub(super) fn clear(&mut self, i: u32) {
        self.words[(i >> 6) as usize] &= !(1 << (i & 63));
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
    /// A stop's place among the sweep's destinations, plus one (0: none).
    /// In the record, whose line an arrival loads anyway: a slot array of
    /// its own was one more miss an arrival at a stop.
    pub(super) stop: u32,
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
    /// Room for `n` addresses, the new ones cold.
    pub(super) fn grow(&mut self, n: usize) {
        self.send.grow(n);
        if let Receivers::Many(b) = &mut self.recv {
            b.grow(n);
        }
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
                    let mut b = Bits::new(self.send.len());
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

/// Every address's record in place (the full sweep, and the sparse one once
/// taint is dense).
pub(super) type Records<N> = ZeroPages<St<N>>;

/// The per-address records a sweep keeps, indexed by address id.
pub(super) trait Recs<N>: std::ops::Index<usize, Output = St<N>> + std::ops::IndexMut<usize> {
    fn with_addresses(n: usize) -> Self;
    /// Room for `n` addresses, the new ones with the initial record.
    fn grow(&mut self, n: usize);
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

impl<T: Zeroable> std::ops::Index<usize> for ZeroPages<T> {
    type Output = T;
    #[inline]
    fn index(&self, a: usize) -> &T {
        &(**self)[a]
    }
}

impl<T: Zeroable> std::ops::IndexMut<usize> for ZeroPages<T> {
    #[inline]
    fn index_mut(&mut self, a: usize) -> &mut T {
        &mut (**self)[a]
    }
}

impl<N: Num> Recs<N> for Records<N> {
    fn with_addresses(n: usize) -> Self {
        ZeroPages::new(n)
    }
    fn grow(&mut self, n: usize) {
        ZeroPages::grow(self, n);
    }
    #[inline]
    fn prefetch(&self, a: u32) {
        crate::sys::prefetch(&self[a as usize]);
    }
}

/// The sparse sweep's records: only addresses it writes get one, packed in
/// the order they are first written; a 4-byte slot per address (zero pages
/// until written) points to it. Taint reaches a few percent of addresses, so
/// this holds a few percent of the full array, instead of faulting in and
/// clearing pages of it all over.
pub(super) struct Packed<N> {
    /// Per address: its record's index in `recs`, 0 for none.
    slot: ZeroPages<u32>,
    recs: Vec<St<N>>,
    /// Set once taint reaches more than one address in 16 (see `densify`).
    dense: Option<Records<N>>,
}

impl<N: Num> Packed<N> {
    /// Taint turned out dense: move every record to its own place in a full
    /// array, which costs one miss an access instead of two. Once.
    #[cold]
    #[inline(never)]
    pub(super) fn densify(&mut self) {
        let mut dense = Records::<N>::new(self.slot.len());
        for (a, &s) in self.slot.iter().enumerate() {
            if s != 0 {
                dense[a] = self.recs[s as usize];
            }
        }
        self.dense = Some(dense);
        self.recs = Vec::new();
        self.slot = ZeroPages::new(0);
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
        if self.dense.is_none() && self.slot[a] == 0 {
            let s = u32::try_from(self.recs.len()).expect("fewer than 2^32 addresses");
            // Past one address in 16 the packing saves little and the slot costs a miss.
            if s as usize > (self.slot.len() / 16).max(64) {
                self.densify();
            } else {
                self.slot[a] = s;
                self.recs.push(self.recs[0]);
            }
        }
        match &mut self.dense {
            Some(d) => &mut d[a],
            None => &mut self.recs[self.slot[a] as usize],
        }
    }
}

impl<N: Num> Recs<N> for Packed<N> {
    fn with_addresses(n: usize) -> Self {
        let zero = St { bal: N::ZERO, t: N::ZERO, not_hop: 0, fl: 0, stop: 0 };
        Packed { slot: ZeroPages::new(n), recs: vec![zero], dense: None }
    }
    fn grow(&mut self, n: usize) {
        match &mut self.dense {
            Some(d) => d.grow(n),
            None => self.slot.grow(n),
        }
    }
    #[inline]
    fn prefetch(&self, a: u32) {
        match &self.dense {
            Some(d) => d.prefetch(a),
            None => crate::sys::prefetch(&self.slot[a as usize]),
        }
    }
    fn is_dense(&self) -> bool {
        self.dense.is_some()
    }
    #[inline]
    fn prefetch_record(&self, a: u32) {
        if self.dense.is_none() {
            crate::sys::prefetch(&self.recs[self.slot[a as usize] as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Growing past the mapping's room moves it (mremap): what was written
    /// stays, the new values are zero, and growing within the room or to
    /// a smaller size changes nothing.
    #[test]
    fn zero_pages_keep_their_values_as_they_grow() {
        let mut z: ZeroPages<u64> = ZeroPages::new(1000);
        for (i, v) in z.iter_mut().enumerate() {
            *v = i as u64 * 7 + 1;
        }
        let mut want = 1000;
        for n in [1001, 1100, 5_000, 1_000_000, 999, 3_000_000] {
            z.grow(n);
            want = want.max(n);
            assert_eq!(z.len(), want);
            assert!((0..1000).all(|i| z[i] == i as u64 * 7 + 1), "grown to {n}");
            assert!((*z)[1000..].iter().all(|&v| v == 0), "grown to {n}");
        }
        assert_eq!(z.len(), 3_000_000);
        z[2_999_999] = 5;
        assert_eq!(z[2_999_999], 5);
    }

    /// The sparse records grow in both shapes: packed (slots) and, once
    /// taint went dense, the full array.
    #[test]
    fn packed_records_grow_before_and_after_they_go_dense() {
        let mut p: Packed<u128> = Packed::with_addresses(2_000);
        for a in [3usize, 700, 1_999] {
            p[a].t = a as u128;
        }
        assert!(!p.is_dense());
        p.grow(50_000);
        assert!((0..50_000).all(|a| p[a].t == if [3, 700, 1_999].contains(&a) { a as u128 } else { 0 }));
        // Past one address in 16 the records move to a full array.
        for a in (0..50_000).step_by(8) {
            p[a].t += 1;
        }
        assert!(p.is_dense());
        p.grow(400_000);
        p[399_999].bal = 9;
        for a in [3usize, 700, 1_999] {
            assert_eq!(p[a].t, a as u128 + u128::from(a % 8 == 0));
        }
        assert_eq!((p[8].t, p[16].t, p[17].t, p[50_000].t, p[399_999].bal), (1, 1, 0, 0, 9));
        let mut b = Bits::new(10);
        b.set(9);
        b.grow(100_000);
        b.set(99_999);
        assert!(b.get(9) && b.get(99_999) && !b.get(64) && b.len() >= 100_000);
    }
}
