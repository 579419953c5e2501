//! `chaintrace ingest`: read exports into the store.
//!
//! Every input is a plug-in reader that turns rows into [`RawEvent`]s; the
//! driver interns addresses and hashes into the store builder, which sorts,
//! de-duplicates and writes a new store generation.

pub mod bitcoin;
pub mod csv;
mod error;
pub mod ethereum;
pub mod parquet;
mod tokens;
pub mod transfers;
pub mod window;

pub use error::IngestError;

use crate::model::ids::TxId;
use crate::model::text::FieldError;
use crate::model::{Chain, Pending, RawEvent};

use crate::store::builder::Builder;
use crate::store::{self, LoadedFile, Store};
use csv::{CsvReader, Header, Row, count_lines, split_parts};
use ethereum::{EthTable, Receipts};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Input formats of INTERFACE.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// blockchain-etl CSV or JSON-lines exports.
    Etl,
    /// Etherscan CSV exports.
    Etherscan,
    /// The generic transfers CSV.
    Transfers,
    /// Parquet files with the schemas of the other formats.
    Parquet,
}

/// How to ingest.
#[derive(Clone, Debug)]
pub struct Options {
    /// The chain of the data.
    pub chain: Chain,
    /// The input format.
    pub format: Format,
    /// `--value-unit`.
    pub value_unit: Option<String>,
    /// `--skip-bad-rows`: skip and count bad rows instead of stopping.
    pub skip_bad_rows: bool,
    /// Token decimals for Etherscan ERC-20 exports.
    pub token_decimals: HashMap<[u8; 20], u32>,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
    /// The memory budget in bytes (`--memory`): an input larger than it
    /// allows is read a window of blocks at a time ([`window`]).
    pub memory: u64,
}

impl Options {
    /// Options for `chain` and `format` with every other setting at the
    /// command line's default: no value unit, stop at the first bad row, no
    /// token decimals, no progress bar, the default memory budget.
    pub fn new(chain: Chain, format: Format) -> Self {
        Options {
            chain,
            format,
            value_unit: None,
            skip_bad_rows: false,
            token_decimals: HashMap::new(),
            progress: false,
            memory: window::default_memory(),
        }
    }
}

/// What happened to one input file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileReport {
    /// The path.
    pub path: String,
    /// What it was read as.
    pub table: String,
    /// Data rows read.
    pub rows: u64,
    /// Events added.
    pub events: u64,
    /// Rows skipped as bad.
    pub skipped_rows: u64,
    /// Events already in the store.
    pub duplicates: u64,
    /// The same content was loaded before: nothing added.
    pub already_loaded: bool,
    /// Bytes read.
    pub bytes: u64,
}

impl FileReport {
    /// A report for a file just read.
    pub fn new(path: &Path, table: impl Into<String>, rows: u64, events: u64, skipped_rows: u64, bytes: u64) -> Self {
        FileReport {
            path: path.display().to_string(),
            table: table.into(),
            rows,
            events,
            skipped_rows,
            duplicates: 0,
            already_loaded: false,
            bytes,
        }
    }
}

/// The outcome of an ingest.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Per file, in the order given.
    pub files: Vec<FileReport>,
    /// Events in the store afterwards.
    pub store_events: u64,
    /// What went wrong after the ingest was committed (it stands).
    pub warnings: Vec<String>,
    /// The events before this position are as they were before the
    /// ingest ([`crate::store::write::WriteSummary::unchanged`]): the old
    /// length after new blocks were appended, less after a splice, 0 after
    /// a rewrite; all of them when nothing was added.
    pub unchanged_events: u64,
}

/// Rows a part of a block produced. Line numbers are relative to the part
/// (its first line is 0) until the block's parts are put back in order.
struct PartOut {
    events: Vec<RawEvent>,
    rows: u64,
    skipped: u64,
    error: Option<(u64, FieldError)>,
    newlines: u64,
}

/// A mapper for one table of rows.
enum Mapper<'r> {
    Transactions(ethereum::Transactions<'r>),
    Traces(ethereum::Traces),
    Tokens(ethereum::TokenTransfers),
    Transfers(transfers::Transfers),
    Etherscan(ethereum::Etherscan),
    Logs(ethereum::Logs),
    Ignore,
}

impl Mapper<'_> {
    fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        match self {
            Mapper::Transactions(m) => m.map(r, out),
            Mapper::Traces(m) => m.map(r, out),
            Mapper::Tokens(m) => m.map(r, out),
            Mapper::Transfers(m) => m.map(r, out),
            Mapper::Etherscan(m) => m.map(r, out),
            Mapper::Logs(m) => m.map(r, out),
            Mapper::Ignore => Ok(()),
        }
    }
}

fn table_name(t: EthTable) -> &'static str {
    match t {
        EthTable::Transactions => "etl/transactions",
        EthTable::Receipts => "etl/receipts",
        EthTable::Traces => "etl/traces",
        EthTable::TokenTransfers => "etl/token_transfers",
        EthTable::Logs => "etl/logs",
        EthTable::EtherscanNormal => "etherscan/normal",
        EthTable::EtherscanInternal => "etherscan/internal",
        EthTable::EtherscanErc20 => "etherscan/erc20",
        EthTable::Transfers => "transfers",
    }
}

fn wrong_columns(path: &Path, h: &Header, msg: &str, expected: &str) -> IngestError {
    IngestError::file(path, format!("wrong column set ({msg}); found: {}; expected {expected}", h.names.join(",")))
}

