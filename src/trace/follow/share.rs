//! The `--follow swaps` sweep as one worker of several (`dataflow::follow`,
//! issue 17, ADR 0015): the single-process sweep's own code, run over the
//! (asset, address) slots of the addresses this worker owns.
//!
//! An event's send half runs where its sender is owned, its receive half
//! where its receiver is; what an owned sender delivers to a receiver owned
//! elsewhere leaves as a [`Carry`]. A followed swap is handled whole at its
//! transaction's first event, as in one process: the payer's owner takes
//! the outflow of `a` and works out `y`, every leg's party moves its own
//! balance, and the payee's owner receives `y` from the payer's owner.
//!
//! A segment of events may run again, from its start, when later arrivals
//! come (`dataflow::segments`): each slot is kept as it was at the
//! segment's start the first time the segment changes it, and what the
//! segment found is kept apart until the segment is final. Findings carry
//! their place in the single-process sweep's order (`Place`), so that
//! worker 0 puts every worker's findings together in that order.

use super::*;

/// Where a finding falls in the single-process sweep's order: the event
/// (or, for a conversion, the transaction's first event) whose handling
/// made it, 0 for what comes while the conversion moves value and 1 for
/// its fees after, and the event it is about.
pub(crate) type Place = (u64, u8, u64);

/// Taint delivered to a receiver owned by another worker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Carry {
    /// The receiver (its owner runs the receive half).
    pub(crate) receiver: u32,
    /// Which receive half this is.
    pub(crate) place: Place,
    /// The taint delivered (zero: an earlier round's message taken back).
    pub(crate) delivered: [u64; 4],
    /// The event's hop.
    pub(crate) hop: u32,
    /// FIFO's lots (empty: one lot of the whole amount, tainted if
    /// anything was delivered).
    pub(crate) lots: Vec<([u64; 4], bool)>,
    /// Whether it is a followed conversion's payout.
    pub(crate) crossed: bool,
}

impl Carry {
    /// Take back what it carried.
    pub(crate) fn retract(&mut self) {
        self.delivered = [0; 4];
        self.lots.clear();
    }
}

/// A worker's part in [`Sweep`].
pub(super) struct Share<N> {
    /// The store ids this worker owns, a bit each.
    owned: Vec<u64>,
    /// Whether the fees' pseudo-address is not a seed: then every worker
    /// runs the receive half of the fees its own senders pay (it only
    /// absorbs them), instead of one worker receiving every fee.
    fees_inert: bool,
    /// Whether a segment can run again (more than one worker).
    keep_undo: bool,
    /// What other workers delivered in the segment under way.
    inbox: HashMap<Place, Carry>,
    /// What this run of the segment sends.
    outbox: Vec<Carry>,
    /// Each slot this segment changed, as it was at the segment's start.
    saved: PairMap<(Slot<N>, Option<Queue>)>,
    /// The handling under way: [`Place`]'s first two parts.
    pub(super) unit: (u64, u8),
    /// The place of each of `out.arrivals`, and of each of `out.crossed`.
    akeys: Vec<Place>,
    ckeys: Vec<u64>,
}

#[inline]
fn owned_bit(set: &[u64], a: u32) -> bool {
    set.get(a as usize / 64).is_some_and(|w| w >> (a % 64) & 1 != 0)
}

fn limbs(x: U256) -> [u64; 4] {
    *x.as_limbs()
}

