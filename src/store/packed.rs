//! Bit-packed event columns: frame of reference per block of 4096 events.
//!
//! Most per-event columns (sender and receiver, position inside the
//! transaction, transaction id, asset id, flags) hold values that are close
//! together within a few thousand events or need fewer than 32 bits:
//! transaction ids rise with the events, assets are a few ids, positions
//! and flags are small, and an address id needs log2 of the addresses.
//! Each block of [`BLOCK`] events keeps a line (its lowest point and a
//! slope, 0 for a flat block) and the bit width of the largest distance
//! above it, and the distances follow as a bit string (ADR 0010, formats 9
//! and 10; transaction ids climb, every other column is flat). Reading
//! event `i` is a frame load, one unaligned 8-byte read, a shift and a
//! mask, plus a multiply on a climbing block: no block is decoded, so
//! random access stays O(1) and the sweeps read these columns only for the
//! events they visit. A run of events decodes with one frame load
//! ([`Packed::fill`]), 16 of a flat block with the width a constant (with
//! AVX2 up to 25 bits).
//!
//! `u32::MAX` (no transaction) is common in some blocks and would widen
//! them to 32 bits: a block that has it codes it as 0 and every other
//! value as its difference plus one.

use rayon::prelude::*;

/// log2 of the events a frame covers.
pub const SHIFT: u32 = 12;
/// Events a frame covers.
pub const BLOCK: usize = 1 << SHIFT;

/// One block's frame: where its bits start, its line, its width.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Frame {
    /// Byte offset of the block's bits in the column's bit string.
    pub offset: u64,
    /// The lowest distance of a value (other than `u32::MAX`) from the
    /// line through 0 with the frame's slope, wrapped below zero if the
    /// line passes above a value; flat (slope 0): the smallest value, and
    /// with width 0 every value.
    pub base: u32,
    /// Bits a value (low 8 bits, at most 32); bit 8: code 0 is `u32::MAX`;
    /// bits 9 to 31: the slope (see [`Frame::slope`]).
    pub code: u32,
}

const NULLABLE: u32 = 1 << 8;
const SLOPE_SHIFT: u32 = 9;
/// Fractional bits of a slope.
const SLOPE_FRACTION: u32 = 16;

impl Frame {
    fn width(&self) -> u32 {
        self.code & 0xff
    }

    /// Rise per event, in 1/65536ths: event `k` of the block holds
    /// `base + (k * slope >> 16) + difference`, so ids that climb through
    /// a block (transaction ids) store how far each is off the line, not
    /// off the block's smallest (format 10; 0 before).
    fn slope(&self) -> u64 {
        u64::from(self.code >> SLOPE_SHIFT)
    }

    /// What the line adds at event `k` of the block.
    #[inline]
    fn rise(&self, k: usize) -> u32 {
        ((k as u64 * self.slope()) >> SLOPE_FRACTION) as u32
    }

    /// Bytes of bits for `n` values.
    fn bytes(&self, n: usize) -> u64 {
        (n as u64 * u64::from(self.width())).div_ceil(8)
    }
}

/// A packed column: frames and the bit string they point into.
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    frames: &'a [Frame],
    bits: &'a [u8],
}

impl<'a> Packed<'a> {
    /// A view over checked frames and bits (see [`check`]).
    pub fn new(frames: &'a [Frame], bits: &'a [u8]) -> Self {
        Packed { frames, bits }
    }

    /// The value of event `i`.
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        let f = &self.frames[i >> SHIFT];
        // A damaged frame reads wrong values, never out of bounds (the
        // checksums every command verifies catch the damage first).
        let w = (f.code & 0xff).min(32);
        let base = f.base.wrapping_add(f.rise(i & (BLOCK - 1)));
        if w == 0 {
            return base;
        }
        let bit = (i & (BLOCK - 1)) as u64 * u64::from(w);
        let at = f.offset.saturating_add(bit / 8).min(self.bits.len() as u64) as usize;
        let raw = match self.bits.get(at..at + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            None => {
                let mut b = [0u8; 8];
                let tail = &self.bits[at..];
                b[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(b)
            }
        };
        let code = ((raw >> (bit % 8)) & ((1u64 << w) - 1)) as u32;
        let nullable = (f.code >> 8) & 1;
        if nullable == 1 && code == 0 { u32::MAX } else { base.wrapping_add(code - nullable) }
    }

