//! The exposure sweep (TRACING.md §4): one haircut sweep per risk category,
//! all categories in the same pass over the store.
//!
//! In the sweep of category `c`, the addresses labelled `c` are seeds while
//! their label applies, every address labelled with a service category
//! other than `c` absorbs while that label applies, and the zero address
//! always absorbs. The pass visits only events whose sender holds taint in
//! some category or whose sender or receiver carries a seed label; sender
//! balances come from the store's precomputed column (ADR 0005), so
//! untainted traffic costs one flag test.
//!
//! The sweep runs in steps ([`Sweeper::run_to`]) so that screening over
//! several stores ([`super::multi`]) can carry exposure across bridges
//! (§7): a followed deposit's outflow leaves its payer in every category
//! and is handed over ([`Sweeper::take_sent`]), and its payout's sweep
//! lays it on the payee ([`Sweeper::give`]); the bridge's own legs move
//! balances only.

use super::index::{Index, OutputRecord, PoolRecord, Row, SeedBalance, Whole};
use super::{CategorySet, ScreenError};
use crate::labels::{Label, taxonomy, within};
use crate::model::{NO_TIME, flags};
use crate::store::Store;
use crate::store::{Balances, EventColumns, PartyCursor, RunCursor};
use crate::trace::IdMap;
use ruint::aliases::U256;
use std::collections::HashMap;

/// What one address received from the sources of one category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Category index into the index's category list.
    pub category: u16,
    /// Taint carried by its arrivals.
    pub amount: u128,
    /// Of that, arrivals of hop 1 (straight from a source).
    pub direct: u128,
    /// Smallest hop of a tainted arrival.
    pub hops: u32,
    /// Its first tainted arrival (event index): the last step of an
    /// evidence path, which continues through the sender's first tainted
    /// arrival (see [`super::index::Index::path`]).
    pub first_in: u64,
    /// UTXO model: the output whose taint the first tainted arrival's
    /// transaction spent most of (`u64::MAX`: none, or the account model).
    pub pred: u64,
}

/// A label's hold on an address: what (a category index or a service
/// name) and the interval it applies in.
pub type Rule<T> = (T, Option<i64>, Option<i64>);

/// The sweep's result, by address id.
pub struct Exposures {
    /// What each address received from others in the screened asset.
    pub received: Vec<u128>,
    /// Per address, its non-zero exposures, ascending by category.
    pub by_address: Vec<Vec<Exposure>>,
    /// Seed rules per address: `(category, from, to)`, for evidence paths.
    pub seeds: IdMap<Vec<Rule<u16>>>,
    /// The sweep's end state, when an update can take it up from there
    /// (the single-process account-model sweep's).
    pub state: Option<SweepState>,
}

/// Where a sweep ended: what it needs to go on over appended events.
pub struct SweepState {
    /// Every pool, ascending by address and category.
    pub pools: Vec<PoolRecord>,
    /// Every seed-labelled address's balance, ascending by address.
    pub seed_balances: Vec<SeedBalance>,
    /// UTXO model: every tainted unspent output, ascending.
    pub outputs: Vec<OutputRecord>,
}

impl Exposures {
    /// From a sweep's per-address exposures (in any order) and sums.
    pub(crate) fn gather(exposures: IdMap<Vec<Exposure>>, received: Vec<u128>, seeds: IdMap<Vec<Rule<u16>>>) -> Self {
        let mut by_address: Vec<Vec<Exposure>> = vec![Vec::new(); received.len()];
        for (id, mut e) in exposures {
            e.sort_by_key(|x| x.category);
            by_address[id as usize] = e;
        }
        Exposures { received, by_address, seeds, state: None }
    }
}

/// Exposure on its way across a bridge: per category, the taint that left
/// the deposit's payer and its hop there (a zero amount: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crossing {
    /// Taint per category index.
    pub x: [u128; 16],
    /// The hop of that outflow per category.
    pub hop: [u32; 16],
}