impl<N: Num> Sweep<'_, N> {
    /// Whether this sweep keeps store id `a` (a single process keeps all).
    #[inline]
    pub(super) fn owns(&self, a: u32) -> bool {
        self.share.as_ref().is_none_or(|s| owned_bit(&s.owned, a))
    }

    /// Keep slot (`asset`, `addr`) as it was before the segment first changes it.
    #[inline]
    pub(super) fn keep(&mut self, asset: u32, addr: u32) {
        let Some(s) = self.share.as_deref_mut() else { return };
        if !s.keep_undo {
            return;
        }
        let k = pair(asset, addr);
        if s.saved.contains_key(&k) {
            return;
        }
        let slot = self.tok.get(&k).copied().unwrap_or(Slot::EMPTY);
        s.saved.insert(k, (slot, self.queues.get(&k).cloned()));
    }

    /// Record an arrival of taint at event `i`.
    #[inline]
    pub(super) fn arrive(&mut self, a: Arrival, i: usize) {
        self.out.arrivals.push(a);
        if let Some(s) = self.share.as_deref_mut() {
            s.akeys.push((s.unit.0, s.unit.1, i as u64));
        }
    }

    fn place(&self, i: usize) -> Place {
        let s = self.share.as_ref().expect("a worker of several");
        (s.unit.0, s.unit.1, i as u64)
    }

    /// What another worker delivered at `place`: the taint, its hop, the
    /// receiver's lots, and whether it is a conversion's payout.
    fn delivered(&self, place: Place) -> Result<(N, u32, Lots, bool), Overflow> {
        let s = self.share.as_ref().expect("a worker of several");
        Ok(match s.inbox.get(&place) {
            Some(c) => {
                let d = N::from_u256(U256::from_limbs(c.delivered)).ok_or(Overflow)?;
                let lots = if c.lots.is_empty() {
                    Lots::One(!d.is_zero())
                } else {
                    Lots::Mapped(c.lots.iter().map(|&(x, tainted)| Lot { amount: U256::from_limbs(x), tainted }).collect())
                };
                (d, c.hop, lots, c.crossed)
            }
            None => (N::ZERO, 0, Lots::One(false), false),
        })
    }

    fn ship(&mut self, c: Carry) {
        self.share.as_deref_mut().expect("a worker of several").outbox.push(c);
    }

    /// [`Sweep::event`] on a worker of several: the halves it owns. Returns
    /// the taint delivered where this worker runs the receive half (so
    /// that a conversion not followed counts each arrival once).
    pub(super) fn event_shared(&mut self, i: usize, l: Leg<N>) -> Result<N, Overflow> {
        let s = self.share.as_ref().expect("a worker of several");
        let ou = owned_bit(&s.owned, l.from);
        let ov = if s.fees_inert && l.to == self.fees_id { ou } else { owned_bit(&s.owned, l.to) };
        if !ou && !ov {
            return Ok(N::ZERO);
        }
        let place = self.place(i);
        let (delivered, ev_hop, lots) = if ou {
            let Some(out) = self.send_event(i, &l)? else { return Ok(N::ZERO) };
            if !ov {
                if !out.0.is_zero() {
                    let lots = match out.2 {
                        Lots::Pieces => self.pieces.iter().map(|l| (limbs(l.amount), l.tainted)).collect(),
                        _ => Vec::new(),
                    };
                    let c = Carry { receiver: l.to, place, delivered: limbs(out.0.to_u256()), hop: out.1, lots, crossed: false };
                    self.ship(c);
                }
                return Ok(N::ZERO);
            }
            out
        } else {
            let (d, hop, lots, _) = self.delivered(place)?;
            (d, hop, lots)
        };
        self.receive(i, l.asset, l.to, l.value, delivered, ev_hop, lots, None)?;
        Ok(delivered)
    }

    /// [`Sweep::swap_legs`] on a worker of several, from the payer's
    /// outflow on: the payer's owner works out `y`, each leg's parties'
    /// owners move their balances, the payee's owner receives.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn swap_shared(
        &mut self,
        events: &[usize],
        s: &Swap,
        venues: &[u32],
        (asset_a, asset_b, a, b): (u32, u32, N, N),
        (first, last): (usize, usize),
        legs: &[Leg<N>],
        fees: &[usize],
    ) -> Result<Option<&'static str>, Overflow> {
        let (u, r) = (s.payer, s.payee);
        let aggregated = |asset: u32, addr: u32| (asset == asset_a && addr == u) || (asset == asset_b && addr == r);
        let mut paid = None;
        if self.owns(u) {
            let (y, lots, hop, crossed) = self.pay_in(events, s, venues, (asset_a, asset_b, a, b), (first, last))?;
            if crossed.is_some() {
                let sh = self.share.as_deref_mut().expect("a worker of several");
                sh.ckeys.push(sh.unit.0);
            }
            paid = Some((y, hop, lots, crossed));
        }
        for l in legs {
            if !aggregated(l.asset, l.from) && self.owns(l.from) {
                self.debit(l.asset, l.from, l.value, l.event)?;
            }
            if !aggregated(l.asset, l.to) && self.owns(l.to) {
                self.credit(l.asset, l.to, l.value)?;
            }
        }
        let place = self.place(last);
        if self.owns(r) {
            let (y, hop, lots, crossed) = match paid {
                Some(p) => p,
                // The index is the payer's owner's: worker 0 numbers the conversions.
                None => self.delivered(place).map(|(y, hop, lots, c)| (y, hop, lots, c.then_some(usize::MAX)))?,
            };
            self.receive(last, asset_b, r, b, y, hop, lots, crossed)?;
        } else if let Some((y, hop, lots, crossed)) = paid
            && !y.is_zero()
        {
            let lots = match lots {
                Lots::Mapped(ls) => ls.iter().map(|l| (limbs(l.amount), l.tainted)).collect(),
                _ => Vec::new(),
            };
            self.ship(Carry { receiver: r, place, delivered: limbs(y.to_u256()), hop, lots, crossed: crossed.is_some() });
        }
        if let Some(sh) = self.share.as_deref_mut() {
            sh.unit.1 = 1;
        }
        for &i in fees {
            self.event(i)?;
        }
        Ok(None)
    }
}

