//! A synthetic Bitcoin chain whose owners are known, for clustering
//! benchmarks and for tests that score the clustering against the truth.
//!
//! Wallets hold outputs on addresses of their own. Each step either spends
//! one wallet's outputs (one input most often, a few for a larger payment,
//! tens for a consolidation; a payment to another wallet's fresh address and
//! change to a fresh address of its own, sometimes an address it used before),
//! or runs a CoinJoin round: five wallets put in one output each and get back
//! one output of a common denomination and their change (Whirlpool's and
//! Wasabi's shape). A few wallets (exchanges) are picked far more often than
//! the rest, so cluster sizes are heavy-tailed as on the real chain.

use super::Rng;
use crate::model::amount::Amount;
use crate::model::ids::{AddrId, AssetId, TxId};
use crate::model::{Addr, Chain, Pseudo, flags, sub};
use crate::store::builder::{Builder, InputRow};

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Stop once this many inputs are made.
    pub inputs: u64,
    /// Wallets (owners).
    pub wallets: u32,
    /// Per mille of steps that are CoinJoin rounds.
    pub coinjoin_per_mille: u64,
    /// Random seed.
    pub seed: u64,
}

impl Params {
    /// Defaults for a target number of inputs: one wallet per 25 inputs.
    pub fn for_inputs(inputs: u64, seed: u64) -> Self {
        Params { inputs, wallets: (inputs / 25).clamp(20, u64::from(u32::MAX / 2)) as u32, coinjoin_per_mille: 20, seed }
    }
}

/// The generated chain's truth. Each address's owner is in its text
/// (see [`owner`]).
#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// Transactions made.
    pub transactions: u64,
    /// Inputs made.
    pub inputs: u64,
    /// CoinJoin rounds made, by transaction hash (hex).
    pub coinjoins: std::collections::HashSet<String>,
}

struct Utxo {
    tx: u32,
    vout: u32,
    addr: u32,
    value: u64,
}

