//! Bridge conversions across stores (TRACING.md §7, `docs/bridges.md`):
//! a deposit on one chain matched to its payout on another by the
//! bridge's own key. Four matchers, each returning [`Bridged`] deposits
//! ([`match_all`] runs them all):
//! - THORChain ([`match_thorchain`]): a router `Deposit` log on an
//!   account-model chain whose memo asks for a swap (`=:BTC.BTC:bc1q...`)
//!   is settled by the transaction whose memo is `OUT:<inbound hash>` (a
//!   router `TransferOut` log on an EVM chain, an `OP_RETURN` output on
//!   Bitcoin), or refunded by `REFUND:<inbound hash>`.
//! - The Avalanche Bridge ([`match_avalanche_bridge`]): a transfer to its
//!   wallet on Ethereum is paid out by the C-chain `BridgeToken` `Mint`
//!   whose `originTxId` is the deposit's hash.
//! - Wormhole's token bridge ([`match_wormhole`]): the core's
//!   `LogMessagePublished` from the token bridge of one chain is redeemed
//!   by the `TransferRedeemed` on another that names its (emitter chain,
//!   emitter, sequence).
//! - Ronin v1 ([`match_ronin`]): a MainchainGateway `TokenDeposited` on
//!   Ethereum; Ronin's side is no chain a store holds, so it is never paid
//!   out here.
//!
//! One heuristic matcher, whose links are `exact: false` with a score and
//! followed only with `--follow bridges-heuristic` ([`match_all`] with
//! `heuristic`):
//! - RenBridge ([`match_renbridge`]): a renBTC burn (`LogBurn` of RenVM's
//!   BTC gateway on Ethereum) is paid out by the first Bitcoin output to
//!   its `_to` address, later than the burn and within a day, of a value a
//!   little below the burn's (RenVM's fees).
//!
//! Every store is one chain; `stores[k]` is named by its index `k` here.

use crate::convert::detect::{Leg, net_changes, with_weth_as_eth};
use crate::convert::memo::{self, Memo};
use crate::convert::topics::{self, Kind, WETH};
use crate::model::{Chain, NO_TIME, NO_TX, flags, sub};
use crate::store::Store;
use crate::store::builder::MemoRow;
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
    /// A heuristic match whose every fitting payout was already taken by an
    /// earlier deposit (an output pays one deposit at most): the bridge
    /// holds the taint.
    Claimed,
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
            Status::Claimed => "claimed",
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
    /// The bridge: `thorchain`, `avalanche-bridge`, `wormhole`, `ronin` or
    /// `renbridge`.
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
    /// The deposit's memo, as text (THORChain), or the bridge's key for it:
    /// Wormhole's `CHAIN/EMITTER/SEQUENCE` (as Wormhole names a message),
    /// Ronin's `deposit ID`; empty for the Avalanche Bridge, whose key is
    /// the deposit's hash; RenBridge's `_to` (a Bitcoin address).
    pub memo: String,
    /// The payout, when one was found (also when it is not followed; not
    /// when several were).
    pub payout: Option<Payout>,
    /// Followed or why not.
    pub status: Status,
    /// Matched by the bridge's own key (`true`), or by a heuristic
    /// (address, amount and time): followed only with `--follow
    /// bridges-heuristic`.
    pub exact: bool,
    /// A heuristic match's score, in parts per million (1,000,000 best; see
    /// [`renbridge_score`]); `None` for exact matches. A label only: it
    /// moves no taint.
    pub score_ppm: Option<u32>,
    /// On Bitcoin: the output paying the bridge (the deposit's `a`).
    pub output: Option<usize>,
}

/// A stored log or memo's transaction, per store: its events and legs.
#[derive(Clone)]
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

/// The legs of candidate payout transactions, read in one scan of each
/// store the first time one of its candidates is asked for (a scan per
/// payout cost 0.8 s of a two-chain trace over 10^7 events a chain).
struct PayoutLegs<'a> {
    stores: &'a [&'a Store],
    candidates: Vec<Vec<u32>>,
    legs: Vec<std::cell::OnceCell<HashMap<u32, TxLegs>>>,
}

impl<'a> PayoutLegs<'a> {
    fn new(stores: &'a [&'a Store], candidates: impl Iterator<Item = (usize, u32)>) -> Self {
        let mut c: Vec<Vec<u32>> = vec![Vec::new(); stores.len()];
        for (j, t) in candidates {
            c[j].push(t);
        }
        PayoutLegs { stores, candidates: c, legs: stores.iter().map(|_| std::cell::OnceCell::new()).collect() }
    }

    fn get(&self, j: usize, tx: u32) -> Option<&TxLegs> {
        self.legs[j].get_or_init(|| tx_legs(self.stores[j], &self.candidates[j])).get(&tx)
    }
}

