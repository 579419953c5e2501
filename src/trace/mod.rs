//! `chaintrace trace`: where stolen funds went (TRACING.md §2, §5, §6).
//!
//! One pass over the store's events in key order. Balances are kept for every
//! address (haircut and FIFO depend on the clean balance held before any taint
//! arrived); everything else (taint, queues, hops, stops) is touched only for
//! addresses that hold or receive taint.

pub mod evidence;
pub mod fifo;
mod records;
mod utxo;

use crate::model::amount::WideSum;
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, Pseudo, flags};
use crate::store::Store;
use fifo::{Lot, Queue};
use records::{Hot, Packed, Records, Recs, set_bits};
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Balances and taint can pass 2^256-1 (shortfall credits); 320 bits cannot overflow here.
pub type Wide = WideSum;
type Product = ruint::Uint<576, 9>;

/// Tracing policies of TRACING.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Reachability: everything a reached address sends is tainted.
    Poison,
    /// Proportional: a transfer carries taint in the sender's tainted share.
    Haircut,
    /// First in, first out over lots.
    Fifo,
}

/// Why a trace cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Bad arguments or data that cannot support the question.
    #[error("{0}")]
    Usage(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A bug: the engine broke one of its own invariants.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A trace question, in store ids.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Policy.
    pub policy: Policy,
    /// Asset id.
    pub asset: u32,
    /// Seed address ids.
    pub seeds: Vec<u32>,
    /// Seed transaction ids.
    pub seed_txs: Vec<u32>,
    /// Categories that absorb (lowercase).
    pub stop_at: Vec<String>,
    /// Horizon.
    pub max_hops: Option<u32>,
    /// First block (inclusive).
    pub from_block: Option<u64>,
    /// Last block (inclusive).
    pub to_block: Option<u64>,
    /// Keep the log of tainted events that evidence paths are built from.
    pub evidence: bool,
    /// Force one shape of the account sweep (`None`: the fastest that applies).
    pub engine: Option<Engine>,
    /// Bitcoin: trace over address clusters (TRACING.md §3). Every member of
    /// a seed's cluster is a seed, a label on one member makes its whole
    /// cluster a stop, and the report's rows are clusters.
    pub clusters: Option<std::sync::Arc<crate::cluster::Clustering>>,
}

impl Spec {
    /// The cluster of an address when tracing over clusters, else the address.
    #[inline]
    pub fn unit(&self, a: u32) -> u32 {
        self.clusters.as_ref().map_or(a, |c| c.rep(a))
    }
}

/// An address that absorbed taint because of `--stop-at` (or the zero address).
#[derive(Clone, Debug, Default)]
pub struct Destination {
    /// Taint absorbed.
    pub amount: Wide,
    /// Smallest hop of a tainted event it received.
    pub hops: u32,
    /// The first absorbed arrival (event index).
    pub first_event: u64,
    /// The category that made it a stop.
    pub category: String,
    /// The label's name.
    pub label: String,
    /// The entity the label names (destinations aggregate by it).
    pub entity: String,
}

/// One event that carried taint: the raw material of evidence paths.
#[derive(Clone, Copy, Debug)]
pub struct Tainted {
    /// Event index in the store.
    pub event: u64,
    /// Taint carried.
    pub x: U256,
    /// Hop of the event.
    pub hop: u32,
}

/// What a trace found, in store ids.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Taint created at the sources.
    pub seeded: Wide,
    /// Absorbing addresses.
    pub destinations: BTreeMap<u32, Destination>,
    /// Non-seed addresses still holding taint (poison: reached, still holding a balance): amount, hops.
    pub dormant: BTreeMap<u32, (Wide, u32)>,
    /// Addresses cut off by `--max-hops`: amount, hops.
    pub horizon: BTreeMap<u32, (Wide, u32)>,
    /// Taint paid as fees.
    pub fees: Wide,
    /// What the seeds still hold.
    pub held_by_seeds: Wide,
    /// Shortfall credited at seeds and at addresses holding taint.
    pub unknown_origin: Wide,
    /// Every event that carried taint, in key order.
    pub tainted: Vec<Tainted>,
    /// Seeds that hold a stop label (they stay sources).
    pub seed_stop_warnings: Vec<u32>,
    /// UTXO model: the output whose taint funded a tainted output (for evidence).
    pub pred: HashMap<u64, u64>,
    /// Heap held at the end of the sweep, its state still live (Linux `RssAnon`; 0 elsewhere).
    pub sweep_heap_bytes: u64,
    /// Events the sweep looked at beyond the skip test (all of them for the full sweep).
    pub visited: u64,
}

