//! Hand-computed cases of `trace --follow swaps` (TRACING.md §7, with §2 for
//! everything outside a followed swap), one rule each, under poison, haircut
//! and FIFO. Every expected number is worked out in the comments from the
//! spec and the readings in src/trace/follow.rs, never copied from a run:
//!
//! - every asset at once, state per (asset, address); WETH is ETH and ETH
//!   to or from the WETH contract moves nothing;
//! - a followed swap: the payer's `A` legs leave as one outflow of `a`
//!   carrying `x` by the policy; the payee gets `b` of `B` carrying `y`
//!   (poison `b` if `x > 0`, haircut `floor(x * b / a)`, FIFO lots mapped by
//!   `floor(c_i * b / a) - floor(c_{i-1} * b / a)`); every other leg moves
//!   balance only; the payee's hop is the payer's plus one; stops and the
//!   horizon apply to the payee only;
//! - ambiguous conversions, and followable ones a seed takes part in other
//!   than as payer or payee, are traced as ordinary events and listed;
//! - per asset: `seeded + converted_in == destinations + dormant +
//!   held_by_seeds + horizon + fees + converted_out` (haircut, FIFO).

mod common;

use chaintrace::convert::topics::{RECOGNISED, WETH};
use chaintrace::store::Store;
use chaintrace::trace::follow::{Arrival, Followed};
use chaintrace::trace::{self, Policy, Spec, Wide};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const ETH: &str = "ETH";
/// The seed.
const S: &str = "0x5eed000000000000000000000000000000000001";
/// Clean funders.
const C: &str = "0xc1ea000000000000000000000000000000000002";
const C2: &str = "0xc1ea000000000000000000000000000000000003";
/// Takers and later receivers.
const U: &str = "0xaaaa000000000000000000000000000000000004";
const R: &str = "0xbbbb000000000000000000000000000000000005";
const V: &str = "0xcccc000000000000000000000000000000000006";
const Q: &str = "0xdddd000000000000000000000000000000000007";
const D: &str = "0xeeee000000000000000000000000000000000008";
/// Labelled `exchange` where a case asks for a stop.
const X: &str = "0xe8c0000000000000000000000000000000000009";
/// Venues and a router.
const P1: &str = "0x9001000000000000000000000000000000000010";
const P2: &str = "0x9002000000000000000000000000000000000011";
const RT: &str = "0x7007000000000000000000000000000000000012";
/// Tokens.
const TA: &str = "0x0000000000000000000000000000000000aaaa01";
const TB: &str = "0x0000000000000000000000000000000000aaaa02";
const TC: &str = "0x0000000000000000000000000000000000aaaa03";

const POLICIES: [Policy; 3] = [Policy::Poison, Policy::Haircut, Policy::Fifo];

fn weth() -> String {
    format!("0x{}", hex::encode(WETH))
}

/// One value event: `asset` is `ETH`, a token, or WETH (by its contract).
struct Ev {
    from: String,
    to: String,
    asset: String,
    value: u128,
}

fn ev(from: &str, to: &str, asset: &str, value: u128) -> Ev {
    Ev { from: from.into(), to: to.into(), asset: asset.into(), value }
}

/// One transaction: its events in order and the addresses that emitted a
/// Uniswap V2 `Swap` log in it.
struct Tx {
    events: Vec<Ev>,
    venues: Vec<&'static str>,
}

fn swap(events: Vec<Ev>, venues: &[&'static str]) -> Tx {
    Tx { events, venues: venues.to_vec() }
}

/// A transaction of one plain transfer.
fn plain(from: &str, to: &str, asset: &str, value: u128) -> Tx {
    Tx { events: vec![ev(from, to, asset, value)], venues: vec![] }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    /// Transaction id to its position in the case's list.
    tx_number: HashMap<u32, usize>,
}

/// What a case expects of one asset, besides its rows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    seeded: u128,
    unknown_origin: u128,
    held_by_seeds: u128,
    fees: u128,
    converted_in: u128,
    converted_out: u128,
    rounding: i128,
}

/// A followed conversion as the test reads it (amounts and names).
#[derive(Debug, PartialEq, Eq)]
struct Cx {
    tx: usize,
    payer: String,
    payee: String,
    sold: String,
    a: u128,
    x: u128,
    bought: String,
    b: u128,
    y: u128,
    hop: u32,
}

/// `Cx` from (tx, (payer, payee), (A, a, x), (B, b, y), hop).
fn cx(tx: usize, who: (&str, &str), sold: (&str, u128, u128), bought: (&str, u128, u128), hop: u32) -> Cx {
    Cx {
        tx,
        payer: who.0.into(),
        payee: who.1.into(),
        sold: sold.0.into(),
        a: sold.1,
        x: sold.2,
        bought: bought.0.into(),
        b: bought.1,
        y: bought.2,
        hop,
    }
}

type Rows = BTreeMap<String, (u128, u32)>;

/// Rows `(address, amount, hops)`.
fn rows(r: &[(&str, u128, u32)]) -> Rows {
    r.iter().map(|&(a, v, h)| (a.to_string(), (v, h))).collect()
}

fn n(w: &Wide) -> u128 {
    w.to::<u128>()
}

