//! Screening over several stores (TRACING.md §4 with §7's bridges; ADR
//! 0014): exposure that crossed a bridge counts on the chain it reached.
//!
//! Each store is screened in its own asset by its own exposure sweep,
//! stepped as a trace over several stores is ([`crate::trace::multi`]):
//! payouts are taken in the order of all chains' events, and before a
//! payout's sweep reaches it, the deposit's sweep is run past the deposit
//! and hands over what left the payer in every category. A bridge is
//! followed when the matcher follows it (its own key; heuristic links only
//! when asked) and both its sides are in the screened assets; its own
//! addresses are then transparent. Any other deposit is an ordinary
//! arrival at the bridge.
//!
//! The indexes are kept beside the single-store ones, named by a key over
//! every store's generation and manifest, the assets, the categories and
//! the follow options, with the bridge links evidence paths cross.

use super::index::{self, Index};
use super::sweep::{BridgeStep, Crossing, DepositLeg, Exposures, PayoutLeg, Sweeper};
use super::utxo::UtxoSweeper;
use super::{CategorySet, ScreenError};
use crate::model::flags;
use crate::store::Store;
use crate::trace::bridges::{Status, match_all, positions};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A followed bridge as evidence paths cross it: the payee's leg on the
/// payout's chain, and the payer's first leg on the deposit's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    /// (store, event) of the payee's leg.
    pub payout: (usize, u64),
    /// (store, event) of the payer's first leg.
    pub deposit: (usize, u64),
}

/// What screening several stores found.
pub struct Screened {
    /// Per store, in the order given.
    pub exposures: Vec<Exposures>,
    /// The bridges followed.
    pub links: Vec<Link>,
}

