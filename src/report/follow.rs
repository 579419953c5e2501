//! The report of `trace --follow swaps` (INTERFACE.md "Conversions"): every
//! field of the single-asset report, an asset on every row (an address has a
//! row per asset), each asset's conservation terms, the followed conversions
//! and the unfollowed ones. The top-level `seeded` and `totals` are those of
//! the report's `asset` (`--asset`, else the native coin), so they stay in
//! one unit; `totals_by_asset` has the rest.

use super::{AssetTotals, ConversionRow, DestinationRow, HolderRow, Paths, Report, Step, Totals, UnfollowedRow, entity_rows};
use crate::model::amount::WideSum;
use crate::model::{NO_BLOCK, NO_TIME};
use crate::store::Store;
use crate::trace::Spec;
use crate::trace::evidence::EventRef;
use crate::trace::follow::{Arrival, Crossed, Followed, PathIndex};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// An asset's name as reports give it (WETH is traced as ETH, id 0).
pub fn asset_name(store: &Store, asset: u32) -> String {
    store.manifest.assets[asset as usize].clone()
}

fn block_time(store: &Store, i: usize) -> (Option<u64>, Option<String>) {
    let ev = store.events();
    ((ev.block(i) != NO_BLOCK).then_some(ev.block(i)), (ev.time(i) != NO_TIME).then(|| crate::model::time::format_time(ev.time(i))))
}

/// A followed conversion as the report names it.
pub fn conversion_row(store: &Store, c: &Crossed) -> ConversionRow {
    let (block, time) = block_time(store, c.last_event as usize);
    if let Some(b) = &c.bridge {
        return ConversionRow {
            tx: b.tx.clone(),
            kind: "bridge",
            payer: b.payer.clone(),
            payee: store.address_text(c.payee),
            venue: b.holder.clone(),
            asset_in: b.asset_in.clone(),
            value_in: c.value_in.to_string(),
            taint_in: c.taint_in.to_string(),
            asset_out: asset_name(store, c.asset_out),
            value_out: c.value_out.to_string(),
            taint_out: c.taint_out.to_string(),
            to_tx: Some(store.tx_text(c.tx)),
            chain: Some(b.chain.to_string()),
            to_chain: Some(store.manifest.chain.name().to_string()),
            exact: b.exact,
            score: b.score_ppm,
            block,
            time,
            venues: vec![b.holder.clone()],
            hops: c.hop,
            rounding: c.rounding(),
        };
    }
    let venues: Vec<String> = c.venues.iter().map(|&v| store.address_text(v)).collect();
    ConversionRow {
        tx: store.tx_text(c.tx),
        kind: "swap",
        payer: store.address_text(c.payer),
        payee: store.address_text(c.payee),
        venue: venues.first().cloned().unwrap_or_default(),
        asset_in: asset_name(store, c.asset_in),
        value_in: c.value_in.to_string(),
        taint_in: c.taint_in.to_string(),
        asset_out: asset_name(store, c.asset_out),
        value_out: c.value_out.to_string(),
        taint_out: c.taint_out.to_string(),
        to_tx: None,
        chain: None,
        to_chain: None,
        exact: true,
        score: None,
        block,
        time,
        venues,
        hops: c.hop,
        rounding: c.rounding(),
    }
}

pub(crate) fn step(store: &Store, f: &Followed, a: &Arrival) -> Step {
    match *a {
        Arrival::Event { event, asset, x, .. } => Step {
            event: EventRef::of(store, event as usize),
            taint: x.to_string(),
            asset: Some(asset_name(store, asset)),
            conversion: None,
        },
        Arrival::Crossed(k) => {
            let c = &f.crossed[k];
            let row = conversion_row(store, c);
            Step {
                event: EventRef {
                    tx: Some(row.tx.clone()),
                    from: row.payer.clone(),
                    to: row.payee.clone(),
                    block: row.block,
                    time: row.time.clone(),
                    value: row.value_out.clone(),
                    chain: None,
                },
                taint: row.taint_out.clone(),
                asset: Some(row.asset_out.clone()),
                conversion: Some(Box::new(row)),
            }
        }
    }
}

/// Rows sorted as §6 sorts them (amount descending, then address), then by asset.
fn sorted<T>(mut rows: Vec<(WideSum, String, String, T)>) -> Vec<(WideSum, String, T)> {
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(&b.2)));
    rows.into_iter().map(|(w, a, _, t)| (w, a, t)).collect()
}

