//! `trace --follow swaps` (TRACING.md §7, ADR 0012): every asset traced at
//! once, taint carried through each followed swap into the asset bought.
//!
//! The state is kept per (asset, address): native ETH (with WETH read as
//! ETH) in flat arrays by address id, tokens in a map keyed by the pair.
//! Every event is visited and every balance kept here, not read from the
//! store's sender-balance column: WETH merges two of the store's assets into
//! one, and a followed swap moves its payer's and payee's balances by their
//! net changes, so the stored balances are not the ones §7 traces with.

use super::fifo::{Lot, Queue};
use super::ledger::{Ledger, Recorder};
use super::num::{Num, Overflow};
use super::records::Bits;
use super::rules::{IdHasher, IdMap, StopRule, stop_at_time, stop_rules};
use super::types::{Engine, Outcome, Policy, Spec, TraceError, Wide};
use crate::convert::detect::{Conversion, Swap};
use crate::convert::topics::WETH;
use crate::model::{NO_BLOCK, NO_TX, Pseudo, flags, sub};
use crate::store::{EventColumns, PartyCursor, RunCursor, Store};
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasherDefault;

type U512 = ruint::Uint<512, 8>;

/// What `--follow` carries taint through (TRACING.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Follow {
    /// DEX swaps detected from the store's swap logs.
    Swaps,
    /// Bridge deposits matched to payouts by the bridge's own key (THORChain, Avalanche Bridge, Wormhole, Ronin; several stores with `--store A --store B`).
    Bridges,
    /// `bridges`, and bridges matched by a heuristic (address, amount and time: RenBridge releases on Bitcoin), each step `exact: false` with its score.
    BridgesHeuristic,
}

impl Follow {
    /// Whether `follow` asks for bridges (`bridges`, or `bridges-heuristic`, which implies it).
    pub fn bridges(follow: &[Follow]) -> bool {
        follow.iter().any(|f| matches!(f, Follow::Bridges | Follow::BridgesHeuristic))
    }
}
mod share;
pub(crate) use share::{Carry, Place, Prepared, Shared, check_question, prepare_workers};

type PairMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

fn pair(asset: u32, addr: u32) -> u64 {
    u64::from(asset) << 32 | u64::from(addr)
}

/// One arrival of taint: the raw material of evidence paths across assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// An ordinary event carried `x` of `asset` (WETH read as ETH).
    Event {
        /// Event index in the store.
        event: u64,
        /// The asset as traced.
        asset: u32,
        /// Taint carried.
        x: U256,
        /// Hop of the event.
        hop: u32,
    },
    /// A followed conversion delivered taint to its payee: an index into
    /// [`Followed::crossed`].
    Crossed(usize),
}

/// A followed conversion that carried taint (INTERFACE.md's conversion object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossed {
    /// Transaction id.
    pub tx: u32,
    /// The payer's first leg in the asset sold: where the outflow is keyed.
    pub first_event: u64,
    /// The payee's last leg in the asset bought: where the inflow is keyed.
    pub last_event: u64,
    /// Payer `u`.
    pub payer: u32,
    /// Payee `r`.
    pub payee: u32,
    /// The addresses that emitted a recognised swap log, in log order.
    pub venues: Vec<u32>,
    /// Asset `A` (as traced: WETH is ETH).
    pub asset_in: u32,
    /// `a`.
    pub value_in: U256,
    /// `x`: the payer's taint that left with `a`.
    pub taint_in: U256,
    /// Asset `B`.
    pub asset_out: u32,
    /// `b`.
    pub value_out: U256,
    /// `y`: the taint the payee received.
    pub taint_out: U256,
    /// The payee's hop (the payer's plus one).
    pub hop: u32,
    /// `x * b - y * a` (negative only under FIFO, where lot boundaries can round up).
    pub loss: (bool, U512),
    /// A bridge payout: the deposit side, which is in another store (or
    /// earlier in this one, for a refund); `payer` and `asset_in` are then
    /// `u32::MAX`, as no id of this store names them.
    pub bridge: Option<BridgeRef>,
}

/// The deposit side of a bridge conversion as reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeRef {
    /// The bridge (`thorchain`, `avalanche-bridge`, `wormhole`, `ronin`, `renbridge`).
    pub bridge: &'static str,
    /// Matched by the bridge's own key, or by a heuristic (`Bridged::exact`).
    pub exact: bool,
    /// A heuristic match's score in parts per million (`Bridged::score_ppm`).
    pub score_ppm: Option<u32>,
    /// The deposit's chain.
    pub chain: &'static str,
    /// The deposit transaction.
    pub tx: String,
    /// Payer `u`.
    pub payer: String,
    /// Asset `A`, as `CHAIN:ASSET`.
    pub asset_in: String,
    /// The bridge-side address that received the deposit.
    pub holder: String,
    /// The deposit's block.
    pub block: Option<u64>,
    /// The deposit's block time.
    pub time: Option<String>,
}

/// Taint on its way from a bridge deposit to its payout (§7).
#[derive(Clone, Debug, Default)]
pub struct Carried {
    /// `x`: the payer's taint that left with `a`.
    pub x: U256,
    /// The payee's hop (the payer's as a sender plus one).
    pub hop: u32,
    /// FIFO: the lots that left, in order (empty: one lot of `a`, tainted
    /// if `x > 0`).
    pub lots: Vec<Lot>,
}

/// A bridge deposit of this store.
#[derive(Clone, Debug)]
pub struct DepositPlan {
    /// Index of the bridge conversion.
    pub k: usize,
    /// The bridge (`Bridged::bridge`).
    pub bridge: &'static str,
    /// Payer `u`.
    pub payer: u32,
    /// Asset `A` as traced.
    pub asset: u32,
    /// `a`.
    pub a: U256,
    /// Where the bridge holds what it does not pay out.
    pub holder: u32,
    /// Matched to a payout that is followed: the taint leaves with the
    /// deposit; otherwise it stays with the bridge (a destination of
    /// category `bridge`).
    pub followed: bool,
    /// Why not followed (`Status::as_str`), or `followable`.
    pub status: &'static str,
}

/// A bridge payout of this store, whose taint comes from its deposit.
#[derive(Clone, Debug)]
pub struct PayoutPlan {
    /// Index of the bridge conversion.
    pub k: usize,
    /// Payee `r`.
    pub payee: u32,
    /// Asset `B` as traced.
    pub asset: u32,
    /// `a`, the deposit's amount.
    pub a: U256,
    /// `b`.
    pub b: U256,
    /// Where the inflow is keyed.
    pub event: usize,
    /// The deposit side, for reports.
    pub from: BridgeRef,
}

/// What a sweep of one store among several is told of bridges, and
/// whether it follows swaps.
#[derive(Clone, Debug, Default)]
pub struct BridgePlan {
    /// Deposits by transaction id.
    pub deposits: HashMap<u32, DepositPlan>,
    /// Payouts by transaction id.
    pub payouts: HashMap<u32, PayoutPlan>,
    /// `--follow` names swaps.
    pub swaps: bool,
}

impl Crossed {
    /// The rounding loss `x * b / a - y` in base units of the asset bought,
    /// exactly: `"0"`, an integer, or a reduced fraction `"n/d"`.
    pub fn rounding(&self) -> String {
        rounding_text(self.taint_in, self.value_in, self.value_out, self.taint_out)
    }
}

/// A sum of rounding losses in base units of one asset, exact at any size:
/// what was rounded up and what down, apart. A poison trace rounds by up
/// to the whole amount bought (below 2^256) a conversion, so a signed
/// 128-bit sum overflowed on two large ones; 320 bits hold 2^64 of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rounding {
    /// Rounded up (the loss counted positive).
    pub up: Wide,
    /// Rounded down (negative).
    pub down: Wide,
}

impl std::ops::AddAssign for Rounding {
    fn add_assign(&mut self, o: Rounding) {
        self.up += o.up;
        self.down += o.down;
    }
}

impl std::fmt::Display for Rounding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.up >= self.down { write!(f, "{}", self.up - self.down) } else { write!(f, "-{}", self.down - self.up) }
    }
}

/// The rounding loss `x * b / a - y` of a conversion of `a` into `b` that
/// carried `x` in and `y` out, exactly: `"0"`, an integer, or a reduced
/// fraction `"n/d"` (negative only under FIFO).
pub fn rounding_text(x: U256, a: U256, b: U256, y: U256) -> String {
    let (xb, ya) = (U512::from(x) * U512::from(b), U512::from(y) * U512::from(a));
    let (neg, n) = if xb >= ya { (false, xb - ya) } else { (true, ya - xb) };
    if n.is_zero() || a.is_zero() {
        return "0".into();
    }
    let d = U512::from(a);
    let g = n.gcd(d);
    let (n, d) = (n / g, d / g);
    let sign = if neg { "-" } else { "" };
    if d == U512::from(1u8) { format!("{sign}{n}") } else { format!("{sign}{n}/{d}") }
}

/// A conversion that taint reached but that was not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfollowed {
    /// Transaction id.
    pub tx: u32,
    /// Its first event.
    pub first_event: u64,
    /// Its venues.
    pub venues: Vec<u32>,
    /// Why: `ambiguous` (§7's shape is not met) or `seed` (a seed takes part
    /// other than as payer or payee: a source's every unit is tainted, so its
    /// legs are traced as ordinary events).
    pub reason: &'static str,
    /// The taint its legs carried into its venues, per asset.
    pub taint: BTreeMap<u32, Wide>,
}

