//! `trace --follow swaps` on random multi-asset graphs with swaps: the engine
//! agrees with a naive reference written here from TRACING.md §2 and §7 (its
//! own swap detection, per-(asset, address) maps, one transaction at a
//! time), and conserves taint per asset exactly under haircut and FIFO;
//! with bridges, on random two-chain timelines with THORChain deposits and
//! payouts (TRACING.md §7: several stores, one sweep each, stepped).

mod common;

use chaintrace::convert::topics::{RECOGNISED, WETH};
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use chaintrace::trace::{self, Policy, Spec};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const ETH: &str = "ETH";

fn addr(k: usize) -> String {
    format!("0x{:040x}", k + 1)
}
fn weth() -> String {
    format!("0x{}", hex::encode(WETH))
}
fn t1() -> String {
    format!("0x{:040x}", 0xaa01)
}
fn t2() -> String {
    format!("0x{:040x}", 0xaa02)
}
const POOL1: usize = 100;
const POOL2: usize = 101;
const ROUTER: usize = 102;

/// One value event: `asset` is `ETH`, a token, or WETH (by its contract).
#[derive(Clone, Debug)]
struct Ev {
    from: String,
    to: String,
    asset: String,
    value: u128,
}

/// One transaction: its events in order and the addresses that emitted a swap log.
#[derive(Clone, Debug)]
struct Tx {
    events: Vec<Ev>,
    venues: Vec<String>,
}

type Key = (String, String); // (asset as traced, address)

#[derive(Default, Debug, PartialEq)]
struct Side {
    seeded: u128,
    dest: BTreeMap<String, u128>,
    dormant: BTreeMap<String, u128>,
    horizon: BTreeMap<String, u128>,
    unknown: u128,
    seeds_hold: u128,
    conv_in: u128,
    conv_out: u128,
    rounding: i128,
}

#[derive(Default, Debug, PartialEq)]
struct Naive {
    by_asset: BTreeMap<String, Side>,
    /// Followed conversions that carried taint: (tx number, x, y).
    crossed: Vec<(usize, u128, u128)>,
    /// Conversions taint reached that were not followed: tx numbers.
    unfollowed: Vec<usize>,
}

fn traced(asset: &str) -> String {
    if asset == weth() { ETH.into() } else { asset.into() }
}

struct Ref<'a> {
    policy: Policy,
    seeds: &'a BTreeSet<String>,
    stops: &'a BTreeSet<String>,
    max_hops: Option<u32>,
    bal: HashMap<Key, u128>,
    tnt: HashMap<Key, u128>,
    lots: HashMap<Key, Vec<(u128, bool)>>,
    poisoned: BTreeSet<Key>,
    hop: HashMap<Key, u32>,
    horizon: BTreeSet<Key>,
    r: Naive,
}

impl Ref<'_> {
    fn side(&mut self, asset: &str) -> &mut Side {
        self.r.by_asset.entry(asset.to_string()).or_default()
    }
    fn bal(&self, k: &Key) -> u128 {
        self.bal.get(k).copied().unwrap_or(0)
    }
    /// An address without a tainted lot is one clean lot of its balance.
    fn lots(&mut self, k: &Key) -> &mut Vec<(u128, bool)> {
        let b = self.bal(k);
        let l = self.lots.entry(k.clone()).or_default();
        if !l.iter().any(|x| x.1) {
            *l = if b > 0 { vec![(b, false)] } else { vec![] };
        }
        l
    }
    fn holds(&mut self, k: &Key) -> bool {
        match self.policy {
            Policy::Haircut => self.tnt.get(k).copied().unwrap_or(0) > 0,
            Policy::Poison => self.poisoned.contains(k),
            Policy::Fifo => self.lots(k).iter().any(|x| x.1),
        }
    }
    fn shortfall(&mut self, k: &Key, a: u128) {
        let b = self.bal(k);
        if b >= a {
            return;
        }
        let s = a - b;
        if self.seeds.contains(&k.1) {
            self.side(&k.0).seeded += s;
            self.side(&k.0).unknown += s;
        } else if self.holds(k) {
            self.side(&k.0).unknown += s;
            if self.policy == Policy::Fifo {
                self.lots(k).insert(0, (s, false));
            }
        }
        *self.bal.entry(k.clone()).or_default() += s;
    }
    /// u sends a: the taint x, the lots it leaves as, the event's hop.
    fn send(&mut self, k: &Key, a: u128) -> (u128, Vec<(u128, bool)>, u32) {
        self.shortfall(k, a);
        let seed = self.seeds.contains(&k.1);
        let (x, out) = if seed {
            (a, vec![(a, true)])
        } else {
            match self.policy {
                Policy::Poison => {
                    let p = self.poisoned.contains(k);
                    (if p { a } else { 0 }, vec![(a, p)])
                }
                Policy::Haircut => {
                    let t = self.tnt.get(k).copied().unwrap_or(0);
                    let b = self.bal(k);
                    let x = if t >= b { a.min(t) } else { a * t / b };
                    (x, vec![(x, true), (a - x, false)])
                }
                Policy::Fifo => {
                    let taken = common::take_lots(self.lots(k), a);
                    (taken.iter().filter(|l| l.1).map(|l| l.0).sum(), taken)
                }
            }
        };
        *self.bal.get_mut(k).unwrap() -= a;
        if self.policy == Policy::Haircut && !seed {
            *self.tnt.entry(k.clone()).or_default() -= x;
        }
        let h = if seed { 0 } else { self.hop.get(k).copied().unwrap_or(u32::MAX) }.saturating_add(1);
        (x, out, h)
    }
    fn receive(&mut self, k: &Key, a: u128, x: u128, h: u32, lots: Vec<(u128, bool)>) {
        if self.seeds.contains(&k.1) {
            self.side(&k.0).seeded += a - x;
            *self.bal.entry(k.clone()).or_default() += a;
            return;
        }
        // The lots as they were before this arrival.
        if self.policy == Policy::Fifo {
            self.lots(k);
        }
        *self.bal.entry(k.clone()).or_default() += a;
        let clean_lot = |s: &mut Self| {
            if s.policy == Policy::Fifo && s.lots.get(k).is_some_and(|l| l.iter().any(|x| x.1)) {
                s.lots.get_mut(k).unwrap().push((a, false));
            }
        };
        if x == 0 {
            clean_lot(self);
            return;
        }
        if self.stops.contains(&k.1) {
            *self.side(&k.0).dest.entry(k.1.clone()).or_default() += x;
            self.hop.entry(k.clone()).and_modify(|o| *o = (*o).min(h)).or_insert(h);
            clean_lot(self);
            return;
        }
        if self.horizon.contains(k) || (!self.hop.contains_key(k) && self.max_hops.is_some_and(|n| h >= n)) {
            self.horizon.insert(k.clone());
            *self.side(&k.0).horizon.entry(k.1.clone()).or_default() += x;
            clean_lot(self);
            return;
        }
        self.hop.entry(k.clone()).and_modify(|o| *o = (*o).min(h)).or_insert(h);
        self.poisoned.insert(k.clone());
        *self.tnt.entry(k.clone()).or_default() += x;
        if self.policy == Policy::Fifo {
            let l = self.lots.entry(k.clone()).or_default();
            for p in lots {
                if p.0 > 0 {
                    l.push(p);
                }
            }
        }
    }
    /// An ordinary event (§2); returns the taint it delivered.
    fn event(&mut self, e: &Ev) -> u128 {
        let asset = traced(&e.asset);
        if e.value == 0 || (asset == ETH && (e.from == weth() || e.to == weth())) {
            return 0;
        }
        let (u, v) = ((asset.clone(), e.from.clone()), (asset.clone(), e.to.clone()));
        if e.from == e.to {
            self.shortfall(&u, e.value);
            return 0;
        }
        let (x, out, h) = self.send(&u, e.value);
        let lots = if self.policy == Policy::Fifo { out } else { vec![] };
        self.receive(&v, e.value, x, h, lots);
        x
    }
    fn debit(&mut self, k: &Key, a: u128) {
        self.shortfall(k, a);
        *self.bal.get_mut(k).unwrap() -= a;
        if self.policy == Policy::Fifo && self.lots.get(k).is_some_and(|l| l.iter().any(|x| x.1)) {
            // Its clean units go first; its taint stays.
            let l = self.lots.get_mut(k).unwrap();
            let mut need = a;
            for lot in l.iter_mut() {
                if !lot.1 {
                    let m = lot.0.min(need);
                    lot.0 -= m;
                    need -= m;
                }
            }
            l.retain(|x| x.0 > 0);
        }
    }
    fn credit(&mut self, k: &Key, a: u128) {
        if self.policy == Policy::Fifo && self.lots.get(k).is_some_and(|l| l.iter().any(|x| x.1)) {
            self.lots.get_mut(k).unwrap().push((a, false));
        }
        *self.bal.entry(k.clone()).or_default() += a;
    }
}

