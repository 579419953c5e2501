//! Store parts (issue 17, ADR 0016): a process of a run across hosts
//! reads only the events of the addresses its workers own, from a part
//! written once by `chaintrace partition`, so that neither its disk nor
//! its memory holds the whole store.
//!
//! A part is a store in its own right (same format, same checks), with the
//! whole store's address and transaction tables, so every id means what it
//! means in the whole store. Beside the store's own files it keeps
//! `part-keys.u64`, the whole store's position of each of its events
//! (ascending: the events keep their order), and `part.json`, what it is a
//! part of. A sender's balance column is recomputed from the part's events,
//! which hold every event of each address the part owns: those addresses'
//! balances are the whole store's, the others' are never read.

use super::generation::write_file;
use super::{Store, StoreError};
use std::path::{Path, PathBuf};

/// The file of a part's whole-store event positions.
pub const KEYS_FILE: &str = "part-keys.u64";
/// The file that says what a part is a part of.
pub const INFO_FILE: &str = "part.json";
/// What [`PartInfo::format`] says: the third way of cutting parts (the
/// first store block's addresses given out one by one by their events,
/// [`PartInfo::first_block`]).
/// Parts cut another way are refused: their owners would not be the run's.
pub const FORMAT: &str = "chaintrace-part-3";

/// What a part is a part of, and how it was cut.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartInfo {
    /// [`FORMAT`].
    pub format: String,
    /// The whole store's events identity and labels (as runs key them):
    /// processes that read parts of different stores refuse each other.
    pub whole: String,
    /// Events in the whole store.
    pub whole_events: u64,
    /// Whether every sender balance of the whole store fits the sparse
    /// sweeps (worked out once, over the whole store).
    pub balances_fit: bool,
    /// The process this part is for.
    pub process: u32,
    /// Processes the store was cut for.
    pub processes: u32,
    /// Ownership blocks, as bits (`dataflow::Owners`).
    pub owner_bits: u32,
    /// Events in this part.
    pub events: u64,
    /// The process of each id of the store's first ownership block, given
    /// out by their events to even the parts (`dataflow::Owners::with_first_block`).
    pub first_block: Vec<u16>,
}

/// The directory of process `process`'s part under `dir`.
pub fn part_dir(dir: &Path, process: usize) -> PathBuf {
    dir.join(format!("part-{process}"))
}

fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt { path: path.to_path_buf(), message: message.into() }
}

/// Write the part of `whole` made of the events at positions `keep`
/// (ascending) into `dir`, which must not exist: it is written aside and
/// renamed into place, so a part is whole or absent.
pub fn write(whole: &Store, keep: &[u64], info: &PartInfo, dir: &Path) -> Result<(), StoreError> {
    if dir.exists() {
        return Err(StoreError::Mismatch { path: dir.to_path_buf(), message: "already exists; give a new directory".into() });
    }
    if keep.windows(2).any(|w| w[0] >= w[1]) || keep.last().is_some_and(|&k| k >= whole.len() as u64) {
        return Err(corrupt(dir, "part events out of order"));
    }
    let aside = dir.with_extension("writing");
    if aside.exists() {
        std::fs::remove_dir_all(&aside).map_err(|source| StoreError::Io { path: aside.clone(), source })?;
    }
    let b = whole.scanning(|| super::builder::Builder::load_selected(whole, keep));
    whole.release_pages();
    let summary = b.write(&aside)?;
    if summary.events != keep.len() as u64 {
        return Err(corrupt(&aside, format!("{} events written of {}", summary.events, keep.len())));
    }
    let bytes: Vec<u8> = keep.iter().flat_map(|k| k.to_le_bytes()).collect();
    write_file(&aside.join(KEYS_FILE), &bytes)?;
    let json = serde_json::to_vec_pretty(info).map_err(|e| corrupt(dir, e.to_string()))?;
    write_file(&aside.join(INFO_FILE), &json)?;
    super::generation::sync_dir(&aside)?;
    rename_into_place(&aside, dir)
}

/// Write `bytes` to the file `path` and sync it (a description beside
/// the parts, as the parts' own files are written).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_file(path, bytes)?;
    super::generation::sync_dir(parent_of(path))
}

/// The directory holding `p` (`.` for a bare name).
fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Rename the directory `from` (written aside) to `to`, durably.
pub fn rename_into_place(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(|source| StoreError::Io { path: to.to_path_buf(), source })?;
    super::generation::sync_dir(parent_of(to))
}

/// What the part at `dir` says it is a part of (its format unchecked).
pub fn info(dir: &Path) -> Result<PartInfo, StoreError> {
    let info_path = dir.join(INFO_FILE);
    let text = std::fs::read(&info_path).map_err(|source| StoreError::Io { path: info_path.clone(), source })?;
    serde_json::from_slice(&text).map_err(|e| corrupt(&info_path, format!("not a part's description: {e}")))
}

/// The events of the whole store `store` is a part of, or (a store, or a
/// part whose description cannot be read) its own.
pub fn whole_len(store: &Store) -> u64 {
    info(&store.dir).map_or(store.len() as u64, |i| i.whole_events)
}

