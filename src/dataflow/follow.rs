//! `trace --follow swaps` (TRACING.md §7) across workers and processes on
//! timely-dataflow (issue 17, ADR 0015): every asset at once, taint carried
//! through each followed swap, with the single-process `Followed` exactly.
//!
//! Each worker runs the single-process sweep's own code over the slots of
//! the addresses it owns (`trace::follow::Shared`), every balance kept, so
//! every worker reads every segment of the store (given whole to each
//! process). A swap is handled at its transaction's first event: the
//! payer's owner sends the payee's owner what the swap pays out. Segments
//! of `2^bits` events are timely's time; a worker that later arrivals
//! reach runs again the handlings they change, as they come, until no
//! worker sends anything new (the rounds of [`super::segments`]).

use super::found::Found;
use super::segments::{Message, Rounds};
use super::{DataflowError, Map, Owners, Read, Workers};
use crate::store::Store;
use crate::trace::follow::{Arrival, Crossed, Unfollowed};
use crate::trace::follow::{Carry, Place, Prepared, Shared, prepare_workers};
use crate::trace::{Followed, Outcome, Spec, Traffic, Wide};
use ruint::aliases::U256;
use std::cell::RefCell;
use std::rc::Rc;

type U512 = ruint::Uint<512, 8>;

impl Message for Carry {
    type Key = Place;
    fn key(&self) -> Place {
        self.place
    }
    fn carries(&self) -> bool {
        self.delivered != [0; 4]
    }
    fn retract(&mut self) {
        Carry::retract(self)
    }
}

/// One question: the trace and `--asset` (the assets in which seeds are sources).
pub type Question = (Spec, Option<u32>);

/// The `--follow swaps` traces `questions` of the account-model store at
/// `store_dir`, one after another on the workers `w` (one set of
/// connections). Every process of a run calls this with the same
/// arguments and needs the store whole. Process 0 gets the answers, in
/// order; the others `None`.
///
/// `CHAINTRACE_SEGMENT_BITS` sets the segments' size (2^bits events,
/// [`SEGMENT_BITS`] unless set), as for the other sweeps.
pub fn trace_many(store_dir: &std::path::Path, questions: &[Question], w: &Workers) -> Result<Option<Vec<Followed>>, DataflowError> {
    trace_in_segments(store_dir, questions, w, super::account::segment_bits_or(SEGMENT_BITS)?)
}

/// Events a segment spans, as a power of two: smaller than the other
/// sweeps' (`account::SEGMENT_BITS`), since a venue's slot that a handling
/// run again touches makes every later swap through it in the segment run
/// again too. At 10^6 world events on two processes, 2^11 answered in
/// 1.20 s (haircut), 0.47 s (FIFO) and 0.78 s (poison); 2^13 in 2.22,
/// 0.49 and 0.91 s; 2^9 in 1.31, 0.76 and 1.08 s (benches/RESULTS.md).
pub const SEGMENT_BITS: u32 = 11;

/// [`trace_many`] with segments of `2^bits` events (tests use small ones,
/// so that a small store spans many).
pub fn trace_in_segments(
    store_dir: &std::path::Path,
    questions: &[Question],
    w: &Workers,
    bits: u32,
) -> Result<Option<Vec<Followed>>, DataflowError> {
    if !(1..=32).contains(&bits) {
        return Err(DataflowError::Unsupported(format!("segments of 2^{bits} events")));
    }
    let read = Read::open(store_dir, w.process()).map_err(|e| DataflowError::Trace(e.into()))?;
    if read.info.is_some() {
        return Err(DataflowError::Unsupported(
            "--follow across processes reads the whole store on every process, not its parts: give the store".into(),
        ));
    }
    if (read.n >> bits) >= 1 << (64 - super::segments::ROUND_BITS) {
        return Err(DataflowError::Unsupported(format!("{} events: more than a timestamp can order", read.n)));
    }
    for (spec, asset) in questions {
        // The question's refusals (Bitcoin, --max-hops 0, a window on a
        // store of times) before any worker starts; listing the
        // conversions waits for the workers.
        crate::trace::follow::check_question(&read.store, spec, *asset)?;
    }
    let identity = read.identity();
    let owners = read.owners(w, None)?;
    drop(read);
    let key = super::net::key_of(&format!("follow {identity} {bits} {owners:?} {questions:?}"));
    let dir = store_dir.to_path_buf();
    let all = questions.to_vec();
    // A process's workers share each question's parts.
    let prepared: std::sync::Arc<Vec<Once>> = std::sync::Arc::new(questions.iter().map(|_| Once::new()).collect());
    let results = super::net::execute(w, key, move |worker| {
        all.iter()
            .zip(prepared.iter())
            .map(|(q, once)| sweep_on(worker, &dir, q, once, bits, owners.clone()))
            .collect::<Result<Vec<Option<Followed>>, String>>()
    })?;
    let mut answers: Option<Vec<Followed>> = None;
    for r in results {
        let r = r.map_err(DataflowError::Worker)?;
        if r.iter().all(Option::is_some) && !r.is_empty() {
            answers = Some(r.into_iter().flatten().collect());
        }
    }
    if !w.is_first() {
        return Ok(None);
    }
    match answers {
        Some(a) => Ok(Some(a)),
        None if questions.is_empty() => Ok(Some(Vec::new())),
        None => Err(DataflowError::Worker("worker 0 gathered no answer".into())),
    }
}

