//! A synthetic Ethereum with the structure that decides what tracing costs.
//!
//! Uniformly random transfers are the worst case for a tracer (taint reaches
//! everyone within a few hops) and nothing like a real chain. Real chains
//! route most value through services, and that is what keeps a trace small:
//! exchanges with one deposit address per customer that sweeps to a hot
//! wallet, a mixer taking fixed denominations and paying out later to fresh
//! addresses, DEX contracts with internal transfers, tokens, and a hack whose
//! proceeds fan out and run down peel chains into exchanges and the mixer.
//! Part of the proceeds are laundered through swaps, as the real Lazarus
//! cases were (Ronin's USDC swapped to ether within hours, Bybit's staking
//! tokens swapped to ether), and the world says which transactions those
//! are and where their value went ([`Truth`]).
//! Activity is heavy-tailed. Everything is deterministic from the seed and
//! streamed: the world keeps only its queues (pending sweeps, mixer notes,
//! live laundering wallets), never the transactions it has written.
//!
//! The parameters and the real statistics they imitate are in
//! `datasets/synthetic/README.md`.

use super::Rng;
use crate::convert::topics::{Kind, Venue};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// One wei-denominated ether.
pub const ETH: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;
/// What the hack takes: the Ronin bridge's 173,600 ETH.
pub const HACK_AMOUNT: u128 = 173_600 * ETH;
/// Mixer pools, as Tornado Cash's ETH pools: 0.1, 1, 10 and 100 ETH.
pub const DENOMINATIONS: [u128; 4] = [ETH / 10, ETH, 10 * ETH, 100 * ETH];
/// Token symbols (assets 1..): the ERC-20s most traded on mainnet, then
/// stETH, which only the hack's laundering touches.
pub const TOKENS: [&str; 6] = ["USDT", "USDC", "WETH", "DAI", "LINK", "stETH"];
/// The tokens ordinary users trade: the first five.
const TRADED: u64 = 5;
/// An amount drawn at ether's scale (18 decimals) in token `t`'s own
/// base units: USDT and USDC have 6 decimals (at least one unit).
fn in_token(t: u16, x: u128) -> u128 {
    let d = crate::model::tokens::by_symbol(TOKENS[t as usize]).map_or(18, |k| k.decimals);
    (x / 10u128.pow(18u32.saturating_sub(d))).max(1)
}

/// USDC's index in [`TOKENS`].
pub const USDC: u16 = 1;
/// WETH's index in [`TOKENS`]: its contract is mainnet WETH, so a trace
/// that follows swaps reads it as ether.
pub const WETH: u16 = 2;
/// DAI's index in [`TOKENS`].
pub const DAI: u16 = 3;
/// stETH's index in [`TOKENS`].
pub const STETH: u16 = 5;
/// The USDC the hack takes besides the ether: Ronin's 25.5 million, in
/// base units of USDC's 6 decimals.
pub const HACK_USDC: u128 = 25_500_000 * 1_000_000;

/// The size and shape of a world.
#[derive(Clone, Debug)]
pub struct Params {
    /// Stop once this many events (value movements, fees included) are written.
    pub events: u64,
    /// The seed.
    pub seed: u64,
    /// Ordinary accounts.
    pub users: u64,
    /// Exchanges (each one hot wallet and one deposit address per customer).
    pub exchanges: u64,
    /// Transactions per block.
    pub block_txs: u64,
    /// The hack happens once this share of the events is written (per mille).
    pub hack_at_permille: u64,
    /// Wallets the exploiter splits the proceeds into, each starting a peel chain.
    pub fanout: u64,
}

impl Params {
    /// The documented defaults for a world of `events` events.
    pub fn new(events: u64, seed: u64) -> Self {
        Params {
            events,
            seed,
            users: (events / 12).max(1_000),
            exchanges: 24,
            block_txs: 150,
            hack_at_permille: 300,
            fanout: 16 + events / 500_000,
        }
    }
}