/// §7 detection, written afresh: legs (WETH as ETH, wrapping dropped),
/// net changes, takers; `Some((payer, A, a, payee, B, b))` when followable.
#[allow(clippy::type_complexity)]
fn detect(tx: &Tx) -> Option<Option<(String, String, u128, String, String, u128)>> {
    if tx.venues.is_empty() {
        return None;
    }
    let mut net: BTreeMap<(String, String), i128> = BTreeMap::new();
    for e in &tx.events {
        let asset = traced(&e.asset);
        if e.value == 0 || e.from == e.to || (asset == ETH && (e.from == weth() || e.to == weth())) {
            continue;
        }
        *net.entry((e.from.clone(), asset.clone())).or_default() -= e.value as i128;
        *net.entry((e.to.clone(), asset)).or_default() += e.value as i128;
    }
    let takers: Vec<((String, String), i128)> = net.into_iter().filter(|(k, n)| *n != 0 && !tx.venues.contains(&k.0)).collect();
    if takers.is_empty() {
        return None;
    }
    if let [(x, nx), (y, ny)] = takers.as_slice()
        && x.1 != y.1
        && (*nx > 0) != (*ny > 0)
    {
        let ((d, nd), (up, nu)) = if *nx < 0 { ((x, nx), (y, ny)) } else { ((y, ny), (x, nx)) };
        return Some(Some((d.0.clone(), d.1.clone(), (-nd) as u128, up.0.clone(), up.1.clone(), *nu as u128)));
    }
    Some(None)
}

fn new_ref<'a>(policy: Policy, seeds: &'a BTreeSet<String>, stops: &'a BTreeSet<String>, max_hops: Option<u32>) -> Ref<'a> {
    Ref {
        policy,
        seeds,
        stops,
        max_hops,
        bal: HashMap::new(),
        tnt: HashMap::new(),
        lots: HashMap::new(),
        poisoned: BTreeSet::new(),
        hop: HashMap::new(),
        horizon: BTreeSet::new(),
        r: Naive::default(),
    }
}

fn naive(txs: &[Tx], policy: Policy, seeds: &BTreeSet<String>, stops: &BTreeSet<String>, max_hops: Option<u32>) -> Naive {
    let mut s = new_ref(policy, seeds, stops, max_hops);
    for (n, tx) in txs.iter().enumerate() {
        s.tx(n, tx);
    }
    s.finish()
}

/// §7's table: `y` and the payee's lots for `a` into `b` carrying `x`
/// (FIFO: as the lots `out`).
fn carry(policy: Policy, x: u128, a: u128, b: u128, out: Vec<(u128, bool)>) -> (u128, Vec<(u128, bool)>) {
    match policy {
        Policy::Poison => (if x > 0 { b } else { 0 }, vec![]),
        Policy::Haircut => ((x * b) / a, vec![]),
        Policy::Fifo => {
            let (mut c, mut lots, mut y) = (0u128, vec![], 0u128);
            for (amt, tainted) in out {
                let lo = c * b / a;
                c += amt;
                let units = c * b / a - lo;
                if tainted {
                    y += units;
                }
                lots.push((units, tainted));
            }
            (y, lots)
        }
    }
}

impl Ref<'_> {
    /// Transaction number `n`: a followed swap, or ordinary events.
    fn tx(&mut self, n: usize, tx: &Tx) {
        let seeds = self.seeds;
        let kind = detect(tx);
        let follow = match &kind {
            Some(Some((u, a_, _, r, b_, _))) => {
                // A seed taking part other than as payer or payee: not followed.
                let agg = |addr: &str, asset: &str| (addr == u && asset == a_) || (addr == r && asset == b_);
                !tx.events.iter().any(|e| {
                    let asset = traced(&e.asset);
                    (seeds.contains(&e.from) && !agg(&e.from, &asset)) || (seeds.contains(&e.to) && !agg(&e.to, &asset))
                })
            }
            _ => false,
        };
        if !follow {
            let mut reached = false;
            for e in &tx.events {
                reached |= self.event(e) > 0;
            }
            if reached && kind.is_some() {
                self.r.unfollowed.push(n);
            }
            return;
        }
        let Some(Some((u, asset_a, a, r, asset_b, b))) = kind else { unreachable!() };
        let (ku, kr) = ((asset_a.clone(), u.clone()), (asset_b.clone(), r.clone()));
        let (x, out, h) = self.send(&ku, a);
        self.move_legs(tx, &[&ku, &kr]);
        let (y, lots) = carry(self.policy, x, a, b, out);
        if x > 0 {
            self.side(&asset_a).conv_out += x;
            self.crossed_in(&asset_b, x, a, b, y);
            self.r.crossed.push((n, x, y));
        }
        self.receive(&kr, b, y, h, lots);
    }

    /// Every leg of `tx` not of the aggregated sides moves balance only.
    fn move_legs(&mut self, tx: &Tx, aggregated: &[&Key]) {
        for e in &tx.events {
            let asset = traced(&e.asset);
            if e.value == 0 || (asset == ETH && (e.from == weth() || e.to == weth())) {
                continue;
            }
            let (f, t) = ((asset.clone(), e.from.clone()), (asset.clone(), e.to.clone()));
            if !aggregated.contains(&&f) {
                self.debit(&f, e.value);
            }
            if !aggregated.contains(&&t) {
                self.credit(&t, e.value);
            }
        }
    }

    /// `y` arrived in `asset_b` through a conversion of `a` into `b` that carried `x`.
    fn crossed_in(&mut self, asset_b: &str, x: u128, a: u128, b: u128, y: u128) {
        self.side(asset_b).conv_in += y;
        let loss = (x * b) as i128 - (y * a) as i128;
        let whole = loss.unsigned_abs().div_ceil(a) as i128;
        self.side(asset_b).rounding += if loss < 0 { -whole } else { whole };
    }

    /// What is left where.
    fn finish(mut self) -> Naive {
        let seeds = self.seeds;
        let keys: BTreeSet<Key> = self.bal.keys().cloned().collect();
        for k in keys {
            if seeds.contains(&k.1) {
                let b = self.bal(&k);
                if b > 0 {
                    self.side(&k.0).seeds_hold += b;
                }
                continue;
            }
            let held = match self.policy {
                Policy::Haircut => self.tnt.get(&k).copied().unwrap_or(0),
                Policy::Fifo => self.lots.get(&k).map_or(0, |l| l.iter().filter(|x| x.1).map(|x| x.0).sum()),
                Policy::Poison => {
                    if self.bal(&k) > 0 {
                        self.tnt.get(&k).copied().unwrap_or(0)
                    } else {
                        0
                    }
                }
            };
            if held > 0 {
                self.side(&k.0).dormant.insert(k.1.clone(), held);
            }
        }
        self.r.by_asset.retain(|_, v| *v != Side::default());
        self.r
    }
}

fn random_txs(rng: &mut Rng, n_users: usize, n: usize) -> Vec<Tx> {
    let assets = [String::from(ETH), t1(), t2(), weth()];
    let user = |rng: &mut Rng| addr(rng.below(n_users as u64) as usize);
    let val = |rng: &mut Rng| u128::from(rng.below(1000) + 1);
    let ev = |from: &str, to: &str, asset: &str, value: u128| Ev { from: from.into(), to: to.into(), asset: asset.into(), value };
    let (p1, p2, router) = (addr(POOL1), addr(POOL2), addr(ROUTER));
    (0..n)
        .map(|_| {
            let a = assets[rng.below(4) as usize].clone();
            let mut b = assets[rng.below(4) as usize].clone();
            if b == a {
                b = assets[(rng.below(3) + 1) as usize].clone();
            }
            let c = t2();
            let u = user(rng);
            let r = if rng.below(3) == 0 { user(rng) } else { u.clone() };
            let (va, vb) = (val(rng), val(rng));
            match rng.below(12) {
                0..=2 => {
                    let from = if rng.below(8) == 0 { p1.clone() } else { user(rng) };
                    let to = match rng.below(10) {
                        0 => from.clone(),
                        1 => p1.clone(),
                        _ => user(rng),
                    };
                    let v = if rng.below(12) == 0 { 0 } else { val(rng) };
                    Tx { events: vec![ev(&from, &to, &a, v)], venues: vec![] }
                }
                3 => Tx { events: vec![ev(&u, &weth(), ETH, va)], venues: vec![] },
                4 => Tx { events: vec![ev(&weth(), &u, ETH, va)], venues: vec![] },
                5 => Tx { events: vec![ev(&u, &p1, &a, va), ev(&p1, &r, &b, vb)], venues: vec![p1.clone()] },
                6 => Tx { events: vec![ev(&u, &router, &a, va), ev(&router, &p1, &a, va), ev(&p1, &r, &b, vb)], venues: vec![p1.clone()] },
                7 => Tx {
                    events: vec![ev(&u, &p1, &a, va), ev(&p1, &p2, &c, val(rng)), ev(&p2, &r, &b, vb)],
                    venues: vec![p1.clone(), p2.clone()],
                },
                8 => Tx { events: vec![ev(&p1, &r, &b, vb), ev(&u, &p1, &a, va)], venues: vec![p1.clone()] },
                9 => {
                    let extra = val(rng);
                    Tx { events: vec![ev(&u, &p1, &a, va + extra), ev(&p1, &r, &b, vb), ev(&p1, &u, &a, extra)], venues: vec![p1.clone()] }
                }
                10 => Tx {
                    events: vec![ev(&u, &p1, &a, va), ev(&p1, &r, &b, vb), ev(&p1, &user(rng), &b, val(rng))],
                    venues: vec![p1.clone()],
                },
                _ => Tx {
                    events: vec![ev(&u, &router, &a, va + 7), ev(&router, &p1, &a, va), ev(&p1, &r, &b, vb)],
                    venues: vec![p1.clone()],
                },
            }
        })
        .collect()
}

