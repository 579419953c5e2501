//! The transfer store: a directory of flat little-endian columns, one event per
//! row, sorted by the key of TRACING.md §1.
//!
//! Layout (see docs/adr/0002-store-format.md):
//! `DIR/CURRENT` names the live generation and the checksum of its manifest;
//! `DIR/gen-NNNNNN/` holds `manifest.json` and the column files. A write builds
//! a new generation beside the live one and switches `CURRENT` with one atomic
//! rename, so a failed or killed ingest leaves the previous store as it was.

mod append;
mod balances;
mod bitcoin;
pub mod builder;
mod columns;
pub mod compact;
pub mod crash;
mod error;
pub mod generation;
pub mod hashindex;
pub mod idtable;
mod logs;
mod memos;
pub mod packed;
pub mod part;
pub mod segment;
pub mod tokens;
pub mod write;

pub(crate) use columns::as_bytes as columns_as_bytes;
pub use columns::{Balances, BlockRun, Column, EventColumns, High, Narrow, PartyCursor, RunCursor, Values};
pub(crate) use columns::{Pod, cast, try_cast};
pub use error::StoreError;

use crate::model::amount::Amount;
use crate::model::{Chain, OrderBy, Pseudo};
use ruint::aliases::U256;
use segment::{Part, Region, Run, SegmentInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 10;
/// Marks a store manifest.
pub const FORMAT_NAME: &str = "chaintrace-store";

/// A loaded input file, so the same file is not loaded twice.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoadedFile {
    /// The path as given.
    pub path: String,
    /// xxh3-128 of the file's bytes, hex.
    pub content_hash: String,
    /// What it was read as (`etl/transactions`, `transfers`, ...).
    pub table: String,
    /// Data rows read.
    pub rows: u64,
    /// Events it added.
    pub events: u64,
    /// Rows skipped as bad under `--skip-bad-rows`.
    pub skipped_rows: u64,
    /// Events already in the store (same transaction and position).
    pub duplicates: u64,
    /// Read only through this block so far: a bounded-memory ingest of the
    /// file was stopped between two windows, and the next ingest of it goes
    /// on from the block after (`ingest::window`). Absent once it is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_block: Option<u64>,
}

/// Fee coverage: how many transactions have their fee modelled.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeeCoverage {
    /// Transactions whose fee is an event in the store.
    pub known_txs: u64,
    /// Transactions whose fee is not known.
    pub unknown_txs: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this build.
    pub version: u32,
    /// The chain.
    pub chain: Chain,
    /// What orders events.
    pub order_by: Option<OrderBy>,
    /// Event count.
    pub events: u64,
    /// Address table size (pseudo addresses included).
    pub address_table: u64,
    /// Transaction table size.
    pub tx_table: u64,
    /// Bitcoin inputs.
    pub inputs: u64,
    /// Recognised logs (`Column::LogTx`; 0 in stores written before them).
    #[serde(default)]
    pub logs: u64,
    /// Memos: Bitcoin `OP_RETURN` data, THORChain router log memos or bridge log fields
    /// (`Column::MemoTx`; 0 in stores written before them).
    #[serde(default)]
    pub memos: u64,
    /// Asset names by id: the native coin first, then token contracts.
    pub assets: Vec<String>,
    /// Files loaded, in order.
    pub files: Vec<LoadedFile>,
    /// Rows skipped as bad, over all ingests.
    pub skipped_rows: u64,
    /// Fee coverage.
    pub fees: FeeCoverage,
    /// Label rows imported.
    pub labels: u64,
    /// Each column's parts, in order (see [`segment`]).
    pub columns: BTreeMap<String, Vec<Part>>,
    /// The segment files the columns live in, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Runs of the address index, oldest first.
    pub addr_runs: Vec<Run>,
    /// Runs of the transaction-hash index, oldest first; run `k` indexes the
    /// transactions after those of the runs before it.
    pub tx_runs: Vec<Run>,
    /// Runs of final-balance records, oldest first; a newer record wins.
    pub balance_runs: Vec<Run>,
    /// The program that wrote it.
    pub written_by: String,
    /// The store's events named: a digest chained over every write that
    /// changed them (made from the one before, the cut and the checksums
    /// of every column part), kept by label imports and compactions. Empty
    /// in stores written before it.
    #[serde(default)]
    pub lineage: String,
    /// The `lineage` and event count after each earlier append since the
    /// store's events were last rewritten (a splice or a rewrite clears
    /// them), oldest first, the last [`MARKS`] of them: what was derived
    /// from a prefix of the events (the exposure index's sweep state) can
    /// be taken up when its mark is here.
    #[serde(default)]
    pub marks: Vec<Mark>,
}

/// The marks a manifest keeps.
pub const MARKS: usize = 1024;

/// The store's events as they were after one append.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mark {
    /// Event count.
    pub events: u64,
    /// [`Manifest::lineage`] then.
    pub lineage: String,
}