/// What a `--follow swaps` trace found, in store ids.
#[derive(Clone, Debug, Default)]
pub struct Followed {
    /// Per asset (as traced): the single-asset outcome's figures, rows and
    /// conservation terms. `tainted` stays empty: the log is `arrivals`.
    pub by_asset: BTreeMap<u32, Outcome>,
    /// Per asset: the taint that arrived through followed conversions (`y`).
    pub converted_in: BTreeMap<u32, Wide>,
    /// Per asset: the taint that left through followed conversions (`x`).
    pub converted_out: BTreeMap<u32, Wide>,
    /// Per asset bought: the sum over its conversions in of the rounding
    /// loss rounded up to a whole base unit (FIFO: can be negative).
    pub rounding: BTreeMap<u32, Rounding>,
    /// Every arrival of taint, in key order.
    pub arrivals: Vec<Arrival>,
    /// The followed conversions that carried taint, in key order.
    pub crossed: Vec<Crossed>,
    /// The conversions taint reached that were not followed, in key order.
    pub unfollowed: Vec<Unfollowed>,
    /// Seeds that hold a stop label.
    pub seed_stop_warnings: Vec<u32>,
    /// Events visited.
    pub visited: u64,
    /// Whether the sparse sweep over the store's §7 ledger answered (ADR 0012).
    pub sparse: bool,
    /// `--asset` as traced (WETH read as ETH): seeds are sources in it only.
    pub seed_asset: Option<u32>,
    /// Across workers (`dataflow::follow`): what moved between them and
    /// how often segments were run.
    pub exchange: super::types::Traffic,
}

impl Followed {
    /// `seeded + converted_in` and `destinations + dormant + horizon + fees +
    /// converted_out` of one asset: equal under haircut and FIFO (§7).
    pub fn balance(&self, asset: u32) -> (Wide, Wide) {
        let o = self.by_asset.get(&asset).cloned().unwrap_or_default();
        let get = |m: &BTreeMap<u32, Wide>| m.get(&asset).copied().unwrap_or(Wide::ZERO);
        (o.seeded + get(&self.converted_in), o.accounted() + get(&self.converted_out))
    }
}

const POISONED: u8 = 1;
const HORIZON: u8 = 2;
const HAS_QUEUE: u8 = 4;

/// An address's state in one asset: u128 numbers where everything fits,
/// 320 bits otherwise (the sweep runs again with them on overflow).
#[derive(Clone, Copy, PartialEq)]
struct Slot<N> {
    bal: N,
    t: N,
    /// Smallest hop + 1 at which it held taint; 0: never.
    hop1: u32,
    fl: u8,
}

impl<N: Num> Slot<N> {
    const EMPTY: Self = Slot { bal: N::ZERO, t: N::ZERO, hop1: 0, fl: 0 };

    fn hop(&self) -> u32 {
        self.hop1.wrapping_sub(1)
    }

    fn set_hop(&mut self, h: u32) {
        let h1 = h.saturating_add(1);
        if self.hop1 == 0 || h1 < self.hop1 {
            self.hop1 = h1;
        }
    }
}

/// What the receiver's FIFO queue gets with an arrival of `a`.
enum Lots {
    /// One lot of `a`, tainted or clean.
    One(bool),
    /// The pieces the sender's queue gave (in `Sweep::pieces`).
    Pieces,
    /// A conversion's lots, mapped into the asset bought.
    Mapped(Vec<Lot>),
}

/// What the sweep is given: the question's parts in flat form and the
/// store's conversions.
pub(super) struct Prep {
    rules: super::rules::Rules,
    /// Seed addresses by id.
    seed: Vec<bool>,
    seed_asset: Option<u32>,
    seed_txs: HashSet<u32>,
    /// Transactions that are conversions, a bit each by transaction id.
    conv_bits: super::conversions::TxBits,
    followable: IdMap<(Swap, Vec<u32>)>,
    ambiguous: IdMap<Vec<u32>>,
    /// Each conversion's events, in key order.
    tx_events: IdMap<Vec<usize>>,
    weth_asset: Option<u32>,
    weth_contract: Option<u32>,
    /// Per asset as traced: whether its state is a flat array.
    dense: Vec<bool>,
    /// Bridge deposits and payouts (several stores), and whether swaps are followed.
    bridges: BridgePlan,
    /// Whether a full sweep records its balances for the store's ledger
    /// (a worker of several sees only its own addresses' balances).
    record: bool,
}

/// An asset gets a flat array when it has at least one event per this many addresses.
const DENSE_PER: usize = 16;

struct Sweep<'a, N: Num> {
    store: &'a Store,
    big: crate::store::BigReads<'a>,
    ev: EventColumns<'a>,
    runs: RunCursor<'a>,
    parties: PartyCursor<'a>,
    spec: &'a Spec,
    p: &'a Prep,
    /// Per asset as traced: a flat array by address id for ETH and for each
    /// asset with at least one event per `DENSE_PER` addresses (a map lookup
    /// misses the cache about once an event); the rest in `tok`.
    dense: Vec<Vec<Slot<N>>>,
    tok: PairMap<Slot<N>>,
    queues: PairMap<Queue>,
    pieces: Vec<Lot>,
    out: Followed,
    fees_id: u32,
    windowed: bool,
    /// The full sweep: the balances it keeps, for the store's ledger.
    rec: Option<Recorder>,
    /// The sparse sweep: balances read from the ledger instead of kept.
    led: Option<&'a Ledger>,
    /// The sparse sweep, a bit an address: whose sends may carry taint
    /// (in some asset).
    send_hot: Bits,
    /// The sparse sweep, a byte an address: in which assets (by
    /// [`asset_bit`]) its sends may carry taint, so a hot address's sends of
    /// an asset it holds no taint in are passed over unread.
    hot_assets: Vec<u8>,
    /// The sparse sweep: the seeds' [`super::ledger::bloom`], tested before
    /// `Prep::seed` (they are few: most receivers are told from it alone).
    seed_bloom: u64,
    /// The sparse sweep: the payer's balance before the swap at hand.
    payer_bal: u128,
    /// [`Sweep::swap`]'s buffers.
    legs: Vec<Leg<N>>,
    fees: Vec<usize>,
    /// The full sweep: the next event to handle, and the conversions
    /// handled whole at their first event.
    pos: usize,
    done: super::conversions::TxBits,
    /// Bridge deposits handled, until the coordinator takes them.
    sent: Vec<(usize, Carried)>,
    /// What deposits carry to this store's payouts, by bridge index.
    received: HashMap<usize, Carried>,
    /// One worker of several (`dataflow::follow`): `None` in one process.
    share: Option<Box<share::Share<N>>>,
}

/// Where a send's balance is recorded in, or read from, the ledger.
#[derive(Clone, Copy)]
enum BalAt {
    /// An ordinary event.
    Event(usize),
    /// The payer's one outflow in the followed swap of this transaction.
    Payer(u32),
}

#[inline]
/// Bit `x`, false out of range (the full sweep's sets are empty; an id in
/// a damaged ledger's record may be out of range).
fn bit(bits: &Bits, x: u32) -> bool {
    (x as usize) < bits.len() && bits.get(x)
}

fn set_bit(bits: &mut Bits, x: u32) {
    if (x as usize) < bits.len() {
        bits.set(x);
    }
}

/// An asset's bit in [`Sweep::hot_assets`]: ETH its own, the tokens folded
/// onto seven (a shared bit only costs a visit).
#[inline]
fn asset_bit(asset: u32) -> u8 {
    if asset == 0 { 1 } else { 2 << ((asset - 1) % 7) }
}

/// Under `--follow`, the asset an event is traced in: WETH is ETH.
fn traced_asset(asset: u32, weth: Option<u32>) -> u32 {
    if Some(asset) == weth { 0 } else { asset }
}

/// Run a `--follow swaps` trace. `spec.asset` is ignored; `seed_asset`
/// narrows the assets in which seeds are sources (`--asset`).
///
/// The sweep runs with u128 numbers (native arithmetic) and again with
/// 320-bit ones only if some amount or sum does not fit.
pub fn run_follow(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Followed, TraceError> {
    follow_with(store, spec, seed_asset, DENSE_PER)
}

/// [`run_follow`] with every token's state in the map (ETH stays flat): the
/// tests hold the two layouts to one outcome, since small test stores make
/// every asset flat.
#[doc(hidden)]
pub fn run_follow_mapped(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Followed, TraceError> {
    follow_with(store, spec, seed_asset, usize::MAX / 2)
}

/// The question's parts in flat form, conversions not yet listed.
fn base_prep(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Prep, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
        return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()));
    }
    let weth_name = format!("0x{}", hex::encode(WETH));
    let weth_asset = store.manifest.assets.iter().position(|a| *a == weth_name).map(|k| k as u32);
    let mut seed = vec![false; store.address_count()];
    for &s in &spec.seeds {
        seed[s as usize] = true;
    }
    Ok(Prep {
        rules: stop_rules(store, &spec.stop_at, &|a| a)?,
        seed,
        seed_asset: seed_asset.map(|a| traced_asset(a, weth_asset)),
        seed_txs: spec.seed_txs.iter().copied().collect(),
        conv_bits: Default::default(),
        followable: IdMap::default(),
        ambiguous: IdMap::default(),
        tx_events: IdMap::default(),
        weth_asset,
        weth_contract: store.find_address(&weth_name),
        dense: Vec::new(),
        bridges: BridgePlan { swaps: true, ..Default::default() },
        record: true,
    })
}

/// The bridge plan's transactions become conversions: their events
/// listed, a bit each; a bridge transaction that also swaps is a bridge
/// conversion (its swap listing, if any, is dropped after).
fn add_bridge_events(store: &Store, p: &mut Prep) {
    if p.bridges.deposits.is_empty() && p.bridges.payouts.is_empty() {
        return;
    }
    let mut want = super::conversions::TxBits::default();
    for &t in p.bridges.deposits.keys().chain(p.bridges.payouts.keys()) {
        want.set(t);
        p.conv_bits.set(t);
    }
    let ev = store.events();
    let mut events: IdMap<Vec<usize>> = IdMap::default();
    for i in 0..store.len() {
        let t = ev.tx(i);
        if want.has(t) {
            events.entry(t).or_default().push(i);
        }
    }
    p.tx_events.extend(events);
}

