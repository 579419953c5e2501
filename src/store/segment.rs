//! Segments: immutable files that hold the bytes a write added to each
//! column, and the memory regions that show a column's parts as one flat
//! slice (ADR 0010).
//!
//! A column is a list of parts, each a byte range of one segment file. Every
//! part but a column's last is a whole number of [`ALIGN`] bytes, and every
//! part starts at an `ALIGN` offset of its file, so the parts can be mapped
//! one after another into a single reserved address range: readers keep
//! indexing flat `&[u32]`/`&[u128]` arrays however many appends built them.
//! An append that finds a column's last part ragged copies those few bytes
//! (under `ALIGN`) into its own segment ahead of its new rows, so an append
//! costs its new bytes plus at most `ALIGN` bytes a column.

use super::StoreError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Alignment of parts in segment files and of part lengths (all but the
/// last of a column): the page size of the machines this runs on. Where
/// pages are larger, columns are read into memory instead of mapped.
pub const ALIGN: u64 = 4096;

/// One byte range of a segment file that continues a column.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    /// The segment file's name in the store directory.
    pub segment: String,
    /// Where the range starts in it (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Its length.
    pub bytes: u64,
    /// xxh3-64 of the range, hex.
    pub xxh3: String,
}

/// A sorted run of a lookup structure (address index, transaction-hash
/// index, final balances) written by one segment. Runs sit back to back in
/// their column; a later run is newer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Run {
    /// The segment that wrote it.
    pub segment: String,
    /// Entries: address ids, transactions indexed, or balance records.
    pub count: u64,
}

/// A segment file of the live store, oldest first in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentInfo {
    /// File name in the store directory.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Events whose rows it added.
    pub events: u64,
}

/// Whether `name` is a segment file name.
pub fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("seg-").and_then(|s| s.strip_suffix(".seg")).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Writes one new segment file: parts at aligned offsets, synced at the end.
pub struct SegmentWriter {
    name: String,
    path: PathBuf,
    file: std::io::BufWriter<File>,
    offset: u64,
    events: u64,
    /// Bytes handed to the kernel's writeback so far (see `start_writeback`).
    flushed: u64,
}

/// Bytes written between two starts of writeback.
const WRITEBACK_EVERY: u64 = 32 << 20;

