//! The application layer: each question a user asks (load, label, trace,
//! screen, cluster, describe, export) checked, answered and rendered in the
//! format asked for. The command line (`main.rs`) and the HTTP server
//! (`serve`) call these same functions; neither holds logic of its own.
//!
//! Checks that need no data (option combinations, formats that need a file,
//! case names) run in the `plan` step of each question, before any store is
//! opened or file is read.

pub mod case;
pub mod cluster;
pub mod conversions;
pub mod ingest;
pub mod labels;
pub mod processes;
pub mod score;
pub mod screen;
pub mod stats;
pub mod trace;
pub mod watch;

/// What `--follow` carries taint or exposure through (TRACING.md §7).
pub use crate::trace::Follow;

use crate::ingest::IngestError;
use crate::report::parquet::ParquetError;
use crate::screen::ScreenError;
use crate::store::{Store, StoreError};
use crate::trace::TraceError;
use std::path::{Path, PathBuf};

/// Why a question cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad arguments, or data that cannot support the question (exit status 1).
    #[error("{0}")]
    Usage(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input file is bad (it names file, line and field).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Writing a Parquet output failed.
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    /// Writing an output file failed (the cause is the source).
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The exposure index failed.
    #[error(transparent)]
    Screen(ScreenError),
    /// A run across processes stopped: a process died or its connection broke.
    #[error("the run stopped: {0}")]
    Run(String),
    /// A bug: the engine broke one of its own invariants.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The exit status of INTERFACE.md: 1 bad input or usage, 2 an internal
    /// or I/O error.
    pub fn exit_status(&self) -> u8 {
        match self {
            AppError::Usage(_) => 1,
            AppError::Store(s) | AppError::Ingest(IngestError::Store(s)) => store_status(s),
            AppError::Ingest(_) => 1,
            AppError::Screen(ScreenError::Store(s)) => store_status(s),
            AppError::Screen(ScreenError::Usage(_) | ScreenError::TooLarge(_)) => 1,
            AppError::Parquet(_) | AppError::Write { .. } | AppError::Screen(_) | AppError::Run(_) | AppError::Internal(_) => 2,
        }
    }
}

/// The exit status of a store error: 1 for what the user can mend (no
/// store, another version, data that does not fit), 2 for I/O and corruption.
pub fn store_status(e: &StoreError) -> u8 {
    match e {
        StoreError::Missing(_) | StoreError::Version { .. } | StoreError::Mismatch { .. } | StoreError::Limit(_) => 1,
        StoreError::Io { .. } | StoreError::Corrupt { .. } => 2,
    }
}

impl From<TraceError> for AppError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Usage(m) => AppError::Usage(m),
            TraceError::Store(s) => AppError::Store(s),
            TraceError::Internal(m) => AppError::Internal(m),
            // A limit the caller set: theirs to widen.
            TraceError::Halted(h) => AppError::Usage(h.to_string()),
        }
    }
}

impl From<crate::dataflow::DataflowError> for AppError {
    fn from(e: crate::dataflow::DataflowError) -> Self {
        use crate::dataflow::DataflowError as D;
        match e {
            D::Trace(t) => t.into(),
            D::Screen(s) => s.into(),
            D::Unsupported(m) => AppError::Usage(m),
            D::Start(m) => AppError::Usage(format!("the run could not start: {m}")),
            D::Worker(m) => AppError::Run(m),
        }
    }
}

impl From<ScreenError> for AppError {
    fn from(e: ScreenError) -> Self {
        match e {
            ScreenError::Usage(m) | ScreenError::TooLarge(m) => AppError::Usage(m),
            ScreenError::Store(s) => AppError::Store(s),
            other => AppError::Screen(other),
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(format!("serialising JSON: {e}"))
    }
}

/// Open a store (its manifest and column sizes; no checksums).
pub fn open(dir: &Path) -> Result<Store, AppError> {
    Ok(Store::open(dir)?)
}

/// Open a store and check every column's checksum.
pub fn open_verified(dir: &Path) -> Result<Store, AppError> {
    let s = Store::open(dir)?;
    s.verify()?;
    Ok(s)
}

/// Write a text output file.
pub fn write_text(path: &Path, text: &str) -> Result<(), AppError> {
    write_with(path, |w| std::io::Write::write_all(w, text.as_bytes()))
}

/// Write a file through `write`, streamed (a large report is never one
/// string in memory), aside and renamed: a run stopped midway leaves no
/// half file. The writer is a concrete type, not `dyn Write`: a
/// serialiser's many small writes then inline into its buffer's.
pub fn write_with(path: &Path, write: impl FnOnce(&mut FileWriter) -> std::io::Result<()>) -> Result<(), AppError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".partial-{}", std::process::id()));
    let aside = PathBuf::from(aside);
    let err = |source| AppError::Write { path: path.to_path_buf(), source };
    let written = std::fs::File::create(&aside).and_then(|f| {
        let mut w = FileWriter::new(f);
        write(&mut w)?;
        w.finish()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&aside);
        return Err(err(e));
    }
    std::fs::rename(&aside, path).map_err(|e| {
        let _ = std::fs::remove_file(&aside);
        err(e)
    })
}

