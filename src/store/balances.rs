//! The balance replay: every sender's balance just before each event, and
//! the final balances, computed once at write time so that the sweeps need
//! not keep balances themselves (ADR 0005).

use super::builder::Builder;
use crate::model::flags;
use std::collections::HashMap;

impl Builder {
    /// Every address's running balance, per asset, replayed in key order with
    /// the tracer's rules (nothing moves on failed or no-transfer events, an
    /// overdraft is first credited as unknown origin, a self-transfer moves
    /// nothing): the sender's balance before each event, and the balances left
    /// at the end. With these the tracer need not keep balances itself and can
    /// skip every event between addresses that hold no taint. A balance that
    /// does not fit 128 bits stays `u128::MAX` and sends the tracer back to its
    /// full 320-bit sweep.
    pub(super) fn balances(&self, keep: &[crate::model::ids::EventPos]) -> (Vec<u128>, Vec<u8>) {
        let n_addr = self.addr_offsets.len() - 1;
        let mut native = crate::sys::huge_vec(n_addr, 0u128);
        let mut tokens: PairMap = HashMap::default();
        let mut sender = vec![0u128; keep.len()];
        // The replay is sequential, but reading the kept events' columns in
        // key order is a gather from five arrays (misses the replay would
        // wait on one by one): each chunk is gathered on the other core
        // while the one before it replays.
        const CHUNK: usize = 1 << 16;
        let gather = |c: &[crate::model::ids::EventPos]| -> Vec<Move> { c.iter().map(|&i| self.move_of(i as usize)).collect() };
        let mut chunks = keep.chunks(CHUNK);
        let mut next = chunks.next().map(gather);
        for out in sender.chunks_mut(CHUNK) {
            let moves = next.take().unwrap_or_default();
            let ((), following) = rayon::join(
                || {
                    const AHEAD: usize = 16;
                    for (p, m) in moves.iter().enumerate() {
                        if let Some(a) = moves.get(p + AHEAD) {
                            crate::sys::prefetch(&native[a.from as usize]);
                            crate::sys::prefetch(&native[a.to as usize]);
                        }
                        if m.value == 0 {
                            continue;
                        }
                        out[p] = if m.asset == 0 {
                            replay(&mut native, m.from, m.to, m.value)
                        } else {
                            replay(&mut Token { map: &mut tokens, asset: m.asset }, m.from, m.to, m.value)
                        };
                    }
                },
                || chunks.next().map(gather),
            );
            next = following;
        }
        let mut finals: Vec<(u32, u32, u128)> =
            native.iter().enumerate().filter(|(_, b)| **b != 0).map(|(x, &b)| (0, x as u32, b)).collect();
        let mut tok: Vec<(u32, u32, u128)> = tokens.into_iter().filter(|(_, b)| *b != 0).map(|((a, x), b)| (a, x, b)).collect();
        tok.sort_unstable();
        finals.extend(tok);
        let mut bytes = Vec::with_capacity(finals.len() * 24);
        for (a, x, b) in finals {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&x.to_le_bytes());
            bytes.extend_from_slice(&b.to_le_bytes());
        }
        (sender, bytes)
    }
}

impl Builder {
    /// [`Builder::balances`] for a delta appended to `s`: the replay starts
    /// from the store's final balances of the addresses the new events
    /// touch, and the final balances come back as a run of records for
    /// those addresses only, zeros included (a newer record wins).
    ///
    /// `start` holds the balances before the first kept event of addresses
    /// a splice reloaded events of (see [`Builder::balances_at_cut`]); they
    /// win over the store's final balances.
    pub(super) fn balances_after(
        &self,
        s: &super::Store,
        keep: &[crate::model::ids::EventPos],
        start: &HashMap<(u32, u32), u128>,
    ) -> (Vec<u128>, Vec<u8>) {
        let mut touched: Vec<(u32, u32)> = keep
            .iter()
            .map(|&i| self.move_of(i as usize))
            .filter(|m| m.value != 0)
            .flat_map(|m| [(m.asset, m.from), (m.asset, m.to)])
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut map: PairMap = HashMap::default();
        map.reserve(touched.len());
        for group in touched.chunk_by(|a, b| a.0 == b.0) {
            let asset = group[0].0;
            // Addresses new in this delta hold nothing yet: only old ones are
            // looked up, unless the splice knows them already.
            let (known, rest): (Vec<u32>, Vec<u32>) = group.iter().map(|k| k.1).partition(|&x| start.contains_key(&(asset, x)));
            for x in known {
                map.insert((asset, x), start[&(asset, x)]);
            }
            let (old, new): (Vec<u32>, Vec<u32>) = rest.into_iter().partition(|&x| x < self.addr_base);
            for (x, b) in old.iter().zip(s.final_balances(asset, &old)) {
                map.insert((asset, *x), b);
            }
            for x in new {
                map.insert((asset, x), 0);
            }
        }
        let mut sender = vec![0u128; keep.len()];
        for (p, &i) in keep.iter().enumerate() {
            let m = self.move_of(i as usize);
            if m.value != 0 {
                sender[p] = replay(&mut Token { map: &mut map, asset: m.asset }, m.from, m.to, m.value);
            }
        }
        let mut bytes = Vec::with_capacity(touched.len() * 24);
        for (a, x) in touched {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&x.to_le_bytes());
            bytes.extend_from_slice(&map[&(a, x)].to_le_bytes());
        }
        (sender, bytes)
    }
}