/// Which table a header is, for the format asked.
fn detect(path: &Path, h: &Header, opts: &Options) -> Result<EthTable, IngestError> {
    match opts.format {
        Format::Transfers => Ok(EthTable::Transfers),
        Format::Etherscan => EthTable::detect_etherscan(h)
            .ok_or_else(|| wrong_columns(path, h, "not an Etherscan export", "Etherscan's normal, internal or ERC-20 transfer export")),
        Format::Etl | Format::Parquet => match EthTable::detect_etl(h) {
            Some(t) => Ok(t),
            None if opts.format == Format::Parquet && h.has_all(&["from_address", "to_address"]) => Ok(EthTable::Transfers),
            None => Err(wrong_columns(path, h, "not a blockchain-etl table", EthTable::expected_columns())),
        },
    }
}

fn make_mapper<'r>(path: &Path, h: &Header, table: EthTable, opts: &Options, receipts: &'r Receipts) -> Result<Mapper<'r>, IngestError> {
    let m = match table {
        EthTable::Transactions => ethereum::Transactions::new(h, receipts).map(Mapper::Transactions),
        EthTable::Traces => ethereum::Traces::new(h).map(Mapper::Traces),
        EthTable::TokenTransfers => ethereum::TokenTransfers::new(h).map(Mapper::Tokens),
        EthTable::Transfers => transfers::Transfers::new(h, opts.value_unit.as_deref(), opts.chain).map(Mapper::Transfers),
        EthTable::EtherscanNormal | EthTable::EtherscanInternal | EthTable::EtherscanErc20 => {
            let mut d = ethereum::builtin_token_decimals();
            d.extend(opts.token_decimals.iter().map(|(k, v)| (*k, *v)));
            ethereum::Etherscan::new(h, table, d).map(Mapper::Etherscan)
        }
        EthTable::Receipts => Ok(Mapper::Ignore),
        EthTable::Logs => ethereum::Logs::new(h).map(Mapper::Logs),
    };
    m.map_err(|msg| wrong_columns(path, h, &msg, EthTable::expected_columns()))
}

/// Parse one part of a CSV block.
fn parse_csv_part(part: &[u8], first_line: u64, header: &Header, mapper: &Mapper<'_>, skip_bad: bool) -> PartOut {
    let mut out = PartOut { events: Vec::with_capacity(part.len() / 200), rows: 0, skipped: 0, error: None, newlines: 0 };
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::with_capacity(header.names.len());
    out.newlines = csv::each_record(part, first_line, &mut fields, |split, line| {
        out.rows += 1;
        let before = out.events.len();
        let res = csv::check_fields(split, header).and_then(|f| mapper.map(&Row { fields: f }, &mut out.events));
        match res {
            Ok(()) => true,
            Err(e) => {
                out.events.truncate(before);
                if skip_bad {
                    out.skipped += 1;
                    true
                } else {
                    out.error = Some((line, e));
                    false
                }
            }
        }
    });
    out.events.iter_mut().for_each(fill_hashes);
    out
}

/// A JSON value as the bytes a CSV field would hold.
fn json_field(v: &serde_json::Value) -> Cow<'_, [u8]> {
    match v {
        serde_json::Value::Null => Cow::Borrowed(b""),
        serde_json::Value::String(s) => Cow::Borrowed(s.as_bytes()),
        other => Cow::Owned(other.to_string().into_bytes()),
    }
}

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A JSON line's keys as a header, so its table is detected like a CSV's.
fn json_header(obj: &JsonObject) -> Header {
    let names: Vec<Cow<'_, [u8]>> = obj.keys().map(|k| Cow::Owned(k.as_bytes().to_vec())).collect();
    Header::new(&names)
}

/// A JSON line's values in header order, as CSV fields (missing keys empty).
fn json_row<'a>(h: &Header, obj: &'a JsonObject) -> Vec<Cow<'a, [u8]>> {
    h.names.iter().map(|n| obj.get(n.as_str()).map_or(Cow::Borrowed(&b""[..]), json_field)).collect()
}

