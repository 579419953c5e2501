//! The exposure index on disk, memory-mapped on open, nothing parsed but a
//! small JSON header.
//!
//! An index is a **base** file, written from a full sweep, and after
//! appends a **delta** file beside it (ADR 0021 part 3): the addresses the
//! appended events touched since the base, and the slots of the addresses
//! new since it. A lookup finds an address's id in the base's slots, then
//! the delta's; its records come from the delta when the delta holds them.
//! A delta that grows past a share of its base is folded into a new base.
//!
//! Layout of either file (little-endian, every section 64-byte aligned):
//!
//! | section | record | what |
//! |---|---|---|
//! | header | `CTEXPOS1`, u64 length, JSON [`Meta`] | generation, asset, categories, what it covers, section offsets |
//! | slots | [`Slot`], 24 bytes | open-addressing hash table: 20-byte address to address id; a power of two, at most 3/4 full (a delta: the addresses new since its base) |
//! | received | u128 per row | what the address received from others in the asset |
//! | offsets | u32 per row, plus one | where its exposures start in `entries` |
//! | entries | [`Entry`], 48 bytes | its exposures, ascending by category |
//! | seeds | [`SeedRule`], 24 bytes | seed labels by address, for evidence paths (a delta: all of them) |
//! | preds | u64 per entry | UTXO model: the output the entry's first tainted arrival spent most taint of (`u64::MAX`: none) |
//! | pools | [`PoolRecord`], 32 bytes | the sweep's end state: taint each address holds per category, by address |
//! | seed balances | [`SeedBalance`], 32 bytes | the sweep's end state: each seed-labelled address's balance (a delta: all of them) |
//! | rows | [`RowSlot`], 8 bytes | a delta: open-addressing table from address id to its row (a base: empty, the row is the id) |
//! | outputs | [`OutputRecord`], 32 bytes | UTXO model, the sweep's end state: tainted unspent outputs per category (a delta: those made since the base) |
//! | spent | u64 per output | UTXO model, a delta: the base's tainted outputs spent since it |
//!
//! An account-model address is its own 20-byte key; a Bitcoin address
//! (text) is keyed by [`text_key`], a 160-bit digest of its text, and a
//! lookup checks the text against the store's ([`Index::lookup_text`]).
//!
//! A lookup hashes the address (xxh3; the top bits pick the home slot), reads one slot (two when the probe
//! wraps a line), then the address's `received` and `offsets`: three cache
//! misses, which [`Index::lookup_batch`] overlaps across a batch.

use super::ScreenError;
use super::sweep::{Exposure, Exposures, Rule};
use crate::store::{Store, cast, try_cast};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One hash-table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Slot {
    /// The 20-byte address.
    pub key: [u8; 20],
    /// Its address id; `u32::MAX` marks an empty slot.
    pub id: u32,
}

/// One exposure of one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Entry {
    /// Taint carried by the address's arrivals.
    pub amount: u128,
    /// Of that, arrivals of hop 1.
    pub direct: u128,
    /// The address's first tainted arrival in this category (event index).
    pub first_in: u64,
    /// Smallest hop.
    pub hops: u32,
    /// Category index into [`Meta::categories`].
    pub category: u16,
    /// Reserved (0).
    pub reserved: u16,
}

/// A seed label of one address: sources of evidence paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct SeedRule {
    /// Valid from (epoch seconds; `i64::MIN`: unbounded).
    pub from: i64,
    /// Valid to (`i64::MAX`: unbounded).
    pub to: i64,
    /// Address id.
    pub id: u32,
    /// Category index.
    pub category: u16,
    /// Reserved (0).
    pub reserved: u16,
}

/// The taint one address holds in one category at the sweep's end (kept
/// when it is zero too: the pool's hop outlives its taint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct PoolRecord {
    /// Taint held.
    pub taint: u128,
    /// Address id.
    pub id: u32,
    /// The pool's hop.
    pub hop: u32,
    /// Category index.
    pub category: u16,
    /// Reserved (0).
    pub reserved: [u16; 3],
}

/// A seed-labelled address's balance at the sweep's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct SeedBalance {
    /// The balance.
    pub balance: u128,
    /// Address id.
    pub id: u32,
    /// Reserved (0).
    pub reserved: [u32; 3],
}

/// The taint an unspent output holds in one category at the sweep's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct OutputRecord {
    /// Taint held.
    pub taint: u128,
    /// The output (its event index).
    pub output: u64,
    /// Its hop.
    pub hop: u32,
    /// Category index.
    pub category: u16,
    /// Reserved (0).
    pub reserved: u16,
}

/// A delta's row table slot: address id to row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct RowSlot {
    /// Address id; `u32::MAX` marks an empty slot.
    pub id: u32,
    /// Its row in the delta's per-row sections.
    pub row: u32,
}

/// A section's place in the file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Section {
    /// Byte offset.
    pub offset: u64,
    /// Byte length.
    pub bytes: u64,
}

/// Sections of a file, in file order.
const SECTIONS: usize = 11;

/// The header.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// Always `chaintrace-exposure`.
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The store generation it was written for (`gen-NNNNNN`).
    pub generation: String,
    /// The screened asset (`ETH` or a token contract).
    pub asset: String,
    /// Risk categories, in index order.
    pub categories: Vec<String>,
    /// Address ids (the store's address table).
    pub addresses: u64,
    /// Hash-table slots (a power of two).
    pub slots: u64,
    /// Exposure entries in this file.
    pub entries: u64,
    /// Sections.
    pub sections: [Section; SECTIONS],
    /// The program that wrote it.
    pub written_by: String,
    /// The store's line of events when written ([`crate::store::Manifest::lineage`]).
    pub lineage: String,
    /// Store events it covers.
    pub events: u64,
    /// xxh3-64 of the store's label rows it was swept with, hex.
    pub labels: String,
    /// Whether the sweep's end state is in it, so that an update can take
    /// the sweep up (a single-process account-model sweep's index).
    pub resumable: bool,
    /// A delta: its base's generation (`None`: this is a base).
    pub base: Option<String>,
    /// A delta: its base's address ids; ids from here on are new, their
    /// keys in this file's slots.
    pub base_addresses: u64,
    /// A delta: rows (addresses it holds).
    pub rows: u64,
    /// Exposure entries of the index as a whole (with a delta: the base's
    /// entries of addresses the delta does not hold, and the delta's).
    pub view_entries: u64,
    /// xxh3-64 of each section, hex: what an update carries on (the
    /// sweep's end state, a delta whole) is checked before it is taken up,
    /// so that damage is not copied into every later file.
    pub xxh3: Vec<String>,
}