/// A store of `txs` (a transfers CSV with hashes and assets, then the swap
/// logs as a blockchain-etl logs CSV), with `stops` labelled exchanges.
/// `interleave`: transactions two by two share a block, the file has no
/// transaction index, and their rows interleave by log index, as an export
/// without indices can have them (the engine takes a conversion whole at
/// its first event, the reference one transaction at a time in that order).
fn build_store(dir: &std::path::Path, txs: &[Tx], stops: &BTreeSet<String>, interleave: bool) -> Store {
    let (s, l) = store_texts(txs, 0, interleave);
    common::swap_store(dir, &s, &l, &stops.iter().cloned().collect::<Vec<_>>())
}

/// The transfers and logs CSV of `txs`, the first of them transaction `first`.
fn store_texts(txs: &[Tx], first: usize, interleave: bool) -> (String, String) {
    let mut s = String::from(if interleave {
        "block_number,transaction_hash,log_index,from_address,to_address,value,asset\n"
    } else {
        "block_number,transaction_hash,transaction_index,log_index,from_address,to_address,value,asset\n"
    });
    let mut l = String::from("log_index,transaction_hash,transaction_index,address,data,topics,block_number\n");
    let swap = format!("0x{}", hex::encode(RECOGNISED[0].topic));
    let block = |n: usize| if interleave { 1000 + n / 2 } else { 1000 + n };
    let mut rows: Vec<(usize, usize, usize, String)> = Vec::new();
    for (n, tx) in txs.iter().enumerate() {
        let n = n + first;
        let hash = format!("0x{:064x}", n + 1);
        for (k, e) in tx.events.iter().enumerate() {
            let asset = if e.asset == ETH { String::new() } else { e.asset.clone() };
            let index = if interleave { String::new() } else { "0,".into() };
            rows.push((block(n), k, n, format!("{},{hash},{index}{k},{},{},{},{asset}\n", block(n), e.from, e.to, e.value)));
        }
        for (k, v) in tx.venues.iter().enumerate() {
            l += &format!("{},{hash},0,{v},0x,{swap},{}\n", 100 + k, block(n));
        }
    }
    if interleave {
        rows.sort_by_key(|r| (r.0, r.1, r.2));
    }
    for r in rows {
        s += &r.3;
    }
    (s, l)
}

fn engine_as_naive(store: &Store, out: &trace::Followed, hashes: &HashMap<String, usize>) -> Naive {
    let n = |w: &trace::Wide| w.to_string().parse::<u128>().unwrap();
    let name = |a: u32| if a == 0 { ETH.to_string() } else { store.manifest.assets[a as usize].clone() };
    let mut r = Naive::default();
    for (&a, o) in &out.by_asset {
        let s = r.by_asset.entry(name(a)).or_default();
        s.seeded = n(&o.seeded);
        s.dest = o.destinations.iter().map(|(&id, d)| (store.address_text(id), n(&d.amount))).collect();
        s.dormant = o.dormant.iter().map(|(&id, d)| (store.address_text(id), n(&d.0))).collect();
        s.horizon = o.horizon.iter().map(|(&id, d)| (store.address_text(id), n(&d.0))).collect();
        s.unknown = n(&o.unknown_origin);
        s.seeds_hold = n(&o.held_by_seeds);
    }
    for (&a, w) in &out.converted_in {
        r.by_asset.entry(name(a)).or_default().conv_in = n(w);
    }
    for (&a, w) in &out.converted_out {
        r.by_asset.entry(name(a)).or_default().conv_out = n(w);
    }
    for (&a, w) in &out.rounding {
        // The worlds' amounts are small: the exact sum fits the model's i128.
        r.by_asset.entry(name(a)).or_default().rounding = w.to_string().parse().expect("a small rounding sum");
    }
    r.by_asset.retain(|_, v| *v != Side::default());
    let tx = |id: u32| hashes[&store.tx_text(id)];
    r.crossed = out.crossed.iter().map(|c| (tx(c.tx), c.taint_in.to::<u128>(), c.taint_out.to::<u128>())).collect();
    r.unfollowed = out.unfollowed.iter().map(|u| tx(u.tx)).collect();
    r
}

fn spec(policy: Policy, seeds: Vec<u32>, stops: bool, max_hops: Option<u32>) -> Spec {
    Spec { max_hops, ..Spec::new(policy, 0, seeds, if stops { vec!["exchange".into()] } else { vec![] }) }
}

/// A random question over `n_users` users: seeds (now and then the second
/// pool too, where `pool_seed`), stops (now and then the first pool) and a
/// horizon.
fn random_question(rng: &mut Rng, n_users: usize, pool_seed: bool) -> (BTreeSet<String>, BTreeSet<String>, Option<u32>) {
    let mut seeds: BTreeSet<String> = (0..1 + rng.below(2)).map(|_| addr(rng.below(n_users as u64) as usize)).collect();
    if pool_seed && rng.below(10) == 0 {
        seeds.insert(addr(POOL2));
    }
    let mut stops: BTreeSet<String> =
        (0..rng.below(3)).map(|_| addr(rng.below(n_users as u64) as usize)).filter(|a| !seeds.contains(a)).collect();
    if rng.below(4) == 0 {
        stops.insert(addr(POOL1));
    }
    let max_hops = if rng.below(4) == 0 { Some(1 + rng.below(3) as u32) } else { None };
    (seeds, stops, max_hops)
}

/// The two tests take turns: a child process forked by one while the other
/// holds a store's write lock inherits the lock's descriptor until it execs,
/// so an ingest in this process right after could find the store locked.
static TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn follow_agrees_with_naive_and_conserves_per_asset() {
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(20_261_203);
    let (mut crossed, mut unfollowed, mut seed_unfollowed, mut split, mut sparse_runs) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for case in 0..150 {
        let t = tempfile::tempdir().unwrap();
        let n_users = 3 + rng.below(6) as usize;
        let n_txs = 10 + rng.below(50) as usize;
        let txs = random_txs(&mut rng, n_users, n_txs);
        let (seeds, stops, max_hops) = random_question(&mut rng, n_users, true);
        let store = build_store(t.path(), &txs, &stops, case % 3 == 2);
        split += trace::conversions::list(&store).iter().filter(|f| f.events.windows(2).any(|w| w[1] != w[0] + 1)).count();
        let hashes: HashMap<String, usize> = (0..txs.len()).map(|n| (format!("0x{:064x}", n + 1), n)).collect();
        let seed_ids: Vec<u32> = seeds.iter().filter_map(|a| store.find_address(a)).collect();
        let seeds: BTreeSet<String> = seed_ids.iter().map(|&id| store.address_text(id)).collect();
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Poison] {
            let want = naive(&txs, policy, &seeds, &stops, max_hops);
            // The full sweep first: it writes the store's ledger, which the
            // sparse sweep below reads.
            let full = Spec { engine: Some(trace::Engine::Full), ..spec(policy, seed_ids.clone(), !stops.is_empty(), max_hops) };
            let out = trace::run_follow(&store, &full, None).unwrap();
            assert!(!out.sparse);
            let got = engine_as_naive(&store, &out, &hashes);
            let mapped = trace::follow::run_follow_mapped(&store, &full, None).unwrap();
            assert_eq!(engine_as_naive(&store, &mapped, &hashes), got, "case {case} {policy:?}: tokens in the map");
            assert_eq!(mapped.arrivals, out.arrivals, "case {case} {policy:?}: evidence log, tokens in the map");
            let sparse = trace::run_follow(&store, &spec(policy, seed_ids.clone(), !stops.is_empty(), max_hops), None).unwrap();
            sparse_runs += usize::from(sparse.sparse);
            assert_eq!(engine_as_naive(&store, &sparse, &hashes), got, "case {case} {policy:?}: the sparse sweep ({})", sparse.sparse);
            assert_eq!(sparse.arrivals, out.arrivals, "case {case} {policy:?}: evidence log, the sparse sweep");
            if got != want {
                let mut d = String::new();
                for k in got.by_asset.keys().chain(want.by_asset.keys()).collect::<BTreeSet<_>>() {
                    if got.by_asset.get(k) != want.by_asset.get(k) {
                        d += &format!("asset {k}\n engine {:?}\n naive  {:?}\n", got.by_asset.get(k), want.by_asset.get(k));
                    }
                }
                d += &format!("crossed engine {:?}\n        naive  {:?}\n", got.crossed, want.crossed);
                d += &format!("unfollowed engine {:?} naive {:?}\n", got.unfollowed, want.unfollowed);
                for (n, tx) in txs.iter().enumerate() {
                    d += &format!(
                        "tx {n}: {:?} {:?}\n",
                        tx.venues,
                        tx.events
                            .iter()
                            .map(|e| format!(
                                "{}->{} {} {}",
                                &e.from[38..],
                                &e.to[38..],
                                &e.asset[e.asset.len().saturating_sub(4)..],
                                e.value
                            ))
                            .collect::<Vec<_>>()
                    );
                }
                panic!("case {case} {policy:?}: seeds {seeds:?} stops {stops:?} max_hops {max_hops:?}\n{d}");
            }
            if policy != Policy::Poison {
                for &a in out.by_asset.keys().chain(out.converted_in.keys()) {
                    let (l, r) = out.balance(a);
                    assert_eq!(l, r, "case {case} {policy:?}: asset {a} does not balance");
                }
            }
            crossed += out.crossed.len();
            unfollowed += out.unfollowed.len();
            seed_unfollowed += out.unfollowed.iter().filter(|u| u.reason == "seed").count();
        }
    }
    // The cases exercise what they are meant to.
    assert!(
        crossed > 300 && unfollowed > 100 && seed_unfollowed > 0,
        "crossed {crossed}, unfollowed {unfollowed} ({seed_unfollowed} seed)"
    );
    assert!(split > 20, "{split} conversions with their events interleaved with another transaction's");
    // Haircut and poison, where no seed takes part in a swap otherwise than as payer or payee.
    assert!(sparse_runs > 200, "{sparse_runs} sparse sweeps");
}