/// Parse one part of a JSON-lines block; each `type` gets its own mapper,
/// made from the keys of its first line. A line whose keys make no table
/// is a bad line like any other, so the first problem in the file is the
/// one reported, whichever part of a block it falls in.
fn parse_json_part(part: &[u8], first_line: u64, path: &Path, opts: &Options, receipts: &Receipts, skip_bad: bool) -> PartOut {
    let mut out = PartOut { events: Vec::new(), rows: 0, skipped: 0, error: None, newlines: count_lines(part) };
    let mut mappers: HashMap<String, Result<(Header, Mapper<'_>), String>> = HashMap::new();
    for (rec, line) in csv::records_as(part, first_line, false) {
        out.rows += 1;
        let before = out.events.len();
        let res = match serde_json::from_slice::<JsonObject>(rec) {
            Err(e) => Err(FieldError::new("(json)", format!("not a JSON object: {e}"))),
            Ok(obj) => {
                // A line's mapper follows from its own type and keys, never
                // from which line of the part came first: so the parts a
                // block is split into cannot change what a line means.
                let mut kind = obj.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
                for k in obj.keys() {
                    kind.push('\0');
                    kind.push_str(k);
                }
                // Kinds of no table are kept too: a file of them is told
                // so once a kind, not worked out again on every line.
                let ignored = matches!(kind.split('\0').next(), Some("block" | "contract" | "token" | "receipt"));
                let mapper = mappers.entry(kind).or_insert_with(|| {
                    let h = json_header(&obj);
                    let m = if ignored {
                        Ok(Mapper::Ignore)
                    } else {
                        detect(path, &h, opts).and_then(|t| make_mapper(path, &h, t, opts, receipts))
                    };
                    m.map(|m| (h, m)).map_err(unknown_json_table)
                });
                match mapper {
                    Err(e) => Err(FieldError::new("(json)", e.clone())),
                    Ok((h, m)) => m.map(&Row { fields: &json_row(h, &obj) }, &mut out.events),
                }
            }
        };
        if let Err(e) = res {
            out.events.truncate(before);
            if skip_bad {
                out.skipped += 1;
            } else {
                out.error = Some((line, e));
                break;
            }
        }
    }
    out.events.iter_mut().for_each(fill_hashes);
    out
}

/// What a JSON line whose keys make no table is told (the file is named
/// by the row error that carries it).
fn unknown_json_table(e: IngestError) -> String {
    match e {
        IngestError::File { message, .. } => message,
        other => other.to_string(),
    }
}

/// Compute an event's id-table hashes (on a parser thread).
#[inline]
fn fill_hashes(e: &mut RawEvent) {
    e.hashes = [Builder::addr_hash(&e.from), Builder::addr_hash(&e.to), e.tx.as_ref().map_or(0, crate::store::idtable::hash32)];
}

/// Interns parsed events into the builder, keeping per-file state for
/// positions that need the whole file (trace ranks, occurrence numbers).
struct FileSink {
    trace_paths: Vec<(usize, u32, Box<[u32]>)>,
    ordinals: HashMap<(u32, u32), u32>,
    events: u64,
}

impl FileSink {
    fn new() -> Self {
        FileSink { trace_paths: Vec::new(), ordinals: HashMap::new(), events: 0 }
    }

    /// Intern `events`, whose hashes the parsers computed ([`fill_hashes`]).
    fn push(&mut self, b: &mut Builder, events: Vec<RawEvent>) {
        // Every new transaction probes the store's hash tables and every
        // old address its indexes: on a large store those pages pile up in
        // the resident set (clean, but counted) unless dropped now and then.
        let before = self.events;
        // Id-table probes miss the cache. Three stages over batches: slots two
        // batches ahead, the keys they point at one batch ahead, then intern.
        const AHEAD: usize = 16;
        let chunks: Vec<&[RawEvent]> = events.chunks(AHEAD).collect();
        let slots = |b: &Builder, c: &[RawEvent]| {
            b.prefetch_slots(c.iter().flat_map(|e| [e.hashes[0], e.hashes[1]]), c.iter().filter(|e| e.tx.is_some()).map(|e| e.hashes[2]))
        };
        let keys = |b: &Builder, c: &[RawEvent]| b.prefetch_keys(c.iter().flat_map(|e| [e.hashes[0], e.hashes[1]]));
        for c in chunks.iter().take(2) {
            slots(b, c);
        }
        if let Some(c) = chunks.first() {
            keys(b, c);
        }
        for (k, chunk) in chunks.iter().enumerate() {
            if let Some(c) = chunks.get(k + 2) {
                slots(b, c);
            }
            if let Some(c) = chunks.get(k + 1) {
                keys(b, c);
            }
            for e in *chunk {
                self.push_one(b, e);
            }
        }
        if before >> RELEASE_EVERY != self.events >> RELEASE_EVERY {
            b.release_store_pages();
        }
    }

    #[inline]
    fn push_one(&mut self, b: &mut Builder, e: &RawEvent) {
        if let Pending::Log(kind, memo) = &e.pending {
            let emitter = b.intern_addr_hashed(&e.from, e.hashes[0]);
            let tx = e.tx.as_ref().map_or(TxId::NONE, |h| b.intern_tx_hashed(h, e.hashes[2]));
            b.logs.push(crate::store::builder::LogRow { tx: tx.get(), index: e.sub, emitter: emitter.get(), kind: *kind });
            if let Some(data) = memo {
                // A THORChain router's memo, or a bridge log's fields, by
                // transaction and log index.
                b.memos.push(crate::store::builder::MemoRow { tx: tx.get(), vout: e.sub, data: data.to_vec() });
            }
            return;
        }
        {
            let from = b.intern_addr_hashed(&e.from, e.hashes[0]);
            let to = b.intern_addr_hashed(&e.to, e.hashes[1]);
            let asset = b.intern_asset(e.asset);
            let tx = e.tx.as_ref().map_or(TxId::NONE, |h| b.intern_tx_hashed(h, e.hashes[2]));
            let sub = match &e.pending {
                Pending::Done | Pending::Log(..) => e.sub,
                &Pending::Ordinal(class) => {
                    if tx == TxId::NONE {
                        class
                    } else {
                        let c = self.ordinals.entry((tx.get(), class)).or_insert(0);
                        *c += 1;
                        class | (*c - 1).min(crate::model::sub::MAX_INDEX)
                    }
                }
                Pending::TracePath(p) => {
                    self.trace_paths.push((b.len(), tx.get(), p.clone()));
                    crate::model::sub::TRACE
                }
            };
            b.push(e.block, e.time, e.tx_index, sub, from, to, asset, e.value, tx, e.flags);
            self.events += 1;
        }
    }

    /// Rank traces in pre-order of their trace address inside each transaction.
    fn finish(mut self, b: &mut Builder) -> u64 {
        self.trace_paths.sort_by(|x, y| (x.1, &x.2).cmp(&(y.1, &y.2)));
        let mut rank = 0u32;
        let mut prev = u32::MAX;
        for (i, tx, _) in &self.trace_paths {
            if *tx != prev {
                rank = 0;
                prev = *tx;
            }
            b.sub[*i] = crate::model::sub::TRACE | rank.min(crate::model::sub::MAX_INDEX);
            rank += 1;
        }
        self.events
    }
}

/// Parsed blocks waiting for the interner at most: enough to ride out a
/// slow block on either side, few enough to bound memory (a block's
/// events take about as much as its text).
const QUEUED_BLOCKS: usize = 2;

/// log2 of the events interned between two releases of the store's
/// lookup pages (see `FileSink::push`).
const RELEASE_EVERY: u32 = 18;

/// A progress bar over bytes, drawn only on a terminal and for large inputs.
pub fn progress_bar(enabled: bool, size: u64, label: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || size < 4 << 20 || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(label.to_string());
    Some(pb)
}

fn is_json_lines(path: &Path) -> Result<bool, IngestError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    let mut head = [0u8; 4096];
    let n = f.read(&mut head).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    csv::check_plain_text(path, &head[..n])?;
    Ok(head[..n].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{'))
}

/// Read a text file (CSV or JSON lines) of an Ethereum-style table into the builder.
/// `range`: only the records in these bytes of the file (a window's: see
/// [`window`]); the hash returned is then of those bytes alone.
fn ingest_text(
    path: &Path,
    b: &mut Builder,
    opts: &Options,
    receipts: &Receipts,
    range: Option<window::Range>,
) -> Result<(FileReport, String), IngestError> {
    let json = is_json_lines(path)?;
    let mut reader = CsvReader::open_range(path, !json, range)?;
    let (table, mapper) = if json {
        ("etl/json".to_string(), None)
    } else {
        let t = detect(path, &reader.header, opts)?;
        (table_name(t).to_string(), Some(make_mapper(path, &reader.header.clone(), t, opts, receipts)?))
    };
    let header = reader.header.clone();
    let pb = progress_bar(opts.progress, reader.size, &path.display().to_string());
    let threads = rayon::current_num_threads().max(1) * 2;
    // Interning is sequential (ids follow input order): it runs on a thread
    // of its own, fed parsed blocks through a short queue, while the pool
    // parses the blocks after them. (A join of "parse block k+1" with
    // "intern block k" waited at every block for the slower of the two.)
    let drain = |outs: Vec<PartOut>, b: &mut Builder, sink: &mut FileSink| -> Result<(u64, u64), IngestError> {
        let (mut rows, mut skipped) = (0, 0);
        for o in outs {
            if let Some((line, e)) = o.error {
                return Err(IngestError::row(path, line, e));
            }
            rows += o.rows;
            skipped += o.skipped;
            sink.push(b, o.events);
        }
        Ok((rows, skipped))
    };
    let mut hasher = reader.defer_accounting();
    let builder = &mut *b;
    let (read, drained, sink) = std::thread::scope(|scope| {
        let (queue, parsed_blocks) = std::sync::mpsc::sync_channel::<(Vec<PartOut>, Option<(usize, usize)>)>(QUEUED_BLOCKS);
        let interner = scope.spawn(move || {
            let mut sink = FileSink::new();
            let (mut rows, mut skipped) = (0u64, 0u64);
            for (outs, reserve) in parsed_blocks {
                if let Some((events, txs)) = reserve {
                    builder.reserve(events, txs);
                }
                match drain(outs, &mut *builder, &mut sink) {
                    Ok((r, k)) => {
                        rows += r;
                        skipped += k;
                    }
                    Err(e) => return (Err(e), sink),
                }
                if rows > 0 {
                    crate::store::crash::point("ingest-parse");
                }
            }
            (Ok((rows, skipped)), sink)
        });
        let mut first_block = true;
        let read = (|| -> Result<(), IngestError> {
            while let Some((block, line, quoted)) = reader.next_block_quoted()? {
                let block_len = block.len();
                let ((parsed, newlines), ()) = rayon::join(
                    || {
                        let parts = split_parts(block, threads, quoted);
                        parse_block(&parts, line, &header, mapper.as_ref(), path, opts, receipts, opts.skip_bad_rows)
                    },
                    || hasher.update(block),
                );
                reader.account(newlines);
                let mut reserve = None;
                if first_block {
                    // Size the columns once from the first block instead of doubling.
                    first_block = false;
                    let events: usize = parsed.iter().map(|o| o.events.len()).sum();
                    let txs: usize = parsed.iter().map(|o| o.events.iter().filter(|e| e.tx.is_some()).count()).sum();
                    let scale = reader.size as f64 / block_len.max(1) as f64;
                    if scale > 1.5 {
                        reserve = Some(((events as f64 * scale * 1.02) as usize, (txs as f64 * scale * 1.02) as usize));
                    }
                }
                if queue.send((parsed, reserve)).is_err() {
                    // The interner stopped at a bad row: its error is reported.
                    break;
                }
                if let Some(pb) = &pb {
                    pb.set_position(reader.bytes_read);
                }
            }
            Ok(())
        })();
        drop(queue);
        let (drained, sink) = interner.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, drained, sink)
    });
    // A bad row the interner met comes before anything the reader met
    // after it, so its error wins.
    let (rows, skipped) = drained?;
    read?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let events = sink.finish(b);
    Ok((FileReport::new(path, table, rows, events, skipped, reader.bytes_read), format!("{:032x}", hasher.digest128())))
}

/// Parse a block of whole records (starting at file line `line`) part by
/// part in parallel: CSV rows through `mapper`, or JSON lines where there
/// is none. Returns the parts' outputs in order, their lines rebased to
/// the file's, and the block's newlines.
/// `parts` is the block already split ([`split_parts`]).
#[allow(clippy::too_many_arguments)]
fn parse_block(
    parts: &[&[u8]],
    line: u64,
    header: &Header,
    mapper: Option<&Mapper<'_>>,
    path: &Path,
    opts: &Options,
    receipts: &Receipts,
    skip_bad: bool,
) -> (Vec<PartOut>, u64) {
    let mut outs: Vec<PartOut> = match mapper {
        Some(m) => parts.par_iter().map(|p| parse_csv_part(p, 0, header, m, skip_bad)).collect(),
        None => parts.par_iter().map(|p| parse_json_part(p, 0, path, opts, receipts, skip_bad)).collect(),
    };
    let newlines = rebase_lines(&mut outs, line);
    (outs, newlines)
}

/// What [`parse_text`] read.
#[derive(Debug)]
pub struct Parsed {
    /// The table the text was read as (as in [`FileReport::table`]).
    pub table: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows skipped as bad (`--skip-bad-rows`).
    pub skipped: u64,
    /// The events, in input order, before interning.
    pub events: Vec<RawEvent>,
}

/// Parse a text export held in memory (`bytes`, called `path` in errors)
/// as [`ingest`] parses a file of an account-model chain: its table told
/// from its header (or read as JSON lines), each block split into `parts`
/// parts parsed in parallel, every row mapped to events, the first bad row
/// an error naming its line and field. Nothing is interned or written, and
/// a transactions table is read without receipts to join. Checks an export
/// before it is loaded; the fuzz targets drive the ingest's parsers
/// through it (docs/reliability.md).
pub fn parse_text(path: &Path, bytes: Vec<u8>, opts: &Options, parts: usize) -> Result<Parsed, IngestError> {
    if !opts.chain.is_account() || opts.format == Format::Parquet {
        return Err(IngestError::file(path, "parse_text reads the text formats of account-model chains"));
    }
    csv::check_plain_text(path, &bytes)?;
    // As `is_json_lines` tells a file: by the first 4 KiB.
    let json = bytes.iter().take(4096).find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
    let mut reader = CsvReader::from_bytes(path, bytes, !json)?;
    let receipts = Receipts::new();
    let header = reader.header.clone();
    let (table, mapper) = if json {
        ("etl/json".to_string(), None)
    } else {
        let t = detect(path, &header, opts)?;
        (table_name(t).to_string(), Some(make_mapper(path, &header, t, opts, &receipts)?))
    };
    let mut sink = Parsed { table, rows: 0, skipped: 0, events: Vec::new() };
    while let Some((block, line, quoted)) = reader.next_block_quoted()? {
        // Split however small: a caller comparing part counts tests the split.
        let split = csv::split_parts_from(block, parts, quoted, 0);
        let (outs, _) = parse_block(&split, line, &header, mapper.as_ref(), path, opts, &receipts, opts.skip_bad_rows);
        for o in outs {
            if let Some((l, e)) = o.error {
                return Err(IngestError::row(path, l, e));
            }
            sink.rows += o.rows;
            sink.skipped += o.skipped;
            sink.events.extend(o.events);
        }
    }
    Ok(sink)
}

/// Part-relative error lines of a block's parts become file lines (the
/// block starts at `first_line`); returns the block's newlines.
fn rebase_lines(outs: &mut [PartOut], first_line: u64) -> u64 {
    let mut base = first_line;
    for o in outs {
        if let Some((l, _)) = &mut o.error {
            *l += base;
        }
        base += o.newlines;
    }
    base - first_line
}

/// The floor under an ingest of a blockchain-etl CSV file: read and parse
/// it as [`ingest`] does (mapped blocks, split into parts parsed on every
/// core, each row mapped to events and their id-table hashes computed),
/// then drop the events: no interning, content hash, sort or write.
/// Returns the rows, events and bytes read; `chaintrace-gen parse` times
/// it against the whole ingest (ADR 0003).
pub fn parse_floor(path: &Path, opts: &Options) -> Result<(u64, u64, u64), IngestError> {
    let mut reader = CsvReader::open_range(path, true, None)?;
    let t = detect(path, &reader.header, opts)?;
    let receipts = Receipts::new();
    let header = reader.header.clone();
    let mapper = make_mapper(path, &header, t, opts, &receipts)?;
    let threads = rayon::current_num_threads().max(1) * 2;
    let (mut rows, mut events) = (0u64, 0u64);
    // Lines are counted by the parsers, as in an ingest (whose content
    // hash runs beside them; none here).
    let _ = reader.defer_accounting();
    while let Some((block, line, quoted)) = reader.next_block_quoted()? {
        let parts = split_parts(block, threads, quoted);
        let (outs, newlines) = parse_block(&parts, line, &header, Some(&mapper), path, opts, &receipts, false);
        for o in outs {
            if let Some((l, e)) = o.error {
                return Err(IngestError::row(path, l, e));
            }
            rows += o.rows;
            events += o.events.len() as u64;
        }
        reader.account(newlines);
    }
    Ok((rows, events, reader.bytes_read))
}

/// Load receipts for the join; returns rows, skipped rows and the content hash.
fn load_receipts(
    path: &Path,
    into: &mut Receipts,
    opts: &Options,
    range: Option<window::Range>,
) -> Result<(u64, u64, String), IngestError> {
    let json = is_json_lines(path)?;
    let mut reader = CsvReader::open_range(path, !json, range)?;
    let mut rows = 0;
    let mut skipped = 0;
    let csv_rows = if json {
        None
    } else {
        Some(ethereum::ReceiptRows::new(&reader.header).map_err(|m| wrong_columns(path, &reader.header.clone(), &m, "receipts"))?)
    };
    let header = reader.header.clone();
    while let Some((block, line)) = reader.next_block()? {
        let mut fields = Vec::new();
        for (rec, line) in csv::records_as(block, line, !json) {
            rows += 1;
            let mut out = Vec::new();
            let res = if let Some(m) = &csv_rows {
                csv::split_row(rec, &header, &mut fields).and_then(|()| m.map(&Row { fields: &fields }, &mut out))
            } else {
                match serde_json::from_slice::<JsonObject>(rec) {
                    Err(e) => Err(FieldError::new("(json)", e.to_string())),
                    Ok(obj) => {
                        let h = json_header(&obj);
                        match ethereum::ReceiptRows::new(&h) {
                            Err(m) => Err(FieldError::new("transaction_hash", m)),
                            Ok(m) => m.map(&Row { fields: &json_row(&h, &obj) }, &mut out),
                        }
                    }
                }
            };
            match res {
                Ok(()) => into.extend(out),
                Err(_) if opts.skip_bad_rows => skipped += 1,
                Err(e) => return Err(IngestError::row(path, line, e)),
            }
        }
    }
    Ok((rows, skipped, reader.content_hash()))
}

/// The first line of a JSON-lines file, for telling its table (empty
/// where it is not one object).
fn first_json_line(path: &Path) -> Result<String, IngestError> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    let mut first = String::new();
    std::io::BufReader::new(f).read_line(&mut first).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    Ok(first)
}

