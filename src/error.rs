//! Typed errors of the library. Only `main.rs` turns them into a report.

use std::path::PathBuf;

/// A problem with one field of one row; the reader adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The column name as the export spells it.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// Errors of `ingest`.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A bad row: names file, line and field.
    #[error("{file}: line {line}, field `{field}`: {message}")]
    Row {
        /// The input file.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A problem with a whole file (empty, compressed, wrong columns).
    #[error("{file}: {message}")]
    File {
        /// The input file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading a file failed. The cause is the error's source, which the
    /// CLI prints after it (naming it here too would print it twice).
    #[error("{file}: cannot read")]
    Io {
        /// The input file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// A file-level error.
    pub fn file(file: &std::path::Path, message: impl Into<String>) -> Self {
        IngestError::File { file: file.to_path_buf(), message: message.into() }
    }

    /// A row-level error from a field error.
    pub fn row(file: &std::path::Path, line: u64, e: FieldError) -> Self {
        IngestError::Row { file: file.to_path_buf(), line, field: e.field, message: e.message }
    }
}

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
}