/// The command line end to end: a seed pays an intermediary, which swaps
/// the ETH for a token through a pool and pays the token to an exchange.
/// Without `--follow` the trace stops at the pool; with it the exchange is a
/// destination in the token, its evidence path steps through the
/// conversion object, and every row names its asset.
#[test]
fn the_command_line_follows_a_swap_into_the_token_and_shows_the_step() {
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let (seed, mid, exch) = (addr(0), addr(1), addr(2));
    let ev = |from: &str, to: &str, asset: &str, value: u128| Ev { from: from.into(), to: to.into(), asset: asset.into(), value };
    let txs = vec![
        Tx { events: vec![ev(&seed, &mid, ETH, 600)], venues: vec![] },
        Tx { events: vec![ev(&mid, &addr(POOL1), ETH, 300), ev(&addr(POOL1), &mid, &t1(), 900)], venues: vec![addr(POOL1)] },
        Tx { events: vec![ev(&mid, &exch, &t1(), 450)], venues: vec![] },
    ];
    let stops: BTreeSet<String> = [exch.clone()].into();
    build_store(t.path(), &txs, &stops, false);
    let st = t.path().join("s");
    let store = st.to_str().unwrap();
    let trace = |extra: &[&str]| {
        let mut args = vec!["trace", "--store", store, "--policy", "haircut", "--seed", &seed, "--stop-at", "exchange", "--format", "json"];
        args.extend_from_slice(extra);
        let o = common::run(&args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        serde_json::from_str::<serde_json::Value>(&o.stdout).unwrap()
    };
    let plain = trace(&[]);
    assert_eq!(plain["destinations"].as_array().unwrap().len(), 0);
    assert!(plain.get("totals_by_asset").is_none() && plain["dormant"][0].get("asset").is_none());
    let r = trace(&["--follow", "swaps"]);
    // The intermediary held 600 tainted ETH and sold 300: all 900 tokens are
    // tainted; it paid 450 of them to the exchange. Hops: mid holds ETH at 1,
    // the token at 2 (the payee's hop is one more than the payer's), so the
    // exchange is reached at 3.
    let d = &r["destinations"][0];
    assert_eq!(
        (d["address"].as_str(), d["asset"].as_str(), d["amount"].as_str(), d["hops"].as_u64()),
        (Some(exch.as_str()), Some(t1().as_str()), Some("450"), Some(3))
    );
    let path = d["paths"][0].as_array().unwrap();
    assert_eq!(path.len(), 3, "{path:?}");
    assert_eq!((path[0]["asset"].as_str(), path[0]["taint"].as_str()), (Some("ETH"), Some("600")));
    let c = &path[1];
    assert_eq!(
        (
            c["kind"].as_str(),
            c["venue"].as_str(),
            c["asset_in"].as_str(),
            c["taint_in"].as_str(),
            c["asset_out"].as_str(),
            c["taint_out"].as_str()
        ),
        (Some("swap"), Some(addr(POOL1).as_str()), Some("ETH"), Some("300"), Some(t1().as_str()), Some("900"))
    );
    assert_eq!((path[2]["asset"].as_str(), path[2]["taint"].as_str()), (Some(t1().as_str()), Some("450")));
    let tb = &r["totals_by_asset"];
    assert_eq!(
        (tb["ETH"]["seeded"].as_str(), tb["ETH"]["converted_out"].as_str(), tb["ETH"]["dormant"].as_str()),
        (Some("600"), Some("300"), Some("300"))
    );
    assert_eq!(
        (tb[t1()]["converted_in"].as_str(), tb[t1()]["destinations"].as_str(), tb[t1()]["dormant"].as_str()),
        (Some("900"), Some("450"), Some("450"))
    );
    assert_eq!(r["conversions"].as_array().unwrap().len(), 1);
    // CSV: the asset is the last column of every row.
    let o = common::run(&[
        "trace",
        "--store",
        store,
        "--policy",
        "haircut",
        "--seed",
        &seed,
        "--stop-at",
        "exchange",
        "--follow",
        "swaps",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].ends_with(",entity,asset") && lines[1].starts_with("destination,") && lines[1].ends_with(&t1()), "{}", o.stdout);
    // HTML, DOT and Parquet show the asset of each row and the swap step.
    let base = ["trace", "--store", store, "--policy", "haircut", "--seed", &seed, "--stop-at", "exchange", "--follow", "swaps"];
    let html = common::run(&[&base[..], &["--format", "html"]].concat()).stdout;
    assert!(html.contains("swap by") && html.contains("By asset") && html.contains(&t1()), "html");
    let dot = common::run(&[&base[..], &["--format", "dot"]].concat()).stdout;
    assert!(
        dot.contains("swap via 0x000000…0065: 0.0000000000000003 ETH -> 900 0x000000…aa01") && dot.contains("450 0x000000…aa01"),
        "{dot}"
    );
    let pq = t.path().join("r.parquet");
    assert_eq!(common::run(&[&base[..], &["--format", "parquet", "--output", pq.to_str().unwrap()]].concat()).code, 0);
    use polars::prelude::*;
    let steps = ParquetReader::new(std::fs::File::open(chaintrace::report::parquet::steps_path(&pq)).unwrap()).finish().unwrap();
    let col = |n: &str| -> Vec<Option<String>> {
        steps.column(n).unwrap().as_materialized_series().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    };
    assert_eq!(col("kind"), [Some("transfer".to_string()), Some("swap".into()), Some("transfer".into())]);
    assert_eq!(col("taint_in")[1].as_deref(), Some("300"));
    assert_eq!(col("asset")[2].as_deref(), Some(t1().as_str()));
    // A blockchain-etl `tokens` export names the token: tables and graphs
    // show it in whole tokens by its symbol; the JSON stays in base units.
    let json_before = common::run(&[&base[..], &["--format", "json"]].concat()).stdout;
    let tokens = t.path().join("tokens.csv");
    std::fs::write(&tokens, format!("address,symbol,name,decimals,total_supply,block_number\n{},TKN,Token,2,1000000,\n", t1())).unwrap();
    let o = common::ingest(&st, "ethereum", "etl", &[], &[&tokens]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("1 rows as etl/tokens, 0 events added"), "{}", o.stderr);
    assert_eq!(common::run(&[&base[..], &["--format", "json"]].concat()).stdout, json_before);
    let dot = common::run(&[&base[..], &["--format", "dot"]].concat()).stdout;
    assert!(dot.contains("0.0000000000000003 ETH -> 9 TKN") && dot.contains("4.5 TKN"), "{dot}");
    let table = common::run(&[&base[..], &["--format", "table"]].concat()).stdout;
    assert!(table.contains("4.5 TKN"), "{table}");
    // A store without bridge logs: following bridges too, or heuristic
    // bridges (which imply them), changes nothing.
    for also in ["bridges", "bridges-heuristic"] {
        let o = common::run(&[&base[..], &["--follow", also, "--format", "json"]].concat());
        assert_eq!(o.code, 0, "{also}: {}", o.stderr);
        assert_eq!(o.stdout, json_before, "{also}");
    }
}

/// The store's §7 ledger (ADR 0012) holds across appends and damage: a
/// trace after an append does not read the ledger of the generation before
/// (the full sweep answers and writes a new one), the next trace reads the
/// new one, and a ledger with a changed byte is not used; every answer
/// equals that of the same events ingested at once.
#[test]
fn the_ledger_is_rewritten_after_an_append_and_unused_when_damaged() {
    use chaintrace::ingest::{self, Format, Options};
    use chaintrace::model::Chain;
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(20_261_204);
    let mut sparse_after_append = 0;
    for case in 0..12 {
        let n_users = 3 + rng.below(6) as usize;
        let n_txs = 20 + rng.below(40) as usize;
        let txs = random_txs(&mut rng, n_users, n_txs);
        let hashes: HashMap<String, usize> = (0..txs.len()).map(|n| (format!("0x{:064x}", n + 1), n)).collect();
        let seed = addr(rng.below(n_users as u64) as usize);
        let whole_dir = tempfile::tempdir().unwrap();
        let whole = build_store(whole_dir.path(), &txs, &BTreeSet::new(), false);
        let Some(seed_id) = whole.find_address(&seed) else { continue };
        let full = Spec { engine: Some(trace::Engine::Full), ..spec(Policy::Haircut, vec![seed_id], false, None) };
        let want = engine_as_naive(&whole, &trace::run_follow(&whole, &full, None).unwrap(), &hashes);

        // The first half, traced (which writes its ledger), then the rest appended.
        let t = tempfile::tempdir().unwrap();
        let st = t.path().join("s");
        let half = txs.len() / 2;
        for (k, part) in [(0, &txs[..half]), (half, &txs[half..])] {
            let (tr, lg) = store_texts(part, k, false);
            let (f, l) = (t.path().join(format!("t{k}.csv")), t.path().join(format!("l{k}.csv")));
            std::fs::write(&f, tr).unwrap();
            std::fs::write(&l, lg).unwrap();
            ingest::ingest(&st, &[f], &Options::new(Chain::Ethereum, Format::Transfers)).unwrap();
            ingest::ingest(&st, &[l], &Options::new(Chain::Ethereum, Format::Etl)).unwrap();
            let store = Store::open(&st).unwrap();
            let Some(id) = store.find_address(&seed) else { continue };
            let out = trace::run_follow(&store, &spec(Policy::Haircut, vec![id], false, None), None).unwrap();
            assert!(!out.sparse, "case {case}: a new generation has no ledger yet");
            assert!(store.dir.join("follow-ledger").is_file(), "case {case}: the full sweep wrote the ledger");
        }
        let store = Store::open(&st).unwrap();
        let id = store.find_address(&seed).unwrap();
        let q = spec(Policy::Haircut, vec![id], false, None);
        let out = trace::run_follow(&store, &q, None).unwrap();
        sparse_after_append += usize::from(out.sparse);
        assert_eq!(engine_as_naive(&store, &out, &hashes), want, "case {case}: after an append ({})", out.sparse);

        // A label import is a new generation over the same events: the ledger serves it.
        let events = store.manifest.events_identity();
        let label = chaintrace::labels::Label {
            address: "0x00000000000000000000000000000000000000ff".into(),
            category: "exchange".into(),
            label: "Exchange: elsewhere".into(),
            ..Default::default()
        };
        chaintrace::labels::save(&st, &[label]).unwrap();
        let relabelled = Store::open(&st).unwrap();
        assert_ne!(relabelled.gen_dir, store.gen_dir, "case {case}: a label import makes a generation");
        assert_eq!(relabelled.manifest.events_identity(), events, "case {case}: the events are as they were");
        let written = store.dir.join("follow-ledger").is_file();
        let out = trace::run_follow(&relabelled, &q, None).unwrap();
        assert_eq!(out.sparse, written, "case {case}: the ledger was not read after a label import");
        assert_eq!(engine_as_naive(&relabelled, &out, &hashes), want, "case {case}: after a label import");
        drop(relabelled);

        // Read once over its checksum, the ledger is trusted until it changes.
        let p = store.dir.join("follow-ledger");
        if out.sparse {
            assert!(store.dir.join("follow-ledger.verified").is_file(), "case {case}: a sound ledger read was not stamped");
        }
        // A change in place: its times no longer match the stamp (set apart
        // here, as a write within the file system's clock tick may keep them).
        let damage = |bytes: &[u8]| {
            std::fs::write(&p, bytes).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)).unwrap();
        };

        // One changed byte deep in the ledger: the checksum fails, the full sweep answers.
        let mut bytes = std::fs::read(&p).unwrap();
        let k = bytes.len() - 1 - rng.below((bytes.len() - 100) as u64) as usize;
        bytes[k] ^= 0x5a;
        damage(&bytes);
        let out = trace::run_follow(&Store::open(&st).unwrap(), &q, None).unwrap();
        assert!(!out.sparse, "case {case}: a damaged ledger was read");
        assert_eq!(engine_as_naive(&store, &out, &hashes), want, "case {case}: with a damaged ledger");
        let out = trace::run_follow(&Store::open(&st).unwrap(), &q, None).unwrap();
        assert!(out.sparse, "case {case}: the damaged ledger was written anew");
        assert_eq!(engine_as_naive(&store, &out, &hashes), want, "case {case}: the ledger written anew");

        // Counts changed in the header: two that cancel out (the file's
        // length stays), and one whose size overflows.
        let good = std::fs::read(&p).unwrap();
        let word = |b: &[u8], k: usize| u64::from_le_bytes(b[8 + k * 8..16 + k * 8].try_into().unwrap());
        let set = |b: &mut Vec<u8>, k: usize, v: u64| b[8 + k * 8..16 + k * 8].copy_from_slice(&v.to_le_bytes());
        let mut shifted = good.clone();
        if word(&good, 3) > 0 {
            set(&mut shifted, 2, word(&good, 2) + 1);
            set(&mut shifted, 3, word(&good, 3) - 1);
        }
        let mut huge = good.clone();
        set(&mut huge, 6, 0x3FFF_FFFF_FFFF_FFFF);
        for (what, bytes) in [("counts that cancel out", shifted), ("a count whose size overflows", huge)] {
            damage(&bytes);
            let out = trace::run_follow(&Store::open(&st).unwrap(), &q, None).unwrap();
            assert!(!out.sparse, "case {case}: a ledger with {what} was read");
            assert_eq!(engine_as_naive(&store, &out, &hashes), want, "case {case}: with {what}");
        }
    }
    assert!(sparse_after_append >= 8, "{sparse_after_append} sparse traces after an append");
}