fn is_receipts_file(path: &Path) -> Result<bool, IngestError> {
    if is_json_lines(path)? {
        let obj: JsonObject = serde_json::from_str(&first_json_line(path)?).unwrap_or_default();
        return Ok(obj.get("type").and_then(|t| t.as_str()) == Some("receipt")
            || EthTable::detect_etl(&json_header(&obj)) == Some(EthTable::Receipts));
    }
    let r = CsvReader::open_as(path, true)?;
    Ok(EthTable::detect_etl(&r.header) == Some(EthTable::Receipts))
}

/// Ingest files into the store at `dir`: in one pass, or a window of
/// blocks at a time when the input is larger than the memory budget
/// ([`Options::memory`]; see [`window`]).
pub fn ingest(dir: &Path, files: &[PathBuf], opts: &Options) -> Result<Summary, IngestError> {
    crate::sys::timing("start");
    let _lock = store::generation::lock(dir)?;
    // `tokens` exports describe contracts, not events: read apart, and
    // told to the store once the events are in.
    let mut token_files = vec![false; files.len()];
    if opts.chain.is_account() && opts.format == Format::Etl {
        for (k, f) in files.iter().enumerate() {
            token_files[k] = tokens::is_tokens_file(f)?;
        }
    }
    let mut told = Vec::new();
    let mut token_reports = Vec::new();
    for (f, _) in files.iter().zip(&token_files).filter(|(_, t)| **t) {
        let (t, report) = tokens::read(f, opts)?;
        told.extend(t);
        token_reports.push(report);
    }
    let event_files: Vec<PathBuf> = files.iter().zip(&token_files).filter(|(_, t)| !**t).map(|(f, _)| f.clone()).collect();
    let mut summary = if event_files.is_empty() {
        let store_events = if store::exists(dir) { Store::open(dir)?.len() as u64 } else { 0 };
        Summary { files: Vec::new(), store_events, warnings: Vec::new(), unchanged_events: store_events }
    } else {
        let (plan, warning) = windows(dir, &event_files, opts)?;
        let mut summary = match plan {
            Some(w) => ingest_windows(dir, &event_files, opts, w)?,
            None => load(dir, &event_files, opts, None)?,
        };
        summary.warnings.extend(warning);
        summary
    };
    if !told.is_empty() {
        store::tokens::tell(dir, &told)?;
    }
    // Reports in the order the files were given.
    let (mut by_tokens, mut by_events) = (token_reports.into_iter(), std::mem::take(&mut summary.files).into_iter());
    summary.files = token_files.iter().filter_map(|&t| if t { by_tokens.next() } else { by_events.next() }).collect();
    summary.files.extend(by_events);
    Ok(summary)
}

