//! The report of a trace over several stores (INTERFACE.md "Conversions"):
//! each store's report built as for one store, then joined with every
//! asset named `CHAIN:ASSET` and every row naming its chain; bridge
//! payouts on Bitcoin become conversion rows of their own.

use super::{AssetTotals, ConversionRow, Paths, Report, Step, Totals};
use crate::model::amount::WideSum;
use crate::store::Store;
use crate::trace::Spec;
use crate::trace::multi::{ChainOutcome, Multi};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Non-negative integers as text, compared by value.
fn by_value(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn prefixed(chain: &str, asset: &str) -> String {
    if asset.contains(':') { asset.to_string() } else { format!("{chain}:{asset}") }
}

fn rename_step(chain: &str, s: &mut Step) {
    if let Some(a) = &mut s.asset {
        *a = prefixed(chain, a);
    }
    if let Some(c) = &mut s.conversion {
        rename_conversion(chain, c);
    }
}

fn rename_conversion(chain: &str, c: &mut ConversionRow) {
    c.asset_in = prefixed(c.chain.as_deref().unwrap_or(chain), &c.asset_in);
    c.asset_out = prefixed(chain, &c.asset_out);
    c.chain.get_or_insert_with(|| chain.to_string());
    c.to_chain.get_or_insert_with(|| chain.to_string());
}

/// One store's report with its chain on every asset and row.
fn rename(chain: &str, r: &mut Report) {
    let native = |a: &Option<String>| Some(prefixed(chain, a.as_deref().unwrap_or(&r.asset)));
    for d in &mut r.destinations {
        d.asset = native(&d.asset);
        d.chain = Some(chain.to_string());
        for p in &mut d.paths {
            for s in p {
                if s.asset.is_none() {
                    s.asset = Some(r.asset.clone());
                }
                rename_step(chain, s);
            }
        }
    }
    for e in &mut r.entities {
        e.asset = native(&e.asset);
    }
    for h in r.dormant.iter_mut().chain(r.horizon.iter_mut()) {
        h.asset = native(&h.asset);
        h.chain = Some(chain.to_string());
    }
    for c in r.conversions.iter_mut().flatten() {
        rename_conversion(chain, c);
    }
    for u in r.unfollowed.iter_mut().flatten() {
        u.taint = std::mem::take(&mut u.taint).into_iter().map(|(a, v)| (prefixed(chain, &a), v)).collect();
    }
    if let Some(t) = r.totals_by_asset.take() {
        r.totals_by_asset = Some(t.into_iter().map(|(a, v)| (prefixed(chain, &a), v)).collect());
    }
    r.asset = prefixed(chain, &r.asset);
}

/// Evidence across bridges: a path whose first step is a bridge
/// conversion from another store goes on, before it, with the path that
/// brought the taint to the deposit's payer there.
fn stitch(stores: &[&Store], specs: &[Spec], m: &Multi, r: &mut Report) {
    use crate::trace::follow::PathIndex;
    let mut indexes: Vec<Option<PathIndex<'_>>> = (0..stores.len()).map(|_| None).collect();
    for d in &mut r.destinations {
        for path in &mut d.paths {
            let Some(c) = path.first().and_then(|s| s.conversion.as_deref()).filter(|c| c.kind == "bridge") else { continue };
            let Some(b) = m.bridges.iter().find(|b| {
                stores[b.store].manifest.chain.name() == c.chain.as_deref().unwrap_or("") && stores[b.store].tx_text(b.tx) == c.tx
            }) else {
                continue;
            };
            let ChainOutcome::Account(f) = &m.chains[b.store] else { continue };
            let s = stores[b.store];
            let index = indexes[b.store].get_or_insert_with(|| PathIndex::new(s, f));
            let seeds: std::collections::HashSet<u32> = specs[b.store].seeds.iter().copied().collect();
            let is_source = |asset: u32, addr: u32, _: u64| seeds.contains(&addr) && f.seed_asset.is_none_or(|a| a == asset);
            let chain = s.manifest.chain.name();
            let mut before: Vec<Step> = index
                .path_to(s, b.asset, b.payer, b.events[0] as u64, &is_source)
                .iter()
                .map(|a| {
                    let mut st = super::follow::step(s, f, a);
                    rename_step(chain, &mut st);
                    st
                })
                .collect();
            before.append(path);
            *path = before;
        }
    }
}

/// The joined report. `report_asset` (`CHAIN:ASSET`) is the asset of the
/// top-level `seeded` and `totals`.
pub fn build_multi(
    stores: &[&Store],
    specs: &[Spec],
    m: &Multi,
    seeds_text: &[String],
    seed_txs_text: &[String],
    paths: Paths,
    report_asset: &str,
) -> Report {
    // Each chain's destinations with paths; the joined list keeps those of
    // the rows listed first.
    let limit = paths;
    let paths = Paths::all(paths.each);
    let mut reports = Vec::new();
    for ((s, spec), c) in stores.iter().zip(specs).zip(&m.chains) {
        let chain = s.manifest.chain.name();
        let mut r = match c {
            ChainOutcome::Account(f) => super::follow::build_follow(s, spec, f, seeds_text, seed_txs_text, paths),
            ChainOutcome::Utxo(u) => {
                let (outcome, paid, converted_in) = (&u.outcome, &u.paid, &u.converted_in);
                let mut r = super::build(s, spec, outcome, seeds_text, seed_txs_text, paths);
                let mut conversions = Vec::new();
                let mut rows_by_k = Vec::new();
                for p in paid {
                    let b = &m.bridges[p.k];
                    let from = stores[b.store];
                    let pay = b.payout.as_ref().expect("a paid bridge has a payout");
                    let x = m.carried[p.k].as_ref().map(|c| c.x).unwrap_or_default();
                    let ev = s.events();
                    let i = p.event;
                    let (value_in, value_out) = (b.value, pay.value);
                    conversions.push(ConversionRow {
                        tx: from.tx_text(b.tx),
                        kind: "bridge",
                        payer: from.address_text(b.payer),
                        payee: s.address_text(pay.payee),
                        venue: from.address_text(b.holder),
                        asset_in: format!("{}:{}", from.manifest.chain.name(), from.manifest.assets[b.asset as usize]),
                        value_in: value_in.to_string(),
                        taint_in: x.to_string(),
                        asset_out: s.manifest.assets[pay.asset as usize].clone(),
                        value_out: value_out.to_string(),
                        taint_out: p.y.to_string(),
                        to_tx: Some(s.tx_text(pay.tx)),
                        chain: Some(from.manifest.chain.name().to_string()),
                        to_chain: Some(chain.to_string()),
                        exact: b.exact,
                        score: b.score_ppm,
                        block: (ev.block(i) != crate::model::NO_BLOCK).then(|| ev.block(i)),
                        time: (ev.time(i) != crate::model::NO_TIME).then(|| crate::model::time::format_time(ev.time(i))),
                        venues: vec![from.address_text(b.holder)],
                        hops: p.hop,
                        rounding: crate::trace::follow::rounding_text(x, value_in, value_out, ruint::aliases::U256::from(p.y)),
                    });
                    rows_by_k.push((p.k, conversions.last().cloned().expect("just pushed")));
                }
                // A path from a payout output: that step is the bridge conversion.
                for d in &mut r.destinations {
                    for path in &mut d.paths {
                        let Some(first) = path.first_mut() else { continue };
                        if let Some((_, row)) =
                            rows_by_k.iter().find(|(_, c)| c.to_tx.as_deref() == first.event.tx.as_deref() && c.payee == first.event.to)
                        {
                            first.conversion = Some(Box::new(row.clone()));
                        }
                    }
                }
                let held: WideSum = outcome.held_by_seeds;
                let sum = |it: &mut dyn Iterator<Item = WideSum>| it.fold(WideSum::ZERO, |a, b| a + b);
                let t = AssetTotals {
                    seeded: outcome.seeded.to_string(),
                    converted_in: converted_in.to_string(),
                    destinations: sum(&mut outcome.destinations.values().map(|d| d.amount)).to_string(),
                    dormant: (sum(&mut outcome.dormant.values().map(|d| d.0)) + held).to_string(),
                    horizon: sum(&mut outcome.horizon.values().map(|d| d.0)).to_string(),
                    fees: outcome.fees.to_string(),
                    converted_out: u.converted_out.to_string(),
                    rounding: "0".into(),
                    held_by_seeds: held.to_string(),
                    unknown_origin: outcome.unknown_origin.to_string(),
                };
                r.totals_by_asset = Some(BTreeMap::from([(r.asset.clone(), t)]));
                r.conversions = Some(conversions);
                // Deposits the bridge holds, with the taint that stopped there.
                let ev = s.events();
                let unfollowed = u
                    .held
                    .iter()
                    .map(|&(k, x)| {
                        let b = &m.bridges[k];
                        let i = b.output.unwrap_or(b.events[0]);
                        super::UnfollowedRow {
                            tx: s.tx_text(b.tx),
                            kind: "bridge",
                            status: b.status.as_str(),
                            block: (ev.block(i) != crate::model::NO_BLOCK).then(|| ev.block(i)),
                            time: (ev.time(i) != crate::model::NO_TIME).then(|| crate::model::time::format_time(ev.time(i))),
                            venues: vec![s.address_text(b.holder)],
                            taint: BTreeMap::from([(r.asset.clone(), x.to_string())]),
                        }
                    })
                    .collect();
                r.unfollowed = Some(unfollowed);
                r
            }
        };
        if stores.len() > 1 {
            stitch(stores, specs, m, &mut r);
            rename(chain, &mut r);
        }
        reports.push(r);
    }
    if reports.len() == 1 {
        // One store: its report as a single-store `--follow` report is.
        let mut r = reports.pop().expect("one report");
        r.heuristic = r.conversions.as_deref().and_then(super::HeuristicTotals::of);
        keep_paths(&mut r, limit);
        return r;
    }
    let first = reports.first().cloned().expect("at least one store");
    let mut out = Report { destinations: Vec::new(), entities: Vec::new(), dormant: Vec::new(), horizon: Vec::new(), ..first };
    let mut totals_by_asset = BTreeMap::new();
    let (mut conversions, mut unfollowed) = (Vec::new(), Vec::new());
    out.fees_modelled = reports.iter().all(|r| r.fees_modelled);
    for r in reports {
        out.destinations.extend(r.destinations);
        out.entities.extend(r.entities);
        out.dormant.extend(r.dormant);
        out.horizon.extend(r.horizon);
        totals_by_asset.extend(r.totals_by_asset.unwrap_or_default());
        conversions.extend(r.conversions.unwrap_or_default());
        unfollowed.extend(r.unfollowed.unwrap_or_default());
    }
    out.destinations
        .sort_by(|a, b| by_value(&b.amount, &a.amount).then_with(|| a.address.cmp(&b.address)).then_with(|| a.asset.cmp(&b.asset)));
    out.entities.sort_by(|a, b| by_value(&b.amount, &a.amount).then_with(|| a.entity.cmp(&b.entity)).then_with(|| a.asset.cmp(&b.asset)));
    for l in [&mut out.dormant, &mut out.horizon] {
        l.sort_by(|a, b| by_value(&b.amount, &a.amount).then_with(|| a.address.cmp(&b.address)).then_with(|| a.asset.cmp(&b.asset)));
    }
    // The top level in one unit: the report's asset.
    out.asset = report_asset.to_string();
    let t = totals_by_asset.get(report_asset).cloned();
    if let Some(t) = &t {
        out.seeded = t.seeded.clone();
        out.totals = Totals {
            destinations: t.destinations.clone(),
            dormant: t.dormant.clone(),
            horizon: t.horizon.clone(),
            fees: t.fees.clone(),
            held_by_seeds: t.held_by_seeds.clone(),
            unknown_origin: t.unknown_origin.clone(),
        };
    }
    out.totals_by_asset = Some(totals_by_asset);
    out.heuristic = super::HeuristicTotals::of(&conversions);
    out.conversions = Some(conversions);
    out.unfollowed = Some(unfollowed);
    keep_paths(&mut out, limit);
    out
}

/// Keep the paths of the destinations `limit` names, in the joined order.
fn keep_paths(r: &mut Report, limit: Paths) {
    let keep = limit.paths_for.of(r.destinations.len());
    for d in &mut r.destinations[keep..] {
        d.paths.clear();
    }
    r.paths_for = limit.field();
}