/// A followed bridge deposit in this store: the payer's legs in the
/// screened asset leave as one outflow of `a` at its first leg.
#[derive(Clone, Copy, Debug)]
pub struct DepositLeg {
    /// The bridge's index in the matcher's list.
    pub k: usize,
    /// `a`.
    pub a: u128,
}

/// A followed bridge payout in this store: the payee's leg that receives
/// what the deposit carried.
#[derive(Clone, Copy, Debug)]
pub struct PayoutLeg {
    /// The bridge's index in the matcher's list.
    pub k: usize,
    /// The deposit's `a`.
    pub a: u128,
    /// The payout's `b`.
    pub b: u128,
}

/// What the sweep does at one event of a bridge transaction.
#[derive(Clone, Copy, Debug)]
pub enum BridgeStep {
    /// The payer's first leg: the whole deposit leaves here.
    Send(DepositLeg),
    /// The payee's leg: what the deposit carried arrives here.
    Receive(PayoutLeg),
    /// Any other leg of a followed deposit or payout: balances only.
    Quiet,
}

/// A pool of taint one address holds in one category.
#[derive(Clone, Copy, Debug)]
struct Pool {
    taint: u128,
    hop: u32,
}

pub(crate) const SEED_RULE: u8 = 1;
pub(crate) const ABSORB_RULE: u8 = 2;

pub(crate) fn too_large(what: &str) -> ScreenError {
    ScreenError::TooLarge(format!("{what} does not fit 128 bits; the exposure index keeps amounts below 2^128"))
}

/// Run the sweep over `asset` for the categories in `cats`.
pub fn sweep(store: &Store, asset: u32, cats: &CategorySet, labels: &[Label]) -> Result<Exposures, ScreenError> {
    let mut s = Sweeper::new(store, asset, cats, labels, Vec::new())?;
    s.run_to(store.len())?;
    s.finish()
}

/// What the labels make of addresses in the sweep of each category: the
/// sources (seeds) of a category while their label applies, and the
/// services that absorb every other category while theirs applies.
pub(crate) struct LabelRules {
    pub(crate) names: Vec<String>,
    /// Per address: [`SEED_RULE`] and [`ABSORB_RULE`] bits.
    pub(crate) flag: Vec<u8>,
    pub(crate) seeds: IdMap<Vec<Rule<u16>>>,
    services: IdMap<Vec<Rule<&'static str>>>,
    zero: Option<u32>,
}

impl LabelRules {
    pub(crate) fn new(store: &Store, cats: &CategorySet, labels: &[Label]) -> Result<Self, ScreenError> {
        let k_n = cats.names.len();
        if k_n > 16 {
            return Err(ScreenError::Usage(format!("at most 16 risk categories, {k_n} given")));
        }
        let ids = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
        let mut flag = vec![0u8; store.address_count()];
        let mut seeds: IdMap<Vec<Rule<u16>>> = IdMap::default();
        let mut services: IdMap<Vec<Rule<&'static str>>> = IdMap::default();
        let has_times = store.events().any_time();
        for l in labels {
            let Some(&id) = ids.get(&l.address) else { continue };
            if l.is_bounded() && !has_times {
                return Err(ScreenError::Usage(format!(
                    "label of {} has a validity interval but the store has no event times; intervals need block times",
                    l.address
                )));
            }
            if let Some(k) = cats.index(&l.category) {
                seeds.entry(id).or_default().push((k, l.valid_from, l.valid_to));
                flag[id as usize] |= SEED_RULE;
            }
            if let Some(c) = taxonomy::category(&l.category).filter(|c| c.service) {
                services.entry(id).or_default().push((c.name, l.valid_from, l.valid_to));
                flag[id as usize] |= ABSORB_RULE;
            }
        }
        let zero = if store.manifest.chain.is_account() { store.find_address("0x0000000000000000000000000000000000000000") } else { None };
        if let Some(z) = zero {
            flag[z as usize] |= ABSORB_RULE;
        }
        Ok(LabelRules { names: cats.names.clone(), flag, seeds, services, zero })
    }