/// What each file is in a windowed ingest: skipped as already loaded, or
/// read from the block after the one the store has it through.
struct WindowedFile {
    marks: window::Marks,
    through: Option<u64>,
    /// Loaded whole before: what it was read as.
    loaded: Option<String>,
}

/// The plan of a windowed ingest: each file and the windows' edges.
type Windows = (Vec<WindowedFile>, Vec<u64>);

/// The plan of a windowed ingest, or `None` for one pass: the input fits
/// the budget, or it cannot be read in windows (then a warning says why
/// its memory is not bounded).
fn windows(dir: &Path, files: &[PathBuf], opts: &Options) -> Result<(Option<Windows>, Option<String>), IngestError> {
    let input: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let budget = window::input_per_window(opts.memory, 0);
    if !opts.chain.is_account() || opts.format != Format::Etl {
        let warn = (input > budget).then(|| {
            format!("--memory {}: only blockchain-etl exports of Ethereum are read in windows; this input is read whole", opts.memory)
        });
        return Ok((None, warn));
    }
    // The manifest only: each window opens the store it appends to.
    let manifest = store::current_manifest(dir)?.map(|(_, m)| m);
    let record = |h: &str| manifest.as_ref().and_then(|m| m.files.iter().find(|f| f.content_hash == h));
    let stored = manifest.as_ref().map_or(0, |m| m.events);
    let allowed = |done: u64| window::input_per_window(opts.memory, stored + done / window::INPUT_BYTES_PER_EVENT);
    let budget = allowed(0);
    if input <= budget && manifest.as_ref().is_none_or(|m| m.files.iter().all(|f| f.through_block.is_none())) {
        return Ok((None, None));
    }
    let grain = (budget / 64).max(1);
    // The files are scanned at once, each on one thread.
    let scans: Vec<Option<window::Marks>> =
        files.par_iter().map(|f| window::Marks::scan(f, is_json_lines(f)?, grain)).collect::<Result<_, IngestError>>()?;
    let mut out = Vec::with_capacity(files.len());
    for (f, marks) in files.iter().zip(scans) {
        let Some(marks) = marks else {
            let why = format!(
                "{}: not read in windows (a regular file whose rows all have a block_number, in ascending order), so this ingest holds all its input in memory",
                f.display()
            );
            return Ok((None, Some(why)));
        };
        let (loaded, through) = match record(&marks.hash) {
            Some(r) if r.through_block.is_none() => (Some(r.table.clone()), None),
            // The same content earlier in this list: loaded by then, as in one pass.
            _ if out.iter().any(|w: &WindowedFile| w.marks.hash == marks.hash) => (Some(String::new()), None),
            Some(r) => (None, r.through_block),
            None => (None, None),
        };
        out.push(WindowedFile { marks, through, loaded });
    }
    if out.iter().all(|w| w.loaded.is_some()) {
        // Nothing new: one pass finds each file loaded and writes nothing.
        return Ok((None, None));
    }
    crate::sys::timing("scan the input for windows");
    let edges = window::plan(&out.iter().filter(|w| w.loaded.is_none()).map(|w| (&w.marks, w.through)).collect::<Vec<_>>(), allowed);
    Ok((Some((out, edges)), None))
}