impl Manifest {
    /// The lineage after `before` cut at event `cut` (the old event count
    /// for an append): a digest of both and of every column part's
    /// checksum, so that it names these events, not a count of writes.
    pub(crate) fn new_lineage(&self, before: &str, cut: u64) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(before.as_bytes());
        h.update(&cut.to_le_bytes());
        for (name, parts) in &self.columns {
            h.update(name.as_bytes());
            for p in parts {
                h.update(p.xxh3.as_bytes());
            }
        }
        format!("{:016x}", h.digest())
    }

    /// Whether the store's events begin with those named by `lineage` and
    /// `events` (the events now, or after an earlier append of the marks).
    pub fn holds(&self, lineage: &str, events: u64) -> bool {
        !lineage.is_empty()
            && ((lineage == self.lineage && events == self.events) || self.marks.iter().any(|k| k.events == events && k.lineage == lineage))
    }

    /// What identifies the store's events and the columns derived from
    /// them: the manifest without its labels, the files it was loaded
    /// from and the writer. A label import (a new generation, the events
    /// as they were) keeps it; an append or a compaction changes it. Caches
    /// of what only the events decide (the follow sweep's ledger) key on it.
    pub fn events_identity(&self) -> String {
        let mut m = self.clone();
        m.labels = 0;
        m.columns.remove(Column::Labels.file());
        m.files.clear();
        m.skipped_rows = 0;
        m.written_by.clear();
        // Each part names its segment and checksum: the list of segment
        // files adds only the label import's own.
        m.segments.clear();
        serde_json::to_string(&m).expect("a manifest serialises")
    }

    /// The manifest of no store: nothing listed (what a writer recovering
    /// a directory without `CURRENT` keeps).
    pub(crate) fn empty() -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            chain: Chain::Ethereum,
            order_by: None,
            events: 0,
            address_table: 0,
            tx_table: 0,
            inputs: 0,
            logs: 0,
            memos: 0,
            assets: Vec::new(),
            files: Vec::new(),
            skipped_rows: 0,
            fees: FeeCoverage::default(),
            labels: 0,
            columns: BTreeMap::new(),
            segments: Vec::new(),
            addr_runs: Vec::new(),
            tx_runs: Vec::new(),
            balance_runs: Vec::new(),
            written_by: String::new(),
            lineage: String::new(),
            marks: Vec::new(),
        }
    }
}

/// An open, memory-mapped store.
pub struct Store {
    /// The store directory.
    pub dir: PathBuf,
    /// The live generation directory.
    pub gen_dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Each column's region, by its position in [`Column::ALL`]: a lookup
    /// per value read must not search by name.
    regions: Vec<Region>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Whether `dir` holds a store.
pub fn exists(dir: &Path) -> bool {
    dir.join("CURRENT").is_file()
}

/// What identifies segment file `name` as it is now: size, modification
/// and change times, inode.
pub(crate) fn segment_stamp(dir: &Path, name: &str) -> Option<String> {
    Some(file_stamp(name, &std::fs::metadata(dir.join(name)).ok()?))
}

/// [`segment_stamp`] of file `name` from its metadata (an open file's,
/// so that the stamp is of the file read, not of what the path names later).
pub(crate) fn file_stamp(name: &str, m: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{name} {} {} {} {} {} {}", m.len(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec(), m.ino())
}

/// Record segment `name`, just written and synced by the caller, as
/// verified (a cache: a failure to record only costs a later re-check).
/// Lines of segments `live` no longer lists are dropped, so the file stays
/// one line a live segment.
pub(crate) fn mark_verified(dir: &Path, name: &str, live: &Manifest) {
    let Some(stamp) = segment_stamp(dir, name) else { return };
    let listed: std::collections::HashSet<&str> = live.segments.iter().map(|s| s.name.as_str()).collect();
    let old = std::fs::read_to_string(dir.join("VERIFIED")).unwrap_or_default();
    let mut text: String =
        old.lines().filter(|l| l.split(' ').next().is_some_and(|n| n != name && listed.contains(n))).map(|l| format!("{l}\n")).collect();
    text.push_str(&stamp);
    text.push('\n');
    let tmp = dir.join("VERIFIED.tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join("VERIFIED"));
    }
}

/// The live generation's name and manifest, read and checked against
/// `CURRENT` (`None`: no store yet).
pub(crate) fn current_manifest(dir: &Path) -> Result<Option<(String, Manifest)>, StoreError> {
    let current = dir.join("CURRENT");
    if !current.is_file() {
        return Ok(None);
    }
    let cur = std::fs::read_to_string(&current).map_err(io(&current))?;
    let mut parts = cur.split_whitespace();
    let (gen_name, sum) = match (parts.next(), parts.next()) {
        (Some(g), Some(s)) if g.starts_with("gen-") && !g.contains('/') => (g, s),
        _ => return Err(StoreError::Corrupt { path: current, message: "CURRENT is malformed".into() }),
    };
    let mpath = dir.join(gen_name).join("manifest.json");
    let mbytes = std::fs::read(&mpath).map_err(io(&mpath))?;
    if format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&mbytes)) != sum {
        return Err(StoreError::Corrupt { path: mpath, message: "manifest checksum does not match CURRENT".into() });
    }
    let probe: serde_json::Value =
        serde_json::from_slice(&mbytes).map_err(|e| StoreError::Corrupt { path: mpath.clone(), message: e.to_string() })?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(StoreError::Corrupt { path: mpath, message: "not a chaintrace manifest".into() });
    }
    let version = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if version != FORMAT_VERSION {
        return Err(StoreError::Version { path: dir.to_path_buf(), found: version, supported: FORMAT_VERSION });
    }
    let manifest: Manifest = serde_json::from_slice(&mbytes).map_err(|e| StoreError::Corrupt { path: mpath, message: e.to_string() })?;
    Ok(Some((gen_name.to_string(), manifest)))
}