impl World {
    /// A store of `txs`, one per block (a transfers CSV with hashes and
    /// assets, then the swap logs as a blockchain-etl logs CSV), with
    /// `stops` labelled `exchange`.
    fn new(txs: &[Tx], stops: &[&str]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut s = String::from("block_number,transaction_hash,transaction_index,log_index,from_address,to_address,value,asset\n");
        let mut l = String::from("log_index,transaction_hash,transaction_index,address,data,topics,block_number\n");
        let topic = format!("0x{}", hex::encode(RECOGNISED[0].topic));
        for (k, tx) in txs.iter().enumerate() {
            let hash = format!("0x{:064x}", k + 1);
            for (j, e) in tx.events.iter().enumerate() {
                let asset = if e.asset == ETH { String::new() } else { e.asset.clone() };
                s += &format!("{},{hash},0,{j},{},{},{},{asset}\n", 1000 + k, e.from, e.to, e.value);
            }
            for (j, v) in tx.venues.iter().enumerate() {
                l += &format!("{},{hash},0,{v},0x,{topic},{}\n", 100 + j, 1000 + k);
            }
        }
        let store = common::swap_store(dir.path(), &s, &l, &stops.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        let by_hash: HashMap<String, usize> = (0..txs.len()).map(|k| (format!("0x{:064x}", k + 1), k)).collect();
        let ev = store.events();
        let tx_number = (0..store.len()).map(|i| ev.tx(i)).map(|t| (t, by_hash[&store.tx_text(t)])).collect();
        World { _dir: dir, store, tx_number }
    }

    fn id(&self, a: &str) -> u32 {
        self.store.find_address(a).unwrap_or_else(|| panic!("{a} not in the store"))
    }

    /// The asset id of `ETH` or a token (as stored; WETH has its own id).
    fn asset(&self, a: &str) -> u32 {
        self.store.manifest.assets.iter().position(|x| x.eq_ignore_ascii_case(a)).map(|k| k as u32).unwrap_or_else(|| {
            assert_eq!(a, ETH, "{a} not in the store");
            0
        })
    }

    fn asset_name(&self, id: u32) -> String {
        if id == 0 { ETH.into() } else { self.store.manifest.assets[id as usize].clone() }
    }

    fn tx(&self, k: usize) -> u32 {
        *self.tx_number.iter().find(|&(_, &v)| v == k).expect("a transaction of the case").0
    }

    /// `--follow swaps` under `policy`, `--stop-at exchange`, seed addresses
    /// `seeds`, seed transactions by position `seed_txs`.
    fn run_with(&self, policy: Policy, seeds: &[&str], seed_txs: &[usize], max_hops: Option<u32>) -> Followed {
        let spec = Spec {
            policy,
            asset: 0,
            seeds: seeds.iter().map(|s| self.id(s)).collect(),
            seed_txs: seed_txs.iter().map(|&k| self.tx(k)).collect(),
            stop_at: vec!["exchange".into()],
            max_hops,
            from_block: None,
            to_block: None,
            evidence: true,
            engine: None,
            clusters: None,
            budget: Default::default(),
        };
        let out = trace::run_follow(&self.store, &spec, None).unwrap();
        if policy != Policy::Poison {
            self.conserves(&out, policy);
        }
        out
    }

    fn run(&self, policy: Policy, seeds: &[&str]) -> Followed {
        self.run_with(policy, seeds, &[], None)
    }

    /// §7's conservation, per asset, for every asset the trace touched.
    fn conserves(&self, out: &Followed, policy: Policy) {
        let assets: BTreeSet<u32> = out.by_asset.keys().chain(out.converted_in.keys()).chain(out.converted_out.keys()).copied().collect();
        for a in assets {
            let (l, r) = out.balance(a);
            assert_eq!(l, r, "{policy:?}: {} does not balance", self.asset_name(a));
        }
    }

    fn list(&self, out: &Followed, asset: &str, pick: impl Fn(&trace::Outcome) -> Rows) -> Rows {
        out.by_asset.get(&self.traced(asset)).map(pick).unwrap_or_default()
    }

    /// The id an asset is traced as: WETH is ETH.
    fn traced(&self, asset: &str) -> u32 {
        if asset.eq_ignore_ascii_case(&weth()) { 0 } else { self.asset(asset) }
    }

    fn dormant(&self, out: &Followed, asset: &str) -> Rows {
        self.list(out, asset, |o| o.dormant.iter().map(|(&a, d)| (self.store.address_text(a), (n(&d.0), d.1))).collect())
    }

    fn destinations(&self, out: &Followed, asset: &str) -> Rows {
        self.list(out, asset, |o| o.destinations.iter().map(|(&a, d)| (self.store.address_text(a), (n(&d.amount), d.hops))).collect())
    }

    fn horizon(&self, out: &Followed, asset: &str) -> Rows {
        self.list(out, asset, |o| o.horizon.iter().map(|(&a, d)| (self.store.address_text(a), (n(&d.0), d.1))).collect())
    }

    fn figures(&self, out: &Followed, asset: &str) -> Figures {
        let a = self.traced(asset);
        let o = out.by_asset.get(&a).cloned().unwrap_or_default();
        let get = |m: &BTreeMap<u32, Wide>| m.get(&a).map_or(0, n);
        Figures {
            seeded: n(&o.seeded),
            unknown_origin: n(&o.unknown_origin),
            held_by_seeds: n(&o.held_by_seeds),
            fees: n(&o.fees),
            converted_in: get(&out.converted_in),
            converted_out: get(&out.converted_out),
            rounding: out.rounding.get(&a).map_or(0, |r| r.to_string().parse().expect("a small rounding sum")),
        }
    }

    fn crossed(&self, out: &Followed) -> Vec<Cx> {
        out.crossed
            .iter()
            .map(|c| Cx {
                tx: self.tx_number[&c.tx],
                payer: self.store.address_text(c.payer),
                payee: self.store.address_text(c.payee),
                sold: self.asset_name(c.asset_in),
                a: c.value_in.to::<u128>(),
                x: c.taint_in.to::<u128>(),
                bought: self.asset_name(c.asset_out),
                b: c.value_out.to::<u128>(),
                y: c.taint_out.to::<u128>(),
                hop: c.hop,
            })
            .collect()
    }

    /// The unfollowed conversions: (tx, reason, venues, taint into the venues by asset name).
    #[allow(clippy::type_complexity)]
    fn unfollowed(&self, out: &Followed) -> Vec<(usize, &'static str, Vec<String>, BTreeMap<String, u128>)> {
        out.unfollowed
            .iter()
            .map(|u| {
                (
                    self.tx_number[&u.tx],
                    u.reason,
                    u.venues.iter().map(|&v| self.store.address_text(v)).collect(),
                    u.taint.iter().map(|(&a, w)| (self.asset_name(a), n(w))).collect(),
                )
            })
            .collect()
    }

    /// The arrivals as (tx, asset, x, hop) for events, or the crossed index.
    fn arrivals(&self, out: &Followed) -> Vec<Result<(usize, String, u128, u32), usize>> {
        let ev = self.store.events();
        out.arrivals
            .iter()
            .map(|a| match *a {
                Arrival::Event { event, asset, x, hop } => {
                    Ok((self.tx_number[&ev.tx(event as usize)], self.asset_name(asset), x.to::<u128>(), hop))
                }
                Arrival::Crossed(k) => Err(k),
            })
            .collect()
    }
}

fn taint(r: &[(&str, u128)]) -> BTreeMap<String, u128> {
    r.iter().map(|&(a, v)| (a.to_string(), v)).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Wrapping (ETH to the WETH contract), a WETH transfer and unwrapping (ETH
/// from the WETH contract): WETH is ETH and the legs with the contract move
/// nothing, so the contract never holds taint and the payer's ETH queue is
/// the one the WETH transfer spends from.
#[test]
fn wrap_weth_transfer_unwrap_change_nothing() {
    let w = World::new(
        &[
            plain(S, U, ETH, 100),      // 0: U gets 100 tainted ETH, hop 1
            plain(C, U, ETH, 100),      // 1: then 100 clean
            plain(U, &weth(), ETH, 80), // 2: wrap: dropped
            plain(U, V, &weth(), 50),   // 3: 50 WETH = 50 ETH from U's ETH
            plain(&weth(), V, ETH, 50), // 4: unwrap: dropped
            plain(V, D, ETH, 50),       // 5
        ],
        &[],
    );
    let weth_id = w.asset(&weth());
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        assert!(!out.by_asset.contains_key(&weth_id), "{policy:?}: WETH is traced as ETH, never as an asset of its own");
        // S's shortfall of 100 is the only taint created, in ETH.
        assert_eq!(w.figures(&out, ETH), Figures { seeded: 100, unknown_origin: 100, ..Default::default() }, "{policy:?}");
        let want = match policy {
            // Haircut: U holds b 200, t 100 (the wrap moved nothing): tx 3
            // carries floor(50 * 100 / 200) = 25 to V (hop 2); V sends all its
            // 50 with t 25: floor(50 * 25 / 50) = 25 to D (hop 3). U keeps 75.
            Policy::Haircut => rows(&[(U, 75, 1), (D, 25, 3)]),
            // FIFO: U's queue [100 T, 100 C]; the wrap takes nothing, so the
            // 50 WETH are the first 50 tainted units (had the wrap been an
            // event, it would have taken 80 tainted and left only 20 for V).
            // V sends its [50 T] on to D. U keeps [50 T, 100 C].
            Policy::Fifo => rows(&[(U, 50, 1), (D, 50, 3)]),
            // Poison: U (received 100 tainted), V and D poisoned; V's
            // balance is 0 at the end (the unwrap credited nothing), so only
            // U and D are dormant, with the values of their tainted arrivals.
            Policy::Poison => rows(&[(U, 100, 1), (D, 50, 3)]),
        };
        assert_eq!(w.dormant(&out, ETH), want, "{policy:?}");
        assert!(out.crossed.is_empty() && out.unfollowed.is_empty());
    }
}

/// A direct swap token -> ETH by a partially tainted payer, who holds a
/// clean lot and then a tainted lot and sells part of them.
#[test]
fn direct_swap_token_to_eth_partially_tainted_payer() {
    let w = World::new(
        &[
            plain(C, U, TA, 60), // 0: clean lot first
            plain(S, U, TA, 40), // 1: tainted lot, hop 1: U holds b 100, t 40
            // 2: U sells 80 TA for 500 ETH at P1.
            swap(vec![ev(U, P1, TA, 80), ev(P1, U, ETH, 500)], &[P1]),
            plain(U, Q, ETH, 400), // 3
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, u_ta, u_eth, q_eth) = match policy {
            // x = floor(80 * 40 / 100) = 32; y = floor(32 * 500 / 80) = 200
            // exactly. U keeps t 8 of TA; in ETH U holds b 500, t 200 and tx 3
            // carries floor(400 * 200 / 500) = 160 to Q, U keeps 40.
            Policy::Haircut => (32, 200, (8, 1), (40, 2), (160, 3)),
            // U's queue [60 C, 40 T]: the 80 units are [60 C, 20 T], x = 20.
            // Lots: floor(60 * 500 / 80) = 375 clean, then 500 - 375 = 125
            // tainted: y = 125, U's ETH queue [375 C, 125 T]. Tx 3 takes
            // [375 C, 25 T] to Q: 25; U keeps 100. U keeps [20 T] of TA.
            Policy::Fifo => (20, 125, (20, 1), (100, 2), (25, 3)),
            // U is poisoned in TA: x = 80, y = 500 (U poisoned in ETH at hop
            // 2), tx 3 carries 400. Dormant are the tainted arrivals' values:
            // U 40 in TA, U 500 in ETH, Q 400.
            Policy::Poison => (80, 500, (40, 1), (500, 2), (400, 3)),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, U), (TA, 80, x), (ETH, 500, y), 2)], "{policy:?}");
        // x * b == y * a in every policy here: 32*500 = 200*80, 20*500 = 125*80, 80*500 = 500*80.
        assert_eq!(out.crossed[0].rounding(), "0");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 40, unknown_origin: 40, converted_out: x, ..Default::default() });
        assert_eq!(w.figures(&out, ETH), Figures { converted_in: y, ..Default::default() });
        assert_eq!(w.dormant(&out, TA), rows(&[(U, u_ta.0, u_ta.1)]), "{policy:?}");
        assert_eq!(w.dormant(&out, ETH), rows(&[(U, u_eth.0, u_eth.1), (Q, q_eth.0, q_eth.1)]), "{policy:?}");
        // Evidence: the seed's event into U, the conversion (U's arrival in
        // ETH is the conversion, not an event), then U's event to Q.
        assert_eq!(w.arrivals(&out), vec![Ok((1, TA.to_string(), 40, 1)), Err(0), Ok((3, ETH.to_string(), q_eth.0, 3))], "{policy:?}");
    }
}