/// Load window after window, each committed as an append, and add up what
/// each file did.
fn ingest_windows(dir: &Path, files: &[PathBuf], opts: &Options, plan: Windows) -> Result<Summary, IngestError> {
    // Bad input in a later window returns the store to where it was, as a
    // one-pass ingest leaves it; a kill leaves the windows committed.
    store::generation::pin(dir)?;
    match load_windows(dir, files, opts, plan) {
        Ok(s) => {
            store::generation::unpin(dir);
            Ok(s)
        }
        Err(e) => match store::generation::restore(dir) {
            Ok(()) => Err(e),
            Err(r) => Err(IngestError::file(dir, format!("{e}; returning the store to its state before this ingest failed too: {r}"))),
        },
    }
}

fn load_windows(dir: &Path, files: &[PathBuf], opts: &Options, (wf, edges): Windows) -> Result<Summary, IngestError> {
    let mut reports: Vec<Option<FileReport>> = vec![None; files.len()];
    let mut summary = Summary { files: Vec::new(), store_events: 0, warnings: Vec::new(), unchanged_events: u64::MAX };
    let mut from = 0u64;
    for (k, &to) in edges.iter().enumerate() {
        let pass: Vec<Option<WindowPass>> = files
            .iter()
            .zip(&wf)
            .map(|(path, w)| -> Result<Option<WindowPass>, IngestError> {
                if w.loaded.is_some() {
                    return Ok(None);
                }
                let lo = w.through.map_or(from, |t| from.max(t.saturating_add(1)));
                Ok(Some(WindowPass {
                    range: window::range(path, &w.marks, lo, to.max(lo))?,
                    hash: w.marks.hash.clone(),
                    through: (to != u64::MAX).then(|| to - 1),
                }))
            })
            .collect::<Result<_, _>>()?;
        let s = load(dir, files, opts, Some(&pass))?;
        let upto = if to == u64::MAX { "the end".to_string() } else { format!("block {}", to - 1) };
        crate::sys::timing(&format!("window {} of {} (block {from} to {upto})", k + 1, edges.len()));
        for (acc, r) in reports.iter_mut().zip(s.files) {
            match acc {
                None => *acc = Some(r),
                Some(a) => {
                    a.rows += r.rows;
                    a.events += r.events;
                    a.skipped_rows += r.skipped_rows;
                    a.duplicates += r.duplicates;
                }
            }
        }
        summary.store_events = s.store_events;
        summary.warnings.extend(s.warnings);
        summary.unchanged_events = summary.unchanged_events.min(s.unchanged_events);
        if k + 1 < edges.len() {
            crate::store::crash::point("ingest-window");
        }
        from = to;
    }
    for k in 0..reports.len() {
        let table = match &wf[k].loaded {
            Some(t) if t.is_empty() => {
                (0..k).find(|&j| wf[j].marks.hash == wf[k].marks.hash).and_then(|j| reports[j].as_ref()).map(|r| r.table.clone())
            }
            t => t.clone(),
        };
        if let Some(r) = &mut reports[k] {
            r.bytes = std::fs::metadata(&files[k]).map_or(0, |m| m.len());
            if let Some(t) = table {
                r.table = t;
            }
        }
    }
    summary.files = reports.into_iter().flatten().collect();
    summary.unchanged_events = summary.unchanged_events.min(summary.store_events);
    Ok(summary)
}

