//! Synthetic exports for benchmarks, in the exact blockchain-etl layout.
//!
//! Deliberately simple for now (a later issue makes it realistic): blocks of
//! about 150 transactions, senders and receivers drawn from a pool with a hot
//! set, 60% plain transfers with empty calldata, contract calls with 4 to 516
//! bytes of calldata. Deterministic for a given seed.

use std::io::{self, Write};

pub mod etl;
pub mod multichain;
pub mod utxo;
pub mod world;

/// The blockchain-etl `transactions` header (no receipt columns).
pub const TRANSACTIONS_HEADER: &str = "hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type";

/// splitmix64: small, fast and good enough for test data.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"0x");
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

fn put_u128(out: &mut Vec<u8>, mut v: u128) {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn address(pool_seed: u64, k: u64) -> [u8; 20] {
    let mut r = Rng::new(pool_seed ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut a = [0u8; 20];
    for c in a.chunks_mut(8) {
        let w = r.next_u64().to_le_bytes();
        c.copy_from_slice(&w[..c.len()]);
    }
    a
}

/// Write `rows` transactions in blockchain-etl CSV to `w`; returns bytes written.
pub fn write_transactions(w: &mut impl Write, rows: u64, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let pool = (rows / 8).max(1000);
    let hot = (pool / 100).max(10);
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(TRANSACTIONS_HEADER.as_bytes());
    out.push(b'\n');
    let mut written = 0u64;
    let mut block: u64 = 17_000_000;
    let mut time: u64 = 1_682_000_000;
    let mut in_block = 0u64;
    let mut block_size = 100 + rng.below(100);
    let mut block_hash = [0u8; 32];
    for _ in 0..rows {
        if in_block == block_size {
            block += 1;
            time += 12;
            in_block = 0;
            block_size = 100 + rng.below(100);
            for c in block_hash.chunks_mut(8) {
                c.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
        }
        let mut hash = [0u8; 32];
        for c in hash.chunks_mut(8) {
            c.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let pick = |rng: &mut Rng| if rng.below(4) == 0 { rng.below(hot) } else { rng.below(pool) };
        let from = address(seed, pick(&mut rng));
        let to = address(seed, pick(&mut rng));
        let plain = rng.below(10) < 6;
        let value: u128 = if plain || rng.below(2) == 0 { u128::from(rng.next_u64()) * u128::from(rng.below(1000) + 1) } else { 0 };
        put_hex(&mut out, &hash);
        out.push(b',');
        put_u128(&mut out, u128::from(rng.below(5000)));
        out.push(b',');
        put_hex(&mut out, &block_hash);
        out.push(b',');
        put_u128(&mut out, u128::from(block));
        out.push(b',');
        put_u128(&mut out, u128::from(in_block));
        out.push(b',');
        put_hex(&mut out, &from);
        out.push(b',');
        put_hex(&mut out, &to);
        out.push(b',');
        put_u128(&mut out, value);
        out.push(b',');
        let gas = if plain { 21_000 } else { 50_000 + rng.below(400_000) };
        put_u128(&mut out, u128::from(gas));
        out.push(b',');
        let price = 10_000_000_000 + rng.below(90_000_000_000);
        put_u128(&mut out, u128::from(price));
        out.push(b',');
        if plain {
            out.extend_from_slice(b"0x");
        } else {
            let words = rng.below(9);
            let mut data = vec![0u8; 4 + 32 * words as usize];
            for c in data.chunks_mut(8) {
                let w = rng.next_u64().to_le_bytes();
                c.copy_from_slice(&w[..c.len()]);
            }
            put_hex(&mut out, &data);
        }
        out.push(b',');
        put_u128(&mut out, u128::from(time));
        out.push(b',');
        put_u128(&mut out, u128::from(price + rng.below(1_000_000_000)));
        out.push(b',');
        put_u128(&mut out, u128::from(rng.below(2_000_000_000)));
        out.extend_from_slice(b",2\n");
        in_block += 1;
        if out.len() > (1 << 20) - 2048 {
            w.write_all(&out)?;
            written += out.len() as u64;
            out.clear();
        }
    }
    w.write_all(&out)?;
    written += out.len() as u64;
    w.flush()?;
    Ok(written)
}

/// What [`write_wide`] made.
#[derive(Clone, Debug)]
pub struct Wide {
    /// The seed to trace from: the hottest address of the pool.
    pub seed: String,
    /// Addresses labelled as exchanges.
    pub stops: u64,
}

/// Issue 18's wide set: `transactions.csv` of `rows` random transfers (as
/// [`write_transactions`]) and `labels.csv` naming every `stop_every`-th
/// address of the pool (the hot ones left out, so that taint spreads before
/// it stops) an exchange. Traced from the hottest address, taint reaches
/// most of the pool: tens of thousands of destinations and dormant
/// addresses at 10^6 rows, the case where a report's cost shows.
pub fn write_wide(dir: &std::path::Path, rows: u64, seed: u64, stop_every: u64) -> io::Result<Wide> {
    let f = std::fs::File::create(dir.join("transactions.csv"))?;
    write_transactions(&mut std::io::BufWriter::with_capacity(1 << 20, f), rows, seed)?;
    let pool = (rows / 8).max(1000);
    let hot = (pool / 100).max(10);
    let mut labels = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.csv"))?);
    writeln!(labels, "address,category,label")?;
    let mut stops = 0;
    for k in (hot..pool).filter(|k| k % stop_every.max(1) == 0) {
        writeln!(labels, "0x{},exchange,Exchange {k}", hex::encode(address(seed, k)))?;
        stops += 1;
    }
    labels.flush()?;
    Ok(Wide { seed: format!("0x{}", hex::encode(address(seed, 0))), stops })
}

/// Write a store of `events` random ETH transfers among `events / 8`
/// addresses (a hot 1% takes a quarter of the traffic), one block per 150
/// events, straight through the store builder (no CSV). Returns the
/// addresses of the hottest accounts, for seeds.
pub fn write_store(dir: &std::path::Path, events: u64, seed: u64) -> Result<Vec<String>, crate::store::StoreError> {
    use crate::model::amount::Amount;
    use crate::model::ids::{AddrId, AssetId, TxId};
    use crate::model::{Addr, Chain};
    use crate::store::builder::Builder;
    let mut rng = Rng::new(seed);
    let pool = (events / 8).max(1000);
    let hot = (pool / 100).max(10);
    let mut b = Builder::new(Chain::Ethereum);
    let ids: Vec<AddrId> = (0..pool).map(|k| b.intern_addr(&Addr::Eth(address(seed, k)))).collect();
    b.reserve(events as usize, 0);
    let mut block = 17_000_000u64;
    let mut time = 1_682_000_000i64;
    for i in 0..events {
        if i % 150 == 0 {
            block += 1;
            time += 12;
        }
        let pick = |rng: &mut Rng| ids[(if rng.below(4) == 0 { rng.below(hot) } else { rng.below(pool) }) as usize];
        let (from, to) = (pick(&mut rng), pick(&mut rng));
        let value = u128::from(rng.next_u64() >> 4) * u128::from(rng.below(1000) + 1);
        b.push(
            block,
            time,
            (i % 150) as u32 + 1,
            crate::model::sub::TOP,
            from,
            to,
            AssetId::from_stored(0),
            Amount::from_u128(value),
            TxId::NONE,
            0,
        );
    }
    b.write(dir)?;
    Ok((0..10).map(|k| format!("0x{}", hex::encode(address(seed, k)))).collect())
}

/// What [`write_world_store`] made.
#[derive(Clone, Debug)]
pub struct WorldStore {
    /// Events in the store.
    pub events: u64,
    /// Transactions generated.
    pub transactions: u64,
    /// Addresses in the store.
    pub addresses: u64,
    /// The exploiter's address: the seed of the hack.
    pub exploiter: String,
}

/// Write a store of a generated [`world::World`] straight through the store
/// builder (no CSV), with the world's labels imported.
pub fn write_world_store(dir: &std::path::Path, params: world::Params) -> Result<WorldStore, crate::store::StoreError> {
    use crate::model::amount::Amount;
    use crate::model::ids::{AddrId, AssetId, TxId};
    use crate::model::{Addr, AssetKey, flags, sub};
    use crate::store::builder::Builder;
    use world::{Leg, Who};
    const NATIVE: AssetId = AssetId::from_stored(0);
    const NONE: AddrId = AddrId::UNKNOWN;
    let mut w = world::World::new(params);
    let mut b = Builder::new(crate::model::Chain::Ethereum);
    b.reserve(w.params.events as usize + 8, 0);
    // Dense id tables for the kinds with many members; deposit addresses are
    // sparse (customer x exchange) so they get a map.
    let mut users = vec![NONE; w.params.users as usize];
    let mut fresh: Vec<AddrId> = Vec::new();
    let mut deposits: std::collections::HashMap<(u64, u64), AddrId> = std::collections::HashMap::new();
    let mut others: std::collections::BTreeMap<Who, AddrId> = std::collections::BTreeMap::new();
    let tokens: Vec<AssetId> = (0..world::TOKENS.len() as u16).map(|t| b.intern_asset(AssetKey::Token(w.address(Who::Token(t))))).collect();
    let mut id = |b: &mut Builder, w: &world::World, who: Who| -> AddrId {
        let slot = match who {
            Who::User(k) => &mut users[k as usize],
            Who::Fresh(k) => {
                if fresh.len() <= k as usize {
                    fresh.resize(k as usize + 1, NONE);
                }
                &mut fresh[k as usize]
            }
            Who::Deposit(e, k) => deposits.entry((e, k)).or_insert(NONE),
            _ => others.entry(who).or_insert(NONE),
        };
        if *slot == NONE {
            *slot = b.intern_addr(&Addr::Eth(w.address(who)));
        }
        *slot
    };
    let mut transactions = 0u64;
    while w.advance() {
        let t = w.tx();
        transactions += 1;
        let (from, to) = (id(&mut b, &w, t.from), id(&mut b, &w, t.to));
        let ix = t.index + 1;
        b.push(t.block, t.time, ix, sub::TOP, from, to, NATIVE, Amount::from_u128(t.value), TxId::NONE, 0);
        for (k, &(leg, f, r, v)) in t.legs.iter().enumerate() {
            let (f, r) = (id(&mut b, &w, f), id(&mut b, &w, r));
            let (class, asset) = match leg {
                Leg::Internal => (sub::TRACE, NATIVE),
                Leg::Token(tk) => (sub::LOG, tokens[tk as usize]),
            };
            b.push(t.block, t.time, ix, class | (k as u32 + 1), f, r, asset, Amount::from_u128(v), TxId::NONE, 0);
        }
        b.push(
            t.block,
            t.time,
            ix,
            sub::FEE,
            from,
            crate::model::Pseudo::Fees.addr(),
            NATIVE,
            Amount::from_u128(t.fee()),
            TxId::NONE,
            flags::FEE,
        );
    }
    let labels: Vec<crate::labels::Label> = w
        .labels()
        .into_iter()
        .map(|(who, category, label)| crate::labels::Label {
            address: format!("0x{}", hex::encode(w.address(who))),
            category: category.to_string(),
            // As `labels import labels.csv` would read them.
            entity: crate::labels::entity_name(&label),
            label,
            source: "csv:labels.csv".into(),
            confidence: 100,
            ..Default::default()
        })
        .collect();
    let events = b.len() as u64;
    b.write(dir)?;
    crate::labels::save(dir, &labels)?;
    let addresses = crate::store::Store::open(dir)?.address_count() as u64;
    Ok(WorldStore { events, transactions, addresses, exploiter: format!("0x{}", hex::encode(w.address(Who::Exploiter))) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rows_have_the_etl_shape() {
        let mut v = Vec::new();
        write_transactions(&mut v, 500, 7).unwrap();
        let text = String::from_utf8(v).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(TRANSACTIONS_HEADER));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 500);
        for r in rows {
            let f: Vec<&str> = r.split(',').collect();
            assert_eq!(f.len(), 15);
            assert_eq!(f[0].len(), 66);
            assert_eq!(f[5].len(), 42);
        }
        let mut again = Vec::new();
        write_transactions(&mut again, 500, 7).unwrap();
        assert_eq!(text.as_bytes(), &again[..]);
    }
}
