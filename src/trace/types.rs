//! What a trace asks and finds, in store ids: the policy, the question
//! (`Spec`), and the outcome with its destinations and tainted events.

use super::rules::StopRule;
use crate::model::amount::WideSum;
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap};

/// Balances and taint can pass 2^256-1 (shortfall credits); 320 bits cannot overflow here.
pub type Wide = WideSum;

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
    /// The trace was stopped before it ended: its [`Budget`] was spent.
    #[error("{0}")]
    Halted(Halt),
}

impl TraceError {
    /// Why a sweep that cannot overflow gave up: `halt`, or else a broken
    /// invariant.
    pub(crate) fn halted_or_overflow(halt: Option<Halt>) -> TraceError {
        match halt {
            Some(h) => TraceError::Halted(h),
            None => TraceError::Internal("320-bit sums overflowed".into()),
        }
    }
}

/// Why a trace was stopped before it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Halt {
    /// Whoever asked gave up (an HTTP request's time limit passed, or its
    /// client went away).
    #[error("the trace was cancelled")]
    Cancelled,
    /// The sweep visited more events than the budget allows.
    #[error("the trace visited more than {0} events, this server's limit a trace; narrow it (max_hops, from_block, to_block)")]
    TooManyEvents(u64),
}

/// What a trace may spend: a flag that cancels it, and a most of events
/// its sweep may visit. The sweeps look at it every few thousand events;
/// one tripped stops the trace with [`TraceError::Halted`]. Clones share
/// one budget. The default has no limit and costs nothing to check.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    inner: Option<std::sync::Arc<BudgetInner>>,
}

#[derive(Debug)]
struct BudgetInner {
    cancelled: std::sync::atomic::AtomicBool,
    max_visited: u64,
    /// 0 while running; else the [`Halt`] that stopped the trace, plus one.
    tripped: std::sync::atomic::AtomicU8,
}

impl Budget {
    /// A budget of at most `max_visited` visited events (`None`: no limit)
    /// that [`Budget::cancel`] can stop.
    pub fn new(max_visited: Option<u64>) -> Self {
        Budget {
            inner: Some(std::sync::Arc::new(BudgetInner {
                cancelled: std::sync::atomic::AtomicBool::new(false),
                max_visited: max_visited.unwrap_or(u64::MAX),
                tripped: std::sync::atomic::AtomicU8::new(0),
            })),
        }
    }

    /// Stop the trace at its next look.
    pub fn cancel(&self) {
        if let Some(b) = &self.inner {
            b.cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether the trace may go on, having visited `visited` events. A
    /// `false` is remembered: [`Budget::halted`] then says why.
    #[inline]
    pub fn go_on(&self, visited: u64) -> bool {
        let Some(b) = &self.inner else { return true };
        let why = if b.cancelled.load(std::sync::atomic::Ordering::Relaxed) {
            Halt::Cancelled
        } else if visited > b.max_visited {
            Halt::TooManyEvents(b.max_visited)
        } else {
            return true;
        };
        let code = match why {
            Halt::Cancelled => 1,
            Halt::TooManyEvents(_) => 2,
        };
        let _ = b.tripped.compare_exchange(0, code, std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed);
        false
    }

    /// Why the trace was stopped, if it was (or is now cancelled).
    pub fn halted(&self) -> Option<Halt> {
        let b = self.inner.as_ref()?;
        match b.tripped.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Some(Halt::Cancelled),
            2 => Some(Halt::TooManyEvents(b.max_visited)),
            _ => b.cancelled.load(std::sync::atomic::Ordering::Relaxed).then_some(Halt::Cancelled),
        }
    }

    /// Why a sweep that cannot overflow gave up: its budget was spent (a
    /// sweep stops as on an overflow), or else a broken invariant.
    pub(crate) fn halted_or_overflow(&self) -> TraceError {
        TraceError::halted_or_overflow(self.halted())
    }

    /// `Err` if the trace was stopped: looked at between phases.
    pub fn check(&self) -> Result<(), TraceError> {
        match self.halted() {
            Some(h) => Err(TraceError::Halted(h)),
            None => Ok(()),
        }
    }
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
    /// What the trace may spend before it is stopped.
    pub budget: Budget,
}

impl Spec {
    /// A question with evidence, no horizon, window or clusters, and the
    /// sweep's shape left to the engine.
    pub fn new(policy: Policy, asset: u32, seeds: Vec<u32>, stop_at: Vec<String>) -> Self {
        Spec {
            policy,
            asset,
            seeds,
            seed_txs: Vec::new(),
            stop_at,
            max_hops: None,
            from_block: None,
            to_block: None,
            evidence: true,
            engine: None,
            clusters: None,
            budget: Budget::default(),
        }
    }