impl Store {
    /// Open a store: reads the manifest, checks version and sizes, maps the
    /// columns. No row is parsed; column checksums are checked by
    /// [`Store::verify`]. A writer that switches `CURRENT` while we open may
    /// remove a segment we were about to map: then we open the new state.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut tries = 0;
        loop {
            let before = std::fs::read(dir.join("CURRENT")).ok();
            match Store::open_once(dir) {
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && tries < 3 && before != std::fs::read(dir.join("CURRENT")).ok() =>
                {
                    tries += 1;
                }
                r => return r,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Store, StoreError> {
        let Some((gen_name, manifest)) = current_manifest(dir)? else {
            return Err(StoreError::Missing(dir.to_path_buf()));
        };
        let gen_dir = dir.join(&gen_name);
        let mpath = gen_dir.join("manifest.json");
        let listed: std::collections::HashSet<&str> = manifest.segments.iter().map(|s| s.name.as_str()).collect();
        let mut files = std::collections::HashMap::new();
        let mut regions = Vec::with_capacity(Column::ALL.len());
        for c in Column::ALL {
            let parts = manifest.columns.get(c.file()).map_or(&[][..], Vec::as_slice);
            if let Some(p) = parts.iter().find(|p| !listed.contains(p.segment.as_str())) {
                return Err(StoreError::Corrupt {
                    path: mpath,
                    message: format!("column {} names segment {} the manifest does not list", c.file(), p.segment),
                });
            }
            regions.push(Region::map(dir, parts, &mut files)?);
        }
        if let Some(name) = manifest.columns.keys().find(|n| !Column::ALL.iter().any(|c| c.file() == n.as_str())) {
            return Err(StoreError::Corrupt { path: mpath, message: format!("unknown column {name}") });
        }
        // Segments never change once written: a length other than the one
        // the manifest wrote down is a file cut short (a full disk, a bad
        // copy) or grown, even where only padding was lost.
        for seg in &manifest.segments {
            let path = dir.join(&seg.name);
            let len = match files.get(&seg.name) {
                Some(&(_, len)) => len,
                None => std::fs::metadata(&path).map_err(|source| StoreError::Io { path: path.clone(), source })?.len(),
            };
            if len != seg.bytes {
                return Err(StoreError::Corrupt { path, message: format!("{len} bytes where the manifest wrote {}", seg.bytes) });
            }
        }
        let store = Store { dir: dir.to_path_buf(), gen_dir, manifest, regions };
        store.advise_lookups();
        store.check_lengths()?;
        Ok(store)
    }

    /// Lookups (address and transaction indexes, final balances) probe
    /// these columns at random: a block's append must not map megabytes
    /// around each probe.
    fn advise_lookups(&self) {
        for c in [Column::AddrIndex, Column::AddrBytes, Column::TxHashIndex, Column::TxHashes, Column::FinalBalances] {
            self.regions[c as usize].advise(true);
        }
    }

    /// About to look up `n` addresses at random: where that would fault in a
    /// good share of the address index and bytes a page at a time (a
    /// lookup is a probe of each, on pages read at random, with no pages
    /// mapped around a fault), map the two columns whole in one call. On
    /// the wide set at 10^7 events (309,000 stop labels) reading the stop
    /// rules took 0.145-0.158 s with it and 0.159-0.166 s without, three
    /// runs alternating; at 10^6 the two were the same.
    pub fn prepare_address_lookups(&self, n: usize) {
        let cols = [Column::AddrIndex, Column::AddrBytes];
        let pages: usize = cols.iter().map(|&c| self.bytes(c).len().div_ceil(4096)).sum();
        // A fault costs about ten pages mapped by one call.
        if n.saturating_mul(2).saturating_mul(10) >= pages {
            cols.iter().for_each(|&c| self.regions[c as usize].populate());
        }
    }

    /// Drop the lookup columns' pages from the resident set between the
    /// phases of an append: a large append touches most of them (every new
    /// transaction probes the hash tables, every old address its final
    /// balance), and at 10^8-10^9 events stored they would otherwise add
    /// up, phase after phase, to gigabytes of resident (if clean) memory.
    pub(crate) fn release_lookups(&self) {
        for c in [Column::AddrIndex, Column::AddrBytes, Column::TxHashIndex, Column::TxHashes, Column::FinalBalances] {
            self.regions[c as usize].release();
        }
    }

    /// Drop every column's pages from the resident set: a part's writer
    /// has read what it needs of the whole store, whose pages (clean,
    /// kept by the page cache) would otherwise count beside the part's
    /// own columns in memory, phase after phase.
    pub(crate) fn release_pages(&self) {
        self.regions.iter().for_each(|r| r.release());
    }

    /// Run `scan`, which reads whole columns in order (a rewrite, a
    /// compaction, a checksum pass, a preload), with read-ahead on every
    /// column, then advise the lookup columns random again.
    pub(crate) fn scanning<T>(&self, scan: impl FnOnce() -> T) -> T {
        self.regions.iter().for_each(|r| r.advise(false));
        let out = scan();
        self.advise_lookups();
        out
    }

    fn check_lengths(&self) -> Result<(), StoreError> {
        let m = &self.manifest;
        let sum = |runs: &[Run]| runs.iter().map(|r| r.count).sum::<u64>();
        let corrupt = |c: Column, message: String| StoreError::Corrupt {
            path: self.gen_dir.join("manifest.json"),
            message: format!("{}: {message}", c.file()),
        };
        if sum(&m.addr_runs) != m.address_table.saturating_sub(Pseudo::ALL.len() as u64) {
            return Err(corrupt(Column::AddrIndex, "address runs do not cover the address table".into()));
        }
        if sum(&m.tx_runs) != m.tx_table {
            return Err(corrupt(Column::TxHashIndex, "transaction runs do not cover the transaction table".into()));
        }
        // Block runs start at event 0 and end inside the events, so a lookup
        // by event index always finds one; records read by binary search
        // are whole. Their order is the checksums' to guard (an open must
        // not read a column through: it is on every append's path).
        let runs: &[BlockRun] = columns::try_cast(self.bytes(Column::BlockRuns)).map_err(|e| corrupt(Column::BlockRuns, e))?;
        let covers = match (runs.first(), runs.last()) {
            (None, _) | (_, None) => m.events == 0,
            (Some(a), Some(z)) => a.first == 0 && z.first < m.events,
        };
        if !covers {
            return Err(corrupt(Column::BlockRuns, "block runs do not cover the events".into()));
        }
        columns::try_cast::<[u64; 3]>(self.bytes(Column::BalanceWide)).map_err(|e| corrupt(Column::BalanceWide, e))?;
        columns::try_cast::<[u64; 2]>(self.bytes(Column::TxIndexOther)).map_err(|e| corrupt(Column::TxIndexOther, e))?;
        if !self.bytes(Column::BigValues).len().is_multiple_of(40) {
            return Err(corrupt(Column::BigValues, "not whole 40-byte records".into()));
        }
        for (c, f) in Column::PACKED {
            let frames: &[packed::Frame] = columns::try_cast(self.bytes(f)).map_err(|e| corrupt(f, e))?;
            if frames.len() as u64 == m.events.div_ceil(packed::BLOCK as u64) {
                packed::check_end(frames, self.bytes(c), m.events).map_err(|e| corrupt(c, e))?;
            }
        }
        for c in Column::ALL {
            let want = match c {
                Column::TxHashIndex => Some(hashindex::slots_of(&m.tx_runs) * 4),
                Column::AddrIndex => Some(hashindex::slots_of(&m.addr_runs) * 4),
                Column::FinalBalances => Some(sum(&m.balance_runs) * 24),
                _ => c.expected_len(m),
            };
            let got = self.bytes(c).len() as u64;
            if let Some(want) = want
                && got != want
            {
                return Err(corrupt(c, format!("{got} bytes, expected {want}")));
            }
        }
        Ok(())
    }

    /// Check every column against its checksums, except the segments that
    /// were checked before and have not changed since (same size,
    /// modification and change times, inode: their lines in the `VERIFIED`
    /// stamp file). Hashing a 10^8-event store takes longer than tracing
    /// it, and every command opens it; an append adds one segment, so only
    /// that one is hashed. [`Store::verify_all`] always hashes everything.
    pub fn verify(&self) -> Result<(), StoreError> {
        let path = self.dir.join("VERIFIED");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let known: std::collections::HashSet<&str> = old.lines().collect();
        let stamps: Vec<Option<String>> = self.manifest.segments.iter().map(|s| self.stamp(&s.name)).collect();
        let todo: std::collections::HashSet<&str> = self
            .manifest
            .segments
            .iter()
            .zip(&stamps)
            .filter(|(_, st)| st.as_deref().is_none_or(|st| !known.contains(st)))
            .map(|(s, _)| s.name.as_str())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        self.scanning(|| self.verify_segments(|seg| todo.contains(seg)))?;
        // A cache: a store we may not write is simply checked every time.
        let text: String = stamps.iter().flatten().map(|s| format!("{s}\n")).collect();
        let tmp = self.dir.join("VERIFIED.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        Ok(())
    }

    /// What identifies a segment file as it is now.
    fn stamp(&self, name: &str) -> Option<String> {
        segment_stamp(&self.dir, name)
    }

    /// Check every column against its checksums, and every frame of the
    /// bit-packed columns (an open checks only the last).
    pub fn verify_all(&self) -> Result<(), StoreError> {
        self.scanning(|| self.verify_segments(|_| true))?;
        for (c, f) in Column::PACKED {
            packed::check(packed::frames(self.bytes(f)), self.bytes(c), self.manifest.events)
                .map_err(|e| StoreError::Corrupt { path: self.gen_dir.join("manifest.json"), message: format!("{}: {e}", c.file()) })?;
        }
        Ok(())
    }

    /// Check the parts that lie in the segments `which` picks.
    fn verify_segments(&self, which: impl Fn(&str) -> bool + Sync) -> Result<(), StoreError> {
        use rayon::prelude::*;
        let mut jobs: Vec<(&Part, &[u8])> = Vec::new();
        for (name, parts) in &self.manifest.columns {
            let bytes = Column::ALL.iter().position(|c| c.file() == name).map_or(&[][..], |k| self.regions[k].bytes());
            let mut at = 0usize;
            for p in parts {
                let end = at + p.bytes as usize;
                if which(&p.segment) {
                    jobs.push((p, &bytes[at..end]));
                }
                at = end;
            }
        }
        jobs.par_iter().try_for_each(|(p, bytes)| {
            if format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)) != p.xxh3 {
                return Err(StoreError::Corrupt {
                    path: self.dir.join(&p.segment),
                    message: format!("checksum mismatch in the part at offset {}", p.offset),
                });
            }
            Ok(())
        })
    }

    /// Raw bytes of a column (empty when the column has no rows).
    pub fn bytes(&self, c: Column) -> &[u8] {
        self.regions[c as usize].bytes()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.manifest.events as usize
    }

    /// Whether the store has no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The event columns as typed slices.
    pub fn events(&self) -> EventColumns<'_> {
        EventColumns {
            runs: columns::cast(self.bytes(Column::BlockRuns)),
            tx_index_by_tx: columns::cast(self.bytes(Column::TxIndex)),
            tx_index_other: columns::cast(self.bytes(Column::TxIndexOther)),
            sub: self.packed(Column::Sub, Column::SubFrames),
            len: self.len(),
            from: self.packed(Column::From, Column::FromFrames),
            to: self.packed(Column::To, Column::ToFrames),
            asset: self.packed(Column::Asset, Column::AssetFrames),
            value: Values { lo: columns::cast(self.bytes(Column::ValueLo)), hi: columns::cast(self.bytes(Column::ValueHi)) },
            tx: self.packed(Column::Tx, Column::TxFrames),
            flags: self.packed(Column::Flags, Column::FlagsFrames),
        }
    }