/// THORChain's routers on the two chains of the random bridge graphs
/// (Ethereum's V4.1, Base's V6.1) and the vault, the same address on both.
const ROUTERS: [&str; 2] = ["0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146", "0x00dc6100103bc402d490aee3f9a5560cbd91f1d4"];
const CHAINS: [&str; 2] = ["ethereum", "base"];
const VAULT: usize = 200;

/// One transaction of the two-chain timeline. Addresses are `C|0x...` and
/// assets `chain:ASSET` (C the chain's index), so the reference keeps the
/// chains apart with its one map.
struct Item {
    chain: usize,
    tx: Tx,
    /// A THORChain deposit (bridge id, memo destination on the other chain)
    /// or payout (bridge id) it carries in its router log.
    deposit: Option<(usize, String)>,
    payout: Option<usize>,
}

fn on(c: usize, a: &str) -> String {
    format!("{c}|{a}")
}

fn asset_on(c: usize, a: &str) -> String {
    format!("{}:{}", CHAINS[c], a)
}

/// The chain's events of a plain random transaction, prefixed.
fn prefixed(c: usize, tx: Tx) -> Tx {
    Tx {
        events: tx
            .events
            .into_iter()
            .map(|e| Ev { from: on(c, &e.from), to: on(c, &e.to), asset: asset_on(c, &traced(&e.asset)), value: e.value })
            .collect(),
        venues: tx.venues.iter().map(|v| on(c, v)).collect(),
    }
}

/// A random two-chain timeline: plain transactions (swaps among them) on
/// either chain, and THORChain deposits with zero, one or two payouts on
/// the other chain, some paying another address than the memo names, some
/// before the deposit.
fn random_timeline(rng: &mut Rng, n_users: usize, n: usize) -> Vec<Item> {
    let mut keyed: Vec<(u64, Item)> = Vec::new();
    for i in 0..n {
        let c = rng.below(2) as usize;
        let mut tx = random_txs(rng, n_users, 1).remove(0);
        // No WETH here: it is mainnet's contract only.
        for e in &mut tx.events {
            if e.asset == weth() || e.from == weth() || e.to == weth() {
                e.asset = ETH.into();
                if e.from == weth() {
                    e.from = addr(0);
                }
                if e.to == weth() {
                    e.to = addr(1);
                }
            }
        }
        keyed.push((10 * i as u64, Item { chain: c, tx: prefixed(c, tx), deposit: None, payout: None }));
    }
    let ev = |c: usize, from: &str, to: &str, asset: &str, value: u128| Ev {
        from: on(c, from),
        to: on(c, to),
        asset: asset_on(c, asset),
        value,
    };
    let vault = addr(VAULT);
    for id in 0..1 + rng.below(6) as usize {
        let c = rng.below(2) as usize;
        let o = 1 - c;
        let u = addr(rng.below(n_users as u64) as usize);
        let dest = addr(rng.below(n_users as u64) as usize);
        let (asset_a, a) = (if rng.below(3) == 0 { t1() } else { ETH.to_string() }, u128::from(rng.below(1000) + 1));
        let events = if asset_a == ETH {
            vec![ev(c, &u, ROUTERS[c], ETH, a), ev(c, ROUTERS[c], &vault, ETH, a)]
        } else {
            vec![ev(c, &u, ROUTERS[c], &asset_a, a)]
        };
        let at = rng.below(10 * n as u64);
        keyed.push((at * 10 + 5, Item { chain: c, tx: Tx { events, venues: vec![] }, deposit: Some((id, dest.clone())), payout: None }));
        let payouts = match rng.below(8) {
            0 => 0,
            1 => 2,
            _ => 1,
        };
        for _ in 0..payouts {
            let r = if rng.below(8) == 0 { addr(rng.below(n_users as u64) as usize) } else { dest.clone() };
            let (asset_b, b) = (if rng.below(3) == 0 { t1() } else { ETH.to_string() }, u128::from(rng.below(1000) + 1));
            let events = if asset_b == ETH {
                vec![ev(o, &vault, ROUTERS[o], ETH, b), ev(o, ROUTERS[o], &r, ETH, b)]
            } else {
                vec![ev(o, ROUTERS[o], &r, &asset_b, b)]
            };
            // Mostly later than the deposit; now and then earlier.
            let when = if rng.below(8) == 0 { rng.below(at + 1) } else { at + 1 + rng.below(10 * n as u64) };
            keyed.push((when * 10 + 7, Item { chain: o, tx: Tx { events, venues: vec![] }, deposit: None, payout: Some(id) }));
        }
    }
    keyed.sort_by_key(|k| k.0);
    keyed.into_iter().map(|k| k.1).collect()
}

