//! Memos that tie a bridge's deposit to its payout (TRACING.md §7,
//! issue 16): the data a Bitcoin output script carries after `OP_RETURN`,
//! and THORChain's memo grammar read from it.
//!
//! THORChain writes its intent and its payouts in memos: an inbound swap
//! names its target (`SWAP:BTC.BTC:bc1q...` or the short `=:`/`s:`), and
//! the vault's payout names the inbound it settles (`OUT:<hash>`, or
//! `REFUND:<hash>` when it pays back). The grammar is THORNode's
//! (`x/thorchain/memo`: a memo is fields split by `:`, the first its type,
//! matched without case: `swap`, `s`, `=`; `out`; `refund`); the real
//! Bitcoin block 702,861 in `datasets/` carries two `OUT:` payouts, read
//! by the tests below.

/// The bytes an output script pushes after `OP_RETURN` (`0x6a`), joined
/// (a memo is one push in practice; a script of several pushes is read as
/// their concatenation). `None` for any other script, or a push that
/// claims more bytes than the script holds.
pub fn op_return_data(script: &[u8]) -> Option<Vec<u8>> {
    let (&first, mut rest) = script.split_first()?;
    if first != 0x6a {
        return None;
    }
    let mut out = Vec::new();
    while let Some((&op, tail)) = rest.split_first() {
        let (len, tail) = match op {
            // OP_0 pushes nothing; 0x01-0x4b push that many bytes.
            0x00 => (0, tail),
            0x01..=0x4b => (op as usize, tail),
            0x4c => (*tail.first()? as usize, &tail[1..]),
            0x4d => (u16::from_le_bytes(tail.get(..2)?.try_into().ok()?) as usize, &tail[2..]),
            0x4e => (u32::from_le_bytes(tail.get(..4)?.try_into().ok()?) as usize, &tail[4..]),
            // Not a push: a memo holds only data.
            _ => return None,
        };
        out.extend_from_slice(tail.get(..len)?);
        rest = &tail[len..];
    }
    Some(out)
}

/// A THORChain memo, as far as following funds needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Memo {
    /// An inbound swap: the asset it asks for (`BTC.BTC`) and where to pay it.
    Swap {
        /// Target asset in THORChain's notation (`CHAIN.SYMBOL[-CONTRACT]`).
        asset: String,
        /// Destination address on the target chain (a refund address after
        /// `/` is dropped).
        destination: String,
    },
    /// A payout settling the inbound transaction with this hash.
    Out([u8; 32]),
    /// A refund of the inbound transaction with this hash.
    Refund([u8; 32]),
    /// Any other THORChain action (liquidity, bonds, ...): no payout to follow.
    Other,
}

/// Why a memo cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoError {
    /// Not text.
    #[error("memo is not UTF-8 text")]
    NotText,
    /// A payout or refund whose inbound hash is not 64 hex digits.
    #[error("{kind} memo {memo:?}: the inbound transaction hash is not 64 hex digits")]
    BadHash {
        /// `OUT` or `REFUND`.
        kind: &'static str,
        /// The memo as read.
        memo: String,
    },
    /// A swap without its target asset or destination.
    #[error("swap memo {0:?}: needs a target asset and a destination (`=:ASSET:ADDRESS`)")]
    BadSwap(String),
}