    /// The values of events `start..start + out.len()` into `out`: each 16
    /// from a multiple of 16 of a flat block with the width a constant
    /// (`fill16`), the scans' case; the rest (up to the first multiple of
    /// 16, a scan's last few events, a climbing block) a value at a time.
    #[inline]
    pub fn fill(&self, start: usize, out: &mut [u32]) {
        let mut j = 0;
        while j < out.len() {
            let i = start + j;
            if i.is_multiple_of(16)
                && let Some(chunk) = out.get_mut(j..j + 16)
                && let Ok(out16) = <&mut [u32; 16]>::try_from(chunk)
                && self.fill16(i, out16)
            {
                j += 16;
                continue;
            }
            out[j] = self.get(i);
            j += 1;
        }
    }

    /// The 16 values from event `start`, a multiple of 16, into `out`, if
    /// their block is flat and its bits are all there (false: nothing
    /// written). Those 16 values begin on a byte (16 x width bits is whole
    /// bytes), so with the width a constant every byte offset and shift is
    /// one too (`unpack16`).
    #[inline]
    fn fill16(&self, start: usize, out: &mut [u32; 16]) -> bool {
        if let Some(f) = self.frames.get(start >> SHIFT)
            && f.code >> 8 == 0
            && let w = f.code & 0xff
            && w <= 32
            && let Some(at) = f.offset.checked_add((start & (BLOCK - 1)) as u64 * u64::from(w) / 8)
            && let Some(src) = self.bits.get(at as usize..(at as usize).saturating_add(2 * w as usize + 8))
        {
            #[cfg(target_arch = "x86_64")]
            if (1..=avx2::MAX_WIDTH).contains(&w)
                && std::arch::is_x86_feature_detected!("avx2")
                && let Some(src) = self.bits.get(at as usize..(at as usize).saturating_add(avx2::READS))
            {
                // SAFETY: the CPU has AVX2, the one requirement of `avx2::unpack16`.
                unsafe { avx2::unpack16(w, src, f.base, out) };
                return true;
            }
            unpack16_any(w, src, f.base, out);
            return true;
        }
        false
    }

    /// Load the frame and bits of event `i` into the cache.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let Some(f) = self.frames.get(i >> SHIFT) {
            crate::sys::prefetch(f);
            let at = f.offset.saturating_add((i & (BLOCK - 1)) as u64 * u64::from(f.width()) / 8);
            if let Some(b) = self.bits.get(at as usize) {
                crate::sys::prefetch(b);
            }
        }
    }

    /// The values of events `from..to`.
    pub fn range(&self, from: usize, to: usize) -> Vec<u32> {
        (from..to).into_par_iter().map(|i| self.get(i)).collect()
    }
}

/// `unpack16` for width `w` (at most 32).
#[inline(always)]
fn unpack16_any(w: u32, src: &[u8], base: u32, out: &mut [u32; 16]) {
    macro_rules! widths {
        ($($w:literal)*) => {
            match w {
                $($w => unpack16::<$w>(src, base, out),)*
                _ => unreachable!("a width past 32 never reaches unpack16"),
            }
        };
    }
    widths!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
}

