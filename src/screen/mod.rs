//! Compliance screening (TRACING.md §4): is an address exposed to stolen or
//! sanctioned funds, how much, how many hops away, with what evidence?
//!
//! [`sweep`] computes every address's exposure to every risk category in
//! one pass over the store ([`utxo`] on a Bitcoin store); [`index`] keeps the result in a file that is
//! memory-mapped on open, rebuilt when the store's generation (new events or
//! labels) changes; [`answer`] turns lookups into the screening answer of
//! INTERFACE.md, with a risk level from [`risk`]; [`multi`] screens several
//! stores together, exposure crossing their bridges.

pub mod answer;
pub mod index;
pub mod multi;
pub mod risk;
pub mod sweep;
pub mod utxo;

use crate::store::Store;
use std::path::PathBuf;

/// Screening failed.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// Bad arguments or data that cannot support the question.
    #[error("{0}")]
    Usage(String),
    /// A value beyond what the index keeps.
    #[error("{0}")]
    TooLarge(String),
    /// Reading or writing the index failed (the cause is the source).
    #[error("exposure index {path}: I/O failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The index file is damaged.
    #[error("exposure index {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The risk categories screened by default: the illicit ones of the
/// taxonomy, and mixers (a service whose outflows carry `mixer` exposure).
pub const DEFAULT_CATEGORIES: &[&str] = &["sanctioned", "hack", "ransomware", "phishing", "scam", "darknet", "terrorism", "mixer"];

/// The categories of one index, in index order (at most 16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategorySet {
    /// Lowercase names.
    pub names: Vec<String>,
}

impl CategorySet {
    /// From names (lowercased, duplicates dropped, order kept).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let n = n.trim().to_ascii_lowercase();
            if !n.is_empty() && !out.contains(&n) {
                out.push(n);
            }
        }
        CategorySet { names: out }
    }

    /// The default set.
    pub fn default_set() -> Self {
        Self::new(DEFAULT_CATEGORIES.iter().copied())
    }

    /// The index of a category name.
    pub fn index(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|p| p as u16)
    }
}

/// Open the exposure index of `asset` for the store's live generation;
/// when there is none, update an older generation's (after a pure append,
/// ADR 0021 part 3) or build one. Returns the index and whether it was
/// written now.
pub fn open_or_build(store: &Store, asset: u32, cats: &CategorySet) -> Result<(index::Index, bool), ScreenError> {
    open_or_update(store, asset, cats, None).map(|(ix, made)| (ix, made != Made::Opened))
}

/// How an index came to be open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    /// It was on disk for the live generation.
    Opened,
    /// An older generation's was taken up over the appended events.
    Updated,
    /// It was built from a full sweep.
    Built,
}

/// [`open_or_build`], taking up `held` (an index this process has open,
/// of an older generation) when it can be updated: its base is not read
/// again.
pub fn open_or_update(
    store: &Store,
    asset: u32,
    cats: &CategorySet,
    held: Option<&index::Index>,
) -> Result<(index::Index, Made), ScreenError> {
    if let Some(ix) = open_fresh_over(store, asset, cats, held) {
        return Ok((ix, Made::Opened));
    }
    crate::sys::timing("exposure index: none for this generation");
    let on_disk;
    let prev = match held.filter(|p| can_take_up(store, asset, cats, p)) {
        Some(p) => Some(p),
        None => {
            on_disk = newest_on_disk(store, asset, cats);
            crate::sys::timing("exposure index: an older generation's opened");
            on_disk.as_ref()
        }
    };
    if let Some(p) = prev {
        // An update that fails (a sum past 128 bits, a full disk) is
        // answered by a rebuild, which reports what it finds itself.
        if let Ok(ix) = update(store, asset, cats, p, default_fold(p)) {
            return Ok((ix, Made::Updated));
        }
    }
    let labels = crate::labels::load(store);
    let x = if store.manifest.chain.is_account() { sweep::sweep(store, asset, cats, &labels)? } else { utxo::sweep(store, cats, &labels)? };
    Ok((keep(store, asset, cats, &x)?, Made::Built))
}

/// The delta rows past which an update of `prev` folds into a new base:
/// a sixty-fourth of the base's addresses (so that writing the delta stays
/// a small share of a rebuild), and never fewer than 1,024; or
/// `CHAINTRACE_INDEX_FOLD_AT` (rows) where it is set (0: fold at every
/// update).
pub fn default_fold(prev: &index::Index) -> u64 {
    match std::env::var("CHAINTRACE_INDEX_FOLD_AT").ok().and_then(|v| v.trim().parse().ok()) {
        Some(rows) => rows,
        None => (prev.base().meta.addresses / 64).max(1024),
    }
}