/// List the store's conversions (swaps where followed, and the bridge
/// plan's deposits and payouts) and choose each asset's layout.
fn add_conversions(store: &Store, p: &mut Prep, dense_per: usize) {
    add_bridge_events(store, p);
    if p.bridges.swaps {
        for f in super::conversions::list(store) {
            p.conv_bits.set(f.tx);
            p.tx_events.insert(f.tx, f.events);
            match f.conversion {
                Conversion::Swap(s) => {
                    p.followable.insert(f.tx, (s, f.venues));
                }
                Conversion::Ambiguous(_) => {
                    p.ambiguous.insert(f.tx, f.venues);
                }
            }
        }
        for &t in p.bridges.deposits.keys().chain(p.bridges.payouts.keys()) {
            p.followable.remove(&t);
            p.ambiguous.remove(&t);
        }
    }
    crate::sys::timing("follow: list the conversions");
    // Events per asset as traced, from one pass over the asset column.
    let mut counts = vec![0usize; store.manifest.assets.len().max(1)];
    {
        let ev = store.events();
        let n = store.len();
        let mut buf = Vec::new();
        for start in (0..n).step_by(1 << 16) {
            buf.clear();
            buf.extend(ev.assets(start, (start + (1 << 16)).min(n)));
            for &a in &buf {
                counts[traced_asset(a, p.weth_asset) as usize] += 1;
            }
        }
    }
    p.dense = counts.iter().enumerate().map(|(a, &c)| a == 0 || c.saturating_mul(dense_per) >= store.address_count()).collect();
}

/// `--follow swaps` traces account-model stores alone: refuse a Bitcoin
/// store, or a question over clusters (Bitcoin's).
fn account_only(store: &Store, spec: &Spec) -> Result<(), TraceError> {
    if store.manifest.chain == crate::model::Chain::Bitcoin || spec.clusters.is_some() {
        return Err(TraceError::Usage("--follow swaps needs an account-model store (Ethereum): Bitcoin has no swap logs".into()));
    }
    Ok(())
}

fn follow_with(store: &Store, spec: &Spec, seed_asset: Option<u32>, dense_per: usize) -> Result<Followed, TraceError> {
    account_only(store, spec)?;
    let mut p = base_prep(store, spec, seed_asset)?;
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    let sparse = spec.policy != Policy::Fifo && !windowed && spec.engine != Some(Engine::Full);
    if sparse && let Some(led) = Ledger::load(store) {
        if led.trusted(store) {
            if let Ok(out) = sweep_sparse(store, spec, &p, &led) {
                return Ok(with_warnings(out, spec, &p));
            }
        } else {
            // The checksum on the other core while the sweep reads.
            let (sound, out) = rayon::join(|| led.verify(), || sweep_sparse(store, spec, &p, &led));
            if sound {
                led.mark_verified(store);
                if let Ok(out) = out {
                    return Ok(with_warnings(out, spec, &p));
                }
            }
        }
    }
    crate::sys::timing("follow: start the full sweep");
    add_conversions(store, &mut p, dense_per);
    let (out, rec) = match sweep::<u128>(store, spec, &p) {
        Ok(out) => out,
        Err(Overflow) => {
            spec.budget.check()?;
            sweep::<Wide>(store, spec, &p).map_err(|_| spec.budget.halted_or_overflow())?
        }
    };
    crate::sys::timing("follow: full sweep");
    // A full sweep that had to run anyway (FIFO, `--engine full`, a
    // fallback) leaves a sound ledger as it is.
    if let Some(r) = rec
        && !r.spoiled
        && Ledger::load(store).is_none_or(|l| !l.verify())
    {
        r.save(
            store,
            p.tx_events
                .iter()
                .map(|(&t, events)| match p.followable.get(&t) {
                    Some((s, venues)) => (t, &events[..], &venues[..], Some(s)),
                    None => (t, &events[..], &p.ambiguous[&t][..], None),
                })
                .collect(),
        );
        crate::sys::timing("follow: ledger written");
    }
    Ok(with_warnings(out, spec, &p))
}

/// The sweep of one store among several (`trace --store A --store B
/// --follow ...`, [`super::multi`]): run in steps, bridge deposits handed
/// out and payouts' taint handed in between them. Always the full sweep,
/// and no ledger is written (its balances would hold only for this plan).
pub(super) struct Stepped<'a, N: Num> {
    sw: Sweep<'a, N>,
    /// Over the store's ledger: the sparse sweep's place (ADR 0012).
    sparse: Option<SparseLoop<'a>>,
}

/// The question's parts for [`Stepped`].
/// `sparse`: for [`SparseStepped`], which reads the conversions from the
/// store's ledger, so only the bridge plan's transactions are listed.
pub(super) fn prepare(store: &Store, spec: &Spec, seed_asset: Option<u32>, plan: BridgePlan, sparse: bool) -> Result<Prep, TraceError> {
    let mut p = base_prep(store, spec, seed_asset)?;
    p.bridges = plan;
    if sparse {
        add_bridge_events(store, &mut p);
    } else {
        add_conversions(store, &mut p, DENSE_PER);
    }
    Ok(p)
}

/// Whether a question over `store` among several may use its ledger: the
/// sparse sweep's questions (ADR 0012) that follow swaps, whose balances the
/// ledger holds.
pub(super) fn sparse_ledger(store: &Store, spec: &Spec, swaps: bool) -> Option<Ledger> {
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    if !swaps || spec.policy == Policy::Fifo || windowed || spec.engine == Some(Engine::Full) {
        return None;
    }
    let led = Ledger::load(store)?;
    if led.trusted(store) {
        return Some(led);
    }
    led.verify().then(|| {
        led.mark_verified(store);
        led
    })
}

impl<'a, N: Num> Stepped<'a, N> {
    /// A sweep at the store's first event: sparse over `led` where given
    /// (`Err` where the question needs the full sweep after all), else full.
    pub(super) fn new(store: &'a Store, spec: &'a Spec, p: &'a Prep, led: Option<&'a Ledger>) -> Result<Self, Overflow> {
        let mut sw = Sweep::new(store, spec, p, led);
        sw.rec = None;
        let sparse = match led {
            Some(led) => Some(sw.sparse_setup(led)?),
            None => None,
        };
        Ok(Stepped { sw, sparse })
    }

    /// Handle the events before `end` not yet handled.
    pub(super) fn run_to(&mut self, end: usize) -> Result<(), Overflow> {
        match &mut self.sparse {
            Some(lp) => self.sw.sparse_run_to(lp, end),
            None => self.sw.run_to(end),
        }
    }

    /// The deposits handled since the last call: (bridge index, what left).
    pub(super) fn take_sent(&mut self) -> Vec<(usize, Carried)> {
        std::mem::take(&mut self.sw.sent)
    }

    /// What deposit `k` carries to this store's payout.
    pub(super) fn give(&mut self, k: usize, c: Carried) {
        self.sw.received.insert(k, c);
    }

    /// Run to the end and report.
    pub(super) fn finish(mut self) -> Result<Followed, Overflow> {
        self.run_to(self.sw.store.len())?;
        self.sw.finish()?;
        let p = self.sw.p;
        Ok(with_warnings(self.sw.out, self.sw.spec, p))
    }
}

fn with_warnings(mut out: Followed, spec: &Spec, p: &Prep) -> Followed {
    for &s in &spec.seeds {
        if p.rules.contains_key(&s) {
            out.seed_stop_warnings.push(s);
        }
    }
    out.seed_stop_warnings.sort_unstable();
    out
}

impl<'a, N: Num> Sweep<'a, N> {
    fn new(store: &'a Store, spec: &'a Spec, p: &'a Prep, led: Option<&'a Ledger>) -> Self {
        // The sparse sweep touches few slots: all in the map (flat ETH
        // slots on zero pages measured slower: a page fault a slot).
        let dense = if led.is_none() { dense_slots(store, p) } else { vec![Vec::new(); store.manifest.assets.len().max(1)] };
        Sweep::with_slots(store, spec, p, led, dense)
    }

    /// [`Sweep::new`] with the flat slots given, one (maybe empty) array an
    /// asset, or none at all until a worker lends its own.
    fn with_slots(store: &'a Store, spec: &'a Spec, p: &'a Prep, led: Option<&'a Ledger>, dense: Vec<Vec<Slot<N>>>) -> Self {
        let ev = store.events();
        let windowed = spec.from_block.is_some() || spec.to_block.is_some();
        Sweep {
            store,
            big: store.big_reads(),
            runs: ev.cursor(),
            parties: ev.party_cursor(),
            ev,
            spec,
            p,
            dense,
            tok: PairMap::default(),
            queues: PairMap::default(),
            pieces: Vec::new(),
            out: Followed { seed_asset: p.seed_asset, sparse: led.is_some(), ..Default::default() },
            fees_id: Pseudo::Fees.id(),
            windowed,
            rec: (led.is_none() && !windowed && p.record).then(|| Recorder::new(store.len())),
            led,
            send_hot: Bits::new(0),
            hot_assets: Vec::new(),
            seed_bloom: 0,
            payer_bal: 0,
            legs: Vec::new(),
            fees: Vec::new(),
            pos: 0,
            done: Default::default(),
            sent: Vec::new(),
            received: HashMap::new(),
            share: None,
        }
    }
}

/// Per asset as traced: a flat array of slots by address id where the
/// asset is flat (`Prep::dense`), else none.
fn dense_slots<N: Num>(store: &Store, p: &Prep) -> Vec<Vec<Slot<N>>> {
    (0..store.manifest.assets.len().max(1))
        .map(|a| if p.dense[a] { vec![Slot::EMPTY; store.address_count()] } else { Vec::new() })
        .collect()
}

/// `y` and the payee's lots for a followed conversion of `a` into `b`
/// whose outflow carried `x` (FIFO: as the lots `pieces`, empty for one
/// lot of `a`), by §7's table.
fn carry<N: Num>(policy: Policy, x: N, a: N, b: N, pieces: Vec<Lot>) -> Result<(N, Lots), Overflow> {
    Ok(match policy {
        Policy::Poison => (if x.is_zero() { N::ZERO } else { b }, Lots::One(!x.is_zero())),
        Policy::Haircut => {
            let y = N::haircut(b, x, a);
            (y, Lots::One(!y.is_zero()))
        }
        Policy::Fifo => {
            let whole: Vec<Lot> = if pieces.is_empty() { vec![Lot { amount: a.to_u256(), tainted: !x.is_zero() }] } else { pieces };
            let (lots, y) = map_lots(&whole, a.to_u256(), b.to_u256());
            (N::from_u256(y).ok_or(Overflow)?, Lots::Mapped(lots))
        }
    })
}