/// Whose an address is; its bytes come from the seed and this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Who {
    /// An ordinary account.
    User(u64),
    /// An address used once or a few times (mixer payouts, peel hops).
    Fresh(u64),
    /// An exchange's hot wallet.
    Hot(u64),
    /// Exchange `.0`'s deposit address for customer `.1`.
    Deposit(u64, u64),
    /// The DEX router.
    Router,
    /// The DEX pool of token `.0` against ether.
    Pair(u16),
    /// Another DEX pool: 0 the stable pool (USDT, USDC, DAI), 1 the WETH/stETH pool.
    Venue(u8),
    /// Token contract `.0`.
    Token(u16),
    /// The mixer pool of denomination `.0`.
    Pool(u8),
    /// The bridge that is hacked.
    Bridge,
    /// The hack's exploiter: the seed.
    Exploiter,
}

/// Where a leg moves value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// An internal transfer (a trace below the top call).
    Internal,
    /// An ERC-20 transfer of token `.0` (a log).
    Token(u16),
}

/// One transaction and the value it moves.
#[derive(Clone, Debug)]
pub struct Tx {
    /// Block number.
    pub block: u64,
    /// Block time, epoch seconds.
    pub time: i64,
    /// Position in the block.
    pub index: u32,
    /// Sequence number over the whole world (hashes derive from it).
    pub seq: u64,
    /// Sender.
    pub from: Who,
    /// Receiver of the top call.
    pub to: Who,
    /// Ether sent by the top call.
    pub value: u128,
    /// Gas used.
    pub gas: u64,
    /// Wei per gas.
    pub gas_price: u128,
    /// 32-byte words of calldata after the selector (`None`: a plain transfer).
    pub call_words: Option<u8>,
    /// Internal transfers and token transfers, in order.
    pub legs: Vec<(Leg, Who, Who, u128)>,
    /// Logs other than token transfers (swaps, WETH deposits), in order.
    pub logs: Vec<Log>,
    /// What it is in the hack's swap laundering.
    pub truth: Truth,
}

/// A log that is not a token transfer: a swap or a WETH deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log {
    /// Emitted once this many of the transaction's legs have moved.
    pub after: u8,
    /// The contract that emits it.
    pub emitter: Who,
    /// The event: a swap at a venue, or [`Kind::Wrap`].
    pub kind: Kind,
    /// The first indexed address (swap sender or buyer, deposit owner).
    pub sender: Who,
    /// The second indexed address (swap recipient), where the event has one.
    pub recipient: Who,
    /// Curve's coin indices sold and bought.
    pub coins: (u8, u8),
    /// Amount in (a deposit's amount).
    pub amount_in: u128,
    /// Amount out.
    pub amount_out: u128,
}

/// An asset: ether or a token of [`TOKENS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Asset {
    /// Ether (and WETH, as a trace that follows swaps reads it).
    Eth,
    /// Token `.0`.
    Token(u16),
}

/// Which of the hack's swap launderings value came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// The stolen USDC, swapped to ether through two pools (Ronin).
    Usdc,
    /// Stolen ether wrapped, swapped to stETH and back to ether (Bybit's stETH).
    Steth,
}

impl Path {
    /// Its name in the truth files.
    pub fn name(self) -> &'static str {
        match self {
            Path::Usdc => "usdc",
            Path::Steth => "steth",
        }
    }
}

/// What a transaction is in the hack's swap laundering: the truth that
/// cross-asset tracing is scored against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// No part of it.
    None,
    /// A laundering swap, as TRACING.md §7 reads it (WETH as ether).
    Swap {
        /// The laundering.
        path: Path,
        /// The taker whose balance goes down.
        payer: Who,
        /// What the payer gives.
        sold: (Asset, u128),
        /// The taker whose balance goes up.
        payee: Who,
        /// What the payee gets.
        bought: (Asset, u128),
    },
    /// Swapped value paid into a planted destination: the top call's
    /// ether, to an exchange deposit address or a mixer pool.
    Delivery {
        /// The laundering.
        path: Path,
        /// Where a trace that stops at the service ends: the exchange's
        /// hot wallet (its deposit address sweeps there) or the mixer pool.
        service: Who,
    },
}

impl Tx {
    /// The fee the sender pays.
    pub fn fee(&self) -> u128 {
        u128::from(self.gas) * self.gas_price
    }

    /// Events this transaction adds to a store: the top call, its legs, the fee.
    pub fn events(&self) -> u64 {
        2 + self.legs.len() as u64
    }
}

/// A laundering wallet waiting for its next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Wallet {
    who: Who,
    held: u128,
    /// Fan-outs left (the exploiter) or 0 (a peel-chain hop).
    splits: u64,
    /// Chunk per fan-out.
    chunk: u128,
    /// A peel is done: next, pass the rest on.
    forward: bool,
    /// The swap laundering its ether came out of, if any.
    path: Option<Path>,
}

