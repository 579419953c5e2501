//! `chaintrace stats`: what a store holds.

use crate::model::amount::{WideSum, add_wide};
use crate::model::{NO_BLOCK, NO_TIME, NO_TX, Pseudo, flags};
use crate::store::Store;
use rayon::prelude::*;
use serde::Serialize;

/// Per-asset figures.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AssetStats {
    /// `ETH`, `BTC` or a token contract.
    pub asset: String,
    /// Events, zero-value and failed ones included.
    pub events: u64,
    /// Exact sum of values that move (failed excluded, fees excluded), base units.
    pub value: String,
}

/// The `stats --format json` object of INTERFACE.md, plus a few extra fields.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Events stored.
    pub events: u64,
    /// Distinct real addresses in events.
    pub addresses: u64,
    /// Distinct transaction hashes plus one per hashless event.
    pub transactions: u64,
    /// Lowest block.
    pub first_block: Option<u64>,
    /// Highest block.
    pub last_block: Option<u64>,
    /// Earliest block time.
    pub first_time: Option<String>,
    /// Latest block time.
    pub last_time: Option<String>,
    /// Per asset, native first then by contract.
    pub assets: Vec<AssetStats>,
    /// Whether every transaction's fee is modelled.
    pub fees_known: bool,
    /// Rows skipped as bad, all ingests.
    pub skipped_rows: u64,
    /// Label rows imported.
    pub labels: u64,
    /// `ethereum` or `bitcoin`.
    pub chain: String,
    /// Events of failed transactions or errored traces.
    pub failed_events: u64,
    /// Transactions whose fee is modelled / not.
    pub fee_transactions: [u64; 2],
    /// Bitcoin inputs stored.
    pub inputs: u64,
    /// Files loaded.
    pub files: u64,
}

#[derive(Clone)]
struct Acc {
    first_block: u64,
    last_block: u64,
    first_time: i64,
    last_time: i64,
    hashless: u64,
    failed: u64,
    per_asset: Vec<(u64, WideSum)>,
}

/// Compute the statistics of a store.
pub fn compute(s: &Store) -> Stats {
    let ev = s.events();
    let n = s.len();
    let nassets = s.manifest.assets.len();
    let empty = Acc {
        first_block: u64::MAX,
        last_block: 0,
        first_time: i64::MAX,
        last_time: i64::MIN,
        hashless: 0,
        failed: 0,
        per_asset: vec![(0, WideSum::ZERO); nassets],
    };
    let chunk = 1 << 16;
    let mut acc = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut a = empty.clone();
            for i in c * chunk..((c + 1) * chunk).min(n) {
                if ev.tx(i) == NO_TX {
                    a.hashless += 1;
                }
                let f = ev.flags(i);
                if f & flags::FAILED != 0 {
                    a.failed += 1;
                }
                let slot = &mut a.per_asset[ev.asset(i) as usize];
                slot.0 += 1;
                if f & (flags::MOVES_NOTHING | flags::FEE) == 0 {
                    if ev.value.get(i) == u128::MAX {
                        add_wide(&mut slot.1, s.value(i));
                    } else {
                        slot.1 += WideSum::from(ev.value.get(i));
                    }
                }
            }
            a
        })
        .reduce(
            || empty.clone(),
            |mut x, y| {
                x.first_block = x.first_block.min(y.first_block);
                x.last_block = x.last_block.max(y.last_block);
                x.first_time = x.first_time.min(y.first_time);
                x.last_time = x.last_time.max(y.last_time);
                x.hashless += y.hashless;
                x.failed += y.failed;
                for (a, b) in x.per_asset.iter_mut().zip(y.per_asset) {
                    a.0 += b.0;
                    a.1 += b.1;
                }
                x
            },
        );
    // Runs hold every event's block and time: their extremes are the events'.
    for r in ev.runs {
        if r.block != NO_BLOCK {
            acc.first_block = acc.first_block.min(r.block);
            acc.last_block = acc.last_block.max(r.block);
        }
        if r.time != NO_TIME {
            acc.first_time = acc.first_time.min(r.time);
            acc.last_time = acc.last_time.max(r.time);
        }
    }
    // Distinct addresses and transactions actually used by events.
    let mut used = vec![false; s.address_count()];
    let mut used_tx = vec![false; s.manifest.tx_table as usize];
    let mut parties = ev.party_cursor();
    for i in 0..n {
        let (f, t) = parties.at(i);
        used[f as usize] = true;
        used[t as usize] = true;
        if ev.tx(i) != NO_TX {
            used_tx[ev.tx(i) as usize] = true;
        }
    }
    let addresses = used.iter().skip(Pseudo::ALL.len()).filter(|&&u| u).count() as u64;
    let txs = used_tx.iter().filter(|&&u| u).count() as u64;
    let fees = s.manifest.fees;
    Stats {
        events: n as u64,
        addresses,
        transactions: txs + acc.hashless,
        first_block: (acc.first_block != u64::MAX).then_some(acc.first_block),
        last_block: (acc.first_block != u64::MAX).then_some(acc.last_block),
        first_time: (acc.first_time != i64::MAX).then(|| crate::model::time::format_time(acc.first_time)),
        last_time: (acc.first_time != i64::MAX).then(|| crate::model::time::format_time(acc.last_time)),
        assets: s
            .manifest
            .assets
            .iter()
            .zip(&acc.per_asset)
            .filter(|(_, (count, _))| *count > 0)
            .map(|(name, (count, sum))| AssetStats { asset: name.clone(), events: *count, value: sum.to_string() })
            .collect(),
        fees_known: fees.known_txs > 0 && fees.unknown_txs == 0,
        skipped_rows: s.manifest.skipped_rows,
        labels: s.manifest.labels,
        chain: s.manifest.chain.to_string(),
        failed_events: acc.failed,
        fee_transactions: [fees.known_txs, fees.unknown_txs],
        inputs: s.manifest.inputs,
        files: s.manifest.files.len() as u64,
    }
}

/// A plain-text table for people.
pub fn table(st: &Stats) -> String {
    let mut o = String::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let optn = |v: Option<u64>| v.map_or("-".to_string(), |x| x.to_string());
    o += &format!("chain          {}\n", st.chain);
    o += &format!("events         {}\n", st.events);
    o += &format!("addresses      {}\n", st.addresses);
    o += &format!("transactions   {}\n", st.transactions);
    o += &format!("blocks         {} .. {}\n", optn(st.first_block), optn(st.last_block));
    o += &format!("time           {} .. {}\n", opt(&st.first_time), opt(&st.last_time));
    o += &format!(
        "fees           {} ({} transactions with fee, {} without)\n",
        if st.fees_known { "known" } else { "not modelled" },
        st.fee_transactions[0],
        st.fee_transactions[1]
    );
    o += &format!("failed events  {}\n", st.failed_events);
    o += &format!("skipped rows   {}\n", st.skipped_rows);
    o += &format!("labels         {}\n", st.labels);
    o += &format!("files loaded   {}\n", st.files);
    o += "\nasset                                        events  value (base units)\n";
    for a in &st.assets {
        o += &format!("{:<42} {:>8}  {}\n", a.asset, a.events, a.value);
    }
    o
}