/// FIFO lots of `a` units mapped onto `b` (§7): lot `i` covering units
/// `(c_{i-1}, c_i]` becomes `floor(c_i * b / a) - floor(c_{i-1} * b / a)`
/// units; with the tainted units' sum.
pub(crate) fn map_lots(whole: &[Lot], a: U256, b: U256) -> (Vec<Lot>, U256) {
    let (bu, au) = (U512::from(b), U512::from(a));
    let (mut cum, mut lots, mut y) = (U512::ZERO, Vec::new(), U256::ZERO);
    for l in whole {
        let lo = cum * bu / au;
        cum += U512::from(l.amount);
        let units = U256::from(cum * bu / au - lo);
        if l.tainted {
            y += units;
        }
        lots.push(Lot { amount: units, tainted: l.tainted });
    }
    (lots, y)
}

/// The full sweep: every event, every balance kept (and recorded for the
/// store's ledger where the question allows).
fn sweep<N: Num>(store: &Store, spec: &Spec, p: &Prep) -> Result<(Followed, Option<Recorder>), Overflow> {
    let mut sw: Sweep<'_, N> = Sweep::new(store, spec, p, None);
    sw.run_to(store.len())?;
    if sw.rec.is_some() {
        let finals = sw.finals();
        if let Some(r) = &mut sw.rec {
            r.finals = finals;
        }
    }
    sw.finish()?;
    Ok((sw.out, sw.rec))
}

impl<N: Num> Sweep<'_, N> {
    /// The full sweep over the events from `self.pos` to `end`.
    fn run_to(&mut self, end: usize) -> Result<(), Overflow> {
        let p = self.p;
        let n = end.min(self.store.len());
        let last = self.store.len();
        // Addresses are met in random order: load the flat slots of the events
        // `AHEAD` on while this one is handled.
        const AHEAD: usize = 24;
        let mut ahead = self.ev.party_cursor();
        let mut done = std::mem::take(&mut self.done);
        let mut i = self.pos;
        while i < n {
            // The budget, once every 4,096 events.
            if i & 4095 == 0 && !self.spec.budget.go_on(self.out.visited) {
                return Err(Overflow);
            }
            if i + AHEAD < last {
                let (f, t) = ahead.at(i + AHEAD);
                let d = &self.dense[traced_asset(self.ev.asset(i + AHEAD), p.weth_asset) as usize];
                if !d.is_empty() {
                    crate::sys::prefetch(&d[f as usize]);
                    crate::sys::prefetch(&d[t as usize]);
                }
            }
            let t = self.ev.tx(i);
            if !p.conv_bits.has(t) {
                self.event(i)?;
                i += 1;
                continue;
            }
            i += 1;
            // A conversion is handled whole at its first event; where an
            // export without transaction indices interleaves transactions, its
            // later events were handled with it.
            if done.has(t) {
                continue;
            }
            done.set(t);
            self.whole_tx(t)?;
        }
        self.pos = i;
        self.done = done;
        Ok(())
    }
}

impl<N: Num> Sweep<'_, N> {
    /// Conversion `t`'s transaction, handled whole at its first event.
    fn whole_tx(&mut self, t: u32) -> Result<(), Overflow> {
        let p = self.p;
        let events = &p.tx_events[&t];
        if p.seed_txs.contains(&t) {
            // Its events are sources in their own right: never a conversion.
            for &k in events {
                self.event(k)?;
            }
            self.spoil();
            Ok(())
        } else {
            self.conversion(t, events)
        }
    }
}

/// The sparse sweep (ADR 0012): balances from the store's ledger; visits
/// the events whose sender may hold taint or whose receiver is a seed,
/// the first event of every conversion, and the events of seed
/// transactions. `Err` where the question needs the full sweep after all
/// (a seed inside a swap, a seed transaction that is a conversion, a
/// balance that does not fit): the caller runs it.
fn sweep_sparse(store: &Store, spec: &Spec, p: &Prep, led: &Ledger) -> Result<Followed, Overflow> {
    crate::sys::timing("follow: open the ledger");
    let mut sw: Sweep<'_, u128> = Sweep::new(store, spec, p, Some(led));
    let mut lp = sw.sparse_setup(led)?;
    sw.sparse_run_to(&mut lp, store.len())?;
    crate::sys::timing("follow: sparse sweep");
    sw.finish()?;
    crate::sys::timing("follow: sparse finish");
    Ok(sw.out)
}

/// Where the sparse sweep is: the ledger's conversions, the seed
/// transactions' events and the bridge transactions still ahead.
struct SparseLoop<'a> {
    convs: &'a [[u64; super::ledger::CONV]],
    conv_bits: super::conversions::TxBits,
    next_conv: usize,
    conv_at: usize,
    seed_tx_events: Vec<usize>,
    next_seed_tx: usize,
    seed_tx_at: usize,
    /// Bridge transactions by their first event, in order.
    bridge_events: Vec<(usize, u32)>,
    next_bridge: usize,
    bridge_at: usize,
    bridge_bits: super::conversions::TxBits,
    start: usize,
}

impl<'a, N: Num> Sweep<'a, N> {
    /// The sparse sweep's state before its first event. `Err` where the
    /// question needs the full sweep (a seed transaction or a bridge
    /// transaction that the ledger counts a conversion, a damaged record).
    fn sparse_setup(&mut self, led: &'a Ledger) -> Result<SparseLoop<'a>, Overflow> {
        let (store, spec, p) = (self.store, self.spec, self.p);
        let n_addr = store.address_count();
        self.send_hot = Bits::new(n_addr);
        self.hot_assets = vec![0; n_addr];
        for &s in &spec.seeds {
            set_bit(&mut self.send_hot, s);
            if let Some(m) = self.hot_assets.get_mut(s as usize) {
                *m = u8::MAX;
            }
            self.seed_bloom |= super::ledger::bloom(s);
        }
        let n = store.len();
        let convs = led.conv_records();
        let mut conv_bits = super::conversions::TxBits::default();
        for w in convs {
            // A transaction id out of range is only in a damaged ledger.
            let t = w[1] as u32;
            if t == NO_TX || t as usize >= n {
                return Err(Overflow);
            }
            conv_bits.set(t);
        }
        if p.seed_txs.iter().any(|&t| conv_bits.has(t)) {
            return Err(Overflow);
        }
        let mut bridge_events: Vec<(usize, u32)> = Vec::new();
        let mut bridge_bits = super::conversions::TxBits::default();
        for &t in p.bridges.deposits.keys().chain(p.bridges.payouts.keys()) {
            if conv_bits.has(t) || p.seed_txs.contains(&t) {
                return Err(Overflow);
            }
            let Some(first) = p.tx_events.get(&t).and_then(|e| e.first()) else { return Err(Overflow) };
            bridge_events.push((*first, t));
            bridge_bits.set(t);
        }
        bridge_events.sort_unstable();
        let seed_tx_events = super::records::seed_tx_events(store, &spec.seed_txs);
        Ok(SparseLoop {
            convs,
            conv_bits,
            next_conv: 0,
            conv_at: convs.first().map_or(usize::MAX, |w| w[0] as usize),
            seed_tx_at: seed_tx_events.first().copied().unwrap_or(usize::MAX),
            seed_tx_events,
            next_seed_tx: 0,
            bridge_at: bridge_events.first().map_or(usize::MAX, |b| b.0),
            bridge_events,
            next_bridge: 0,
            bridge_bits,
            start: 0,
        })
    }

    /// The sparse sweep (ADR 0012) over the events from where it is to
    /// `end`: visits the events whose sender may hold taint or whose
    /// receiver is a seed, the first event of every conversion and bridge
    /// transaction, and the events of seed transactions.
    fn sparse_run_to(&mut self, lp: &mut SparseLoop<'a>, end: usize) -> Result<(), Overflow> {
        let (p, led) = (self.p, self.led.ok_or(Overflow)?);
        let ev = self.store.events();
        let n = end.min(self.store.len());
        // Blocks of 16 events, their parties decoded together; a block where
        // no sender may pass taint, no receiver is a seed and nothing special
        // starts is skipped whole (nothing in it can change that meanwhile).
        const BLOCK: usize = 16;
        let (mut from, mut to) = ([0u32; BLOCK], [0u32; BLOCK]);
        let mut start = lp.start;
        while start < n {
            if start & 4095 == 0 && !self.spec.budget.go_on(self.out.visited) {
                return Err(Overflow);
            }
            let end = (start + BLOCK).min(n);
            let m = end - start;
            ev.parties(start, &mut from[..m], &mut to[..m]);
            ev.prefetch_parties(start + 512);
            let hot = (0..m).fold(false, |h, k| h | bit(&self.send_hot, from[k]) | self.seed_receipt(to[k]));
            if !hot && lp.conv_at >= end && lp.seed_tx_at >= end && lp.bridge_at >= end {
                start = end;
                continue;
            }
            for i in start..end {
                if i == lp.bridge_at {
                    let t = lp.bridge_events[lp.next_bridge].1;
                    lp.next_bridge += 1;
                    lp.bridge_at = lp.bridge_events.get(lp.next_bridge).map_or(usize::MAX, |b| b.0);
                    self.sparse_bridge(t, led)?;
                    continue;
                }
                if i == lp.conv_at {
                    let w = &lp.convs[lp.next_conv];
                    lp.next_conv += 1;
                    lp.conv_at = lp.convs.get(lp.next_conv).map_or(usize::MAX, |w| w[0] as usize);
                    // Most conversions are of addresses that hold no taint: told
                    // from the record's first words, without reading the rest.
                    let m = Ledger::conv_summary(w);
                    if !m.ambiguous
                        && !m.short
                        && m.parties & self.seed_bloom == 0
                        && !bit(&self.send_hot, m.payer)
                        && !self.seed_receipt(m.payee)
                        && m.fee.is_none_or(|f| f.is_some_and(|f| !bit(&self.send_hot, f)))
                    {
                        continue;
                    }
                    let c = led.conv(w).ok_or(Overflow)?;
                    self.sparse_conversion(&c)?;
                    continue;
                }
                if i == lp.seed_tx_at {
                    lp.next_seed_tx += 1;
                    lp.seed_tx_at = lp.seed_tx_events.get(lp.next_seed_tx).copied().unwrap_or(usize::MAX);
                    self.event(i)?;
                    continue;
                }
                let (f, t) = (from[i - start], to[i - start]);
                if !self.seed_receipt(t) {
                    // Neither a seed's receipt nor, in its asset, a send that may
                    // carry taint: it changes nothing the ledger does not have.
                    if !bit(&self.send_hot, f) {
                        continue;
                    }
                    let asset = traced_asset(ev.asset(i), p.weth_asset);
                    if self.hot_assets.get(f as usize).is_none_or(|m| m & asset_bit(asset) == 0) {
                        continue;
                    }
                }
                // A conversion's or bridge's events were handled with its first.
                let tx = ev.tx(i);
                if lp.conv_bits.has(tx) || lp.bridge_bits.has(tx) {
                    continue;
                }
                self.event(i)?;
            }
            start = end;
        }
        lp.start = start;
        Ok(())
    }

    /// A bridge transaction met by the sparse sweep: a deposit whose payer
    /// may hold taint, or a payout whose deposit carried some, is handled
    /// as the full sweep handles it (the payer's balance from the ledger);
    /// any other moves only balances, which the ledger has.
    fn sparse_bridge(&mut self, t: u32, led: &Ledger) -> Result<(), Overflow> {
        let p = self.p;
        let events = &p.tx_events[&t];
        // A seed inside, or a sender that may hold taint (the payer, the
        // bridge's side, whoever pays the fee): handled in full.
        let matters = events.iter().any(|&k| {
            let (f, r) = (self.ev.sender(k), self.ev.receiver(k));
            bit(&self.send_hot, f) || self.p.seed[f as usize] || self.p.seed[r as usize]
        });
        if let Some(d) = p.bridges.deposits.get(&t) {
            if !matters {
                if d.followed {
                    self.sent.push((d.k, Carried::default()));
                }
                return Ok(());
            }
            // The payer's balance in the asset sold before its first leg in it
            // (not before its fee or a leg in another asset).
            let first = events
                .iter()
                .copied()
                .find(|&k| {
                    self.ev.sender(k) == d.payer
                        && traced_asset(self.ev.asset(k), p.weth_asset) == d.asset
                        && self.ev.flags(k) & (flags::FEE | flags::MOVES_NOTHING) == 0
                        && sub::class(self.ev.sub(k)) != sub::FEE
                })
                .ok_or(Overflow)?;
            self.payer_bal = led.sender(first);
            return self.bridge_deposit(t, events, d);
        }
        if let Some(q) = p.bridges.payouts.get(&t) {
            if !matters && self.received.get(&q.k).is_none_or(|c| c.x.is_zero()) {
                self.received.remove(&q.k);
                return Ok(());
            }
            return self.bridge_payout(t, events, q);
        }
        Ok(())
    }
}

/// One value event as the sweep reads it.
struct Leg<N> {
    event: usize,
    asset: u32,
    from: u32,
    to: u32,
    value: N,
}

impl<N: Num> Sweep<'_, N> {
    #[inline]
    fn is_seed(&self, asset: u32, addr: u32) -> bool {
        self.p.seed[addr as usize] && self.p.seed_asset.is_none_or(|a| a == asset)
    }