/// The exploiter's swap laundering, a transaction at a time. Gas prices are
/// drawn at the hack, so that the exploiter's fan-out leaves exactly the fees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Heist {
    /// Drain the bridge's USDC.
    DrainUsdc,
    /// USDC to DAI to ether, paid to a fresh wallet.
    SwapUsdc,
    /// Wrap this much ether.
    Wrap(u128),
    /// This much WETH to stETH.
    WethToSteth(u128),
    /// This much stETH to ether, paid to a fresh wallet.
    StethToEth(u128),
}

impl Heist {
    const DRAIN_GAS: u64 = 200_000;
    const SWAP_USDC_GAS: u64 = 260_000;
    const WRAP_GAS: u64 = 45_000;
    const WETH_STETH_GAS: u64 = 180_000;
    const STETH_ETH_GAS: u64 = 200_000;
}

/// Work that comes due at a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Sweep(u64, u64),
    MixerPayout(u8),
    Launder(Wallet),
    Heist(Heist),
}

/// The world: call [`World::advance`] until it returns `false`, reading each
/// transaction with [`World::tx`].
pub struct World {
    /// Parameters.
    pub params: Params,
    rng: Rng,
    block: u64,
    time: i64,
    in_block: u64,
    seq: u64,
    written: u64,
    fresh: u64,
    hacked: bool,
    /// Gas prices of the swap laundering's five transactions, drawn at the hack.
    heist_prices: [u128; 5],
    scheduled: u64,
    due: BinaryHeap<Reverse<(u64, u64, Due)>>,
    /// Deposit addresses holding customer funds not yet swept.
    unswept: HashMap<(u64, u64), u128>,
    tx: Tx,
}

const FIRST_BLOCK: u64 = 15_000_000;
const FIRST_TIME: i64 = 1_656_000_000;

/// Exchange `e`'s entity name: "Exchange-3", not "Exchange 3", because a
/// trailing number is an address's index within its entity ("Binance 14").
pub fn exchange_name(e: u64) -> String {
    format!("Exchange-{e}")
}

impl World {
    /// A world from its parameters.
    pub fn new(params: Params) -> Self {
        let rng = Rng::new(params.seed ^ 0x005E_ED0F_CA5E);
        World {
            params,
            rng,
            block: FIRST_BLOCK,
            time: FIRST_TIME,
            in_block: 0,
            seq: 0,
            written: 0,
            fresh: 0,
            hacked: false,
            heist_prices: [0; 5],
            scheduled: 0,
            due: BinaryHeap::new(),
            unswept: HashMap::new(),
            tx: Tx {
                block: 0,
                time: 0,
                index: 0,
                seq: 0,
                from: Who::Router,
                to: Who::Router,
                value: 0,
                gas: 0,
                gas_price: 0,
                call_words: None,
                legs: Vec::new(),
                logs: Vec::new(),
                truth: Truth::None,
            },
        }
    }

