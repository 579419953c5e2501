//! Several stores in one trace (TRACING.md §7, ADR 0013): one chain a
//! store, joined by bridge conversions.
//!
//! Chains share nothing but bridges, and a payout is always later than
//! its deposit, so each store is swept by its own engine in its own order
//! (the account-model `--follow` sweep, or the UTXO sweep) and the sweeps
//! are stepped: payouts are taken in the order of all chains' events
//! (block time, then chain name, then each store's own order); before the
//! sweep of a payout's store reaches it, the deposit's store is swept past
//! the deposit and hands over what left with it. Every event is handled
//! once, in its own store's order, so the outcome is that of one sweep over
//! the merged events.

use super::bridges::{Bridged, Status, match_all, positions};
use super::follow::{BridgePlan, BridgeRef, Carried, DepositPlan, Follow, Followed, PayoutPlan, Prep, Stepped, prepare, sparse_ledger};
use super::ledger::Ledger;
use super::num::{Num, Overflow};
use super::types::{Spec, TraceError, Wide};
use super::utxo::{Finished, Utxo, UtxoDeposit, UtxoPayout};
use crate::model::{Chain, NO_BLOCK, NO_TIME};
use crate::store::Store;
use std::collections::HashMap;

/// One store's part of the trace.
#[derive(Clone, Debug)]
// One a store of a trace: their sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum ChainOutcome {
    /// An account-model store: every asset, as `--follow` traces them.
    Account(Followed),
    /// A Bitcoin store: the §3 outcome and its bridges.
    Utxo(Finished),
}

/// What a trace over several stores found.
#[derive(Clone, Debug)]
pub struct Multi {
    /// Every bridge deposit found, followed or not.
    pub bridges: Vec<Bridged>,
    /// Per store, in the order given.
    pub chains: Vec<ChainOutcome>,
    /// Per bridge: what left its deposit, where it was followed.
    pub carried: Vec<Option<Carried>>,
}

/// One store's question: its seeds resolved in it.
pub struct Part<'a> {
    /// The store.
    pub store: &'a Store,
    /// The question, with this store's seed ids.
    pub spec: Spec,
    /// `--asset` in this store, where it names one of its assets.
    pub seed_asset: Option<u32>,
    /// Bitcoin: seed outputs.
    pub outpoints: Vec<(u32, u32)>,
}

/// Trace `parts` together, following what `follow` names.
pub fn run_multi(parts: &[Part<'_>], follow: &[Follow]) -> Result<Multi, TraceError> {
    crate::sys::timing("multi: start");
    let stores: Vec<&Store> = parts.iter().map(|p| p.store).collect();
    // Heuristic links are matched only when asked for: otherwise their
    // deposits are ordinary transfers, and the trace is as without them.
    let heuristic = follow.contains(&Follow::BridgesHeuristic);
    let bridges = if Follow::bridges(follow) { match_all(&stores, heuristic) } else { Vec::new() };
    crate::sys::timing("multi: match the bridges");
    let mut plans: Vec<BridgePlan> =
        stores.iter().map(|_| BridgePlan { swaps: follow.contains(&Follow::Swaps), ..Default::default() }).collect();
    let mut utxo_payouts: Vec<HashMap<u32, UtxoPayout>> = stores.iter().map(|_| HashMap::new()).collect();
    let mut utxo_deposits: Vec<HashMap<u32, UtxoDeposit>> = stores.iter().map(|_| HashMap::new()).collect();
    for (k, b) in bridges.iter().enumerate() {
        let followed = b.status == Status::Followable;
        if let Some(event) = b.output {
            utxo_deposits[b.store].insert(b.tx, UtxoDeposit { k, event, followed, bridge: b.bridge, status: b.status.as_str() });
        } else {
            plans[b.store].deposits.insert(
                b.tx,
                DepositPlan {
                    k,
                    bridge: b.bridge,
                    payer: b.payer,
                    asset: b.asset,
                    a: b.value,
                    holder: b.holder,
                    followed,
                    status: b.status.as_str(),
                },
            );
        }
        let Some(p) = b.payout.as_ref().filter(|_| followed) else { continue };
        if stores[p.store].manifest.chain == Chain::Bitcoin {
            utxo_payouts[p.store].insert(p.tx, UtxoPayout { k, event: p.event, a: b.value });
        } else {
            plans[p.store].payouts.insert(
                p.tx,
                PayoutPlan {
                    k,
                    payee: p.payee,
                    asset: p.asset,
                    a: b.value,
                    b: p.value,
                    event: p.event,
                    from: bridge_ref(stores[b.store], b),
                },
            );
        }
    }
    // Each store's ledger where its question may use one (ADR 0012).
    let swaps = follow.contains(&Follow::Swaps);
    let ledgers: Vec<Option<Ledger>> =
        parts.iter().map(|p| if p.store.manifest.chain.is_account() { sparse_ledger(p.store, &p.spec, swaps) } else { None }).collect();
    // The Bitcoin sweep's stop rules (an account-model store's are its Prep's).
    let mut rules = Vec::new();
    for p in parts {
        rules.push(match p.store.manifest.chain {
            Chain::Bitcoin => super::rules::stop_rules(p.store, &p.spec.stop_at, &|a| p.spec.unit(a))?,
            _ => Default::default(),
        });
    }
    // Followed payouts in the order of all chains' events.
    let mut order: Vec<(super::bridges::Position, usize, usize)> = Vec::new();
    for (k, b) in bridges.iter().enumerate() {
        if let Some(p) = b.payout.as_ref().filter(|_| b.status == Status::Followable) {
            order.push((positions(stores[p.store], &[p.events[0]])[0], p.store, k));
        }
    }
    order.sort_unstable();
    crate::sys::timing("multi: stop rules and the order of payouts");
    // The sparse sweeps where ledgers allow; the full ones if a sparse
    // sweep finds it needs them after all.
    for sparse in [true, false] {
        if sparse && ledgers.iter().all(Option::is_none) {
            continue;
        }
        let preps: Vec<Option<Prep>> = parts
            .iter()
            .zip(&plans)
            .zip(&ledgers)
            .map(|((p, plan), led)| match p.store.manifest.chain {
                Chain::Bitcoin => Ok(None),
                _ => prepare(p.store, &p.spec, p.seed_asset, plan.clone(), sparse && led.is_some()).map(Some),
            })
            .collect::<Result<_, _>>()?;
        crate::sys::timing("multi: prepare each store");
        let none: Vec<Option<Ledger>> = parts.iter().map(|_| None).collect();
        let ledgers = if sparse { &ledgers } else { &none };
        let ctx = Ctx {
            parts,
            preps: &preps,
            ledgers,
            rules: &rules,
            bridges: &bridges,
            order: &order,
            utxo_payouts: &utxo_payouts,
            utxo_deposits: &utxo_deposits,
        };
        match ctx.sweep::<u128>() {
            Ok(m) => return Ok(m),
            Err(Overflow) => {
                // A spent budget stops a sweep as an overflow does.
                let halted = || parts.iter().find_map(|p| p.spec.budget.halted());
                if let Some(h) = halted() {
                    return Err(TraceError::Halted(h));
                }
                if sparse {
                    continue;
                }
                return ctx.sweep::<Wide>().map_err(|_| TraceError::halted_or_overflow(halted()));
            }
        }
    }
    unreachable!("the full sweeps always answer")
}

/// The deposit side of bridge `b` as reports name it.
fn bridge_ref(s: &Store, b: &Bridged) -> BridgeRef {
    let ev = s.events();
    let i = b.events[0];
    BridgeRef {
        bridge: b.bridge,
        exact: b.exact,
        score_ppm: b.score_ppm,
        chain: s.manifest.chain.name(),
        tx: s.tx_text(b.tx),
        payer: s.address_text(b.payer),
        asset_in: format!("{}:{}", s.manifest.chain.name(), s.manifest.assets[b.asset as usize]),
        holder: s.address_text(b.holder),
        block: (ev.block(i) != NO_BLOCK).then(|| ev.block(i)),
        time: (ev.time(i) != NO_TIME).then(|| crate::model::time::format_time(ev.time(i))),
    }
}

struct Ctx<'a> {
    parts: &'a [Part<'a>],
    preps: &'a [Option<Prep>],
    /// Per store, the ledger its sparse sweep reads (none: the full sweep).
    ledgers: &'a [Option<Ledger>],
    rules: &'a [super::rules::Rules],
    bridges: &'a [Bridged],
    order: &'a [(super::bridges::Position, usize, usize)],
    utxo_payouts: &'a [HashMap<u32, UtxoPayout>],
    utxo_deposits: &'a [HashMap<u32, UtxoDeposit>],
}