    fn packed(&self, c: Column, frames: Column) -> packed::Packed<'_> {
        packed::Packed::new(packed::frames(self.bytes(frames)), self.bytes(c))
    }

    /// The exact value of event `i`.
    pub fn value(&self, i: usize) -> Amount {
        let v = Values { lo: columns::cast(self.bytes(Column::ValueLo)), hi: columns::cast(self.bytes(Column::ValueHi)) }.get(i);
        if v != u128::MAX {
            return Amount::from_u128(v);
        }
        self.big_reads().value(i)
    }

    /// Bitcoin: the rows of transaction `tx`'s inputs in the input
    /// columns (`InTx` and the columns beside it), in input order; empty
    /// for `NO_TX` and on the account model.
    pub fn input_rows(&self, tx: u32) -> std::ops::Range<usize> {
        if tx == crate::model::NO_TX {
            return 0..0;
        }
        let in_tx: &[u32] = columns::cast(self.bytes(Column::InTx));
        in_tx.partition_point(|&t| t < tx)..in_tx.partition_point(|&t| t <= tx)
    }

    /// Each event's sender balance before it (`u128::MAX` from `get`: read
    /// it with [`Store::wide_balance`]; see [`Column::BalanceLo`]).
    pub fn sender_balances(&self) -> Balances<'_> {
        Balances { lo: columns::cast(self.bytes(Column::BalanceLo)), hi: columns::cast(self.bytes(Column::BalanceHi)) }
    }

    /// What each of `addresses` (ascending) holds of `asset` after the last
    /// event (`u128::MAX`: does not fit). Each run of records is searched
    /// newest first, for the addresses no newer run has (see [`seek`]).
    pub fn final_balances(&self, asset: u32, addresses: &[u32]) -> Vec<u128> {
        let raw = self.bytes(Column::FinalBalances);
        let mut out = vec![0u128; addresses.len()];
        let mut found = vec![false; addresses.len()];
        let mut end = raw.len() / 24;
        for run in self.manifest.balance_runs.iter().rev() {
            let start = end - run.count as usize;
            let recs = &raw[start * 24..end * 24];
            end = start;
            let n = recs.len() / 24;
            let key = |r: usize| {
                let b = &recs[r * 24..r * 24 + 8];
                (u32::from_le_bytes(b[..4].try_into().expect("4 bytes")), u32::from_le_bytes(b[4..].try_into().expect("4 bytes")))
            };
            // The asset's records, then each address from the previous hit.
            let mut lo = partition(0, n, |r| key(r).0 < asset);
            let hi = partition(lo, n, |r| key(r).0 <= asset);
            for (k, &a) in addresses.iter().enumerate() {
                if found[k] {
                    continue;
                }
                let want = (asset, a);
                lo = seek(&key, lo, hi, want);
                if lo < hi && key(lo) == want {
                    out[k] = u128::from_le_bytes(recs[lo * 24 + 8..lo * 24 + 24].try_into().expect("16 bytes"));
                    found[k] = true;
                }
            }
        }
        out
    }

    /// The sender balance before event `i` where the narrow column holds
    /// the marker: from 2^80-1 up, or `u128::MAX` when it does not fit.
    pub fn wide_balance(&self, i: usize) -> u128 {
        self.big_reads().wide_balance(i)
    }

    /// Reads of the amounts kept apart from the narrow columns, for a walk
    /// over events in increasing order (see [`BigReads`]).
    pub fn big_reads(&self) -> BigReads<'_> {
        // No last answer yet: the first read searches the whole column.
        BigReads {
            values: self.bytes(Column::BigValues),
            v_at: usize::MAX,
            balances: columns::cast(self.bytes(Column::BalanceWide)),
            b_at: usize::MAX,
        }
    }

    /// Values of 2^72-1 and above, by event index, in event order.
    pub fn big_values(&self) -> Vec<(u64, U256)> {
        self.bytes(Column::BigValues)
            .chunks_exact(40)
            .map(|r| (u64::from_le_bytes(r[..8].try_into().expect("8 bytes")), U256::from_le_slice(&r[8..])))
            .collect()
    }

    /// Number of addresses in the table (pseudo addresses included).
    pub fn address_count(&self) -> usize {
        self.manifest.address_table as usize
    }

    /// The stored bytes of address `id`: the name of a pseudo address, 20
    /// bytes on Ethereum (fixed width, no offsets), the text on Bitcoin.
    pub fn address_bytes(&self, id: u32) -> &[u8] {
        let b = self.bytes(Column::AddrBytes);
        let id = id as usize;
        match self.manifest.chain {
            Chain::Bitcoin => {
                let off: &[u64] = columns::cast(self.bytes(Column::AddrOffsets));
                &b[off[id] as usize..off[id + 1] as usize]
            }
            _ if id < Pseudo::ALL.len() => {
                let start: usize = Pseudo::ALL[..id].iter().map(|p| p.name().len()).sum();
                &b[start..start + Pseudo::ALL[id].name().len()]
            }
            _ => {
                let start = columns::PSEUDO_BYTES + (id - Pseudo::ALL.len()) * 20;
                &b[start..start + 20]
            }
        }
    }

    /// Start loading where a Bitcoin address's text lies (its offsets):
    /// a batch compares texts all over a heap far larger than the cache.
    /// A no-op on the account model, whose addresses are found by position.
    pub fn prefetch_address_offsets(&self, id: u32) {
        if self.manifest.chain == Chain::Bitcoin {
            let off: &[u64] = columns::cast(self.bytes(Column::AddrOffsets));
            if let Some(o) = off.get(id as usize) {
                crate::sys::prefetch(o);
            }
        }
    }

    /// Start loading a Bitcoin address's text (its offsets loaded first,
    /// [`Store::prefetch_address_offsets`]).
    pub fn prefetch_address_bytes(&self, id: u32) {
        if self.manifest.chain == Chain::Bitcoin {
            let off: &[u64] = columns::cast(self.bytes(Column::AddrOffsets));
            if let Some(&o) = off.get(id as usize)
                && let Some(b) = self.bytes(Column::AddrBytes).get(o as usize)
            {
                crate::sys::prefetch(b);
            }
        }
    }

    /// Address `id` as reports print it: lowercase `0x` hex on Ethereum.
    pub fn address_text(&self, id: u32) -> String {
        let mut v = Vec::with_capacity(42);
        self.push_address_text(&mut v, id);
        String::from_utf8(v).expect("a name, hex digits or a UTF-8 Bitcoin address")
    }

    /// The order of two addresses' texts ([`Store::address_text`]), without
    /// making them: an Ethereum address's text is its bytes in lowercase hex
    /// and a Bitcoin address's its bytes, both in the bytes' order.
    pub fn address_text_cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        let named = Pseudo::ALL.len() as u32;
        if a >= named && b >= named {
            self.address_bytes(a).cmp(self.address_bytes(b))
        } else {
            self.address_text(a).cmp(&self.address_text(b))
        }
    }

    /// Transaction hash `id`.
    pub fn tx_hash(&self, id: u32) -> &[u8] {
        let b = self.bytes(Column::TxHashes);
        &b[id as usize * 32..id as usize * 32 + 32]
    }

    /// The label rows as stored: one line each, in import order (the
    /// `labels` module reads and writes their schema).
    pub fn label_rows(&self) -> &[u8] {
        self.bytes(Column::Labels)
    }

    /// The id of an address given as text (`0x` hex on Ethereum, any case).
    /// One parse and one lookup in the address index.
    pub fn find_address(&self, text: &str) -> Option<u32> {
        match self.manifest.chain {
            Chain::Bitcoin => self.address_id(text.as_bytes()),
            _ => self.address_id(&crate::model::text::eth_address("address", text.as_bytes()).ok()?),
        }
    }

    /// Ids of addresses given as text, keyed by that text: a lookup in the
    /// address index each. Texts that are not addresses of the store's
    /// chain, or not in it, are absent.
    pub fn find_addresses<'a>(&self, texts: impl Iterator<Item = &'a str>) -> std::collections::HashMap<String, u32> {
        texts.filter_map(|t| Some((t.to_string(), self.find_address(t)?))).collect()
    }

    /// [`Store::address_text`] appended to a byte buffer.
    pub fn push_address_text(&self, out: &mut Vec<u8>, id: u32) {
        if (id as usize) < Pseudo::ALL.len() {
            return out.extend_from_slice(Pseudo::ALL[id as usize].name().as_bytes());
        }
        let b = self.address_bytes(id);
        match self.manifest.chain {
            Chain::Bitcoin => out.extend_from_slice(String::from_utf8_lossy(b).as_bytes()),
            _ => crate::model::text::push_hex(out, "0x", b),
        }
    }

    /// [`Store::tx_text`] appended to a byte buffer.
    pub fn push_tx_text(&self, out: &mut Vec<u8>, id: u32) {
        match self.manifest.chain {
            Chain::Bitcoin => crate::model::text::push_hex(out, "", self.tx_hash(id)),
            _ => crate::model::text::push_hex(out, "0x", self.tx_hash(id)),
        }
    }

    /// A transaction hash as printed (`0x` hex on Ethereum, plain hex txid on Bitcoin).
    pub fn tx_text(&self, id: u32) -> String {
        let mut v = Vec::with_capacity(66);
        self.push_tx_text(&mut v, id);
        String::from_utf8(v).expect("hex digits")
    }
}