/// A question's parts, made by the first of a process's workers to need them.
type Once = std::sync::OnceLock<Result<Prepared, String>>;

/// One worker's sweep of one question; worker 0 gets the answer.
fn sweep_on(
    worker: &mut timely::worker::Worker,
    dir: &std::path::Path,
    (spec, asset): &Question,
    prepared: &Once,
    bits: u32,
    owners: Owners,
) -> Result<Option<Followed>, String> {
    let me = worker.index();
    super::net::failpoint_error(me)?;
    let store = Store::open(dir).map_err(|e| super::net::give_up(format!("worker {me}: {e}")))?;
    let p = prepared
        .get_or_init(|| prepare_workers(&store, spec, *asset).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| super::net::give_up(format!("worker {me}: {e}")))?;
    let owned = super::owned_bits(&owners, me, store.address_count());
    let n = store.len() as u64;
    let shared = Shared::new(store, spec.clone(), &p, owned, owners.peers());
    let shared = Rc::new(RefCell::new(shared));
    if me == 0 {
        crate::sys::timing("follow across workers: worker 0 set up");
    }
    let s2 = shared.clone();
    let mut sent: Map<Place, Carry> = Map::default();
    let mut cur: Option<u64> = None;
    let traffic = Rc::new(std::cell::Cell::new(Traffic::default()));
    let t2 = traffic.clone();
    let route = owners.clone();
    // Arrivals run as they come (`CHAINTRACE_ROUNDS=barrier`: round by round).
    let rounds = Rounds::from_env(Rounds::Eager).map_err(|e| super::net::give_up(e.to_string()))?;
    // Every balance is kept: every worker runs every segment.
    let busy = super::segments::run(
        worker,
        (n > 0).then_some(0),
        rounds,
        move |m: &Carry| route.of(m.receiver) as u64,
        move |seg, msgs| {
            let (lo, hi) = super::segments::span(seg, bits, n);
            let mut t = t2.get();
            let again = cur == Some(seg);
            if !again {
                cur = Some(seg);
                sent.clear();
            }
            let (now, ran) = s2.borrow_mut().segment(seg, (lo as usize, hi as usize), msgs);
            if again {
                t.repeated_visits += ran.len() as u64;
            } else {
                t.scanned += hi - lo;
            }
            t.rounds += 1;
            let now: Map<Place, Carry> = now.into_iter().map(|c| (c.place, c)).collect();
            // Whatever a handling run again sent before and not now is taken back.
            let mut out = super::segments::changes(&mut sent, now, |k| ran.contains(&k.0));
            for m in &mut out {
                m.seq = t.rounds;
            }
            t.messages += out.len() as u64;
            // As serialised: receiver, place, amount, hop, lots (length, then amount and flag each), flag, seq.
            t.bytes += out.iter().map(|m| 4 + 17 + 32 + 4 + 8 + 33 * m.lots.len() as u64 + 1 + 8).sum::<u64>();
            t2.set(t);
            (out, (hi < n).then_some(seg + 1))
        },
    );
    if me == 0 {
        crate::sys::timing("follow across workers: worker 0 swept");
    }
    let mut found = Ship::of(shared.borrow_mut().finish());
    found.exchange = Traffic { busy_ns: busy, ..traffic.get() }.with_heap();
    let all = super::segments::gather(worker, found);
    if me != 0 {
        return Ok(None);
    }
    let mut exchange = Traffic::default();
    for s in &all {
        exchange.add(s.exchange);
    }
    crate::sys::timing("follow across workers: gathered");
    let parts = all.into_iter().map(Ship::back).collect();
    let answer = Followed { exchange, ..shared.borrow().assemble(parts) };
    crate::sys::timing("follow across workers: assembled");
    Ok(Some(answer))
}

/// An arrival on its way to worker 0: conversion or not, event, asset, taint, hop.
type ShipArrival = (bool, u64, u32, [u64; 4], u32);

/// A followed conversion on its way: transaction, first and last event,
/// payer, payee, venues, assets in and out, values and taints in and out,
/// hop, and the rounding loss (negative, and its size).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ShipCrossed {
    tx: u32,
    events: (u64, u64),
    parties: (u32, u32),
    venues: Vec<u32>,
    assets: (u32, u32),
    amounts: [[u64; 4]; 4],
    hop: u32,
    loss: (bool, [u64; 8]),
}

/// A conversion not followed on its way: transaction, first event,
/// venues, whether for a seed inside (else ambiguous), taint per asset.
type ShipUnfollowed = (u32, u64, Vec<u32>, bool, Vec<(u32, [u64; 5])>);

