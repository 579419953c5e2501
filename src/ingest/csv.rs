//! A streaming CSV reader built for large exports: reads big blocks, cuts them
//! at record boundaries and hands whole records to parallel parsers, so a
//! multi-gigabyte file never sits in memory and lines are numbered exactly.

use crate::ingest::IngestError;
use memchr::{memchr, memchr2, memrchr};
use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read per block.
pub const BLOCK_SIZE: usize = 8 << 20;

/// A CSV header: column names, trimmed and lowercased.
#[derive(Debug, Clone)]
pub struct Header {
    /// Names in file order.
    pub names: Vec<String>,
}

impl Header {
    /// Build from raw fields.
    pub fn new(fields: &[Cow<'_, [u8]>]) -> Self {
        let names = fields.iter().map(|f| String::from_utf8_lossy(f).trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
        Header { names }
    }

    /// Index of a column.
    pub fn idx(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Index of the first of several spellings present.
    pub fn idx_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.idx(n))
    }

    /// Whether all the columns are present.
    pub fn has_all(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.idx(n).is_some())
    }
}

/// One record's fields.
pub struct Row<'a> {
    /// Fields in header order.
    pub fields: &'a [Cow<'a, [u8]>],
}

impl Row<'_> {
    /// A field by optional index; empty when absent.
    #[inline]
    pub fn get(&self, i: Option<usize>) -> &[u8] {
        match i {
            Some(i) => self.fields.get(i).map_or(&[][..], |f| &f[..]),
            None => &[],
        }
    }
}

/// Split one record into fields (RFC 4180 quoting; `""` inside quotes).
pub fn split_record<'a>(line: &'a [u8], out: &mut Vec<Cow<'a, [u8]>>) -> Result<(), &'static str> {
    out.clear();
    let mut pos = 0;
    loop {
        if line.get(pos) == Some(&b'"') {
            let mut i = pos + 1;
            let mut owned: Option<Vec<u8>> = None;
            let mut seg = i;
            loop {
                match memchr(b'"', &line[i..]) {
                    None => return Err("unterminated quoted field"),
                    Some(q) => {
                        let q = i + q;
                        if line.get(q + 1) == Some(&b'"') {
                            owned.get_or_insert_with(Vec::new).extend_from_slice(&line[seg..=q]);
                            i = q + 2;
                            seg = i;
                        } else {
                            let field = match owned {
                                Some(mut v) => {
                                    v.extend_from_slice(&line[seg..q]);
                                    Cow::Owned(v)
                                }
                                None => Cow::Borrowed(&line[pos + 1..q]),
                            };
                            out.push(field);
                            pos = q + 1;
                            match line.get(pos) {
                                None => return Ok(()),
                                Some(b',') => {
                                    pos += 1;
                                    break;
                                }
                                Some(_) => return Err("text after a closing quote"),
                            }
                        }
                    }
                }
            }
        } else {
            match memchr(b',', &line[pos..]) {
                Some(c) => {
                    out.push(Cow::Borrowed(&line[pos..pos + c]));
                    pos += c + 1;
                }
                None => {
                    out.push(Cow::Borrowed(&line[pos..]));
                    return Ok(());
                }
            }
        }
    }
}

/// Split a record and check it has one field per header column. A short row
/// (a truncated last line, say) is reported at the first column it lacks.
pub fn split_row<'a>(line: &'a [u8], header: &Header, out: &mut Vec<Cow<'a, [u8]>>) -> Result<(), crate::model::text::FieldError> {
    let split = split_record(line, out);
    check_fields(split.map(|()| &out[..]), header).map(|_| ())
}

/// The fields of a split record when it has one per header column;
/// otherwise the error [`split_row`] gives (a failed split included).
pub fn check_fields<'f, 'a>(
    split: Result<&'f [Cow<'a, [u8]>], &'static str>,
    header: &Header,
) -> Result<&'f [Cow<'a, [u8]>], crate::model::text::FieldError> {
    use crate::model::text::FieldError;
    let fields = split.map_err(|m| FieldError::new("(row)", m))?;
    let ncols = header.names.len();
    if fields.len() != ncols {
        return Err(FieldError::new(
            header.names.get(fields.len().min(ncols.saturating_sub(1))).cloned().unwrap_or_default(),
            format!("row has {} fields but the header has {ncols} (truncated or malformed line)", fields.len()),
        ));
    }
    Ok(fields)
}

