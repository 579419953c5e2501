//! Errors of `store`.

use std::path::PathBuf;

/// Errors of `store`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing store files failed (the cause is the source).
    #[error("store {path}: I/O failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No store at that path.
    #[error("{0}: not a chaintrace store (no CURRENT file); run `chaintrace ingest` first")]
    Missing(PathBuf),
    /// A store written by another format version.
    #[error("store {path}: format version {found} is not supported (this chaintrace reads version {supported}); re-ingest the data")]
    Version {
        /// The store.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Checksums or sizes do not match.
    #[error("store {path}: corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The data does not fit the store (other chain, other ordering).
    #[error("store {path}: {message}")]
    Mismatch {
        /// The store.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// The data needs more ids than the format holds; nothing was written.
    #[error("store refused the data: {0}")]
    Limit(#[from] crate::model::ids::IdLimit),
}