/// Refuse what a `--follow swaps` question cannot ask of `store`.
pub(crate) fn check_question(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<(), TraceError> {
    if store.manifest.chain == crate::model::Chain::Bitcoin {
        return Err(TraceError::Usage("--follow swaps needs an account-model store (Ethereum): Bitcoin has no swap logs".into()));
    }
    base_prep(store, spec, seed_asset).map(|_| ())
}

/// The question's parts for a worker of several: every asset's state in
/// the map (a worker keeps only its own addresses' slots), the store's
/// conversions listed. Bridges are not followed across processes yet.
fn prepare_shared(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Prep, TraceError> {
    check_question(store, spec, seed_asset)?;
    let mut p = base_prep(store, spec, seed_asset)?;
    add_conversions(store, &mut p, usize::MAX / 2);
    p.dense = vec![false; p.dense.len()];
    p.record = false;
    Ok(p)
}

/// What a worker keeps from round to round, lent to a [`Sweep`] over the
/// worker's store for each run of a segment.
#[derive(Default)]
struct Kept {
    tok: PairMap<Slot<Wide>>,
    queues: PairMap<Queue>,
    out: Followed,
    share: Option<Box<Share<Wide>>>,
}

/// One worker of a `--follow swaps` sweep across workers: the store it
/// reads (whole), the question, and its state.
pub(crate) struct Shared {
    store: Store,
    spec: Spec,
    p: Prep,
    kept: Kept,
    /// What the finished segments found, with their places.
    total: Followed,
    akeys: Vec<Place>,
    ckeys: Vec<u64>,
    /// The segment under way.
    cur: Option<u64>,
}

impl Shared {
    /// A worker of `peers` that owns the store ids of `owned` (a bit each),
    /// for the question `spec` with seeds sources in `seed_asset` only
    /// (`--asset`; `None`: every asset).
    pub(crate) fn new(store: Store, spec: Spec, seed_asset: Option<u32>, owned: Vec<u64>, peers: usize) -> Result<Shared, TraceError> {
        let p = prepare_shared(&store, &spec, seed_asset)?;
        let fees_inert = !spec.seeds.contains(&Pseudo::Fees.id());
        let share = Share {
            owned,
            fees_inert,
            keep_undo: peers > 1,
            inbox: HashMap::new(),
            outbox: Vec::new(),
            saved: PairMap::default(),
            unit: (0, 0),
            akeys: Vec::new(),
            ckeys: Vec::new(),
        };
        let fresh = Followed { seed_asset: p.seed_asset, ..Default::default() };
        Ok(Shared {
            kept: Kept { out: fresh.clone(), share: Some(Box::new(share)), ..Default::default() },
            total: fresh,
            akeys: Vec::new(),
            ckeys: Vec::new(),
            cur: None,
            store,
            spec,
            p,
        })
    }

    /// Run the events `lo..hi` of segment `s` with the arrivals `msgs`
    /// (a later round of the same segment: from the segment's start, the
    /// latest arrival about each place replacing the earlier). Returns
    /// what this run delivers to other workers.
    pub(crate) fn segment(&mut self, s: u64, (lo, hi): (usize, usize), msgs: Vec<Carry>) -> Vec<Carry> {
        if self.cur == Some(s) {
            self.restore();
        } else {
            self.commit();
            self.cur = Some(s);
            self.kept.share.as_deref_mut().expect("made in new").inbox.clear();
        }
        let fresh = Followed { seed_asset: self.p.seed_asset, ..Default::default() };
        self.kept.out = fresh;
        {
            let sh = self.kept.share.as_deref_mut().expect("made in new");
            for m in msgs {
                sh.inbox.insert(m.place, m);
            }
            sh.akeys.clear();
            sh.ckeys.clear();
            sh.outbox.clear();
        }
        let Shared { store, spec, p, kept, .. } = self;
        let mut sw: Sweep<'_, Wide> = Sweep::new(store, spec, p, None);
        lend(kept, &mut sw);
        sw.pos = lo;
        let ran = sw.run_to(hi);
        take_back(kept, &mut sw);
        ran.expect("320-bit sums cannot overflow");
        std::mem::take(&mut self.kept.share.as_deref_mut().expect("made in new").outbox)
    }

    /// Every slot the segment under way changed, back as it was at its start.
    fn restore(&mut self) {
        let sh = self.kept.share.as_deref_mut().expect("made in new");
        for (k, (slot, q)) in sh.saved.drain() {
            self.kept.tok.insert(k, slot);
            match q {
                Some(q) => {
                    self.kept.queues.insert(k, q);
                }
                None => {
                    self.kept.queues.remove(&k);
                }
            }
        }
    }

    /// The segment under way is final: its findings join the total.
    fn commit(&mut self) {
        if self.cur.take().is_none() {
            return;
        }
        let fresh = Followed { seed_asset: self.p.seed_asset, ..Default::default() };
        let seg = std::mem::replace(&mut self.kept.out, fresh);
        let sh = self.kept.share.as_deref_mut().expect("made in new");
        sh.saved.clear();
        add_found(&mut self.total, seg);
        self.akeys.append(&mut sh.akeys);
        self.ckeys.append(&mut sh.ckeys);
    }

    /// What this worker found, once every segment is final, with what its
    /// addresses hold at the end; and the places of its arrivals and
    /// conversions.
    pub(crate) fn finish(&mut self) -> (Followed, Vec<Place>, Vec<u64>) {
        self.commit();
        let Shared { store, spec, p, kept, .. } = self;
        let mut sw: Sweep<'_, Wide> = Sweep::new(store, spec, p, None);
        lend(kept, &mut sw);
        let done = sw.finish();
        take_back(kept, &mut sw);
        done.expect("320-bit sums cannot overflow");
        let end = std::mem::take(&mut self.kept.out);
        add_found(&mut self.total, end);
        (std::mem::take(&mut self.total), std::mem::take(&mut self.akeys), std::mem::take(&mut self.ckeys))
    }

    /// Every worker's [`Shared::finish`] as the single-process answer.
    pub(crate) fn assemble(&self, parts: Vec<(Followed, Vec<Place>, Vec<u64>)>) -> Followed {
        assemble(parts, &self.spec, &self.p)
    }
}

fn lend(kept: &mut Kept, sw: &mut Sweep<'_, Wide>) {
    std::mem::swap(&mut sw.tok, &mut kept.tok);
    std::mem::swap(&mut sw.queues, &mut kept.queues);
    std::mem::swap(&mut sw.out, &mut kept.out);
    std::mem::swap(&mut sw.share, &mut kept.share);
}

fn take_back(kept: &mut Kept, sw: &mut Sweep<'_, Wide>) {
    lend(kept, sw);
}

/// Add one outcome's findings to another's: amounts add up, hops take the
/// least, a destination keeps its first absorption (`more` comes later in
/// the sweep's order, or holds other addresses).
pub(crate) fn add_outcome(o: &mut Outcome, more: Outcome) {
    o.seeded += more.seeded;
    o.unknown_origin += more.unknown_origin;
    o.fees += more.fees;
    o.held_by_seeds += more.held_by_seeds;
    o.visited += more.visited;
    for (k, d) in more.destinations {
        match o.destinations.entry(k) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let e = e.get_mut();
                e.amount += d.amount;
                e.hops = e.hops.min(d.hops);
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(d);
            }
        }
    }
    for (map, rows) in [(&mut o.dormant, more.dormant), (&mut o.horizon, more.horizon)] {
        for (k, (x, h)) in rows {
            let e = map.entry(k).or_insert((Wide::ZERO, h));
            e.0 += x;
            e.1 = e.1.min(h);
        }
    }
}