/// End of the last whole record in `buf` (just past its newline), honouring
/// quotes; `None` if there is none.
pub(super) fn last_record_end(buf: &[u8], quote_aware: bool) -> Option<usize> {
    last_record_end_quoted(buf, quote_aware).0
}

/// [`last_record_end`], and whether `buf` holds a quote that matters (so
/// a caller that splits the records again knows without a second search).
fn last_record_end_quoted(buf: &[u8], quote_aware: bool) -> (Option<usize>, bool) {
    if !quote_aware || memchr(b'"', buf).is_none() {
        return (memrchr(b'\n', buf).map(|p| p + 1), false);
    }
    let mut in_quotes = false;
    let mut last = None;
    let mut i = 0;
    while let Some(p) = memchr2(b'"', b'\n', &buf[i..]) {
        let p = i + p;
        if buf[p] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            last = Some(p + 1);
        }
        i = p + 1;
    }
    (last, true)
}

/// Iterate the records of a slice of whole records: `(record, line_number)`.
pub fn records(part: &[u8], first_line: u64) -> impl Iterator<Item = (&[u8], u64)> {
    records_as(part, first_line, true)
}

/// Like [`records`]; `quote_aware: false` for JSON lines, where a newline always
/// ends a record and quotes follow JSON's rules.
pub fn records_as(part: &[u8], first_line: u64, quote_aware: bool) -> impl Iterator<Item = (&[u8], u64)> {
    let quoted = quote_aware && memchr(b'"', part).is_some();
    let mut pos = 0;
    let mut line = first_line;
    std::iter::from_fn(move || {
        loop {
            if pos >= part.len() {
                return None;
            }
            let start = pos;
            let start_line = line;
            let end = if quoted {
                let mut in_q = false;
                let mut i = pos;
                let mut end = part.len();
                while let Some(p) = memchr2(b'"', b'\n', &part[i..]) {
                    let p = i + p;
                    if part[p] == b'"' {
                        in_q = !in_q;
                    } else if !in_q {
                        end = p;
                        break;
                    } else {
                        line += 1;
                    }
                    i = p + 1;
                }
                end
            } else {
                memchr(b'\n', &part[pos..]).map_or(part.len(), |p| pos + p)
            };
            pos = end + 1;
            line += 1;
            let mut rec = &part[start..end];
            if rec.last() == Some(&b'\r') {
                rec = &rec[..rec.len() - 1];
            }
            if !rec.is_empty() {
                return Some((rec, start_line));
            }
        }
    })
}

/// Bitmasks of the commas, newlines and quotes among the 64 bytes from
/// `at` (bytes past the end of `b` count as none of them): bit `k` stands
/// for byte `at + k`.
#[inline]
fn masks(b: &[u8], at: usize) -> [u64; 3] {
    let rest = &b[at..];
    if rest.len() >= 64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of x86_64; the four 16-byte loads lie
            // inside `rest`, which holds 64 bytes at least.
            unsafe {
                use std::arch::x86_64::*;
                let (comma, nl, quote) = (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'"' as i8));
                let mut m = [0u64; 3];
                for k in 0..4 {
                    let v = _mm_loadu_si128(rest.as_ptr().add(16 * k).cast());
                    for (mask, c) in m.iter_mut().zip([comma, nl, quote]) {
                        *mask |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) as u16) << (16 * k);
                    }
                }
                return m;
            }
        }
    }
    let mut m = [0u64; 3];
    for (k, &c) in rest.iter().take(64).enumerate() {
        m[0] |= u64::from(c == b',') << k;
        m[1] |= u64::from(c == b'\n') << k;
        m[2] |= u64::from(c == b'"') << k;
    }
    m
}

