//! Errors of `ingest`: every bad row names its file, line and field.

use crate::model::text::FieldError;
use crate::store::StoreError;
use std::path::PathBuf;

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