    /// The cluster of an address when tracing over clusters, else the address.
    #[inline]
    pub fn unit(&self, a: u32) -> u32 {
        self.clusters.as_ref().map_or(a, |c| c.rep(a))
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
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Tainted {
    /// Event index in the store.
    pub event: u64,
    /// Taint carried.
    #[serde(with = "limbs")]
    pub x: U256,
    /// Hop of the event.
    pub hop: u32,
}

/// An event as evidence shows it, read where the event is stored: a run
/// across processes walks its evidence paths on the workers that hold the
/// events, so that process 0 needs neither every tainted event nor the
/// whole store to write the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    /// Sender.
    pub from: u32,
    /// Receiver.
    pub to: u32,
    /// Transaction id (`NO_TX`: none).
    pub tx: u32,
    /// Block number (`NO_BLOCK`: none).
    pub block: u64,
    /// Block time (`NO_TIME`: none).
    pub time: i64,
    /// Value moved, base units.
    #[serde(with = "limbs")]
    pub value: U256,
}

impl EventRow {
    /// Event `i` of `store`.
    pub fn at(store: &crate::store::Store, i: usize) -> EventRow {
        Self::at_in(store, &store.events(), i)
    }

    /// [`EventRow::at`] with the store's columns at hand: a path reads a
    /// row a step, and making the columns' view is a fair part of a row.
    pub fn at_in(store: &crate::store::Store, ev: &crate::store::EventColumns<'_>, i: usize) -> EventRow {
        EventRow { from: ev.sender(i), to: ev.receiver(i), tx: ev.tx(i), block: ev.block(i), time: ev.time(i), value: store.value(i).0 }
    }
}

/// Evidence found where the events are (a run across processes): each
/// destination's paths, each step a tainted event with its row, from the
/// source on, and the block and time of each destination's first
/// absorbed arrival.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Destination -> its paths, the ones ending in the largest arrivals first.
    pub paths: BTreeMap<u32, Vec<Vec<(Tainted, EventRow)>>>,
    /// Destination -> block and time of its first absorbed arrival.
    pub first: BTreeMap<u32, (u64, i64)>,
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
    /// Every event that carried taint, in key order (empty where
    /// `evidence` holds the paths instead).
    pub tainted: Vec<Tainted>,
    /// The evidence paths, walked where the events are (runs across
    /// processes; `None`: the report walks them over `tainted`).
    pub evidence: Option<Evidence>,
    /// The taint flow, each worker's own edges cut to what the report
    /// keeps (runs across processes; `None`: the report adds up
    /// `tainted`).
    pub flow: Option<Vec<super::flow::Flow>>,
    /// Seeds that hold a stop label (they stay sources).
    pub seed_stop_warnings: Vec<u32>,
    /// UTXO model: the output whose taint funded a tainted output (for evidence).
    pub pred: HashMap<u64, u64>,
    /// Heap held at the end of the sweep, its state still live (Linux `RssAnon`; 0 elsewhere).
    pub sweep_heap_bytes: u64,
    /// Events the sweep looked at beyond the skip test (all of them for the full sweep).
    pub visited: u64,
    /// Across workers (`dataflow`): what moved between them and how often
    /// segments were run.
    pub exchange: Traffic,
}

/// What a sweep across workers exchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    /// Arrivals sent to another worker.
    pub messages: u64,
    /// Their size as serialised.
    pub bytes: u64,
    /// Segment rounds run, summed over workers (the first and the repeats).
    pub rounds: u64,
    /// Event visits in rounds that were run again (work the fixed point repeated).
    pub repeated_visits: u64,
    /// Events scanned (tested for whether they can matter; a segment's
    /// first round decodes their parties), repeats included.
    pub scanned: u64,
    /// The largest heap of one process (Linux `RssAnon`; 0 elsewhere), read
    /// by each worker at the end of its sweep with its state still live: what
    /// a process holds beyond the store's pages it maps.
    pub heap_bytes: u64,
    /// The busiest worker's time inside its segment rounds (scans and
    /// events), in nanoseconds: the rest of the sweep's time went to
    /// waiting for other workers' arrivals and progress.
    pub busy_ns: u64,
}