/// A position in the order of several chains' events (§7): block time
/// (never earlier than an earlier block's, so each chain keeps its own
/// order where block times step back, as Bitcoin's may), then chain name,
/// then the store's own order.
pub type Position = (i64, &'static str, usize);

/// Block time made monotone per store, at the given event indices
/// (sorted): a walk over the store's block runs, not its events.
pub fn positions(s: &Store, at: &[usize]) -> Vec<Position> {
    let runs = s.events().runs;
    let name = s.manifest.chain.name();
    let mut out = Vec::with_capacity(at.len());
    let (mut r, mut max) = (0usize, i64::MIN);
    for &k in at {
        while r < runs.len() && runs[r].first <= k as u64 {
            if runs[r].time != NO_TIME {
                max = max.max(runs[r].time);
            }
            r += 1;
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

/// Every bridge deposit in `stores` and its payout: THORChain's, then the
/// Avalanche Bridge's, Wormhole's and Ronin's (each in store, then
/// transaction order), and with `heuristic` RenBridge's heuristic links
/// last. A transaction is one bridge's deposit at most: the first
/// matcher's. A heuristic payout in a transaction that is already an exact
/// match's payout is not taken (`claimed`): a payout transaction carries
/// one deposit's taint. Without `heuristic` no heuristic match is made, so
/// their deposits are ordinary transfers.
pub fn match_all(stores: &[&Store], heuristic: bool) -> Vec<Bridged> {
    let mut out = match_thorchain(stores);
    out.extend(match_avalanche_bridge(stores));
    out.extend(match_wormhole(stores));
    out.extend(match_ronin(stores));
    if heuristic {
        let paid: std::collections::HashSet<(usize, u32)> = out.iter().filter_map(|b| b.payout.as_ref().map(|p| (p.store, p.tx))).collect();
        for mut b in match_renbridge(stores) {
            if b.payout.as_ref().is_some_and(|p| paid.contains(&(p.store, p.tx))) {
                b.payout = None;
                b.status = Status::Claimed;
                b.score_ppm = None;
            }
            out.push(b);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|b| seen.insert((b.store, b.tx)));
    out
}

/// The entity reports give a bridge (`Bridged::bridge`).
pub fn entity(bridge: &str) -> &'static str {
    match bridge {
        "thorchain" => "THORChain",
        "avalanche-bridge" => "Avalanche Bridge",
        "wormhole" => "Wormhole",
        "ronin" => "Ronin Bridge",
        "renbridge" => "RenBridge",
        _ => "bridge",
    }
}

/// An account-model store's recognised logs that keep fields (memos),
/// with their kind and emitter, in (transaction, log index) order.
fn kept_logs(s: &Store) -> Vec<(Kind, u32, MemoRow)> {
    if !s.manifest.chain.is_account() {
        return Vec::new();
    }
    let kinds: BTreeMap<(u32, u32), (Kind, u32)> =
        s.logs().iter().filter_map(|r| Some(((r.tx, r.index), (Kind::from_code(r.kind)?, r.emitter)))).collect();
    s.memos().into_iter().filter_map(|m| kinds.get(&(m.tx, m.vout)).map(|&(k, e)| (k, e, m))).collect()
}

/// The deposit side of a transaction: the one address its legs lower
/// (payer `u`, asset `A`, `a`) and where the bridge's side received most
/// of it (among `holders` when given). `None` if it failed, or lowers
/// not exactly one address in one asset.
fn deposit_side(l: &TxLegs, holders: Option<&[u32]>) -> Option<(u32, u32, U256, u32)> {
    if l.failed {
        return None;
    }
    let changes = net_changes(&l.legs)?;
    let down: Vec<_> = changes.iter().filter(|c| !c.up).collect();
    let [d] = down[..] else { return None };
    let holder = changes
        .iter()
        .filter(|c| c.up && c.asset == d.asset && holders.is_none_or(|h| h.contains(&c.address)))
        .max_by(|a, b| a.amount.0.cmp(&b.amount.0).then(b.address.cmp(&a.address)))
        .map(|c| c.address);
    let holder = match (holder, holders) {
        (Some(h), _) => h,
        (None, None) => d.address,
        (None, Some(_)) => return None,
    };
    Some((d.address, d.asset, d.amount.0, holder))
}

/// A THORChain inbound on Bitcoin: the first output with a value pays the
/// vault (THORChain's inbound layout: the vault, the memo, the change);
/// the payer is the first input's address (as the export gives it, or that
/// of the output it spends), else the vault's.
fn utxo_deposit_side(s: &Store, l: &TxLegs) -> Option<((u32, u32, U256, u32), usize)> {
    if l.failed {
        return None;
    }
    let ev = s.events();
    let out = *l.events.iter().find(|&&i| sub::class(ev.sub(i)) == sub::TOP && ev.flags(i) & flags::FEE == 0 && !s.value(i).0.is_zero())?;
    let vault = ev.receiver(out);
    let tx = ev.tx(out);
    let in_tx: &[u32] = crate::store::cast(s.bytes(crate::store::Column::InTx));
    let in_addr: &[u32] = crate::store::cast(s.bytes(crate::store::Column::InAddr));
    let in_spent: &[u64] = crate::store::cast(s.bytes(crate::store::Column::InSpentEvent));
    let first = in_tx.partition_point(|&t| t < tx);
    let payer = match (in_tx.get(first), in_addr.get(first), in_spent.get(first)) {
        (Some(&t), Some(&a), _) if t == tx && a != u32::MAX => a,
        (Some(&t), _, Some(&e)) if t == tx && e != u64::MAX && (e as usize) < s.len() => ev.receiver(e as usize),
        _ => vault,
    };
    Some(((payer, ev.asset(out), s.value(out).0, vault), out))
}

/// A deposit not yet matched: `no-payout` until [`settle`] says otherwise.
fn bridged(bridge: &'static str, store: usize, tx: u32, l: &TxLegs, side: (u32, u32, U256, u32), memo: String) -> Bridged {
    let (payer, asset, value, holder) = side;
    Bridged {
        bridge,
        store,
        tx,
        events: l.events.clone(),
        payer,
        asset,
        value,
        holder,
        memo,
        payout: None,
        status: Status::NoPayout,
        exact: true,
        score_ppm: None,
        output: None,
    }
}

/// Settle deposit `b` by the payouts `found` that name it (§7): none,
/// `no-payout`; several, `several-payouts`; one, what `pay` makes of it
/// (`None`: `no-payee`), `payout-first` unless later than the deposit in
/// the merged order, else `followable`.
fn settle<T>(stores: &[&Store], b: &mut Bridged, found: &[T], pay: impl FnOnce(&T) -> Option<Payout>) {
    b.status = match found {
        [] => Status::NoPayout,
        [one] => {
            b.payout = pay(one);
            match &b.payout {
                None => Status::NoPayee,
                Some(p) => {
                    let (k, first) = (b.store, b.events[0]);
                    let dep = positions(stores[k], &[first])[0];
                    let pay = positions(stores[p.store], &[p.events[0]])[0];
                    if (pay.0, pay.1, p.store, pay.2) <= (dep.0, dep.1, k, dep.2) || (p.store == k && p.events[0] <= first) {
                        Status::PayoutFirst
                    } else {
                        Status::Followable
                    }
                }
            }
        }
        _ => Status::SeveralPayouts,
    };
}

/// Every THORChain deposit in `stores` and its payout, in (store, tx) order.
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
            // On Bitcoin an inbound is a transaction whose memo asks for a swap.
            let inbound = !account && matches!(memo::parse(&m.data), Ok(Memo::Swap { .. }));
            if (account && kind == Some(Kind::ThorDeposit)) || inbound {
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
    let pay = PayoutLegs::new(stores, payouts.values().flatten().map(|&(j, t, _)| (j, t)));
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
            let Some(l) = legs.get(tx) else { continue };
            let mut b = if s.manifest.chain == Chain::Bitcoin {
                let Some((side, output)) = utxo_deposit_side(s, l) else { continue };
                Bridged { output: Some(output), ..bridged("thorchain", k, *tx, l, side, text.clone()) }
            } else {
                let Some(side) = deposit_side(l, None) else { continue };
                bridged("thorchain", k, *tx, l, side, text.clone())
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
            let payer = b.payer;
            settle(stores, &mut b, &found, |&(j, ptx, refund)| {
                payout(&pay, j, ptx, if refund { None } else { Some(&destination) }, (k, payer))
            });
            out.push(b);
        }
    }
    out
}

/// `0x` and 40 lowercase hex digits: an EVM address as stores name it.
fn evm_text(a: &[u8]) -> String {
    format!("0x{}", hex::encode(a))
}

/// The asset of store `s` named `name` (a token's `0x` address).
fn asset_named(s: &Store, name: &str) -> Option<u32> {
    s.manifest.assets.iter().position(|a| a == name).map(|k| k as u32)
}

/// An Avalanche Bridge `Mint`: (store, tx, `to`, the token).
type Mint = (usize, u32, [u8; 20], [u8; 20]);

/// Every Avalanche Bridge deposit (Ethereum to the C-chain) in `stores`
/// and its payout, in (store, tx) order. A deposit is a successful
/// transaction of an `ethereum` store whose legs lower one address and
/// raise one of the bridge's wallets (`topics::AVALANCHE_BRIDGE_WALLETS`)
/// in that asset (a token, or ETH); its payout the transaction of an
/// `avalanche` store with a `Mint` of a `BridgeToken`
/// (`topics::AVALANCHE_BRIDGE_TOKENS`) whose `originTxId` is the deposit's
/// hash. The payee is `Mint.to`; `b` its net gain in the minted token over
/// the payout's legs (the mint's transfer from the zero address).
pub fn match_avalanche_bridge(stores: &[&Store]) -> Vec<Bridged> {
    // Mints by originTxId.
    let mut mints: HashMap<[u8; 32], Vec<Mint>> = HashMap::new();
    for (j, s) in stores.iter().enumerate() {
        if s.manifest.chain != Chain::Avalanche {
            continue;
        }
        for (kind, emitter, m) in kept_logs(s) {
            let token = s.address_text(emitter);
            let Some(&token) = topics::AVALANCHE_BRIDGE_TOKENS.iter().find(|t| evm_text(&t[..]) == token) else { continue };
            if kind != Kind::AvalancheMint || m.data.len() != 5 * 32 {
                continue;
            }
            let to: [u8; 20] = m.data[12..32].try_into().expect("20 bytes");
            let origin: [u8; 32] = m.data[128..160].try_into().expect("32 bytes");
            mints.entry(origin).or_default().push((j, m.tx, to, token));
        }
    }
    for v in mints.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    let pay = PayoutLegs::new(stores, mints.values().flatten().map(|m| (m.0, m.1)));
    let mut out = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        if s.manifest.chain != Chain::Ethereum {
            continue;
        }
        let wallets: Vec<u32> = topics::AVALANCHE_BRIDGE_WALLETS.iter().filter_map(|w| s.find_address(&evm_text(w))).collect();
        if wallets.is_empty() {
            continue;
        }
        let ev = s.events();
        let mut txs: Vec<u32> = (0..s.len())
            .filter(|&i| wallets.contains(&ev.receiver(i)) && ev.flags(i) & (flags::FEE | flags::MOVES_NOTHING) == 0 && ev.tx(i) != NO_TX)
            .map(|i| ev.tx(i))
            .collect();
        txs.sort_unstable();
        txs.dedup();
        let legs = tx_legs(s, &txs);
        for tx in txs {
            let Some(l) = legs.get(&tx) else { continue };
            let Some(side) = deposit_side(l, Some(&wallets)).filter(|side| !wallets.contains(&side.0)) else { continue };
            let mut b = bridged("avalanche-bridge", k, tx, l, side, String::new());
            let key: Option<[u8; 32]> = s.tx_hash(tx).try_into().ok();
            let found = key.and_then(|h| mints.get(&h)).cloned().unwrap_or_default();
            settle(stores, &mut b, &found, |&(j, ptx, to, token)| {
                let p = stores[j];
                let (payee, asset) = (p.find_address(&evm_text(&to))?, asset_named(p, &evm_text(&token))?);
                payout_to(&pay, j, ptx, payee, Some(asset))
            });
            out.push(b);
        }
    }
    out
}

/// A Wormhole message's id: (emitter chain's Wormhole id, emitter as 32
/// bytes, sequence).
type WormholeKey = (u16, [u8; 32], u64);

/// A token bridge transfer's message: (tx, key, `to`, `toChain`).
type WormholeDeposit = (u32, WormholeKey, [u8; 32], u16);

/// The big-endian number in the 32-byte `word` if it fits `N` bytes.
fn word_value<const N: usize>(word: &[u8]) -> Option<[u8; N]> {
    let (high, low) = word.split_at(32 - N);
    high.iter().all(|&b| b == 0).then(|| low.try_into().expect("N bytes"))
}

/// A token bridge transfer's message, from what the store keeps of its
/// `LogMessagePublished` (the sender topic, then the data): its sequence,
/// recipient (`to`, 32 bytes) and target chain. `None` for a payload that
/// is no transfer (an attestation) or too short.
fn wormhole_transfer(kept: &[u8]) -> Option<(u64, [u8; 32], u16)> {
    let data = kept.get(32..)?;
    let sequence = u64::from_be_bytes(word_value::<8>(data.get(..32)?)?);
    let payload = crate::convert::abi::abi_string(data, 2)?;
    if !matches!(payload.first(), Some(1 | 3)) || payload.len() < 101 {
        return None;
    }
    let to: [u8; 32] = payload[67..99].try_into().expect("32 bytes");
    let to_chain = u16::from_be_bytes([payload[99], payload[100]]);
    Some((sequence, to, to_chain))
}

/// Every Wormhole token bridge transfer between the stores' EVM chains
/// and its redemption, in (store, tx) order. A deposit is the
/// `LogMessagePublished` of the store chain's core contract whose sender
/// is that chain's token bridge (`topics::WORMHOLE`), with a transfer
/// payload (1 or 3); it is keyed by (the chain's Wormhole id, the token
/// bridge, the message's sequence). Its payout is the transaction with a
/// `TransferRedeemed` of another store chain's token bridge naming that
/// key. The payee is the payload's `to` (an EVM address: its last 20
/// bytes, the first 12 zero) when its `toChain` is the payout's chain; `b`
/// its net gain over the payout's legs. A transaction with several
/// transfer messages is not matched (its legs cannot be told apart).
pub fn match_wormhole(stores: &[&Store]) -> Vec<Bridged> {
    let mut redeemed: HashMap<WormholeKey, Vec<(usize, u32)>> = HashMap::new();
    let mut deposits: Vec<Vec<WormholeDeposit>> = vec![Vec::new(); stores.len()];
    for (k, s) in stores.iter().enumerate() {
        let Some(w) = topics::wormhole(s.manifest.chain) else { continue };
        let (core, bridge) = (evm_text(&w.core), evm_text(&w.token_bridge));
        let emitter = topics::padded(&w.token_bridge);
        for (kind, by, m) in kept_logs(s) {
            match kind {
                Kind::WormholeMessage if s.address_text(by) == core && m.data.get(..32) == Some(&emitter[..]) => {
                    if let Some((sequence, to, to_chain)) = wormhole_transfer(&m.data) {
                        deposits[k].push((m.tx, (w.id, emitter, sequence), to, to_chain));
                    }
                }
                Kind::WormholeRedeemed if s.address_text(by) == bridge && m.data.len() == 3 * 32 => {
                    let (Some(chain), Some(sequence)) = (word_value::<2>(&m.data[..32]), word_value::<8>(&m.data[64..96])) else {
                        continue;
                    };
                    let key = (u16::from_be_bytes(chain), m.data[32..64].try_into().expect("32 bytes"), u64::from_be_bytes(sequence));
                    redeemed.entry(key).or_default().push((k, m.tx));
                }
                _ => {}
            }
        }
    }
    for v in redeemed.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    let pay = PayoutLegs::new(stores, redeemed.values().flatten().copied());
    let mut out = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        let d = &mut deposits[k];
        if d.is_empty() {
            continue;
        }
        d.sort_unstable();
        // One transfer message a transaction, or none matched.
        let several: Vec<u32> = d.windows(2).filter(|p| p[0].0 == p[1].0).map(|p| p[0].0).collect();
        d.retain(|x| !several.contains(&x.0));
        let txs: Vec<u32> = d.iter().map(|x| x.0).collect();
        let legs = tx_legs(s, &txs);
        for &(tx, key, to, to_chain) in d.iter() {
            let Some(l) = legs.get(&tx) else { continue };
            let Some(side) = deposit_side(l, None) else { continue };
            let id = format!("{}/{}/{}", key.0, hex::encode(key.1), key.2);
            let mut b = bridged("wormhole", k, tx, l, side, id);
            let found = redeemed.get(&key).cloned().unwrap_or_default();
            settle(stores, &mut b, &found, |&(j, ptx)| {
                let p = stores[j];
                if topics::wormhole(p.manifest.chain)?.id != to_chain || to[..12].iter().any(|&b| b != 0) {
                    return None;
                }
                payout_to(&pay, j, ptx, p.find_address(&evm_text(&to[12..]))?, None)
            });
            out.push(b);
        }
    }
    out
}

/// Every deposit into Ronin's v1 MainchainGateway (`TokenDeposited`) on an
/// `ethereum` store, in (store, tx) order, each `no-payout`: Ronin is no
/// chain a store holds (blockchain-etl exports none), so the bridge holds
/// what it took. Its key is kept as the memo (`deposit ID`).
pub fn match_ronin(stores: &[&Store]) -> Vec<Bridged> {
    let mut out = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        if s.manifest.chain != Chain::Ethereum {
            continue;
        }
        let mut deposits: Vec<(u32, U256)> = kept_logs(s)
            .into_iter()
            .filter(|(kind, by, m)| {
                *kind == Kind::RoninDeposit
                    && topics::RONIN_GATEWAYS.iter().any(|g| evm_text(g) == s.address_text(*by))
                    && m.data.len() >= 32
            })
            .map(|(_, _, m)| (m.tx, U256::from_be_slice(&m.data[..32])))
            .collect();
        if deposits.is_empty() {
            continue;
        }
        deposits.sort_unstable();
        deposits.dedup_by_key(|d| d.0);
        let legs = tx_legs(s, &deposits.iter().map(|d| d.0).collect::<Vec<_>>());
        for (tx, id) in deposits {
            let Some(l) = legs.get(&tx) else { continue };
            let Some(side) = deposit_side(l, None) else { continue };
            out.push(bridged("ronin", k, tx, l, side, format!("deposit {id}")));
        }
    }
    out
}