/// Every record of `part` (whole records; its first line is file line
/// `first_line`) split into fields: `row` gets each non-empty record's
/// fields, or why they could not be split, and the line it starts on, and
/// returns false to stop. The same records and fields as [`records`] and
/// [`split_record`], found in one pass over bitmasks of the separators
/// instead of a search per field and another per line; a record with a
/// quote in it is handed to [`split_record`]. Returns the newlines in
/// `part` (all of them, even when `row` stopped early).
pub fn each_record<'a>(
    part: &'a [u8],
    first_line: u64,
    fields: &mut Vec<Cow<'a, [u8]>>,
    mut row: impl FnMut(Result<&[Cow<'a, [u8]>], &'static str>, u64) -> bool,
) -> u64 {
    // Ends the record from `rec` whose last field runs from `start` to just
    // before `end` (a newline or the part's end); false when `row` says stop.
    fn finish<'a>(
        part: &'a [u8],
        fields: &mut Vec<Cow<'a, [u8]>>,
        (rec, start, end): (usize, usize, usize),
        line: u64,
        row: &mut impl FnMut(Result<&[Cow<'a, [u8]>], &'static str>, u64) -> bool,
    ) -> bool {
        let end = if end > rec && part[end - 1] == b'\r' { end - 1 } else { end };
        let go = end <= rec || {
            fields.push(Cow::Borrowed(&part[start.min(end)..end]));
            row(Ok(fields), line)
        };
        fields.clear();
        go
    }
    let (mut line, mut rec, mut start, mut at) = (first_line, 0usize, 0usize, 0usize);
    fields.clear();
    while at < part.len() {
        let [comma, nl, quote] = masks(part, at);
        if quote != 0 {
            // The records from this one's start to past the chunk's last
            // quote go the quote-aware way; the scan resumes after them.
            let upto = at + 64 - quote.leading_zeros() as usize;
            let mut pos = rec;
            for (r, l) in records(&part[rec..], line) {
                // `r` lies inside `part`: its offset is the pointers' distance.
                let end = r.as_ptr() as usize - part.as_ptr() as usize + r.len();
                let next = memchr(b'\n', &part[end..]).map_or(part.len(), |p| end + p + 1);
                fields.clear();
                let go = match split_record(r, fields) {
                    Ok(()) => row(Ok(fields), l),
                    Err(e) => row(Err(e), l),
                };
                fields.clear();
                line += count_lines(&part[pos..next]);
                pos = next;
                if !go {
                    return line - first_line + count_lines(&part[pos..]);
                }
                if pos >= upto {
                    break;
                }
            }
            if pos == rec {
                // Blank lines only (cannot happen with a quote ahead).
                line += count_lines(&part[rec..]);
                pos = part.len();
            }
            (rec, start, at) = (pos, pos, pos);
            continue;
        }
        // Bits past the part's end are clear (see `masks`).
        let mut seps = comma | nl;
        while seps != 0 {
            let pos = at + seps.trailing_zeros() as usize;
            seps &= seps - 1;
            if part[pos] == b',' {
                fields.push(Cow::Borrowed(&part[start..pos]));
                start = pos + 1;
            } else {
                if !finish(part, fields, (rec, start, pos), line, &mut row) {
                    return line - first_line + 1 + count_lines(&part[pos + 1..]);
                }
                line += 1;
                (rec, start) = (pos + 1, pos + 1);
            }
        }
        at += 64;
    }
    if rec < part.len() {
        finish(part, fields, (rec, start, part.len()), line, &mut row);
    }
    line - first_line
}

/// Split a block of whole records into about `n` parts at record
/// boundaries; the caller knows whether it holds quotes that matter
/// (`quoted`: see [`CsvReader::next_block_quoted`]). In a quoted block a newline ends a record only
/// outside quotes, and every quote flips inside and outside (an escaped
/// `""` flips twice), as [`records`] reads it: a part ends at the first
/// newline past its target at which the quotes since the block's start
/// are even.
pub fn split_parts(block: &[u8], n: usize, quoted: bool) -> Vec<&[u8]> {
    // Below 64 KiB a block is not worth a thread.
    split_parts_from(block, n, quoted, 1 << 16)
}

/// [`split_parts`] of blocks of at least `min` bytes (smaller ones stay
/// whole): [`super::parse_text`] splits small ones too, so that a test of
/// one part against many tests the split.
pub fn split_parts_from(block: &[u8], n: usize, quoted: bool, min: usize) -> Vec<&[u8]> {
    if n <= 1 || block.len() < min {
        return vec![block];
    }
    let mut parts = Vec::with_capacity(n);
    let (mut start, mut counted, mut inside) = (0, 0, false);
    for k in 1..n {
        let target = block.len() * k / n;
        if target <= start {
            continue;
        }
        let end = if quoted {
            inside ^= memchr::memchr_iter(b'"', &block[counted..target]).count() % 2 == 1;
            let mut i = target;
            loop {
                match memchr2(b'"', b'\n', &block[i..]) {
                    None => break None,
                    Some(p) if block[i + p] == b'"' => {
                        inside = !inside;
                        i += p + 1;
                    }
                    Some(p) if inside => i += p + 1,
                    Some(p) => break Some(i + p + 1),
                }
            }
        } else {
            memchr(b'\n', &block[target..]).map(|nl| target + nl + 1)
        };
        let Some(end) = end else { break };
        counted = end;
        parts.push(&block[start..end]);
        start = end;
    }
    if start < block.len() {
        parts.push(&block[start..]);
    }
    parts
}