impl Outcome {
    /// A stop absorbs `x` from event `event` at hop `hop`.
    fn absorb(&mut self, address: u32, event: u64, rule: &StopRule, x: U256, hop: u32) {
        let d = self.destinations.entry(address).or_insert_with(|| Destination {
            amount: Wide::ZERO,
            hops: u32::MAX,
            first_event: event,
            category: rule.category.clone(),
            label: rule.label.clone(),
            entity: rule.entity.clone(),
        });
        d.amount += Wide::from(x);
        d.hops = d.hops.min(hop);
    }

    /// `destinations + dormant + horizon + fees`, with the seeds' holdings.
    pub fn accounted(&self) -> Wide {
        let d: Wide = self.destinations.values().map(|d| d.amount).fold(Wide::ZERO, |a, b| a + b);
        let r: Wide = self.dormant.values().map(|d| d.0).fold(Wide::ZERO, |a, b| a + b);
        let h: Wide = self.horizon.values().map(|d| d.0).fold(Wide::ZERO, |a, b| a + b);
        d + r + h + self.fees + self.held_by_seeds
    }
}

/// A sum or value that does not fit the sweep's number type.
#[derive(Debug, Clone, Copy)]
struct Overflow;

/// The numbers a sweep keeps per address: u128 (fast, checked) or 320 bits.
trait Num: Copy + PartialOrd + std::ops::Sub<Output = Self> + Send + Sync {
    const ZERO: Self;
    fn from_u256(a: U256) -> Option<Self>;
    /// A stored balance (`u128::MAX`: does not fit).
    fn from_u128(a: u128) -> Option<Self>;
    /// The value of event `i`, from its raw column entry (`u128::MAX` marks a big value).
    fn value(store: &Store, i: usize, raw: u128) -> Option<Self>;
    fn add(self, o: Self) -> Result<Self, Overflow>;
    fn is_zero(&self) -> bool;
    /// floor(a * t / b), exactly; `t <= b`.
    fn haircut(a: Self, t: Self, b: Self) -> Self;
    fn to_wide(self) -> Wide;
    fn to_u256(self) -> U256;
}

impl Num for u128 {
    const ZERO: Self = 0;
    #[inline]
    fn from_u128(a: u128) -> Option<Self> {
        (a != u128::MAX).then_some(a)
    }
    fn from_u256(a: U256) -> Option<Self> {
        u128::try_from(a).ok()
    }
    #[inline]
    fn value(_: &Store, _: usize, raw: u128) -> Option<Self> {
        (raw != u128::MAX).then_some(raw)
    }
    #[inline]
    fn add(self, o: Self) -> Result<Self, Overflow> {
        self.checked_add(o).ok_or(Overflow)
    }
    #[inline]
    fn is_zero(&self) -> bool {
        *self == 0
    }
    #[inline]
    fn haircut(a: Self, t: Self, b: Self) -> Self {
        if t == 0 {
            0
        } else if t == b {
            a
        } else {
            match a.checked_mul(t) {
                Some(p) => p / b,
                None => (U256::from(a) * U256::from(t) / U256::from(b)).to::<u128>(),
            }
        }
    }
    fn to_wide(self) -> Wide {
        Wide::from(self)
    }
    #[inline]
    fn to_u256(self) -> U256 {
        U256::from(self)
    }
}

impl Num for Wide {
    const ZERO: Self = Wide::ZERO;
    fn from_u128(a: u128) -> Option<Self> {
        (a != u128::MAX).then(|| Wide::from(a))
    }
    fn from_u256(a: U256) -> Option<Self> {
        Some(Wide::from(a))
    }
    fn value(store: &Store, i: usize, _: u128) -> Option<Self> {
        Some(Wide::from(store.value(i).0))
    }
    fn add(self, o: Self) -> Result<Self, Overflow> {
        self.checked_add(o).ok_or(Overflow)
    }
    fn is_zero(&self) -> bool {
        Wide::is_zero(self)
    }
    fn haircut(a: Self, t: Self, b: Self) -> Self {
        Wide::from(haircut(narrow(a), t, b))
    }
    fn to_wide(self) -> Wide {
        self
    }
    fn to_u256(self) -> U256 {
        narrow(self)
    }
}