/// The transfers and logs CSV of chain `c`'s items (hash and block by the
/// item's place in the timeline, block time strictly increasing with it).
fn chain_texts(items: &[Item], c: usize) -> (String, String) {
    let strip = |s: &str| s.split_once('|').map_or(s, |x| x.1).to_string();
    let mut s =
        String::from("block_number,block_timestamp,transaction_hash,transaction_index,log_index,from_address,to_address,value,asset\n");
    let mut l = String::from("log_index,transaction_hash,transaction_index,address,data,topics,block_number\n");
    let swap = format!("0x{}", hex::encode(RECOGNISED[0].topic));
    let word = |v: u128| format!("{v:064x}");
    let abi_string = |m: &str| hex::encode(chaintrace::convert::abi::abi_tail(m.as_bytes()));
    let kind = |sig: &str| RECOGNISED.iter().find(|r| r.signature == sig).map(|r| format!("0x{}", hex::encode(r.topic))).unwrap();
    let hash = |n: usize| format!("0x{:064x}", n + 1);
    let deposits: HashMap<usize, usize> = items.iter().enumerate().filter_map(|(n, it)| it.deposit.as_ref().map(|d| (d.0, n))).collect();
    for (n, it) in items.iter().enumerate().filter(|(_, it)| it.chain == c) {
        let (block, time) = (1000 + n, 1_700_000_000 + 12 * n);
        for (k, e) in it.tx.events.iter().enumerate() {
            let asset = e.asset.split_once(':').unwrap().1;
            let asset = if asset == ETH { String::new() } else { asset.to_string() };
            s += &format!("{block},{time},{},0,{k},{},{},{},{asset}\n", hash(n), strip(&e.from), strip(&e.to), e.value);
        }
        for (k, v) in it.tx.venues.iter().enumerate() {
            l += &format!("{},{},0,{},0x,{swap},{block}\n", 100 + k, hash(n), strip(v));
        }
        if let Some((_, dest)) = &it.deposit {
            let memo = format!("=:{}.ETH:{dest}", if c == 0 { "BASE" } else { "ETH" });
            let data = format!("0x{}{}{}", word(1), word(64), abi_string(&memo));
            l += &format!("200,{},0,{},{data},{},{block}\n", hash(n), ROUTERS[c], kind("Deposit(address,address,uint256,string)"));
        }
        if let Some(id) = it.payout
            && let Some(&d) = deposits.get(&id)
        {
            let memo = format!("OUT:{}", hash(d)[2..].to_uppercase());
            let data = format!("0x{}{}{}{}", word(0), word(1), word(96), abi_string(&memo));
            l += &format!(
                "201,{},0,{},{data},{},{block}\n",
                hash(n),
                ROUTERS[c],
                kind("TransferOut(address,address,address,uint256,string)")
            );
        }
    }
    (s, l)
}

/// The timeline's two stores (Ethereum and Base) under `dir`, transfers
/// and logs ingested, each given address set labelled with its category
/// on both chains.
fn two_chain_stores(dir: &std::path::Path, items: &[Item], labels: &[(&BTreeSet<String>, &str)]) -> Vec<Store> {
    use chaintrace::ingest::{self, Format, Options};
    use chaintrace::model::Chain;
    let mut stores = Vec::new();
    for (c, chain) in [Chain::Ethereum, Chain::Base].into_iter().enumerate() {
        let (tr, lg) = chain_texts(items, c);
        let dir = dir.join(CHAINS[c]);
        std::fs::create_dir_all(&dir).unwrap();
        let (f, l, st) = (dir.join("t.csv"), dir.join("logs.csv"), dir.join("s"));
        std::fs::write(&f, tr).unwrap();
        std::fs::write(&l, lg).unwrap();
        ingest::ingest(&st, &[f], &Options::new(chain, Format::Transfers)).unwrap();
        ingest::ingest(&st, &[l], &Options::new(chain, Format::Etl)).unwrap();
        let rows: Vec<chaintrace::labels::Label> = labels
            .iter()
            .flat_map(|(set, category)| {
                set.iter().map(|a| chaintrace::labels::Label { address: a.clone(), category: (*category).into(), ..Default::default() })
            })
            .collect();
        chaintrace::labels::save(&st, &rows).unwrap();
        stores.push(Store::open(&st).unwrap());
    }
    stores
}

/// The bridges §7 follows in a timeline, as the matcher finds them: one
/// payout, later than the deposit, paying the memo's destination. By
/// bridge id, the payout's place.
fn followed_bridges(items: &[Item]) -> HashMap<usize, usize> {
    let mut payouts: HashMap<usize, Vec<usize>> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        if let Some(id) = it.payout {
            payouts.entry(id).or_default().push(n);
        }
    }
    let mut followed: HashMap<usize, usize> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        let Some((id, dest)) = &it.deposit else { continue };
        if let Some([p]) = payouts.get(id).map(|v| &v[..])
            && *p > n
            && items[*p].tx.events.last().unwrap().to == on(1 - it.chain, dest)
        {
            followed.insert(*id, *p);
        }
    }
    followed
}

/// The reference over the timeline: bridges found as §7 says (one payout,
/// later than the deposit, paying the memo's destination), then every
/// transaction in order.
fn naive_bridged(items: &[Item], policy: Policy, seeds: &BTreeSet<String>, stops: &BTreeSet<String>, max_hops: Option<u32>) -> Naive {
    let mut s = new_ref(policy, seeds, stops, max_hops);
    let followed = followed_bridges(items);
    // Per bridge: x, a, the lots that left, the payee's hop.
    type Carried = (u128, u128, Vec<(u128, bool)>, u32);
    let mut carried: HashMap<usize, Carried> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        if let Some((id, _)) = &it.deposit {
            let first = &it.tx.events[0];
            let (ku, a) = ((first.asset.clone(), first.from.clone()), first.value);
            let (x, out, h) = s.send(&ku, a);
            s.move_legs(&it.tx, &[&ku]);
            if followed.contains_key(id) {
                if x > 0 {
                    s.side(&ku.0).conv_out += x;
                }
                carried.insert(*id, (x, a, out, h));
            } else if x > 0 {
                let holder = it.tx.events.last().unwrap().to.clone();
                *s.side(&ku.0).dest.entry(holder).or_default() += x;
                s.r.unfollowed.push(n);
            }
            continue;
        }
        if let Some(id) = it.payout
            && followed.get(&id) == Some(&n)
        {
            let last = it.tx.events.last().unwrap();
            let (kr, b) = ((last.asset.clone(), last.to.clone()), last.value);
            s.move_legs(&it.tx, &[&kr]);
            let (x, a, out, h) = carried.remove(&id).unwrap();
            let (y, lots) = carry(policy, x, a, b, out);
            if x > 0 {
                s.crossed_in(&kr.0, x, a, b, y);
                s.r.crossed.push((n, x, y));
            }
            s.receive(&kr, b, y, h, lots);
            continue;
        }
        s.tx(n, &it.tx);
    }
    s.finish()
}

/// The two-chain trace's outcome in the reference's terms, chains kept
/// apart by prefixes; conservation per asset checked on the way.
fn multi_as_naive(stores: &[Store], m: &trace::multi::Multi, hashes: &HashMap<String, usize>, policy: Policy, case: usize) -> Naive {
    let mut got = Naive::default();
    for (c, (st, out)) in stores.iter().zip(&m.chains).enumerate() {
        let trace::multi::ChainOutcome::Account(f) = out else { panic!("two account-model chains") };
        if policy != Policy::Poison {
            for &a in f.by_asset.keys().chain(f.converted_in.keys()) {
                let (l, r) = f.balance(a);
                assert_eq!(l, r, "case {case} {policy:?}: {} asset {a} does not balance", CHAINS[c]);
            }
        }
        let e = engine_as_naive(st, f, hashes);
        for (asset, mut side) in e.by_asset {
            for m in [&mut side.dest, &mut side.dormant, &mut side.horizon] {
                *m = std::mem::take(m).into_iter().map(|(a, v)| (on(c, &a), v)).collect();
            }
            got.by_asset.insert(asset_on(c, &asset), side);
        }
        got.crossed.extend(e.crossed);
        got.unfollowed.extend(e.unfollowed);
    }
    got.crossed.sort_unstable();
    got.unfollowed.sort_unstable();
    got
}