/// The payout transaction `tx` of store `j` as paying `destination` (the
/// deposit's payer `(store, id)` for a refund): `None` if it pays nothing there.
fn payout(pay: &PayoutLegs<'_>, j: usize, tx: u32, destination: Option<&str>, refund_to: (usize, u32)) -> Option<Payout> {
    let s = pay.stores[j];
    let payee = match destination {
        Some(d) => s.find_address(d)?,
        None if refund_to.0 == j => refund_to.1,
        None => return None,
    };
    payout_to(pay, j, tx, payee, None)
}

/// The payout transaction `tx` of store `j` as paying `payee` (in `asset`,
/// when given): on Bitcoin the first output paying it; on an account-model
/// chain its net gain over the legs, which must be in one asset. `None` if
/// the transaction failed or pays it nothing.
fn payout_to(pay: &PayoutLegs<'_>, j: usize, tx: u32, payee: u32, asset: Option<u32>) -> Option<Payout> {
    let s = pay.stores[j];
    let l = pay.get(j, tx)?.clone();
    if l.failed {
        return None;
    }
    if s.manifest.chain == Chain::Bitcoin {
        let ev = s.events();
        let i =
            *l.events.iter().find(|&&i| sub::class(ev.sub(i)) == sub::TOP && ev.receiver(i) == payee && ev.flags(i) & flags::FEE == 0)?;
        return Some(Payout { store: j, tx, events: l.events, payee, asset: ev.asset(i), value: s.value(i).0, event: i });
    }
    let up: Vec<_> =
        net_changes(&l.legs)?.into_iter().filter(|c| c.up && c.address == payee && asset.is_none_or(|a| a == c.asset)).collect();
    let [c] = up[..] else { return None };
    let ev = s.events();
    let event = *l
        .events
        .iter()
        .rev()
        .find(|&&i| ev.receiver(i) == payee && ev.flags(i) & flags::MOVES_NOTHING == 0 && asset.is_none_or(|a| ev.asset(i) == a))?;
    Some(Payout { store: j, tx, events: l.events, payee, asset: c.asset, value: c.amount.0, event })
}