impl Traffic {
    /// A worker's figures with the heap of its process now.
    pub fn with_heap(self) -> Traffic {
        Traffic { heap_bytes: crate::sys::anon_rss_bytes().unwrap_or(0), ..self }
    }

    /// Add another worker's (or segment's) figures: counts add up, the heap
    /// and the busy time take the largest.
    pub fn add(&mut self, o: Traffic) {
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.rounds += o.rounds;
        self.repeated_visits += o.repeated_visits;
        self.scanned += o.scanned;
        self.heap_bytes = self.heap_bytes.max(o.heap_bytes);
        self.busy_ns = self.busy_ns.max(o.busy_ns);
    }
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages, {} bytes exchanged, {} segment rounds, {} visits repeated, {} events scanned, largest process heap {} MiB, busiest worker {:.3}s in rounds",
            self.messages,
            self.bytes,
            self.rounds,
            self.repeated_visits,
            self.scanned,
            self.heap_bytes >> 20,
            self.busy_ns as f64 / 1e9
        )
    }
}

/// Which label a destination keeps when two outcomes are added up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FirstBy {
    /// Its absorption of the smaller event (findings of other workers,
    /// whose sweeps run in event order).
    Event,
    /// Its absorption in the outcome added to (the other comes later in
    /// the sweep's order, which under `--follow` handles a conversion at
    /// its transaction's first event).
    Order,
}

impl Outcome {
    /// Add later findings (a segment's, another worker's): amounts add up,
    /// hops take the least, a destination keeps the label `first` picks,
    /// tainted events are appended.
    pub(crate) fn add(&mut self, more: Outcome, first: FirstBy) {
        self.seeded += more.seeded;
        self.unknown_origin += more.unknown_origin;
        self.fees += more.fees;
        self.held_by_seeds += more.held_by_seeds;
        self.visited += more.visited;
        self.exchange.add(more.exchange);
        for (k, d) in more.destinations {
            match self.destinations.entry(k) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let o = e.get_mut();
                    o.amount += d.amount;
                    o.hops = o.hops.min(d.hops);
                    if first == FirstBy::Event && d.first_event < o.first_event {
                        (o.first_event, o.category, o.label, o.entity) = (d.first_event, d.category, d.label, d.entity);
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(d);
                }
            }
        }
        for (map, rows) in [(&mut self.dormant, more.dormant), (&mut self.horizon, more.horizon)] {
            for (k, (x, h)) in rows {
                let o = map.entry(k).or_insert((Wide::ZERO, h));
                o.0 += x;
                o.1 = o.1.min(h);
            }
        }
        // Moved whole into an empty outcome: on a large trace these are most
        // of what is gathered.
        if self.tainted.is_empty() {
            self.tainted = more.tainted;
        } else {
            self.tainted.extend(more.tainted);
        }
        if self.pred.is_empty() {
            self.pred = more.pred;
        } else {
            self.pred.extend(more.pred);
        }
    }

    /// A stop absorbs `x` from event `event` at hop `hop`.
    pub(crate) fn absorb(&mut self, address: u32, event: u64, rule: &StopRule, x: U256, hop: u32) {
        absorb_into(self.destinations.entry(address).or_insert_with(|| new_destination(event, rule)), x, hop);
    }

    /// An address cut off by `--max-hops` holds `x` more, arrived at hop `hop`.
    pub(crate) fn cut_off(&mut self, address: u32, x: Wide, hop: u32) {
        let h = self.horizon.entry(address).or_insert((Wide::ZERO, hop));
        h.0 += x;
        h.1 = h.1.min(hop);
    }

    /// `destinations + dormant + horizon + fees`, with the seeds' holdings.
    pub fn accounted(&self) -> Wide {
        let d: Wide = self.destinations.values().map(|d| d.amount).fold(Wide::ZERO, |a, b| a + b);
        let r: Wide = self.dormant.values().map(|d| d.0).fold(Wide::ZERO, |a, b| a + b);
        let h: Wide = self.horizon.values().map(|d| d.0).fold(Wide::ZERO, |a, b| a + b);
        d + r + h + self.fees + self.held_by_seeds
    }
}

