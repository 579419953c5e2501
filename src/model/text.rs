//! Parsers for single fields; each error names what it expected.

use crate::model::amount::Amount;
use crate::model::{Addr, TxHash};

/// Hex digit values; 0xFF marks a non-hex byte.
const HEXVAL: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// `prefix` then `bytes` as lowercase hex: how reports print addresses and
/// hashes. A pair of digits a byte from a table, where the `hex` crate's
/// character iterator was 7% of a large report's time (issue 18).
pub fn encode_hex(prefix: &str, bytes: &[u8]) -> String {
    let mut v = Vec::with_capacity(prefix.len() + 2 * bytes.len());
    push_hex(&mut v, prefix, bytes);
    String::from_utf8(v).expect("a prefix and hex digits")
}

/// [`encode_hex`] appended to a byte buffer.
pub fn push_hex(out: &mut Vec<u8>, prefix: &str, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(prefix.as_bytes());
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// The decimal digits of a number, on the stack: a CSV row's counts
/// without an allocation each.
pub struct Decimal {
    digits: [u8; 20],
    start: u8,
}

impl Decimal {
    /// `n` in decimal.
    pub fn of(mut n: u64) -> Decimal {
        let mut d = Decimal { digits: [0; 20], start: 20 };
        loop {
            d.start -= 1;
            d.digits[d.start as usize] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return d;
            }
        }
    }

    /// The digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start as usize..]
    }
}

/// Decode `2 * out.len()` hex digits; false on any non-hex byte.
///
/// Kept over `hex::decode_to_slice` (issue 13): `cargo bench --bench kernels
/// hex` measured 4096 decodes at a median of 47 µs (20 bytes) and 68 µs (32)
/// here against 620 µs and 957 µs with the crate, 13-14x faster.
#[inline]
pub fn decode_hex(h: &[u8], out: &mut [u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if h.len() == 2 * out.len() && out.len() >= 8 {
        return decode_hex_sse2(h, out);
    }
    decode_hex_scalar(h, out)
}

/// [`decode_hex`] a byte at a time through a table.
#[inline]
fn decode_hex_scalar(h: &[u8], out: &mut [u8]) -> bool {
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(h.chunks_exact(2)) {
        let (a, b) = (HEXVAL[pair[0] as usize], HEXVAL[pair[1] as usize]);
        bad |= a | b;
        *o = a.wrapping_shl(4) | b;
    }
    bad & 0xF0 == 0
}

/// [`decode_hex`] 16 digits at a time with SSE2 (part of x86_64): a
/// digit's value and validity come from range compares, pairs combine by
/// shifts within 16-bit lanes. The last 16 digits are read again from
/// where they end when the length is not a multiple of 16 (addresses: 40),
/// rewriting bytes already written with the same values. Issue 14: hex
/// was 7-8% of an ingest's CPU through the table.
#[cfg(target_arch = "x86_64")]
#[inline]
fn decode_hex_sse2(h: &[u8], out: &mut [u8]) -> bool {
    use std::arch::x86_64::*;
    debug_assert!(h.len() == 2 * out.len() && out.len() >= 8);
    let n = h.len();
    let mut ok = true;
    let mut at = 0;
    loop {
        let at16 = at.min(n - 16);
        // SAFETY: SSE2 is part of x86_64; the load reads h[at16..at16 + 16]
        // and the store writes out[at16 / 2..at16 / 2 + 8], both in bounds
        // as n >= 16 and out.len() == n / 2.
        unsafe {
            let v = _mm_loadu_si128(h.as_ptr().add(at16).cast());
            let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x2F)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x3A)));
            let alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8(0x60)), _mm_cmplt_epi8(lower, _mm_set1_epi8(0x67)));
            let val = _mm_or_si128(
                _mm_and_si128(digit, _mm_sub_epi8(v, _mm_set1_epi8(0x30))),
                _mm_and_si128(alpha, _mm_sub_epi8(lower, _mm_set1_epi8(0x57))),
            );
            ok &= _mm_movemask_epi8(_mm_or_si128(digit, alpha)) == 0xFFFF;
            let hi = _mm_and_si128(val, _mm_set1_epi16(0x00FF));
            let lo = _mm_srli_epi16(val, 8);
            let bytes = _mm_packus_epi16(_mm_or_si128(_mm_slli_epi16(hi, 4), lo), _mm_setzero_si128());
            _mm_storel_epi64(out.as_mut_ptr().add(at16 / 2).cast(), bytes);
        }
        at += 16;
        if at >= n {
            return ok;
        }
    }
}