/// A worker's findings on their way to worker 0, with their places.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Ship {
    by_asset: Vec<(u32, Found)>,
    converted_in: Vec<(u32, [u64; 5])>,
    converted_out: Vec<(u32, [u64; 5])>,
    /// What was rounded up and what down (`trace::follow::Rounding`), as limbs.
    rounding: Vec<(u32, [u64; 5], [u64; 5])>,
    arrivals: Vec<(Place, ShipArrival)>,
    crossed: Vec<ShipCrossed>,
    unfollowed: Vec<ShipUnfollowed>,
    visited: u64,
    exchange: Traffic,
}

fn wide_limbs(m: &std::collections::BTreeMap<u32, Wide>) -> Vec<(u32, [u64; 5])> {
    m.iter().map(|(&a, x)| (a, *x.as_limbs())).collect()
}

fn wide_map(v: Vec<(u32, [u64; 5])>) -> std::collections::BTreeMap<u32, Wide> {
    v.into_iter().map(|(a, x)| (a, Wide::from_limbs(x))).collect()
}

impl Ship {
    fn of((mut f, akeys): (Followed, Vec<Place>)) -> Ship {
        Ship {
            by_asset: f.by_asset.iter_mut().map(|(&a, o)| (a, Found::of(o))).collect(),
            converted_in: wide_limbs(&f.converted_in),
            converted_out: wide_limbs(&f.converted_out),
            rounding: f.rounding.iter().map(|(&a, r)| (a, *r.up.as_limbs(), *r.down.as_limbs())).collect(),
            arrivals: akeys
                .into_iter()
                .zip(&f.arrivals)
                .map(|(k, a)| {
                    (
                        k,
                        match *a {
                            Arrival::Event { event, asset, x, hop } => (false, event, asset, *x.as_limbs(), hop),
                            Arrival::Crossed(_) => (true, 0, 0, [0; 4], 0),
                        },
                    )
                })
                .collect(),
            crossed: f
                .crossed
                .iter()
                .map(|c| ShipCrossed {
                    tx: c.tx,
                    events: (c.first_event, c.last_event),
                    parties: (c.payer, c.payee),
                    venues: c.venues.clone(),
                    assets: (c.asset_in, c.asset_out),
                    amounts: [*c.value_in.as_limbs(), *c.taint_in.as_limbs(), *c.value_out.as_limbs(), *c.taint_out.as_limbs()],
                    hop: c.hop,
                    loss: (c.loss.0, *c.loss.1.as_limbs()),
                })
                .collect(),
            unfollowed: f
                .unfollowed
                .iter()
                .map(|u| (u.tx, u.first_event, u.venues.clone(), u.reason == "seed", wide_limbs(&u.taint)))
                .collect(),
            visited: f.visited,
            exchange: Traffic::default(),
        }
    }

    fn back(self) -> (Followed, Vec<Place>) {
        let by_asset = self
            .by_asset
            .into_iter()
            .map(|(a, found)| {
                let mut o: Outcome = super::found::outcome(vec![found], Vec::new());
                (o.sweep_heap_bytes, o.exchange) = (0, crate::trace::Traffic::default());
                (a, o)
            })
            .collect();
        let (akeys, arrivals): (Vec<Place>, Vec<Arrival>) = self
            .arrivals
            .into_iter()
            .map(|(k, (crossed, event, asset, x, hop))| {
                (k, if crossed { Arrival::Crossed(usize::MAX) } else { Arrival::Event { event, asset, x: U256::from_limbs(x), hop } })
            })
            .unzip();
        let crossed: Vec<Crossed> = self
            .crossed
            .into_iter()
            .map(|c| {
                let [value_in, taint_in, value_out, taint_out] = c.amounts.map(U256::from_limbs);
                Crossed {
                    tx: c.tx,
                    first_event: c.events.0,
                    last_event: c.events.1,
                    payer: c.parties.0,
                    payee: c.parties.1,
                    venues: c.venues,
                    asset_in: c.assets.0,
                    value_in,
                    taint_in,
                    asset_out: c.assets.1,
                    value_out,
                    taint_out,
                    hop: c.hop,
                    loss: (c.loss.0, U512::from_limbs(c.loss.1)),
                    bridge: None,
                }
            })
            .collect();
        let unfollowed = self
            .unfollowed
            .into_iter()
            .map(|(tx, first_event, venues, seed, taint)| Unfollowed {
                tx,
                first_event,
                venues,
                reason: if seed { "seed" } else { "ambiguous" },
                taint: wide_map(taint),
            })
            .collect();
        let f = Followed {
            by_asset,
            converted_in: wide_map(self.converted_in),
            converted_out: wide_map(self.converted_out),
            rounding: self
                .rounding
                .into_iter()
                .map(|(a, up, down)| (a, crate::trace::follow::Rounding { up: Wide::from_limbs(up), down: Wide::from_limbs(down) }))
                .collect(),
            arrivals,
            crossed,
            unfollowed,
            visited: self.visited,
            ..Followed::default()
        };
        (f, akeys)
    }
}