/// Destinations as the account sweep finds them, in the order first
/// reached; each stop's record holds its place here, so that an arrival
/// is an array access, not a search of the ordered map the outcome keeps
/// (a wide trace reaches tens of thousands of stops hundreds of thousands
/// of times). A stop keeps its rule, not its names: they are made once the
/// sweep is done, on the pool (at 10^7 events, 250,000 stops' three
/// strings each were a tenth of the sweep).
#[derive(Default)]
pub(crate) struct Stops {
    found: Vec<(u32, Found)>,
}

/// What a stop absorbed: below 2^128 in `lo` (native adds), the rest in `hi`.
struct Found {
    lo: u128,
    hi: Wide,
    hops: u32,
    first_event: u64,
    /// `None`: the address's first rule, looked up after the sweep, in
    /// address order (a lookup at the arrival is a few misses). Owned (a
    /// shared text and a range), so that a sweep that runs on between
    /// appends can hold its rules beside it.
    rule: Option<StopRule>,
}

impl Stops {
    /// Stop `address`, whose place is `*slot` (0: not reached before),
    /// absorbs `x` from event `event` at hop `hop`; `rule` is the label that
    /// makes it one, `None` for the address's first.
    #[inline]
    pub(crate) fn absorb(&mut self, slot: &mut u32, address: u32, event: u64, rule: Option<&StopRule>, x: U256, hop: u32) {
        if *slot == 0 {
            self.found.push((address, Found { lo: 0, hi: Wide::ZERO, hops: u32::MAX, first_event: event, rule: rule.cloned() }));
            *slot = u32::try_from(self.found.len()).expect("fewer than 2^32 destinations");
        }
        let f = &mut self.found[*slot as usize - 1].1;
        match u128::try_from(x).ok().and_then(|x| f.lo.checked_add(x)) {
            Some(s) => f.lo = s,
            None => f.hi += Wide::from(x),
        }
        f.hops = f.hops.min(hop);
    }

    /// In the outcome's map, named by their rules (`rules`, those of the sweep).
    pub(crate) fn into_map(mut self, rules: &super::rules::Rules) -> BTreeMap<u32, Destination> {
        use rayon::prelude::*;
        self.found.par_sort_unstable_by_key(|d| d.0);
        let firsts = rules.firsts(self.found.iter().map(|f| f.0));
        let named: Vec<(u32, Destination)> = self
            .found
            .par_iter()
            .zip(firsts)
            .map(|((id, f), first)| {
                let mut d = new_destination(f.first_event, f.rule.as_ref().unwrap_or_else(|| first.expect("a stop has a rule")));
                d.amount = f.hi + Wide::from(f.lo);
                d.hops = f.hops;
                (*id, d)
            })
            .collect();
        named.into_iter().collect()
    }
}

fn new_destination(event: u64, rule: &StopRule) -> Destination {
    let (category, label, entity) = rule.names();
    Destination { amount: Wide::ZERO, hops: u32::MAX, first_event: event, category, label, entity }
}

fn absorb_into(d: &mut Destination, x: U256, hop: u32) {
    d.amount += Wide::from(x);
    d.hops = d.hops.min(hop);
}

/// A `U256` as its four limbs, for the findings workers send (the crate's
/// serde feature is not needed for this one field).
mod limbs {
    use ruint::aliases::U256;

    pub(super) fn serialize<S: serde::Serializer>(x: &U256, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(x.as_limbs(), s)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let l: [u64; 4] = serde::Deserialize::deserialize(d)?;
        Ok(U256::from_limbs(l))
    }
}