/// Build the report of a `--follow swaps` trace.
pub fn build_follow(store: &Store, spec: &Spec, f: &Followed, seeds_text: &[String], seed_txs_text: &[String], paths: Paths) -> Report {
    let name = |a: u32| asset_name(store, a);
    let index = PathIndex::new(store, f);
    let seeds: HashSet<u32> = spec.seeds.iter().copied().collect();
    let is_source = |asset: u32, addr: u32, _event: u64| seeds.contains(&addr) && f.seed_asset.is_none_or(|s| s == asset);
    let mut dests = Vec::new();
    let (mut dormant, mut horizon) = (Vec::new(), Vec::new());
    for (&asset, o) in &f.by_asset {
        let an = name(asset);
        for (&id, d) in &o.destinations {
            let addr = store.address_text(id);
            let (first_block, first_time) = block_time(store, d.first_event as usize);
            let row = DestinationRow {
                chain: None,
                address: addr.clone(),
                asset: Some(an.clone()),
                label: (!d.label.is_empty()).then(|| d.label.clone()),
                entity: (!d.entity.is_empty()).then(|| d.entity.clone()),
                category: d.category.clone(),
                amount: d.amount.to_string(),
                hops: d.hops,
                first_block,
                first_time,
                paths: Vec::new(),
                cluster_size: None,
            };
            dests.push((d.amount, addr, an.clone(), (asset, id, row)));
        }
        for (list, m) in [(&mut dormant, &o.dormant), (&mut horizon, &o.horizon)] {
            for (&id, &(amount, hops)) in m {
                let a = store.address_text(id);
                list.push((
                    amount,
                    a.clone(),
                    an.clone(),
                    HolderRow { address: a, chain: None, asset: Some(an.clone()), amount: amount.to_string(), hops, cluster_size: None },
                ));
            }
        }
    }
    let mut dests = sorted(dests);
    // The paths of the rows listed first.
    let walked = if paths.each == 0 { 0 } else { paths.paths_for.of(dests.len()) };
    for (_, _, (asset, id, row)) in &mut dests[..walked] {
        row.paths =
            index.paths(store, *asset, *id, paths.each, &is_source).iter().map(|p| p.iter().map(|a| step(store, f, a)).collect()).collect();
    }
    let dests: Vec<(WideSum, String, DestinationRow)> = dests.into_iter().map(|(w, a, (_, _, row))| (w, a, row)).collect();
    let entities = entity_rows(dests.iter().map(|(w, _, d)| (w, d)));
    let report_asset = f.seed_asset.unwrap_or(0);
    let mut assets: BTreeSet<u32> = f.by_asset.keys().copied().collect();
    assets.extend(f.converted_in.keys().chain(f.converted_out.keys()).chain(f.rounding.keys()));
    let wide = |m: &BTreeMap<u32, WideSum>, a: u32| m.get(&a).copied().unwrap_or(WideSum::ZERO);
    let sum = |it: &mut dyn Iterator<Item = WideSum>| it.fold(WideSum::ZERO, |a, b| a + b);
    let totals_of = |a: u32| {
        let o = f.by_asset.get(&a).cloned().unwrap_or_default();
        let d = sum(&mut o.destinations.values().map(|d| d.amount));
        let r = sum(&mut o.dormant.values().map(|d| d.0)) + o.held_by_seeds;
        let h = sum(&mut o.horizon.values().map(|d| d.0));
        (o, d, r, h)
    };
    let totals_by_asset: BTreeMap<String, AssetTotals> = assets
        .iter()
        .map(|&a| {
            let (o, d, r, h) = totals_of(a);
            let t = AssetTotals {
                seeded: o.seeded.to_string(),
                converted_in: wide(&f.converted_in, a).to_string(),
                destinations: d.to_string(),
                dormant: r.to_string(),
                horizon: h.to_string(),
                fees: o.fees.to_string(),
                converted_out: wide(&f.converted_out, a).to_string(),
                rounding: f.rounding.get(&a).copied().unwrap_or_default().to_string(),
                held_by_seeds: o.held_by_seeds.to_string(),
                unknown_origin: o.unknown_origin.to_string(),
            };
            (name(a), t)
        })
        .collect();
    let (o, d, r, h) = totals_of(report_asset);
    let mut seeds_out = seeds_text.to_vec();
    seeds_out.sort();
    seeds_out.dedup();
    let mut stx = seed_txs_text.to_vec();
    stx.sort();
    stx.dedup();
    Report {
        policy: spec.policy,
        asset: name(report_asset),
        seeds: seeds_out,
        seed_txs: stx,
        fees_modelled: store.manifest.fees.known_txs > 0,
        seeded: o.seeded.to_string(),
        destinations: dests.into_iter().map(|r| r.2).collect(),
        entities,
        dormant: sorted(dormant).into_iter().map(|r| r.2).collect(),
        horizon: sorted(horizon).into_iter().map(|r| r.2).collect(),
        totals: Totals {
            destinations: d.to_string(),
            dormant: r.to_string(),
            horizon: h.to_string(),
            fees: o.fees.to_string(),
            held_by_seeds: o.held_by_seeds.to_string(),
            unknown_origin: o.unknown_origin.to_string(),
        },
        totals_by_asset: Some(totals_by_asset),
        conversions: Some(f.crossed.iter().map(|c| conversion_row(store, c)).collect()),
        unfollowed: Some(
            f.unfollowed
                .iter()
                .map(|u| {
                    let (block, time) = block_time(store, u.first_event as usize);
                    UnfollowedRow {
                        tx: store.tx_text(u.tx),
                        kind: if matches!(u.reason, "ambiguous" | "seed") { "swap" } else { "bridge" },
                        status: u.reason,
                        block,
                        time,
                        venues: u.venues.iter().map(|&v| store.address_text(v)).collect(),
                        taint: u.taint.iter().map(|(&a, w)| (name(a), w.to_string())).collect(),
                    }
                })
                .collect(),
        ),
        heuristic: None,
        paths_for: paths.field(),
        flow: None,
    }
}