impl SegmentWriter {
    /// Create the next segment file of the store at `dir`, numbered past
    /// every segment file there (writers remove killed writes' leftovers
    /// first, under the lock, so a rerun gets the name the killed write had).
    pub fn create(dir: &Path) -> Result<SegmentWriter, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut next = 1u64;
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let name = e.map_err(io(dir))?.file_name().to_string_lossy().into_owned();
            if is_segment_name(&name) {
                let n: u64 = name[4..name.len() - 4].parse().unwrap_or(0);
                next = next.max(n + 1);
            }
        }
        let name = format!("seg-{next:06}.seg");
        let path = dir.join(&name);
        let f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io(&path))?;
        Ok(SegmentWriter { name, path, file: std::io::BufWriter::with_capacity(1 << 20, f), offset: 0, events: 0, flushed: 0 })
    }

    /// The file's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Record how many events' rows this segment adds.
    pub fn set_events(&mut self, n: u64) {
        self.events = n;
    }

    /// Write `bytes` as one part.
    pub fn put(&mut self, bytes: &[u8]) -> Result<Part, StoreError> {
        self.put_range(&[bytes], 0, bytes.len())
    }

    /// Write bytes `lo..hi` of the concatenation of `pieces` as one part,
    /// hashing as it goes (no copy of the pieces is made).
    fn put_range(&mut self, pieces: &[&[u8]], lo: usize, hi: usize) -> Result<Part, StoreError> {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        let mut at = 0usize;
        for p in pieces {
            let (a, b) = (lo.max(at), hi.min(at + p.len()));
            if a < b {
                let slice = &p[a - at..b - at];
                h.update(slice);
                self.file.write_all(slice).map_err(io(&self.path))?;
            }
            at += p.len();
        }
        let len = (hi - lo) as u64;
        let part = Part { segment: self.name.clone(), offset: self.offset, bytes: len, xxh3: format!("{:016x}", h.digest()) };
        let pad = (ALIGN - len % ALIGN) % ALIGN;
        self.file.write_all(&[0u8; ALIGN as usize][..pad as usize]).map_err(io(&self.path))?;
        self.offset += len + pad;
        if self.offset - self.flushed >= WRITEBACK_EVERY {
            self.start_writeback()?;
        }
        Ok(part)
    }

    /// Start writing what is written so far to disk, without waiting: the
    /// sync at the end then waits for the last few megabytes instead of the
    /// whole segment, and the disk works while the columns are encoded.
    fn start_writeback(&mut self) -> Result<(), StoreError> {
        self.file.flush().map_err(io(&self.path))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.flushed as libc::off64_t, (self.offset - self.flushed) as libc::off64_t);
            // SAFETY: the descriptor is this writer's open file; the call only
            // starts writeback of a byte range and touches no memory of ours.
            // A failure is not an error: the sync at the end still runs.
            unsafe {
                libc::sync_file_range(self.file.get_ref().as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        self.flushed = self.offset;
        Ok(())
    }

    /// A whole column: an aligned part and a ragged tail under [`ALIGN`]
    /// bytes, so that a later append copies only the tail.
    pub fn put_column(&mut self, bytes: &[u8]) -> Result<Vec<Part>, StoreError> {
        self.put_column_pieces(&[bytes])
    }

    /// [`SegmentWriter::put_column`] of the concatenation of `pieces`.
    pub fn put_column_pieces(&mut self, pieces: &[&[u8]]) -> Result<Vec<Part>, StoreError> {
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let cut = total - total % ALIGN as usize;
        let mut parts = Vec::with_capacity(2);
        for (lo, hi) in [(0, cut), (cut, total)] {
            if lo < hi {
                parts.push(self.put_range(pieces, lo, hi)?);
            }
        }
        Ok(parts)
    }

    /// Continue a column: `old` is its part list and `old_bytes` its bytes;
    /// a ragged last part is copied ahead of `new`. Returns the new list.
    pub fn extend_column(&mut self, old: &[Part], old_bytes: &[u8], new: &[u8]) -> Result<Vec<Part>, StoreError> {
        self.splice_column(old, old_bytes, old_bytes.len(), new)
    }

    /// Keep the first `keep` bytes of a column and continue it with `new`:
    /// whole parts before the cut stay where they are, the whole pages of
    /// the part the cut falls in stay too (a new part over them, its
    /// checksum computed from the bytes), and what is left under a page is
    /// copied ahead of `new`. Returns the new list.
    pub fn splice_column(&mut self, old: &[Part], old_bytes: &[u8], keep: usize, new: &[u8]) -> Result<Vec<Part>, StoreError> {
        if new.is_empty() && keep == old_bytes.len() {
            return Ok(old.to_vec());
        }
        let mut parts = Vec::with_capacity(old.len() + 2);
        let mut at = 0usize;
        let mut tail = Vec::new();
        for p in old {
            let end = at + p.bytes as usize;
            if end <= keep {
                parts.push(p.clone());
                at = end;
                continue;
            }
            let whole = (keep - at) / ALIGN as usize * ALIGN as usize;
            if whole > 0 {
                let h = xxhash_rust::xxh3::xxh3_64(&old_bytes[at..at + whole]);
                parts.push(Part { segment: p.segment.clone(), offset: p.offset, bytes: whole as u64, xxh3: format!("{h:016x}") });
                at += whole;
            }
            break;
        }
        // A ragged part before the cut (the last one kept whole, under a
        // page or not a whole number of pages) must not stay in the middle.
        if let Some(last) = parts.last()
            && last.bytes % ALIGN != 0
        {
            at -= last.bytes as usize;
            parts.pop();
        }
        tail.extend_from_slice(&old_bytes[at..keep]);
        tail.extend_from_slice(new);
        parts.extend(self.put_column(&tail)?);
        Ok(parts)
    }

    /// Flush and sync the file; returns what the manifest lists of it.
    pub fn finish(self) -> Result<SegmentInfo, StoreError> {
        let SegmentWriter { name, path, file, offset, events, .. } = self;
        let f = file.into_inner().map_err(|e| StoreError::Io { path: path.clone(), source: e.into_error() })?;
        f.sync_all().map_err(io(&path))?;
        Ok(SegmentInfo { name, bytes: offset, events })
    }
}