struct StopRule {
    from: Option<i64>,
    to: Option<i64>,
    category: String,
    label: String,
    entity: String,
}

fn narrow(w: Wide) -> U256 {
    U256::from_limbs_slice(&w.as_limbs()[..4])
}

/// floor(a * t / b) exactly; `t <= b` so the result fits `a`.
fn haircut(a: U256, t: Wide, b: Wide) -> U256 {
    if t.is_zero() {
        return U256::ZERO;
    }
    if t == b {
        return a;
    }
    // Nearly every real amount fits u128 and so does their product: exact and cheap.
    if let (Ok(a128), Ok(t128), Ok(b128)) = (u128::try_from(a), u128::try_from(t), u128::try_from(b))
        && let Some(p) = a128.checked_mul(t128)
    {
        return U256::from(p / b128);
    }
    let p: Product = a.widening_mul(t);
    narrow(Wide::from_limbs_slice(&(p / Product::from(b)).as_limbs()[..5]))
}

/// A map keyed by address id. The ids are dense and not chosen by an
/// adversary, so a multiply-shift hash does, at a fraction of SipHash's cost
/// in the sweep's per-event lookups. Kept over rustc-hash's FxHash (issue
/// 13): with it the sparse fifo and poison sweeps of `cargo bench --bench
/// kernels` ran 3-4% slower, and a map-only loop over dense ids 4% slower
/// (1.7x over ids with a stride), since `id * K` spreads dense ids over the
/// low bits without collisions.
pub type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one `u32` (see [`IdMap`]).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ u64::from(i)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Stop rules per address id from the store's labels.
fn stop_rules(store: &Store, stop_at: &[String], unit: &dyn Fn(u32) -> u32) -> Result<IdMap<Vec<StopRule>>, TraceError> {
    let mut rules: IdMap<Vec<StopRule>> = IdMap::default();
    if store.manifest.chain == Chain::Ethereum
        && let Some(zero) = store.find_address("0x0000000000000000000000000000000000000000")
    {
        rules.entry(zero).or_default().push(StopRule {
            from: None,
            to: None,
            category: "burn".into(),
            label: "Null address".into(),
            entity: String::new(),
        });
    }
    if stop_at.is_empty() {
        return Ok(rules);
    }
    let want: HashSet<&str> = stop_at.iter().map(String::as_str).collect();
    let mut labels: Vec<_> = crate::labels::load(store).into_iter().filter(|l| want.contains(l.category.as_str())).collect();
    // The first rule that applies names the stop: the label of highest precedence.
    labels.sort_by(crate::labels::precedence);
    if labels.is_empty() {
        return Ok(rules);
    }
    let by_text = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let has_times = store.manifest.order_by == Some(crate::model::OrderBy::Time) || store.events().time.iter().any(|&t| t != NO_TIME);
    for l in labels {
        if l.is_bounded() && !has_times {
            return Err(TraceError::Usage(format!(
                "label of {} has a validity interval but the store has no event times; intervals need block times",
                l.address
            )));
        }
        if let Some(&id) = by_text.get(&l.address) {
            // Over clusters, a label on one member holds for its whole cluster.
            rules.entry(unit(id)).or_default().push(StopRule {
                from: l.valid_from,
                to: l.valid_to,
                entity: l.entity,
                category: l.category,
                label: l.label,
            });
        }
    }
    Ok(rules)
}

fn stop_at_time(rules: &IdMap<Vec<StopRule>>, v: u32, time: i64) -> Option<&StopRule> {
    let t = (time != NO_TIME).then_some(time);
    rules.get(&v)?.iter().find(|r| crate::labels::within(r.from, r.to, t))
}