    /// Categories whose sweep `id` seeds at `t`.
    pub(crate) fn seed_mask(&self, id: u32, t: Option<i64>) -> u16 {
        if self.flag[id as usize] & SEED_RULE == 0 {
            return 0;
        }
        self.seeds.get(&id).map_or(0, |v| v.iter().filter(|r| within(r.1, r.2, t)).fold(0u16, |m, r| m | (1 << r.0)))
    }

    /// Categories in whose sweep `id` absorbs at `t`: any service label
    /// other than the category itself; the zero address in all.
    pub(crate) fn absorb_mask(&self, id: u32, t: Option<i64>) -> u16 {
        if self.flag[id as usize] & ABSORB_RULE == 0 {
            return 0;
        }
        if Some(id) == self.zero {
            return u16::MAX;
        }
        let mut m = 0u16;
        if let Some(v) = self.services.get(&id) {
            for &(name, from, to) in v {
                if within(from, to, t) {
                    m |= (0..self.names.len()).filter(|&k| self.names[k] != name).fold(0u16, |m, k| m | (1 << k));
                }
            }
        }
        m
    }
}

/// The exposure sweep of one store, run in steps.
pub struct Sweeper<'a> {
    store: &'a Store,
    /// Values and balances past the narrow columns, read in event order.
    big: crate::store::BigReads<'a>,
    ev: EventColumns<'a>,
    bal: Balances<'a>,
    asset: u32,
    rules: LabelRules,
    held: Vec<u16>,
    pools: HashMap<(u32, u16), Pool, std::hash::BuildHasherDefault<crate::trace::IdHasher>>,
    /// Balances of seed-labelled addresses, kept exactly (their every
    /// event is visited): a seed's holdings all turn tainted when its label
    /// applies.
    seed_bal: IdMap<u128>,
    received: Vec<u128>,
    exposures: IdMap<Vec<Exposure>>,
    runs: RunCursor<'a>,
    parties: PartyCursor<'a>,
    /// The next event to handle.
    next: usize,
    /// Bridge events, ascending by event index, and the next of them.
    steps: Vec<(usize, BridgeStep)>,
    step: usize,
    /// Deposits handled since the coordinator last asked.
    sent: Vec<(usize, Crossing)>,
    /// What deposits carry to this store's payouts, by bridge index.
    given: HashMap<usize, Crossing>,
}

impl<'a> Sweeper<'a> {
    /// A sweep of `asset` in `store` with the given bridge events (sorted
    /// by event index, at most one step an event).
    pub fn new(
        store: &'a Store,
        asset: u32,
        cats: &CategorySet,
        labels: &[Label],
        steps: Vec<(usize, BridgeStep)>,
    ) -> Result<Self, ScreenError> {
        if !store.manifest.chain.is_account() {
            return Err(ScreenError::Usage("the account-model exposure sweep was given a Bitcoin store".into()));
        }
        let n_addr = store.address_count();
        let ev = store.events();
        debug_assert!(steps.windows(2).all(|w| w[0].0 < w[1].0));
        Ok(Sweeper {
            store,
            big: store.big_reads(),
            ev,
            bal: store.sender_balances(),
            asset,
            rules: LabelRules::new(store, cats, labels)?,
            held: vec![0u16; n_addr],
            pools: Default::default(),
            seed_bal: IdMap::default(),
            received: vec![0u128; n_addr],
            exposures: IdMap::default(),
            runs: ev.cursor(),
            parties: ev.party_cursor(),
            next: 0,
            steps,
            step: 0,
            sent: Vec::new(),
            given: HashMap::new(),
        })
    }