/// Multi-hop inside one transaction: payer -> pool1 (A), pool1 -> pool2 (C),
/// pool2 -> payee (B). Both pools are venues; the C leg moves balance only.
#[test]
fn multi_hop_through_two_pools() {
    let w = World::new(
        &[
            plain(S, U, TA, 30), // 0: [30 T]
            plain(C, U, TA, 70), // 1: [30 T, 70 C], b 100, t 30
            swap(vec![ev(U, P1, TA, 50), ev(P1, P2, TC, 999), ev(P2, U, TB, 200)], &[P1, P2]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, u_ta) = match policy {
            // x = floor(50 * 30 / 100) = 15, y = floor(15 * 200 / 50) = 60; U keeps t 15 of TA.
            Policy::Haircut => (15, 60, Some(15)),
            // The 50 units are [30 T, 20 C]: x = 30; lots floor(30 * 200 / 50)
            // = 120 tainted, then 200 - 120 = 80 clean: y = 120. U's TA left is
            // [50 C]: no taint.
            Policy::Fifo => (30, 120, None),
            // x = 50, y = 200; U (still holding 50 TA) is dormant in TA with 30.
            Policy::Poison => (50, 200, Some(30)),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, U), (TA, 50, x), (TB, 200, y), 2)], "{policy:?}");
        assert_eq!(out.crossed[0].venues, vec![w.id(P1), w.id(P2)]);
        assert_eq!(w.dormant(&out, TA), u_ta.map_or_else(Rows::new, |t| rows(&[(U, t, 1)])), "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(U, y, 2)]), "{policy:?}");
        // The pools took nothing: no taint in TC at all.
        assert!(w.dormant(&out, TC).is_empty());
        assert_eq!(w.figures(&out, TC), Figures::default());
        assert_eq!(w.figures(&out, TA), Figures { seeded: 30, unknown_origin: 30, converted_out: x, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, ..Default::default() });
    }
}