const MAGIC: &[u8; 8] = b"CTEXPOS1";
/// The index format this build reads and writes.
pub const VERSION: u32 = 4;
const EMPTY: u32 = u32::MAX;

/// The home slot of an address in a table of `cap` slots (a power of two):
/// the top bits of its xxh3 hash, so that slots in hash order are in table
/// order.
#[inline]
fn home(key: &[u8; 20], cap: usize) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key) >> (64 - cap.trailing_zeros())
}

/// The home slot of an address id in a delta's row table of `cap` slots.
#[inline]
fn row_home(id: u32, cap: usize) -> usize {
    ((u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> (64 - cap.trailing_zeros())) as usize
}

/// The 20-byte key of an address as the store keeps it: an account-model
/// address itself, a Bitcoin address's text digested (xxh3-128 and 32 bits
/// of a second xxh3 over the text).
pub fn text_key(chain: crate::model::Chain, bytes: &[u8]) -> Option<[u8; 20]> {
    if chain.is_account() {
        return <[u8; 20]>::try_from(bytes).ok();
    }
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(&xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes());
    k[16..].copy_from_slice(&xxhash_rust::xxh3::xxh3_64_with_seed(bytes, 0x5eed).to_le_bytes()[..4]);
    Some(k)
}

fn generation_of(store: &Store) -> String {
    store.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Where the base index of `asset` written for the store's live generation lives.
pub fn path_for(store: &Store, asset: &str) -> PathBuf {
    store.dir.join("exposure").join(format!("{}.{}.idx", generation_of(store), asset.to_ascii_lowercase()))
}

/// Where an index of `asset` made of an older base and a delta lives for
/// the store's live generation: the base (a hard link to the older
/// generation's, so that every file of a generation carries its prefix)
/// and the delta.
pub fn delta_paths_for(store: &Store, asset: &str) -> (PathBuf, PathBuf) {
    let stem = format!("{}.{}", generation_of(store), asset.to_ascii_lowercase());
    let dir = store.dir.join("exposure");
    (dir.join(format!("{stem}.base")), dir.join(format!("{stem}.delta")))
}

/// The fingerprint of a store's label rows an index records.
pub fn labels_fingerprint(store: &Store) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(store.label_rows()))
}

/// An open-addressing table of `keys` (20-byte key, id), a power of two at
/// most 3/4 full, filled in the order of home slots so that it fills front
/// to back instead of with one cache miss per address.
fn slot_table(mut keyed: Vec<(u64, [u8; 20], u32)>, cap: usize) -> Vec<Slot> {
    {
        use rayon::prelude::*;
        keyed.par_sort_unstable_by_key(|x| x.0);
    }
    let mut slots = vec![Slot { key: [0; 20], id: EMPTY }; cap];
    for (h, key, id) in keyed {
        let mut s = h as usize;
        while slots[s].id != EMPTY {
            s = (s + 1) & (cap - 1);
        }
        slots[s] = Slot { key, id };
    }
    slots
}

/// The slots of addresses `from..to` of `store`.
fn slots_of(store: &Store, from: usize, to: usize) -> Vec<Slot> {
    let cap = ((to - from) * 4 / 3 + 1).next_power_of_two().max(16);
    let keyed: Vec<(u64, [u8; 20], u32)> = (from..to)
        .filter_map(|id| text_key(store.manifest.chain, store.address_bytes(id as u32)).map(|k| (home(&k, cap), k, id as u32)))
        .collect();
    slot_table(keyed, cap)
}

fn seed_rules(seeds: &crate::trace::IdMap<Vec<Rule<u16>>>) -> Vec<SeedRule> {
    let mut out: Vec<SeedRule> = seeds
        .iter()
        .flat_map(|(&id, v)| {
            v.iter().map(move |&(k, f, t)| SeedRule {
                from: f.unwrap_or(i64::MIN),
                to: t.unwrap_or(i64::MAX),
                id,
                category: k,
                reserved: 0,
            })
        })
        .collect();
    out.sort_by_key(|r| (r.id, r.category, r.from, r.to));
    out
}

fn entry_of(e: &Exposure) -> Entry {
    Entry { amount: e.amount, direct: e.direct, first_in: e.first_in, hops: e.hops, category: e.category, reserved: 0 }
}

/// The rows of one file, gathered before it is written.
#[derive(Default)]
struct Rows {
    offsets: Vec<u32>,
    entries: Vec<Entry>,
    preds: Vec<u64>,
}