/// A file written by a thread of its own, a megabyte at a time: the
/// caller fills one buffer while the kernel copies the last into the page
/// cache. One after the other, a wide report went out at 0.84-0.88 GB/s;
/// overlapped, at about 1 GB/s, the speed serde formats it into a buffer
/// (`cargo bench --bench writers`). The buffers go back and forth, so
/// only a few megabytes are ever fresh memory.
pub struct FileWriter {
    buf: Vec<u8>,
    to: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// Bytes handed over at a time.
const HAND_OVER: usize = 1 << 20;

impl FileWriter {
    fn new(mut f: std::fs::File) -> Self {
        use std::io::Write;
        let (to, full) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, back) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            for mut b in full {
                f.write_all(&b)?;
                b.clear();
                let _ = give_back.try_send(b);
            }
            Ok(())
        });
        FileWriter { buf: Vec::with_capacity(HAND_OVER), to: Some(to), back, thread: Some(thread) }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = self.back.try_recv().unwrap_or_else(|_| Vec::with_capacity(HAND_OVER));
        let full = std::mem::replace(&mut self.buf, next);
        match &self.to {
            Some(to) if to.send(full).is_ok() => Ok(()),
            // The thread stopped: its error says why.
            _ => self.finish().and(Err(std::io::Error::other("the file's writer stopped"))),
        }
    }

    /// Hand over what is left and wait until it is written.
    fn finish(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() && self.to.is_some() {
            let rest = std::mem::take(&mut self.buf);
            let _ = self.to.as_ref().map(|to| to.send(rest));
        }
        self.to = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the file's writer panicked")),
            None => Ok(()),
        }
    }
}

impl std::io::Write for FileWriter {
    #[inline]
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }

    #[inline]
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        if self.buf.len() + b.len() > HAND_OVER && !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }

    /// Everything is written by [`write_with`]'s end.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Create an output directory.
pub fn create_dir(path: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(path).map_err(io_error(path))
}

/// An I/O failure on `path`, as the error of a write there.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AppError + '_ {
    move |source| AppError::Write { path: path.to_path_buf(), source }
}

/// JSON as the commands print it: pretty, one trailing newline.
pub fn pretty_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, AppError> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// The address clusters of a Bitcoin store; on another chain a usage error.
pub fn bitcoin_clusters(s: &Store, params: crate::cluster::Params) -> Result<crate::cluster::Clustering, AppError> {
    if s.manifest.chain != crate::model::Chain::Bitcoin {
        return Err(AppError::Usage("address clustering needs a Bitcoin store: it joins the inputs of a transaction".into()));
    }
    Ok(crate::cluster::Clustering::build(s, params))
}

/// Output of the describing commands (`stats`, `labels`, `cluster`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TextFormat {
    /// JSON.
    Json,
    /// A table for people.
    Table,
}

#[cfg(test)]
mod tests {
    use super::FileWriter;
    use std::io::Write;

    #[test]
    fn a_file_writer_writes_everything_in_order_and_reports_a_full_disk() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("out");
        // Small writes across hand-overs, then one larger than a hand-over.
        let data: Vec<u8> = (0..3_000_000u32).map(|x| (x % 251) as u8).collect();
        let big: Vec<u8> = (0..2_500_000u32).map(|x| (x % 13) as u8).collect();
        let mut w = FileWriter::new(std::fs::File::create(&path).expect("create"));
        for chunk in data.chunks(777) {
            w.write_all(chunk).expect("write");
        }
        w.write_all(&big).expect("write");
        w.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), [data, big].concat());

        // A device with no room: the writer's error comes back, from a
        // hand-over or from the end, never lost.
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let mut w = FileWriter::new(full);
        let r = (0..8).try_for_each(|_| w.write_all(&[7u8; 1 << 20])).and_then(|()| w.finish());
        let e = r.expect_err("a full disk is an error");
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
    }
}