/// Newlines in a slice.
pub fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// A block of whole records, the file line it starts on, and whether it may
/// hold a quote that matters.
pub type Block<'a> = (&'a [u8], u64, bool);

/// Reads a CSV (or JSON-lines) file block by block.
///
/// Regular files are memory-mapped: blocks are handed out in place, without a
/// copy, and each consumed window is released from the process's resident
/// memory. Anything that cannot be mapped (a pipe) is read into a buffer.
pub struct CsvReader {
    path: PathBuf,
    source: Source,
    /// Start of the bytes not yet handed out.
    pos: usize,
    /// Bytes handed out by the last `next_block`.
    handed: usize,
    line: u64,
    /// The header.
    pub header: Header,
    /// Bytes consumed so far.
    pub bytes_read: u64,
    /// File size.
    pub size: u64,
    quote_aware: bool,
    hasher: xxhash_rust::xxh3::Xxh3,
    /// The caller hashes blocks and counts their lines itself (in parallel).
    deferred: bool,
    deferred_lines: u64,
}

enum Source {
    /// A mapped file and the end of what is read of it (the file's size,
    /// or a window's end: [`CsvReader::restrict`]).
    Map(memmap2::Mmap, usize),
    Read {
        file: File,
        buf: Vec<u8>,
        len: usize,
        eof: bool,
    },
    /// Bytes already in memory ([`CsvReader::from_bytes`]).
    Bytes(Vec<u8>),
}

impl Source {
    fn from(&self, pos: usize) -> &[u8] {
        match self {
            Source::Map(m, end) => &m[pos..*end],
            Source::Read { buf, len, .. } => &buf[pos..*len],
            Source::Bytes(b) => &b[pos..],
        }
    }
}