impl Rows {
    fn push(&mut self, exposures: impl Iterator<Item = (Entry, u64)>) -> Result<(), ScreenError> {
        self.offsets.push(entry_offset(self.entries.len())?);
        for (e, p) in exposures {
            self.entries.push(e);
            self.preds.push(p);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ScreenError> {
        self.offsets.push(entry_offset(self.entries.len())?);
        Ok(())
    }
}

fn entry_offset(n: usize) -> Result<u32, ScreenError> {
    u32::try_from(n).map_err(|_| ScreenError::TooLarge("more than 2^32 - 1 exposure entries".into()))
}

/// What a file says of itself besides its sections.
struct Header<'a> {
    asset: &'a str,
    categories: &'a [String],
    resumable: bool,
    base: Option<(String, u64)>,
    view_entries: u64,
}

/// Write the base index of a sweep's result to `path` (atomically: a
/// temporary file renamed into place).
pub fn write(store: &Store, asset: &str, categories: &[String], x: &Exposures, path: &Path) -> Result<(), ScreenError> {
    let n = store.address_count();
    let first_real = crate::model::Pseudo::ALL.len();
    let slots = slots_of(store, first_real.min(n), n);
    let mut rows = Rows::default();
    for e in &x.by_address {
        rows.push(e.iter().map(|e| (entry_of(e), e.pred)))?;
    }
    rows.close()?;
    let entries = rows.entries.len() as u64;
    let (pools, balances) = match &x.state {
        Some(s) => (s.pools.as_slice(), s.seed_balances.as_slice()),
        None => (&[][..], &[][..]),
    };
    let outputs = x.state.as_ref().map_or(&[][..], |s| s.outputs.as_slice());
    let head = Header { asset, categories, resumable: x.state.is_some(), base: None, view_entries: entries };
    let state = State { pools, balances, outputs, spent: &[] };
    put(store, &head, &slots, &x.received, &rows, &seed_rules(&x.seeds), &state, &[], path)
}

/// One address's part of a delta: what it received, its exposures and pools.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Address id.
    pub id: u32,
    /// What it received from others.
    pub received: u128,
    /// Its exposures, ascending by category.
    pub exposures: Vec<Exposure>,
    /// Its pools, ascending by category.
    pub pools: Vec<PoolRecord>,
}

/// The sweep's state beside its rows: every seed rule and seed balance,
/// and on the UTXO model the tainted outputs made and the base's spent
/// since the base.
pub struct Whole {
    /// Seed rules by address.
    pub seeds: crate::trace::IdMap<Vec<Rule<u16>>>,
    /// Seed balances, ascending by id.
    pub seed_balances: Vec<SeedBalance>,
    /// Tainted unspent outputs made since the base, ascending.
    pub outputs: Vec<OutputRecord>,
    /// The base's tainted outputs spent since it, ascending.
    pub spent: Vec<u64>,
}

/// Write the delta of `prev`'s base after an update whose changed rows are
/// `rows` (ascending by id): `prev`'s own delta rows that `rows` does not
/// replace are carried over. Returns the delta's rows.
pub fn write_delta(store: &Store, prev: &Index, rows: &[Row], whole: &Whole, path: &Path) -> Result<u64, ScreenError> {
    let base = &prev.base;
    let n = store.address_count();
    let base_addresses = base.meta.addresses as usize;
    let slots = slots_of(store, base_addresses.min(n), n);
    // Rows: the new ones, and the previous delta's rows no new one replaces.
    let mut merged: Vec<RowRef> = rows.iter().map(RowRef::New).collect();
    if let Some(d) = &prev.delta {
        let fresh: crate::trace::IdMap<()> = rows.iter().map(|r| (r.id, ())).collect();
        merged.extend(d.row_ids().filter(|id| !fresh.contains_key(id)).map(RowRef::Old));
    }
    merged.sort_unstable_by_key(|r| r.id());
    let mut out = Rows::default();
    let mut received: Vec<u128> = Vec::with_capacity(merged.len());
    let mut pools: Vec<PoolRecord> = Vec::new();
    // Entries of the base no delta row replaces, and the delta's.
    let mut view_entries = base.meta.entries;
    for r in &merged {
        let id = r.id();
        if (id as usize) < base_addresses {
            view_entries = view_entries.saturating_sub(base.exposures_of(id).len() as u64);
        }
        match *r {
            RowRef::New(r) => {
                received.push(r.received);
                out.push(r.exposures.iter().map(|e| (entry_of(e), e.pred)))?;
                pools.extend_from_slice(&r.pools);
            }
            RowRef::Old(id) => {
                let d = prev.delta.as_ref().expect("old rows come from a delta");
                let row = d.row(id).expect("a listed row");
                let (lo, hi) = d.entry_range(row);
                received.push(d.received()[row]);
                out.push((lo..hi).map(|k| (d.entries()[k], d.preds()[k])))?;
                pools.extend_from_slice(d.pools_of(id));
            }
        }
    }
    out.close()?;
    view_entries += out.entries.len() as u64;
    let cap = (merged.len() * 4 / 3 + 1).next_power_of_two().max(16);
    let mut table = vec![RowSlot { id: EMPTY, row: 0 }; cap];
    for (row, r) in merged.iter().enumerate() {
        let mut s = row_home(r.id(), cap);
        while table[s].id != EMPTY {
            s = (s + 1) & (cap - 1);
        }
        table[s] = RowSlot { id: r.id(), row: row as u32 };
    }
    let base_gen = base.meta.generation.clone();
    let head = Header {
        asset: &base.meta.asset,
        categories: &base.meta.categories,
        resumable: true,
        base: Some((base_gen, base.meta.addresses)),
        view_entries,
    };
    let state = State { pools: &pools, balances: &whole.seed_balances, outputs: &whole.outputs, spent: &whole.spent };
    put(store, &head, &slots, &received, &out, &seed_rules(&whole.seeds), &state, &table, path)?;
    Ok(merged.len() as u64)
}

/// A delta row to write: a new one, or one carried over from the previous delta.
enum RowRef<'a> {
    New(&'a Row),
    Old(u32),
}

impl RowRef<'_> {
    fn id(&self) -> u32 {
        match self {
            RowRef::New(r) => r.id,
            RowRef::Old(id) => *id,
        }
    }
}

/// The sweep's end state as a file holds it.
struct State<'a> {
    pools: &'a [PoolRecord],
    balances: &'a [SeedBalance],
    outputs: &'a [OutputRecord],
    spent: &'a [u64],
}

