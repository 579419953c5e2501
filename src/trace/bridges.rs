//! Bridge conversions across stores (TRACING.md §7, `docs/bridges.md`):
//! a deposit on one chain matched to its payout on another by the
//! bridge's own key. THORChain is the matcher built: a router `Deposit`
//! log on an account-model chain whose memo asks for a swap
//! (`=:BTC.BTC:bc1q...`) is settled by the transaction whose memo is
//! `OUT:<inbound hash>` (a router `TransferOut` log on an EVM chain, an
//! `OP_RETURN` output on Bitcoin), or refunded by `REFUND:<inbound hash>`.
//!
//! Every store is one chain; `stores[k]` is named by its index `k` here.

use crate::convert::detect::{Leg, net_changes, with_weth_as_eth};
use crate::convert::memo::{self, Memo};
use crate::convert::topics::{Kind, WETH};
use crate::model::{Chain, NO_TIME, flags, sub};
use crate::store::Store;
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap};

/// What became of a deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Matched to exactly one payout, later than the deposit, paying its destination: followed.
    Followable,
    /// No payout in the data (its chain not loaded, or not yet paid): the bridge holds the taint.
    NoPayout,
    /// Several payouts name this deposit: none is followed (never a double count).
    SeveralPayouts,
    /// The payout is not later than the deposit in the merged order: not followed.
    PayoutFirst,
    /// The payout pays nothing to the destination the deposit names: not followed.
    NoPayee,
    /// The memo is not a swap THORChain can pay out (a malformed memo, or an
    /// action such as adding liquidity): the bridge holds the taint.
    NotASwap,
}

impl Status {
    /// The name reports give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Followable => "followable",
            Status::NoPayout => "no-payout",
            Status::SeveralPayouts => "several-payouts",
            Status::PayoutFirst => "payout-first",
            Status::NoPayee => "no-payee",
            Status::NotASwap => "not-a-swap",
        }
    }
}

/// The payout side of a bridge conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    /// The store it is in.
    pub store: usize,
    /// Transaction id there.
    pub tx: u32,
    /// Its events, in key order.
    pub events: Vec<usize>,
    /// Payee `r` (the memo's destination; the payer for a refund).
    pub payee: u32,
    /// Asset `B` as stored.
    pub asset: u32,
    /// `b`.
    pub value: U256,
    /// Where the inflow is keyed: the payee's last leg in `B` (account
    /// model) or the output paying it (Bitcoin).
    pub event: usize,
}

/// A bridge deposit and what matched it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bridged {
    /// The bridge: `thorchain`.
    pub bridge: &'static str,
    /// The store of the deposit.
    pub store: usize,
    /// Its transaction id.
    pub tx: u32,
    /// Its events, in key order.
    pub events: Vec<usize>,
    /// Payer `u`: the one address whose balance the deposit lowered.
    pub payer: u32,
    /// Asset `A` as stored (WETH read as ETH).
    pub asset: u32,
    /// `a`.
    pub value: U256,
    /// Where the bridge's side received most of `a`: the holder of the
    /// taint when nothing pays it out.
    pub holder: u32,
    /// The deposit's memo, as text.
    pub memo: String,
    /// The payout, when one was found (also when it is not followed).
    pub payout: Option<Payout>,
    /// Followed or why not.
    pub status: Status,
}

/// A stored log or memo's transaction, per store: its events and legs.
struct TxLegs {
    events: Vec<usize>,
    legs: Vec<Leg>,
    failed: bool,
}

fn tx_legs(s: &Store, txs: &[u32]) -> HashMap<u32, TxLegs> {
    let mut want = super::conversions::TxBits::default();
    for &t in txs {
        want.set(t);
    }
    let weth_name = format!("0x{}", hex::encode(WETH));
    let weth_asset = s.manifest.assets.iter().position(|a| *a == weth_name).map(|k| k as u32);
    let weth_contract = s.find_address(&weth_name);
    let mut out: HashMap<u32, TxLegs> = HashMap::new();
    let ev = s.events();
    for i in 0..s.len() {
        let t = ev.tx(i);
        if !want.has(t) {
            continue;
        }
        let f = ev.flags(i);
        let e = out.entry(t).or_insert_with(|| TxLegs { events: Vec::new(), legs: Vec::new(), failed: false });
        e.failed |= f & flags::FAILED != 0;
        e.events.push(i);
        if f & (flags::MOVES_NOTHING | flags::FEE) != 0 || sub::class(ev.sub(i)) == sub::FEE {
            continue;
        }
        e.legs.push(Leg { from: ev.sender(i), to: ev.receiver(i), asset: ev.asset(i), value: s.value(i) });
    }
    for e in out.values_mut() {
        e.legs = with_weth_as_eth(&e.legs, 0, weth_asset, weth_contract);
    }
    out
}