/// RenBridge's heuristic window, in seconds of block time: a release is
/// looked for within a day of its burn (RenVM released within minutes to
/// hours; a day leaves room for its slower epochs without reaching far).
pub const RENBRIDGE_WINDOW: i64 = 86_400;

/// RenBridge's fee allowance, a choice: a release pays at least `a` less
/// 0.5% of `a` (in basis points here) and 0.001 BTC. RenVM's burn fee was
/// 0.1% (darknode-sol `migrations/networks.js`: `burnFee: 10` bips) and
/// the Bitcoin miner fee came off the release too; 0.5% and 100,000
/// satoshis leave room for both at the fee rates of 2020-2022.
pub const RENBRIDGE_FEE_BIPS: u64 = 50;

/// The fixed part of [`RENBRIDGE_FEE_BIPS`]' allowance: 0.001 BTC in satoshis.
pub const RENBRIDGE_FEE_FIXED: u64 = 100_000;

/// What a release at the end of the window costs a match's score, in
/// parts per million (a quarter of it; linear in the delay).
pub const RENBRIDGE_DELAY_PPM: u64 = 250_000;

/// A RenBridge match's score in parts per million, an integer label:
/// `1,000,000 - floor(1,000,000 * (a - v) / a) - floor(250,000 * dt / 86,400)`,
/// floored at 0, where `a` is the burn, `v` the release (`v <= a`) and `dt`
/// the seconds from the burn's block time to the release's. An immediate
/// release of the whole burn scores 1,000,000.
pub fn renbridge_score(a: U256, v: U256, dt: i64) -> u32 {
    let million = U256::from(1_000_000u64);
    let shortfall = if a.is_zero() || v >= a { U256::ZERO } else { (a - v) * million / a };
    let shortfall = u64::try_from(shortfall).unwrap_or(1_000_000);
    let delay = u64::try_from(dt.max(0)).unwrap_or(0).min(RENBRIDGE_WINDOW as u64) * RENBRIDGE_DELAY_PPM / RENBRIDGE_WINDOW as u64;
    u32::try_from(1_000_000u64.saturating_sub(shortfall).saturating_sub(delay)).expect("at most a million")
}

