//! Bounded-memory ingest: inputs larger than the memory budget are read a
//! window of blocks at a time, and each window is committed as an append
//! (docs/adr/0011-bounded-memory-ingest.md).
//!
//! The exports are ordered by block, each file on its own (blockchain-etl
//! writes them so), and a transaction's rows share its block. So a window
//! of blocks is a byte range of every file, and a transaction never straddles
//! two windows: trace ranks and occurrence numbers, which are per
//! transaction, come out as in one pass. Each window's events come after the
//! store's end, so its commit is an append: a sorted run of the window
//! written to disk, the store's segments being the runs and `compact`
//! their merge. TRACING.md §8 (appends give the reports of one ingest) then
//! makes the result byte-identical to a one-pass ingest of the same files.
//!
//! A file is scanned first for where its blocks start (every record's block
//! number is read, nothing else is parsed) and hashed; only a mark every
//! `grain` bytes is kept, and a window's exact edge is found again by
//! reading forward from the mark before it.

use super::IngestError;
use super::csv::{Header, count_lines, last_record_end, records_as, split_record};
use memchr::memmem;
use std::path::Path;

/// The default memory budget: a third of the machine's memory (8 GiB of
/// 24), leaving the rest to the page cache that the store's and the
/// input's mapped pages live in; 8 GiB where the size is unknown.
pub fn default_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
    });
    total.map_or(8 << 30, |t| t / 3)
}

/// Input bytes a window may read under a budget of `memory` bytes, into a
/// store of `stored` events. The window's rows: one pass over the generated
/// world's exports peaks at 0.38 bytes a byte of input (10^7 events: 1.42
/// GB for 3.78 GB), so two thirds leaves room. The store's side: an append
/// touches the store's address table, transaction-hash tables and final
/// balances, mapped, about 27 bytes a stored event at 10^8 to 3x10^8
/// (benches/RESULTS.md); that comes off the budget, down to an eighth of it
/// (a store that large takes more than the budget whatever the window).
pub fn input_per_window(memory: u64, stored: u64) -> u64 {
    memory.saturating_sub(stored.saturating_mul(STORE_BYTES)).max(memory / 8).saturating_mul(3) / 2
}

/// Resident bytes an append touches per event stored (see [`input_per_window`]).
const STORE_BYTES: u64 = 27;

/// Input bytes an event takes, at least, in blockchain-etl CSV (the
/// generated world: 378), to foresee the store's size at a later window.
pub const INPUT_BYTES_PER_EVENT: u64 = 300;

/// The records of one file that a window reads: bytes `start..end`, the
/// first of them on line `line`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte (a record's start).
    pub start: u64,
    /// Byte after the last record.
    pub end: u64,
    /// Line of the record at `start`.
    pub line: u64,
}

/// Where the blocks of one file start, every `grain` bytes or so.
#[derive(Debug)]
pub struct Marks {
    /// `(block, offset of its first record, that record's line)`, ascending.
    at: Vec<(u64, u64, u64)>,
    /// The file's size and the line after its last record.
    end: (u64, u64),
    /// xxh3-128 of the whole file, hex (as `LoadedFile::content_hash`).
    pub hash: String,
    json: bool,
    block_field: usize,
}

/// How a file's block numbers are found in a record.
fn block_of(rec: &[u8], json: bool, field: usize) -> Option<u64> {
    let raw = if json {
        let at = memmem::find(rec, b"\"block_number\"")? + 14;
        let rest = &rec[at..];
        let rest = rest.iter().position(|&c| c != b' ' && c != b':' && c != b'"').map_or(&rest[rest.len()..], |p| &rest[p..]);
        &rest[..rest.iter().position(|c| !c.is_ascii_digit()).unwrap_or(rest.len())]
    } else {
        nth_field(rec, field)?
    };
    if raw.is_empty() || raw.len() > 19 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(raw.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0')))
}

/// Field `k` of a CSV record, its quotes removed (a quoted block number is
/// still a number; anything odd makes the caller give up on windows).
fn nth_field(rec: &[u8], k: usize) -> Option<&[u8]> {
    let (mut field, mut start, mut i, mut quoted) = (0, 0, 0, false);
    while let Some(p) = memchr::memchr2(b',', b'"', &rec[i..]) {
        let p = i + p;
        if rec[p] == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if field == k {
                return Some(unquote(&rec[start..p]));
            }
            field += 1;
            start = p + 1;
        }
        i = p + 1;
    }
    (field == k).then(|| unquote(&rec[start..]))
}

fn unquote(f: &[u8]) -> &[u8] {
    f.strip_prefix(b"\"").and_then(|f| f.strip_suffix(b"\"")).unwrap_or(f)
}