impl CsvReader {
    /// Open a CSV file and read its header.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        Self::open_as(path, true)
    }

    /// Open a CSV file (`csv: true`, reads the header) or a JSON-lines file.
    pub fn open_as(path: &Path, csv: bool) -> Result<Self, IngestError> {
        Self::open_with(path, csv, true)
    }

    /// A reader over bytes already in memory, named `path` in its errors:
    /// what [`super::parse_text`] reads, block by block as a file would be.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, csv: bool) -> Result<Self, IngestError> {
        let size = bytes.len() as u64;
        Self::with_source(path, Source::Bytes(bytes), size, csv)
    }

    fn open_with(path: &Path, csv: bool, map: bool) -> Result<Self, IngestError> {
        let io = |source| IngestError::Io { file: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(IngestError::file(path, "not a regular file (pipes are not read: write the data to a file first)"));
        }
        let size = meta.len();
        let source = if map && size > 0 {
            // SAFETY: the mapping is read-only; a file changed underneath
            // would be a concurrent writer's bug, and its content hash then
            // would not match a reload either.
            match unsafe { memmap2::MmapOptions::new().map(&file) } {
                Ok(m) => {
                    let _ = m.advise(memmap2::Advice::Sequential);
                    let end = m.len();
                    Source::Map(m, end)
                }
                Err(_) => Source::Read { file, buf: Vec::new(), len: 0, eof: false },
            }
        } else {
            Source::Read { file, buf: Vec::new(), len: 0, eof: false }
        };
        Self::with_source(path, source, size, csv)
    }

    fn with_source(path: &Path, source: Source, size: u64, csv: bool) -> Result<Self, IngestError> {
        let mut r = CsvReader {
            path: path.to_path_buf(),
            source,
            pos: 0,
            handed: 0,
            line: 1,
            header: Header { names: Vec::new() },
            bytes_read: 0,
            size,
            quote_aware: csv,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            deferred: false,
            deferred_lines: 0,
        };
        r.fill()?;
        check_plain_text(path, r.pending())?;
        if !csv {
            return Ok(r);
        }
        let head = r.pending();
        let first = head.iter().position(|&c| c == b'\n').map_or(head.len(), |p| p + 1);
        let mut fields = Vec::new();
        let mut line = &head[..first];
        while let Some((&c, rest)) = line.split_last() {
            if c == b'\n' || c == b'\r' { line = rest } else { break }
        }
        split_record(line, &mut fields).map_err(|m| IngestError::Row {
            file: path.to_path_buf(),
            line: 1,
            field: "(header)".into(),
            message: m.into(),
        })?;
        r.header = Header::new(&fields);
        // The header is content too: a renamed column makes another file.
        let header_bytes = &r.source.from(0)[..first];
        r.hasher.update(header_bytes);
        r.line += memchr::memchr_iter(b'\n', header_bytes).count() as u64;
        r.pos = first;
        r.bytes_read = first as u64;
        Ok(r)
    }

    /// Bytes available and not yet handed out.
    fn pending(&self) -> &[u8] {
        self.source.from(self.pos)
    }

    fn eof(&self) -> bool {
        match &self.source {
            Source::Map(..) | Source::Bytes(_) => true,
            Source::Read { eof, .. } => *eof,
        }
    }

    /// Read more (buffered source only).
    fn fill(&mut self) -> Result<(), IngestError> {
        let Source::Read { file, buf, len, eof } = &mut self.source else { return Ok(()) };
        // Keep the unread tail at the front, then read a block after it.
        buf.copy_within(self.pos..*len, 0);
        *len -= self.pos;
        self.pos = 0;
        if buf.len() < *len + BLOCK_SIZE {
            buf.resize(*len + BLOCK_SIZE, 0);
        }
        while *len < buf.len() {
            let n = file.read(&mut buf[*len..]).map_err(|source| IngestError::Io { file: self.path.clone(), source })?;
            if n == 0 {
                *eof = true;
                break;
            }
            *len += n;
        }
        Ok(())
    }

    /// The next block of whole records and the line number of its first record.
    pub fn next_block(&mut self) -> Result<Option<(&[u8], u64)>, IngestError> {
        Ok(self.next_block_quoted()?.map(|(b, line, _)| (b, line)))
    }

    /// [`CsvReader::next_block`], and whether the block may hold a quote
    /// that matters (false when a search found none).
    pub fn next_block_quoted(&mut self) -> Result<Option<Block<'_>>, IngestError> {
        if self.handed > 0 {
            if self.deferred {
                self.line += std::mem::take(&mut self.deferred_lines);
            } else {
                let done = &self.source.from(self.pos)[..self.handed];
                self.line += memchr::memchr_iter(b'\n', done).count() as u64;
                self.hasher.update(done);
            }
            self.bytes_read += self.handed as u64;
            let (start, len) = (self.pos, self.handed);
            self.pos += self.handed;
            self.handed = 0;
            if let Source::Map(m, _) = &self.source {
                // Drop the consumed window from resident memory; whole pages only.
                let page = 4096;
                let from = start / page * page;
                let to = (start + len) / page * page;
                if to > from {
                    // SAFETY: a read-only file mapping: dropped pages are read
                    // again from the file if ever touched, and these are not.
                    let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
                }
            }
        }
        let mut window = BLOCK_SIZE;
        loop {
            let avail = self.pending().len();
            if avail > 0 {
                let whole = avail <= window && self.eof();
                let (cut, quoted) = if whole {
                    (Some(avail), self.quote_aware && memchr(b'"', self.pending()).is_some())
                } else {
                    last_record_end_quoted(&self.pending()[..window.min(avail)], self.quote_aware)
                };
                if let Some(cut) = cut {
                    self.handed = cut;
                    let line = self.line;
                    return Ok(Some((&self.pending()[..cut], line, quoted)));
                }
            } else if self.eof() {
                return Ok(None);
            }
            match &self.source {
                // A record longer than the window: widen it.
                Source::Map(..) | Source::Bytes(_) => window = window.saturating_mul(2),
                Source::Read { eof: true, .. } => window = window.saturating_mul(2),
                Source::Read { .. } => {
                    self.fill()?;
                    window = window.max(self.pending().len());
                }
            }
        }
    }
}