/// `unpack16` with AVX2 for widths up to 25, where a value and its shift
/// fit 4 bytes: each half of 8 values is one 32-byte shuffle of two
/// 16-byte loads (a table per width places each value's 4 bytes in its
/// lane), one variable shift, a mask and an add: about 4 times the speed of
/// the scalar unpack in the sweeps' skip test, which decodes every event's
/// sender and receiver.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The widest value the shuffles place.
    pub(super) const MAX_WIDTH: u32 = 25;
    /// Bytes a call may read from its start: the second half's high load
    /// ends before byte 25 + 12 + 16.
    pub(super) const READS: usize = 64;

    /// Per width: the shuffle that puts the 4 bytes holding value `j` of a
    /// half into lane `j` (lanes 4 to 7 from the high load, which starts at
    /// the byte of value 4), and each lane's shift.
    struct Table {
        shuffle: [[i8; 32]; MAX_WIDTH as usize + 1],
        shift: [[i32; 8]; MAX_WIDTH as usize + 1],
        high: [usize; MAX_WIDTH as usize + 1],
    }

    static TABLE: Table = {
        let mut t = Table {
            shuffle: [[0; 32]; MAX_WIDTH as usize + 1],
            shift: [[0; 8]; MAX_WIDTH as usize + 1],
            high: [0; MAX_WIDTH as usize + 1],
        };
        let mut w = 1;
        while w <= MAX_WIDTH as usize {
            let high = 4 * w / 8;
            t.high[w] = high;
            let mut j = 0;
            while j < 8 {
                let bit = j * w;
                let (from, lane) = if j < 4 { (bit / 8, j * 4) } else { (bit / 8 - high, 16 + (j - 4) * 4) };
                let mut b = 0;
                while b < 4 {
                    t.shuffle[w][lane + b] = (from + b) as i8;
                    b += 1;
                }
                t.shift[w][j] = (bit % 8) as i32;
                j += 1;
            }
            w += 1;
        }
        t
    };

    /// 16 values of width `w` (1 to [`MAX_WIDTH`]) from the start of `src`
    /// (at least [`READS`] bytes), plus `base`.
    #[target_feature(enable = "avx2")]
    pub(super) fn unpack16(w: u32, src: &[u8], base: u32, out: &mut [u32; 16]) {
        let w = w as usize;
        assert!((1..=MAX_WIDTH as usize).contains(&w) && src.len() >= READS);
        let high = TABLE.high[w];
        // SAFETY: every load reads 16 bytes at most 25 + 12 bytes in, inside
        // the READS bytes asserted above; the stores write the 64 bytes of `out`.
        unsafe {
            let shuffle = _mm256_loadu_si256(TABLE.shuffle[w].as_ptr().cast());
            let shift = _mm256_loadu_si256(TABLE.shift[w].as_ptr().cast());
            let mask = _mm256_set1_epi32(((1u64 << w) - 1) as u32 as i32);
            let base = _mm256_set1_epi32(base as i32);
            for half in 0..2 {
                let p = src.as_ptr().add(half * w);
                let lo = _mm_loadu_si128(p.cast());
                let hi = _mm_loadu_si128(p.add(high).cast());
                let v = _mm256_shuffle_epi8(_mm256_set_m128i(hi, lo), shuffle);
                let v = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(v, shift), mask), base);
                _mm256_storeu_si256(out.as_mut_ptr().add(half * 8).cast(), v);
            }
        }
    }
}

/// 16 values of width `W` from the start of `src` (at least `2W + 8`
/// bytes), plus `base`.
#[inline(always)]
fn unpack16<const W: u32>(src: &[u8], base: u32, out: &mut [u32; 16]) {
    let src = &src[..2 * W as usize + 8];
    let mask = if W == 0 { 0 } else { u64::MAX >> (64 - W) };
    for (j, d) in out.iter_mut().enumerate() {
        let bit = j * W as usize;
        let raw = u64::from_le_bytes(src[bit / 8..bit / 8 + 8].try_into().expect("8 bytes"));
        *d = base.wrapping_add(((raw >> (bit % 8)) & mask) as u32);
    }
}

/// Check frames and bits of a column of `events` events: one frame a block,
/// widths of at most 32, each block's bits right after the one before, and
/// the last ending the bit string. Any other bytes would read out of place.
pub fn check(frames: &[Frame], bits: &[u8], events: u64) -> Result<(), String> {
    let blocks = (events as usize).div_ceil(BLOCK);
    if frames.len() != blocks {
        return Err(format!("{} frames for {events} events (expected {blocks})", frames.len()));
    }
    let mut at = 0u64;
    for (k, f) in frames.iter().enumerate() {
        if f.width() > 32 {
            return Err(format!("frame {k}: bad code {:#x}", f.code));
        }
        if f.offset != at {
            return Err(format!("frame {k}: bits at {} (expected {at})", f.offset));
        }
        let n = if k + 1 == blocks { events as usize - k * BLOCK } else { BLOCK };
        at += f.bytes(n);
    }
    if at != bits.len() as u64 {
        return Err(format!("{} bytes of bits (the frames need {at})", bits.len()));
    }
    Ok(())
}