/// A position in the order of several chains' events (§7): block time
/// (never earlier than an earlier block's, so each chain keeps its own
/// order where block times step back, as Bitcoin's may), then chain name,
/// then the store's own order.
pub type Position = (i64, &'static str, usize);

/// Block time made monotone per store, at the given event indices (sorted).
pub fn positions(s: &Store, at: &[usize]) -> Vec<Position> {
    let ev = s.events();
    let name = s.manifest.chain.name();
    let mut out = Vec::with_capacity(at.len());
    let (mut i, mut max) = (0usize, i64::MIN);
    for &k in at {
        while i <= k && i < s.len() {
            let t = ev.time(i);
            if t != NO_TIME {
                max = max.max(t);
            }
            i += 1;
        }
        out.push((max, name, k));
    }
    out
}

/// The inbound hash a payout memo names, as THORChain writes it: the
/// deposit transaction's hash in hex without `0x` (any case).
fn inbound_key(s: &Store, tx: u32) -> Vec<u8> {
    s.tx_hash(tx).to_vec()
}

/// Every THORChain deposit in `stores` and its payout, in (store, block, tx) order.
pub fn match_thorchain(stores: &[&Store]) -> Vec<Bridged> {
    // Payouts by inbound hash: (store, tx, refund).
    let mut payouts: HashMap<[u8; 32], Vec<(usize, u32, bool)>> = HashMap::new();
    // Deposits per store: (tx, memo).
    let mut deposits: Vec<Vec<(u32, String)>> = vec![Vec::new(); stores.len()];
    for (k, s) in stores.iter().enumerate() {
        let account = s.manifest.chain.is_account();
        let kinds: BTreeMap<(u32, u32), Kind> = s.logs().iter().filter_map(|r| Some(((r.tx, r.index), Kind::from_code(r.kind)?))).collect();
        for m in s.memos() {
            let kind = if account { kinds.get(&(m.tx, m.vout)).copied() } else { None };
            if account && kind == Some(Kind::ThorDeposit) {
                deposits[k].push((m.tx, String::from_utf8_lossy(&m.data).into_owned()));
                continue;
            }
            if account && kind != Some(Kind::ThorTransferOut) {
                continue;
            }
            match memo::parse(&m.data) {
                Ok(Memo::Out(h)) => payouts.entry(h).or_default().push((k, m.tx, false)),
                Ok(Memo::Refund(h)) => payouts.entry(h).or_default().push((k, m.tx, true)),
                _ => {}
            }
        }
    }
    for v in payouts.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    let mut out = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        if deposits[k].is_empty() {
            continue;
        }
        deposits[k].sort();
        deposits[k].dedup_by_key(|d| d.0);
        let txs: Vec<u32> = deposits[k].iter().map(|d| d.0).collect();
        let legs = tx_legs(s, &txs);
        for (tx, text) in &deposits[k] {
            let Some(l) = legs.get(tx).filter(|l| !l.failed) else { continue };
            let Some(changes) = net_changes(&l.legs) else { continue };
            let down: Vec<_> = changes.iter().filter(|c| !c.up).collect();
            let [d] = down[..] else { continue };
            let holder = changes
                .iter()
                .filter(|c| c.up && c.asset == d.asset)
                .max_by(|a, b| a.amount.0.cmp(&b.amount.0).then(b.address.cmp(&a.address)))
                .map_or(d.address, |c| c.address);
            let mut b = Bridged {
                bridge: "thorchain",
                store: k,
                tx: *tx,
                events: l.events.clone(),
                payer: d.address,
                asset: d.asset,
                value: d.amount.0,
                holder,
                memo: text.clone(),
                payout: None,
                status: Status::NoPayout,
            };
            let destination = match memo::parse(text.as_bytes()) {
                Ok(Memo::Swap { destination, .. }) => destination,
                _ => {
                    b.status = Status::NotASwap;
                    out.push(b);
                    continue;
                }
            };
            let key: Option<[u8; 32]> = inbound_key(s, *tx).try_into().ok();
            let found = key.and_then(|h| payouts.get(&h)).cloned().unwrap_or_default();
            match found[..] {
                [] => {}
                [(j, ptx, refund)] => {
                    b.status = Status::NoPayee;
                    b.payout = payout(stores, j, ptx, if refund { None } else { Some(&destination) }, (k, d.address));
                    if let Some(p) = &b.payout {
                        b.status = Status::Followable;
                        let dep = positions(s, &[l.events[0]])[0];
                        let pay = positions(stores[p.store], &[p.events[0]])[0];
                        if (pay.0, pay.1, p.store, pay.2) <= (dep.0, dep.1, k, dep.2) || (p.store == k && p.events[0] <= l.events[0]) {
                            b.status = Status::PayoutFirst;
                        }
                    }
                }
                _ => b.status = Status::SeveralPayouts,
            }
            out.push(b);
        }
    }
    out
}

/// The payout transaction `tx` of store `j` as paying `destination` (the
/// deposit's payer `(store, id)` for a refund): `None` if it pays nothing there.
fn payout(stores: &[&Store], j: usize, tx: u32, destination: Option<&str>, refund_to: (usize, u32)) -> Option<Payout> {
    let s = stores[j];
    let payee = match destination {
        Some(d) => s.find_address(d)?,
        None if refund_to.0 == j => refund_to.1,
        None => return None,
    };
    let l = tx_legs(s, &[tx]).remove(&tx)?;
    if l.failed {
        return None;
    }
    if s.manifest.chain == Chain::Bitcoin {
        let ev = s.events();
        let i =
            *l.events.iter().find(|&&i| sub::class(ev.sub(i)) == sub::TOP && ev.receiver(i) == payee && ev.flags(i) & flags::FEE == 0)?;
        return Some(Payout { store: j, tx, events: l.events, payee, asset: ev.asset(i), value: s.value(i).0, event: i });
    }
    let up: Vec<_> = net_changes(&l.legs)?.into_iter().filter(|c| c.up && c.address == payee).collect();
    let [c] = up[..] else { return None };
    let ev = s.events();
    let event = *l.events.iter().rev().find(|&&i| ev.receiver(i) == payee && ev.flags(i) & flags::MOVES_NOTHING == 0)?;
    Some(Payout { store: j, tx, events: l.events, payee, asset: c.asset, value: c.amount.0, event })
}
