//! Exchange deposit addresses (Ethereum), found from how they behave.
//!
//! An exchange gives each customer a deposit address that nobody labels; it
//! forwards what it receives to the exchange's hot wallet soon after (a
//! *sweep*). One pass over the events in key order keeps, per address and
//! asset, what it received since its last send and when that started. A send
//! to a labelled exchange address is a sweep when it forwards that amount,
//! less at most the tolerance, within `max_blocks` of the first unswept
//! receipt. An unlabelled address is a deposit address of an exchange when
//! it swept to that exchange and sent almost nothing anywhere else. Where
//! freezing starts, this is the address to name: `--stop-at exchange` stops
//! there, with the sweep transaction as evidence.

use super::Label;
use crate::model::{NO_BLOCK, NO_TX, flags};
use crate::store::Store;
use ruint::aliases::U256;
use std::collections::HashMap;

/// Detector settings.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Most blocks between the first unswept receipt and the sweep.
    pub max_blocks: u64,
    /// Relative shortfall a sweep may have against what was received, in
    /// basis points (the sweep pays its own fee out of the deposit).
    pub tolerance_bps: u32,
    /// Absolute shortfall allowed on top, in base units (gas on small deposits).
    pub dust: u128,
    /// Smallest share, in basis points, of the address's outflow that must go to the exchange.
    pub min_share_bps: u32,
}

impl Default for Params {
    fn default() -> Self {
        // A day of blocks; 1%; 0.01 ETH; 95%.
        Params { max_blocks: 7_200, tolerance_bps: 100, dust: 10_000_000_000_000_000, min_share_bps: 9_500 }
    }
}

/// What the detector found.
#[derive(Clone, Debug)]
pub struct Found {
    /// One label per deposit address (category `exchange`, source `detected:deposit`).
    pub labels: Vec<Label>,
    /// Sweeps seen into labelled exchange addresses.
    pub sweeps: u64,
    /// Candidate addresses turned down (swept to two exchanges, or sent too much elsewhere).
    pub rejected: u64,
}

#[derive(Default, Clone)]
struct Pending {
    received: u128,
    since: u64,
}

#[derive(Default)]
struct Candidate {
    entity: Option<(String, String)>,
    conflicting: bool,
    sweeps: u32,
    first_sweep_tx: u32,
    swept: u128,
    elsewhere: u128,
}

/// Find deposit addresses in an Ethereum store, given its labels.
pub fn detect(store: &Store, labels: &[Label], p: &Params) -> Found {
    let ev = store.events();
    // Exchange wallets by id, with the entity and name a deposit inherits.
    let mut exchange: HashMap<u32, (String, String)> = HashMap::new();
    let mut labelled: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let ids = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let mut sorted: Vec<&Label> = labels.iter().collect();
    sorted.sort_by(|a, b| super::precedence(a, b));
    for l in sorted {
        let Some(&id) = ids.get(&l.address) else { continue };
        labelled.insert(id);
        if l.category == "exchange" && !l.source.starts_with("detected") {
            exchange.entry(id).or_insert_with(|| (l.entity_key(), if l.entity.is_empty() { l.label.clone() } else { l.entity.clone() }));
        }
    }
    let mut pending: HashMap<(u32, u32), Pending> = HashMap::new();
    let mut cands: HashMap<u32, Candidate> = HashMap::new();
    let mut sweeps = 0u64;
    let mut runs = ev.cursor();
    let mut parties = ev.party_cursor();
    for i in 0..ev.len() {
        if ev.flags(i) & (flags::MOVES_NOTHING | flags::FEE) != 0 {
            continue;
        }
        let v = match ev.value.get(i) {
            u128::MAX => store.value(i).to_u128().unwrap_or(u128::MAX),
            v => v,
        };
        let ((from, to), asset) = (parties.at(i), ev.asset(i));
        if v == 0 || from == to {
            continue;
        }
        let block = match runs.at(i).block {
            NO_BLOCK => 0,
            b => b,
        };
        if !labelled.contains(&from) {
            let pend = pending.remove(&(from, asset)).unwrap_or_default();
            // Saturating: a tolerance past what any amount can hold allows all.
            let allowed = (pend.received / 10_000).saturating_mul(u128::from(p.tolerance_bps)).saturating_add(p.dust);
            let swept = pend.received > 0
                && v <= pend.received
                && pend.received - v <= allowed
                && block.saturating_sub(pend.since) <= p.max_blocks
                && exchange.contains_key(&to);
            let c = cands.entry(from).or_default();
            if swept {
                sweeps += 1;
                let ent = &exchange[&to];
                match &c.entity {
                    None => {
                        c.entity = Some(ent.clone());
                        c.first_sweep_tx = ev.tx(i);
                    }
                    Some(e) if e.0 != ent.0 => c.conflicting = true,
                    Some(_) => {}
                }
                c.sweeps += 1;
                c.swept = c.swept.saturating_add(v);
            } else {
                c.elsewhere = c.elsewhere.saturating_add(v);
                // What is left still waits for a sweep.
                if pend.received > v {
                    pending.insert((from, asset), Pending { received: pend.received - v, since: pend.since });
                }
            }
        }
        if !labelled.contains(&to) {
            let e = pending.entry((to, asset)).or_insert(Pending { received: 0, since: block });
            if e.received == 0 {
                e.since = block;
            }
            e.received = e.received.saturating_add(v);
        }
    }
    let mut out = Found { labels: Vec::new(), sweeps, rejected: 0 };
    let mut ids: Vec<u32> = cands.iter().filter(|(_, c)| c.sweeps > 0).map(|(&id, _)| id).collect();
    ids.sort_unstable();
    for id in ids {
        let c = &cands[&id];
        let total = c.swept.saturating_add(c.elsewhere);
        let share_ok = U256::from(c.swept) * U256::from(10_000u32) >= U256::from(total) * U256::from(p.min_share_bps);
        if c.conflicting || !share_ok {
            out.rejected += 1;
            continue;
        }
        let Some((_, entity)) = &c.entity else { continue };
        // One sweep is evidence; repeated sweeps to the same exchange make it
        // near certain. A little outflow elsewhere costs some confidence.
        let mut confidence = 60 + 10 * c.sweeps.min(4).saturating_sub(1);
        if c.elsewhere > 0 {
            confidence -= 10;
        }
        out.labels.push(Label {
            address: store.address_text(id),
            category: "exchange".into(),
            label: format!("{entity} deposit address"),
            entity: entity.clone(),
            source: "detected:deposit".into(),
            confidence: confidence as u8,
            evidence: if c.first_sweep_tx == NO_TX { String::new() } else { store.tx_text(c.first_sweep_tx) },
            source_category: format!("sweeps={}", c.sweeps),
            ..Label::default()
        });
    }
    out
}