/// Frames and bits of `values`, the first of which is event `first` (a
/// block's first: `first % BLOCK == 0`), the bits starting at byte `offset`
/// of the column's bit string.
pub fn encode(values: &[u32], first: u64, offset: u64) -> (Vec<Frame>, Vec<u8>) {
    debug_assert_eq!(first % BLOCK as u64, 0);
    let blocks: Vec<(Frame, Vec<u8>)> = values.par_chunks(BLOCK).map(encode_block).collect();
    let mut frames = Vec::with_capacity(blocks.len());
    let mut bits = Vec::with_capacity(blocks.iter().map(|b| b.1.len()).sum());
    let mut at = offset;
    for (mut f, b) in blocks {
        f.offset = at;
        at += b.len() as u64;
        bits.extend_from_slice(&b);
        frames.push(f);
    }
    (frames, bits)
}

fn encode_block(v: &[u32]) -> (Frame, Vec<u8>) {
    if v.iter().all(|&x| x == v[0]) {
        return (Frame { offset: 0, base: v[0], code: 0 }, Vec::new());
    }
    let nullable = v.contains(&u32::MAX);
    let n = u32::from(nullable);
    // Two candidates: differences from the smallest value, and from the
    // line through the first and last values (when they rise); the
    // narrower wins. Not all equal, so some value is not u32::MAX.
    let line = {
        let mut known = v.iter().enumerate().filter(|&(_, &x)| x != u32::MAX);
        let first = known.next();
        let last = known.next_back().or(first);
        match (first, last) {
            (Some((k0, &x0)), Some((k1, &x1))) if k1 > k0 && x1 > x0 => {
                ((u64::from(x1 - x0) << SLOPE_FRACTION) / (k1 - k0) as u64).min(u64::from(u32::MAX >> SLOPE_SHIFT))
            }
            _ => 0,
        }
    };
    let fit = |slope: u64| {
        let f = Frame { offset: 0, base: 0, code: (slope as u32) << SLOPE_SHIFT };
        // Offsets from the line, as i64: they may fall below it.
        let (lo, hi) = v
            .iter()
            .enumerate()
            .filter(|&(_, &x)| x != u32::MAX)
            .map(|(k, &x)| i64::from(x) - i64::from(f.rise(k)))
            .fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
        let range = (hi - lo) as u64 + u64::from(n);
        (64 - range.leading_zeros(), lo, f)
    };
    let flat = fit(0);
    let (w, lo, f) = if line != 0 && fit(line).0 < flat.0 { fit(line) } else { flat };
    let mut out = vec![0u8; (v.len() as u64 * u64::from(w)).div_ceil(8) as usize];
    let (mut acc, mut held, mut at) = (0u64, 0u32, 0usize);
    for (k, &x) in v.iter().enumerate() {
        let code = if x == u32::MAX { 0 } else { (i64::from(x) - i64::from(f.rise(k)) - lo) as u64 + u64::from(n) };
        acc |= code << held;
        held += w;
        while held >= 8 {
            out[at] = acc as u8;
            acc >>= 8;
            held -= 8;
            at += 1;
        }
    }
    if held > 0 {
        out[at] = acc as u8;
    }
    // `lo` may be below zero: the base wraps, and so does the sum that
    // reads a value back, to the value itself.
    (Frame { offset: 0, base: lo as u32, code: f.code | w | if nullable { NULLABLE } else { 0 } }, out)
}

