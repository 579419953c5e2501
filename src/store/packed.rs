//! Bit-packed event columns: frame of reference per block of 4096 events.
//!
//! The cold per-event columns (position inside the transaction, transaction
//! id, asset id, flags) hold values that are close together within a few
//! thousand events: transaction ids rise with the events, assets are a few
//! ids, positions and flags are small. Each block of [`BLOCK`] events keeps
//! its smallest value and the bit width of the largest difference, and the
//! differences follow as a bit string (ADR 0010, format 9). Reading event
//! `i` is a frame load, one unaligned 8-byte read, a shift and a mask: no
//! block is decoded, so random access stays O(1) and the sweeps read these
//! columns only for the events they visit.
//!
//! `u32::MAX` (no transaction) is common in some blocks and would widen
//! them to 32 bits: a block that has it codes it as 0 and every other
//! value as its difference plus one.

use rayon::prelude::*;

/// log2 of the events a frame covers.
pub const SHIFT: u32 = 12;
/// Events a frame covers.
pub const BLOCK: usize = 1 << SHIFT;

/// One block's frame: where its bits start, its smallest value, its width.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Frame {
    /// Byte offset of the block's bits in the column's bit string.
    pub offset: u64,
    /// The smallest value (other than `u32::MAX`); with width 0, every value.
    pub base: u32,
    /// Bits a value (low 8 bits, at most 32); bit 8: code 0 is `u32::MAX`.
    pub code: u32,
}

const NULLABLE: u32 = 1 << 8;

impl Frame {
    fn width(&self) -> u32 {
        self.code & 0xff
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
        if w == 0 {
            return f.base;
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
        if nullable == 1 && code == 0 { u32::MAX } else { f.base.wrapping_add(code - nullable) }
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
        if f.width() > 32 || f.code & !(0xff | NULLABLE) != 0 {
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
    let nullable = v.contains(&u32::MAX);
    let (lo, hi) = v.iter().filter(|&&x| x != u32::MAX).fold((u32::MAX, 0u32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    if v.iter().all(|&x| x == v[0]) {
        return (Frame { offset: 0, base: v[0], code: 0 }, Vec::new());
    }
    // Not all equal, so some value is not u32::MAX: hi - lo + 1 fits 32 bits.
    let n = u32::from(nullable);
    let range = u64::from(hi - lo) + u64::from(n);
    let w = 64 - range.leading_zeros();
    let mut out = vec![0u8; (v.len() as u64 * u64::from(w)).div_ceil(8) as usize];
    let (mut acc, mut held, mut at) = (0u64, 0u32, 0usize);
    for &x in v {
        let code = if x == u32::MAX { 0 } else { u64::from(x - lo) + u64::from(n) };
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
    (Frame { offset: 0, base: lo, code: w | if nullable { NULLABLE } else { 0 } }, out)
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
    }

    #[test]
    fn narrow_values_take_few_bits() {
        let v: Vec<u32> = (0..BLOCK as u32 * 4).map(|i| 500 + i % 4).collect();
        let (_, bits) = encode(&v, 0, 0);
        assert_eq!(bits.len(), v.len() * 2 / 8);
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
        let v: Vec<u32> = (0..5000).collect();
        let (mut frames, bits) = encode(&v, 0, 0);
        frames[1].offset = u64::MAX - 3;
        frames[0].code = 0xff;
        let p = Packed::new(&frames, &bits);
        for i in [0, 4095, 4096, 4999] {
            let _ = p.get(i);
            p.prefetch(i);
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let v: Vec<u32> = (0..5000).collect();
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
