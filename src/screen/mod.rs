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

/// Open the exposure index of `asset` for the store's live generation,
/// building (and writing) it first when it is missing or was built for
/// other categories. Returns the index and whether it was built now.
pub fn open_or_build(store: &Store, asset: u32, cats: &CategorySet) -> Result<(index::Index, bool), ScreenError> {
    if let Some(ix) = open_fresh(store, asset, cats) {
        return Ok((ix, false));
    }
    let labels = crate::labels::load(store);
    let x = if store.manifest.chain.is_account() { sweep::sweep(store, asset, cats, &labels)? } else { utxo::sweep(store, cats, &labels)? };
    Ok((keep(store, asset, cats, &x)?, true))
}

/// The exposure index of `asset` if one on disk fits the store's live
/// generation and these categories.
pub fn open_fresh(store: &Store, asset: u32, cats: &CategorySet) -> Option<index::Index> {
    let name = &store.manifest.assets[asset as usize];
    let ix = index::Index::open(&index::path_for(store, name)).ok()?;
    (ix.meta.categories == cats.names && ix.meta.addresses == store.address_count() as u64 && ix.fits(store)).then_some(ix)
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
    if let Ok(rd) = std::fs::read_dir(store.dir.join("exposure")) {
        let keep = store.gen_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let stale = !f.starts_with(&format!("{keep}.")) || crate::sys::tmp_of_dead_process(&f);
            if f.starts_with("gen-") && stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