fn map(path: &Path) -> Result<Option<memmap2::Mmap>, IngestError> {
    let io = |source| IngestError::Io { file: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Ok(None);
    }
    // SAFETY: read-only; see CsvReader::open_with.
    Ok(unsafe { memmap2::MmapOptions::new().map(&file) }.ok())
}

/// Bytes a scan reads (whole records) between releases of the pages behind it.
const RELEASE: usize = 64 << 20;

/// Release the pages a scan read from the process's resident memory.
fn release(m: &memmap2::Mmap, from: usize, to: usize) {
    let (from, to) = (from / 4096 * 4096, to / 4096 * 4096);
    if to > from {
        // SAFETY: a read-only file mapping; dropped pages are read again if touched.
        let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
    }
}

impl Marks {
    /// Scan a file for where its blocks start. `None`: it cannot be read in
    /// windows (not mappable, no `block_number`, a row without one, or blocks
    /// not ascending); the ingest then reads it in one pass, and its own
    /// parse reports any bad row.
    pub fn scan(path: &Path, json: bool, grain: u64) -> Result<Option<Marks>, IngestError> {
        let Some(m) = map(path)? else { return Ok(None) };
        let _ = m.advise(memmap2::Advice::Sequential);
        let marks = Self::marks(&m, json, grain);
        release(&m, 0, m.len());
        Ok(marks.map(|(at, end, block_field, hash)| Marks { at, end, hash, json, block_field }))
    }

    /// The marks, the end, the block field and the hash, in one pass of
    /// whole records a chunk at a time: each chunk is hashed while its pages
    /// are in the cache, then dropped from the resident set.
    #[allow(clippy::type_complexity)]
    fn marks(m: &memmap2::Mmap, json: bool, grain: u64) -> Option<(Vec<(u64, u64, u64)>, (u64, u64), usize, String)> {
        let (body, mut line, field) = if json {
            (0, 1, 0)
        } else {
            let first = memchr::memchr(b'\n', m).map_or(m.len(), |p| p + 1);
            let mut head = &m[..first];
            while let Some((&c, rest)) = head.split_last() {
                if c == b'\n' || c == b'\r' { head = rest } else { break }
            }
            let mut fields = Vec::new();
            split_record(head, &mut fields).ok()?;
            (first, 2, Header::new(&fields).idx("block_number")?)
        };
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        hash.update(&m[..body]);
        let mut at: Vec<(u64, u64, u64)> = Vec::new();
        let mut last = None;
        let mut pos = body;
        while pos < m.len() {
            // A chunk of whole records (wider if one record is longer).
            let mut len = RELEASE;
            let end = loop {
                let lim = (pos + len).min(m.len());
                if lim == m.len() {
                    break lim;
                }
                if let Some(e) = last_record_end(&m[pos..lim], !json) {
                    break pos + e;
                }
                len *= 2;
            };
            let chunk = &m[pos..end];
            for (rec, l) in records_as(chunk, line, !json) {
                let b = block_of(rec, json, field)?;
                let off = (rec.as_ptr() as usize - m.as_ptr() as usize) as u64;
                match last {
                    Some(p) if b < p => return None,
                    Some(p) if b == p => {}
                    _ => {
                        if at.last().is_none_or(|&(_, o, _)| off - o >= grain) {
                            at.push((b, off, l));
                        }
                    }
                }
                last = Some(b);
            }
            line += count_lines(chunk);
            hash.update(chunk);
            release(m, pos, end);
            pos = end;
        }
        Some((at, (m.len() as u64, line), field, format!("{:032x}", hash.digest128())))
    }

    /// The offset of the first mark of a block at or past `b`, as an
    /// estimate of where `b` starts (at most one grain and a block late).
    fn estimate(&self, b: u64) -> u64 {
        let k = self.at.partition_point(|m| m.0 < b);
        self.at.get(k).map_or(self.end.0, |m| m.1)
    }

    /// Exactly where the first record of a block at or past `b` is:
    /// `(offset, line)`, read forward from the mark before it.
    fn locate(&self, path: &Path, b: u64) -> Result<(u64, u64), IngestError> {
        let k = self.at.partition_point(|m| m.0 < b);
        if k == 0 {
            return Ok(self.at.first().map_or(self.end, |m| (m.1, m.2)));
        }
        let (_, from, line) = self.at[k - 1];
        let to = self.at.get(k).map_or(self.end.0, |m| m.1);
        let Some(m) = map(path)? else { return Err(IngestError::file(path, "cannot be mapped again to find a window's edge")) };
        let part = &m[from as usize..to as usize];
        let found = records_as(part, line, !self.json).find(|(rec, _)| block_of(rec, self.json, self.block_field).is_none_or(|x| x >= b));
        release(&m, from as usize, to as usize);
        Ok(match found {
            Some((rec, l)) => ((rec.as_ptr() as usize - m.as_ptr() as usize) as u64, l),
            None => self.at.get(k).map_or(self.end, |m| (m.1, m.2)),
        })
    }
}