#[allow(clippy::too_many_arguments)]
fn put(
    store: &Store,
    head: &Header,
    slots: &[Slot],
    received: &[u128],
    rows: &Rows,
    seeds: &[SeedRule],
    state: &State,
    table: &[RowSlot],
    path: &Path,
) -> Result<(), ScreenError> {
    let bodies: [&[u8]; SECTIONS] = [
        crate::store::columns_as_bytes(slots),
        crate::store::columns_as_bytes(received),
        crate::store::columns_as_bytes(&rows.offsets),
        crate::store::columns_as_bytes(&rows.entries),
        crate::store::columns_as_bytes(seeds),
        crate::store::columns_as_bytes(&rows.preds),
        crate::store::columns_as_bytes(state.pools),
        crate::store::columns_as_bytes(state.balances),
        crate::store::columns_as_bytes(table),
        crate::store::columns_as_bytes(state.outputs),
        crate::store::columns_as_bytes(state.spent),
    ];
    let mut meta = Meta {
        format: "chaintrace-exposure".into(),
        version: VERSION,
        generation: generation_of(store),
        asset: head.asset.to_string(),
        categories: head.categories.to_vec(),
        addresses: store.address_count() as u64,
        slots: slots.len() as u64,
        entries: rows.entries.len() as u64,
        sections: [Section { offset: 0, bytes: 0 }; SECTIONS],
        written_by: format!("chaintrace {}", env!("CARGO_PKG_VERSION")),
        lineage: store.manifest.lineage.clone(),
        events: store.len() as u64,
        labels: labels_fingerprint(store),
        resumable: head.resumable,
        base: head.base.as_ref().map(|b| b.0.clone()),
        base_addresses: head.base.as_ref().map_or(0, |b| b.1),
        rows: received.len() as u64,
        view_entries: head.view_entries,
        xxh3: bodies.iter().map(|b| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b))).collect(),
    };
    // The header's length depends on the offsets it holds: lay the sections
    // out after a generous fixed header.
    let header_room = 4096u64;
    let mut at = header_room;
    for (k, b) in bodies.iter().enumerate() {
        meta.sections[k] = Section { offset: at, bytes: b.len() as u64 };
        at += (b.len() as u64).div_ceil(64) * 64;
    }
    let json = serde_json::to_vec(&meta).map_err(|e| ScreenError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) })?;
    let mut head = Vec::with_capacity(header_room as usize);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&(json.len() as u64).to_le_bytes());
    head.extend_from_slice(&json);
    if head.len() as u64 > header_room {
        return Err(ScreenError::TooLarge("index header".into()));
    }
    head.resize(header_room as usize, 0);
    let io = |source| ScreenError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().expect("index path has a directory");
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = crate::sys::tmp_path(path);
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(&head).map_err(io)?;
        for b in bodies {
            f.write_all(b).map_err(io)?;
            f.write_all(&[0u8; 64][..b.len().next_multiple_of(64) - b.len()]).map_err(io)?;
        }
        let f = f.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The new name is on disk before the caller removes older files (the
    // base a delta replaces, older generations' indexes): a crash then
    // leaves one index or the other, never neither. The directory's sync
    // also keeps a base's link made there before.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// One mapped file of an index: a base or a delta.
pub struct Layer {
    /// Its header.
    pub meta: Meta,
    map: Mmap,
    path: PathBuf,
    /// One past the last event its entries name (found on open).
    reach: u64,
    /// The file's device and inode: which file a name is.
    id: (u64, u64),
}

/// A file's identity (device, inode), to tell whether two names are one file.
pub fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

impl Layer {
    /// Map an index file; checks the magic, the version, the section
    /// bounds and everything lookups index with.
    pub fn open(path: &Path) -> Result<Layer, ScreenError> {
        let io = |source| ScreenError::Io { path: path.to_path_buf(), source };
        let f = std::fs::File::open(path).map_err(io)?;
        // SAFETY: index files are written aside and renamed into place, never
        // modified after; a rebuild writes a new file.
        let map = unsafe { Mmap::map(&f) }.map_err(io)?;
        let id = file_id(&f.metadata().map_err(io)?);
        let corrupt = |m: &str| ScreenError::Corrupt { path: path.to_path_buf(), message: m.to_string() };
        if map.len() < 16 || &map[..8] != MAGIC {
            return Err(corrupt("not a chaintrace exposure index"));
        }
        let len = u64::from_le_bytes(map[8..16].try_into().expect("8 bytes")) as usize;
        let json = 16usize.checked_add(len).and_then(|end| map.get(16..end)).ok_or_else(|| corrupt("header runs past the end"))?;
        let meta: Meta = serde_json::from_slice(json).map_err(|e| corrupt(&e.to_string()))?;
        if meta.version != VERSION {
            return Err(corrupt(&format!("format version {} (this build reads {VERSION})", meta.version)));
        }
        for s in &meta.sections {
            if s.offset % 64 != 0 || s.offset.checked_add(s.bytes).is_none_or(|end| end > map.len() as u64) {
                return Err(corrupt("a section lies outside the file"));
            }
        }
        let mut l = Layer { meta, map, path: path.to_path_buf(), reach: 0, id };
        let typed = [
            try_cast::<Slot>(l.section(0)).err(),
            try_cast::<u128>(l.section(1)).err(),
            try_cast::<u32>(l.section(2)).err(),
            try_cast::<Entry>(l.section(3)).err(),
            try_cast::<SeedRule>(l.section(4)).err(),
            try_cast::<u64>(l.section(5)).err(),
            try_cast::<PoolRecord>(l.section(6)).err(),
            try_cast::<SeedBalance>(l.section(7)).err(),
            try_cast::<RowSlot>(l.section(8)).err(),
            try_cast::<OutputRecord>(l.section(9)).err(),
            try_cast::<u64>(l.section(10)).err(),
        ];
        if let Some(e) = typed.into_iter().flatten().next() {
            return Err(corrupt(&format!("a section cannot be read: {e}")));
        }
        let n = l.meta.addresses as usize;
        let rows = if l.meta.base.is_some() { l.meta.rows as usize } else { n };
        let table = l.row_table();
        // Tables of at least two slots: a hash's top bits pick the home slot.
        if l.slots().len() as u64 != l.meta.slots
            || !l.meta.slots.is_power_of_two()
            || l.meta.slots < 2
            || (l.meta.base.is_some() && table.len() < 2)
            || l.received().len() != rows
            || l.offsets().len() != rows + 1
            || l.entries().len() as u64 != l.meta.entries
            || l.preds().len() as u64 != l.meta.entries
            || (l.meta.base.is_some() && (!table.len().is_power_of_two() || table.len() <= rows))
            || (l.meta.base.is_none() && !table.is_empty())
        {
            return Err(corrupt("section sizes do not match the header"));
        }
        // What lookups index with must stay inside the file: a damaged
        // index is refused (and rebuilt), never trusted.
        let off = l.offsets();
        if off[0] != 0 || off.windows(2).any(|w| w[0] > w[1]) || off[rows] as u64 != l.meta.entries {
            return Err(corrupt("entry offsets are out of order"));
        }
        let k = l.meta.categories.len();
        if l.entries().iter().any(|e| e.category as usize >= k || e.direct > e.amount) {
            return Err(corrupt("an entry names no category or more direct taint than taint"));
        }
        // Events named (first arrivals, UTXO predecessors): checked
        // against a store by `Index::fits` without another pass.
        let first = l.entries().iter().map(|e| e.first_in.saturating_add(1)).max().unwrap_or(0);
        let pred = l.preds().iter().filter(|&&p| p != u64::MAX).map(|p| p + 1).max().unwrap_or(0);
        if l.outputs().iter().any(|o| o.category as usize >= k)
            || l.outputs().windows(2).any(|w| (w[0].output, w[0].category) >= (w[1].output, w[1].category))
            || l.spent().windows(2).any(|w| w[0] >= w[1])
        {
            return Err(corrupt("the tainted outputs are out of order or name no category"));
        }
        let outs = l.outputs().last().map_or(0, |o| o.output.saturating_add(1)).max(l.spent().last().map_or(0, |&o| o.saturating_add(1)));
        let reach = first.max(pred).max(outs);
        if l.seeds().iter().any(|r| r.id as usize >= n || r.category as usize >= k) {
            return Err(corrupt("a seed rule names no address or category"));
        }
        if l.pools().iter().any(|p| p.id as usize >= n || p.category as usize >= k)
            || l.pools().windows(2).any(|w| (w[0].id, w[0].category) >= (w[1].id, w[1].category))
        {
            return Err(corrupt("the pools are out of order or name no address or category"));
        }
        if table.iter().any(|s| s.id != EMPTY && (s.id as usize >= n || s.row as usize >= rows))
            || (l.meta.base.is_some() && table.iter().filter(|s| s.id != EMPTY).count() != rows)
        {
            return Err(corrupt("a row slot names no address or row, or the rows are not all in the table"));
        }
        // Every row is found where a lookup looks, once.
        let mut seen = vec![false; if l.meta.base.is_some() { rows } else { 0 }];
        for s in table.iter().filter(|s| s.id != EMPTY) {
            if std::mem::replace(&mut seen[s.row as usize], true) || l.row(s.id) != Some(s.row as usize) {
                return Err(corrupt("a row slot is out of its place or names a row twice"));
            }
        }

        l.reach = reach;
        Ok(l)
    }

    /// The file it was mapped from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Check sections `ks` against their checksums.
    fn check(&self, ks: impl IntoIterator<Item = usize>) -> Result<(), ScreenError> {
        for k in ks {
            let want = self.meta.xxh3.get(k).map(String::as_str);
            if want != Some(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.section(k))).as_str()) {
                return Err(ScreenError::Corrupt { path: self.path.clone(), message: format!("section {k} does not match its checksum") });
            }
        }
        Ok(())
    }

    /// The mapped file's identity ([`file_id`]).
    pub fn file_id(&self) -> (u64, u64) {
        self.id
    }

    fn section(&self, k: usize) -> &[u8] {
        let s = self.meta.sections[k];
        &self.map[s.offset as usize..(s.offset + s.bytes) as usize]
    }

    fn slots(&self) -> &[Slot] {
        cast(self.section(0))
    }

    fn received(&self) -> &[u128] {
        cast(self.section(1))
    }

    fn offsets(&self) -> &[u32] {
        cast(self.section(2))
    }

    fn entries(&self) -> &[Entry] {
        cast(self.section(3))
    }

    fn seeds(&self) -> &[SeedRule] {
        cast(self.section(4))
    }

    fn preds(&self) -> &[u64] {
        cast(self.section(5))
    }

    fn pools(&self) -> &[PoolRecord] {
        cast(self.section(6))
    }

    fn seed_balances(&self) -> &[SeedBalance] {
        cast(self.section(7))
    }

    fn row_table(&self) -> &[RowSlot] {
        cast(self.section(8))
    }

    fn outputs(&self) -> &[OutputRecord] {
        cast(self.section(9))
    }

    fn spent(&self) -> &[u64] {
        cast(self.section(10))
    }

    /// The records of tainted output `output` in this file.
    fn output_records(&self, output: u64) -> &[OutputRecord] {
        let o = self.outputs();
        let lo = o.partition_point(|r| r.output < output);
        let hi = lo + o[lo..].partition_point(|r| r.output == output);
        &o[lo..hi]
    }

    /// The row of address `id` in this file, if it holds one.
    #[inline]
    fn row(&self, id: u32) -> Option<usize> {
        if self.meta.base.is_none() {
            return ((id as u64) < self.meta.addresses).then_some(id as usize);
        }
        let t = self.row_table();
        let mask = t.len() - 1;
        let mut s = row_home(id, t.len());
        // The table is never full as written (and checked on open).
        for _ in 0..t.len() {
            let slot = t[s];
            if slot.id == EMPTY {
                return None;
            }
            if slot.id == id {
                return Some(slot.row as usize);
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// The ids of a delta's rows.
    fn row_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.row_table().iter().filter(|s| s.id != EMPTY).map(|s| s.id)
    }

    fn entry_range(&self, row: usize) -> (usize, usize) {
        let off = self.offsets();
        (off[row] as usize, off[row + 1] as usize)
    }

    /// The exposures of address `id` in this file (none when it has no row).
    fn exposures_of(&self, id: u32) -> &[Entry] {
        match self.row(id) {
            Some(r) => {
                let (lo, hi) = self.entry_range(r);
                &self.entries()[lo..hi]
            }
            None => &[],
        }
    }

    fn pools_of(&self, id: u32) -> &[PoolRecord] {
        let p = self.pools();
        let lo = p.partition_point(|r| r.id < id);
        let hi = lo + p[lo..].partition_point(|r| r.id == id);
        &p[lo..hi]
    }

    #[inline]
    fn probe(&self, key: &[u8; 20], h: u64) -> Option<u32> {
        let slots = self.slots();
        let mask = slots.len() - 1;
        let mut s = h as usize;
        // As written the table is at most 3/4 full; a damaged one without
        // an empty slot ends the probe after one round.
        for _ in 0..slots.len() {
            let slot = &slots[s];
            if slot.id == EMPTY {
                return None;
            }
            if &slot.key == key {
                // A damaged slot is no hit.
                return ((slot.id as u64) < self.meta.addresses).then_some(slot.id);
            }
            s = (s + 1) & mask;
        }
        None
    }
}

/// An open exposure index: a base and, after appends, a delta over it.
pub struct Index {
    /// Its header as a whole: the newest file's, with the entries of the
    /// whole index.
    pub meta: Meta,
    base: Arc<Layer>,
    /// The base's name in the generation this index is of.
    base_path: PathBuf,
    delta: Option<Layer>,
}

impl Index {
    /// Map a base index file.
    pub fn open(path: &Path) -> Result<Index, ScreenError> {
        let base = Layer::open(path)?;
        if base.meta.base.is_some() {
            return Err(ScreenError::Corrupt { path: path.to_path_buf(), message: "a delta opened as a base".into() });
        }
        Ok(Index::over(Arc::new(base), path, None))
    }

    /// Map a delta and its base: `held`, a base already open, when it is
    /// the one the delta is over, else the file at `base`.
    pub fn open_with_delta(held: Option<Arc<Layer>>, base: &Path, delta: &Path) -> Result<Index, ScreenError> {
        let base_path = base;
        let d = Layer::open(delta)?;
        let base = match held
            .filter(|b| d.meta.base.as_deref() == Some(b.meta.generation.as_str()) && b.meta.addresses == d.meta.base_addresses)
        {
            Some(b) => b,
            None => Arc::new(Layer::open(base)?),
        };
        let corrupt = |m: &str| ScreenError::Corrupt { path: delta.to_path_buf(), message: m.to_string() };
        if d.meta.base.as_deref() != Some(base.meta.generation.as_str())
            || base.meta.base.is_some()
            || d.meta.base_addresses != base.meta.addresses
            || d.meta.addresses < base.meta.addresses
            || d.meta.categories != base.meta.categories
            || d.meta.asset != base.meta.asset
            || d.meta.events < base.meta.events
            || d.meta.labels != base.meta.labels
            || (d.meta.resumable && !base.meta.resumable)
        {
            return Err(corrupt("the delta is not over this base"));
        }
        if d.slots().iter().any(|s| s.id != EMPTY && s.id < base.meta.addresses as u32) {
            return Err(corrupt("the delta's slots name addresses of its base"));
        }
        Ok(Index::over(base, base_path, Some(d)))
    }

    fn over(base: Arc<Layer>, base_path: &Path, delta: Option<Layer>) -> Index {
        let mut meta = delta.as_ref().map_or(&base.meta, |d| &d.meta).clone();
        meta.entries = meta.view_entries;
        Index { meta, base, base_path: base_path.to_path_buf(), delta }
    }

    /// The base's name in the generation this index is of.
    pub fn base_path(&self) -> &Path {
        &self.base_path
    }

    /// Check what an update carries on against the checksums: the base's
    /// end state (pools, seed balances, tainted outputs) and the delta
    /// whole. (The base's answers are checked for shape on open, as
    /// always; checking them byte for byte would cost a rebuild's read.)
    pub fn check_state(&self) -> Result<(), ScreenError> {
        self.base.check([6, 7, 9])?;
        match &self.delta {
            Some(d) => d.check(0..SECTIONS),
            None => Ok(()),
        }
    }

    /// The base file, shared with an update's view over it.
    pub fn base(&self) -> Arc<Layer> {
        self.base.clone()
    }

    /// Whether a delta is laid over the base.
    pub fn has_delta(&self) -> bool {
        self.delta.is_some()
    }

    /// The rows of the delta (0 without one).
    pub fn delta_rows(&self) -> u64 {
        self.delta.as_ref().map_or(0, |d| d.meta.rows)
    }

    /// The file holding address `id`'s row, and the row.
    #[inline]
    fn row(&self, id: u32) -> Option<(&Layer, usize)> {
        if let Some(d) = &self.delta
            && let Some(r) = d.row(id)
        {
            return Some((d, r));
        }
        self.base.row(id).map(|r| (&*self.base, r))
    }

    /// Whether the index was written for `store`'s events (as many, the
    /// same line of events) and every event it points at is in it: an
    /// index of another store of the same size is refused, not trusted.
    pub fn fits(&self, store: &Store) -> bool {
        let n = store.len() as u64;
        self.meta.events == n
            && self.meta.lineage == store.manifest.lineage
            && self.base.reach <= n
            && self.delta.as_ref().is_none_or(|d| d.reach <= n)
    }

    /// What address `id` received from others.
    #[inline]
    pub fn received(&self, id: u32) -> u128 {
        self.row(id).map_or(0, |(l, r)| l.received()[r])
    }

    /// The address id of an address given as text (an account-model
    /// address as 20 bytes, a Bitcoin address as its text), checked
    /// against the store's own text.
    pub fn lookup_text(&self, store: &Store, bytes: &[u8]) -> Option<u32> {
        let key = text_key(store.manifest.chain, bytes)?;
        self.lookup(&key).filter(|&id| store.address_bytes(id) == bytes)
    }

    /// The UTXO predecessor of `id`'s first tainted arrival in category
    /// `k` (see [`Entry`]), if any.
    pub fn pred(&self, id: u32, k: u16) -> Option<u64> {
        let (l, r) = self.row(id)?;
        let (lo, hi) = l.entry_range(r);
        let at = l.entries()[lo..hi].iter().position(|e| e.category == k)?;
        Some(l.preds()[lo + at]).filter(|&p| p != u64::MAX)
    }

    /// Seed rules, sorted by address id.
    pub fn seeds(&self) -> &[SeedRule] {
        self.delta.as_ref().map_or(&*self.base, |d| d).seeds()
    }

    /// Seed balances at the sweep's end, sorted by address id.
    pub fn seed_balances(&self) -> &[SeedBalance] {
        self.delta.as_ref().map_or(&*self.base, |d| d).seed_balances()
    }

    /// Address `id`'s pools at the sweep's end, ascending by category.
    pub fn pools(&self, id: u32) -> &[PoolRecord] {
        match &self.delta {
            Some(d) if d.row(id).is_some() => d.pools_of(id),
            _ => self.base.pools_of(id),
        }
    }

    /// UTXO model: the taint unspent output `output` holds at the sweep's
    /// end, and whether the base holds it (else a delta made it).
    pub fn unspent(&self, output: u64) -> (&[OutputRecord], bool) {
        if let Some(d) = &self.delta {
            let made = d.output_records(output);
            if !made.is_empty() || d.spent().binary_search(&output).is_ok() {
                return (made, false);
            }
        }
        (self.base.output_records(output), true)
    }

    /// UTXO model, a delta: the tainted outputs made since the base and
    /// not spent, and the base's spent since it (both empty without one).
    pub fn delta_outputs(&self) -> (&[OutputRecord], &[u64]) {
        self.delta.as_ref().map_or((&[][..], &[][..]), |d| (d.outputs(), d.spent()))
    }

    /// UTXO model: the base's tainted unspent outputs.
    pub fn base_outputs(&self) -> &[OutputRecord] {
        self.base.outputs()
    }

    /// UTXO model: every tainted unspent output at the sweep's end.
    pub fn all_outputs(&self) -> impl Iterator<Item = OutputRecord> + '_ {
        let (made, spent) = self.delta_outputs();
        self.base.outputs().iter().filter(move |o| spent.binary_search(&o.output).is_err()).chain(made.iter()).copied()
    }

    /// Every address's pools at the sweep's end: the base's of addresses
    /// the delta does not hold, then the delta's.
    pub fn all_pools(&self) -> impl Iterator<Item = PoolRecord> + '_ {
        let d = self.delta.as_ref();
        let base = self.base.pools().iter().filter(move |p| d.is_none_or(|d| d.row(p.id).is_none()));
        base.chain(d.map_or(&[][..], |d| d.pools()).iter()).copied()
    }

    /// The address id of a 20-byte address, if it is in the data.
    #[inline]
    pub fn lookup(&self, key: &[u8; 20]) -> Option<u32> {
        self.base.probe(key, home(key, self.base.slots().len())).or_else(|| self.lookup_new(key))
    }

    /// An address new since the base.
    #[inline]
    fn lookup_new(&self, key: &[u8; 20]) -> Option<u32> {
        self.delta.as_ref().and_then(|d| d.probe(key, home(key, d.slots().len())))
    }

    /// Look up many addresses: the slots of a whole group are requested
    /// from memory before any is read, so the cache misses overlap.
    pub fn lookup_batch(&self, keys: &[[u8; 20]], out: &mut Vec<Option<u32>>) {
        // A rolling window: key i is probed while the slots of keys i+1 ..
        // i+DEPTH load, so that DEPTH misses stay in flight throughout
        // (groups of 16 loaded then probed stalled on each group's first:
        // 8.1 against 9.2 M Bitcoin lookups a second, alternating in one
        // run). Each home's next line is asked for too: a key not in the
        // table (half of a screening batch) scans about five 24-byte slots
        // at three-quarters full, past the home's line (9.5 against 9.2).
        const DEPTH: usize = 16;
        out.clear();
        let base = &*self.base;
        let slots = base.slots();
        let load = |key: &[u8; 20]| {
            let h = home(key, slots.len());
            crate::sys::prefetch(&slots[h as usize]);
            crate::sys::prefetch(&slots[(h as usize + 3).min(slots.len() - 1)]);
            h
        };
        let mut ring = [0u64; DEPTH];
        for (k, key) in keys.iter().take(DEPTH).enumerate() {
            ring[k] = load(key);
        }
        for (i, key) in keys.iter().enumerate() {
            let h = ring[i % DEPTH];
            if let Some(next) = keys.get(i + DEPTH) {
                ring[i % DEPTH] = load(next);
            }
            out.push(base.probe(key, h));
        }
        if self.delta.is_some() {
            for (o, key) in out.iter_mut().zip(keys) {
                if o.is_none() {
                    *o = self.lookup_new(key);
                }
            }
        }
    }

    /// [`Index::lookup_text`] for many addresses: their keys hashed and
    /// looked up a batch at a time ([`Index::lookup_batch`]), then each hit
    /// compared with the store's text.
    pub fn lookup_text_batch(&self, store: &Store, texts: &[String], out: &mut Vec<Option<u32>>) {
        let chain = store.manifest.chain;
        // A text no key can be made of (an account-model address not 20 bytes) takes a key no address has.
        let keys: Vec<[u8; 20]> = texts.iter().map(|t| text_key(chain, t.as_bytes()).unwrap_or([0xff; 20])).collect();
        self.lookup_batch(&keys, out);
        // The texts of the hits are compared in order, each one's offsets
        // and then its bytes requested a few hits ahead: two dependent
        // misses a hit, overlapped with the compares before it. (Three
        // passes, each with its own misses in flight, measured faster than
        // one pass of four stages, 9.4 against 6.4 M lookups a second, and
        // than hashing a group's keys while the group before is probed,
        // 8.7.)
        const AHEAD: usize = 8;
        for k in 0..out.len() {
            if let Some(&Some(id)) = out.get(k + 2 * AHEAD) {
                store.prefetch_address_offsets(id);
            }
            if let Some(&Some(id)) = out.get(k + AHEAD) {
                store.prefetch_address_bytes(id);
            }
            out[k] = out[k].filter(|&i| store.address_bytes(i) == texts[k].as_bytes());
        }
    }

    /// Start loading what an answer for `id` reads first (its received
    /// amount and its entries' offsets): a batch asks for addresses all
    /// over an index far larger than the cache.
    pub fn prefetch(&self, id: u32) {
        // A delta is small and in cache; the base's row is the miss.
        if let Some(r) = self.base.row(id) {
            crate::sys::prefetch(&self.base.received()[r]);
            crate::sys::prefetch(&self.base.offsets()[r]);
        }
    }

    /// Start loading `id`'s entries, once its offsets are in cache
    /// ([`Index::prefetch`] a few answers earlier).
    pub fn prefetch_entries(&self, id: u32) {
        if let Some((l, r)) = self.row(id)
            && let Some(e) = l.entries().get(l.offsets()[r] as usize)
        {
            crate::sys::prefetch(e);
        }
    }

    /// The exposures of address `id`, ascending by category.
    pub fn exposures(&self, id: u32) -> &[Entry] {
        match self.row(id) {
            Some((l, r)) => {
                let (lo, hi) = l.entry_range(r);
                &l.entries()[lo..hi]
            }
            None => &[],
        }
    }

    /// The exposures of address `id` as a sweep keeps them (with their
    /// UTXO predecessors), for a sweep taken up or folded.
    pub fn exposures_of(&self, id: u32) -> Vec<Exposure> {
        let Some((l, r)) = self.row(id) else { return Vec::new() };
        let (lo, hi) = l.entry_range(r);
        (lo..hi)
            .map(|k| {
                let e = &l.entries()[k];
                let pred = l.preds()[k];
                Exposure { category: e.category, amount: e.amount, direct: e.direct, hops: e.hops, first_in: e.first_in, pred }
            })
            .collect()
    }

    /// The exposure of `id` in category `k`, if any.
    pub fn exposure(&self, id: u32, k: u16) -> Option<&Entry> {
        self.exposures(id).iter().find(|e| e.category == k)
    }

    /// Whether `id` carries a seed label of category `k` (at any time).
    pub fn is_seed(&self, id: u32, k: u16) -> bool {
        let s = self.seeds();
        let lo = s.partition_point(|r| r.id < id);
        s[lo..].iter().take_while(|r| r.id == id).any(|r| r.category == k)
    }

    /// One evidence path (event indices, in key order) from a source of
    /// category `k` to `id`: `id`'s first tainted arrival, preceded by the
    /// arrival that brought the taint on ([`Index::step_back`]), and so on
    /// back to a source.
    pub fn path(&self, store: &Store, id: u32, k: u16) -> Vec<u64> {
        let mut path = Vec::new();
        let Some(mut e) = self.exposure(id, k).map(|x| x.first_in) else { return path };
        loop {
            path.push(e);
            match self.step_back(store, e, k) {
                Back::To(prev) => e = prev,
                Back::Source | Back::End => break,
            }
        }
        path.reverse();
        path
    }

    /// The step before arrival `e` on an evidence path of category `k`.
    /// Account model: `e`'s sender is a source, or its first tainted
    /// arrival (earlier than `e`) comes before. UTXO model: an input of
    /// `e`'s transaction pays a source; or the output that transaction
    /// spent most taint of (kept for first arrivals), through its payee's
    /// first tainted arrival when that is earlier, else itself (change);
    /// or the first input address with a tainted arrival earlier.
    pub fn step_back(&self, store: &Store, e: u64, k: u16) -> Back {
        let ev = store.events();
        let earlier = |u: u32| self.exposure(u, k).map(|x| x.first_in).filter(|&f| f < e);
        if store.manifest.chain.is_account() {
            let u = ev.sender(e as usize);
            if self.is_seed(u, k) {
                return Back::Source;
            }
            return earlier(u).map_or(Back::End, Back::To);
        }
        let tx = ev.tx(e as usize);
        let in_addr: &[u32] = cast(store.bytes(crate::store::Column::InAddr));
        let inputs = &in_addr[store.input_rows(tx)];
        if inputs.iter().any(|&u| self.is_seed(u, k)) {
            return Back::Source;
        }
        let payee = ev.receiver(e as usize);
        if self.exposure(payee, k).is_some_and(|x| x.first_in == e)
            && let Some(p) = self.pred(payee, k).filter(|&p| p < e)
        {
            return Back::To(earlier(ev.receiver(p as usize)).unwrap_or(p));
        }
        inputs.iter().find_map(|&u| earlier(u)).map_or(Back::End, Back::To)
    }
}

/// What comes before a step of an evidence path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Back {
    /// The step's taint came straight from a source: the path starts here.
    Source,
    /// This arrival came before it.
    To(u64),
    /// Nothing earlier carried it (a damaged or partial index).
    End,
}