/// Whether `prev` can be taken up for the store's live generation: written
/// with its sweep's end state, over a prefix of the store's events (the
/// same line of events: nothing spliced or rewritten since), with the same
/// labels, categories and asset.
pub fn can_take_up(store: &Store, asset: u32, cats: &CategorySet, prev: &index::Index) -> bool {
    let m = &prev.meta;
    m.resumable
        && store.manifest.holds(&m.lineage, m.events)
        && m.addresses <= store.address_count() as u64
        && m.categories == cats.names
        && m.asset == store.manifest.assets[asset as usize]
        && m.labels == index::labels_fingerprint(store)
}

/// Whether an older generation's index on disk can be taken up for the
/// store's live generation.
pub fn can_update(store: &Store, asset: u32, cats: &CategorySet) -> bool {
    newest_on_disk(store, asset, cats).is_some()
}

/// The index of `asset` of the newest older generation on disk that can
/// be taken up for the store's live generation.
fn newest_on_disk(store: &Store, asset: u32, cats: &CategorySet) -> Option<index::Index> {
    let name = store.manifest.assets[asset as usize].to_ascii_lowercase();
    let live = store.gen_dir.file_name()?.to_string_lossy().into_owned();
    let dir = store.dir.join("exposure");
    let mut found: Vec<(u64, bool, String)> = Vec::new();
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let Some((generation, rest)) = f.split_once('.') else { continue };
        let Some(n) = generation_number(generation).filter(|_| generation != live) else { continue };
        if rest == format!("{name}.idx") {
            found.push((n, true, generation.to_string()));
        } else if rest == format!("{name}.delta") {
            found.push((n, false, generation.to_string()));
        }
    }
    // Newest first; of one generation, a base written whole first.
    found.sort();
    found.into_iter().rev().find_map(|(_, whole, generation)| {
        let ix = if whole {
            index::Index::open(&dir.join(format!("{generation}.{name}.idx")))
        } else {
            let base = dir.join(format!("{generation}.{name}.base"));
            index::Index::open_with_delta(None, &base, &dir.join(format!("{generation}.{name}.delta")))
        };
        ix.ok().filter(|p| can_take_up(store, asset, cats, p))
    })
}

/// Update `prev` (see [`can_take_up`]) to the store's live generation: the
/// sweep taken up over the events after it ([`sweep::Sweeper::take_up`]),
/// the addresses they touch written as a delta over `prev`'s base, or,
/// once the delta would hold more than `fold_at` addresses, everything
/// folded into a new base. Cost: the new events and the addresses they
/// touch, plus the delta carried over.
pub fn update(store: &Store, asset: u32, cats: &CategorySet, prev: &index::Index, fold_at: u64) -> Result<index::Index, ScreenError> {
    prev.check_state()?;
    let labels = crate::labels::load(store);
    let (rows, whole) = if store.manifest.chain.is_account() {
        let mut s = sweep::Sweeper::new(store, asset, cats, &labels, Vec::new())?;
        let touched = s.take_up(prev)?;
        crate::sys::timing("exposure index: records taken up");
        s.run_to(store.len())?;
        (s.rows(&touched), s.whole())
    } else {
        utxo::UtxoSweeper::new(store, cats, &labels, Default::default())?.take_up(prev)?
    };
    crate::sys::timing("exposure index: new events swept");
    let name = store.manifest.assets[asset as usize].clone();
    let base = prev.base();
    if rows.len() as u64 + prev.delta_rows() <= fold_at {
        let (base_path, delta_path) = index::delta_paths_for(store, &name);
        // The base's file may be gone (another process folded it away):
        // then everything is folded here.
        if link(&base, prev.base_path(), &base_path).is_ok() {
            index::write_delta(store, prev, &rows, &whole, &delta_path)?;
            remove_stale(store);
            crate::sys::timing("exposure index: delta written");
            return index::Index::open_with_delta(Some(base), &base_path, &delta_path);
        }
    }
    let x = fold(store, prev, rows, whole);
    let ix = keep(store, asset, cats, &x);
    crate::sys::timing("exposure index: folded into a new base");
    ix
}

