//! The transfer store: a directory of flat little-endian columns, one event per
//! row, sorted by the key of TRACING.md §1.
//!
//! Layout (see docs/adr/0002-store-format.md):
//! `DIR/CURRENT` names the live generation and the checksum of its manifest;
//! `DIR/gen-NNNNNN/` holds `manifest.json` and the column files. A write builds
//! a new generation beside the live one and switches `CURRENT` with one atomic
//! rename, so a failed or killed ingest leaves the previous store as it was.

mod balances;
mod bitcoin;
pub mod builder;
mod columns;
pub mod crash;
mod error;
pub mod generation;
pub mod idtable;
pub mod txindex;
pub mod write;

pub(crate) use columns::as_bytes as columns_as_bytes;
pub use columns::{Column, EventColumns};
pub(crate) use columns::{Pod, cast, try_cast};
pub use error::StoreError;

use crate::model::amount::Amount;
use crate::model::{Chain, OrderBy, Pseudo};
use memmap2::Mmap;
use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;
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
}

/// Size and checksum of one column file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Bytes.
    pub bytes: u64,
    /// xxh3-64 of the bytes, hex.
    pub xxh3: String,
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
    /// Column files and their checksums.
    pub columns: BTreeMap<String, ColumnInfo>,
    /// The program that wrote it.
    pub written_by: String,
}

/// An open, memory-mapped store.
pub struct Store {
    /// The store directory.
    pub dir: PathBuf,
    /// The live generation directory.
    pub gen_dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    maps: BTreeMap<String, Mmap>,
    big: BTreeMap<u64, U256>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Whether `dir` holds a store.
pub fn exists(dir: &Path) -> bool {
    dir.join("CURRENT").is_file()
}

impl Store {
    /// Open a store: reads the manifest, checks version and sizes, maps the columns.
    /// No row is parsed; column checksums are checked by [`Store::verify`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let current = dir.join("CURRENT");
        if !current.is_file() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        let cur = std::fs::read_to_string(&current).map_err(io(&current))?;
        let mut parts = cur.split_whitespace();
        let (gen_name, sum) = match (parts.next(), parts.next()) {
            (Some(g), Some(s)) if g.starts_with("gen-") && !g.contains('/') => (g, s),
            _ => return Err(StoreError::Corrupt { path: current, message: "CURRENT is malformed".into() }),
        };
        let gen_dir = dir.join(gen_name);
        let mpath = gen_dir.join("manifest.json");
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
        let manifest: Manifest =
            serde_json::from_slice(&mbytes).map_err(|e| StoreError::Corrupt { path: mpath.clone(), message: e.to_string() })?;
        let mut maps = BTreeMap::new();
        for (name, info) in &manifest.columns {
            let p = gen_dir.join(name);
            let f = File::open(&p).map_err(io(&p))?;
            let len = f.metadata().map_err(io(&p))?.len();
            if len != info.bytes {
                return Err(StoreError::Corrupt { path: p, message: format!("{len} bytes, manifest says {}", info.bytes) });
            }
            if len > 0 {
                // SAFETY: the generation directory is never written after CURRENT
                // names it; writers build a new generation instead.
                let m = unsafe { Mmap::map(&f) }.map_err(io(&p))?;
                maps.insert(name.clone(), m);
            }
        }
        let mut store = Store { dir: dir.to_path_buf(), gen_dir, manifest, maps, big: BTreeMap::new() };
        store.check_lengths()?;
        let raw = store.bytes(Column::BigValues);
        let mut big = BTreeMap::new();
        for rec in raw.chunks_exact(40) {
            let idx = u64::from_le_bytes(rec[..8].try_into().expect("8 bytes"));
            big.insert(idx, U256::from_le_slice(&rec[8..]));
        }
        store.big = big;
        Ok(store)
    }

    fn check_lengths(&self) -> Result<(), StoreError> {
        let m = &self.manifest;
        for c in Column::ALL {
            let want = c.expected_len(m);
            let got = self.bytes(c).len() as u64;
            if let Some(want) = want
                && got != want
            {
                return Err(StoreError::Corrupt { path: self.gen_dir.join(c.file()), message: format!("{got} bytes, expected {want}") });
            }
        }
        Ok(())
    }