enum Runner<'a, N: Num> {
    Account(Box<Stepped<'a, N>>),
    Utxo(Box<Utxo<'a>>),
}

impl<N: Num> Runner<'_, N> {
    fn run_to(&mut self, end: usize) -> Result<(), Overflow> {
        match self {
            Runner::Account(s) => s.run_to(end),
            Runner::Utxo(u) => {
                u.run_to(end);
                Ok(())
            }
        }
    }

    fn give(&mut self, k: usize, c: Carried) {
        match self {
            Runner::Account(s) => s.give(k, c),
            Runner::Utxo(u) => u.give(k, c),
        }
    }

    fn take_sent(&mut self) -> Vec<(usize, Carried)> {
        match self {
            Runner::Account(s) => s.take_sent(),
            Runner::Utxo(u) => u.take_sent(),
        }
    }
}

impl Ctx<'_> {
    fn sweep<N: Num>(&self) -> Result<Multi, Overflow> {
        let mut runners: Vec<Runner<'_, N>> = Vec::new();
        for (j, (p, prep)) in self.parts.iter().zip(self.preps).enumerate() {
            runners.push(match (prep, &self.ledgers[j]) {
                (Some(prep), led) => Runner::Account(Box::new(Stepped::new(p.store, &p.spec, prep, led.as_ref())?)),
                (None, _) => Runner::Utxo(Box::new(Utxo::new(
                    p.store,
                    &p.spec,
                    &self.rules[j],
                    &p.outpoints,
                    self.utxo_payouts[j].clone(),
                    self.utxo_deposits[j].clone(),
                ))),
            });
        }
        let mut carried: Vec<Option<Carried>> = vec![None; self.bridges.len()];
        for &(_, pay_store, k) in self.order {
            let b = &self.bridges[k];
            runners[b.store].run_to(b.events[0] + 1)?;
            for (d, c) in runners[b.store].take_sent() {
                if let Some(p) = &self.bridges[d].payout {
                    runners[p.store].give(d, c.clone());
                }
                carried[d] = Some(c);
            }
            let p = b.payout.as_ref().expect("followed bridges have a payout");
            runners[pay_store].run_to(p.events[0])?;
        }
        crate::sys::timing("multi: sweeps stepped through the payouts");
        let mut chains = Vec::new();
        for r in runners {
            chains.push(match r {
                Runner::Account(s) => ChainOutcome::Account((*s).finish()?),
                Runner::Utxo(u) => ChainOutcome::Utxo(u.finish()),
            });
        }
        crate::sys::timing("multi: sweeps finished");
        Ok(Multi { bridges: self.bridges.to_vec(), chains, carried })
    }
}