/// The lowest release RenBridge's heuristic accepts for a burn of `a`:
/// `a - (floor(a * 50 / 10,000) + 100,000)`, at least 0.
fn renbridge_floor(a: U256) -> U256 {
    let fee = a * U256::from(RENBRIDGE_FEE_BIPS) / U256::from(10_000u64) + U256::from(RENBRIDGE_FEE_FIXED);
    a.saturating_sub(fee)
}

/// `LogBurn`'s `_to` from what the store keeps (`_n`, the hash of
/// `_indexedTo`, then the data `(bytes _to, uint256 _amount)`), as text:
/// RenVM's own client reads it as UTF-8 (renproject/ren-js
/// `packages/lib/chains/chains-ethereum/src/utils.ts`, `parseBurnEvent`),
/// and the upgraded gateway writes the address's text
/// (`bytes(recipientAddress)`, gateway-sol `src/Gateways/MintGateway.sol`).
/// `None` if unreadable or not UTF-8. `_amount` (after the gateway's fee)
/// is not read: the window is set by what the payer's legs lost.
fn renbridge_to(kept: &[u8]) -> Option<String> {
    String::from_utf8(crate::convert::abi::abi_string(kept.get(64..)?, 0)?).ok()
}

/// A Bitcoin output that may be a RenBridge release: (position, store,
/// event, transaction, payee, value).
type Release = (Position, usize, usize, u32, u32, U256);