/// The window edges for files (each with the block it was already read
/// through, if a windowed ingest of it was interrupted): each window ends
/// before the returned block, and holds about `window_bytes(done)` of input
/// in all (`done`: the input bytes of the windows before it), or one block
/// if that is more. The last edge is `u64::MAX`.
pub fn plan(files: &[(&Marks, Option<u64>)], window_bytes: impl Fn(u64) -> u64) -> Vec<u64> {
    let start =
        |m: &Marks, through: Option<u64>| through.map_or(m.at.first().map_or(m.end.0, |x| x.1), |t| m.estimate(t.saturating_add(1)));
    let before = |c: u64| -> u64 { files.iter().map(|&(m, t)| m.estimate(c).saturating_sub(start(m, t))).sum() };
    let mut cuts: Vec<u64> = files.iter().flat_map(|&(m, t)| m.at.iter().map(|x| x.0).filter(move |&b| t.is_none_or(|t| b > t))).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let total = before(u64::MAX);
    let mut edges = Vec::new();
    let (mut done, mut k) = (0u64, 0);
    while total - done > window_bytes(done) {
        // The furthest cut within the budget, or the next one if none is.
        let mut best = None;
        for (j, &c) in cuts.iter().enumerate().skip(k) {
            let s = before(c);
            if s <= done {
                continue;
            }
            if s - done > window_bytes(done) && best.is_some() {
                break;
            }
            best = Some((j, s));
        }
        let Some((j, s)) = best else { break };
        edges.push(cuts[j]);
        done = s;
        k = j + 1;
    }
    edges.push(u64::MAX);
    edges
}

/// The range of a file that the window of blocks `from..to` reads (`from`
/// and `to` as [`plan`]'s edges; the first window's `from` is 0).
pub fn range(path: &Path, m: &Marks, from: u64, to: u64) -> Result<Range, IngestError> {
    let (start, line) = m.locate(path, from)?;
    let (end, _) = if to == u64::MAX { m.end } else { m.locate(path, to)? };
    Ok(Range { start, end: end.max(start), line })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("chaintrace-window-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn rows(blocks: &[u64]) -> String {
        let mut s = String::from("hash,\"block_number\",note\n");
        for (i, b) in blocks.iter().enumerate() {
            s.push_str(&format!("0x{i:02},{b},\"a,b\"\n"));
        }
        s
    }

    #[test]
    fn windows_cut_between_blocks_and_cover_every_record() {
        let blocks = [1, 1, 2, 3, 3, 3, 5, 8, 8, 9];
        let p = write("a.csv", &rows(&blocks));
        let text = std::fs::read(&p).unwrap();
        let m = Marks::scan(&p, false, 1).unwrap().expect("ordered");
        assert_eq!(m.hash, format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&text)));
        let edges = plan(&[(&m, None)], |_| 30);
        assert_eq!(*edges.last().unwrap(), u64::MAX);
        assert!(edges.len() > 2, "{edges:?}");
        let mut from = 0;
        let mut seen = Vec::new();
        let mut next = m.at[0].1;
        for &to in &edges {
            let r = range(&p, &m, from, to).unwrap();
            assert_eq!(r.start, next, "windows abut");
            next = r.end;
            for (rec, line) in records_as(&text[r.start as usize..r.end as usize], r.line, true) {
                let b = block_of(rec, false, 1).unwrap();
                assert!(b >= from && b < to);
                assert_eq!(rec, text.split(|&c| c == b'\n').nth(line as usize - 1).unwrap());
                seen.push(b);
            }
            from = to;
        }
        assert_eq!(seen, blocks);
        assert_eq!(next, text.len() as u64);
    }

    #[test]
    fn unordered_or_blockless_files_are_not_windowed() {
        let p = write("b.csv", &rows(&[3, 2]));
        assert!(Marks::scan(&p, false, 1).unwrap().is_none());
        let p = write("c.csv", "hash,value\n0x1,2\n");
        assert!(Marks::scan(&p, false, 1).unwrap().is_none());
        let p = write("d.json", "{\"block_number\": 4, \"x\": 1}\n{\"block_number\":6}\n");
        let m = Marks::scan(&p, true, 1).unwrap().expect("json");
        assert_eq!(m.at.iter().map(|x| x.0).collect::<Vec<_>>(), vec![4, 6]);
        assert_eq!(m.at[1].2, 2);
    }
}