/// Where a splice from event `cut` starts re-encoding a packed column:
/// the first event of `cut`'s block, the frames kept and the bytes of bits
/// kept (frames before that block).
pub fn cut_at(frames: &[Frame], bits_len: usize, cut: u64) -> (u64, usize, u64) {
    let k = (cut >> SHIFT) as usize;
    let bits = frames.get(k).map_or(bits_len as u64, |f| f.offset);
    ((k as u64) << SHIFT, k.min(frames.len()), bits)
}

/// What an open checks without reading every frame: the last frame's bits
/// end the bit string (`check` checks them all).
pub fn check_end(frames: &[Frame], bits: &[u8], events: u64) -> Result<(), String> {
    let Some(f) = frames.last() else {
        return if bits.is_empty() { Ok(()) } else { Err(format!("{} bytes of bits and no frame", bits.len())) };
    };
    let n = events as usize - (frames.len() - 1) * BLOCK;
    let end = f.offset.checked_add(f.bytes(n.min(BLOCK)));
    if f.width() > 32 || end != Some(bits.len() as u64) {
        return Err(format!("the last frame ends its bits at {end:?}, not at {}", bits.len()));
    }
    Ok(())
}

/// The frames of a column's bytes.
pub fn frames(b: &[u8]) -> &[Frame] {
    super::columns::cast(b)
}