#[test]
fn bridges_agree_with_naive_across_two_chains() {
    use chaintrace::trace::multi::{ChainOutcome, Part, run_multi};
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(20_261_216);
    let (mut crossed, mut held, mut tainted_crossings, mut sparse_runs) = (0usize, 0usize, 0usize, 0usize);
    for case in 0..80 {
        let t = tempfile::tempdir().unwrap();
        let n_users = 3 + rng.below(5) as usize;
        let n_txs = 10 + rng.below(30) as usize;
        let items = random_timeline(&mut rng, n_users, n_txs);
        let seeds: BTreeSet<String> = (0..1 + rng.below(2)).map(|_| addr(rng.below(n_users as u64) as usize)).collect();
        let stops: BTreeSet<String> =
            (0..rng.below(3)).map(|_| addr(rng.below(n_users as u64) as usize)).filter(|a| !seeds.contains(a)).collect();
        let max_hops = if rng.below(4) == 0 { Some(1 + rng.below(3) as u32) } else { None };
        let stores = two_chain_stores(t.path(), &items, &[(&stops, "exchange")]);
        let both = |set: &BTreeSet<String>| set.iter().flat_map(|a| [on(0, a), on(1, a)]).collect::<BTreeSet<String>>();
        let (nseeds, nstops) = (both(&seeds), both(&stops));
        let hashes: HashMap<String, usize> = (0..items.len()).map(|n| (format!("0x{:064x}", n + 1), n)).collect();
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Poison] {
            let want = naive_bridged(&items, policy, &nseeds, &nstops, max_hops);
            let parts: Vec<Part<'_>> = stores
                .iter()
                .map(|st| Part {
                    store: st,
                    spec: spec(policy, seeds.iter().filter_map(|a| st.find_address(a)).collect(), !stops.is_empty(), max_hops),
                    seed_asset: None,
                    outpoints: vec![],
                })
                .collect();
            let m = run_multi(&parts, &[trace::Follow::Swaps, trace::Follow::Bridges]).unwrap();
            let got = multi_as_naive(&stores, &m, &hashes, policy, case);
            if policy != Policy::Fifo {
                // Each store's ledger, written by a trace of it alone; the
                // two-chain trace then sweeps sparsely over both (ADR 0012).
                for (st, part) in stores.iter().zip(&parts) {
                    trace::run_follow(st, &part.spec, None).unwrap();
                }
                let sparse = run_multi(&parts, &[trace::Follow::Swaps, trace::Follow::Bridges]).unwrap();
                sparse_runs += sparse.chains.iter().filter(|c| matches!(c, ChainOutcome::Account(f) if f.sparse)).count();
                assert_eq!(multi_as_naive(&stores, &sparse, &hashes, policy, case), got, "case {case} {policy:?}: the sparse sweeps");
            }
            let mut want_sorted = want;
            want_sorted.crossed.sort_unstable();
            want_sorted.unfollowed.sort_unstable();
            if got != want_sorted {
                let mut d = String::new();
                for k in got.by_asset.keys().chain(want_sorted.by_asset.keys()).collect::<BTreeSet<_>>() {
                    if got.by_asset.get(k) != want_sorted.by_asset.get(k) {
                        d += &format!("asset {k}\n engine {:?}\n naive  {:?}\n", got.by_asset.get(k), want_sorted.by_asset.get(k));
                    }
                }
                d += &format!("crossed engine {:?}\n        naive  {:?}\n", got.crossed, want_sorted.crossed);
                d += &format!("unfollowed engine {:?} naive {:?}\n", got.unfollowed, want_sorted.unfollowed);
                for (n, it) in items.iter().enumerate() {
                    let evs: Vec<String> = it.tx.events.iter().map(|e| format!("{}->{} {} {}", e.from, e.to, e.asset, e.value)).collect();
                    d +=
                        &format!("tx {n} chain {} dep {:?} pay {:?} venues {:?}: {evs:?}\n", it.chain, it.deposit, it.payout, it.tx.venues);
                }
                panic!("case {case} {policy:?}: seeds {seeds:?} stops {stops:?} max_hops {max_hops:?}\n{d}");
            }
            tainted_crossings += got.crossed.iter().filter(|c| items[c.0].payout.is_some()).count();
            crossed += m.bridges.iter().filter(|b| b.status == trace::bridges::Status::Followable).count();
            held += m.bridges.iter().filter(|b| b.status != trace::bridges::Status::Followable).count();
        }
    }
    assert!(
        crossed > 100 && held > 30 && tainted_crossings > 100 && sparse_runs > 200,
        "followed {crossed} ({tainted_crossings} carrying taint), held by the bridge {held}, {sparse_runs} sparse sweeps"
    );
}

/// Exposure of one address to one category, as the reference keeps it:
/// amount, direct, smallest hop and the first tainted arrival (item, from, to).
type NaiveExposure = (u128, u128, u32, (usize, String, String));

/// Screening over the two chains (TRACING.md §4 with §7's bridges), one
/// transaction at a time: one haircut sweep per category in ETH on each
/// chain, seeds and absorbing services from labels, bridges followed as
/// the trace follows them when both sides move ETH. Returns per
/// (address, category) the exposure, and per address what it received.
#[allow(clippy::type_complexity)]
fn naive_screen(
    items: &[Item],
    cats: &[&str],
    seeds: &[BTreeSet<String>],
    absorbs: &[BTreeSet<String>],
) -> (BTreeMap<(String, usize), NaiveExposure>, BTreeMap<String, u128>) {
    let is_eth = |c: usize, e: &Ev| e.asset == asset_on(c, ETH);
    // Followed bridges: the trace's, both sides in ETH.
    let mut followed = followed_bridges(items);
    followed.retain(|_, p| {
        let d = items.iter().find(|it| it.deposit.as_ref().map(|d| d.0) == items[*p].payout).unwrap();
        is_eth(d.chain, &d.tx.events[0]) && is_eth(items[*p].chain, items[*p].tx.events.last().unwrap())
    });
    let mut bal: HashMap<String, u128> = HashMap::new();
    let mut pool: HashMap<(String, usize), (u128, u32)> = HashMap::new();
    let mut exp: BTreeMap<(String, usize), NaiveExposure> = BTreeMap::new();
    let mut received: BTreeMap<String, u128> = BTreeMap::new();
    let mut carried: HashMap<usize, (Vec<(u128, u32)>, u128)> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        let c = it.chain;
        let send = it.deposit.as_ref().filter(|d| followed.contains_key(&d.0)).map(|d| d.0);
        let recv = it.payout.filter(|id| followed.get(id) == Some(&n));
        let last = it.tx.events.len() - 1;
        for (k, e) in it.tx.events.iter().enumerate() {
            if !is_eth(c, e) || e.value == 0 {
                continue;
            }
            let (u, v, a) = (e.from.clone(), e.to.clone(), e.value);
            if u != v {
                *received.entry(v.clone()).or_default() += a;
            }
            let b = bal.get(&u).copied().unwrap_or(0);
            let b1 = b.max(a);
            if u == v {
                bal.insert(u, b1);
                continue;
            }
            bal.insert(u.clone(), b1 - a);
            *bal.entry(v.clone()).or_default() += a;
            let mut moving: Vec<(u128, u32)> = vec![(0, 0); cats.len()];
            let quiet = (send.is_some() && k != 0) || (recv.is_some() && k != last);
            if quiet {
                // A bridge's own leg: balances only.
            } else if let Some(id) = recv {
                let (xs, a) = carried.remove(&id).unwrap();
                for (cat, &(x, h)) in xs.iter().enumerate() {
                    moving[cat] = (x * e.value / a, h);
                }
            } else {
                for (cat, m) in moving.iter_mut().enumerate() {
                    if seeds[cat].contains(&u) {
                        *m = (a, 1);
                    } else if let Some(p) = pool.get_mut(&(u.clone(), cat)) {
                        let x = if p.0 == b1 { a } else { a * p.0 / b1 };
                        p.0 -= x;
                        *m = (x, p.1 + 1);
                    }
                }
                if let Some(id) = send {
                    carried.insert(id, (std::mem::take(&mut moving), a));
                    moving = vec![(0, 0); cats.len()];
                }
            }
            for (cat, &(x, h)) in moving.iter().enumerate() {
                if x > 0 {
                    let s = exp.entry((v.clone(), cat)).or_insert((0, 0, u32::MAX, (n, u.clone(), v.clone())));
                    s.0 += x;
                    if h == 1 {
                        s.1 += x;
                    }
                    s.2 = s.2.min(h);
                }
                if seeds[cat].contains(&v) {
                    pool.insert((v.clone(), cat), (bal[&v], 0));
                } else if x > 0 && !absorbs[cat].contains(&v) {
                    let p = pool.entry((v.clone(), cat)).or_insert((0, u32::MAX));
                    p.0 += x;
                    p.1 = p.1.min(h);
                }
            }
        }
    }
    (exp, received)
}