/// Read a THORChain memo.
pub fn parse(bytes: &[u8]) -> Result<Memo, MemoError> {
    let text = std::str::from_utf8(bytes).map_err(|_| MemoError::NotText)?.trim();
    let mut fields = text.split(':');
    let kind = fields.next().unwrap_or_default().to_ascii_lowercase();
    let hash = |kind: &'static str, field: Option<&str>| {
        let h = field.unwrap_or_default().trim();
        let h = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X")).unwrap_or(h);
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map(|()| out).map_err(|_| MemoError::BadHash { kind, memo: text.to_string() })
    };
    match kind.as_str() {
        "out" => hash("OUT", fields.next()).map(Memo::Out),
        "refund" => hash("REFUND", fields.next()).map(Memo::Refund),
        "swap" | "s" | "=" => {
            let asset = fields.next().unwrap_or_default().trim();
            let destination = fields.next().unwrap_or_default().split('/').next().unwrap_or_default().trim();
            if asset.is_empty() || destination.is_empty() {
                return Err(MemoError::BadSwap(text.to_string()));
            }
            Ok(Memo::Swap { asset: asset.to_string(), destination: destination.to_string() })
        }
        _ => Ok(Memo::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_read_and_bad_ones_refused() {
        assert_eq!(op_return_data(&[0x6a, 0x03, b'a', b'b', b'c']), Some(b"abc".to_vec()));
        assert_eq!(op_return_data(&[0x6a, 0x4c, 0x02, b'h', b'i', 0x01, b'!']), Some(b"hi!".to_vec()));
        assert_eq!(op_return_data(&[0x6a]), Some(Vec::new()));
        assert_eq!(op_return_data(&[0x6a, 0x05, b'a']), None, "a push longer than the script");
        assert_eq!(op_return_data(&[0x6a, 0x4d, 0x01]), None, "a cut length");
        assert_eq!(op_return_data(&[0x76, 0xa9]), None, "not OP_RETURN");
        assert_eq!(op_return_data(&[0x6a, 0xac]), None, "an opcode, not data");
    }

    #[test]
    fn memos_of_each_kind() {
        let h = "BD292BDD60707F967D0088417495E5BDC38B9FABAB5CE1809296BC39E325DA23";
        let mut want = [0u8; 32];
        hex::decode_to_slice(h, &mut want).unwrap();
        assert_eq!(parse(format!("OUT:{h}").as_bytes()), Ok(Memo::Out(want)));
        assert_eq!(parse(format!("refund:0x{}", h.to_lowercase()).as_bytes()), Ok(Memo::Refund(want)));
        assert_eq!(
            parse(b"=:BTC.BTC:bc1q6527vxxqjpq80la2l0sw7hay3lj6dz07zs6gzl/0x7a093cebfa77403672d68e1c22d0681400a36682:0/3/0"),
            Ok(Memo::Swap { asset: "BTC.BTC".into(), destination: "bc1q6527vxxqjpq80la2l0sw7hay3lj6dz07zs6gzl".into() })
        );
        assert_eq!(
            parse(b"SWAP:ETH.ETH:0x7a093cebfa77403672d68e1c22d0681400a36682"),
            Ok(Memo::Swap { asset: "ETH.ETH".into(), destination: "0x7a093cebfa77403672d68e1c22d0681400a36682".into() })
        );
        assert_eq!(parse(b"+:BTC.BTC:thor1x"), Ok(Memo::Other));
        assert!(matches!(parse(b"OUT:BD292BDD"), Err(MemoError::BadHash { kind: "OUT", .. })));
        assert!(matches!(parse(b"=:BTC.BTC"), Err(MemoError::BadSwap(_))));
        assert_eq!(parse(&[0xff, 0xfe]), Err(MemoError::NotText));
    }

    /// The real block 702,861: every OP_RETURN output read; the two THORChain
    /// payouts found with their inbound hashes, nothing else read as one.
    #[test]
    fn the_real_block_carries_two_thorchain_payouts() {
        let csv =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/bitcoin-mainnet-block-702861/outputs.csv")).unwrap();
        let (mut op_returns, mut payouts) = (0, Vec::new());
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let script = hex::decode(f[5]).unwrap();
            let Some(data) = op_return_data(&script) else {
                assert_ne!(f[3], "nulldata", "{line}");
                continue;
            };
            assert_eq!(f[3], "nulldata", "{line}");
            op_returns += 1;
            if let Ok(Memo::Out(h)) = parse(&data) {
                payouts.push((f[0].to_string(), hex::encode_upper(h)));
            }
        }
        assert_eq!(op_returns, 23);
        assert_eq!(
            payouts,
            [
                (
                    "35991d6e10424a637cb93f661b66df895a692ce91ae9aca2896ceba8af5be089".into(),
                    "BD292BDD60707F967D0088417495E5BDC38B9FABAB5CE1809296BC39E325DA23".into()
                ),
                (
                    "10bed6fdffe95104d7ee6ea1d3bb257a410ae3d36e00faa38beb868be5e4eee4".into(),
                    "B7CECDE56CE45114C3C3A46705AAA6313AF9179654BA7A02D80104E91FDE88FE".into()
                ),
            ]
        );
    }
}