    fn value_of(&mut self, i: usize) -> Result<u128, ScreenError> {
        match self.ev.value.get(i) {
            u128::MAX => {
                self.big.value(i).to_u128().filter(|&v| v != u128::MAX).ok_or_else(|| too_large(&format!("the value of event {i}")))
            }
            v => Ok(v),
        }
    }

    /// Handle every event before `end` (in order; events already handled
    /// are not handled again).
    pub fn run_to(&mut self, end: usize) -> Result<(), ScreenError> {
        let end = end.min(self.store.len());
        while self.next < end {
            let stop = self.steps.get(self.step).map_or(end, |s| s.0.min(end));
            self.scan(self.next, stop)?;
            self.next = stop;
            if let Some(&(i, step)) = self.steps.get(self.step)
                && i == stop
                && i < end
            {
                self.event(i, Some(step))?;
                self.step += 1;
                self.next = i + 1;
            }
        }
        Ok(())
    }

    /// The plain events `from..to`.
    fn scan(&mut self, from: usize, to: usize) -> Result<(), ScreenError> {
        for i in from..to {
            self.event(i, None)?;
        }
        Ok(())
    }

    /// One event; `step` says what a bridge makes of it.
    #[inline]
    fn event(&mut self, i: usize, step: Option<BridgeStep>) -> Result<(), ScreenError> {
        let ev = self.ev;
        if ev.asset(i) != self.asset || ev.flags(i) & flags::MOVES_NOTHING != 0 {
            return Ok(());
        }
        let (u, v) = self.parties.at(i);
        let raw = ev.value.get(i);
        if u != v && raw != 0 {
            let a = self.value_of(i)?;
            self.received[v as usize] = self.received[v as usize].checked_add(a).ok_or_else(|| too_large("an address's received sum"))?;
        }
        let fu = self.rules.flag[u as usize];
        let fv = self.rules.flag[v as usize];
        if step.is_none() && self.held[u as usize] == 0 && (fu | fv) & SEED_RULE == 0 {
            return Ok(());
        }
        self.hot(i, u, v, fu, fv, step)
    }

