//! The §7 ledger of a store (ADR 0012): every balance as `--follow swaps`
//! counts it (WETH read as ETH, a followed swap's payer and payee moved by
//! their net changes), kept beside the store's generation so that a
//! follow trace can skip every event between addresses that hold no taint.
//!
//! The store's own sender-balance column counts each asset apart and each
//! leg on its own; the two differ wherever WETH is held or a swap's net
//! differs from its legs. The ledger is written by the first full follow
//! sweep over the store's events (a by-product: the sweep keeps these
//! balances anyway) into `DIR/follow-ledger`, keyed by the hash of the
//! manifest's events identity: a label import (a new generation, the same
//! events) keeps it, an append or a compaction leaves it stale. A ledger
//! that does not match the store's events or its own checksum is ignored
//! and written again; a store directory that cannot be written only costs
//! speed.

use crate::convert::detect::Swap;
use crate::model::amount::Amount;
use crate::model::{flags, sub};
use crate::store::{Balances, Narrow, Store, try_cast};
use ruint::aliases::U256;
use std::io::{Seek, Write};
use std::path::PathBuf;
use xxhash_rust::xxh3::Xxh3;

/// Bumped whenever what is recorded changes meaning (the balances, or how
/// conversions are detected): a ledger of an older build is then not read.
const MAGIC: &[u8; 8] = b"CTLEDGR2";
/// Magic, seven counts and hashes, the body's checksum.
const HEADER: usize = 72;
const FILE: &str = "follow-ledger";
/// The stamp of the ledger file as it was when it last passed its checksum.
const VERIFIED: &str = "follow-ledger.verified";

/// Balances recorded by a full follow sweep.
#[derive(Default)]
pub(super) struct Recorder {
    /// Per event, its sender's balance just before it, as the store's
    /// sender-balance column keeps it (low 64 bits, the next 16, and the
    /// larger ones apart); 0 where the sweep did not send (the event moved
    /// nothing, or it is the payer's leg in a followed swap).
    lo: Vec<u64>,
    hi: Vec<u16>,
    wide: Vec<(u64, u128)>,
    /// Per followed swap, by transaction id: the payer's balance of the
    /// asset sold just before it (a swap whose payer never paid, as when its
    /// legs fall outside the store, has none).
    pub(super) payer: Vec<(u32, u128)>,
    /// The transactions of followed swaps in which a leg's sender other
    /// than the payer was short of what it sent.
    pub(super) short: Vec<u32>,
    /// What each (asset, address) holds at the end, sorted; none of 0.
    pub(super) finals: Vec<(u32, u32, u128)>,
    /// Whether the recording holds for every question: not when a window,
    /// a seed transaction or a seed inside a swap changed how balances move.
    pub(super) spoiled: bool,
}

/// A ledger read back.
pub(super) struct Ledger {
    map: memmap2::Mmap,
    n: usize,
    n_wide: usize,
    n_finals: usize,
    n_convs: usize,
    n_conv_events: usize,
    n_venues: usize,
    sum: u64,
    n_addr: usize,
    n_assets: usize,
    /// The stamp of the file mapped (its metadata when opened).
    stamp: Option<String>,
}

/// Words in a conversion record.
pub(super) const CONV: usize = 18;

/// One of the store's conversions as the sparse sweep reads it, from a
/// record of [`CONV`] words.
pub(super) struct Conv<'l> {
    /// Followable (with the payer's balance of `A` before it) or not.
    pub(super) swap: Option<(Swap, u128)>,
    /// Its events, in key order.
    pub(super) events: &'l [usize],
    /// Its venues.
    pub(super) venues: &'l [u32],
    /// The one address that pays its fees (`None`: none, or several).
    pub(super) fee_sender: Option<u32>,
    /// Whether it has fee events.
    pub(super) has_fees: bool,
    /// Whether a leg's sender other than the payer was short in it.
    pub(super) short: bool,
    /// A bit per address taking part in a leg (see [`bloom`]).
    pub(super) parties: u64,
}