/// Fill a builder with the chain; returns the truth. Address texts are
/// `w<wallet>a<n>`.
pub fn generate(p: Params) -> (Builder, Truth) {
    let mut rng = Rng::new(p.seed);
    let mut b = Builder::new(Chain::Bitcoin);
    let mut truth = Truth::default();
    let w_n = p.wallets.max(6) as usize;
    let mut utxos: Vec<Vec<Utxo>> = (0..w_n).map(|_| Vec::new()).collect();
    let mut used: Vec<Vec<u32>> = (0..w_n).map(|_| Vec::new()).collect();
    let mut next_addr = vec![0u64; w_n];
    let fresh = |b: &mut Builder, w: usize, next_addr: &mut Vec<u64>, used: &mut Vec<Vec<u32>>| -> u32 {
        let id = b.intern_addr(&Addr::Text(format!("w{w}a{}", next_addr[w]).into())).get();
        next_addr[w] += 1;
        used[w].push(id);
        id
    };
    let mut txn: u64 = 0;
    let per_block = 2_000u64;
    let new_tx = |b: &mut Builder, txn: &mut u64| -> (u32, u64, i64, u32) {
        *txn += 1;
        let id = b.intern_tx(&tx_hash(*txn)).get();
        let block = 700_000 + *txn / per_block;
        (id, block, 1_630_000_000 + (block as i64 - 700_000) * 600, (*txn % per_block) as u32 + 1)
    };
    let output = |b: &mut Builder, t: (u32, u64, i64, u32), vout: u32, from: u32, to: u32, value: u64, fl: u8| {
        b.push(
            t.1,
            t.2,
            t.3,
            sub::TOP | vout,
            AddrId::from_stored(from),
            AddrId::from_stored(to),
            AssetId::from_stored(0),
            Amount::from_u128(u128::from(value)),
            TxId::from_stored(t.0),
            fl,
        );
    };
    // Coinbase outputs bring new coins: every wallet starts with one, a
    // wallet that has spent everything gets one, and one step in twenty
    // mints a block reward; otherwise fees and splitting would drain the
    // chain to dust.
    let mint = |b: &mut Builder,
                txn: &mut u64,
                w: usize,
                value: u64,
                utxos: &mut Vec<Vec<Utxo>>,
                next_addr: &mut Vec<u64>,
                used: &mut Vec<Vec<u32>>| {
        let t = new_tx(b, txn);
        let a = fresh(b, w, next_addr, used);
        output(b, t, 0, Pseudo::Mint.id(), a, value, flags::MINT);
        utxos[w].push(Utxo { tx: t.0, vout: 0, addr: a, value });
    };
    for w in 0..w_n {
        let value = 10_000_000 + rng.below(5_000_000_000);
        mint(&mut b, &mut txn, w, value, &mut utxos, &mut next_addr, &mut used);
    }
    // Exchanges: the first 1% of wallets take a third of the steps.
    let hot = (w_n / 100).max(1) as u64;
    let pick = |rng: &mut Rng| -> usize { if rng.below(3) == 0 { rng.below(hot) as usize } else { rng.below(w_n as u64) as usize } };
    let fee = 1_000u64;
    while truth.inputs < p.inputs {
        if rng.below(1000) < p.coinjoin_per_mille {
            // A CoinJoin round of five distinct wallets with an output each.
            let denom = [100_000u64, 1_000_000, 5_000_000][rng.below(3) as usize];
            let mut parts: Vec<(usize, Utxo)> = Vec::new();
            for _ in 0..40 {
                if parts.len() == 5 {
                    break;
                }
                let w = rng.below(w_n as u64) as usize;
                if parts.iter().any(|x| x.0 == w) {
                    continue;
                }
                if let Some(k) = utxos[w].iter().position(|u| u.value >= denom + 2 * fee) {
                    parts.push((w, utxos[w].swap_remove(k)));
                }
            }
            if parts.len() < 5 {
                for (w, u) in parts {
                    utxos[w].push(u);
                }
                continue;
            }
            let t = new_tx(&mut b, &mut txn);
            truth.coinjoins.insert(hex::encode(tx_hash(txn)));
            let first = parts[0].1.addr;
            let mut vout = 0;
            for (k, (w, u)) in parts.iter().enumerate() {
                b.inputs.push(InputRow { tx: t.0, index: k as u32, spent_tx: u.tx, spent_vout: u.vout, value: u.value, addr: u.addr });
                let a = fresh(&mut b, *w, &mut next_addr, &mut used);
                output(&mut b, t, vout, first, a, denom, 0);
                utxos[*w].push(Utxo { tx: t.0, vout, addr: a, value: denom });
                vout += 1;
            }
            for (w, u) in &parts {
                let change = u.value - denom - fee;
                let a = fresh(&mut b, *w, &mut next_addr, &mut used);
                output(&mut b, t, vout, first, a, change, 0);
                utxos[*w].push(Utxo { tx: t.0, vout, addr: a, value: change });
                vout += 1;
            }
            truth.inputs += 5;
            truth.transactions += 1;
            continue;
        }
        let w = pick(&mut rng);
        if utxos[w].is_empty() || rng.below(20) == 0 {
            mint(&mut b, &mut txn, w, 625_000_000, &mut utxos, &mut next_addr, &mut used);
            truth.transactions += 1;
            continue;
        }
        // How many inputs: mostly one, sometimes a few, rarely a consolidation.
        let want = match rng.below(100) {
            0..=59 => 1,
            60..=89 => 2 + rng.below(3) as usize,
            _ => 5 + rng.below(40) as usize,
        }
        .min(utxos[w].len());
        let mut ins: Vec<Utxo> = Vec::with_capacity(want);
        for _ in 0..want {
            let k = rng.below(utxos[w].len() as u64) as usize;
            ins.push(utxos[w].swap_remove(k));
        }
        let total: u64 = ins.iter().map(|u| u.value).sum();
        if total <= 3 * fee {
            // Dust: left unspent, as real wallets leave it.
            continue;
        }
        let t = new_tx(&mut b, &mut txn);
        for (k, u) in ins.iter().enumerate() {
            b.inputs.push(InputRow { tx: t.0, index: k as u32, spent_tx: u.tx, spent_vout: u.vout, value: u.value, addr: u.addr });
        }
        let first = ins[0].addr;
        let spend = total - fee;
        let payee = pick(&mut rng);
        let pay = if payee == w { spend } else { 1 + rng.below(spend) };
        let a = fresh(&mut b, payee, &mut next_addr, &mut used);
        output(&mut b, t, 0, first, a, pay, 0);
        utxos[payee].push(Utxo { tx: t.0, vout: 0, addr: a, value: pay });
        if pay < spend {
            // Change: a fresh address, or one used before a fifth of the time.
            let c = if rng.below(5) == 0 && !used[w].is_empty() {
                used[w][rng.below(used[w].len() as u64) as usize]
            } else {
                fresh(&mut b, w, &mut next_addr, &mut used)
            };
            output(&mut b, t, 1, first, c, spend - pay, 0);
            utxos[w].push(Utxo { tx: t.0, vout: 1, addr: c, value: spend - pay });
        }
        truth.inputs += ins.len() as u64;
        truth.transactions += 1;
    }
    truth.transactions += w_n as u64;
    (b, truth)
}

/// The wallet that owns a generated address (`w<wallet>a<n>`).
pub fn owner(address: &str) -> Option<u32> {
    address.strip_prefix('w')?.split('a').next()?.parse().ok()
}

/// The hash of the `n`th transaction: random-looking, as real hashes are
/// (the store's id tables hash a prefix of them).
fn tx_hash(n: u64) -> [u8; 32] {
    let mut rng = Rng::new(n);
    let mut h = [0u8; 32];
    for k in 0..4 {
        h[k * 8..k * 8 + 8].copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    h
}

/// Generate the chain and write it as a store in `dir`.
pub fn write_store(dir: &std::path::Path, p: Params) -> Result<Truth, crate::store::StoreError> {
    let (b, truth) = generate(p);
    b.write(dir)?;
    Ok(truth)
}