impl CsvReader {
    /// [`CsvReader::open_as`], reading only the records of `range` if
    /// given (a window of a bounded-memory ingest: [`super::window`]),
    /// which needs the file mapped.
    pub fn open_range(path: &Path, csv: bool, range: Option<super::window::Range>) -> Result<Self, IngestError> {
        let mut r = Self::open_as(path, csv)?;
        let Some(w) = range else { return Ok(r) };
        let Source::Map(m, limit) = &mut r.source else {
            return Err(IngestError::file(path, "cannot be mapped, so it cannot be read a window at a time"));
        };
        let end = (w.end as usize).min(m.len());
        let start = (w.start as usize).clamp(r.pos, end);
        *limit = end;
        r.pos = start;
        r.handed = 0;
        r.bytes_read = 0;
        r.size = (end - start) as u64;
        r.line = w.line;
        Ok(r)
    }

    /// From now on the caller hashes each block (in order, into the returned
    /// hasher, which already holds the header) and reports its newline count
    /// with [`CsvReader::account`], so both can run in parallel with parsing.
    pub fn defer_accounting(&mut self) -> xxhash_rust::xxh3::Xxh3 {
        self.deferred = true;
        std::mem::take(&mut self.hasher)
    }

    /// Newlines in the block last handed out (deferred accounting).
    pub fn account(&mut self, newlines: u64) {
        self.deferred_lines = newlines;
    }

    /// xxh3-128 of every byte handed out (the whole file once read to the end).
    pub fn content_hash(&mut self) -> String {
        if self.handed > 0 {
            let done = &self.source.from(self.pos)[..self.handed];
            self.hasher.update(done);
            self.bytes_read += self.handed as u64;
            self.pos += self.handed;
            self.handed = 0;
        }
        format!("{:032x}", self.hasher.digest128())
    }
}