    #[inline]
    fn get(&self, asset: u32, addr: u32) -> Slot<N> {
        let d = &self.dense[asset as usize];
        if !d.is_empty() { d[addr as usize] } else { self.tok.get(&pair(asset, addr)).copied().unwrap_or(Slot::EMPTY) }
    }

    #[inline]
    fn put(&mut self, asset: u32, addr: u32, s: Slot<N>) {
        let d = &mut self.dense[asset as usize];
        if !d.is_empty() {
            d[addr as usize] = s;
        } else {
            match self.tok.get_mut(&pair(asset, addr)) {
                Some(slot) => *slot = s,
                None => {
                    self.tok.insert(pair(asset, addr), s);
                }
            }
        }
    }

    fn acct(&mut self, asset: u32) -> &mut Outcome {
        self.out.by_asset.entry(asset).or_default()
    }

    /// Event `i` as a leg, or `None` when it moves nothing under §7: failed
    /// or errored, zero, outside the window, or ETH between an address and
    /// the WETH contract (wrapping changes nothing).
    #[inline]
    fn leg(&mut self, i: usize) -> Result<Option<Leg<N>>, Overflow> {
        let ev = &self.ev;
        if ev.flags(i) & flags::MOVES_NOTHING != 0 {
            return Ok(None);
        }
        if self.windowed {
            let b = self.runs.at(i).block;
            if b == NO_BLOCK || b < self.spec.from_block.unwrap_or(0) || b > self.spec.to_block.unwrap_or(u64::MAX) {
                return Ok(None);
            }
        }
        let value = N::value(&mut self.big, i, ev.value.get(i)).ok_or(Overflow)?;
        if value.is_zero() {
            return Ok(None);
        }
        let asset = traced_asset(ev.asset(i), self.p.weth_asset);
        let (from, to) = self.parties.at(i);
        if asset == 0 && self.p.weth_contract.is_some_and(|w| w == from || w == to) {
            return Ok(None);
        }
        Ok(Some(Leg { event: i, asset, from, to, value }))
    }

    /// An ordinary event (§2, per asset). Returns the taint it delivered.
    fn event(&mut self, i: usize) -> Result<N, Overflow> {
        self.out.visited += 1;
        let Some(l) = self.leg(i)? else { return Ok(N::ZERO) };
        if self.share.is_some() {
            return self.event_shared(i, l);
        }
        let Some((delivered, ev_hop, lots)) = self.send_event(i, &l)? else { return Ok(N::ZERO) };
        self.receive(i, l.asset, l.to, l.value, delivered, ev_hop, lots, None)?;
        Ok(delivered)
    }

    /// The send half of ordinary event `i`: what it delivers, at which
    /// hop, as which lots (`None`: a transfer to itself, which delivers
    /// nothing). A seed transaction's event delivers all it moves, at hop 0.
    #[inline]
    fn send_event(&mut self, i: usize, l: &Leg<N>) -> Result<Option<(N, u32, Lots)>, Overflow> {
        let Some((x, hop)) = self.send(l.asset, l.from, l.to, l.value, BalAt::Event(i))? else { return Ok(None) };
        let seed_tx = !self.p.seed_txs.is_empty() && {
            let (f, t) = (self.ev.flags(i), self.ev.tx(i));
            f & flags::FEE == 0 && sub::class(self.ev.sub(i)) != sub::FEE && t != NO_TX && self.p.seed_txs.contains(&t)
        };
        Ok(Some(if seed_tx {
            self.acct(l.asset).seeded += (l.value - x).to_wide();
            (l.value, 0, Lots::One(true))
        } else if self.pieces.is_empty() {
            (x, hop, Lots::One(!x.is_zero()))
        } else {
            (x, hop, Lots::Pieces)
        }))
    }