/// Open the part at `dir`: its events, as a store, and what it is a part of.
pub fn open(dir: &Path) -> Result<(Store, PartInfo), StoreError> {
    let info_path = dir.join(INFO_FILE);
    let info = info(dir)?;
    if info.format != FORMAT {
        return Err(StoreError::Mismatch {
            path: info_path,
            message: format!("a part of format {:?}, not {FORMAT}: cut the store again with `chaintrace partition`", info.format),
        });
    }
    let store = Store::open(dir)?;
    if info.events != store.len() as u64 {
        return Err(corrupt(&info_path, format!("says {} events, and the part holds {}", info.events, store.len())));
    }
    Ok((store, info))
}

/// The whole-store positions of the events of the part `store` opened
/// (with `info`).
pub fn keys(store: &Store, info: &PartInfo) -> Result<Keys, StoreError> {
    use std::io::Read;
    let keys_path = store.dir.join(KEYS_FILE);
    let io = |source| StoreError::Io { path: keys_path.clone(), source };
    let file = std::fs::File::open(&keys_path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len % 8 != 0 || len / 8 != store.len() as u64 {
        return Err(corrupt(&keys_path, format!("{len} bytes for {} events", store.len())));
    }
    // Streamed: the file takes 8 bytes an event, the positions 2.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut failed = None;
    let positions = (0..store.len()).map_while(|_| {
        let mut b = [0u8; 8];
        match reader.read_exact(&mut b) {
            Ok(()) => Some(u64::from_le_bytes(b)),
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    });
    let keys = Keys::new(positions, info.whole_events);
    if let Some(e) = failed {
        return Err(io(e));
    }
    keys.ok_or_else(|| corrupt(&keys_path, "event positions out of order or past the whole store"))
}

/// Whole-store positions of a part's events, ascending, in two bytes an
/// event: the low 16 bits of each, and where each block of 2^16 whole
/// positions starts among the part's events. A sweep walks them in order;
/// a position alone costs a search of the blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    low: Vec<u16>,
    /// `starts[b]`: the first event whose position is at least `b << 16`
    /// (one more than the blocks: the last is the count).
    starts: Vec<u64>,
}

const KEY_BITS: u32 = 16;

impl Keys {
    /// The positions `keys` (strictly ascending, each below `whole`);
    /// `None` if they are not.
    pub fn new(keys: impl IntoIterator<Item = u64>, whole: u64) -> Option<Keys> {
        let blocks = whole.div_ceil(1 << KEY_BITS) as usize;
        let keys = keys.into_iter();
        let mut k = Keys { low: Vec::with_capacity(keys.size_hint().0), starts: Vec::with_capacity(blocks + 1) };
        let mut last = None;
        for key in keys {
            if key >= whole || last.is_some_and(|l| l >= key) {
                return None;
            }
            last = Some(key);
            let b = (key >> KEY_BITS) as usize;
            while k.starts.len() <= b {
                k.starts.push(k.low.len() as u64);
            }
            k.low.push(key as u16);
        }
        while k.starts.len() <= blocks {
            k.starts.push(k.low.len() as u64);
        }
        Some(k)
    }

    /// Events in the part.
    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// Whether the part has none.
    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    /// The whole-store position of the part's event `j`.
    pub fn key(&self, j: usize) -> u64 {
        let b = self.starts.partition_point(|&s| s <= j as u64) - 1;
        ((b as u64) << KEY_BITS) | u64::from(self.low[j])
    }

    /// The first of the part's events at whole position `k` or later.
    pub fn lower(&self, k: u64) -> usize {
        let b = (k >> KEY_BITS) as usize;
        if b + 1 >= self.starts.len() {
            return self.low.len();
        }
        let (s, e) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        s + self.low[s..e].partition_point(|&o| u64::from(o) < k & ((1 << KEY_BITS) - 1))
    }

    /// The positions of the part's events `from..from + out.len()` into `out`.
    pub fn fill(&self, from: usize, out: &mut [u64]) {
        if out.is_empty() {
            return;
        }
        let mut b = self.starts.partition_point(|&s| s <= from as u64) - 1;
        for (j, o) in (from..).zip(out.iter_mut()) {
            while self.starts[b + 1] as usize <= j {
                b += 1;
            }
            *o = ((b as u64) << KEY_BITS) | u64::from(self.low[j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_give_back_positions_across_blocks() {
        let whole = 5 << KEY_BITS;
        let keys: Vec<u64> =
            (0..whole).filter(|k| k % 7 == 0 || (k >> KEY_BITS) == 2 && k % 3 == 1).filter(|k| (k >> KEY_BITS) != 3).collect();
        let k = Keys::new(keys.iter().copied(), whole).unwrap();
        assert_eq!(k.len(), keys.len());
        for j in (0..keys.len()).step_by(101) {
            assert_eq!(k.key(j), keys[j]);
        }
        let mut out = vec![0; 1000];
        for from in [0, 9_000, keys.len() - 1000] {
            k.fill(from, &mut out);
            assert_eq!(out, keys[from..from + 1000]);
        }
        for at in [0, 1, 6, 7, 8, (2 << KEY_BITS) + 1, 3 << KEY_BITS, (4 << KEY_BITS) + 3, whole - 1, whole, whole + 9] {
            assert_eq!(k.lower(at), keys.partition_point(|&x| x < at), "lower({at})");
        }
        assert!(Keys::new([3, 3], 10).is_none());
        assert!(Keys::new([3, 10], 10).is_none());
        assert_eq!(Keys::new([], 0).unwrap().lower(0), 0);
    }
}