fn strip_0x(t: &[u8]) -> &[u8] {
    let t = t.trim_ascii();
    if t.len() >= 2 && t[0] == b'0' && (t[1] == b'x' || t[1] == b'X') { &t[2..] } else { t }
}

/// Decode exactly `N` bytes of hex (with or without `0x`; `\x` as Dune writes it).
pub fn hex_fixed<const N: usize>(field: &str, t: &[u8], what: &str) -> Result<[u8; N], FieldError> {
    let raw = t.trim_ascii();
    let h = if raw.starts_with(b"\\x") { &raw[2..] } else { strip_0x(raw) };
    if h.len() != 2 * N {
        return Err(FieldError::new(
            field,
            format!("{what} of wrong length: {:?} has {} hex digits, expected {}", show(t), h.len(), 2 * N),
        ));
    }
    let mut out = [0u8; N];
    if !decode_hex(h, &mut out) {
        return Err(FieldError::new(field, format!("malformed hex in {what} {:?}", show(t))));
    }
    Ok(out)
}

/// An Ethereum address.
pub fn eth_address(field: &str, t: &[u8]) -> Result<[u8; 20], FieldError> {
    hex_fixed::<20>(field, t, "address")
}

/// An Ethereum address, `None` when the field is empty.
pub fn opt_eth_address(field: &str, t: &[u8]) -> Result<Option<[u8; 20]>, FieldError> {
    if t.trim_ascii().is_empty() { Ok(None) } else { eth_address(field, t).map(Some) }
}

/// A 32-byte transaction hash.
pub fn tx_hash(field: &str, t: &[u8]) -> Result<TxHash, FieldError> {
    hex_fixed::<32>(field, t, "transaction hash")
}

/// A transaction hash, `None` when empty.
pub fn opt_tx_hash(field: &str, t: &[u8]) -> Result<Option<TxHash>, FieldError> {
    if t.trim_ascii().is_empty() { Ok(None) } else { tx_hash(field, t).map(Some) }
}

/// An unsigned integer, `None` when empty (JSON `null` counts as empty).
pub fn opt_u64(field: &str, t: &[u8]) -> Result<Option<u64>, FieldError> {
    let t = t.trim_ascii();
    if t.is_empty() || t == b"null" {
        return Ok(None);
    }
    let mut v: u64 = 0;
    if t.len() > 20 || !t.iter().all(u8::is_ascii_digit) {
        // Some exports write integers as `12.0`.
        if let Ok(a) = Amount::parse_base(t)
            && let Some(x) = a.to_u128().and_then(|x| u64::try_from(x).ok())
        {
            return Ok(Some(x));
        }
        return Err(FieldError::new(field, format!("expected a non-negative integer, found {:?}", show(t))));
    }
    for &c in t {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(|| FieldError::new(field, format!("integer {:?} too large", show(t))))?;
    }
    Ok(Some(v))
}

/// A required unsigned integer.
pub fn req_u64(field: &str, t: &[u8]) -> Result<u64, FieldError> {
    opt_u64(field, t)?.ok_or_else(|| FieldError::new(field, "empty, expected an integer"))
}

/// An index that must fit u32 (minus the one value reserved for "missing").
pub fn opt_index(field: &str, t: &[u8]) -> Result<Option<u32>, FieldError> {
    opt_u64(field, t)?.map(|v| index(field, v)).transpose()
}

/// An index read as a number (a JSON one, say): below `sub::MAX_INDEX`, so
/// that a position, and the index + 1 it is stored as, stays in its bits.
pub fn index(field: &str, v: u64) -> Result<u32, FieldError> {
    match u32::try_from(v) {
        Ok(i) if i < crate::model::sub::MAX_INDEX => Ok(i),
        _ => Err(FieldError::new(field, format!("index {v} out of range"))),
    }
}