/// The output goes to another address (payee != payer); the payee's hop is
/// the payer's plus one, and the payer gets nothing in B.
#[test]
fn output_to_another_address() {
    let w = World::new(
        &[
            plain(S, U, TA, 10), // 0
            plain(C, U, TA, 20), // 1: [10 T, 20 C], b 30, t 10
            swap(vec![ev(U, P1, TA, 30), ev(P1, R, TB, 7)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, rounding, text) = match policy {
            // x = floor(30 * 10 / 30) = 10; y = floor(10 * 7 / 30) = 2; the
            // loss 10 * 7 - 2 * 30 = 10 over a = 30 is 1/3, rounded up to 1.
            Policy::Haircut => (10, 2, 1, "1/3"),
            // [10 T, 20 C]: lots floor(10 * 7 / 30) = 2 tainted, then 7 - 2 =
            // 5 clean: y = 2, the same loss.
            Policy::Fifo => (10, 2, 1, "1/3"),
            // x = 30, y = 7: 30 * 7 - 7 * 30 = 0.
            Policy::Poison => (30, 7, 0, "0"),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, R), (TA, 30, x), (TB, 7, y), 2)], "{policy:?}");
        assert_eq!(out.crossed[0].rounding(), text, "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(R, y, 2)]), "{policy:?}: R only, not U");
        // U spent all its TA: nothing dormant there (poison needs a balance).
        assert!(w.dormant(&out, TA).is_empty(), "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, unknown_origin: 10, converted_out: x, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, rounding, ..Default::default() });
    }
}

/// A router that nets to zero (payer -> router -> pool -> payer) is no
/// taker: it neither takes nor passes on taint, and the payee's arrival is
/// the conversion, at the payer's hop plus one.
#[test]
fn router_that_nets_to_zero() {
    let w = World::new(
        &[
            plain(C2, RT, TA, 50), // 0: the router holds 50 clean TA of its own
            plain(S, U, TA, 40),   // 1
            plain(C, U, TA, 60),   // 2: [40 T, 60 C], b 100, t 40
            swap(vec![ev(U, RT, TA, 50), ev(RT, P1, TA, 50), ev(P1, U, TB, 25)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, u_ta) = match policy {
            // x = floor(50 * 40 / 100) = 20, y = floor(20 * 25 / 50) = 10.
            // (Were RT's legs events, RT would keep floor(50 * 20 / 100) = 10.)
            Policy::Haircut => (20, 10, Some(20)),
            // [40 T, 10 C]: lots floor(40 * 25 / 50) = 20 tainted, 5 clean: y = 20.
            Policy::Fifo => (40, 20, None),
            // x = 50, y = 25; RT, holding 50 TA, is not poisoned.
            Policy::Poison => (50, 25, Some(40)),
        };
        assert_eq!(w.crossed(&out), vec![cx(3, (U, U), (TA, 50, x), (TB, 25, y), 2)], "{policy:?}");
        assert_eq!(w.dormant(&out, TA), u_ta.map_or_else(Rows::new, |t| rows(&[(U, t, 1)])), "{policy:?}: not RT, not P1");
        assert_eq!(w.dormant(&out, TB), rows(&[(U, y, 2)]), "{policy:?}");
        // Evidence: only the seed's event and the conversion; no arrival at RT or P1.
        assert_eq!(w.arrivals(&out), vec![Ok((1, TA.to_string(), 40, 1)), Err(0)], "{policy:?}");
        assert!(out.unfollowed.is_empty());
    }
}

/// A router that keeps a fee is a taker (up in A): three non-zero changes,
/// ambiguous. Its legs are traced as ordinary §2 events and it is listed in
/// `unfollowed` with the taint that arrived at its venue.
#[test]
fn router_keeping_a_fee_is_ambiguous() {
    let w = World::new(
        &[
            plain(S, U, TA, 40), // 0
            plain(C, U, TA, 60), // 1: [40 T, 60 C], b 100, t 40
            // U -50 TA, +20 TB; RT +5 TA: ambiguous.
            swap(vec![ev(U, RT, TA, 50), ev(RT, P1, TA, 45), ev(P1, U, TB, 20)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (into_venue, ta) = match policy {
            // U -> RT carries floor(50 * 40 / 100) = 20 (RT hop 2); RT -> P1
            // carries floor(45 * 20 / 50) = 18 (P1 hop 3); RT keeps 2, U 20.
            // P1 has no taint in TB: U gets none.
            Policy::Haircut => (18, rows(&[(U, 20, 1), (RT, 2, 2), (P1, 18, 3)])),
            // U sends [40 T, 10 C]; RT sends [40 T, 5 C] on and keeps [5 C];
            // U keeps [50 C].
            Policy::Fifo => (40, rows(&[(P1, 40, 3)])),
            // All poisoned in TA with balances left: U 40, RT 50, P1 45.
            Policy::Poison => (45, rows(&[(U, 40, 1), (RT, 50, 2), (P1, 45, 3)])),
        };
        assert!(out.crossed.is_empty(), "{policy:?}");
        assert_eq!(w.unfollowed(&out), vec![(2, "ambiguous", strings(&[P1]), taint(&[(TA, into_venue)]))], "{policy:?}");
        assert_eq!(w.dormant(&out, TA), ta, "{policy:?}");
        assert!(w.dormant(&out, TB).is_empty(), "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 40, unknown_origin: 40, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures::default());
    }
}

/// Two takers up in B: ambiguous, traced as ordinary events.
#[test]
fn two_takers_up_are_ambiguous() {
    let w = World::new(
        &[
            plain(S, U, TA, 100), // 0
            swap(vec![ev(U, P1, TA, 100), ev(P1, R, TB, 30), ev(P1, Q, TB, 20)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        // U's whole 100 is tainted in every policy: P1 gets 100 at hop 2 and
        // keeps it (it holds no taint in TB, so R and Q get none).
        assert!(out.crossed.is_empty(), "{policy:?}");
        assert_eq!(w.unfollowed(&out), vec![(1, "ambiguous", strings(&[P1]), taint(&[(TA, 100)]))], "{policy:?}");
        assert_eq!(w.dormant(&out, TA), rows(&[(P1, 100, 2)]), "{policy:?}");
        assert!(w.dormant(&out, TB).is_empty(), "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 100, unknown_origin: 100, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures::default());
    }
}

/// The payer is a seed: every unit it sends is tainted (x = a, its shortfall
/// seeded), and the payee's hop is 1.
#[test]
fn seed_as_payer() {
    let w = World::new(&[swap(vec![ev(S, P1, TA, 10), ev(P1, R, TB, 4)], &[P1])], &[]);
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        // x = a = 10 in every policy; y: poison b = 4, haircut floor(10 * 4 / 10) = 4,
        // FIFO one tainted lot of 10 -> 4 units.
        assert_eq!(w.crossed(&out), vec![cx(0, (S, R), (TA, 10, 10), (TB, 4, 4), 1)], "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(R, 4, 1)]), "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, unknown_origin: 10, converted_out: 10, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures { converted_in: 4, ..Default::default() });
        assert_eq!(w.arrivals(&out), vec![Err(0)]);
    }
}

/// A seed taking part as a venue: the followable swap is not followed
/// (reason "seed"): its legs are ordinary events, the seed a source in each.
#[test]
fn seed_as_venue_is_not_followed() {
    let w = World::new(&[swap(vec![ev(U, P1, TA, 10), ev(P1, U, TB, 5)], &[P1])], &[]);
    for policy in POLICIES {
        let out = w.run(policy, &[P1]);
        // U -> P1: U is clean (x = 0), so the seed's 10 TA are all new taint,
        // held by the seed. P1 -> U: the seed's shortfall of 5 TB is seeded
        // and all 5 reach U at hop 1. No taint arrived at the venue.
        assert!(out.crossed.is_empty(), "{policy:?}");
        assert_eq!(w.unfollowed(&out), vec![(0, "seed", strings(&[P1]), BTreeMap::new())], "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, held_by_seeds: 10, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { seeded: 5, unknown_origin: 5, ..Default::default() }, "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(U, 5, 1)]), "{policy:?}");
    }
}

/// A seed transaction is never followed: each of its events delivers its
/// whole value tainted at hop 0, venues included.
#[test]
fn seed_transaction_is_never_followed() {
    let w = World::new(&[swap(vec![ev(U, P1, TA, 10), ev(P1, U, TB, 5)], &[P1])], &[]);
    for policy in POLICIES {
        let out = w.run_with(policy, &[], &[0], None);
        // Both senders are clean (their shortfalls are clean), so the whole
        // 10 TA and 5 TB are created taint; P1 holds the TA, U the TB, hop 0.
        assert!(out.crossed.is_empty(), "{policy:?}");
        assert!(out.unfollowed.is_empty(), "{policy:?}: a seed transaction is a source, not a conversion taint reached");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { seeded: 5, ..Default::default() }, "{policy:?}");
        assert_eq!(w.dormant(&out, TA), rows(&[(P1, 10, 0)]), "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(U, 5, 0)]), "{policy:?}");
    }
}

/// A stop at the payee: an exchange receiving the output absorbs `y`, a
/// destination in asset B.
#[test]
fn stop_at_the_payee() {
    let w = World::new(
        &[
            plain(S, U, TA, 30), // 0
            plain(C, U, TA, 30), // 1: [30 T, 30 C], b 60, t 30
            swap(vec![ev(U, P1, TA, 20), ev(P1, X, TB, 9)], &[P1]),
        ],
        &[X],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, rounding, u_ta) = match policy {
            // x = floor(20 * 30 / 60) = 10; y = floor(10 * 9 / 20) = 4; loss
            // 90 - 80 = 10 over 20 is 1/2, rounded up to 1. U keeps t 20.
            Policy::Haircut => (10, 4, 1, 20),
            // The 20 units are all tainted: x = 20, y = floor(20 * 9 / 20) = 9.
            // U keeps [10 T, 30 C].
            Policy::Fifo => (20, 9, 0, 10),
            // x = 20, y = 9; U holds 40 TA, dormant with its 30 tainted received.
            Policy::Poison => (20, 9, 0, 30),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, X), (TA, 20, x), (TB, 9, y), 2)], "{policy:?}");
        assert_eq!(w.destinations(&out, TB), rows(&[(X, y, 2)]), "{policy:?}");
        assert!(w.dormant(&out, TB).is_empty(), "{policy:?}");
        assert_eq!(w.dormant(&out, TA), rows(&[(U, u_ta, 1)]), "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, rounding, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 30, unknown_origin: 30, converted_out: x, ..Default::default() });
        assert_eq!(w.arrivals(&out).last(), Some(&Err(0)), "{policy:?}: the absorbed arrival is the conversion");
    }
}

/// A venue labelled as a stop is transparent inside a followed swap: it
/// absorbs nothing there; an ordinary transfer to it later is absorbed.
#[test]
fn venue_labelled_as_a_stop_is_transparent() {
    let w = World::new(
        &[
            plain(S, U, TA, 10), // 0
            swap(vec![ev(U, P1, TA, 10), ev(P1, U, TB, 6)], &[P1]),
            plain(U, P1, TB, 6), // 2: no swap log: an ordinary arrival at a stop
        ],
        &[P1],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        // U's 10 TA are all tainted: x = 10, y = 6 in every policy (haircut
        // floor(10 * 6 / 10)). Then U sends its 6 TB, all tainted, to P1 at hop 3.
        assert_eq!(w.crossed(&out), vec![cx(1, (U, U), (TA, 10, 10), (TB, 6, 6), 2)], "{policy:?}");
        assert!(w.destinations(&out, TA).is_empty(), "{policy:?}: P1 absorbed nothing in the swap");
        assert_eq!(w.destinations(&out, TB), rows(&[(P1, 6, 3)]), "{policy:?}");
        assert!(w.dormant(&out, TA).is_empty() && w.dormant(&out, TB).is_empty(), "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, unknown_origin: 10, converted_out: 10, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures { converted_in: 6, ..Default::default() });
    }
}

/// `--max-hops 2` reached at the payee: the payee (hop 2) goes to the
/// horizon in B; the venue, which as an ordinary receiver would be reached at
/// hop 2 too, is not cut off; what the payee sends later carries nothing.
#[test]
fn horizon_at_the_payee() {
    let w = World::new(
        &[
            plain(S, U, TA, 10), // 0: U at hop 1
            swap(vec![ev(U, P1, TA, 10), ev(P1, R, TB, 5)], &[P1]),
            plain(R, Q, TB, 5), // 2
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run_with(policy, &[S], &[], Some(2));
        // x = 10 (all of U's TA), y = 5 in every policy.
        assert_eq!(w.crossed(&out), vec![cx(1, (U, R), (TA, 10, 10), (TB, 5, 5), 2)], "{policy:?}");
        assert_eq!(w.horizon(&out, TB), rows(&[(R, 5, 2)]), "{policy:?}");
        assert!(w.horizon(&out, TA).is_empty(), "{policy:?}: not P1");
        assert!(w.dormant(&out, TB).is_empty(), "{policy:?}: not Q");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, unknown_origin: 10, converted_out: 10, ..Default::default() });
        assert_eq!(w.figures(&out, TB), Figures { converted_in: 5, ..Default::default() });
    }
}

/// A refund leg: the payer sends a + e and gets e back. Its A legs leave as
/// one outflow of a = 100, which its balance covers: no shortfall (a + e =
/// 120 would have credited 20 of unknown origin).
#[test]
fn refund_leg_is_one_outflow_of_the_net_amount() {
    let w = World::new(
        &[
            plain(S, U, TA, 40), // 0
            plain(C, U, TA, 60), // 1: [40 T, 60 C], b 100, t 40
            swap(vec![ev(U, P1, TA, 120), ev(P1, U, TA, 20), ev(P1, U, TB, 30)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y) = match policy {
            // x = floor(100 * 40 / 100) = 40, y = floor(40 * 30 / 100) = 12.
            Policy::Haircut => (40, 12),
            // All 100 units leave: [40 T, 60 C]; lots floor(40 * 30 / 100) = 12
            // tainted, then 18 clean.
            Policy::Fifo => (40, 12),
            Policy::Poison => (100, 30),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, U), (TA, 100, x), (TB, 30, y), 2)], "{policy:?}");
        // unknown_origin is the seed's 40 only.
        assert_eq!(w.figures(&out, TA), Figures { seeded: 40, unknown_origin: 40, converted_out: x, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, ..Default::default() }, "{policy:?}");
        assert!(w.dormant(&out, TA).is_empty(), "{policy:?}: U's TA is spent, P1 took nothing");
        assert_eq!(w.dormant(&out, TB), rows(&[(U, y, 2)]), "{policy:?}");
    }
}

/// Rounding where floor matters: x = 1, a = 3, b = 2. Haircut: y =
/// floor(2/3) = 0, the whole 2/3 lost (rounded to 1). FIFO, with the tainted
/// unit in the middle of [1 C, 1 T, 1 C]: its lot covers units (1, 2], so it
/// maps to floor(2 * 2 / 3) - floor(1 * 2 / 3) = 1 unit: y = 1 > x * b / a,
/// the loss 1 * 2 - 1 * 3 = -1 is -1/3, rounded away from zero to -1.
#[test]
fn rounding_where_floor_matters() {
    let w = World::new(
        &[
            plain(C, U, TA, 1), // 0
            plain(S, U, TA, 1), // 1
            plain(C, U, TA, 1), // 2: [1 C, 1 T, 1 C], b 3, t 1
            swap(vec![ev(U, P1, TA, 3), ev(P1, U, TB, 2)], &[P1]),
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, rounding, text) = match policy {
            // x = floor(3 * 1 / 3) = 1.
            Policy::Haircut => (1, 0, 1, "2/3"),
            Policy::Fifo => (1, 1, -1, "-1/3"),
            // x = 3, y = 2: nothing lost.
            Policy::Poison => (3, 2, 0, "0"),
        };
        // Recorded though y = 0: x > 0.
        assert_eq!(w.crossed(&out), vec![cx(3, (U, U), (TA, 3, x), (TB, 2, y), 2)], "{policy:?}");
        assert_eq!(out.crossed[0].rounding(), text, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, rounding, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 1, unknown_origin: 1, converted_out: x, ..Default::default() });
        let tb = if y == 0 { Rows::new() } else { rows(&[(U, y, 2)]) };
        assert_eq!(w.dormant(&out, TB), tb, "{policy:?}");
        // Haircut: the taint lost to rounding never arrives, so there is no
        // arrival for the conversion.
        let conversion_arrived = w.arrivals(&out).contains(&Err(0));
        assert_eq!(conversion_arrived, y > 0, "{policy:?}");
    }
}

/// FIFO maps a clean lot then a tainted lot into B, appended in that order
/// to the payee's queue, so the payee's first spend is clean.
#[test]
fn fifo_maps_two_lots_in_order() {
    let w = World::new(
        &[
            plain(C, U, TA, 7), // 0
            plain(S, U, TA, 5), // 1: [7 C, 5 T], b 12, t 5
            swap(vec![ev(U, P1, TA, 12), ev(P1, R, TB, 10)], &[P1]),
            plain(R, Q, TB, 5), // 3
            plain(R, D, TB, 5), // 4
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        let (x, y, rounding, text, tb) = match policy {
            // Lots: floor(7 * 10 / 12) = 5 clean, then 10 - 5 = 5 tainted:
            // y = 5 though x * b / a = 50/12; loss 50 - 60 = -10, -5/6, rounded
            // to -1. R's queue [5 C, 5 T]: Q gets the clean 5, D the tainted 5.
            Policy::Fifo => (5, 5, -1, "-5/6", rows(&[(D, 5, 3)])),
            // y = floor(5 * 10 / 12) = 4, loss 2/12 = 1/6 rounded to 1. R holds
            // b 10, t 4: Q gets floor(5 * 4 / 10) = 2, then D floor(5 * 2 / 5) = 2.
            Policy::Haircut => (5, 4, 1, "1/6", rows(&[(Q, 2, 3), (D, 2, 3)])),
            // x = 12, y = 10; R poisoned in TB, Q and D get 5 each; R ends empty.
            Policy::Poison => (12, 10, 0, "0", rows(&[(Q, 5, 3), (D, 5, 3)])),
        };
        assert_eq!(w.crossed(&out), vec![cx(2, (U, R), (TA, 12, x), (TB, 10, y), 2)], "{policy:?}");
        assert_eq!(out.crossed[0].rounding(), text, "{policy:?}");
        assert_eq!(w.dormant(&out, TB), tb, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures { converted_in: y, rounding, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 5, unknown_origin: 5, converted_out: x, ..Default::default() });
    }
}

/// Poison is per (address, asset): the payee is poisoned in B only, so what
/// it sends of another asset it held before stays clean.
#[test]
fn poison_per_address_and_asset() {
    let w = World::new(
        &[
            plain(S, U, TA, 10), // 0
            plain(C, R, TC, 8),  // 1: R holds clean TC
            swap(vec![ev(U, P1, TA, 10), ev(P1, R, TB, 4)], &[P1]),
            plain(R, Q, TC, 8), // 3: R is not poisoned in TC
            plain(R, D, TB, 4), // 4: but is in TB
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        // U's 10 TA are all tainted: x = 10, y = 4 in every policy; R's 4 TB
        // go on whole to D at hop 3; R's TC carries nothing to Q.
        assert_eq!(w.crossed(&out), vec![cx(2, (U, R), (TA, 10, 10), (TB, 4, 4), 2)], "{policy:?}");
        assert_eq!(w.dormant(&out, TB), rows(&[(D, 4, 3)]), "{policy:?}");
        assert!(w.dormant(&out, TC).is_empty(), "{policy:?}: Q was never reached");
        assert_eq!(w.figures(&out, TC), Figures::default(), "{policy:?}");
        assert!(w.arrivals(&out).iter().all(|a| !matches!(a, Ok((3, ..)))), "{policy:?}: no arrival from tx 3");
    }
}

/// A venue that already held taint keeps it when its own legs in a followed
/// swap move its balance (FIFO: its clean units go first), and a clean
/// payer's swap is not recorded in `crossed` (x = 0).
#[test]
fn venue_keeps_its_taint_and_a_clean_swap_is_not_crossed() {
    let w = World::new(
        &[
            plain(S, P1, TA, 10), // 0: no swap log: P1 gets 10 tainted at hop 1
            plain(C, P1, TA, 30), // 1: P1 [10 T, 30 C], b 40, t 10
            // 2: clean U buys 20 TA from P1 with 5 TB.
            swap(vec![ev(U, P1, TB, 5), ev(P1, U, TA, 20)], &[P1]),
            plain(P1, D, TA, 15), // 3
        ],
        &[],
    );
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        assert!(out.crossed.is_empty() && out.unfollowed.is_empty(), "{policy:?}");
        let ta = match policy {
            // P1 keeps t 10 with b 20 after the swap; tx 3 carries
            // floor(15 * 10 / 20) = 7 to D, P1 keeps 3. (Had the swap leg been
            // an event, U would have got floor(20 * 10 / 40) = 5.)
            Policy::Haircut => rows(&[(P1, 3, 1), (D, 7, 2)]),
            // The swap's 20 come from P1's clean units: [10 T, 10 C]; tx 3
            // takes [10 T, 5 C]: 10 to D.
            Policy::Fifo => rows(&[(D, 10, 2)]),
            // P1 is poisoned: 15 to D; P1 holds 5, dormant with its 10 received.
            Policy::Poison => rows(&[(P1, 10, 1), (D, 15, 2)]),
        };
        assert_eq!(w.dormant(&out, TA), ta, "{policy:?}: U got nothing");
        assert_eq!(w.figures(&out, TA), Figures { seeded: 10, unknown_origin: 10, ..Default::default() }, "{policy:?}");
        assert_eq!(w.figures(&out, TB), Figures::default(), "{policy:?}");
    }
}

/// A swap into WETH is a conversion into ETH: the payee's WETH is ETH, and
/// unwrapping it afterwards moves nothing, so its ETH spend is the
/// converted taint.
#[test]
fn swap_into_weth_converts_into_eth() {
    let w = World::new(
        &[
            plain(S, U, TA, 10), // 0
            swap(vec![ev(U, P1, TA, 10), ev(P1, U, &weth(), 4)], &[P1]),
            plain(&weth(), U, ETH, 4), // 2: unwrap: dropped
            plain(U, D, ETH, 4),       // 3
        ],
        &[],
    );
    let weth_id = w.asset(&weth());
    for policy in POLICIES {
        let out = w.run(policy, &[S]);
        // All 10 TA tainted: x = 10, y = 4 (haircut floor(10 * 4 / 10)) in
        // every policy; U sends the 4 on at hop 3.
        assert_eq!(w.crossed(&out), vec![cx(1, (U, U), (TA, 10, 10), (ETH, 4, 4), 2)], "{policy:?}");
        assert!(!out.converted_in.contains_key(&weth_id) && !out.by_asset.contains_key(&weth_id), "{policy:?}");
        assert_eq!(w.figures(&out, ETH), Figures { converted_in: 4, ..Default::default() }, "{policy:?}");
        assert_eq!(w.dormant(&out, ETH), rows(&[(D, 4, 3)]), "{policy:?}");
    }
}