/// Sweep `stores` together, store `j` in its asset `assets[j]`, carrying
/// exposure across the bridges the matcher follows (heuristic links too
/// with `heuristic`).
pub fn sweep_many(stores: &[&Store], assets: &[u32], cats: &CategorySet, heuristic: bool) -> Result<Screened, ScreenError> {
    let bridges = match_all(stores, heuristic);
    let labels: Vec<Vec<crate::labels::Label>> = stores.iter().map(|s| crate::labels::load(s)).collect();
    // Addresses that are a source of some category (at any time), per store.
    let sources: Vec<std::collections::HashSet<u32>> = stores
        .iter()
        .zip(&labels)
        .map(|(s, ls)| {
            let ids = s.find_addresses(ls.iter().filter(|l| cats.index(&l.category).is_some()).map(|l| l.address.as_str()));
            ids.into_values().collect()
        })
        .collect();
    let mut steps: Vec<BTreeMap<usize, BridgeStep>> = stores.iter().map(|_| BTreeMap::new()).collect();
    let mut links: Vec<(usize, Link, usize)> = Vec::new();
    for (k, b) in bridges.iter().enumerate() {
        let Some(p) = b.payout.as_ref().filter(|_| b.status == Status::Followable) else { continue };
        let (d, q) = (b.store, p.store);
        // Both sides in the screened assets.
        if b.asset != assets[d] || p.asset != assets[q] {
            continue;
        }
        let (dev, pev) = (stores[d].events(), stores[q].events());
        // A leg: in the screened asset, moving something, not a fee (fees
        // are ordinary events, as in the trace).
        let leg = |ev: &crate::store::EventColumns<'_>, j: usize, i: usize| {
            ev.asset(i) == assets[j]
                && ev.flags(i) & (flags::MOVES_NOTHING | flags::FEE) == 0
                && crate::model::sub::class(ev.sub(i)) != crate::model::sub::FEE
        };
        let account = |j: usize| stores[j].manifest.chain.is_account();
        // The deposit's side: the payer's first leg that moves value to
        // another address, or on Bitcoin the output paying the bridge; a
        // payout's: the payee's leg or output.
        let first = if account(d) {
            b.events
                .iter()
                .copied()
                .find(|&i| leg(&dev, d, i) && dev.sender(i) == b.payer && dev.receiver(i) != b.payer && dev.value.get(i) != 0)
        } else {
            b.output.filter(|&o| leg(&dev, d, o))
        };
        let Some(first) = first else { continue };
        if !leg(&pev, q, p.event) || pev.sender(p.event) == pev.receiver(p.event) {
            continue;
        }
        let (Ok(a), Ok(bv)) = (u128::try_from(b.value), u128::try_from(p.value)) else { continue };
        if a == 0 {
            continue;
        }
        // The bridge's own legs move balances only (account model); on
        // Bitcoin the other outputs are §3's as ever.
        let mine_d: Vec<usize> = if account(d) { b.events.iter().copied().filter(|&i| leg(&dev, d, i)).collect() } else { vec![first] };
        let mine_q: Vec<usize> = if account(q) { p.events.iter().copied().filter(|&i| leg(&pev, q, i)).collect() } else { vec![p.event] };
        // A source among the bridge's own parties: its transactions are
        // ordinary events, as the trace treats a seed inside a conversion.
        let source_inside = if account(d) {
            mine_d.iter().any(|&i| [dev.sender(i), dev.receiver(i)].iter().any(|&x| x != b.payer && sources[d].contains(&x)))
        } else {
            sources[d].contains(&dev.receiver(first))
        } || if account(q) {
            mine_q.iter().any(|&i| [pev.sender(i), pev.receiver(i)].iter().any(|&x| x != p.payee && sources[q].contains(&x)))
        } else {
            utxo_inputs(stores[q], p.event).iter().any(|x| sources[q].contains(x))
        };
        // An event is one bridge's at most.
        if source_inside
            || mine_d.iter().any(|i| steps[d].contains_key(i))
            || mine_q.iter().any(|i| steps[q].contains_key(i))
            || (d == q && mine_d.iter().any(|i| mine_q.contains(i)))
        {
            continue;
        }
        for i in mine_d {
            steps[d].insert(i, if i == first { BridgeStep::Send(DepositLeg { k, a }) } else { BridgeStep::Quiet });
        }
        for i in mine_q {
            steps[q].insert(i, if i == p.event { BridgeStep::Receive(PayoutLeg { k, a, b: bv }) } else { BridgeStep::Quiet });
        }
        let last = b.events.iter().copied().chain([first]).max().expect("a deposit has events");
        links.push((k, Link { payout: (q, p.event as u64), deposit: (d, first as u64) }, last));
    }
    let mut sweepers: Vec<Runner<'_>> = Vec::new();
    for (j, (s, labels)) in stores.iter().zip(&labels).enumerate() {
        let steps = std::mem::take(&mut steps[j]);
        sweepers.push(if s.manifest.chain.is_account() {
            Runner::Account(Box::new(Sweeper::new(s, assets[j], cats, labels, steps.into_iter().collect())?))
        } else {
            Runner::Utxo(Box::new(UtxoSweeper::new(s, cats, labels, steps.into_iter().collect())?))
        });
    }
    // Payouts in the order of all chains' events.
    let payout_store: HashMap<usize, usize> = links.iter().map(|(k, l, _)| (*k, l.payout.0)).collect();
    // One walk over each payout store's block runs.
    let firsts: Vec<(usize, usize)> =
        links.iter().map(|(k, l, _)| (l.payout.0, bridges[*k].payout.as_ref().expect("followed").events[0])).collect();
    let mut order: Vec<(crate::trace::bridges::Position, usize)> = Vec::with_capacity(links.len());
    for (j, s) in stores.iter().enumerate() {
        let mut mine: Vec<(usize, usize)> = firsts.iter().enumerate().filter(|(_, f)| f.0 == j).map(|(n, f)| (f.1, n)).collect();
        mine.sort_unstable();
        let at: Vec<usize> = mine.iter().map(|m| m.0).collect();
        order.extend(positions(s, &at).into_iter().zip(mine).map(|(p, (_, n))| (p, n)));
    }
    order.sort_unstable();
    for &(_, n) in &order {
        let (k, l, last) = links[n];
        sweepers[l.deposit.0].run_to(last + 1)?;
        for (kk, c) in sweepers[l.deposit.0].take_sent() {
            sweepers[payout_store[&kk]].give(kk, c);
        }
        let first = bridges[k].payout.as_ref().expect("followed").events[0];
        sweepers[l.payout.0].run_to(first)?;
    }
    let exposures = sweepers.into_iter().map(Runner::finish).collect::<Result<Vec<_>, _>>()?;
    let mut links: Vec<Link> = links.into_iter().map(|x| x.1).collect();
    links.sort_unstable();
    Ok(Screened { exposures, links })
}

/// The addresses of the inputs of output `event`'s transaction (Bitcoin).
fn utxo_inputs(s: &Store, event: usize) -> Vec<u32> {
    let in_addr: &[u32] = crate::store::cast(s.bytes(crate::store::Column::InAddr));
    in_addr[s.input_rows(s.events().tx(event))].to_vec()
}

/// One store's exposure sweep, whichever its model.
enum Runner<'a> {
    Account(Box<Sweeper<'a>>),
    Utxo(Box<UtxoSweeper<'a>>),
}

impl Runner<'_> {
    fn run_to(&mut self, end: usize) -> Result<(), ScreenError> {
        match self {
            Runner::Account(s) => s.run_to(end),
            Runner::Utxo(s) => s.run_to(end),
        }
    }

    fn take_sent(&mut self) -> Vec<(usize, Crossing)> {
        match self {
            Runner::Account(s) => s.take_sent(),
            Runner::Utxo(s) => s.take_sent(),
        }
    }

    fn give(&mut self, k: usize, c: Crossing) {
        match self {
            Runner::Account(s) => s.give(k, c),
            Runner::Utxo(s) => s.give(k, c),
        }
    }

    fn finish(self) -> Result<Exposures, ScreenError> {
        match self {
            Runner::Account(s) => s.finish(),
            Runner::Utxo(s) => s.finish(),
        }
    }
}