/// Trace a Bitcoin store's outputs (TRACING.md §3); seeds may be addresses,
/// transactions and outpoints `(transaction id, output index)`.
pub fn run_utxo(store: &Store, spec: &Spec, outpoints: &[(u32, u32)]) -> Result<Outcome, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    let rules = stop_rules(store, &spec.stop_at, &|a| spec.unit(a))?;
    let mut out = utxo::run(store, spec, &rules, outpoints)?;
    for &s in &spec.seeds {
        if rules.contains_key(&spec.unit(s)) {
            out.seed_stop_warnings.push(s);
        }
    }
    Ok(out)
}

/// Trace the account model (Ethereum and tokens).
///
/// The sweep runs with u128 balances (16 bytes an address, native arithmetic)
/// and runs again with 320-bit ones only if some amount or sum does not fit.
pub fn run_account(store: &Store, spec: &Spec) -> Result<Outcome, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
        return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()));
    }
    if spec.clusters.is_some() {
        return Err(TraceError::Usage("--cluster needs a Bitcoin store: clustering joins the inputs of a transaction".into()));
    }
    let rules = stop_rules(store, &spec.stop_at, &|a| a)?;
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    let fast = if windowed || spec.engine == Some(Engine::Full) {
        sweep::<u128, Records<u128>, false>(store, spec, &rules)
    } else {
        sweep::<u128, Packed<u128>, true>(store, spec, &rules)
    };
    match fast {
        Ok(out) => Ok(out),
        Err(Overflow) => Ok(sweep::<Wide, Records<Wide>, false>(store, spec, &rules).expect("320-bit sums cannot overflow")),
    }
}

/// The account sweep's two shapes; both give the same outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Visits only events whose sender holds taint (or that touch a seed),
    /// reading balances from the store's precomputed sender-balance column.
    Sparse,
    /// Visits every event and keeps every balance itself (windows and
    /// 320-bit amounts need it).
    Full,
}

const IS_SEED: u8 = 1;
const HAS_RULE: u8 = 2;
const HORIZON: u8 = 4;
const POISONED: u8 = 8;
const HAS_QUEUE: u8 = 16;
/// Sparse FIFO: the queue lacks its oldest lot, the clean balance held before
/// taint first arrived; the next send learns it from the sender-balance column.
const PENDING: u8 = 32;