    /// An event that may move taint (cold: most events stop before it).
    #[inline(never)]
    fn hot(&mut self, i: usize, u: u32, v: u32, fu: u8, fv: u8, step: Option<BridgeStep>) -> Result<(), ScreenError> {
        let a = self.value_of(i)?;
        if a == 0 {
            return match step {
                // A payout of nothing still ends its crossing.
                Some(BridgeStep::Receive(p)) => {
                    self.given.remove(&p.k);
                    Ok(())
                }
                Some(BridgeStep::Send(d)) => {
                    self.sent.push((d.k, Crossing::default()));
                    Ok(())
                }
                _ => Ok(()),
            };
        }
        let t = Some(self.runs.at(i).time).filter(|&t| t != NO_TIME);
        let b = match self.bal.get(i) {
            u128::MAX => self.big.wide_balance(i),
            b => b,
        };
        if b == u128::MAX {
            return Err(too_large(&format!("the sender's balance before event {i}")));
        }
        // The shortfall rule: what the sender lacks is credited first.
        let b1 = b.max(a);
        if fu & SEED_RULE != 0 {
            self.seed_bal.insert(u, if u == v { b1 } else { b1 - a });
        }
        if u == v {
            // A crossing ends at its step whatever the step moves.
            match step {
                Some(BridgeStep::Send(d)) => self.sent.push((d.k, Crossing::default())),
                Some(BridgeStep::Receive(p)) => {
                    self.given.remove(&p.k);
                }
                _ => {}
            }
            return Ok(());
        }
        let k_n = self.rules.names.len();
        let mut xs = [0u128; 16];
        let mut hops = [0u32; 16];
        let mut moving = 0u16;
        match step {
            None | Some(BridgeStep::Send(_)) => {
                // A deposit's payer pays all of `a` at its first leg.
                let (a, b1) = match step {
                    Some(BridgeStep::Send(d)) => (d.a, b.max(d.a)),
                    _ => (a, b1),
                };
                let seeding = if fu & SEED_RULE != 0 { self.rules.seed_mask(u, t) } else { 0 };
                for k in 0..k_n {
                    let bit = 1u16 << k;
                    if seeding & bit != 0 {
                        xs[k] = a;
                        hops[k] = 1;
                        moving |= bit;
                        let rest = b1 - a;
                        let p = self.pools.entry((u, k as u16)).or_insert(Pool { taint: 0, hop: 0 });
                        p.taint = rest;
                        p.hop = 0;
                        if rest > 0 { self.held[u as usize] |= bit } else { self.held[u as usize] &= !bit }
                    } else if self.held[u as usize] & bit != 0 {
                        let p = self.pools.get_mut(&(u, k as u16)).expect("held pool");
                        let x = if p.taint == b1 { a } else { (U256::from(a) * U256::from(p.taint) / U256::from(b1)).to::<u128>() };
                        p.taint -= x;
                        if p.taint == 0 {
                            self.held[u as usize] &= !bit;
                        }
                        if x > 0 {
                            xs[k] = x;
                            hops[k] = p.hop.saturating_add(1);
                            moving |= bit;
                        }
                    }
                }
                if let Some(BridgeStep::Send(d)) = step {
                    // Across the bridge, not to its own address.
                    self.sent.push((d.k, Crossing { x: xs, hop: hops }));
                    moving = 0;
                }
            }
            Some(BridgeStep::Receive(p)) => {
                let c = self.given.remove(&p.k).unwrap_or_default();
                for k in 0..k_n {
                    if c.x[k] > 0 {
                        // §7: y = floor(x * b / a).
                        let y = U256::from(c.x[k]) * U256::from(p.b) / U256::from(p.a);
                        let y = u128::try_from(y).map_err(|_| too_large("a bridge payout's taint"))?;
                        if y > 0 {
                            xs[k] = y;
                            hops[k] = c.hop[k];
                            moving |= 1 << k;
                        }
                    }
                }
            }
            Some(BridgeStep::Quiet) => {}
        }
        if fv & SEED_RULE != 0 {
            let s = self.seed_bal.entry(v).or_insert(0);
            *s = s.checked_add(a).ok_or_else(|| too_large("a seed's balance"))?;
        }
        let v_seeding = if fv & SEED_RULE != 0 { self.rules.seed_mask(v, t) } else { 0 };
        let v_absorbing = if fv & ABSORB_RULE != 0 { self.rules.absorb_mask(v, t) } else { 0 };
        for k in 0..k_n {
            let bit = 1u16 << k;
            if moving & bit != 0 {
                let x = xs[k];
                let e = self.exposures.entry(v).or_default();
                let slot = match e.iter().position(|x| x.category == k as u16) {
                    Some(p) => p,
                    None => {
                        e.push(Exposure { category: k as u16, amount: 0, direct: 0, hops: u32::MAX, first_in: i as u64, pred: u64::MAX });
                        e.len() - 1
                    }
                };
                let s = &mut e[slot];
                s.amount = s.amount.checked_add(x).ok_or_else(|| too_large("an exposure sum"))?;
                if hops[k] == 1 {
                    s.direct += x;
                }
                s.hops = s.hops.min(hops[k]);
            }
            if v_seeding & bit != 0 {
                // A seed: everything it holds is taint of this category.
                let p = self.pools.entry((v, k as u16)).or_insert(Pool { taint: 0, hop: 0 });
                p.taint = self.seed_bal[&v];
                p.hop = 0;
                self.held[v as usize] |= bit;
            } else if moving & bit != 0 && v_absorbing & bit == 0 {
                let p = self.pools.entry((v, k as u16)).or_insert(Pool { taint: 0, hop: u32::MAX });
                p.taint += xs[k];
                p.hop = p.hop.min(hops[k]);
                self.held[v as usize] |= bit;
            }
        }
        Ok(())
    }