    /// The shortfall rule at `u` before it sends `a` (§2).
    #[inline]
    fn shortfall(&mut self, asset: u32, u: u32, su: &mut Slot<N>, a: N, seed: bool) -> Result<(), Overflow> {
        if su.bal >= a {
            return Ok(());
        }
        let s = a - su.bal;
        let holds = match self.spec.policy {
            Policy::Haircut => !su.t.is_zero(),
            Policy::Poison => su.fl & POISONED != 0,
            Policy::Fifo => su.fl & HAS_QUEUE != 0,
        };
        if seed {
            let o = self.acct(asset);
            o.seeded += s.to_wide();
            o.unknown_origin += s.to_wide();
        } else if holds {
            self.acct(asset).unknown_origin += s.to_wide();
        }
        if self.spec.policy == Policy::Fifo
            && !seed
            && su.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, u))
        {
            q.push_front(Lot { amount: s.to_u256(), tainted: false });
        }
        su.bal = su.bal.add(s)?;
        Ok(())
    }

    /// `u` sends `a` of `asset`: the shortfall rule, then the taint `x` that
    /// leaves by the policy (FIFO: its lots left in `self.pieces`) and the
    /// hop of the event. `None` for a self-transfer (it only proves the
    /// balance).
    #[inline]
    fn send(&mut self, asset: u32, u: u32, v: u32, a: N, at: BalAt) -> Result<Option<(N, u32)>, Overflow> {
        self.pieces.clear();
        self.keep(asset, u);
        let seed = self.is_seed(asset, u);
        let mut su = self.get(asset, u);
        if let Some(l) = self.led {
            let b = match at {
                BalAt::Event(i) => l.sender(i),
                BalAt::Payer(_) => self.payer_bal,
            };
            su.bal = N::from_u128(b).ok_or(Overflow)?;
        } else if let Some(r) = &mut self.rec {
            let b = su.bal.stored();
            match at {
                BalAt::Event(i) => r.put(i, b),
                BalAt::Payer(t) => r.payer.push((t, b)),
            }
        }
        self.shortfall(asset, u, &mut su, a, seed)?;
        if u == v {
            self.put(asset, u, su);
            return Ok(None);
        }
        let x = if seed {
            a
        } else {
            match self.spec.policy {
                Policy::Poison => {
                    if su.fl & POISONED != 0 {
                        a
                    } else {
                        N::ZERO
                    }
                }
                Policy::Haircut if su.t.is_zero() => N::ZERO,
                // A venue keeps the taint it held when its own legs in a
                // followed swap move its balance (§7), so `t` can pass `b`:
                // then all it sends is tainted.
                Policy::Haircut if su.t >= su.bal => a,
                Policy::Haircut => N::haircut(a, su.t, su.bal),
                Policy::Fifo if su.fl & HAS_QUEUE != 0 => {
                    let k = pair(asset, u);
                    let q = self.queues.get_mut(&k).expect("a queue behind the flag");
                    q.take(a.to_u256(), &mut self.pieces);
                    if q.is_clean() {
                        self.queues.remove(&k);
                        su.fl &= !HAS_QUEUE;
                    }
                    N::from_u256(self.pieces.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount)).ok_or(Overflow)?
                }
                Policy::Fifo => N::ZERO,
            }
        };
        su.bal = su.bal - a;
        if self.spec.policy == Policy::Haircut && !seed {
            su.t = su.t - x;
        }
        let hop = if seed { 0 } else { su.hop() }.saturating_add(1);
        self.put(asset, u, su);
        Ok(Some((x, hop)))
    }

    /// `v` receives `a` of `asset` carrying `delivered` at hop `ev_hop` (FIFO:
    /// as `lots`), at event `i`. `crossed`: the arrival is a conversion's payout.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn receive(
        &mut self,
        i: usize,
        asset: u32,
        v: u32,
        a: N,
        delivered: N,
        ev_hop: u32,
        lots: Lots,
        crossed: Option<usize>,
    ) -> Result<(), Overflow> {
        self.keep(asset, v);
        let mut sv = self.get(asset, v);
        let arrival = || match crossed {
            Some(k) => Arrival::Crossed(k),
            None => Arrival::Event { event: i as u64, asset, x: delivered.to_u256(), hop: ev_hop },
        };
        if self.is_seed(asset, v) {
            // Every unit a seed receives is tainted; only what arrives clean is new.
            sv.bal = self.grow(sv.bal, a)?;
            self.put(asset, v, sv);
            self.acct(asset).seeded += (a - delivered).to_wide();
            if !delivered.is_zero() && self.spec.evidence {
                self.arrive(arrival(), i);
            }
            return Ok(());
        }
        let bal_before = sv.bal;
        sv.bal = self.grow(sv.bal, a)?;
        if delivered.is_zero() {
            if self.led.is_some() {
                // The sparse sweep keeps no balances: nothing to store.
                return Ok(());
            }
            if sv.fl & HAS_QUEUE != 0
                && let Some(q) = self.queues.get_mut(&pair(asset, v))
            {
                q.push_back(Lot { amount: a.to_u256(), tainted: false });
            }
            self.put(asset, v, sv);
            return Ok(());
        }
        if self.spec.evidence {
            self.arrive(arrival(), i);
        }
        let rule =
            if sv.fl & HORIZON == 0 && self.p.rules.contains_key(&v) { stop_at_time(&self.p.rules, v, self.ev.time(i)) } else { None };
        let absorbing = if v == self.fees_id {
            self.acct(asset).fees += delivered.to_wide();
            true
        } else if let Some(rule) = rule {
            self.out.by_asset.entry(asset).or_default().absorb(v, i as u64, rule, delivered.to_u256(), ev_hop);
            sv.set_hop(ev_hop);
            true
        } else if sv.fl & HORIZON != 0 || (sv.hop1 == 0 && self.spec.max_hops.is_some_and(|n| ev_hop >= n)) {
            sv.fl |= HORIZON;
            self.acct(asset).cut_off(v, delivered.to_wide(), ev_hop);
            true
        } else {
            false
        };
        if absorbing {
            if sv.fl & HAS_QUEUE != 0
                && let Some(q) = self.queues.get_mut(&pair(asset, v))
            {
                q.push_back(Lot { amount: a.to_u256(), tainted: false });
            }
            self.put(asset, v, sv);
            return Ok(());
        }
        sv.set_hop(ev_hop);
        set_bit(&mut self.send_hot, v);
        if let Some(m) = self.hot_assets.get_mut(v as usize) {
            *m |= asset_bit(asset);
        }
        match self.spec.policy {
            Policy::Poison => {
                sv.fl |= POISONED;
                sv.t = sv.t.add(delivered)?;
            }
            Policy::Haircut => sv.t = sv.t.add(delivered)?,
            Policy::Fifo => {
                let q = self.queues.entry(pair(asset, v)).or_insert_with(|| Queue::with(bal_before.to_u256(), false));
                match lots {
                    Lots::One(tainted) => q.push_back(Lot { amount: a.to_u256(), tainted }),
                    Lots::Pieces => {
                        for l in &self.pieces {
                            q.push_back(*l);
                        }
                    }
                    Lots::Mapped(ls) => {
                        for l in ls {
                            q.push_back(l);
                        }
                    }
                }
                sv.fl |= HAS_QUEUE;
            }
        }
        self.put(asset, v, sv);
        Ok(())
    }

    /// A leg's sender side that moves balance only (§7: inside a followed
    /// swap, venues and intermediaries neither take nor pass on taint).
    /// The ledger has its balance (a sender short of `a` counts unknown
    /// origin if it holds taint, as a venue may).
    fn debit(&mut self, asset: u32, u: u32, a: N, i: usize) -> Result<(), Overflow> {
        self.keep(asset, u);
        let mut su = self.get(asset, u);
        if let Some(l) = self.led {
            if !bit(&self.send_hot, u) {
                return Ok(());
            }
            su.bal = N::from_u128(l.sender(i)).ok_or(Overflow)?;
            self.shortfall(asset, u, &mut su, a, false)?;
            self.put(asset, u, su);
            return Ok(());
        }
        if let Some(r) = &mut self.rec {
            r.put(i, su.bal.stored());
            if su.bal < a {
                r.short.push(self.ev.tx(i));
            }
        }
        self.shortfall(asset, u, &mut su, a, false)?;
        su.bal = su.bal - a;
        if su.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, u))
        {
            q.take_clean(a.to_u256());
        }
        self.put(asset, u, su);
        Ok(())
    }

    /// A leg's receiver side that moves balance only.
    fn credit(&mut self, asset: u32, v: u32, a: N) -> Result<(), Overflow> {
        if self.led.is_some() {
            return Ok(());
        }
        self.keep(asset, v);
        let mut sv = self.get(asset, v);
        sv.bal = sv.bal.add(a)?;
        if sv.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, v))
        {
            q.push_back(Lot { amount: a.to_u256(), tainted: false });
        }
        self.put(asset, v, sv);
        Ok(())
    }

    /// A followable swap's transaction, events `[start, end)`. Returns why
    /// it was not followed (and changes nothing) when a seed takes part
    /// other than as payer or payee: then it is traced as ordinary events.
    fn swap(&mut self, events: &[usize], s: &Swap, venues: &[u32]) -> Result<Option<&'static str>, Overflow> {
        let weth = self.p.weth_asset;
        let (asset_a, asset_b) = (traced_asset(s.sold.0, weth), traced_asset(s.bought.0, weth));
        let a = N::from_u256(s.sold.1.0).ok_or(Overflow)?;
        let b = N::from_u256(s.bought.1.0).ok_or(Overflow)?;
        // Buffers kept from swap to swap: a sweep meets hundreds of thousands.
        let (mut legs, mut fees) = (std::mem::take(&mut self.legs), std::mem::take(&mut self.fees));
        legs.clear();
        fees.clear();
        let out = self.swap_legs(events, s, venues, (asset_a, asset_b, a, b), &mut legs, &mut fees);
        (self.legs, self.fees) = (legs, fees);
        out
    }

    /// [`Sweep::swap`] with its legs' and fees' buffers (empty) and its
    /// assets and amounts as traced.
    #[allow(clippy::too_many_arguments)]
    fn swap_legs(
        &mut self,
        events: &[usize],
        s: &Swap,
        venues: &[u32],
        (asset_a, asset_b, a, b): (u32, u32, N, N),
        legs: &mut Vec<Leg<N>>,
        fees: &mut Vec<usize>,
    ) -> Result<Option<&'static str>, Overflow> {
        let (u, r) = (s.payer, s.payee);
        self.split(events, legs, fees)?;
        let aggregated = |asset: u32, addr: u32| (asset == asset_a && addr == u) || (asset == asset_b && addr == r);
        let first = legs.iter().find(|l| l.asset == asset_a && (l.from == u || l.to == u)).map(|l| l.event);
        let last = legs.iter().rev().find(|l| l.asset == asset_b && (l.from == r || l.to == r)).map(|l| l.event);
        let (Some(first), Some(last)) = (first, last) else {
            // Outside the window: its events move nothing.
            for &i in events {
                self.event(i)?;
            }
            return Ok(None);
        };
        let seed = &self.p.seed;
        if legs
            .iter()
            .any(|l| (!aggregated(l.asset, l.from) && seed[l.from as usize]) || (!aggregated(l.asset, l.to) && seed[l.to as usize]))
        {
            return Ok(Some("seed"));
        }
        self.out.visited += events.len() as u64;
        if self.share.is_some() {
            return self.swap_shared(events, s, venues, (asset_a, asset_b, a, b), (first, last), legs, fees);
        }
        let (y, lots, hop, crossed) = self.pay_in(events, s, venues, (asset_a, asset_b, a, b), (first, last))?;
        for l in legs.iter() {
            if !aggregated(l.asset, l.from) {
                self.debit(l.asset, l.from, l.value, l.event)?;
            }
            if !aggregated(l.asset, l.to) {
                self.credit(l.asset, l.to, l.value)?;
            }
        }
        // The payee receives `b` of B carrying `y`.
        self.receive(last, asset_b, r, b, y, hop, lots, crossed)?;
        for &i in fees.iter() {
            self.event(i)?;
        }
        Ok(None)
    }

    /// The payer's side of a followed swap: its legs in A leave as one
    /// outflow of `a`, which carries `x`. Returns `y`, the payee's lots, the
    /// payee's hop, and the conversion's index in `crossed` where taint went in.
    #[allow(clippy::type_complexity)]
    fn pay_in(
        &mut self,
        events: &[usize],
        s: &Swap,
        venues: &[u32],
        (asset_a, asset_b, a, b): (u32, u32, N, N),
        (first, last): (usize, usize),
    ) -> Result<(N, Lots, u32, Option<usize>), Overflow> {
        let tx = self.ev.tx(events[0]);
        let (x, hop) = self.send(asset_a, s.payer, u32::MAX, a, BalAt::Payer(tx))?.expect("the payer never pays itself");
        let pieces = std::mem::take(&mut self.pieces);
        let (y, lots) = carry(self.spec.policy, x, a, b, pieces)?;
        let c = Crossed {
            tx,
            first_event: first as u64,
            last_event: last as u64,
            payer: s.payer,
            payee: s.payee,
            venues: venues.to_vec(),
            asset_in: asset_a,
            value_in: a.to_u256(),
            taint_in: x.to_u256(),
            asset_out: asset_b,
            value_out: b.to_u256(),
            taint_out: y.to_u256(),
            hop,
            loss: (false, U512::ZERO),
            bridge: None,
        };
        let crossed = self.cross(c, asset_a);
        Ok((y, lots, hop, crossed))
    }

    /// Count a followed conversion that carried taint (`x > 0`): its
    /// terms in the conservation of both assets and its rounding loss; its
    /// index in `crossed`. `asset_in` is this store's asset sold, `None`
    /// for a bridge payout (the deposit's store counts what left).
    fn cross(&mut self, mut c: Crossed, asset_in: u32) -> Option<usize> {
        if c.taint_in.is_zero() {
            return None;
        }
        if c.bridge.is_none() {
            *self.out.converted_out.entry(asset_in).or_default() += Wide::from(c.taint_in);
        }
        *self.out.converted_in.entry(c.asset_out).or_default() += Wide::from(c.taint_out);
        let (xb, ya) = (U512::from(c.taint_in) * U512::from(c.value_out), U512::from(c.taint_out) * U512::from(c.value_in));
        c.loss = if xb >= ya { (false, xb - ya) } else { (true, ya - xb) };
        // Rounded away from zero to a whole base unit.
        // At most the amount bought (below 2^256): exact in a `Wide`.
        let whole = Wide::saturating_from(c.loss.1.div_ceil(U512::from(c.value_in)));
        let r = self.out.rounding.entry(c.asset_out).or_default();
        if c.loss.0 {
            r.down += whole
        } else {
            r.up += whole
        }
        self.out.crossed.push(c);
        Some(self.out.crossed.len() - 1)
    }

    /// Split a transaction's events into its legs (as traced) and its fees.
    fn split(&mut self, events: &[usize], legs: &mut Vec<Leg<N>>, fees: &mut Vec<usize>) -> Result<(), Overflow> {
        for &i in events {
            if self.ev.flags(i) & flags::FEE != 0 || sub::class(self.ev.sub(i)) == sub::FEE {
                fees.push(i);
                continue;
            }
            if let Some(l) = self.leg(i)? {
                legs.push(l);
            }
        }
        Ok(())
    }

    /// A bridge deposit (§7): the payer's legs in `A` leave as one outflow
    /// of `a` carrying `x`; the bridge's legs move balances only. Followed,
    /// `x` is handed to the payout's sweep (`sent`) and counted converted
    /// out; otherwise it stays with the bridge, a destination of category
    /// `bridge` at the address that received the deposit.
    fn bridge_deposit(&mut self, t: u32, events: &[usize], d: &DepositPlan) -> Result<(), Overflow> {
        let (mut legs, mut fees) = (Vec::new(), Vec::new());
        self.split(events, &mut legs, &mut fees)?;
        let (u, asset_a) = (d.payer, d.asset);
        let a = N::from_u256(d.a).ok_or(Overflow)?;
        let first = legs.iter().find(|l| l.asset == asset_a && l.from == u).map(|l| l.event);
        let seed = &self.p.seed;
        let seed_inside = legs.iter().any(|l| {
            let payer = |addr: u32| l.asset == asset_a && addr == u;
            (!payer(l.from) && seed[l.from as usize]) || (!payer(l.to) && seed[l.to as usize])
        });
        let Some(first) = first.filter(|_| !seed_inside) else {
            // Outside the window, or a seed inside: ordinary events.
            for &i in events {
                self.event(i)?;
            }
            if d.followed {
                self.sent.push((d.k, Carried::default()));
            }
            return Ok(());
        };
        self.out.visited += events.len() as u64;
        let (x, hop) = self.send(asset_a, u, u32::MAX, a, BalAt::Payer(t))?.expect("the payer never pays itself");
        let pieces = std::mem::take(&mut self.pieces);
        for l in &legs {
            if !(l.asset == asset_a && l.from == u) {
                self.debit(l.asset, l.from, l.value, l.event)?;
            }
            if !(l.asset == asset_a && l.to == u) {
                self.credit(l.asset, l.to, l.value)?;
            }
        }
        if d.followed {
            if !x.is_zero() {
                *self.out.converted_out.entry(asset_a).or_default() += x.to_wide();
            }
            let lots = if self.spec.policy == Policy::Fifo { pieces } else { Vec::new() };
            self.sent.push((d.k, Carried { x: x.to_u256(), hop, lots }));
        } else if !x.is_zero() {
            let rule = StopRule::bridge(d.bridge, d.status);
            if self.spec.evidence {
                // The deposit's legs from the payer to the holder, for its evidence path.
                for l in legs.iter().filter(|l| l.asset == asset_a && l.from != d.holder && l.to != u) {
                    self.out.arrivals.push(Arrival::Event { event: l.event as u64, asset: asset_a, x: x.to_u256(), hop });
                }
            }
            self.acct(asset_a).absorb(d.holder, first as u64, &rule, x.to_u256(), hop);
            self.out.unfollowed.push(Unfollowed {
                tx: t,
                first_event: events[0] as u64,
                venues: vec![d.holder],
                reason: d.status,
                taint: BTreeMap::from([(asset_a, x.to_wide())]),
            });
        }
        for &i in &fees {
            self.event(i)?;
        }
        Ok(())
    }

    /// A bridge payout (§7): the payee receives `b` of `B` carrying `y`
    /// from what its deposit carried; every other leg (the bridge's)
    /// moves balances only.
    fn bridge_payout(&mut self, t: u32, events: &[usize], q: &PayoutPlan) -> Result<(), Overflow> {
        let Some(c) = self.received.remove(&q.k) else {
            // The deposit was not followed after all (a seed inside it).
            for &i in events {
                self.event(i)?;
            }
            return Ok(());
        };
        let (mut legs, mut fees) = (Vec::new(), Vec::new());
        self.split(events, &mut legs, &mut fees)?;
        let (r, asset_b) = (q.payee, q.asset);
        let seed = &self.p.seed;
        let payee = |asset: u32, addr: u32| asset == asset_b && addr == r;
        if legs.iter().any(|l| (!payee(l.asset, l.from) && seed[l.from as usize]) || (!payee(l.asset, l.to) && seed[l.to as usize])) {
            for &i in events {
                self.event(i)?;
            }
            return Ok(());
        }
        self.out.visited += events.len() as u64;
        let (a, b) = (N::from_u256(q.a).ok_or(Overflow)?, N::from_u256(q.b).ok_or(Overflow)?);
        let x = N::from_u256(c.x).ok_or(Overflow)?;
        for l in &legs {
            if !payee(l.asset, l.from) {
                self.debit(l.asset, l.from, l.value, l.event)?;
            }
            if !payee(l.asset, l.to) {
                self.credit(l.asset, l.to, l.value)?;
            }
        }
        let (y, lots) = carry(self.spec.policy, x, a, b, c.lots)?;
        let crossed = self.cross(
            Crossed {
                tx: t,
                first_event: events[0] as u64,
                last_event: q.event as u64,
                payer: u32::MAX,
                payee: r,
                venues: Vec::new(),
                asset_in: u32::MAX,
                value_in: q.a,
                taint_in: c.x,
                asset_out: asset_b,
                value_out: q.b,
                taint_out: y.to_u256(),
                hop: c.hop,
                loss: (false, U512::ZERO),
                bridge: Some(q.from.clone()),
            },
            u32::MAX,
        );
        self.receive(q.event, asset_b, r, b, y, c.hop, lots, crossed)?;
        for &i in &fees {
            self.event(i)?;
        }
        Ok(())
    }

    /// A conversion that is not followed: its events traced as ordinary
    /// ones; listed when they carried taint.
    fn unfollowed(&mut self, events: &[usize], venues: &[u32], reason: &'static str) -> Result<(), Overflow> {
        let mut reached = false;
        let mut taint: BTreeMap<u32, Wide> = BTreeMap::new();
        for &i in events {
            if self.led.is_some() && !self.hot(i) {
                continue;
            }
            let d = self.event(i)?;
            if d.is_zero() {
                continue;
            }
            reached = true;
            if venues.contains(&self.ev.receiver(i)) {
                *taint.entry(traced_asset(self.ev.asset(i), self.p.weth_asset)).or_default() += d.to_wide();
            }
        }
        if reached {
            self.out.unfollowed.push(Unfollowed {
                tx: self.ev.tx(events[0]),
                first_event: events[0] as u64,
                venues: venues.to_vec(),
                reason,
                taint,
            });
        }
        Ok(())
    }

    /// Every slot that holds something, in no particular order.
    fn slots(&self) -> Vec<(u32, u32, Slot<N>)> {
        self.dense
            .iter()
            .enumerate()
            .flat_map(|(asset, d)| {
                d.iter()
                    .enumerate()
                    .filter(|(_, s)| !s.bal.is_zero() || !s.t.is_zero() || s.fl & HAS_QUEUE != 0)
                    .map(move |(a, s)| (asset as u32, a as u32, *s))
            })
            .chain(self.tok.iter().map(|(&k, s)| ((k >> 32) as u32, k as u32, *s)))
            .collect()
    }

    /// The balances left at the end, sorted, for the ledger.
    fn finals(&self) -> Vec<(u32, u32, u128)> {
        let mut f: Vec<(u32, u32, u128)> =
            self.slots().into_iter().filter(|(_, _, s)| !s.bal.is_zero()).map(|(a, x, s)| (a, x, s.bal.stored())).collect();
        f.sort_unstable();
        f
    }

    /// What is left where, per asset.
    fn finish(&mut self) -> Result<(), Overflow> {
        let policy = self.spec.policy;
        let mut slots = self.slots();
        if let Some(l) = self.led {
            // The balances the sparse sweep left unkept, read in key order.
            let mut need: Vec<usize> = (0..slots.len())
                .filter(|&k| {
                    let (asset, addr, s) = slots[k];
                    self.is_seed(asset, addr) || (policy == Policy::Poison && s.fl & POISONED != 0)
                })
                .collect();
            need.sort_unstable_by_key(|&k| pair(slots[k].0, slots[k].1));
            let keys: Vec<u64> = need.iter().map(|&k| pair(slots[k].0, slots[k].1)).collect();
            for (&k, b) in need.iter().zip(l.fins(&keys)) {
                slots[k].2.bal = N::from_u128(b).ok_or(Overflow)?;
            }
        }
        for (asset, addr, s) in slots {
            let seed = self.is_seed(asset, addr);
            if seed {
                if !s.bal.is_zero() {
                    self.acct(asset).held_by_seeds += s.bal.to_wide();
                }
                continue;
            }
            let held = match policy {
                Policy::Haircut => s.t.to_wide(),
                Policy::Poison if !s.bal.is_zero() => s.t.to_wide(),
                Policy::Poison => Wide::ZERO,
                Policy::Fifo => self.queues.get(&pair(asset, addr)).map_or(Wide::ZERO, |q| Wide::from(q.tainted())),
            };
            if !held.is_zero() {
                self.acct(asset).dormant.insert(addr, (held, s.hop()));
            }
        }
        Ok(())
    }

    /// Under a balance of `bal`, `a` arrives; the sparse sweep keeps no balances.
    #[inline]
    fn grow(&self, bal: N, a: N) -> Result<N, Overflow> {
        if self.led.is_some() { Ok(bal) } else { bal.add(a) }
    }

    /// The sparse sweep: whether event `i` may matter now.
    fn hot(&self, i: usize) -> bool {
        bit(&self.send_hot, self.ev.sender(i)) || self.seed_receipt(self.ev.receiver(i))
    }

    /// The sparse sweep: whether `t` is a seed, whose every receipt counts.
    #[inline]
    fn seed_receipt(&self, t: u32) -> bool {
        self.seed_bloom & super::ledger::bloom(t) != 0 && self.p.seed.get(t as usize).copied().unwrap_or(false)
    }

    /// The full sweep's recording no longer holds for every question.
    fn spoil(&mut self) {
        if let Some(r) = &mut self.rec {
            r.spoiled = true;
        }
    }

    /// A conversion's transaction, handled whole at its first event.
    fn conversion(&mut self, t: u32, events: &[usize]) -> Result<(), Overflow> {
        let p = self.p;
        if let Some(d) = p.bridges.deposits.get(&t) {
            return self.bridge_deposit(t, events, d);
        }
        if let Some(q) = p.bridges.payouts.get(&t) {
            return self.bridge_payout(t, events, q);
        }
        let not_followed = match p.followable.get(&t) {
            Some((s, venues)) => self.swap(events, s, venues)?.map(|r| (r, venues)),
            None => Some(("ambiguous", &p.ambiguous[&t])),
        };
        if let Some((reason, venues)) = not_followed {
            if reason == "seed" {
                // The ledger would count this swap followed.
                self.spoil();
            }
            self.unfollowed(events, venues, reason)?;
        }
        Ok(())
    }

    /// The sparse sweep's [`Sweep::conversion`], from the ledger's record.
    fn sparse_conversion(&mut self, c: &super::ledger::Conv<'_>) -> Result<(), Overflow> {
        let Some((s, payer_bal)) = &c.swap else {
            return self.unfollowed(c.events, c.venues, "ambiguous");
        };
        let seed = &self.p.seed;
        let seed_inside = c.parties & self.seed_bloom != 0
            && c.events.iter().any(|&k| seed[self.ev.sender(k) as usize] || seed[self.ev.receiver(k) as usize]);
        // A leg's sender short of its amount counts unknown origin only if
        // it holds taint (§2), so a short leg matters only from a hot sender.
        let short_hot = c.short && c.events.iter().any(|&k| bit(&self.send_hot, self.ev.sender(k)));
        if !seed_inside && !short_hot && !bit(&self.send_hot, s.payer) && !self.seed_receipt(s.payee) {
            // No taint goes in, and its legs move only balances, which the
            // ledger has (no hot sender short: no unknown origin to count at
            // a venue): only a fee paid by a hot sender may matter.
            if c.has_fees && c.fee_sender.is_none_or(|f| bit(&self.send_hot, f)) {
                for &k in c.events {
                    if (self.ev.flags(k) & flags::FEE != 0 || sub::class(self.ev.sub(k)) == sub::FEE) && self.hot(k) {
                        self.event(k)?;
                    }
                }
            }
            return Ok(());
        }
        self.payer_bal = *payer_bal;
        match self.swap(c.events, s, c.venues)? {
            None => Ok(()),
            // A seed inside: the ledger counts the swap followed, the question does not.
            Some(_) => Err(Overflow),
        }
    }
}