/// A value in base units, or in whole coins with `decimals`.
pub fn amount(field: &str, t: &[u8], decimals: u32) -> Result<Amount, FieldError> {
    let r = if decimals == 0 { Amount::parse_base(t) } else { Amount::parse_decimal(t, decimals) };
    r.map_err(|e| FieldError::new(field, e.to_string()))
}

/// A block time.
pub fn opt_time(field: &str, t: &[u8]) -> Result<Option<i64>, FieldError> {
    let t = t.trim_ascii();
    if t.is_empty() || t == b"null" {
        return Ok(None);
    }
    crate::model::time::parse_time(t).map(Some).ok_or_else(|| {
        let why = crate::model::time::time_problem(t).unwrap_or_else(|| format!("not a time (ISO 8601 or epoch seconds): {:?}", show(t)));
        FieldError::new(field, why)
    })
}

/// A status flag: `1`/`true` success, `0`/`false` failure, empty unknown.
pub fn opt_status(field: &str, t: &[u8]) -> Result<Option<bool>, FieldError> {
    match t.trim_ascii() {
        b"" | b"null" => Ok(None),
        b"1" | b"true" | b"True" | b"TRUE" => Ok(Some(true)),
        b"0" | b"false" | b"False" | b"FALSE" => Ok(Some(false)),
        other => Err(FieldError::new(field, format!("expected a status 0 or 1, found {:?}", show(other)))),
    }
}

/// A Bitcoin address string: printable ASCII without spaces.
pub fn btc_address(field: &str, t: &[u8]) -> Result<Addr, FieldError> {
    let t = t.trim_ascii();
    if t.is_empty() || t.len() > 128 || !t.iter().all(|c| c.is_ascii_graphic()) {
        return Err(FieldError::new(field, format!("not a Bitcoin address: {:?}", show(t))));
    }
    Ok(Addr::Text(String::from_utf8_lossy(t).into()))
}

/// A field for an error message (cut short).
pub fn show(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(t);
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s.into_owned() }
}

/// A problem with one field of one row; the reader adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The column name as the export spells it.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// The text a CSV writer into memory wrote: a `Vec` takes every write and
/// the fields were strings, so neither step can fail.
pub fn csv_text(w: csv::Writer<Vec<u8>>) -> String {
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("CSV of UTF-8 fields is UTF-8")
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_are_what_display_writes() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            assert_eq!(super::Decimal::of(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn encode_hex_is_the_crates_lowercase_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(super::encode_hex("0x", &bytes), format!("0x{}", hex::encode(&bytes)));
        assert_eq!(super::encode_hex("", &[]), "");
    }

    use super::*;

    #[test]
    fn hex_sixteen_digits_at_a_time_matches_the_table() {
        let digits = b"0123456789abcdefABCDEF";
        let mut next = crate::model::testing::xorshift(0x2545_F491_4F6C_DD1Du64);
        for len in [8usize, 9, 16, 20, 31, 32, 33] {
            for case in 0..3000 {
                let mut h: Vec<u8> = (0..2 * len).map(|_| digits[(next() % digits.len() as u64) as usize]).collect();
                if case % 3 == 0 {
                    // A byte that is no digit, anywhere (most of the 256 values over the cases).
                    let at = (next() % h.len() as u64) as usize;
                    h[at] = (next() % 256) as u8;
                }
                let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                let ok = decode_hex(&h, &mut a);
                assert_eq!(ok, decode_hex_scalar(&h, &mut b), "{:?}", String::from_utf8_lossy(&h));
                if ok {
                    assert_eq!(a, b);
                }
            }
        }
        // Every byte value in every position of an address.
        for at in 0..40 {
            for c in 0..=255u8 {
                let mut h = *b"00112233445566778899aabbccddeeffAABBCCDD";
                h[at] = c;
                let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
                let ok = decode_hex(&h, &mut a);
                assert_eq!(ok, decode_hex_scalar(&h, &mut b));
                assert!(!ok || a == b);
            }
        }
    }
}