/// A column's parts as one read-only slice.
pub(crate) enum Region {
    /// No bytes.
    Empty,
    /// The parts mapped back to back into one reserved range.
    Mapped {
        /// Start of the range.
        ptr: *mut u8,
        /// Bytes of the column.
        len: usize,
        /// Bytes reserved (a whole number of pages).
        reserved: usize,
    },
    /// The parts read into memory (pages larger than [`ALIGN`]); `u128`
    /// words keep the widest column type aligned.
    Owned(Vec<u128>, usize),
}

// SAFETY: the mapping is read-only and owned by the region; nothing writes
// through `ptr`, so sharing it between threads is as safe as sharing `&[u8]`.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p <= 0 { ALIGN } else { p as u64 }
}

impl Region {
    /// Map `parts` (files opened from `dir`) back to back. Ranges that lie
    /// outside their file, or a non-last part of ragged length, are
    /// reported as corruption, never mapped (a read past a file's end would
    /// be a SIGBUS).
    pub(crate) fn map(
        dir: &Path,
        parts: &[Part],
        files: &mut std::collections::HashMap<String, (File, u64)>,
    ) -> Result<Region, StoreError> {
        let total: u64 = parts.iter().map(|p| p.bytes).sum();
        if total == 0 {
            return Ok(Region::Empty);
        }
        for (k, p) in parts.iter().enumerate() {
            let path = dir.join(&p.segment);
            if !is_segment_name(&p.segment) {
                return Err(StoreError::Corrupt { path, message: "not a segment file name".into() });
            }
            if !files.contains_key(&p.segment) {
                let f = File::open(&path).map_err(io(&path))?;
                let len = f.metadata().map_err(io(&path))?.len();
                files.insert(p.segment.clone(), (f, len));
            }
            let len = files[&p.segment].1;
            if p.offset % ALIGN != 0
                || (k + 1 < parts.len() && p.bytes % ALIGN != 0)
                || p.offset.checked_add(p.bytes).is_none_or(|e| e > len)
            {
                return Err(StoreError::Corrupt {
                    path,
                    message: format!("part at {} of {} bytes does not fit the file's {len} bytes or its alignment", p.offset, p.bytes),
                });
            }
        }
        let total = usize::try_from(total)
            .map_err(|_| StoreError::Corrupt { path: dir.to_path_buf(), message: "column larger than memory".into() })?;
        if !ALIGN.is_multiple_of(page_size()) {
            let mut words = vec![0u128; total.div_ceil(16)];
            let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
            let mut at = 0usize;
            for p in parts {
                use std::os::unix::fs::FileExt;
                let path = dir.join(&p.segment);
                files[&p.segment].0.read_exact_at(&mut buf[at..at + p.bytes as usize], p.offset).map_err(io(&path))?;
                at += p.bytes as usize;
            }
            return Ok(Region::Owned(words, total));
        }
        let reserved = total.div_ceil(ALIGN as usize) * ALIGN as usize;
        // SAFETY: an anonymous, inaccessible reservation; no memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(StoreError::Io { path: dir.to_path_buf(), source: std::io::Error::last_os_error() });
        }
        let region = Region::Mapped { ptr: base.cast(), len: total, reserved };
        let mut at = 0usize;
        for p in parts {
            if p.bytes == 0 {
                continue;
            }
            use std::os::fd::AsRawFd;
            let fd = files[&p.segment].0.as_raw_fd();
            // SAFETY: `base + at` lies inside our reservation and is page
            // aligned (every earlier part is a whole number of pages); the
            // range lies inside the file (checked above), and segment files
            // are never written once a manifest names them, so the shared
            // read-only mapping never changes under the slice.
            let got = unsafe {
                libc::mmap(
                    base.cast::<u8>().add(at).cast(),
                    p.bytes as usize,
                    libc::PROT_READ,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd,
                    p.offset as libc::off_t,
                )
            };
            if got == libc::MAP_FAILED {
                return Err(StoreError::Io { path: dir.join(&p.segment), source: std::io::Error::last_os_error() });
            }
            at += p.bytes as usize;
        }
        Ok(region)
    }

    /// Tell the kernel how the column is read: at random (lookups: no
    /// read-ahead and no mapping of neighbouring pages on a fault, so a
    /// lookup maps the pages it touches and no others) or in order (a scan).
    pub(crate) fn advise(&self, random: bool) {
        if let Region::Mapped { ptr, reserved, .. } = self {
            let advice = if random { libc::MADV_RANDOM } else { libc::MADV_SEQUENTIAL };
            // SAFETY: advice on our own mapping; it never changes its contents.
            unsafe { libc::madvise(ptr.cast(), *reserved, advice) };
        }
    }

    /// Map every page of the region now, in one call: cheaper than a fault
    /// a page where lookups will touch most of them. Best effort: a kernel
    /// without `MADV_POPULATE_READ` (before 5.14) faults them in as read.
    pub(crate) fn populate(&self) {
        if let Region::Mapped { ptr, len, .. } = self {
            // SAFETY: advice on our own read-only mapping of `len` bytes
            // inside files checked to hold them; it never changes contents.
            unsafe { libc::madvise(ptr.cast(), *len, libc::MADV_POPULATE_READ) };
        }
    }

    /// Drop the region's pages from the process's resident set. They are
    /// clean file pages: the page cache keeps them, and a later read maps
    /// them again.
    pub(crate) fn release(&self) {
        if let Region::Mapped { ptr, reserved, .. } = self {
            // SAFETY: our own read-only mapping; MADV_DONTNEED on it drops
            // page-table entries only, never contents.
            unsafe { libc::madvise(ptr.cast(), *reserved, libc::MADV_DONTNEED) };
        }
    }

    /// The column's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Region::Empty => &[],
            // SAFETY: `len` bytes from `ptr` are mapped readable for the
            // region's life (see `map`).
            Region::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Region::Owned(w, len) => &bytemuck::cast_slice(w)[..*len],
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Region::Mapped { ptr, reserved, .. } = self {
            // SAFETY: the whole reservation, mapped by `map` and unmapped once.
            unsafe { libc::munmap(ptr.cast(), *reserved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_map_back_to_back() {
        let t = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..5_000u32).map(|i| (i * 7) as u8).collect();
        let mut w = SegmentWriter::create(t.path()).unwrap();
        let parts = w.put_column(&a).unwrap();
        assert_eq!(parts.len(), 2, "an aligned part and a ragged tail");
        w.finish().unwrap();
        let mut files = Default::default();
        let r = Region::map(t.path(), &parts, &mut files).unwrap();
        assert_eq!(r.bytes(), &a[..]);
        let mut w = SegmentWriter::create(t.path()).unwrap();
        assert_eq!(w.name(), "seg-000002.seg");
        let parts2 = w.extend_column(&parts, r.bytes(), &b).unwrap();
        w.finish().unwrap();
        assert_eq!(parts2[0], parts[0], "the aligned part is kept");
        let mut files = Default::default();
        let r2 = Region::map(t.path(), &parts2, &mut files).unwrap();
        let mut ab = a.clone();
        ab.extend_from_slice(&b);
        assert_eq!(r2.bytes(), &ab[..]);
        // A part past its file's end is refused, not mapped.
        let mut bad = parts2.clone();
        bad.last_mut().unwrap().bytes += 1 << 20;
        let mut files = Default::default();
        assert!(Region::map(t.path(), &bad, &mut files).is_err());
    }
}