/// Evidence paths across conversions (TRACING.md §5, §7): tainted arrivals
/// by (asset, receiver), walked back from a destination through ordinary
/// events and through followed conversions (from the payee in the asset
/// bought to the payer in the asset sold).
pub struct PathIndex<'a> {
    by_to: PairMap<Vec<(u64, Arrival)>>,
    followed: &'a Followed,
}

impl<'a> PathIndex<'a> {
    /// Index a trace's arrivals.
    pub fn new(store: &Store, followed: &'a Followed) -> Self {
        let ev = store.events();
        let mut by_to: PairMap<Vec<(u64, Arrival)>> = PairMap::default();
        for &a in &followed.arrivals {
            let (key, asset, to) = match a {
                Arrival::Event { event, asset, .. } => (event, asset, ev.receiver(event as usize)),
                Arrival::Crossed(k) => {
                    let c = &followed.crossed[k];
                    (c.last_event, c.asset_out, c.payee)
                }
            };
            by_to.entry(pair(asset, to)).or_default().push((key, a));
        }
        PathIndex { by_to, followed }
    }

    /// The taint an arrival carried.
    pub fn taint(&self, a: &Arrival) -> U256 {
        match *a {
            Arrival::Event { x, .. } => x,
            Arrival::Crossed(k) => self.followed.crossed[k].taint_out,
        }
    }