/// The first words of a conversion record.
pub(super) struct Summary {
    /// The payer (of a followable one).
    pub(super) payer: u32,
    /// The payee (of a followable one).
    pub(super) payee: u32,
    /// Whether it is ambiguous.
    pub(super) ambiguous: bool,
    /// Whether a leg's sender other than the payer was short in it.
    pub(super) short: bool,
    /// Its fees' sender: `None`, no fees; `Some(None)`, several senders.
    pub(super) fee: Option<Option<u32>>,
    /// A bit per address taking part in a leg (see [`bloom`]).
    pub(super) parties: u64,
}

/// The bit of address `x` in a 64-bit filter.
pub(super) fn bloom(x: u32) -> u64 {
    1 << (u64::from(x).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

fn path(store: &Store) -> PathBuf {
    store.dir.join(FILE)
}

/// Remove temporary ledgers that processes no longer running left (killed
/// while writing).
fn remove_stale(store: &Store) {
    let Ok(rd) = std::fs::read_dir(&store.dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&format!("{FILE}.")).filter(|r| r.ends_with(".tmp")).and_then(|r| r.split('.').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What ties a ledger to the store's events: the hash of
/// `Manifest::events_identity` (so a label import keeps it).
fn manifest_hash(store: &Store) -> Option<u64> {
    Some(xxhash_rust::xxh3::xxh3_64(store.manifest.events_identity().as_bytes()))
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The store's conversions as [`Recorder::save`] takes them: transaction
/// id, events, venues and what they are.
pub(super) type Convs<'p> = Vec<(u32, &'p [usize], &'p [u32], Option<&'p Swap>)>;

impl Recorder {
    /// A recorder for a store of `n` events.
    pub(super) fn new(n: usize) -> Self {
        Recorder { lo: vec![0; n], hi: vec![0; n], ..Default::default() }
    }

    /// Event `i`'s sender held `b` (`u128::MAX`: does not fit) before it.
    #[inline]
    pub(super) fn put(&mut self, i: usize, b: u128) {
        let x = b.min(Balances::LIMIT);
        self.lo[i] = x as u64;
        self.hi[i] = (x >> 64) as u16;
        if (Balances::LIMIT..u128::MAX).contains(&b) {
            self.wide.push((i as u64, b));
        }
    }

    /// Write the ledger of `store`'s generation, with the store's
    /// conversions: a new file renamed over, so a reader never sees half of
    /// one. Nothing is written where a count passes its field or the store
    /// cannot be written: the ledger only saves time.
    pub(super) fn save(mut self, store: &Store, mut convs: Convs<'_>) {
        // A name of its own: the cases of a plan and the server's requests
        // may write in one process at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let k = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        remove_stale(store);
        let tmp = store.dir.join(format!("{FILE}.{}.{k}.tmp", std::process::id()));
        if self.write(store, &tmp, &mut convs).is_none() || std::fs::rename(&tmp, path(store)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn write(&mut self, store: &Store, tmp: &std::path::Path, convs: &mut Convs<'_>) -> Option<()> {
        let hash = manifest_hash(store)?;
        self.wide.sort_unstable();
        self.payer.sort_unstable_by_key(|p| p.0);
        self.short.sort_unstable();
        let n = self.lo.len();
        let mut f = Sink { w: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(tmp).ok()?), h: Xxh3::new(), len: 0 };
        f.w.write_all(&[0u8; HEADER]).ok()?;
        f.put(bytemuck::cast_slice(&self.lo))?;
        f.put(bytemuck::cast_slice(&self.hi))?;
        f.pad()?;
        for &(i, b) in &self.wide {
            f.put(&i.to_le_bytes())?;
            f.put(&b.to_le_bytes())?;
        }
        for &(a, x, b) in &self.finals {
            f.put(&(u64::from(a) << 32 | u64::from(x)).to_le_bytes())?;
            f.put(&b.to_le_bytes())?;
        }
        convs.sort_unstable_by_key(|c| c.1[0]);
        let ev = store.events();
        let (mut n_events, mut n_venues) = (0usize, 0usize);
        for &(tx, events, venues, swap) in convs.iter() {
            let mut w = [0u64; CONV];
            w[0] = events[0] as u64;
            w[1] = u64::from(tx) | u64::from(swap.is_none()) << 32 | u64::from(self.short.binary_search(&tx).is_ok()) << 33;
            w[2] = u64::from(u32::try_from(n_events).ok()?) | u64::from(u32::try_from(events.len()).ok()?) << 32;
            w[3] = u64::from(u32::try_from(n_venues).ok()?) | u64::from(u32::try_from(venues.len()).ok()?) << 32;
            if let Some(s) = swap {
                w[4] = u64::from(s.payer) | u64::from(s.payee) << 32;
                w[5] = u64::from(s.sold.0) | u64::from(s.bought.0) << 32;
                w[6..10].copy_from_slice(s.sold.1.0.as_limbs());
                w[10..14].copy_from_slice(s.bought.1.0.as_limbs());
                let b = self.payer.binary_search_by_key(&tx, |p| p.0).map_or(u128::MAX, |k| self.payer[k].1);
                w[14] = b as u64;
                w[15] = (b >> 64) as u64;
            }
            let mut fee: Option<Option<u32>> = None;
            for &k in events {
                w[17] |= bloom(ev.sender(k)) | bloom(ev.receiver(k));
                if ev.flags(k) & flags::FEE != 0 || sub::class(ev.sub(k)) == sub::FEE {
                    fee = Some(match fee {
                        None => Some(ev.sender(k)),
                        Some(f) if f == Some(ev.sender(k)) => f,
                        Some(_) => None,
                    });
                }
            }
            w[16] = match fee {
                None => u64::MAX,
                Some(Some(f)) => u64::from(f),
                Some(None) => u64::from(u32::MAX),
            };
            n_events += events.len();
            n_venues += venues.len();
            f.put(bytemuck::cast_slice(&w))?;
        }
        for &(_, events, _, _) in convs.iter() {
            for &k in events {
                f.put(&(k as u64).to_le_bytes())?;
            }
        }
        for &(_, _, venues, _) in convs.iter() {
            f.put(bytemuck::cast_slice(venues))?;
        }
        f.pad()?;
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        let words =
            [hash, n as u64, self.wide.len() as u64, self.finals.len() as u64, convs.len() as u64, n_events as u64, n_venues as u64];
        for (k, w) in words.iter().enumerate() {
            header[8 + k * 8..16 + k * 8].copy_from_slice(&w.to_le_bytes());
        }
        let sum = checksum(&header, f.h.digest());
        header[HEADER - 8..].copy_from_slice(&sum.to_le_bytes());
        let mut file = f.w.into_inner().ok()?;
        file.seek(std::io::SeekFrom::Start(0)).ok()?;
        file.write_all(&header).ok()
    }
}

/// The checksum of a ledger: its magic and counts with its body's hash, so
/// that counts changed together (which keep the file's length) fail it too.
fn checksum(header: &[u8], body_hash: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&header[..HEADER - 8], body_hash)
}

/// The ledger file as it is written: the body's bytes hashed on the way.
struct Sink {
    w: std::io::BufWriter<std::fs::File>,
    h: Xxh3,
    len: usize,
}

impl Sink {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        self.h.update(b);
        self.len += b.len();
        self.w.write_all(b).ok()
    }

    fn pad(&mut self) -> Option<()> {
        let zeros = [0u8; 8];
        self.put(&zeros[..pad8(self.len) - self.len])
    }
}

impl Ledger {
    /// The ledger of `store`'s generation, if one was written for it and is whole.
    pub(super) fn load(store: &Store) -> Option<Ledger> {
        let f = std::fs::File::open(path(store)).ok()?;
        let stamp = f.metadata().ok().map(|m| crate::store::file_stamp(FILE, &m));
        // SAFETY: the file is only ever replaced by a rename, never written
        // in place, so the mapped bytes do not change under the reader.
        let map = unsafe { memmap2::Mmap::map(&f) }.ok()?;
        Ledger::new(store, map, stamp)
    }

    fn new(store: &Store, map: memmap2::Mmap, stamp: Option<String>) -> Option<Ledger> {
        let b = &map[..];
        if b.len() < HEADER || &b[..8] != MAGIC {
            return None;
        }
        let word = |k: usize| u64::from_le_bytes(b[8 + k * 8..16 + k * 8].try_into().expect("8 bytes"));
        let [hash, n, n_wide, n_finals, n_convs, n_conv_events, n_venues] = std::array::from_fn(word);
        let sum = u64::from_le_bytes(b[HEADER - 8..HEADER].try_into().expect("8 bytes"));
        if Some(hash) != manifest_hash(store) || n != store.len() as u64 {
            return None;
        }
        let size = |x: u64| usize::try_from(x).ok();
        let mut l = Ledger {
            map,
            n: size(n)?,
            n_wide: size(n_wide)?,
            n_finals: size(n_finals)?,
            n_convs: size(n_convs)?,
            n_conv_events: size(n_conv_events)?,
            n_venues: size(n_venues)?,
            sum: 0,
            n_addr: store.address_count(),
            n_assets: store.manifest.assets.len().max(1),
            stamp,
        };
        // Checked throughout: the counts are read from a file.
        let len =
            l.n.checked_mul(10)?
                .checked_next_multiple_of(8)?
                .checked_add(l.n_wide.checked_add(l.n_finals)?.checked_mul(24)?)?
                .checked_add(l.n_convs.checked_mul(CONV * 8)?)?
                .checked_add(l.n_conv_events.checked_mul(8)?)?
                .checked_add(l.n_venues.checked_mul(4)?.checked_next_multiple_of(8)?)?;
        if l.map.len() != HEADER.checked_add(len)? {
            return None;
        }
        l.sum = sum;
        Some(l)
    }

    /// Whether the body matches its checksum. A sweep may read the ledger
    /// meanwhile (every read is bounds-checked; [`Ledger::conv`] checks its
    /// ids), and its answer counts only if this holds.
    pub(super) fn verify(&self) -> bool {
        checksum(&self.map[..HEADER], xxhash_rust::xxh3::xxh3_64(self.body())) == self.sum
    }

    /// Whether the file passed [`Ledger::verify`] before and has not
    /// changed since (size, times and inode as then), as the store trusts
    /// its segments (`Store::verify`): hashing the ledger costs a large
    /// share of a sparse sweep, and every trace reads it.
    pub(super) fn trusted(&self, store: &Store) -> bool {
        self.stamp.is_some() && std::fs::read_to_string(store.dir.join(VERIFIED)).ok() == self.stamp
    }

    /// Record that the file passed [`Ledger::verify`] (a cache: a failure
    /// to record only costs a later check).
    pub(super) fn mark_verified(&self, store: &Store) {
        let Some(stamp) = &self.stamp else { return };
        // Named as the ledger's own temporary files, so `remove_stale` clears one a killed process left.
        let tmp = store.dir.join(format!("{FILE}.{}.verified.tmp", std::process::id()));
        if std::fs::write(&tmp, stamp).is_err() || std::fs::rename(&tmp, store.dir.join(VERIFIED)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn body(&self) -> &[u8] {
        &self.map[HEADER..]
    }

    fn records(&self, at: usize, count: usize) -> &[[u64; 3]] {
        let start = pad8(self.n * 10) + at * 24;
        try_cast(&self.body()[start..start + count * 24]).expect("8-aligned records")
    }

    /// The sender-balance column.
    fn column(&self) -> Balances<'_> {
        let b = self.body();
        Narrow { lo: try_cast(&b[..self.n * 8]).expect("8-aligned"), hi: try_cast(&b[self.n * 8..self.n * 10]).expect("2-aligned") }
    }

    /// The sender's balance before event `i` (`u128::MAX`: does not fit).
    #[inline]
    pub(super) fn sender(&self, i: usize) -> u128 {
        match self.column().get(i) {
            u128::MAX => {
                let w = self.records(0, self.n_wide);
                w.binary_search_by_key(&(i as u64), |r| r[0]).map_or(u128::MAX, |k| u128::from(w[k][1]) | u128::from(w[k][2]) << 64)
            }
            b => b,
        }
    }

    /// What each of `keys` held at the end (`asset << 32 | addr`, sorted):
    /// one walk over the finals, which the poison sweep's many poisoned
    /// addresses would otherwise each search at random.
    pub(super) fn fins(&self, keys: &[u64]) -> Vec<u128> {
        let f = self.records(self.n_wide, self.n_finals);
        let mut at = 0usize;
        keys.iter()
            .map(|&key| {
                at += f[at..].partition_point(|r| r[0] < key);
                f.get(at).filter(|r| r[0] == key).map_or(0, |r| u128::from(r[1]) | u128::from(r[2]) << 64)
            })
            .collect()
    }

    fn conv_start(&self) -> usize {
        pad8(self.n * 10) + (self.n_wide + self.n_finals) * 24
    }

    /// The conversion records, by first event.
    pub(super) fn conv_records(&self) -> &[[u64; CONV]] {
        let start = self.conv_start();
        try_cast(&self.body()[start..start + self.n_convs * CONV * 8]).expect("8-aligned records")
    }

    /// What tells a conversion that no taint can reach, from the first
    /// words of its record (ids unchecked: [`Ledger::conv`] checks them).
    #[inline]
    pub(super) fn conv_summary(w: &[u64; CONV]) -> Summary {
        Summary {
            payer: w[4] as u32,
            payee: (w[4] >> 32) as u32,
            ambiguous: w[1] >> 32 & 1 != 0,
            short: w[1] >> 33 & 1 != 0,
            fee: match w[16] {
                u64::MAX => None,
                f if f >= u64::from(u32::MAX) => Some(None),
                f => Some(Some(f as u32)),
            },
            parties: w[17],
        }
    }

    /// Conversion record `w` read; `None` if an id in it is out of range
    /// (only a damaged ledger has one, and its checksum fails).
    pub(super) fn conv(&self, w: &[u64; CONV]) -> Option<Conv<'_>> {
        let lo = |x: u64| x as u32 as usize;
        let hi = |x: u64| (x >> 32) as usize;
        let ev_start = self.conv_start() + self.n_convs * CONV * 8;
        let ven_start = ev_start + self.n_conv_events * 8;
        let (e0, en, v0, vn) = (lo(w[2]), hi(w[2]), lo(w[3]), hi(w[3]));
        if e0 + en > self.n_conv_events || v0 + vn > self.n_venues || en == 0 {
            return None;
        }
        let events: &[usize] = try_cast(&self.body()[ev_start + e0 * 8..ev_start + (e0 + en) * 8]).ok()?;
        let venues: &[u32] = try_cast(&self.body()[ven_start + v0 * 4..ven_start + (v0 + vn) * 4]).ok()?;
        let m = Self::conv_summary(w);
        let (sold, bought) = (lo(w[5]), hi(w[5]));
        let addr = |x: u32| (x as usize) < self.n_addr;
        if events.iter().any(|&k| k >= self.n)
            || !venues.iter().all(|&v| addr(v))
            || !addr(m.payer)
            || !addr(m.payee)
            || !m.fee.flatten().is_none_or(addr)
            || sold >= self.n_assets
            || bought >= self.n_assets
        {
            return None;
        }
        let amount = |k: usize| Amount(U256::from_limbs([w[k], w[k + 1], w[k + 2], w[k + 3]]));
        let swap = (!m.ambiguous).then(|| {
            let s = Swap { payer: m.payer, sold: (sold as u32, amount(6)), payee: m.payee, bought: (bought as u32, amount(10)) };
            (s, u128::from(w[14]) | u128::from(w[15]) << 64)
        });
        Some(Conv { swap, events, venues, fee_sender: m.fee.flatten(), has_fees: m.fee.is_some(), short: m.short, parties: m.parties })
    }
}
