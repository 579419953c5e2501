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

use super::{CategorySet, ScreenError};
use crate::labels::{Label, taxonomy, within};
use crate::model::{NO_TIME, flags};
use crate::store::Store;
use crate::trace::IdMap;
use ruint::aliases::U256;

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
}

/// A pool of taint one address holds in one category.
#[derive(Clone, Copy, Debug)]
struct Pool {
    taint: u128,
    hop: u32,
}

const SEED_RULE: u8 = 1;
const ABSORB_RULE: u8 = 2;

fn too_large(what: &str) -> ScreenError {
    ScreenError::TooLarge(format!("{what} does not fit 128 bits; the exposure index keeps amounts below 2^128"))
}

/// Run the sweep over `asset` for the categories in `cats`.
pub fn sweep(store: &Store, asset: u32, cats: &CategorySet, labels: &[Label]) -> Result<Exposures, ScreenError> {
    if !store.manifest.chain.is_account() {
        return Err(ScreenError::Usage(
            "screening is implemented for the account model (Ethereum and tokens); on Bitcoin use `trace`".into(),
        ));
    }
    let n_addr = store.address_count();
    let ev = store.events();
    let bal = store.sender_balances();
    let k_n = cats.names.len();
    if k_n > 16 {
        return Err(ScreenError::Usage(format!("at most 16 risk categories, {k_n} given")));
    }
    // Rules from labels: seeds of each risk category, absorbing services.
    let ids = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let mut flag = vec![0u8; n_addr];
    let mut seeds: IdMap<Vec<Rule<u16>>> = IdMap::default();
    // Service labels: (service name, from, to).
    let mut services: IdMap<Vec<Rule<&str>>> = IdMap::default();
    let has_times = ev.any_time();
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
        if taxonomy::category(&l.category).is_some_and(|c| c.service) {
            services.entry(id).or_default().push((taxonomy::category(&l.category).expect("known").name, l.valid_from, l.valid_to));
            flag[id as usize] |= ABSORB_RULE;
        }
    }
    let zero = store.find_address("0x0000000000000000000000000000000000000000");
    if let Some(z) = zero {
        flag[z as usize] |= ABSORB_RULE;
    }
    let seed_mask = |id: u32, t: Option<i64>| -> u16 {
        seeds.get(&id).map_or(0, |v| v.iter().filter(|r| within(r.1, r.2, t)).fold(0u16, |m, r| m | (1 << r.0)))
    };
    // Categories in whose sweep `id` absorbs at `t`: any service label other
    // than the category itself; the zero address in all.
    let absorb_mask = |id: u32, t: Option<i64>| -> u16 {
        if Some(id) == zero {
            return u16::MAX;
        }
        let mut m = 0u16;
        if let Some(v) = services.get(&id) {
            for &(name, from, to) in v {
                if within(from, to, t) {
                    m |= (0..k_n).filter(|&k| cats.names[k] != name).fold(0u16, |m, k| m | (1 << k));
                }
            }
        }
        m
    };
    // Taint pools, keyed by (address, category); `held` says which exist.
    let mut held = vec![0u16; n_addr];
    let mut pools: std::collections::HashMap<(u32, u16), Pool, std::hash::BuildHasherDefault<crate::trace::IdHasher>> = Default::default();
    // Balances of seed-labelled addresses, kept exactly (their every event is
    // visited): a seed's holdings all turn tainted when its label applies.
    let mut seed_bal: IdMap<u128> = IdMap::default();
    let mut received = vec![0u128; n_addr];
    let mut exposures: IdMap<Vec<Exposure>> = IdMap::default();
    let value_of = |i: usize| -> Result<u128, ScreenError> {
        match ev.value.get(i) {
            u128::MAX => store.value(i).to_u128().filter(|&v| v != u128::MAX).ok_or_else(|| too_large(&format!("the value of event {i}"))),
            v => Ok(v),
        }
    };
    let mut xs = [0u128; 16];
    let mut hops = [0u32; 16];
    // Many columns are read at the same row: an index loop is the clear form.
    let mut runs = ev.cursor();
    let mut parties = ev.party_cursor();
    #[allow(clippy::needless_range_loop)]
    for i in 0..store.len() {
        if ev.asset(i) != asset || ev.flags(i) & flags::MOVES_NOTHING != 0 {
            continue;
        }
        let (u, v) = parties.at(i);
        if u != v && ev.value.get(i) != 0 {
            let a = value_of(i)?;
            received[v as usize] = received[v as usize].checked_add(a).ok_or_else(|| too_large("an address's received sum"))?;
        }
        let fu = flag[u as usize];
        let fv = flag[v as usize];
        if held[u as usize] == 0 && (fu | fv) & SEED_RULE == 0 {
            continue;
        }
        let a = value_of(i)?;
        if a == 0 {
            continue;
        }
        let t = Some(runs.at(i).time).filter(|&t| t != NO_TIME);
        let b = match bal.get(i) {
            u128::MAX => store.wide_balance(i),
            b => b,
        };
        if b == u128::MAX {
            return Err(too_large(&format!("the sender's balance before event {i}")));
        }
        // The shortfall rule: what the sender lacks is credited first.
        let b1 = b.max(a);
        if fu & SEED_RULE != 0 {
            seed_bal.insert(u, if u == v { b1 } else { b1 - a });
        }
        if u == v {
            continue;
        }
        // What leaves u in each category.
        let seeding = if fu & SEED_RULE != 0 { seed_mask(u, t) } else { 0 };
        let mut moving = 0u16;
        for k in 0..k_n {
            let bit = 1u16 << k;
            if seeding & bit != 0 {
                xs[k] = a;
                hops[k] = 1;
                moving |= bit;
                let rest = b1 - a;
                let p = pools.entry((u, k as u16)).or_insert(Pool { taint: 0, hop: 0 });
                p.taint = rest;
                p.hop = 0;
                if rest > 0 { held[u as usize] |= bit } else { held[u as usize] &= !bit }
            } else if held[u as usize] & bit != 0 {
                let p = pools.get_mut(&(u, k as u16)).expect("held pool");
                let x = if p.taint == b1 { a } else { (U256::from(a) * U256::from(p.taint) / U256::from(b1)).to::<u128>() };
                p.taint -= x;
                if p.taint == 0 {
                    held[u as usize] &= !bit;
                }
                if x > 0 {
                    xs[k] = x;
                    hops[k] = p.hop.saturating_add(1);
                    moving |= bit;
                }
            }
        }
        if fv & SEED_RULE != 0 {
            *seed_bal.entry(v).or_insert(0) += a;
        }
        let v_seeding = if fv & SEED_RULE != 0 { seed_mask(v, t) } else { 0 };
        let v_absorbing = if fv & ABSORB_RULE != 0 { absorb_mask(v, t) } else { 0 };
        for k in 0..k_n {
            let bit = 1u16 << k;
            if moving & bit != 0 {
                let x = xs[k];
                let e = exposures.entry(v).or_default();
                let slot = match e.iter().position(|x| x.category == k as u16) {
                    Some(p) => p,
                    None => {
                        e.push(Exposure { category: k as u16, amount: 0, direct: 0, hops: u32::MAX, first_in: i as u64 });
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
                let p = pools.entry((v, k as u16)).or_insert(Pool { taint: 0, hop: 0 });
                p.taint = seed_bal[&v];
                p.hop = 0;
                held[v as usize] |= bit;
            } else if moving & bit != 0 && v_absorbing & bit == 0 {
                let p = pools.entry((v, k as u16)).or_insert(Pool { taint: 0, hop: u32::MAX });
                p.taint += xs[k];
                p.hop = p.hop.min(hops[k]);
                held[v as usize] |= bit;
            }
        }
    }
    let mut by_address: Vec<Vec<Exposure>> = vec![Vec::new(); n_addr];
    for (id, mut e) in exposures {
        e.sort_by_key(|x| x.category);
        by_address[id as usize] = e;
    }
    Ok(Exposures { received, by_address, seeds })
}