    /// Check every column against its checksum, unless this generation was
    /// checked before and none of its files has changed since (same size,
    /// modification and change times, inode: the `VERIFIED` stamp). Hashing
    /// a 10^8-event store takes longer than tracing it, and every command
    /// opens it; any write to a column changes its stamp and brings the full
    /// check back. [`Store::verify_all`] always hashes.
    pub fn verify(&self) -> Result<(), StoreError> {
        let stamp = self.stamp();
        let path = self.dir.join("VERIFIED");
        if stamp.is_some() && std::fs::read_to_string(&path).ok() == stamp {
            return Ok(());
        }
        self.verify_all()?;
        if let Some(stamp) = stamp {
            // A cache: a store we may not write is simply checked every time.
            let tmp = self.dir.join("VERIFIED.tmp");
            if std::fs::write(&tmp, stamp).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(())
    }

    /// What identifies this generation's files as they are now.
    fn stamp(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let mut s = std::fs::read_to_string(self.dir.join("CURRENT")).ok()?;
        for name in std::iter::once("manifest.json").chain(self.manifest.columns.keys().map(String::as_str)) {
            let m = std::fs::metadata(self.gen_dir.join(name)).ok()?;
            s += &format!("{name} {} {} {} {} {} {}\n", m.len(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec(), m.ino());
        }
        Some(s)
    }

    /// Check every column against its checksum.
    pub fn verify_all(&self) -> Result<(), StoreError> {
        use rayon::prelude::*;
        self.manifest.columns.par_iter().try_for_each(|(name, info)| {
            let bytes = self.maps.get(name).map_or(&[][..], |m| &m[..]);
            let sum = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
            if sum != info.xxh3 {
                return Err(StoreError::Corrupt { path: self.gen_dir.join(name), message: "checksum mismatch".into() });
            }
            Ok(())
        })
    }

    /// Raw bytes of a column (empty when the column has no rows).
    pub fn bytes(&self, c: Column) -> &[u8] {
        self.maps.get(c.file()).map_or(&[][..], |m| &m[..])
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
            block: columns::cast(self.bytes(Column::Block)),
            time: columns::cast(self.bytes(Column::Time)),
            tx_index: columns::cast(self.bytes(Column::TxIndex)),
            sub: columns::cast(self.bytes(Column::Sub)),
            from: columns::cast(self.bytes(Column::From)),
            to: columns::cast(self.bytes(Column::To)),
            asset: columns::cast(self.bytes(Column::Asset)),
            value: columns::cast(self.bytes(Column::Value)),
            tx: columns::cast(self.bytes(Column::Tx)),
            flags: self.bytes(Column::Flags),
        }
    }

    /// The exact value of event `i`.
    pub fn value(&self, i: usize) -> Amount {
        let v: &[u128] = columns::cast(self.bytes(Column::Value));
        if v[i] == u128::MAX
            && let Some(b) = self.big.get(&(i as u64))
        {
            return Amount(*b);
        }
        Amount::from_u128(v[i])
    }

    /// Each event's sender balance before it (see [`Column::SenderBalance`]).
    pub fn sender_balances(&self) -> &[u128] {
        columns::cast(self.bytes(Column::SenderBalance))
    }

    /// What each of `addresses` (ascending) holds of `asset` after the last
    /// event (`u128::MAX`: does not fit). A galloping search from the previous
    /// hit, so many sorted lookups cost little more than one scan of the part
    /// of the table they span.
    pub fn final_balances(&self, asset: u32, addresses: &[u32]) -> Vec<u128> {
        let raw = self.bytes(Column::FinalBalances);
        let n = raw.len() / 24;
        let key = |r: usize| {
            let b = &raw[r * 24..r * 24 + 8];
            (u32::from_le_bytes(b[..4].try_into().expect("4 bytes")), u32::from_le_bytes(b[4..].try_into().expect("4 bytes")))
        };
        let mut lo = 0usize;
        addresses
            .iter()
            .map(|&a| {
                let want = (asset, a);
                // Gallop to a bound past `want`, then bisect.
                let mut step = 1;
                let mut hi = lo;
                while hi < n && key(hi) < want {
                    lo = hi + 1;
                    hi += step;
                    step *= 2;
                }
                let mut hi = hi.min(n);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if key(mid) < want { lo = mid + 1 } else { hi = mid }
                }
                if lo < n && key(lo) == want {
                    u128::from_le_bytes(raw[lo * 24 + 8..lo * 24 + 24].try_into().expect("16 bytes"))
                } else {
                    0
                }
            })
            .collect()
    }

    /// Values of 2^128-1 and above, by event index.
    pub fn big_values(&self) -> &BTreeMap<u64, U256> {
        &self.big
    }

    /// Number of addresses in the table (pseudo addresses included).
    pub fn address_count(&self) -> usize {
        self.manifest.address_table as usize
    }

    /// The stored bytes of address `id`.
    pub fn address_bytes(&self, id: u32) -> &[u8] {
        let off: &[u64] = columns::cast(self.bytes(Column::AddrOffsets));
        let b = self.bytes(Column::AddrBytes);
        &b[off[id as usize] as usize..off[id as usize + 1] as usize]
    }

    /// Address `id` as reports print it: lowercase `0x` hex on Ethereum.
    pub fn address_text(&self, id: u32) -> String {
        if (id as usize) < Pseudo::ALL.len() {
            return Pseudo::ALL[id as usize].name().to_string();
        }
        let b = self.address_bytes(id);
        match self.manifest.chain {
            Chain::Ethereum => format!("0x{}", hex::encode(b)),
            Chain::Bitcoin => String::from_utf8_lossy(b).into_owned(),
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
    pub fn find_address(&self, text: &str) -> Option<u32> {
        self.find_addresses(std::iter::once(text)).remove(text)
    }

    /// Ids of addresses given as text, keyed by that text: a binary search of
    /// the address index each. Texts that are not addresses of the store's
    /// chain, or not in it, are absent.
    pub fn find_addresses<'a>(&self, texts: impl Iterator<Item = &'a str>) -> std::collections::HashMap<String, u32> {
        let index: &[u32] = columns::cast(self.bytes(Column::AddrIndex));
        let mut found = std::collections::HashMap::new();
        for t in texts {
            let key = match self.manifest.chain {
                Chain::Ethereum => match crate::model::text::eth_address("address", t.as_bytes()) {
                    Ok(a) => a.to_vec(),
                    Err(_) => continue,
                },
                Chain::Bitcoin => t.as_bytes().to_vec(),
            };
            if let Ok(p) = index.binary_search_by(|&id| self.address_bytes(id).cmp(&key)) {
                found.insert(t.to_string(), index[p]);
            }
        }
        found
    }

    /// A transaction hash as printed (`0x` hex on Ethereum, plain hex txid on Bitcoin).
    pub fn tx_text(&self, id: u32) -> String {
        match self.manifest.chain {
            Chain::Ethereum => format!("0x{}", hex::encode(self.tx_hash(id))),
            Chain::Bitcoin => hex::encode(self.tx_hash(id)),
        }
    }
}