/// The balances, just before event `cut` of store `s`, of every `(asset,
/// address)` that its events from `cut` on touch (a splice reloads those
/// events and replays them from here), rebuilt from what the store keeps:
/// an address's balance before its first send from `cut` on is that send's
/// stored sender balance, less what it received between; one that only
/// receives holds its final balance less what it received. (Receiving
/// never credits unknown origin, so the difference is exact.) `None` where
/// a balance or a value involved does not fit 128 bits: the caller
/// rewrites instead.
pub(super) fn balances_at(s: &super::Store, cut: usize) -> Option<HashMap<(u32, u32), u128>> {
    let (ev, sb) = (s.events(), s.sender_balances());
    let stored = |i: usize| match sb.get(i) {
        u128::MAX => Some(s.wide_balance(i)).filter(|&b| b != UNFIT),
        b => Some(b),
    };
    let mut inflow: HashMap<(u32, u32), u128> = HashMap::new();
    let mut at_cut: HashMap<(u32, u32), u128> = HashMap::new();
    for i in cut..ev.len() {
        let value = match ev.value.get(i) {
            u128::MAX => s.value(i).to_u128().filter(|&v| v != UNFIT)?,
            v => v,
        };
        if ev.flags(i) & flags::MOVES_NOTHING != 0 || value == 0 {
            continue;
        }
        let (a, u, v) = (ev.asset(i), ev.sender(i), ev.receiver(i));
        if let std::collections::hash_map::Entry::Vacant(e) = at_cut.entry((a, u)) {
            e.insert(stored(i)?.checked_sub(inflow.remove(&(a, u)).unwrap_or(0))?);
        }
        if u != v && !at_cut.contains_key(&(a, v)) {
            let got = inflow.entry((a, v)).or_insert(0);
            *got = got.checked_add(value)?;
        }
    }
    let mut only_received: Vec<((u32, u32), u128)> = inflow.into_iter().collect();
    only_received.sort_unstable();
    for group in only_received.chunk_by(|x, y| x.0.0 == y.0.0) {
        let asset = group[0].0.0;
        let addrs: Vec<u32> = group.iter().map(|g| g.0.1).collect();
        for (g, fin) in group.iter().zip(s.final_balances(asset, &addrs)) {
            if fin == UNFIT {
                return None;
            }
            at_cut.insert(g.0, fin.checked_sub(g.1)?);
        }
    }
    Some(at_cut)
}

/// Token balances by `(asset, address)`.
type PairMap = HashMap<(u32, u32), u128, std::hash::BuildHasherDefault<PairHasher>>;

/// What the replay needs of one event; a value of zero for one that moves
/// nothing.
#[derive(Clone, Copy)]
struct Move {
    from: u32,
    to: u32,
    asset: u32,
    value: u128,
}

impl Builder {
    #[inline]
    fn move_of(&self, i: usize) -> Move {
        let moves = self.flags[i] & flags::MOVES_NOTHING == 0;
        Move { from: self.from[i], to: self.to[i], asset: self.asset[i], value: if moves { self.value[i] } else { 0 } }
    }
}

/// A hasher for `(asset, address)` id pairs: ids are dense integers, so a
/// multiply-shift mix is enough and far cheaper than SipHash.
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0.rotate_left(32) ^ u64::from(x)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Balances of one asset by address id; `UNFIT` where they do not fit 128 bits.
trait Balances {
    fn get(&self, x: u32) -> u128;
    fn set(&mut self, x: u32, b: u128);
}

const UNFIT: u128 = u128::MAX;

impl Balances for Vec<u128> {
    fn get(&self, x: u32) -> u128 {
        self[x as usize]
    }
    fn set(&mut self, x: u32, b: u128) {
        self[x as usize] = b;
    }
}

struct Token<'a, S> {
    map: &'a mut HashMap<(u32, u32), u128, S>,
    asset: u32,
}

impl<S: std::hash::BuildHasher> Balances for Token<'_, S> {
    fn get(&self, x: u32) -> u128 {
        self.map.get(&(self.asset, x)).copied().unwrap_or(0)
    }
    fn set(&mut self, x: u32, b: u128) {
        self.map.insert((self.asset, x), b);
    }
}

/// Move `a` from `u` to `v` (a big value, ≥ 2^128-1, is itself `UNFIT`);
/// returns `u`'s balance before. An overdraft is first credited as unknown
/// origin, so a sender that fits is left with `max(b, a) - a`: zero after a
/// big value. Only what is truly unknown becomes `UNFIT`.
fn replay(bal: &mut impl Balances, u: u32, v: u32, a: u128) -> u128 {
    let bu = bal.get(u);
    let after_u = match (bu, a) {
        (UNFIT, _) => UNFIT,
        (_, UNFIT) => 0,
        _ => bu.max(a) - a,
    };
    if u == v {
        // Nothing moves, but an overdraft is still credited.
        bal.set(u, if bu == UNFIT || a == UNFIT { UNFIT } else { bu.max(a) });
        return bu;
    }
    bal.set(u, after_u);
    let bv = bal.get(v);
    let after_v = if bv == UNFIT || a == UNFIT { UNFIT } else { bv.checked_add(a).filter(|&s| s != UNFIT).unwrap_or(UNFIT) };
    bal.set(v, after_v);
    bu
}