const _: () = assert!(std::mem::size_of::<Frame>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &[u32]) {
        let (frames, bits) = encode(v, 0, 0);
        check(&frames, &bits, v.len() as u64).unwrap();
        let p = Packed::new(&frames, &bits);
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(p.get(i), x, "event {i}");
        }
        assert_eq!(p.range(0, v.len()), v);
        for (start, n) in [(0, v.len()), (v.len() / 3, v.len() / 2), (BLOCK.saturating_sub(5), 16)] {
            if start > v.len() {
                continue;
            }
            let n = n.min(v.len() - start);
            let mut out = vec![0u32; n];
            p.fill(start, &mut out);
            assert_eq!(out, v[start..start + n], "fill from {start}");
        }
        for start in (0..v.len().saturating_sub(15)).step_by(16).chain([1, 4090]) {
            if start + 16 <= v.len() {
                let mut out = [0u32; 16];
                p.fill(start, &mut out);
                assert_eq!(out, v[start..start + 16], "16 from {start}");
            }
        }
    }

    #[test]
    fn values_come_back() {
        round_trip(&[]);
        round_trip(&[7]);
        round_trip(&vec![u32::MAX; 5000]);
        round_trip(&(0..10_000u32).collect::<Vec<_>>());
        round_trip(&(0..10_000u32).map(|i| if i % 7 == 0 { u32::MAX } else { 1_000_000 + i / 3 }).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| if i % 2 == 0 { 0 } else { u32::MAX - 1 }).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| [0, u32::MAX, u32::MAX - 1][i as usize % 3]).collect::<Vec<_>>());
        // Rising ids: on a line, below it, above it, with and without nulls.
        round_trip(&(0..9000u32).map(|i| 7 + i * 2 / 5).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| if i % 11 == 0 { u32::MAX } else { 3_000_000_000 + i * 2 / 5 + i % 5 }).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| if i % 97 == 3 { 0 } else { 40 + i }).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| (i % 4096) * 1_000_000).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| if i % 4096 == 4095 { u32::MAX - 1 } else { i }).collect::<Vec<_>>());
        round_trip(&(0..9000u32).map(|i| 9000 - i).collect::<Vec<_>>());
    }

    #[test]
    fn every_width_decodes_sixteen_at_once() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for w in 1..=32u32 {
            let v: Vec<u32> = (0..3 * BLOCK)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Each block spans the whole width: its smallest and its largest.
                    (x as u32) >> (32 - w)
                })
                .chain([0, u32::MAX >> (32 - w)].into_iter().cycle().take(32))
                .collect();
            let (frames, bits) = encode(&v, 0, 0);
            let p = Packed::new(&frames, &bits);
            for start in (0..v.len() - 15).step_by(16) {
                let mut out = [0u32; 16];
                p.fill(start, &mut out);
                assert_eq!(out, v[start..start + 16], "width {w}, from {start}");
            }
            // Runs of any start and length, as scans ask: the aligned
            // sixteens inside them at once, the rest one by one.
            for (start, len) in [(0, 64), (3, 64), (13, 50), (BLOCK - 5, 40), (2 * BLOCK + 16, 17), (7, 0), (v.len() - 64, 64)] {
                let mut out = vec![0u32; len];
                p.fill(start, &mut out);
                assert_eq!(out, v[start..start + len], "width {w}, {len} from {start}");
            }
        }
    }

    #[test]
    fn narrow_values_take_few_bits() {
        let v: Vec<u32> = (0..BLOCK as u32 * 4).map(|i| 500 + i % 4).collect();
        let (_, bits) = encode(&v, 0, 0);
        assert_eq!(bits.len(), v.len() * 2 / 8);
    }

    #[test]
    fn rising_values_take_the_bits_of_their_distance_from_a_line() {
        // About 0.4 transactions an event, each of one to four events.
        let v: Vec<u32> = (0..BLOCK as u32).map(|i| 1_000_000 + i * 2 / 5 + (i * 7 % 3)).collect();
        let (frames, bits) = encode(&v, 0, 0);
        assert!(frames[0].slope() > 0);
        assert!(bits.len() * 8 <= v.len() * 2, "{} bits a value", bits.len() * 8 / v.len());
    }

    #[test]
    fn a_splice_reencodes_from_its_block() {
        let v: Vec<u32> = (0..3 * BLOCK as u32 + 100).map(|i| i / 3).collect();
        let (frames, bits) = encode(&v, 0, 0);
        for cut in [0u64, 5, BLOCK as u64, 2 * BLOCK as u64 + 7, v.len() as u64] {
            let (from, kept_frames, kept_bits) = cut_at(&frames, bits.len(), cut);
            let mut new = Packed::new(&frames, &bits).range(from as usize, cut as usize);
            new.extend((0..50).map(|i| 9_000_000 + i));
            let (f2, b2) = encode(&new, from, kept_bits);
            let all_frames = [&frames[..kept_frames], &f2[..]].concat();
            let all_bits = [&bits[..kept_bits as usize], &b2[..]].concat();
            let n = cut + 50;
            check(&all_frames, &all_bits, n).unwrap();
            let p = Packed::new(&all_frames, &all_bits);
            let want: Vec<u32> = v[..cut as usize].iter().copied().chain(9_000_000..9_000_050).collect();
            assert_eq!(p.range(0, n as usize), want, "cut {cut}");
        }
    }

    #[test]
    fn damaged_frames_read_wrong_values_not_out_of_bounds() {
        let v: Vec<u32> = (0..5000).map(|i| i * 7919 % 5000).collect();
        let (mut frames, bits) = encode(&v, 0, 0);
        frames[1].offset = u64::MAX - 3;
        frames[0].code = 0xff;
        let p = Packed::new(&frames, &bits);
        for i in [0, 4095, 4096, 4999] {
            let _ = p.get(i);
            p.prefetch(i);
        }
        let (mut out, mut all) = ([0u32; 16], vec![0u32; 5000]);
        for start in [0, 16, 4080, 4096, 4976] {
            p.fill(start, &mut out);
        }
        p.fill(0, &mut all);
        // A slope and a width past 32 in the bits that hold them.
        frames[0].code = u32::MAX;
        let p = Packed::new(&frames, &bits);
        p.fill(0, &mut out);
        p.fill(0, &mut all);
    }

    #[test]
    fn bad_frames_are_refused() {
        let v: Vec<u32> = (0..5000).map(|i| i * 7919 % 5000).collect();
        let (mut frames, bits) = encode(&v, 0, 0);
        assert!(check(&frames, &bits, 4999).is_err());
        assert!(check(&frames, &bits[1..], 5000).is_err());
        frames[1].offset += 1;
        assert!(check(&frames, &bits, 5000).is_err());
        frames[1].offset -= 1;
        frames[0].code = 40;
        assert!(check(&frames, &bits, 5000).is_err());
    }
}
