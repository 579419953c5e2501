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
use super::num::{haircut, narrow};
use super::rules::{IdHasher, IdMap, StopRule, stop_at_time, stop_rules};
use super::types::{Outcome, Policy, Spec, TraceError, Wide};
use crate::convert::detect::{Conversion, Swap};
use crate::convert::topics::WETH;
use crate::model::{NO_BLOCK, NO_TX, Pseudo, flags, sub};
use crate::store::Store;
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasherDefault;

type U512 = ruint::Uint<512, 8>;

/// What `--follow` carries taint through (TRACING.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Follow {
    /// DEX swaps detected from the store's swap logs.
    Swaps,
    /// Bridge deposits matched to payouts by the bridge's own key (not built yet: issue 16).
    Bridges,
    /// Bridges matched by address, amount and time (not built yet: issue 16).
    BridgesHeuristic,
}
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
}

impl Crossed {
    /// The rounding loss `x * b / a - y` in base units of the asset bought,
    /// exactly: `"0"`, an integer, or a reduced fraction `"n/d"`.
    pub fn rounding(&self) -> String {
        let (neg, n) = self.loss;
        if n.is_zero() {
            return "0".into();
        }
        let d = U512::from(self.value_in);
        let g = n.gcd(d);
        let (n, d) = (n / g, d / g);
        let sign = if neg { "-" } else { "" };
        if d == U512::from(1u8) { format!("{sign}{n}") } else { format!("{sign}{n}/{d}") }
    }
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
    pub rounding: BTreeMap<u32, i128>,
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
    /// The store's WETH asset id (read as ETH, id 0), if it has WETH.
    pub weth_asset: Option<u32>,
    /// `--asset` as traced (WETH read as ETH): seeds are sources in it only.
    pub seed_asset: Option<u32>,
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

/// An address's state in one asset.
#[derive(Clone, Copy, Default)]
struct Slot {
    bal: Wide,
    t: Wide,
    /// Smallest hop + 1 at which it held taint; 0: never.
    hop1: u32,
    fl: u8,
}

impl Slot {
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

struct Sweep<'a> {
    store: &'a Store,
    spec: &'a Spec,
    rules: IdMap<Vec<StopRule>>,
    /// Seed addresses by id.
    seed: Vec<bool>,
    /// `--asset`: seeds are sources in this asset only.
    seed_asset: Option<u32>,
    seed_txs: HashSet<u32>,
    eth: Vec<Slot>,
    tok: PairMap<Slot>,
    queues: PairMap<Queue>,
    out: Followed,
    weth_contract: Option<u32>,
    fees_id: u32,
}

/// Under `--follow`, the asset an event is traced in: WETH is ETH.
fn traced_asset(asset: u32, weth: Option<u32>) -> u32 {
    if Some(asset) == weth { 0 } else { asset }
}

/// Run a `--follow swaps` trace. `spec.asset` is ignored; `seed_asset`
/// narrows the assets in which seeds are sources (`--asset`).
pub fn run_follow(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Followed, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    if store.manifest.chain == crate::model::Chain::Bitcoin {
        return Err(TraceError::Usage("--follow swaps needs an account-model store (Ethereum): Bitcoin has no swap logs".into()));
    }
    if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
        return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()));
    }
    let weth_name = format!("0x{}", hex::encode(WETH));
    let weth_asset = store.manifest.assets.iter().position(|a| *a == weth_name).map(|k| k as u32);
    let n_addr = store.address_count();
    let mut seed = vec![false; n_addr];
    for &s in &spec.seeds {
        seed[s as usize] = true;
    }
    let mut sw = Sweep {
        store,
        spec,
        rules: stop_rules(store, &spec.stop_at, &|a| a)?,
        seed,
        seed_asset: seed_asset.map(|a| traced_asset(a, weth_asset)),
        seed_txs: spec.seed_txs.iter().copied().collect(),
        eth: vec![Slot::default(); n_addr],
        tok: PairMap::default(),
        queues: PairMap::default(),
        out: Followed { weth_asset, ..Default::default() },
        weth_contract: store.find_address(&weth_name),
        fees_id: Pseudo::Fees.id(),
    };
    sw.out.seed_asset = sw.seed_asset;
    for &s in &spec.seeds {
        if sw.rules.contains_key(&s) {
            sw.out.seed_stop_warnings.push(s);
        }
    }
    let mut followable: HashMap<u32, (Swap, Vec<u32>)> = HashMap::new();
    let mut ambiguous: HashMap<u32, Vec<u32>> = HashMap::new();
    for f in super::conversions::list(store) {
        match f.conversion {
            Conversion::Swap(s) => {
                followable.insert(f.tx, (s, f.venues));
            }
            Conversion::Ambiguous(_) => {
                ambiguous.insert(f.tx, f.venues);
            }
        }
    }
    let ev = store.events();
    let n = store.len();
    let mut i = 0usize;
    while i < n {
        let t = ev.tx(i);
        let conv =
            if t == NO_TX { None } else { followable.get(&t).map(|(s, v)| (Some(s), v)).or_else(|| ambiguous.get(&t).map(|v| (None, v))) };
        let Some((swap, venues)) = conv else {
            sw.event(i)?;
            i += 1;
            continue;
        };
        let mut end = i + 1;
        while end < n && ev.tx(end) == t {
            end += 1;
        }
        if sw.seed_txs.contains(&t) {
            // Its events are sources in their own right: never a conversion.
            for k in i..end {
                sw.event(k)?;
            }
        } else {
            let followed = match swap {
                Some(s) => sw.swap(i, end, s, venues)?,
                None => false,
            };
            if !followed {
                let reason = if swap.is_some() { "seed" } else { "ambiguous" };
                sw.unfollowed(i, end, venues, reason)?;
            }
        }
        i = end;
    }
    sw.finish();
    Ok(sw.out)
}