/// Add a later segment's findings (arrivals and conversions appended, in order).
fn add_found(total: &mut Followed, seg: Followed) {
    add_sums(total, &seg);
    for (asset, o) in seg.by_asset {
        add_outcome(total.by_asset.entry(asset).or_default(), o);
    }
    total.arrivals.extend(seg.arrivals);
    total.crossed.extend(seg.crossed);
    total.unfollowed.extend(seg.unfollowed);
    total.visited += seg.visited;
}

fn add_sums(total: &mut Followed, more: &Followed) {
    for (a, x) in &more.converted_in {
        *total.converted_in.entry(*a).or_default() += *x;
    }
    for (a, x) in &more.converted_out {
        *total.converted_out.entry(*a).or_default() += *x;
    }
    for (a, x) in &more.rounding {
        *total.rounding.entry(*a).or_default() += *x;
    }
}

/// Every worker's findings (`Shared::finish`) as the single-process sweep's
/// [`Followed`]: arrivals and conversions in its order, each conversion's
/// payout pointing at its place in that order, the conversions not
/// followed put together from what each worker saw of them.
fn assemble(parts: Vec<(Followed, Vec<Place>, Vec<u64>)>, spec: &Spec, p: &Prep) -> Followed {
    let mut out = Followed { seed_asset: p.seed_asset, ..Default::default() };
    let mut arrivals: Vec<(Place, Arrival)> = Vec::new();
    let mut crossed: Vec<(u64, Crossed)> = Vec::new();
    let mut unfollowed: BTreeMap<u64, Unfollowed> = BTreeMap::new();
    for (f, akeys, ckeys) in parts {
        assert_eq!((akeys.len(), ckeys.len()), (f.arrivals.len(), f.crossed.len()), "a place for each finding");
        for (asset, o) in f.by_asset {
            add_outcome(out.by_asset.entry(asset).or_default(), o);
        }
        let sums = Followed { converted_in: f.converted_in, converted_out: f.converted_out, rounding: f.rounding, ..Default::default() };
        add_sums(&mut out, &sums);
        out.visited += f.visited;
        arrivals.extend(akeys.into_iter().zip(f.arrivals));
        crossed.extend(ckeys.into_iter().zip(f.crossed));
        for u in f.unfollowed {
            match unfollowed.entry(u.first_event) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    for (a, x) in u.taint {
                        *e.get_mut().taint.entry(a).or_default() += x;
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(u);
                }
            }
        }
    }
    crossed.sort_by_key(|c| c.0);
    let index: HashMap<u64, usize> = crossed.iter().enumerate().map(|(k, c)| (c.0, k)).collect();
    arrivals.sort_by_key(|a| a.0);
    out.arrivals = arrivals
        .into_iter()
        .map(|(place, a)| match a {
            Arrival::Crossed(_) => Arrival::Crossed(index[&place.0]),
            a => a,
        })
        .collect();
    out.crossed = crossed.into_iter().map(|c| c.1).collect();
    out.unfollowed = unfollowed.into_values().collect();
    with_warnings(out, spec, p)
}