/// One file's part in a window.
struct WindowPass {
    range: window::Range,
    /// The whole file's hash, as the store lists it.
    hash: String,
    /// The last block this window reads; `None` in the last window.
    through: Option<u64>,
}

/// Load `files` (or, in a window, the parts of them `pass` names) into a
/// new generation of the store; the caller holds the store's lock.
fn load(dir: &Path, files: &[PathBuf], opts: &Options, pass: Option<&[Option<WindowPass>]>) -> Result<Summary, IngestError> {
    let mut b = if store::exists(dir) {
        let s = Store::open(dir)?;
        s.verify()?;
        crate::sys::timing("open the store");
        if s.manifest.chain != opts.chain {
            return Err(IngestError::Store(crate::store::StoreError::Mismatch {
                path: dir.to_path_buf(),
                message: format!("the store holds {} data; this ingest is --chain {}", s.manifest.chain, opts.chain),
            }));
        }
        let mut b = Builder::delta(s);
        // Many rows meet many old addresses: one pass putting the store's
        // addresses in the id table beats a binary search for each. About
        // 8 input bytes an address stored is where the two cost the same.
        // CHAINTRACE_PRELOAD_ADDRESSES=never|always overrides (tests run both ways).
        let input: u64 = match pass {
            Some(p) => p.iter().flatten().map(|w| w.range.end - w.range.start).sum(),
            None => files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum(),
        };
        let choice = std::env::var("CHAINTRACE_PRELOAD_ADDRESSES").unwrap_or_default();
        if choice == "always" || (choice != "never" && input / 8 > b.stored_addresses()) {
            b.preload_addresses();
            crate::sys::timing("preload the store's addresses");
        }
        b
    } else {
        Builder::new(opts.chain)
    };
    let mut loaded = b.loaded_hashes();
    let mut reports: Vec<FileReport> = Vec::new();
    let mut receipts: Receipts = HashMap::new();
    let mut receipt_files = vec![false; files.len()];
    if opts.chain.is_account() && opts.format == Format::Etl {
        for (k, f) in files.iter().enumerate() {
            if is_receipts_file(f)? {
                receipt_files[k] = true;
            }
        }
    }
    // Receipts join transactions wherever they stand in the file list.
    let mut receipt_rows: HashMap<usize, (u64, u64, String)> = HashMap::new();
    let part = |k: usize| pass.and_then(|p| p[k].as_ref());
    for (k, path) in files.iter().enumerate() {
        if receipt_files[k] && (pass.is_none() || part(k).is_some()) {
            receipt_rows.insert(k, load_receipts(path, &mut receipts, opts, part(k).map(|w| w.range))?);
        }
    }
    let mut bitcoin = bitcoin::BitcoinBatch::default();
    for (k, path) in files.iter().enumerate() {
        if pass.is_some() && part(k).is_none() {
            // Loaded before: the caller reports it.
            let mut report = FileReport::new(path, "", 0, 0, 0, 0);
            report.already_loaded = true;
            reports.push(report);
            continue;
        }
        let mark = b.mark();
        let start = b.len();
        let (mut report, hash) = if receipt_files[k] {
            let (rows, skipped, hash) = receipt_rows.remove(&k).expect("loaded above");
            (FileReport::new(path, "etl/receipts", rows, 0, skipped, 0), hash)
        } else if opts.format == Format::Parquet {
            parquet::ingest_parquet(path, &mut b, opts, &receipts, &mut bitcoin)?
        } else if opts.chain == Chain::Bitcoin && opts.format == Format::Etl {
            bitcoin.read(path, &mut b, opts)?
        } else {
            ingest_text(path, &mut b, opts, &receipts, part(k).map(|w| w.range))?
        };
        let (hash, through) = match part(k) {
            Some(w) => (w.hash.clone(), w.through),
            None => (hash, None),
        };
        if let Some(e) = b.id_limit() {
            return Err(IngestError::file(path, format!("{e}; the store is left as it was")));
        }
        if pass.is_none() && loaded.contains(&hash) {
            b.rollback(mark);
            bitcoin.rollback();
            report.already_loaded = true;
            report.events = 0;
            reports.push(report);
            continue;
        }
        loaded.insert(hash.clone());
        b.skipped_rows += report.skipped_rows;
        let mut record = LoadedFile {
            path: report.path.clone(),
            content_hash: hash,
            table: report.table.clone(),
            rows: report.rows,
            events: report.events,
            skipped_rows: report.skipped_rows,
            duplicates: 0,
            through_block: through,
        };
        // A file's later windows add to the record its first one made.
        if let Some(before) = pass.and_then(|_| b.reopen_file(&record.content_hash)) {
            record.rows += before.rows;
            record.events += before.events;
            record.skipped_rows += before.skipped_rows;
            record.duplicates = before.duplicates;
        }
        b.files.push((record, start));
        reports.push(report);
    }
    let joined = bitcoin.finish(&mut b, dir)?;
    if let Some(e) = b.id_limit() {
        return Err(IngestError::file(dir, format!("{e}; the store is left as it was")));
    }
    // Trio events exist once the files are joined: credit them to the outputs file.
    if let Some(k) = reports.iter().rposition(|r| r.table.ends_with("bitcoin/outputs") && !r.already_loaded) {
        reports[k].events += joined;
        if let Some((f, _)) = b.files.iter_mut().rev().find(|(f, _)| f.path == reports[k].path) {
            f.events += joined;
        }
    }
    b.release_store_pages();
    crate::sys::timing("read and intern");
    if b.adds_nothing() {
        let store_events = b.stored_events();
        return Ok(Summary { files: reports, store_events, warnings: Vec::new(), unchanged_events: store_events });
    }
    let new_files: Vec<usize> = (0..reports.len()).filter(|&k| !reports[k].already_loaded).collect();
    let summary = b.write(dir)?;
    crate::sys::timing("sort, dedupe and write");
    for (k, d) in new_files.iter().zip(summary.duplicates.iter()) {
        reports[*k].duplicates = *d;
        reports[*k].events = reports[*k].events.saturating_sub(*d);
    }
    Ok(Summary { files: reports, store_events: summary.events, warnings: summary.warnings, unchanged_events: summary.unchanged })
}