/// One value event as the sweep reads it.
struct Leg {
    event: usize,
    asset: u32,
    from: u32,
    to: u32,
    value: Wide,
}

impl Sweep<'_> {
    fn is_seed(&self, asset: u32, addr: u32) -> bool {
        self.seed[addr as usize] && self.seed_asset.is_none_or(|a| a == asset)
    }

    fn get(&self, asset: u32, addr: u32) -> Slot {
        if asset == 0 { self.eth[addr as usize] } else { self.tok.get(&pair(asset, addr)).copied().unwrap_or_default() }
    }

    fn put(&mut self, asset: u32, addr: u32, s: Slot) {
        if asset == 0 {
            self.eth[addr as usize] = s;
        } else {
            self.tok.insert(pair(asset, addr), s);
        }
    }

    fn acct(&mut self, asset: u32) -> &mut Outcome {
        self.out.by_asset.entry(asset).or_default()
    }

    /// Event `i` as a leg, or `None` when it moves nothing under §7: failed
    /// or errored, zero, outside the window, or ETH between an address and
    /// the WETH contract (wrapping changes nothing).
    fn leg(&self, i: usize) -> Result<Option<Leg>, TraceError> {
        let ev = self.store.events();
        if ev.flags(i) & flags::MOVES_NOTHING != 0 {
            return Ok(None);
        }
        if self.spec.from_block.is_some() || self.spec.to_block.is_some() {
            let b = ev.block(i);
            if b == NO_BLOCK || b < self.spec.from_block.unwrap_or(0) || b > self.spec.to_block.unwrap_or(u64::MAX) {
                return Ok(None);
            }
        }
        let value = Wide::from(self.store.value(i).0);
        if value.is_zero() {
            return Ok(None);
        }
        let asset = traced_asset(ev.asset(i), self.out.weth_asset);
        let (from, to) = (ev.sender(i), ev.receiver(i));
        if asset == 0 && self.weth_contract.is_some_and(|w| w == from || w == to) {
            return Ok(None);
        }
        Ok(Some(Leg { event: i, asset, from, to, value }))
    }

    /// An ordinary event (§2, per asset). Returns the taint it delivered.
    fn event(&mut self, i: usize) -> Result<Wide, TraceError> {
        self.out.visited += 1;
        let Some(l) = self.leg(i)? else { return Ok(Wide::ZERO) };
        let ev = self.store.events();
        let Some((x, pieces, hop)) = self.send(l.asset, l.from, l.to, l.value) else { return Ok(Wide::ZERO) };
        let is_fee = ev.flags(i) & flags::FEE != 0 || sub::class(ev.sub(i)) == sub::FEE;
        let seed_tx = !is_fee && ev.tx(i) != NO_TX && self.seed_txs.contains(&ev.tx(i));
        let (delivered, ev_hop, lots) = if seed_tx {
            self.acct(l.asset).seeded += l.value - x;
            (l.value, 0, vec![Lot { amount: narrow(l.value), tainted: true }])
        } else if pieces.is_empty() {
            (x, hop, vec![Lot { amount: narrow(l.value), tainted: !x.is_zero() }])
        } else {
            (x, hop, pieces)
        };
        self.receive(i, l.asset, l.to, l.value, delivered, ev_hop, lots, None);
        Ok(delivered)
    }

    /// The shortfall rule at `u` before it sends `a` (§2).
    fn shortfall(&mut self, asset: u32, u: u32, su: &mut Slot, a: Wide, seed: bool) {
        if su.bal >= a {
            return;
        }
        let s = a - su.bal;
        let holds = match self.spec.policy {
            Policy::Haircut => !su.t.is_zero(),
            Policy::Poison => su.fl & POISONED != 0,
            Policy::Fifo => su.fl & HAS_QUEUE != 0,
        };
        if seed {
            let o = self.acct(asset);
            o.seeded += s;
            o.unknown_origin += s;
        } else if holds {
            self.acct(asset).unknown_origin += s;
        }
        if self.spec.policy == Policy::Fifo
            && !seed
            && su.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, u))
        {
            q.push_front(Lot { amount: narrow(s), tainted: false });
        }
        su.bal += s;
    }

    /// `u` sends `a` of `asset`: the shortfall rule, then the taint `x` that
    /// leaves by the policy, the lots it leaves as (FIFO), and the hop of
    /// the event. `None` for a self-transfer (it only proves the balance).
    fn send(&mut self, asset: u32, u: u32, v: u32, a: Wide) -> Option<(Wide, Vec<Lot>, u32)> {
        let seed = self.is_seed(asset, u);
        let mut su = self.get(asset, u);
        self.shortfall(asset, u, &mut su, a, seed);
        if u == v {
            self.put(asset, u, su);
            return None;
        }
        let mut pieces = Vec::new();
        let x = if seed {
            a
        } else {
            match self.spec.policy {
                Policy::Poison => {
                    if su.fl & POISONED != 0 {
                        a
                    } else {
                        Wide::ZERO
                    }
                }
                // A venue keeps the taint it held when its own legs in a
                // followed swap move its balance (§7), so `t` can pass `b`:
                // then all it sends is tainted.
                Policy::Haircut if su.t >= su.bal => a.min(su.t),
                Policy::Haircut => Wide::from(haircut(narrow(a), su.t, su.bal)),
                Policy::Fifo if su.fl & HAS_QUEUE != 0 => {
                    let k = pair(asset, u);
                    let q = self.queues.get_mut(&k).expect("a queue behind the flag");
                    q.take(narrow(a), &mut pieces);
                    if q.is_clean() {
                        self.queues.remove(&k);
                        su.fl &= !HAS_QUEUE;
                    }
                    Wide::from(pieces.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount))
                }
                Policy::Fifo => Wide::ZERO,
            }
        };
        su.bal -= a;
        if self.spec.policy == Policy::Haircut && !seed {
            su.t -= x;
        }
        let hop = if seed { 0 } else { su.hop() }.saturating_add(1);
        self.put(asset, u, su);
        Some((x, pieces, hop))
    }

    /// `v` receives `a` of `asset` carrying `delivered` at hop `ev_hop` (FIFO:
    /// as `lots`), at event `i`. `crossed`: the arrival is a conversion's payout.
    #[allow(clippy::too_many_arguments)]
    fn receive(&mut self, i: usize, asset: u32, v: u32, a: Wide, delivered: Wide, ev_hop: u32, lots: Vec<Lot>, crossed: Option<usize>) {
        let evidence = self.spec.evidence;
        let mut sv = self.get(asset, v);
        let arrival = || match crossed {
            Some(k) => Arrival::Crossed(k),
            None => Arrival::Event { event: i as u64, asset, x: narrow(delivered), hop: ev_hop },
        };
        if self.is_seed(asset, v) {
            // Every unit a seed receives is tainted; only what arrives clean is new.
            sv.bal += a;
            self.put(asset, v, sv);
            self.acct(asset).seeded += a - delivered;
            if !delivered.is_zero() && evidence {
                self.out.arrivals.push(arrival());
            }
            return;
        }
        let bal_before = sv.bal;
        sv.bal += a;
        if delivered.is_zero() {
            if self.spec.policy == Policy::Fifo
                && sv.fl & HAS_QUEUE != 0
                && let Some(q) = self.queues.get_mut(&pair(asset, v))
            {
                q.push_back(Lot { amount: narrow(a), tainted: false });
            }
            self.put(asset, v, sv);
            return;
        }
        if evidence {
            self.out.arrivals.push(arrival());
        }
        let time = self.store.events().time(i);
        let rule = if self.rules.contains_key(&v) { stop_at_time(&self.rules, v, time).cloned() } else { None };
        let absorbing = if v == self.fees_id {
            self.acct(asset).fees += delivered;
            true
        } else if let Some(rule) = rule {
            self.acct(asset).absorb(v, i as u64, &rule, narrow(delivered), ev_hop);
            sv.set_hop(ev_hop);
            true
        } else if sv.fl & HORIZON != 0 || (sv.hop1 == 0 && self.spec.max_hops.is_some_and(|n| ev_hop >= n)) {
            sv.fl |= HORIZON;
            let h = self.acct(asset).horizon.entry(v).or_insert((Wide::ZERO, ev_hop));
            h.0 += delivered;
            h.1 = h.1.min(ev_hop);
            true
        } else {
            false
        };
        if absorbing {
            if self.spec.policy == Policy::Fifo
                && sv.fl & HAS_QUEUE != 0
                && let Some(q) = self.queues.get_mut(&pair(asset, v))
            {
                q.push_back(Lot { amount: narrow(a), tainted: false });
            }
            self.put(asset, v, sv);
            return;
        }
        sv.set_hop(ev_hop);
        match self.spec.policy {
            Policy::Poison => {
                sv.fl |= POISONED;
                sv.t += delivered;
            }
            Policy::Haircut => sv.t += delivered,
            Policy::Fifo => {
                let q = self.queues.entry(pair(asset, v)).or_insert_with(|| Queue::with(narrow(bal_before), false));
                for l in lots {
                    q.push_back(l);
                }
                sv.fl |= HAS_QUEUE;
            }
        }
        self.put(asset, v, sv);
    }

    /// A leg's sender side that moves balance only (§7: inside a followed
    /// swap, venues and intermediaries neither take nor pass on taint).
    fn debit(&mut self, asset: u32, u: u32, a: Wide) {
        let mut su = self.get(asset, u);
        self.shortfall(asset, u, &mut su, a, false);
        su.bal -= a;
        if self.spec.policy == Policy::Fifo
            && su.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, u))
        {
            q.take_clean(narrow(a));
        }
        self.put(asset, u, su);
    }

    /// A leg's receiver side that moves balance only.
    fn credit(&mut self, asset: u32, v: u32, a: Wide) {
        let mut sv = self.get(asset, v);
        sv.bal += a;
        if self.spec.policy == Policy::Fifo
            && sv.fl & HAS_QUEUE != 0
            && let Some(q) = self.queues.get_mut(&pair(asset, v))
        {
            q.push_back(Lot { amount: narrow(a), tainted: false });
        }
        self.put(asset, v, sv);
    }

    /// A followable swap's transaction, events `[start, end)`. Returns false
    /// (and changes nothing) when a seed takes part other than as payer or
    /// payee: then it is traced as ordinary events.
    fn swap(&mut self, start: usize, end: usize, s: &Swap, venues: &[u32]) -> Result<bool, TraceError> {
        let ev = self.store.events();
        let (asset_a, a) = (traced_asset(s.sold.0, self.out.weth_asset), Wide::from(s.sold.1.0));
        let (asset_b, b) = (traced_asset(s.bought.0, self.out.weth_asset), Wide::from(s.bought.1.0));
        let (u, r) = (s.payer, s.payee);
        let mut legs = Vec::new();
        let mut fees = Vec::new();
        for i in start..end {
            let f = ev.flags(i);
            if f & flags::FEE != 0 || sub::class(ev.sub(i)) == sub::FEE {
                fees.push(i);
                continue;
            }
            if let Some(l) = self.leg(i)? {
                legs.push(l);
            }
        }
        if legs.is_empty() {
            // Outside the window.
            for i in start..end {
                self.event(i)?;
            }
            return Ok(true);
        }
        let payer_side = |asset: u32, addr: u32| asset == asset_a && addr == u;
        let payee_side = |asset: u32, addr: u32| asset == asset_b && addr == r;
        let aggregated = |asset: u32, addr: u32| payer_side(asset, addr) || payee_side(asset, addr);
        if legs.iter().any(|l| {
            (!aggregated(l.asset, l.from) && self.seed[l.from as usize]) || (!aggregated(l.asset, l.to) && self.seed[l.to as usize])
        }) {
            return Ok(false);
        }
        self.out.visited += (end - start) as u64;
        let first = legs.iter().find(|l| l.asset == asset_a && (l.from == u || l.to == u)).map(|l| l.event);
        let last = legs.iter().rev().find(|l| l.asset == asset_b && (l.from == r || l.to == r)).map(|l| l.event);
        let (Some(first), Some(last)) = (first, last) else {
            return Err(TraceError::Internal(format!(
                "swap in transaction {} has no leg of its payer or payee",
                self.store.tx_text(ev.tx(start))
            )));
        };
        // The payer's legs in A leave as one outflow of `a`.
        let Some((x, pieces, hop)) = self.send(asset_a, u, u32::MAX, a) else { unreachable!("the payer never pays itself") };
        for l in &legs {
            if !aggregated(l.asset, l.from) {
                self.debit(l.asset, l.from, l.value);
            }
            if !aggregated(l.asset, l.to) {
                self.credit(l.asset, l.to, l.value);
            }
        }
        // The payee receives `b` of B carrying `y`.
        let xa = narrow(x);
        let (y, lots) = match self.spec.policy {
            Policy::Poison => (if x.is_zero() { Wide::ZERO } else { b }, vec![Lot { amount: narrow(b), tainted: !x.is_zero() }]),
            Policy::Haircut => (Wide::from(haircut(narrow(b), x, a)), vec![]),
            Policy::Fifo => {
                let whole: Vec<Lot> = if pieces.is_empty() { vec![Lot { amount: narrow(a), tainted: !x.is_zero() }] } else { pieces };
                let (bu, au) = (U512::from(narrow(b)), U512::from(narrow(a)));
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
                (Wide::from(y), lots)
            }
        };
        let mut crossed = None;
        if !x.is_zero() {
            *self.out.converted_out.entry(asset_a).or_default() += x;
            *self.out.converted_in.entry(asset_b).or_default() += y;
            let (ya, aa, bb) = (U512::from(narrow(y)), U512::from(narrow(a)), U512::from(narrow(b)));
            let (xb, yaa) = (U512::from(xa) * bb, ya * aa);
            let loss = if xb >= yaa { (false, xb - yaa) } else { (true, yaa - xb) };
            // Rounded up to a whole base unit (away from zero).
            let whole = loss.1.div_ceil(aa);
            let whole = i128::try_from(whole).unwrap_or(i128::MAX);
            *self.out.rounding.entry(asset_b).or_default() += if loss.0 { -whole } else { whole };
            self.out.crossed.push(Crossed {
                tx: ev.tx(start),
                first_event: first as u64,
                last_event: last as u64,
                payer: u,
                payee: r,
                venues: venues.to_vec(),
                asset_in: asset_a,
                value_in: narrow(a),
                taint_in: xa,
                asset_out: asset_b,
                value_out: narrow(b),
                taint_out: narrow(y),
                hop,
                loss,
            });
            crossed = Some(self.out.crossed.len() - 1);
        }
        let lots = if lots.is_empty() { vec![Lot { amount: narrow(b), tainted: !y.is_zero() }] } else { lots };
        self.receive(last, asset_b, r, b, y, hop, lots, crossed);
        for i in fees {
            self.event(i)?;
        }
        Ok(true)
    }

    /// A conversion that is not followed: its events traced as ordinary
    /// ones; listed when they carried taint.
    fn unfollowed(&mut self, start: usize, end: usize, venues: &[u32], reason: &'static str) -> Result<(), TraceError> {
        let ev = self.store.events();
        let mut reached = false;
        let mut taint: BTreeMap<u32, Wide> = BTreeMap::new();
        for i in start..end {
            let d = self.event(i)?;
            if d.is_zero() {
                continue;
            }
            reached = true;
            if venues.contains(&ev.receiver(i)) {
                *taint.entry(traced_asset(ev.asset(i), self.out.weth_asset)).or_default() += d;
            }
        }
        if reached {
            self.out.unfollowed.push(Unfollowed { tx: ev.tx(start), first_event: start as u64, venues: venues.to_vec(), reason, taint });
        }
        Ok(())
    }

    /// What is left where, per asset.
    fn finish(&mut self) {
        let policy = self.spec.policy;
        let slots: Vec<(u32, u32, Slot)> = self
            .eth
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.bal.is_zero() || !s.t.is_zero() || s.fl & HAS_QUEUE != 0)
            .map(|(a, s)| (0, a as u32, *s))
            .chain(self.tok.iter().map(|(&k, s)| ((k >> 32) as u32, k as u32, *s)))
            .collect();
        for (asset, addr, s) in slots {
            if self.is_seed(asset, addr) {
                if !s.bal.is_zero() {
                    self.acct(asset).held_by_seeds += s.bal;
                }
                continue;
            }
            let held = match policy {
                Policy::Haircut => s.t,
                Policy::Poison if !s.bal.is_zero() => s.t,
                Policy::Poison => Wide::ZERO,
                Policy::Fifo => self.queues.get(&pair(asset, addr)).map_or(Wide::ZERO, |q| Wide::from(q.tainted())),
            };
            if !held.is_zero() {
                self.acct(asset).dormant.insert(addr, (held, s.hop()));
            }
        }
        self.out.seed_stop_warnings.sort_unstable();
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
        let ev = store.events();
        let Some(arrivals) = self.by_to.get(&pair(asset, dest)) else { return Vec::new() };
        let mut last: Vec<&(u64, Arrival)> = arrivals.iter().collect();
        last.sort_by(|a, b| self.taint(&b.1).cmp(&self.taint(&a.1)).then(a.0.cmp(&b.0)));
        let mut paths = Vec::new();
        for &&(_, end) in last.iter().take(k) {
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
                let prev = self.by_to.get(&pair(asset, from)).and_then(|v| {
                    v.iter().filter(|p| p.0 < before).max_by(|a, b| self.taint(&a.1).cmp(&self.taint(&b.1)).then(b.0.cmp(&a.0)))
                });
                match prev {
                    Some(&(_, p)) => {
                        path.push(p);
                        cur = p;
                    }
                    None => break,
                }
            }
            path.reverse();
            paths.push(path);
        }
        paths
    }
}
