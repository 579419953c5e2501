//! A `string` out of a log's ABI-encoded `data` (Solidity's head/tail
//! encoding): the head word `offset_word` holds the string's offset from
//! the start of `data`; there a word holds its length in bytes, and the
//! bytes follow. THORChain's router logs carry their memos so
//! (`topics::Kind::memo_word`). Every offset and length is checked against
//! the data, with no arithmetic that can overflow: bad data is an error,
//! never a panic.

/// Bytes in an ABI word.
const WORD: usize = 32;

/// The bytes of the ABI `string` whose offset is in head word `offset_word`
/// of `data`; `None` if the data is too short for the offset word, or the
/// offset or the length points past the end ([`decode_abi_string`] says
/// which). The bytes are not checked to be UTF-8.
pub fn abi_string(data: &[u8], offset_word: usize) -> Option<Vec<u8>> {
    decode_abi_string(data, offset_word).ok()
}

/// [`abi_string`], with what is wrong when the string cannot be read.
pub fn decode_abi_string(data: &[u8], offset_word: usize) -> Result<Vec<u8>, String> {
    let len = data.len();
    let at = offset_word.checked_mul(WORD).ok_or_else(|| format!("word {offset_word} is past any data"))?;
    let offset = word(data, at).ok_or_else(|| {
        format!("{len} bytes of data hold no word {offset_word} (the string's offset): {} bytes needed", at.saturating_add(WORD))
    })?;
    let offset = offset.ok_or_else(|| format!("the string's offset (word {offset_word}) is larger than any data"))?;
    let length = word(data, offset)
        .ok_or_else(|| format!("the string's offset {offset} leaves no room for its length word in {len} bytes of data"))?
        .ok_or_else(|| format!("the string's length (at offset {offset}) is larger than any data"))?;
    let start = offset + WORD;
    let end = start
        .checked_add(length)
        .filter(|&e| e <= len)
        .ok_or_else(|| format!("the string's length {length} (at offset {offset}) runs past the end of {len} bytes of data"))?;
    Ok(data[start..end].to_vec())
}

/// `s` ABI-encoded as the string whose offset is in head word
/// `offset_word`: the words before it zero, the offset, the length, the
/// bytes padded to a whole word (what [`abi_string`] reads back). For data
/// written from what a store keeps, which is the memo alone.
pub fn encode_abi_string(offset_word: usize, s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; offset_word * WORD];
    put_word(&mut out, (offset_word + 1) * WORD);
    out.extend(abi_tail(s));
    out
}

/// The tail of an ABI `string` or `bytes`: its length word, then its bytes
/// padded to a whole word (the head words and the offset are the caller's).
pub fn abi_tail(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(WORD + s.len().div_ceil(WORD) * WORD);
    put_word(&mut out, s.len());
    out.extend_from_slice(s);
    out.resize(out.len().div_ceil(WORD) * WORD, 0);
    out
}

fn put_word(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&[0; WORD - 8]);
    out.extend_from_slice(&(v as u64).to_be_bytes());
}

/// The big-endian word at byte `at` of `data` as a `usize`: `None` if the
/// word is not all inside `data`, `Some(None)` if its value does not fit a
/// `usize` (no data is that long).
fn word(data: &[u8], at: usize) -> Option<Option<usize>> {
    let w = data.get(at..at.checked_add(WORD)?)?;
    let (high, low) = w.split_at(WORD - 8);
    if high.iter().any(|&b| b != 0) {
        return Some(None);
    }
    Some(usize::try_from(u64::from_be_bytes(low.try_into().expect("8 bytes"))).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word holding `v`.
    fn w(v: u64) -> Vec<u8> {
        let mut out = vec![0u8; 24];
        out.extend_from_slice(&v.to_be_bytes());
        out
    }

    /// `(uint256 amount, string s)` as Solidity encodes it.
    fn deposit(amount: u64, s: &[u8]) -> Vec<u8> {
        let mut d = [w(amount), w(64), w(s.len() as u64)].concat();
        d.extend_from_slice(s);
        d.resize(d.len().div_ceil(32) * 32, 0);
        d
    }

    #[test]
    fn reads_a_string_after_the_head() {
        let memo = b"=:BTC.BTC:bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh";
        assert_eq!(abi_string(&deposit(10, memo), 1).as_deref(), Some(&memo[..]));
        assert_eq!(abi_string(&deposit(10, b""), 1).as_deref(), Some(&b""[..]));
        // `(address asset, uint256 amount, string memo)`: the offset in word 2.
        let mut d = [w(0), w(5), w(96), w(4)].concat();
        d.extend_from_slice(b"OUT:");
        assert_eq!(abi_string(&d, 2).as_deref(), Some(&b"OUT:"[..]));
        // What `encode_abi_string` writes reads back.
        for (word, s) in [(1, &memo[..]), (2, b"OUT:"), (0, b"")] {
            let e = encode_abi_string(word, s);
            assert_eq!(e.len() % 32, 0);
            assert_eq!(abi_string(&e, word).as_deref(), Some(s));
        }
        assert_eq!(encode_abi_string(1, memo), [w(0), deposit(0, memo)[32..].to_vec()].concat());
    }

    #[test]
    fn refuses_what_points_past_the_data() {
        let good = deposit(10, b"SWAP:ETH.ETH:0xabc");
        // Too short for the offset word, the length word, or the bytes.
        for cut in [0, 40, 64, 80, good.len() - 15] {
            assert_eq!(abi_string(&good[..cut], 1), None, "cut at {cut}");
        }
        assert!(decode_abi_string(&good[..80], 1).unwrap_err().contains("length word"));
        assert!(decode_abi_string(&[0; 10], 1).unwrap_err().contains("word 1"));
        // A length past the end, and one that would overflow.
        let long = [w(0), w(64), w(1000)].concat();
        assert!(decode_abi_string(&long, 1).unwrap_err().contains("runs past the end"));
        let huge = [w(0), w(64), w(u64::MAX)].concat();
        assert_eq!(abi_string(&huge, 1), None);
        // Offsets at the edge of usize, or wider than 64 bits.
        assert_eq!(abi_string(&[w(0), w(u64::MAX)].concat(), 1), None);
        let mut wide = [w(0), w(64), w(0)].concat();
        wide[32] = 1;
        assert!(decode_abi_string(&wide, 1).unwrap_err().contains("larger than any data"));
        assert_eq!(abi_string(&good, usize::MAX), None);
        assert_eq!(abi_string(&good, usize::MAX / 32), None);
    }

    /// Random bytes and random edits of good data: never a panic, and a
    /// string read is always inside the data.
    #[test]
    fn never_panics_on_random_data() {
        let mut next = crate::model::testing::xorshift(0x7407_c4a1);
        for _ in 0..20_000 {
            let r = next();
            let mut d = deposit(r % 1000, &vec![b'x'; (r >> 10) as usize % 80]);
            match r % 4 {
                0 => d.truncate((r >> 20) as usize % (d.len() + 1)),
                1 => {
                    let i = (r >> 20) as usize % d.len();
                    d[i] = (r >> 40) as u8;
                }
                2 => d = (0..(r >> 20) % 200).map(|_| next() as u8).collect(),
                _ => {}
            }
            if let Some(s) = abi_string(&d, (r >> 50) as usize % 4) {
                assert!(s.len() <= d.len());
            }
        }
    }
}