/// `dst` made a name of `base`'s file, found at `src` (a hard link; a
/// copy where the filesystem has none), replacing what `dst` was. Fails
/// when `src` is no longer that file (another process replaced or
/// removed it).
fn link(base: &index::Layer, src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    let tmp = crate::sys::tmp_path(dst);
    let _ = std::fs::remove_file(&tmp);
    let other = || std::io::Error::other("the base's file was replaced");
    if std::fs::hard_link(src, &tmp).is_ok() {
        if index::file_id(&std::fs::metadata(&tmp)?) != base.file_id() {
            let _ = std::fs::remove_file(&tmp);
            return Err(other());
        }
    } else {
        let mut from = std::fs::File::open(src)?;
        if index::file_id(&from.metadata()?) != base.file_id() {
            return Err(other());
        }
        let mut to = std::fs::File::create(&tmp)?;
        std::io::copy(&mut from, &mut to)?;
        to.sync_all()?;
    }
    std::fs::rename(&tmp, dst)
}

/// `prev` with `rows` laid over it, every address's records in one base.
fn fold(store: &Store, prev: &index::Index, rows: Vec<index::Row>, whole: index::Whole) -> sweep::Exposures {
    let n = store.address_count();
    let mut received: Vec<u128> = (0..n as u32).map(|id| prev.received(id)).collect();
    let mut by_address: Vec<Vec<sweep::Exposure>> = (0..n as u32).map(|id| prev.exposures_of(id)).collect();
    let mut fresh = vec![false; n];
    for r in &rows {
        fresh[r.id as usize] = true;
    }
    let mut pools: Vec<index::PoolRecord> = prev.all_pools().filter(|p| !fresh[p.id as usize]).collect();
    for r in rows {
        received[r.id as usize] = r.received;
        by_address[r.id as usize] = r.exposures;
        pools.extend(r.pools);
    }
    pools.sort_unstable_by_key(|p| (p.id, p.category));
    // Tainted outputs: the base's not spent since, and those made since.
    let mut outputs: Vec<index::OutputRecord> =
        prev.base_outputs().iter().filter(|o| whole.spent.binary_search(&o.output).is_err()).copied().collect();
    outputs.extend_from_slice(&whole.outputs);
    outputs.sort_unstable_by_key(|o| (o.output, o.category));
    sweep::Exposures {
        received,
        by_address,
        seeds: whole.seeds,
        state: Some(sweep::SweepState { pools, seed_balances: whole.seed_balances, outputs }),
    }
}

/// The exposure index of `asset` if one on disk fits the store's live
/// generation and these categories: a base written for it, or a base and
/// a delta.
pub fn open_fresh(store: &Store, asset: u32, cats: &CategorySet) -> Option<index::Index> {
    open_fresh_over(store, asset, cats, None)
}

/// [`open_fresh`], a delta laid over `held`'s base when it is the delta's
/// (so that a process that holds the base open does not read it again).
fn open_fresh_over(store: &Store, asset: u32, cats: &CategorySet, held: Option<&index::Index>) -> Option<index::Index> {
    let name = &store.manifest.assets[asset as usize];
    let fits = |ix: &index::Index| ix.meta.categories == cats.names && ix.meta.addresses == store.address_count() as u64 && ix.fits(store);
    if let Some(ix) = index::Index::open(&index::path_for(store, name)).ok().filter(fits) {
        return Some(ix);
    }
    let (base, delta) = index::delta_paths_for(store, name);
    index::Index::open_with_delta(held.map(index::Index::base), &base, &delta).ok().filter(fits)
}

/// Write a sweep's exposures as the index of `asset` for the store's live
/// generation (dropping older generations' indexes), and open it.
pub fn keep(store: &Store, asset: u32, cats: &CategorySet, x: &sweep::Exposures) -> Result<index::Index, ScreenError> {
    let name = store.manifest.assets[asset as usize].clone();
    let path = index::path_for(store, &name);
    index::write(store, &name, &cats.names, x, &path)?;
    remove_stale(store);
    index::Index::open(&path)
}

/// Remove the store's indexes of older generations: of no further use.
/// Indexes of other generations go, and the half-written files of builds
/// that were killed (a build in another live process keeps its own).
pub(crate) fn remove_stale(store: &Store) {
    let Some(live) = store.gen_dir.file_name().and_then(|n| generation_number(&n.to_string_lossy())) else { return };
    if let Ok(rd) = std::fs::read_dir(store.dir.join("exposure")) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let Some(n) = generation_number(&f) else { continue };
            // A newer generation's files are another process's, live or to
            // come; a temporary file is its writer's while that lives.
            let stale = if f.contains(".tmp.") { crate::sys::tmp_of_dead_process(&f) } else { n < live };
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The number of generation `gen-N` that a name starts with.
fn generation_number(name: &str) -> Option<u64> {
    name.strip_prefix("gen-")?.split('.').next()?.parse().ok()
}