    /// The deposits handled since the last call: (bridge index, what left).
    pub fn take_sent(&mut self) -> Vec<(usize, Crossing)> {
        std::mem::take(&mut self.sent)
    }

    /// What deposit `k` carries to this store's payout.
    pub fn give(&mut self, k: usize, c: Crossing) {
        self.given.insert(k, c);
    }

    /// Run to the end and hand over the result, with the state an update
    /// takes up (none when bridges were followed: a crossing may be on its
    /// way at the end).
    pub fn finish(mut self) -> Result<Exposures, ScreenError> {
        self.run_to(self.store.len())?;
        let state = self.steps.is_empty().then(|| {
            let mut pools: Vec<PoolRecord> = self.pools.iter().map(|(&(id, k), p)| pool_record(id, k, p)).collect();
            pools.sort_unstable_by_key(|p| (p.id, p.category));
            SweepState { pools, seed_balances: self.seed_balances(), outputs: Vec::new() }
        });
        let mut x = Exposures::gather(self.exposures, self.received, self.rules.seeds);
        x.state = state;
        Ok(x)
    }

    fn seed_balances(&self) -> Vec<SeedBalance> {
        let mut out: Vec<SeedBalance> = self.seed_bal.iter().map(|(&id, &balance)| SeedBalance { balance, id, reserved: [0; 3] }).collect();
        out.sort_unstable_by_key(|b| b.id);
        out
    }

    /// Take a sweep up where `prev`'s ended (its events, a prefix of the
    /// store's: a pure append since): its seed balances, and the received
    /// sums, exposures and pools of every address the events after it
    /// touch, laid back on fresh records. Returns those addresses,
    /// ascending; running to the store's end then gives them what a sweep
    /// from the start gives, and leaves every other address as `prev` has
    /// it (an event changes only its own sender's and receiver's records).
    pub(crate) fn take_up(&mut self, prev: &Index) -> Result<Vec<u32>, ScreenError> {
        let from = prev.meta.events as usize;
        let (ev, end) = (self.ev, self.store.len());
        let mut parties = ev.party_cursor();
        let mut touched: Vec<u32> = Vec::new();
        for i in from..end {
            if ev.asset(i) == self.asset && ev.flags(i) & flags::MOVES_NOTHING == 0 {
                let (u, v) = parties.at(i);
                touched.extend([u, v]);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for b in prev.seed_balances() {
            self.seed_bal.insert(b.id, b.balance);
        }
        for &id in &touched {
            self.received[id as usize] = prev.received(id);
            let x = prev.exposures_of(id);
            if !x.is_empty() {
                self.exposures.insert(id, x);
            }
            for p in prev.pools(id) {
                self.pools.insert((id, p.category), Pool { taint: p.taint, hop: p.hop });
                if p.taint > 0 {
                    self.held[id as usize] |= 1 << p.category;
                }
            }
        }
        self.next = from;
        Ok(touched)
    }

    /// The records of addresses `ids` (ascending), after a run.
    pub(crate) fn rows(&self, ids: &[u32]) -> Vec<Row> {
        ids.iter()
            .map(|&id| {
                let mut exposures = self.exposures.get(&id).cloned().unwrap_or_default();
                exposures.sort_by_key(|x| x.category);
                let pools =
                    (0..self.rules.names.len() as u16).filter_map(|k| self.pools.get(&(id, k)).map(|p| pool_record(id, k, p))).collect();
                Row { id, received: self.received[id as usize], exposures, pools }
            })
            .collect()
    }

    /// What an update writes whole: every seed rule and seed balance.
    pub(crate) fn whole(&self) -> Whole {
        Whole { seeds: self.rules.seeds.clone(), seed_balances: self.seed_balances(), outputs: Vec::new(), spent: Vec::new() }
    }
}

fn pool_record(id: u32, category: u16, p: &Pool) -> PoolRecord {
    PoolRecord { taint: p.taint, id, hop: p.hop, category, reserved: [0; 3] }
}