    /// The 20 address bytes of `who` in this world.
    pub fn address(&self, who: Who) -> [u8; 20] {
        // The tokens are mainnet's (WETH among them, so that a trace reads
        // it as ETH), so that reports know their symbols and decimals.
        if let Who::Token(t) = who {
            let known = crate::model::tokens::by_symbol(TOKENS[t as usize]).expect("the world's tokens are known");
            let mut out = [0u8; 20];
            hex::decode_to_slice(known.contract, &mut out).expect("literal address");
            return out;
        }
        let (kind, a, b) = match who {
            Who::User(k) => (1, k, 0),
            Who::Fresh(k) => (2, k, 0),
            Who::Hot(e) => (3, e, 0),
            Who::Deposit(e, k) => (4, e, k),
            Who::Router => (5, 0, 0),
            Who::Pair(t) => (6, u64::from(t), 0),
            Who::Token(t) => (7, u64::from(t), 0),
            Who::Pool(d) => (8, u64::from(d), 0),
            Who::Bridge => (9, 0, 0),
            Who::Exploiter => (10, 0, 0),
            Who::Venue(v) => (11, u64::from(v), 0),
        };
        let mut r =
            Rng::new(self.params.seed ^ (kind << 56) ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
        let mut out = [0u8; 20];
        for c in out.chunks_mut(8) {
            let w = r.next_u64().to_le_bytes();
            c.copy_from_slice(&w[..c.len()]);
        }
        out
    }

    /// The 32-byte hash of transaction `seq`.
    pub fn tx_hash(&self, seq: u64) -> [u8; 32] {
        let mut r = Rng::new(self.params.seed ^ 0x7A5E_D000 ^ seq.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let mut out = [0u8; 32];
        for c in out.chunks_mut(8) {
            c.copy_from_slice(&r.next_u64().to_le_bytes());
        }
        out
    }

    /// Labels a real investigator would have: exchange hot wallets, the mixer
    /// pools, the DEX contracts, the bridge and the exploiter. Deposit
    /// addresses are deliberately unlabelled, as on the real chain.
    pub fn labels(&self) -> Vec<(Who, &'static str, String)> {
        let mut v = Vec::new();
        for e in 0..self.params.exchanges {
            v.push((Who::Hot(e), "exchange", format!("{}: hot wallet", exchange_name(e))));
        }
        for (d, &den) in DENOMINATIONS.iter().enumerate() {
            v.push((Who::Pool(d as u8), "mixer", format!("Mixer: pool {} ETH", den as f64 / ETH as f64)));
        }
        v.push((Who::Router, "defi", "DEX: router".into()));
        for (t, sym) in TOKENS.iter().enumerate() {
            let label = if t as u16 == WETH { "DEX: WETH wrapper".into() } else { format!("DEX: pool {sym}/ETH") };
            v.push((Who::Pair(t as u16), "defi", label));
        }
        v.push((Who::Venue(0), "defi", "DEX: stable pool USDT/USDC/DAI".into()));
        v.push((Who::Venue(1), "defi", "DEX: pool WETH/stETH".into()));
        v.push((Who::Token(WETH), "defi", "WETH: wrapped ether".into()));
        v.push((Who::Bridge, "bridge", "Bridge (hacked)".into()));
        v.push((Who::Exploiter, "hack", "Bridge exploiter".into()));
        v
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// A heavy-tailed account: `users * x^3.5` puts about a quarter of all
    /// activity on the busiest 1% of accounts.
    fn user(&mut self) -> Who {
        let x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Who::User(((self.params.users as f64) * x.powf(3.5)) as u64 % self.params.users)
    }

    fn fresh(&mut self) -> Who {
        self.fresh += 1;
        Who::Fresh(self.fresh - 1)
    }

    /// Log-uniform from 0.001 to 1000 ether, four significant digits.
    fn amount(&mut self) -> u128 {
        let mantissa = 1000 + u128::from(self.rng.below(9000));
        mantissa * 10u128.pow(12 + self.rng.below(6) as u32)
    }

    fn gas_price(&mut self) -> u128 {
        (5 + u128::from(self.rng.below(95))) * GWEI
    }

    fn schedule(&mut self, after: u64, d: Due) {
        // A counter keeps items due in the same block in the order they were made.
        self.scheduled += 1;
        self.due.push(Reverse((self.block + after, self.scheduled, d)));
    }

    fn start(&mut self, from: Who, to: Who, value: u128, gas: u64, call_words: Option<u8>) {
        let gas_price = self.gas_price();
        let t = &mut self.tx;
        t.block = self.block;
        t.time = self.time;
        t.index = self.in_block as u32;
        t.seq = self.seq;
        t.from = from;
        t.to = to;
        t.value = value;
        t.gas = gas;
        t.gas_price = gas_price;
        t.call_words = call_words;
        t.legs.clear();
        t.logs.clear();
        t.truth = Truth::None;
    }

    /// Make the next transaction; `false` once `params.events` are written.
    pub fn advance(&mut self) -> bool {
        if self.written >= self.params.events {
            return false;
        }
        if self.in_block == self.params.block_txs {
            self.in_block = 0;
            self.block += 1;
            self.time += 12;
        }
        let due = match self.due.peek() {
            Some(Reverse((at, _, _))) if *at <= self.block => self.due.pop().map(|Reverse((_, _, d))| d),
            _ => None,
        };
        match due {
            Some(d) => self.scheduled(d),
            None if !self.hacked && self.written * 1000 >= self.params.events * self.params.hack_at_permille => self.hack(),
            None => self.ordinary(),
        }
        self.in_block += 1;
        self.seq += 1;
        self.written += self.tx.events();
        true
    }

    /// The transaction [`World::advance`] made last.
    pub fn tx(&self) -> &Tx {
        &self.tx
    }

    fn ordinary(&mut self) {
        let roll = self.rng.below(1000);
        let u = self.user();
        match roll {
            // A customer pays into their deposit address at an exchange.
            0..230 => {
                let e = self.rng.below(self.params.exchanges);
                let Who::User(k) = u else { unreachable!("user() returns users") };
                let v = self.amount();
                self.start(u, Who::Deposit(e, k), v, 21_000, None);
                let pending = self.unswept.entry((e, k)).or_insert(0);
                if *pending == 0 {
                    let after = 1 + self.rng.below(40);
                    self.schedule(after, Due::Sweep(e, k));
                }
                *self.unswept.get_mut(&(e, k)).expect("just inserted") += v;
            }
            // A withdrawal, one in five to a new address.
            230..400 => {
                let e = self.rng.below(self.params.exchanges);
                let to = if self.rng.below(5) == 0 { self.fresh() } else { u };
                let v = self.amount();
                self.start(Who::Hot(e), to, v, 21_000, None);
            }
            // One person pays another.
            400..500 => {
                let to = self.user();
                let v = self.amount() / 10;
                self.start(u, to, v, 21_000, None);
            }
            // Ether for tokens through the router: internal transfer to the
            // pool, tokens back, the pool's swap log after its transfer out.
            500..600 => {
                let t = self.rng.below(TRADED) as u16;
                let v = self.amount() / 10;
                let gas = 120_000 + self.rng.below(60_000);
                self.start(u, Who::Router, v, gas, Some(4));
                self.tx.legs.push((Leg::Internal, Who::Router, Who::Pair(t), v));
                let tokens = self.rate(t, v);
                self.tx.legs.push((Leg::Token(t), Who::Pair(t), u, tokens));
                self.swap_log(2, Who::Pair(t), u, v, tokens);
            }
            // Tokens for ether: tokens to the pool, ether back through the router.
            600..680 => {
                let t = self.rng.below(TRADED) as u16;
                let v = self.amount() / 10;
                let gas = 130_000 + self.rng.below(60_000);
                self.start(u, Who::Router, 0, gas, Some(5));
                let tokens = self.rate(t, v);
                self.tx.legs.push((Leg::Token(t), u, Who::Pair(t), tokens));
                self.tx.legs.push((Leg::Internal, Who::Pair(t), Who::Router, v));
                self.tx.legs.push((Leg::Internal, Who::Router, u, v));
                self.swap_log(2, Who::Pair(t), Who::Router, tokens, v);
            }
            // A token transfer.
            680..850 => {
                let t = self.rng.below(TRADED) as u16;
                let to = self.user();
                let v = in_token(t, self.amount());
                self.start(u, Who::Token(t), 0, 52_000, Some(2));
                self.tx.legs.push((Leg::Token(t), u, to, v));
            }
            // A mixer deposit; the note is withdrawn to a fresh address hours to weeks later.
            850..860 => {
                let d = self.rng.below(DENOMINATIONS.len() as u64) as u8;
                self.start(u, Who::Pool(d), DENOMINATIONS[d as usize], 1_000_000, Some(8));
                let after = 300 + self.rng.below(50_000);
                self.schedule(after, Due::MixerPayout(d));
            }
            // A bridge deposit.
            860..880 => {
                let v = self.amount();
                self.start(u, Who::Bridge, v, 90_000, Some(3));
            }
            // A call that moves no ether (an approval, a vote, a mint).
            _ => {
                let t = self.rng.below(TRADED) as u16;
                self.start(u, Who::Token(t), 0, 46_000, Some(2));
            }
        }
    }

    /// Tokens for `v` wei at a random rate; WETH is ether, one for one, so
    /// the router's WETH pair only wraps and unwraps. The draw is made for
    /// WETH too, which keeps the stream of the other kinds as it was.
    fn rate(&mut self, t: u16, v: u128) -> u128 {
        let k = 1 + u128::from(self.rng.below(3000));
        if t == WETH { v } else { in_token(t, v * k) }
    }

    /// The Uniswap-V2-style swap log of pool `pool`, once `after` legs have
    /// moved. Wrapping through the WETH pair is no swap, so it has none.
    fn swap_log(&mut self, after: u8, pool: Who, recipient: Who, amount_in: u128, amount_out: u128) {
        if pool == Who::Pair(WETH) {
            return;
        }
        self.tx.logs.push(Log {
            after,
            emitter: pool,
            kind: Kind::Swap(Venue::UniswapV2),
            sender: Who::Router,
            recipient,
            coins: (0, 0),
            amount_in,
            amount_out,
        });
    }

    fn scheduled(&mut self, d: Due) {
        match d {
            Due::Sweep(e, k) => {
                // The deposit address sends everything it holds, less the fee, to the hot wallet.
                let held = self.unswept.remove(&(e, k)).unwrap_or(0);
                self.start(Who::Deposit(e, k), Who::Hot(e), 0, 21_000, None);
                self.tx.value = held.saturating_sub(self.tx.fee());
            }
            Due::MixerPayout(d) => {
                // A relayer calls the pool; the pool pays a fresh address.
                let relayer = self.user();
                let to = self.fresh();
                self.start(relayer, Who::Pool(d), 0, 350_000, Some(8));
                self.tx.legs.push((Leg::Internal, Who::Pool(d), to, DENOMINATIONS[d as usize]));
            }
            Due::Launder(w) => self.launder(w),
            Due::Heist(h) => self.heist(h),
        }
    }

    /// The exploiter drains the bridge's ether: one call, one internal
    /// transfer. Its USDC follows in a second call, as at Ronin, and the
    /// swap laundering is scheduled. The exploiter keeps back what the swap
    /// laundering costs (the ether it wraps and every fee) and fans the
    /// rest out.
    fn hack(&mut self) {
        self.hacked = true;
        self.start(Who::Exploiter, Who::Bridge, 0, 400_000, Some(12));
        self.tx.legs.push((Leg::Internal, Who::Bridge, Who::Exploiter, HACK_AMOUNT));
        let prices: [u128; 5] = std::array::from_fn(|_| self.gas_price());
        // Bybit's haul was a fifth staking tokens; here 5,000-9,999 of the
        // bridge's ether goes through stETH.
        let wrap = u128::from(5_000 + self.rng.below(5_000)) * ETH;
        let gas = [Heist::DRAIN_GAS, Heist::SWAP_USDC_GAS, Heist::WRAP_GAS, Heist::WETH_STETH_GAS, Heist::STETH_ETH_GAS];
        let fees: u128 = gas.iter().zip(prices).map(|(&g, p)| u128::from(g) * p).sum();
        let fanout = self.params.fanout.max(1);
        let held = HACK_AMOUNT - self.tx.fee() - wrap - fees;
        let w = Wallet { who: Who::Exploiter, held, splits: fanout, chunk: held / u128::from(fanout), forward: false, path: None };
        self.heist_prices = prices;
        self.schedule(1, Due::Heist(Heist::DrainUsdc));
        // Ronin's USDC was swapped to ether within hours.
        let after = 2 + self.rng.below(20);
        self.schedule(after, Due::Heist(Heist::SwapUsdc));
        self.schedule(3, Due::Heist(Heist::Wrap(wrap)));
        self.schedule(5, Due::Launder(w));
    }

    /// One transaction of the exploiter's swap laundering.
    fn heist(&mut self, h: Heist) {
        match h {
            Heist::DrainUsdc => {
                self.start(Who::Exploiter, Who::Bridge, 0, Heist::DRAIN_GAS, Some(12));
                self.tx.gas_price = self.heist_prices[0];
                self.tx.legs.push((Leg::Token(USDC), Who::Bridge, Who::Exploiter, HACK_USDC));
            }
            Heist::SwapUsdc => {
                // USDC into the stable pool for DAI, DAI into the DAI pool
                // for ether, the ether through the router to a fresh wallet.
                let payee = self.fresh();
                self.start(Who::Exploiter, Who::Router, 0, Heist::SWAP_USDC_GAS, Some(6));
                self.tx.gas_price = self.heist_prices[1];
                // 0.04% to the stable pool, DAI's 18 decimals against USDC's 6.
                let dai = HACK_USDC * 1_000_000_000_000 * 9_996 / 10_000;
                // Ether at $2,900-3,099 (March 2022), less the pool's 0.3%.
                let usd_per_eth = 2_900 + u128::from(self.rng.below(200));
                let eth = dai * 997 / (1_000 * usd_per_eth);
                self.tx.legs.push((Leg::Token(USDC), Who::Exploiter, Who::Venue(0), HACK_USDC));
                self.tx.legs.push((Leg::Token(DAI), Who::Venue(0), Who::Pair(DAI), dai));
                self.tx.logs.push(Log {
                    after: 2,
                    emitter: Who::Venue(0),
                    kind: Kind::Swap(Venue::Curve),
                    sender: Who::Router,
                    recipient: Who::Router,
                    coins: (1, 0),
                    amount_in: HACK_USDC,
                    amount_out: dai,
                });
                self.tx.legs.push((Leg::Internal, Who::Pair(DAI), Who::Router, eth));
                self.swap_log(3, Who::Pair(DAI), Who::Router, dai, eth);
                self.tx.legs.push((Leg::Internal, Who::Router, payee, eth));
                self.tx.truth = Truth::Swap {
                    path: Path::Usdc,
                    payer: Who::Exploiter,
                    sold: (Asset::Token(USDC), HACK_USDC),
                    payee,
                    bought: (Asset::Eth, eth),
                };
                self.launder_swapped(payee, eth, Path::Usdc);
            }
            Heist::Wrap(wrap) => {
                // blockchain-etl has no token transfer for a deposit: only the
                // ether sent and WETH's Deposit log.
                self.start(Who::Exploiter, Who::Token(WETH), wrap, Heist::WRAP_GAS, Some(0));
                self.tx.gas_price = self.heist_prices[2];
                self.tx.logs.push(Log {
                    after: 0,
                    emitter: Who::Token(WETH),
                    kind: Kind::Wrap,
                    sender: Who::Exploiter,
                    recipient: Who::Exploiter,
                    coins: (0, 0),
                    amount_in: wrap,
                    amount_out: wrap,
                });
                let after = 1 + self.rng.below(3);
                self.schedule(after, Due::Heist(Heist::WethToSteth(wrap)));
            }
            Heist::WethToSteth(wrap) => {
                // stETH at a small discount to ether; the exploiter is payer and payee.
                let steth = wrap * (9_980 + u128::from(self.rng.below(15))) / 10_000;
                self.start(Who::Exploiter, Who::Router, 0, Heist::WETH_STETH_GAS, Some(5));
                self.tx.gas_price = self.heist_prices[3];
                self.tx.legs.push((Leg::Token(WETH), Who::Exploiter, Who::Venue(1), wrap));
                self.tx.legs.push((Leg::Token(STETH), Who::Venue(1), Who::Exploiter, steth));
                self.tx.logs.push(Log {
                    after: 2,
                    emitter: Who::Venue(1),
                    kind: Kind::Swap(Venue::UniswapV3),
                    sender: Who::Router,
                    recipient: Who::Exploiter,
                    coins: (0, 0),
                    amount_in: wrap,
                    amount_out: steth,
                });
                self.tx.truth = Truth::Swap {
                    path: Path::Steth,
                    payer: Who::Exploiter,
                    sold: (Asset::Eth, wrap),
                    payee: Who::Exploiter,
                    bought: (Asset::Token(STETH), steth),
                };
                let after = 30 + self.rng.below(90);
                self.schedule(after, Due::Heist(Heist::StethToEth(steth)));
            }
            Heist::StethToEth(steth) => {
                // Straight into the stETH pool, which pays ether (as Curve's
                // does) to a fresh wallet; stETH traded 1-2% under ether in 2022.
                let payee = self.fresh();
                let eth = steth * (9_800 + u128::from(self.rng.below(190))) / 10_000;
                self.start(Who::Exploiter, Who::Pair(STETH), 0, Heist::STETH_ETH_GAS, Some(4));
                self.tx.gas_price = self.heist_prices[4];
                self.tx.legs.push((Leg::Token(STETH), Who::Exploiter, Who::Pair(STETH), steth));
                self.tx.legs.push((Leg::Internal, Who::Pair(STETH), payee, eth));
                self.tx.logs.push(Log {
                    after: 2,
                    emitter: Who::Pair(STETH),
                    kind: Kind::Swap(Venue::Curve),
                    sender: Who::Exploiter,
                    recipient: payee,
                    coins: (1, 0),
                    amount_in: steth,
                    amount_out: eth,
                });
                self.tx.truth = Truth::Swap {
                    path: Path::Steth,
                    payer: Who::Exploiter,
                    sold: (Asset::Token(STETH), steth),
                    payee,
                    bought: (Asset::Eth, eth),
                };
                self.launder_swapped(payee, eth, Path::Steth);
            }
        }
    }

    /// One laundering step. The exploiter sends a chunk to a fresh wallet at
    /// a time. A chain wallet peels 2-10% off to an exchange deposit address
    /// (60%), the mixer (20%, one whole note) or a counterparty (20%), then
    /// passes the rest to a fresh hop; below 5 ether it cashes out at an
    /// exchange. Wallets never overdraw: they pay their fees from what they hold.
    fn launder(&mut self, mut w: Wallet) {
        self.launder_step(&mut w);
        if let Some(path) = w.path {
            let service = match self.tx.to {
                Who::Deposit(e, _) => Some(Who::Hot(e)),
                Who::Pool(d) => Some(Who::Pool(d)),
                _ => None,
            };
            if let Some(service) = service {
                self.tx.truth = Truth::Delivery { path, service };
            }
        }
    }

    /// A swap's payee launders what it got as the exploiter did the rest:
    /// a few fresh wallets, each running a peel chain.
    fn launder_swapped(&mut self, payee: Who, eth: u128, path: Path) {
        let splits = 2 + self.rng.below(3);
        let after = 1 + self.rng.below(10);
        let w = Wallet { who: payee, held: eth, splits, chunk: eth / u128::from(splits), forward: false, path: Some(path) };
        self.schedule(after, Due::Launder(w));
    }

    fn launder_step(&mut self, w: &mut Wallet) {
        let path = w.path;
        let gas_price = self.gas_price();
        let fee = 21_000 * gas_price;
        let spendable = w.held.saturating_sub(fee);
        if w.splits > 0 {
            let to = self.fresh();
            let chunk = if w.splits == 1 { spendable } else { w.chunk.min(spendable) };
            self.start(w.who, to, chunk, 21_000, None);
            self.tx.gas_price = gas_price;
            w.held = spendable - chunk;
            w.splits -= 1;
            if w.splits > 0 {
                let after = 1 + self.rng.below(4);
                self.schedule(after, Due::Launder(*w));
            }
            let after = 10 + self.rng.below(300);
            self.schedule(after, Due::Launder(Wallet { who: to, held: chunk, splits: 0, chunk: 0, forward: false, path }));
            return;
        }
        if w.forward {
            let to = self.fresh();
            self.start(w.who, to, spendable, 21_000, None);
            self.tx.gas_price = gas_price;
            let after = 1 + self.rng.below(40);
            self.schedule(after, Due::Launder(Wallet { who: to, held: spendable, splits: 0, chunk: 0, forward: false, path }));
            return;
        }
        let customer = self.rng.below(self.params.users);
        let exchange = Who::Deposit(self.rng.below(self.params.exchanges), customer);
        if w.held < 5 * ETH {
            self.start(w.who, exchange, spendable, 21_000, None);
            self.tx.gas_price = gas_price;
            self.sweep_later(exchange, spendable);
            return;
        }
        let peel = w.held * (2 + u128::from(self.rng.below(9))) / 100;
        let roll = self.rng.below(10);
        if roll < 2 {
            let d = DENOMINATIONS.iter().rposition(|&den| den <= peel).unwrap_or(0);
            self.start(w.who, Who::Pool(d as u8), DENOMINATIONS[d], 1_000_000, Some(8));
            let after = 300 + self.rng.below(50_000);
            self.schedule(after, Due::MixerPayout(d as u8));
        } else if roll < 4 {
            let to = self.user();
            self.start(w.who, to, peel, 21_000, None);
        } else {
            self.start(w.who, exchange, peel, 21_000, None);
            self.sweep_later(exchange, peel);
        }
        let spent = self.tx.value + self.tx.fee();
        let after = self.rng.below(4);
        self.schedule(after, Due::Launder(Wallet { who: w.who, held: w.held - spent, splits: 0, chunk: 0, forward: true, path }));
    }

    fn sweep_later(&mut self, dep: Who, v: u128) {
        if let Who::Deposit(e, k) = dep {
            let pending = self.unswept.entry((e, k)).or_insert(0);
            let first = *pending == 0;
            *pending += v;
            if first {
                let after = 1 + self.rng.below(40);
                self.schedule(after, Due::Sweep(e, k));
            }
        }
    }
}