/// The first index in `lo..hi` where `below` turns false (true, then false).
/// The values and sender balances too large for the narrow columns, read
/// by a sweep: events come in increasing order, so each read searches
/// forward from the last one (a gallop over the records between, which
/// are few and next in memory) where [`Store::value`] searches the whole
/// column at random. On a set where a third of the values pass 2^72
/// (4,722 ETH) the whole-column searches were a third of a sweep. Any
/// order is answered exactly: a read behind the last one searches afresh.
pub struct BigReads<'s> {
    values: &'s [u8],
    v_at: usize,
    balances: &'s [[u64; 3]],
    b_at: usize,
}

impl BigReads<'_> {
    /// The exact value of event `i`, whose narrow entry is the marker.
    pub fn value(&mut self, i: usize) -> Amount {
        let raw = self.values;
        let at = |k: usize| u64::from_le_bytes(raw[k * 40..k * 40 + 8].try_into().expect("8 bytes"));
        let k = gallop(&mut self.v_at, raw.len() / 40, i as u64, at);
        if k < raw.len() / 40 && at(k) == i as u64 {
            return Amount(U256::from_le_slice(&raw[k * 40 + 8..k * 40 + 40]));
        }
        // Only a damaged column has a marker without a record, and the
        // checksums that every command verifies catch that first.
        Amount::from_u128(Values::LIMIT)
    }

    /// [`Store::wide_balance`] of event `i`.
    pub fn wide_balance(&mut self, i: usize) -> u128 {
        let recs = self.balances;
        let k = gallop(&mut self.b_at, recs.len(), i as u64, |k| recs[k][0]);
        match recs.get(k) {
            Some(r) if r[0] == i as u64 => (u128::from(r[2]) << 64) | u128::from(r[1]),
            _ => u128::MAX,
        }
    }
}