    /// Up to `k` paths ending at `dest` in `asset`, the ones whose last
    /// step carried the most taint first; each walked back greedily (the
    /// sender's largest earlier tainted arrival) until `is_source` holds:
    /// it is asked of an ordinary event's (asset, sender, event) and of a
    /// conversion's (asset sold, payer, first leg).
    pub fn paths(&self, store: &Store, asset: u32, dest: u32, k: usize, is_source: &dyn Fn(u32, u32, u64) -> bool) -> Vec<Vec<Arrival>> {
        let Some(arrivals) = self.by_to.get(&pair(asset, dest)) else { return Vec::new() };
        let mut last: Vec<&(u64, Arrival)> = arrivals.iter().collect();
        last.sort_by(|a, b| self.taint(&b.1).cmp(&self.taint(&a.1)).then(a.0.cmp(&b.0)));
        let mut paths = Vec::new();
        for &&(_, end) in last.iter().take(k) {
            paths.push(self.walk(store, end, is_source));
        }
        paths
    }

    /// The path from `end` walked back greedily (the sender's largest
    /// earlier tainted arrival) until `is_source` holds, first step first.
    fn walk(&self, store: &Store, end: Arrival, is_source: &dyn Fn(u32, u32, u64) -> bool) -> Vec<Arrival> {
        let ev = store.events();
        let mut path = vec![end];
        let mut cur = end;
        // A path's keys decrease as it is walked back (a conversion's
        // own legs record no arrival), so it ends; the bound is a guard.
        while path.len() <= 100_000 {
            let (asset, from, before) = match cur {
                Arrival::Event { event, asset, hop, .. } => {
                    if hop == 0 || is_source(asset, ev.sender(event as usize), event) {
                        break;
                    }
                    (asset, ev.sender(event as usize), event)
                }
                Arrival::Crossed(k) => {
                    let c = &self.followed.crossed[k];
                    if is_source(c.asset_in, c.payer, c.first_event) {
                        break;
                    }
                    (c.asset_in, c.payer, c.first_event)
                }
            };
            match self.before(asset, from, before) {
                Some(p) => {
                    path.push(p);
                    cur = p;
                }
                None => break,
            }
        }
        path.reverse();
        path
    }

    /// `addr`'s largest tainted arrival in `asset` before key `before`.
    fn before(&self, asset: u32, addr: u32, before: u64) -> Option<Arrival> {
        self.by_to.get(&pair(asset, addr)).and_then(|v| {
            v.iter().filter(|p| p.0 < before).max_by(|a, b| self.taint(&a.1).cmp(&self.taint(&b.1)).then(b.0.cmp(&a.0))).map(|p| p.1)
        })
    }

    /// The path that brought taint to `addr` in `asset` before event
    /// `before` (a bridge deposit's payer before its deposit): empty when
    /// `addr` is a source there or nothing tainted arrived.
    pub fn path_to(&self, store: &Store, asset: u32, addr: u32, before: u64, is_source: &dyn Fn(u32, u32, u64) -> bool) -> Vec<Arrival> {
        if is_source(asset, addr, before) {
            return Vec::new();
        }
        self.before(asset, addr, before).map(|a| self.walk(store, a, is_source)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Rounding, Wide};

    /// Two conversions each rounded by 2^255 (a poison trace of a token
    /// with a huge supply): the sum is exact, where an i128 overflowed.
    #[test]
    fn rounding_sums_are_exact_past_128_bits() {
        let half = Wide::from(1u8) << 255;
        let mut r = Rounding::default();
        r += Rounding { up: half, down: Wide::ZERO };
        r += Rounding { up: half, down: Wide::from(3u8) };
        assert_eq!(r.to_string(), "115792089237316195423570985008687907853269984665640564039457584007913129639933");
        assert_eq!(Rounding { up: Wide::from(2u8), down: Wide::from(5u8) }.to_string(), "-3");
        assert_eq!(Rounding::default().to_string(), "0");
    }
}