/// Every renBTC burn on an `ethereum` store matched, by heuristic, to its
/// release on a `bitcoin` store (TRACING.md §7: "a match by a heuristic
/// (address, amount and time, as for RenBridge releases)"), in (store, tx)
/// order. A burn is the `LogBurn` of RenVM's BTC gateway
/// (`topics::RENBTC_GATEWAYS`) in a successful transaction whose legs lower
/// one address (the payer) in renBTC (`topics::RENBTC`) and nothing else;
/// `a` the payer's net outflow (satoshis: renBTC has 8 decimals). Its
/// release is the first output (in the order of all chains' events) paying
/// the burn's `_to`, later than the burn, at most [`RENBRIDGE_WINDOW`]
/// seconds of block time after it, of a value `v` with
/// `a - (0.5% of a + 0.001 BTC) <= v <= a`, not already taken. Burns take
/// their releases in the order of all chains' events, the earliest burn
/// first; a Bitcoin transaction pays one burn at most. A burn with a fitting
/// output that earlier burns took is `claimed`; with none, `no-payout`.
/// A transaction with several burns is not matched (its legs cannot be
/// told apart). Every match is `exact: false` with [`renbridge_score`].
pub fn match_renbridge(stores: &[&Store]) -> Vec<Bridged> {
    let mut burns: Vec<(Position, Bridged)> = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        if s.manifest.chain != Chain::Ethereum {
            continue;
        }
        let Some(renbtc) = asset_named(s, &evm_text(&topics::RENBTC)) else { continue };
        let mut found: Vec<(u32, String)> = kept_logs(s)
            .into_iter()
            .filter(|(kind, by, _)| *kind == Kind::RenBurn && topics::RENBTC_GATEWAYS.iter().any(|g| evm_text(g) == s.address_text(*by)))
            .filter_map(|(_, _, m)| Some((m.tx, renbridge_to(&m.data)?)))
            .collect();
        found.sort();
        let several: Vec<u32> = found.windows(2).filter(|p| p[0].0 == p[1].0).map(|p| p[0].0).collect();
        found.retain(|b| !several.contains(&b.0));
        let legs = tx_legs(s, &found.iter().map(|b| b.0).collect::<Vec<_>>());
        let mut these: Vec<Bridged> = Vec::new();
        for (tx, to) in found {
            let Some(l) = legs.get(&tx) else { continue };
            let Some(side) = deposit_side(l, None).filter(|side| side.1 == renbtc) else { continue };
            let mut b = bridged("renbridge", k, tx, l, side, to);
            b.exact = false;
            these.push(b);
        }
        let mut firsts: Vec<usize> = these.iter().map(|b| b.events[0]).collect();
        firsts.sort_unstable();
        let at = positions(s, &firsts);
        for b in these {
            let p = at[firsts.binary_search(&b.events[0]).expect("a first event")];
            burns.push((p, b));
        }
    }
    if burns.is_empty() {
        return Vec::new();
    }
    // The outputs paying a burn's `_to`, per Bitcoin store, in its order.
    let mut releases: HashMap<(usize, u32), Vec<Release>> = HashMap::new();
    for (j, s) in stores.iter().enumerate() {
        if s.manifest.chain != Chain::Bitcoin {
            continue;
        }
        let payees: std::collections::HashSet<u32> =
            burns.iter().filter_map(|(_, b)| s.find_address(&b.memo).or_else(|| s.find_address(&b.memo.to_ascii_lowercase()))).collect();
        if payees.is_empty() {
            continue;
        }
        let ev = s.events();
        let outs: Vec<usize> = (0..s.len())
            .filter(|&i| sub::class(ev.sub(i)) == sub::TOP && ev.flags(i) & flags::FEE == 0 && payees.contains(&ev.receiver(i)))
            .collect();
        for (&i, p) in outs.iter().zip(positions(s, &outs)) {
            releases.entry((j, ev.receiver(i))).or_default().push((p, j, i, ev.tx(i), ev.receiver(i), s.value(i).0));
        }
    }
    burns.sort_by_key(|(p, b)| (p.0, p.1, b.store, p.2));
    let mut taken: std::collections::HashSet<(usize, u32)> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(burns.len());
    for (dep, mut b) in burns {
        let floor = renbridge_floor(b.value);
        let mut fitting = Vec::new();
        for (j, s) in stores.iter().enumerate() {
            let Some(payee) = s.find_address(&b.memo).or_else(|| s.find_address(&b.memo.to_ascii_lowercase())) else { continue };
            for r in releases.get(&(j, payee)).into_iter().flatten() {
                let (pay, value) = (r.0, r.5);
                let later = (pay.0, pay.1, j, pay.2) > (dep.0, dep.1, b.store, dep.2);
                let timed = dep.0 != i64::MIN && pay.0 != i64::MIN;
                if later && timed && pay.0 - dep.0 <= RENBRIDGE_WINDOW && floor <= value && value <= b.value {
                    fitting.push(*r);
                }
            }
        }
        fitting.sort_by_key(|r| (r.0.0, r.0.1, r.1, r.0.2));
        b.status = if fitting.is_empty() { Status::NoPayout } else { Status::Claimed };
        if let Some(&(pay, j, i, tx, payee, value)) = fitting.iter().find(|r| !taken.contains(&(r.1, r.3))) {
            taken.insert((j, tx));
            b.payout =
                Some(Payout { store: j, tx, events: tx_events(stores[j], i), payee, asset: stores[j].events().asset(i), value, event: i });
            b.score_ppm = Some(renbridge_score(b.value, value, pay.0 - dep.0));
            b.status = Status::Followable;
        }
        out.push(b);
    }
    out.sort_by_key(|b| (b.store, b.tx));
    out
}

/// The events of the transaction of Bitcoin event `i`: its run of events
/// (a transaction's outputs and fee are together, in one block).
fn tx_events(s: &Store, i: usize) -> Vec<usize> {
    let ev = s.events();
    let (tx, block) = (ev.tx(i), ev.block(i));
    let same = |k: usize| ev.tx(k) == tx && ev.block(k) == block;
    let mut first = i;
    while first > 0 && same(first - 1) {
        first -= 1;
    }
    let mut end = i + 1;
    while end < s.len() && same(end) {
        end += 1;
    }
    (first..end).collect()
}