/// The key that names a set of stores screened together.
fn key(stores: &[&Store], assets: &[u32], cats: &CategorySet, heuristic: bool) -> String {
    let mut text = format!("{heuristic} {:?}\n", cats.names);
    for (s, &a) in stores.iter().zip(assets) {
        let generation = s.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let manifest = serde_json::to_string(&s.manifest).unwrap_or_default();
        text += &format!("{generation} {} {}\n", s.manifest.assets[a as usize], manifest);
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn index_path(s: &Store, key: &str, asset: &str) -> PathBuf {
    let generation = s.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    s.dir.join("exposure").join(format!("{generation}.bridged-{key}.{}.idx", asset.to_ascii_lowercase()))
}

fn links_path(s: &Store, key: &str) -> PathBuf {
    let generation = s.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    s.dir.join("exposure").join(format!("{generation}.bridged-{key}.links"))
}

fn read_links(path: &Path) -> Option<Vec<Link>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != "chaintrace-bridge-links 1" {
        return None;
    }
    let mut out = Vec::new();
    for line in lines {
        let v: Vec<u64> = line.split(' ').map(str::parse).collect::<Result<_, _>>().ok()?;
        let [ps, pe, ds, de] = v[..] else { return None };
        out.push(Link { payout: (ps as usize, pe), deposit: (ds as usize, de) });
    }
    Some(out)
}

fn write_links(path: &Path, links: &[Link]) -> Result<(), ScreenError> {
    let mut text = String::from("chaintrace-bridge-links 1\n");
    for l in links {
        text += &format!("{} {} {} {}\n", l.payout.0, l.payout.1, l.deposit.0, l.deposit.1);
    }
    let io = |source| ScreenError::Io { path: path.to_path_buf(), source };
    std::fs::create_dir_all(path.parent().expect("in a directory")).map_err(io)?;
    let tmp = crate::sys::tmp_path(path);
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The exposure indexes of `stores` screened together, and the bridge
/// links: read when written before for the same stores, generations and
/// question, built (and written) otherwise. Returns whether they were
/// built now.
pub fn open_or_build_many(
    stores: &[&Store],
    assets: &[u32],
    cats: &CategorySet,
    heuristic: bool,
) -> Result<(Vec<Index>, Vec<Link>, bool), ScreenError> {
    let key = key(stores, assets, cats, heuristic);
    let names: Vec<&str> = stores.iter().zip(assets).map(|(s, &a)| s.manifest.assets[a as usize].as_str()).collect();
    let paths: Vec<PathBuf> = stores.iter().zip(&names).map(|(s, a)| index_path(s, &key, a)).collect();
    let lpath = links_path(stores[0], &key);
    let cached = || -> Option<(Vec<Index>, Vec<Link>)> {
        let links = read_links(&lpath)?;
        let mut ixs = Vec::new();
        for (s, p) in stores.iter().zip(&paths) {
            let ix = Index::open(p).ok()?;
            if ix.meta.categories != cats.names || ix.meta.addresses != s.address_count() as u64 || !ix.fits(s) {
                return None;
            }
            ixs.push(ix);
        }
        let fits = |(j, e): (usize, u64)| j < stores.len() && e < stores[j].len() as u64;
        links.iter().all(|l| fits(l.payout) && fits(l.deposit)).then_some((ixs, links))
    };
    if let Some((ixs, links)) = cached() {
        return Ok((ixs, links, false));
    }
    let got = sweep_many(stores, assets, cats, heuristic)?;
    for ((s, x), (p, a)) in stores.iter().zip(&got.exposures).zip(paths.iter().zip(&names)) {
        index::write(s, a, &cats.names, x, p)?;
    }
    write_links(&lpath, &got.links)?;
    for s in stores {
        super::remove_stale(s);
    }
    let ixs = paths.iter().map(|p| Index::open(p)).collect::<Result<Vec<_>, _>>()?;
    Ok((ixs, got.links, true))
}

/// One evidence path (events as (store, index), in order) from a source of
/// category `k` to address `id` of store `j`, crossing followed bridges:
/// at a payee's leg the path goes on from the deposit's payer.
pub fn path(stores: &[&Store], ixs: &[Index], links: &[Link], j: usize, id: u32, k: u16) -> Vec<(usize, u64)> {
    let by_payout: HashMap<(usize, u64), (usize, u64)> = links.iter().map(|l| (l.payout, l.deposit)).collect();
    let mut out = Vec::new();
    let Some(mut e) = ixs[j].exposure(id, k).map(|x| x.first_in) else { return out };
    let mut j = j;
    // A path visits each event once: a bound for damaged indexes.
    for _ in 0..=stores.iter().map(|s| s.len()).sum::<usize>() {
        out.push((j, e));
        if let Some(&(dj, de)) = by_payout.get(&(j, e)) {
            (j, e) = (dj, de);
            out.push((j, e));
        }
        match ixs[j].step_back(stores[j], e, k) {
            super::index::Back::To(prev) => e = prev,
            _ => break,
        }
    }
    out.reverse();
    out
}