#[test]
fn screening_across_two_chains_agrees_with_naive() {
    use chaintrace::screen::CategorySet;
    use chaintrace::screen::multi::sweep_many;
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(20_261_203);
    let cats = ["hack", "mixer"];
    let (mut crossed_exposure, mut paths_across) = (0usize, 0usize);
    for case in 0..150 {
        let t = tempfile::tempdir().unwrap();
        let n_users = 3 + rng.below(5) as usize;
        let n_txs = 10 + rng.below(30) as usize;
        let items = random_timeline(&mut rng, n_users, n_txs);
        let pick = |rng: &mut Rng, most: u64| -> BTreeSet<String> {
            (0..rng.below(most + 1)).map(|_| addr(rng.below(n_users as u64) as usize)).collect()
        };
        let hack: BTreeSet<String> = pick(&mut rng, 2).into_iter().chain([addr(rng.below(n_users as u64) as usize)]).collect();
        let mixer: BTreeSet<String> = pick(&mut rng, 1).difference(&hack).cloned().collect();
        let exchange: BTreeSet<String> = pick(&mut rng, 2).difference(&hack).filter(|a| !mixer.contains(*a)).cloned().collect();
        let stores = two_chain_stores(t.path(), &items, &[(&hack, "hack"), (&mixer, "mixer"), (&exchange, "exchange")]);
        let both = |set: &BTreeSet<String>| set.iter().flat_map(|a| [on(0, a), on(1, a)]).collect::<BTreeSet<String>>();
        // Services absorb every category but their own.
        let seeds = [both(&hack), both(&mixer)];
        let absorbs = [both(&mixer.union(&exchange).cloned().collect()), both(&exchange)];
        let (want, want_received) = naive_screen(&items, &cats, &seeds, &absorbs);
        let refs: Vec<&Store> = stores.iter().collect();
        let got = sweep_many(&refs, &[0, 0], &CategorySet::new(cats), false).unwrap();
        let mut have: BTreeMap<(String, usize), NaiveExposure> = BTreeMap::new();
        let mut have_received: BTreeMap<String, u128> = BTreeMap::new();
        for (c, (st, x)) in stores.iter().zip(&got.exposures).enumerate() {
            for (id, es) in x.by_address.iter().enumerate() {
                let a = on(c, &st.address_text(id as u32));
                if x.received[id] > 0 {
                    have_received.insert(a.clone(), x.received[id]);
                }
                for e in es {
                    let r = chaintrace::trace::evidence::EventRef::of(st, e.first_in as usize);
                    let n = u64::from_str_radix(&r.tx.unwrap()[2..], 16).unwrap() as usize - 1;
                    have.insert((a.clone(), e.category as usize), (e.amount, e.direct, e.hops, (n, on(c, &r.from), on(c, &r.to))));
                }
            }
        }
        if have != want || have_received != want_received {
            let mut d = String::new();
            for k in have.keys().chain(want.keys()).collect::<BTreeSet<_>>() {
                if have.get(k) != want.get(k) {
                    d += &format!("{k:?}: engine {:?} naive {:?}\n", have.get(k), want.get(k));
                }
            }
            for k in have_received.keys().chain(want_received.keys()).collect::<BTreeSet<_>>() {
                if have_received.get(k) != want_received.get(k) {
                    d += &format!("received {k}: engine {:?} naive {:?}\n", have_received.get(k), want_received.get(k));
                }
            }
            for (n, it) in items.iter().enumerate() {
                let evs: Vec<String> = it.tx.events.iter().map(|e| format!("{}->{} {} {}", e.from, e.to, e.asset, e.value)).collect();
                d += &format!("tx {n} chain {} dep {:?} pay {:?}: {evs:?}\n", it.chain, it.deposit, it.payout);
            }
            panic!("case {case}: hack {hack:?} mixer {mixer:?} exchange {exchange:?}\n{d}");
        }
        crossed_exposure += want.values().filter(|e| items[e.3.0].payout.is_some() && e.0 > 0).count();
        // Evidence paths: from a source to the address, each step's sender
        // the previous step's receiver, crossing chains only at a bridge.
        let ixs: Vec<chaintrace::screen::index::Index> = stores
            .iter()
            .zip(&got.exposures)
            .map(|(st, x)| {
                let p = t.path().join(format!("{}.idx", st.manifest.chain.name()));
                chaintrace::screen::index::write(st, "ETH", &CategorySet::new(cats).names, x, &p).unwrap();
                chaintrace::screen::index::Index::open(&p).unwrap()
            })
            .collect();
        for (a, cat) in want.keys() {
            let (c, plain) = a.split_once('|').unwrap();
            let c: usize = c.parse().unwrap();
            let id = stores[c].find_address(plain).unwrap();
            let path = chaintrace::screen::multi::path(&refs, &ixs, &got.links, c, id, *cat as u16);
            assert!(!path.is_empty(), "case {case}: no path to {a}");
            let last = path.last().unwrap();
            assert_eq!((last.0, stores[last.0].events().receiver(last.1 as usize)), (c, id), "case {case}: the path ends at {a}");
            let first = path[0];
            let source = on(first.0, &stores[first.0].address_text(stores[first.0].events().sender(first.1 as usize)));
            assert!(seeds[*cat].contains(&source), "case {case}: path to {a} starts at {source}, not a source");
            for w in path.windows(2) {
                let (x, y) = (w[0], w[1]);
                if x.0 == y.0 {
                    let ev = stores[x.0].events();
                    assert_eq!(ev.receiver(x.1 as usize), ev.sender(y.1 as usize), "case {case}: a broken path to {a}");
                    assert!(x.1 < y.1, "case {case}: a path out of order");
                } else {
                    assert!(
                        got.links.iter().any(|l| l.deposit == (x.0, x.1) && l.payout == (y.0, y.1)),
                        "case {case}: chains crossed off a bridge"
                    );
                    paths_across += 1;
                }
            }
        }
    }
    assert!(
        crossed_exposure > 50 && paths_across > 50,
        "{crossed_exposure} exposures on the other chain, {paths_across} paths across a bridge"
    );
}

/// Everything a `--follow` answer holds that a report is built from, as
/// one comparable text (the visit count aside: it is a figure of the run).
fn followed_text(f: &trace::Followed) -> String {
    let by_asset: Vec<String> = f
        .by_asset
        .iter()
        .map(|(a, o)| {
            format!(
                "{a}: seeded {} unknown {} fees {} held {} dest {:?} dormant {:?} horizon {:?}",
                o.seeded, o.unknown_origin, o.fees, o.held_by_seeds, o.destinations, o.dormant, o.horizon
            )
        })
        .collect();
    format!(
        "{by_asset:#?}\nin {:?}\nout {:?}\nrounding {:?}\narrivals {:?}\ncrossed {:?}\nunfollowed {:?}\nwarnings {:?} seed asset {:?}",
        f.converted_in, f.converted_out, f.rounding, f.arrivals, f.crossed, f.unfollowed, f.seed_stop_warnings, f.seed_asset
    )
}

/// Free loopback addresses for `p` processes.
fn hosts(p: usize) -> Vec<std::net::SocketAddr> {
    let ls: Vec<std::net::TcpListener> = (0..p).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    ls.iter().map(|l| l.local_addr().unwrap()).collect()
}

/// TRACING.md §8 for `--follow swaps` across workers and processes
/// (issue 17): on random multi-asset stores with swaps (some with their
/// transactions' events interleaved), under every policy, with stops,
/// hops, seed transactions, block windows and `--asset`, the answer is the
/// single process's, field for field and arrival for arrival, whatever the
/// workers and however small the segments.
#[test]
fn follow_on_workers_and_processes_finds_what_one_process_does() {
    use chaintrace::dataflow::{Workers, follow};
    let _turn = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(20_261_205);
    let (mut crossed, mut unfollowed, mut arrivals, mut wide) = (0usize, 0usize, 0usize, 0usize);
    for case in 0..60 {
        let t = tempfile::tempdir().unwrap();
        let n_users = 3 + rng.below(8) as usize;
        let n_txs = 10 + rng.below(60) as usize;
        let mut txs = random_txs(&mut rng, n_users, n_txs);
        // Now and then values near 2^127, whose sums pass u128: the workers add them up in 320 bits.
        if case % 7 == 3 {
            txs.iter_mut().flat_map(|t| t.events.iter_mut()).for_each(|e| e.value <<= 117);
        }
        let (seeds, stops, max_hops) = random_question(&mut rng, n_users, false);
        let store = build_store(t.path(), &txs, &stops, case % 3 == 2);
        wide += usize::from(!store.big_values().is_empty());
        let seed_ids: Vec<u32> = seeds.iter().filter_map(|a| store.find_address(a)).collect();
        for policy in [Policy::Haircut, Policy::Fifo, Policy::Poison] {
            let mut spec = Spec { evidence: true, ..spec(policy, seed_ids.clone(), !stops.is_empty(), max_hops) };
            if rng.below(4) == 0 {
                spec.seed_txs = vec![store.events().tx(rng.below(store.len() as u64) as usize)];
            }
            if rng.below(5) == 0 {
                let lo = 1000 + rng.below(txs.len() as u64 / 2 + 1);
                (spec.from_block, spec.to_block) = (Some(lo), Some(lo + rng.below(txs.len() as u64 / 2 + 1)));
            }
            let asset = (rng.below(5) == 0).then(|| rng.below(store.manifest.assets.len() as u64) as u32);
            let one = trace::run_follow(&store, &spec, asset).unwrap();
            let want = followed_text(&one);
            crossed += one.crossed.len();
            unfollowed += one.unfollowed.len();
            arrivals += one.arrivals.len();
            let q = [(spec.clone(), asset)];
            for (threads, bits) in [(1, 3), (2, 2), (3, 1)] {
                let got = follow::trace_in_segments(&store.dir, &q, &Workers::Local { threads }, bits).unwrap().unwrap();
                assert_eq!(followed_text(&got[0]), want, "case {case} {policy:?}: {threads} workers, segments of 2^{bits}");
            }
            // Processes connect over TCP (a second or so to start): fewer cases.
            if case % 10 == 0 {
                for (p, threads) in [(2, 1), (3, 2)] {
                    let hs = hosts(p);
                    let runs: Vec<_> = (0..p)
                        .map(|process| {
                            let (dir, q, hs) = (store.dir.clone(), q.clone(), hs.clone());
                            std::thread::spawn(move || {
                                follow::trace_in_segments(&dir, &q, &Workers::Cluster { threads, process, hosts: hs }, 2)
                            })
                        })
                        .collect();
                    let got: Vec<_> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
                    assert_eq!(followed_text(&got[0].as_ref().unwrap()[0]), want, "case {case} {policy:?}: {p} processes of {threads}");
                    assert!(got[1..].iter().all(Option::is_none));
                }
            }
        }
    }
    // The cases exercise what they are meant to.
    assert!(crossed > 100 && unfollowed > 50 && arrivals > 1000, "crossed {crossed}, unfollowed {unfollowed}, arrivals {arrivals}");
    assert!(wide > 5, "{wide} stores with values past 2^72");
}