/// xxh3-128 of a whole file.
pub fn hash_file(path: &Path) -> Result<String, IngestError> {
    let io = |source| IngestError::Io { file: path.to_path_buf(), source };
    let mut f = File::open(path).map_err(io)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// Refuse inputs that are not plain text before they turn into odd errors.
pub fn check_plain_text(path: &Path, head: &[u8]) -> Result<(), IngestError> {
    if head.is_empty() {
        return Err(IngestError::file(path, "empty file: expected a header line"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(IngestError::file(path, "gzip-compressed file given as text: decompress it first (gunzip)"));
    }
    if head.starts_with(b"PAR1") {
        return Err(IngestError::file(path, "this is a Parquet file: use --format parquet"));
    }
    if head.iter().take(4096).any(|&c| c == 0) {
        return Err(IngestError::file(path, "binary file given as text"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        split_record(s.as_bytes(), &mut v).unwrap();
        v.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(fields("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(fields("\"a\",\"b,c\",\"d\"\"e\""), ["a", "b,c", "d\"e"]);
        assert_eq!(fields(""), [""]);
        assert_eq!(fields("a,"), ["a", ""]);
        let mut v = Vec::new();
        assert!(split_record(b"\"abc", &mut v).is_err());
    }

    #[test]
    fn records_and_lines() {
        let data = b"a,b\r\n\"x\ny\",z\n\nc,d";
        let got: Vec<_> = records(data, 2).map(|(r, l)| (String::from_utf8_lossy(r).into_owned(), l)).collect();
        assert_eq!(got, [("a,b".to_string(), 2), ("\"x\ny\",z".to_string(), 3), ("c,d".to_string(), 6)]);
    }

    /// Records, fields (or the split's error) and lines, the slow way.
    type Split = Vec<(Result<Vec<Vec<u8>>, &'static str>, u64)>;

    fn by_search(part: &[u8], line: u64) -> Split {
        let mut v = Vec::new();
        records(part, line).map(|(r, l)| (split_record(r, &mut v).map(|()| v.iter().map(|f| f.to_vec()).collect()), l)).collect()
    }

    fn by_masks(part: &[u8], line: u64, stop_after: usize) -> (Split, u64) {
        let (mut out, mut v) = (Vec::new(), Vec::new());
        let n = each_record(part, line, &mut v, |f, l| {
            out.push((f.map(|f| f.iter().map(|x| x.to_vec()).collect()), l));
            out.len() < stop_after
        });
        (out, n)
    }

    #[test]
    fn one_pass_split_matches_search_per_field() {
        // Short texts over an alphabet heavy in separators, quotes and
        // carriage returns, some long enough to cross 64-byte chunks.
        let alphabet = b"ab,,\n\n\r\"x0";
        let mut next = crate::model::testing::xorshift(0x9E37_79B9_7F4A_7C15u64);
        for case in 0..20_000 {
            let len = (next() % if case % 10 == 0 { 400 } else { 90 }) as usize;
            let quotes = case % 3 == 0;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    let c = alphabet[(next() % alphabet.len() as u64) as usize];
                    if c == b'"' && !quotes { b'a' } else { c }
                })
                .collect();
            let (got, n) = by_masks(&text, 7, usize::MAX);
            assert_eq!(got, by_search(&text, 7), "{:?}", String::from_utf8_lossy(&text));
            assert_eq!(n, count_lines(&text));
            // Stopping early still counts every newline.
            let (part, n) = by_masks(&text, 7, 1);
            assert!(part.len() <= 1);
            assert_eq!(n, count_lines(&text));
        }
    }

    #[test]
    fn one_pass_split_of_exports() {
        let data = b"a,b,c\r\n\n1,\"x,\"\"y\",3\n,,\n\"open\n";
        let (got, n) = by_masks(data, 2, usize::MAX);
        assert_eq!(n, 5);
        assert_eq!(got, by_search(data, 2));
        assert_eq!(got[1], (Ok(vec![b"1".to_vec(), b"x,\"y".to_vec(), b"3".to_vec()]), 4));
        assert_eq!(got[2], (Ok(vec![vec![], vec![], vec![]]), 5));
        assert_eq!(got[3], (Err("unterminated quoted field"), 6));
    }

    #[test]
    fn mapped_and_buffered_reads_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let mut data = b"a,b\n".to_vec();
        for i in 0..50_000 {
            data.extend_from_slice(format!("{i},\"x\ny\"\n").as_bytes());
        }
        // One record longer than a block window.
        data.extend_from_slice(b"long,");
        data.extend(std::iter::repeat_n(b'z', BLOCK_SIZE + 100));
        data.extend_from_slice(b"\nlast,row");
        std::fs::write(&p, &data).unwrap();
        let collect = |map: bool| {
            let mut r = CsvReader::open_with(&p, true, map).unwrap();
            let mut got = Vec::new();
            while let Some((block, line)) = r.next_block().unwrap() {
                for (rec, l) in records(block, line) {
                    got.push((rec.len(), l));
                }
            }
            (got, r.content_hash(), r.bytes_read)
        };
        let (a, ha, na) = collect(true);
        let (b, hb, nb) = collect(false);
        assert_eq!(a.len(), 50_002);
        assert_eq!(a, b);
        assert_eq!(a[1], (7, 4));
        assert_eq!(a.last().unwrap().1, 100_003);
        assert_eq!(ha, hb);
        // The header is part of the content: a renamed column is another file.
        assert_eq!((na, nb), (data.len() as u64, data.len() as u64));
        assert_eq!(ha, {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&data);
            format!("{:032x}", h.digest128())
        });
    }

    #[test]
    fn quoted_blocks_split_between_records() {
        // Records with quoted fields holding commas, newlines and escaped
        // quotes, many of them, so that split targets land inside quotes.
        let mut data = Vec::new();
        for i in 0..6_000 {
            let row = match i % 4 {
                0 => format!("{i},\"a\nb,c\"\n"),
                1 => format!("{i},\"x\"\"\ny\"\"\"\n"),
                2 => format!("{i},plain\n"),
                _ => format!("{i},\"{}\"\n", "\n".repeat(i % 7)),
            };
            data.extend_from_slice(row.as_bytes());
        }
        let whole: Vec<_> = records(&data, 2).collect();
        for n in [2, 3, 4, 7] {
            let parts = split_parts(&data, n, true);
            assert!(parts.len() > 1);
            assert_eq!(parts.concat(), data);
            let mut line = 2;
            let mut all = Vec::new();
            for p in parts {
                all.extend(records(p, line));
                line += count_lines(p);
            }
            assert_eq!(all, whole, "{n} parts");
        }
    }

    #[test]
    fn parts_keep_line_numbers() {
        let mut data = Vec::new();
        for i in 0..20_000 {
            data.extend_from_slice(format!("{i},x\n").as_bytes());
        }
        let parts = split_parts(&data, 4, false);
        assert!(parts.len() > 1);
        let mut line = 2;
        let mut all = Vec::new();
        for p in parts {
            all.extend(records(p, line));
            line += count_lines(p);
        }
        assert_eq!(all.len(), 20_000);
        for (i, (rec, line)) in all.iter().enumerate() {
            assert_eq!(*line, i as u64 + 2);
            assert!(rec.starts_with(format!("{i},").as_bytes()));
        }
    }
}