/// The first of `n` records whose `key` is not below `want`, searched
/// forward from `*at` (the answer of the last search, which it becomes),
/// or over all records if `want` lies behind it or there was none (`*at`
/// past the end).
#[inline]
fn gallop(at: &mut usize, n: usize, want: u64, key: impl Fn(usize) -> u64) -> usize {
    let start = *at;
    let found = if start > n || (start > 0 && key(start - 1) >= want) {
        partition(0, n, |k| key(k) < want)
    } else {
        let mut step = 1usize;
        let mut lo = start;
        while lo + step <= n && key(lo + step - 1) < want {
            lo += step;
            step *= 2;
        }
        partition(lo, (lo + step).min(n), |k| key(k) < want)
    };
    *at = found;
    found
}

pub(super) fn partition(mut lo: usize, mut hi: usize, below: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let m = lo + (hi - lo) / 2;
        if below(m) { lo = m + 1 } else { hi = m }
    }
    lo
}

/// The first record in `lo..hi` not below `want`, records sorted by
/// `key`, (asset, address id), and all of one asset: a guess by
/// interpolation on the address id, then a galloping search out from it.
/// Address ids are dense integers, so the guess lands within a few pages
/// of the record and the search touches those pages only, where a
/// bisection of a run of 10^7 records touches twenty (and the kernel maps
/// 64 KB around each): an append looks up every old address it touches.
fn seek(key: &impl Fn(usize) -> (u32, u32), lo: usize, hi: usize, want: (u32, u32)) -> usize {
    if lo >= hi || want <= key(lo) {
        return lo;
    }
    let (first, last) = (key(lo), key(hi - 1));
    if want > last {
        return hi;
    }
    // Here key(lo) < want <= key(hi - 1).
    let guess = if first.0 == want.0 && last.0 == want.0 && last.1 > first.1 {
        lo + (u128::from(want.1 - first.1) * (hi - 1 - lo) as u128 / u128::from(last.1 - first.1)) as usize
    } else {
        lo + (hi - 1 - lo) / 2
    };
    // Bracket: key(a) < want <= key(b).
    let (mut a, mut b);
    let mut step = 1;
    if key(guess) < want {
        a = guess;
        loop {
            let t = (a + step).min(hi - 1);
            if key(t) >= want {
                b = t;
                break;
            }
            a = t;
            step *= 2;
        }
    } else {
        b = guess;
        loop {
            let t = b.saturating_sub(step).max(lo);
            if key(t) < want {
                a = t;
                break;
            }
            b = t;
            step *= 2;
        }
    }
    while b - a > 1 {
        let m = a + (b - a) / 2;
        if key(m) < want { a = m } else { b = m }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::{gallop, partition, seek};

    #[test]
    fn a_gallop_from_the_last_answer_finds_what_a_search_finds_in_any_order() {
        let keys: Vec<u64> = vec![2, 3, 3, 7, 10, 11, 40, 41, 42, 100];
        let first = |w: u64| keys.partition_point(|&k| k < w);
        let mut at = 0usize;
        // Forward, repeated, backward, and past either end.
        for w in [0u64, 2, 3, 3, 4, 41, 42, 5, 101, 100, 1, 40, 200, 0, 100] {
            assert_eq!(gallop(&mut at, keys.len(), w, |k| keys[k]), first(w), "{w}");
            assert_eq!(at, first(w));
        }
        // Mostly forward, as a sweep reads, with some jumps back.
        let mut x = 7u64;
        let keys: Vec<u64> = (0..5000u64).map(|k| k * 7 + k % 5).collect();
        let first = |w: u64| keys.partition_point(|&k| k < w);
        let mut at = 0usize;
        let mut w = 0u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            w = if x >> 60 == 0 { w / 2 } else { w + (x >> 58) % 23 };
            assert_eq!(gallop(&mut at, keys.len(), w, |k| keys[k]), first(w), "{w}");
        }
        assert_eq!(gallop(&mut 0, 0, 5, |_| unreachable!("no records")), 0);
        // No last answer: the whole column.
        for w in [0u64, 3, 35_000, 1 << 40] {
            let mut none = usize::MAX;
            assert_eq!(gallop(&mut none, keys.len(), w, |k| keys[k]), first(w), "{w}");
        }
    }

    #[test]
    fn seek_finds_what_a_bisection_finds() {
        // Two assets, ids with gaps and a dense stretch, and a skewed tail.
        let mut keys: Vec<(u32, u32)> = Vec::new();
        for a in [0u32, 3] {
            keys.extend((0..2000u32).map(|x| (a, x * 7 + a)));
            keys.extend((20_000..20_100u32).map(|x| (a, x)));
            keys.extend((0..50u32).map(|x| (a, 4_000_000_000 - x * x)));
        }
        keys.sort_unstable();
        keys.dedup();
        let key = |r: usize| keys[r];
        for asset in [0u32, 1, 3, 4] {
            let lo = partition(0, keys.len(), |r| key(r).0 < asset);
            let hi = partition(lo, keys.len(), |r| key(r).0 <= asset);
            let mut at = lo;
            for want in (0..25_000u32).step_by(3).chain([3_999_999_000, 4_000_000_000, u32::MAX]) {
                let w = (asset, want);
                let expect = keys.partition_point(|k| *k < w).clamp(lo, hi);
                assert_eq!(seek(&key, lo, hi, w), expect, "{w:?} from the range start");
                // From the previous hit, as lookups of ascending ids go.
                at = seek(&key, at, hi, w);
                assert_eq!(at, expect, "{w:?} from the previous hit");
            }
        }
        assert_eq!(seek(&key, 5, 5, (0, 0)), 5);
    }
}