/// What a table adds to a conversion's line: `(heuristic, score N ppm)`
/// for a link made by a heuristic, nothing for an exact one.
pub(crate) fn heuristic_note(c: &ConversionRow) -> String {
    match (c.exact, c.score) {
        (true, _) => String::new(),
        (false, Some(score)) => format!(" (heuristic, score {score} ppm)"),
        (false, None) => " (heuristic)".into(),
    }
}

/// The table of a `--follow` report: rows with their asset, the followed
/// and unfollowed conversions, and each asset's conservation line.
pub fn to_table(r: &Report, chain: crate::model::Chain, book: &crate::model::tokens::Book) -> String {
    use super::{asset_decimals, asset_label, whole};
    let amt =
        |amount: &str, asset: &str| format!("{} {}", whole(amount, asset_decimals(chain, book, asset)), asset_label(chain, book, asset));
    let mut s = format!(
        "{} trace across swaps from {} seed(s){}; whole coins where the asset's decimals are known (ETH, tokens known or told), else base units\n\n",
        format!("{:?}", r.policy).to_lowercase(),
        r.seeds.len() + r.seed_txs.len(),
        if r.fees_modelled { "" } else { "; fees not modelled" }
    );
    s += &format!("{:<44} {:<12} {:<26} {:>40} {:>4}\n", "destination", "category", "label", "amount", "hops");
    for d in &r.destinations {
        let label: String = d.label.clone().unwrap_or_default().chars().take(26).collect();
        s += &format!(
            "{:<44} {:<12} {:<26} {:>40} {:>4}\n",
            d.address,
            d.category,
            label,
            amt(&d.amount, d.asset.as_deref().unwrap_or("")),
            d.hops
        );
    }
    s += &format!("\n{:<44} {:>40} {:>4}\n", "dormant (still holding taint)", "amount", "hops");
    for h in r.dormant.iter().take(20) {
        s += &format!("{:<44} {:>40} {:>4}\n", h.address, amt(&h.amount, h.asset.as_deref().unwrap_or("")), h.hops);
    }
    if r.dormant.len() > 20 {
        s += &format!("... {} more (see --format json or csv)\n", r.dormant.len() - 20);
    }
    if !r.horizon.is_empty() {
        s += &format!("\n{:<44} {:>40} {:>4}\n", "horizon (cut off by --max-hops)", "amount", "hops");
        for h in r.horizon.iter().take(20) {
            s += &format!("{:<44} {:>40} {:>4}\n", h.address, amt(&h.amount, h.asset.as_deref().unwrap_or("")), h.hops);
        }
    }
    if let Some(cs) = &r.conversions {
        let what = if cs.iter().any(|c| c.kind == "bridge") { "conversions (swaps, bridges)" } else { "swaps" };
        s += &format!("\n{what} followed ({}): taint in -> taint out\n", cs.len());
        for c in cs {
            s += &format!(
                "{} {} -> {} via {}: {} of {} -> {} of {}{}\n",
                c.tx,
                c.payer,
                c.payee,
                c.venue,
                amt(&c.taint_in, &c.asset_in),
                amt(&c.value_in, &c.asset_in),
                amt(&c.taint_out, &c.asset_out),
                amt(&c.value_out, &c.asset_out),
                heuristic_note(c)
            );
        }
    }
    if let Some(h) = &r.heuristic {
        let list = |m: &BTreeMap<String, String>| m.iter().map(|(a, v)| amt(v, a)).collect::<Vec<_>>().join(", ");
        s += &format!("\ncrossed by heuristic links ({}, exact: false): {} in -> {} out\n", h.links, list(&h.taint_in), list(&h.taint_out));
    }
    if let Some(us) = r.unfollowed.as_ref().filter(|u| !u.is_empty()) {
        s += &format!("\nconversions reached but not followed ({}):\n", us.len());
        for u in us {
            let t: Vec<String> = u.taint.iter().map(|(a, v)| amt(v, a)).collect();
            s += &format!(
                "{} {} at {}: {} stopped at the venues\n",
                u.tx,
                u.status,
                u.venues.join(","),
                if t.is_empty() { "none".into() } else { t.join(", ") }
            );
        }
    }
    s += "\nper asset, in base units: seeded + converted_in = destinations + dormant + horizon + fees + converted_out\n";
    for (a, t) in r.totals_by_asset.iter().flatten() {
        let name = match crate::model::tokens::known(a) {
            Some(k) => format!("{} {a}", k.symbol),
            None => a.clone(),
        };
        s += &format!(
            "{name}: {} + {} = {} + {} + {} + {} + {} (rounding {}){}\n",
            t.seeded,
            t.converted_in,
            t.destinations,
            t.dormant,
            t.horizon,
            t.fees,
            t.converted_out,
            t.rounding,
            if r.policy == crate::trace::Policy::Poison { " (poison does not conserve amounts)" } else { "" }
        );
    }
    s
}