/// The account sweep. `SPARSE` visits only the events whose sender can pass
/// taint or whose receiver is a seed (or holds a FIFO queue), and takes each
/// sender's balance from the store instead of keeping every balance.
fn sweep<N: Num, R: Recs<N>, const SPARSE: bool>(store: &Store, spec: &Spec, rules: &IdMap<Vec<StopRule>>) -> Result<Outcome, Overflow> {
    let ev = store.events();
    let sender_balance = store.sender_balances();
    let n_addr = store.address_count();
    let mut out = Outcome::default();
    let mut st = R::with_addresses(n_addr);
    for &id in rules.keys() {
        st[id as usize].fl |= HAS_RULE;
    }
    // Sparse: who can send taint, and who must see every arrival.
    let mut hot = Hot::new(if SPARSE { n_addr } else { 0 }, spec.policy == Policy::Fifo);
    for &s in &spec.seeds {
        let a = &mut st[s as usize];
        a.fl |= IS_SEED | POISONED;
        a.set_hop(0);
        if rules.contains_key(&s) {
            out.seed_stop_warnings.push(s);
        }
        if SPARSE {
            hot.mark_both(s);
        }
    }
    let seed_txs: HashSet<u32> = spec.seed_txs.iter().copied().collect();
    // Sparse: the events of seed transactions, in order.
    let seed_tx_events: Vec<usize> = if SPARSE && !seed_txs.is_empty() {
        // A sorted slice, not the set: one or a few compares an event instead
        // of a SipHash; on one thread, as 4 bytes an event scan faster than
        // a busy machine wakes a pool (issue 13: 1.4x-1.7x the trace by address before).
        let mut want: Vec<u32> = spec.seed_txs.clone();
        want.sort_unstable();
        ev.tx.iter().enumerate().filter(|(_, t)| **t != NO_TX && want.binary_search(t).is_ok()).map(|(i, _)| i).collect()
    } else {
        Vec::new()
    };
    let mut next_seed_tx = 0usize;
    // Sparse: the addresses taint reached, so that the end need not scan every record.
    let mut touched: Vec<u32> = Vec::new();
    let fees_id = Pseudo::Fees.id() as usize;
    let mut queues: IdMap<Queue> = IdMap::default();
    let mut pieces: Vec<Lot> = Vec::new();
    let from_block = spec.from_block.unwrap_or(0);
    let to_block = spec.to_block.unwrap_or(u64::MAX);
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();

    const AHEAD: usize = 16;
    let n_events = store.len();
    // Sparse: events go in blocks of 16 whose "may matter" bits are one
    // branch-free mask; a block of nothing but cold events is skipped whole.
    // The mask of the block after is made early, to load its records ahead,
    // and reused unless a hot bit changed meanwhile.
    const BLOCK: usize = 16;
    let (mut block_start, mut block_end, mut mask, mut mask_at) = (0usize, 0usize, 0u64, 0u64);
    let mut ahead: (usize, u64, u64) = (usize::MAX, 0, 0);
    let mut next_seed_event = seed_tx_events.first().copied().unwrap_or(usize::MAX);
    let mut next = 0usize;
    while next < n_events {
        let i = next;
        next += 1;
        // Once taint is dense (the records went to a full array) most events
        // are visited anyway: drop the skip test and visit every one, which is
        // safe (an event that moves no taint changes nothing but the sender's
        // stored balance, read afresh at its next send).
        if SPARSE && !st.is_dense() {
            if i == block_end {
                let end = (i + BLOCK).min(n_events);
                mask = if ahead.0 == i && ahead.2 == hot.changes { ahead.1 } else { hot.mask(&ev.from[i..end], &ev.to[i..end]) };
                (block_start, block_end, mask_at) = (i, end, hot.changes);
                let ahead_end = (end + BLOCK).min(n_events);
                let m = hot.mask(&ev.from[end..ahead_end], &ev.to[end..ahead_end]);
                ahead = (end, m, hot.changes);
                // Load the records and column entries of the next block's hot
                // events ahead: they are random.
                for j in set_bits(m).map(|k| end + k) {
                    st.prefetch(ev.from[j]);
                    st.prefetch(ev.to[j]);
                    crate::sys::prefetch(&sender_balance[j]);
                    crate::sys::prefetch(&ev.value[j]);
                    crate::sys::prefetch(&ev.asset[j]);
                    crate::sys::prefetch(&ev.flags[j]);
                    crate::sys::prefetch(&ev.time[j]);
                }
                // This block's slots were loaded a block ago: now their records.
                for j in set_bits(mask).map(|k| i + k) {
                    st.prefetch_record(ev.from[j]);
                    st.prefetch_record(ev.to[j]);
                }
                if mask == 0 && next_seed_event >= end {
                    next = end;
                    continue;
                }
            }
            let may_matter = if mask_at == hot.changes { mask >> (i - block_start) & 1 != 0 } else { hot.event(ev.from[i], ev.to[i]) };
            if i == next_seed_event {
                next_seed_tx += 1;
                next_seed_event = seed_tx_events.get(next_seed_tx).copied().unwrap_or(usize::MAX);
            } else if !may_matter {
                continue;
            }
            out.visited += 1;
        } else {
            if i + AHEAD < n_events {
                // Addresses are read in random order: start loading a later event's now.
                st.prefetch(ev.from[i + AHEAD]);
                st.prefetch(ev.to[i + AHEAD]);
            }
            out.visited += 1;
        }
        if ev.asset[i] != spec.asset || ev.flags[i] & flags::MOVES_NOTHING != 0 {
            continue;
        }
        if windowed && (ev.block[i] == NO_BLOCK || ev.block[i] < from_block || ev.block[i] > to_block) {
            continue;
        }
        let aw = N::value(store, i, ev.value[i]).ok_or(Overflow)?;
        if aw.is_zero() {
            continue;
        }
        let (u, v) = (ev.from[i] as usize, ev.to[i] as usize);
        if SPARSE {
            st[u].bal = N::from_u128(sender_balance[i]).ok_or(Overflow)?;
            if st[u].fl & PENDING != 0 {
                st[u].fl &= !PENDING;
                if let Some(q) = queues.get_mut(&(u as u32)) {
                    // Everything but the oldest lot arrived since the queue began.
                    let held = st[u].bal.to_u256();
                    q.push_front(Lot { amount: held - q.total(), tainted: false });
                }
            }
        }
        let su = st[u];
        let u_seed = su.fl & IS_SEED != 0;
        // Unknown origin: the export does not show how u came to hold a.
        if su.bal < aw {
            let s = aw - su.bal;
            let holds = match spec.policy {
                Policy::Haircut => !su.t.is_zero(),
                Policy::Poison => su.fl & POISONED != 0,
                Policy::Fifo => su.fl & HAS_QUEUE != 0,
            };
            if u_seed {
                out.seeded += s.to_wide();
                out.unknown_origin += s.to_wide();
            } else if holds {
                out.unknown_origin += s.to_wide();
            }
            // Seeds hold nothing but taint (their balance is their taint) and a
            // poisoned address's every unit counts: only FIFO queues need the lot.
            if spec.policy == Policy::Fifo
                && !u_seed
                && su.fl & HAS_QUEUE != 0
                && let Some(q) = queues.get_mut(&(u as u32))
            {
                q.push_front(Lot { amount: s.to_u256(), tainted: false });
            }
            st[u].bal = su.bal.add(s)?;
        }
        if u == v {
            continue;
        }
        // The taint that leaves u.
        pieces.clear();
        let x: N = if u_seed {
            aw
        } else {
            match spec.policy {
                Policy::Poison => {
                    if su.fl & POISONED != 0 {
                        aw
                    } else {
                        N::ZERO
                    }
                }
                Policy::Haircut => N::haircut(aw, st[u].t, st[u].bal),
                Policy::Fifo if su.fl & HAS_QUEUE != 0 => match queues.get_mut(&(u as u32)) {
                    Some(q) => {
                        q.take(aw.to_u256(), &mut pieces);
                        let x = pieces.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount);
                        if q.is_clean() {
                            queues.remove(&(u as u32));
                            st[u].fl &= !HAS_QUEUE;
                            if SPARSE && !u_seed {
                                hot.clear_both(u as u32);
                            }
                        }
                        N::from_u256(x).ok_or(Overflow)?
                    }
                    None => N::ZERO,
                },
                Policy::Fifo => N::ZERO,
            }
        };
        st[u].bal = st[u].bal - aw;
        if spec.policy == Policy::Haircut && !u_seed {
            st[u].t = st[u].t - x;
        }
        // Sparse: only a seed's balance is kept (every event of a seed is visited).
        if !SPARSE || st[v].fl & IS_SEED != 0 {
            st[v].bal = st[v].bal.add(aw)?;
        }
        let is_fee = ev.flags[i] & flags::FEE != 0;
        let seed_tx = !seed_txs.is_empty() && !is_fee && ev.tx[i] != NO_TX && seed_txs.contains(&ev.tx[i]);
        let (delivered, ev_hop) = if seed_tx {
            out.seeded += (aw - x).to_wide();
            (aw, 0)
        } else {
            (x, su.hop().saturating_add(1))
        };
        let sv = st[v];
        if sv.fl & IS_SEED != 0 {
            // Every unit a seed receives is tainted; only what arrives clean is new.
            out.seeded += (aw - delivered).to_wide();
            if !delivered.is_zero() && spec.evidence {
                out.tainted.push(Tainted { event: i as u64, x: delivered.to_u256(), hop: ev_hop });
            }
            continue;
        }
        if delivered.is_zero() {
            if spec.policy == Policy::Fifo
                && sv.fl & HAS_QUEUE != 0
                && let Some(q) = queues.get_mut(&(v as u32))
            {
                q.push_back(Lot { amount: aw.to_u256(), tainted: false });
            }
            continue;
        }
        if spec.evidence {
            out.tainted.push(Tainted { event: i as u64, x: delivered.to_u256(), hop: ev_hop });
        }
        let vid = v as u32;
        let absorbing = if v == fees_id {
            out.fees += delivered.to_wide();
            true
        } else if let Some(rule) = if sv.fl & HAS_RULE != 0 { stop_at_time(rules, vid, ev.time[i]) } else { None } {
            out.absorb(vid, i as u64, rule, delivered.to_u256(), ev_hop);
            st[v].set_hop(sv.hop().min(ev_hop));
            true
        } else if sv.fl & HORIZON != 0 || (sv.hop() == u32::MAX && spec.max_hops.is_some_and(|n| ev_hop >= n)) {
            st[v].fl |= HORIZON;
            let h = out.horizon.entry(vid).or_insert((Wide::ZERO, ev_hop));
            h.0 += delivered.to_wide();
            h.1 = h.1.min(ev_hop);
            true
        } else {
            false
        };
        if absorbing {
            if spec.policy == Policy::Fifo
                && sv.fl & HAS_QUEUE != 0
                && let Some(q) = queues.get_mut(&vid)
            {
                q.push_back(Lot { amount: aw.to_u256(), tainted: false });
            }
            continue;
        }
        st[v].set_hop(sv.hop().min(ev_hop));
        match spec.policy {
            Policy::Poison => {
                st[v].fl |= POISONED;
                st[v].t = sv.t.add(delivered)?;
                if SPARSE && hot.mark_send(vid) {
                    touched.push(vid);
                }
            }
            Policy::Haircut => {
                st[v].t = sv.t.add(delivered)?;
                if SPARSE && hot.mark_send(vid) {
                    touched.push(vid);
                }
            }
            Policy::Fifo => {
                let lots = if seed_tx {
                    vec![Lot { amount: aw.to_u256(), tainted: true }]
                } else if pieces.is_empty() {
                    vec![Lot { amount: aw.to_u256(), tainted: !x.is_zero() }]
                } else {
                    pieces.clone()
                };
                let q = queues.entry(vid).or_insert_with(|| {
                    if SPARSE {
                        st[v].fl |= PENDING;
                        hot.mark_both(vid);
                        Queue::default()
                    } else {
                        Queue::with((st[v].bal - aw).to_u256(), false)
                    }
                });
                for l in lots {
                    q.push_back(l);
                }
                st[v].fl |= HAS_QUEUE;
            }
        }
    }

    // What is left where.
    for &s in &spec.seeds {
        out.held_by_seeds += st[s as usize].bal.to_wide();
    }
    // In address order: the records are read in order and the maps are appended to.
    touched.sort_unstable();
    let reached: Box<dyn Iterator<Item = u32>> = if SPARSE { Box::new(touched.iter().copied()) } else { Box::new(0..n_addr as u32) };
    match spec.policy {
        Policy::Haircut => {
            for id in reached {
                let a = &st[id as usize];
                if !a.t.is_zero() && a.fl & IS_SEED == 0 {
                    out.dormant.insert(id, (a.t.to_wide(), a.hop()));
                }
            }
        }
        Policy::Fifo => {
            for (&id, q) in &queues {
                let t = q.tainted();
                let a = &st[id as usize];
                if !t.is_zero() && a.fl & IS_SEED == 0 {
                    out.dormant.insert(id, (Wide::from(t), a.hop()));
                }
            }
        }
        Policy::Poison => {
            let sorted: Vec<u32> = reached.filter(|&id| !st[id as usize].t.is_zero() && st[id as usize].fl & IS_SEED == 0).collect();
            let finals = if SPARSE { store.final_balances(spec.asset, &sorted) } else { Vec::new() };
            for (k, &id) in sorted.iter().enumerate() {
                let a = &st[id as usize];
                let holds = if SPARSE {
                    match finals[k] {
                        u128::MAX => return Err(Overflow),
                        b => b != 0,
                    }
                } else {
                    !a.bal.is_zero()
                };
                if holds {
                    out.dormant.insert(id, (a.t.to_wide(), a.hop()));
                }
            }
        }
    }
    out.sweep_heap_bytes = crate::sys::anon_rss_bytes().unwrap_or(0);
    out.seed_stop_warnings.sort_unstable();
    Ok(out)
}

/// Seeds as given on the command line, resolved against a store.
#[derive(Clone, Debug, Default)]
pub struct Seeds {
    /// Address ids found.
    pub addresses: Vec<u32>,
    /// Transaction ids found.
    pub txs: Vec<u32>,
    /// Seed addresses as reported (lowercase on Ethereum).
    pub address_text: Vec<String>,
    /// Seed transactions as reported.
    pub tx_text: Vec<String>,
    /// Seeds not found in the data (a warning, not an error).
    pub missing: Vec<String>,
    /// Bitcoin outpoints `txid:vout`: (transaction id, output index).
    pub outpoints: Vec<(u32, u32)>,
}

/// Resolve seeds: `0x` and 64 hex digits is a transaction hash, anything else an address.
pub fn resolve_seeds(store: &Store, items: &[String], tx_items: &[String]) -> Result<Seeds, TraceError> {
    let mut s = Seeds::default();
    let chain = store.manifest.chain;
    let is_tx = |t: &str| {
        let h = t.strip_prefix("0x").unwrap_or(t);
        h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()) && (t.starts_with("0x") || chain == Chain::Bitcoin)
    };
    let mut addrs = Vec::new();
    let mut txs: Vec<String> = tx_items.to_vec();
    let mut outpoints: Vec<(String, u32)> = Vec::new();
    for it in items {
        if let (Chain::Bitcoin, Some((txid, vout))) = (chain, it.split_once(':')) {
            let vout: u32 = vout.parse().map_err(|_| TraceError::Usage(format!("seed {it:?}: expected txid:vout")))?;
            outpoints.push((txid.to_string(), vout));
        } else if chain == Chain::Ethereum && is_tx(it) {
            txs.push(it.clone());
        } else {
            addrs.push(it.clone());
        }
    }
    let mut norms = Vec::new();
    for a in &addrs {
        norms.push(match chain {
            Chain::Ethereum => {
                let raw = crate::model::text::eth_address("--seed", a.as_bytes())
                    .map_err(|e| TraceError::Usage(format!("seed {a:?}: {}", e.message)))?;
                format!("0x{}", hex::encode(raw))
            }
            Chain::Bitcoin => a.clone(),
        });
    }
    let by_text = store.find_addresses(norms.iter().map(String::as_str));
    for norm in norms {
        match by_text.get(&norm) {
            Some(&id) => s.addresses.push(id),
            None => s.missing.push(norm.clone()),
        }
        s.address_text.push(norm);
    }
    if !txs.is_empty() || !outpoints.is_empty() {
        for t in txs {
            let h = crate::model::text::tx_hash("--seed-tx", t.as_bytes())
                .map_err(|e| TraceError::Usage(format!("seed transaction {t:?}: {}", e.message)))?;
            let norm = match chain {
                Chain::Ethereum => format!("0x{}", hex::encode(h)),
                Chain::Bitcoin => hex::encode(h),
            };
            match store.find_tx(&h) {
                Some(id) => s.txs.push(id),
                None => s.missing.push(norm.clone()),
            }
            s.tx_text.push(norm);
        }
        for (txid, vout) in outpoints {
            let h = crate::model::text::tx_hash("--seed", txid.as_bytes())
                .map_err(|e| TraceError::Usage(format!("seed outpoint {txid}:{vout}: {}", e.message)))?;
            let norm = format!("{}:{vout}", hex::encode(h));
            match store.find_tx(&h) {
                Some(id) => s.outpoints.push((id, vout)),
                None => s.missing.push(norm.clone()),
            }
            s.address_text.push(norm);
        }
    }
    s.addresses.sort_unstable();
    s.addresses.dedup();
    s.txs.sort_unstable();
    s.txs.dedup();
    Ok(s)
}

/// The asset id for `--asset` (`ETH`/`BTC` or a token contract; default native).
pub fn resolve_asset(store: &Store, asset: Option<&str>) -> Result<u32, TraceError> {
    let Some(a) = asset else { return Ok(0) };
    let want = a.to_ascii_lowercase();
    store.manifest.assets.iter().position(|x| x.to_ascii_lowercase() == want).map(|p| p as u32).ok_or_else(|| {
        let all = &store.manifest.assets;
        let some: Vec<&str> = all.iter().take(5).map(String::as_str).collect();
        let more = if all.len() > 5 { format!(", ... {} in all; `chaintrace stats` lists them", all.len()) } else { String::new() };
        TraceError::Usage(format!("asset {a:?} is not in the store (it has {}{more})", some.join(", ")))
    })
}
