//! The exposure index on disk: one file per store generation and asset,
//! memory-mapped on open, nothing parsed but a small JSON header.
//!
//! Layout (little-endian, every section 64-byte aligned):
//!
//! | section | record | what |
//! |---|---|---|
//! | header | `CTEXPOS1`, u64 length, JSON [`Meta`] | generation, asset, categories, section offsets |
//! | slots | [`Slot`], 24 bytes | open-addressing hash table: 20-byte address to address id; a power of two, at most 3/4 full |
//! | received | u128 per address id | what the address received from others in the asset |
//! | offsets | u32 per address id, plus one | where its exposures start in `entries` |
//! | entries | [`Entry`], 48 bytes | its exposures, ascending by category |
//! | seeds | [`SeedRule`], 24 bytes | seed labels by address, for evidence paths |
//! | preds | u64 per entry | UTXO model: the output the entry's first tainted arrival spent most taint of (`u64::MAX`: none) |
//!
//! An account-model address is its own 20-byte key; a Bitcoin address
//! (text) is keyed by [`text_key`], a 160-bit digest of its text, and a
//! lookup checks the text against the store's ([`Index::lookup_text`]).
//!
//! A lookup hashes the address (xxh3; the top bits pick the home slot), reads one slot (two when the probe
//! wraps a line), then the address's `received` and `offsets`: three cache
//! misses, which [`Index::lookup_batch`] overlaps across a batch.

use super::ScreenError;
use super::sweep::Exposures;
use crate::store::{Store, cast, try_cast};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// A section's place in the file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Section {
    /// Byte offset.
    pub offset: u64,
    /// Byte length.
    pub bytes: u64,
}

/// The header.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// Always `chaintrace-exposure`.
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The store generation it was built from (`gen-NNNNNN`).
    pub generation: String,
    /// The screened asset (`ETH` or a token contract).
    pub asset: String,
    /// Risk categories, in index order.
    pub categories: Vec<String>,
    /// Address ids (the store's address table).
    pub addresses: u64,
    /// Hash-table slots (a power of two).
    pub slots: u64,
    /// Exposure entries.
    pub entries: u64,
    /// Sections.
    pub sections: [Section; 6],
    /// The program that wrote it.
    pub written_by: String,
}

const MAGIC: &[u8; 8] = b"CTEXPOS1";
/// The index format this build reads and writes.
pub const VERSION: u32 = 3;
const EMPTY: u32 = u32::MAX;

/// The home slot of an address in a table of `cap` slots (a power of two):
/// the top bits of its xxh3 hash, so that slots in hash order are in table
/// order.
#[inline]
fn home(key: &[u8; 20], cap: usize) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key) >> (64 - cap.trailing_zeros())
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

/// Where the index of `asset` for the store's live generation lives.
pub fn path_for(store: &Store, asset: &str) -> PathBuf {
    let generation = store.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    store.dir.join("exposure").join(format!("{generation}.{}.idx", asset.to_ascii_lowercase()))
}

/// Write the index of a sweep's result to `path` (atomically: a temporary
/// file renamed into place).
pub fn write(store: &Store, asset: &str, categories: &[String], x: &Exposures, path: &Path) -> Result<(), ScreenError> {
    let n = store.address_count();
    let first_real = crate::model::Pseudo::ALL.len();
    let real = n.saturating_sub(first_real);
    let cap = (real * 4 / 3 + 1).next_power_of_two().max(16);
    // Insert in the order of home slots, so the table fills front to back
    // instead of with one cache miss per address.
    let mut keyed: Vec<(u64, [u8; 20], u32)> = (first_real..n)
        .filter_map(|id| text_key(store.manifest.chain, store.address_bytes(id as u32)).map(|k| (home(&k, cap), k, id as u32)))
        .collect();
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
    let mut offsets: Vec<u32> = Vec::with_capacity(n + 1);
    let mut entries: Vec<Entry> = Vec::new();
    let mut preds: Vec<u64> = Vec::new();
    let offset = |n: usize| u32::try_from(n).map_err(|_| ScreenError::TooLarge("more than 2^32 - 1 exposure entries".into()));
    for e in &x.by_address {
        offsets.push(offset(entries.len())?);
        entries.extend(e.iter().map(|e| Entry {
            amount: e.amount,
            direct: e.direct,
            first_in: e.first_in,
            hops: e.hops,
            category: e.category,
            reserved: 0,
        }));
        preds.extend(e.iter().map(|e| e.pred));
    }
    offsets.push(offset(entries.len())?);
    let mut seeds: Vec<SeedRule> = x
        .seeds
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
    seeds.sort_by_key(|r| (r.id, r.category, r.from, r.to));
    let bodies: [&[u8]; 6] = [
        crate::store::columns_as_bytes(&slots),
        crate::store::columns_as_bytes(&x.received),
        crate::store::columns_as_bytes(&offsets),
        crate::store::columns_as_bytes(&entries),
        crate::store::columns_as_bytes(&seeds),
        crate::store::columns_as_bytes(&preds),
    ];
    let generation = store.gen_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut meta = Meta {
        format: "chaintrace-exposure".into(),
        version: VERSION,
        generation,
        asset: asset.to_string(),
        categories: categories.to_vec(),
        addresses: n as u64,
        slots: cap as u64,
        entries: entries.len() as u64,
        sections: [Section { offset: 0, bytes: 0 }; 6],
        written_by: format!("chaintrace {}", env!("CARGO_PKG_VERSION")),
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
    Ok(())
}

/// An open, memory-mapped exposure index.
pub struct Index {
    /// Its header.
    pub meta: Meta,
    map: Mmap,
}

impl Index {
    /// Map an index file; checks the magic, the version and the section bounds.
    pub fn open(path: &Path) -> Result<Index, ScreenError> {
        let io = |source| ScreenError::Io { path: path.to_path_buf(), source };
        let f = std::fs::File::open(path).map_err(io)?;
        // SAFETY: index files are written aside and renamed into place, never
        // modified after; a rebuild writes a new file.
        let map = unsafe { Mmap::map(&f) }.map_err(io)?;
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
        let idx = Index { meta, map };
        let typed = [
            try_cast::<Slot>(idx.section(0)).err(),
            try_cast::<u128>(idx.section(1)).err(),
            try_cast::<u32>(idx.section(2)).err(),
            try_cast::<Entry>(idx.section(3)).err(),
            try_cast::<SeedRule>(idx.section(4)).err(),
            try_cast::<u64>(idx.section(5)).err(),
        ];
        if let Some(e) = typed.into_iter().flatten().next() {
            return Err(corrupt(&format!("a section cannot be read: {e}")));
        }
        let n = idx.meta.addresses as usize;
        if idx.slots().len() as u64 != idx.meta.slots
            || !idx.meta.slots.is_power_of_two()
            || idx.received().len() != n
            || idx.offsets().len() != n + 1
            || idx.entries().len() as u64 != idx.meta.entries
            || idx.preds().len() as u64 != idx.meta.entries
        {
            return Err(corrupt("section sizes do not match the header"));
        }
        // What lookups index with must stay inside the file: a damaged
        // index is refused (and rebuilt), never trusted.
        let off = idx.offsets();
        if off[0] != 0 || off.windows(2).any(|w| w[0] > w[1]) || off[n] as u64 != idx.meta.entries {
            return Err(corrupt("entry offsets are out of order"));
        }
        let k = idx.meta.categories.len();
        if idx.entries().iter().any(|e| e.category as usize >= k || e.direct > e.amount) {
            return Err(corrupt("an entry names no category or more direct taint than taint"));
        }
        if idx.seeds().iter().any(|r| r.id as usize >= n || r.category as usize >= k) {
            return Err(corrupt("a seed rule names no address or category"));
        }
        Ok(idx)
    }

    /// Whether the events the index points at are in `store`: an index
    /// of another store of the same size is refused, not trusted.
    pub fn fits(&self, store: &Store) -> bool {
        let n = store.len() as u64;
        self.entries().iter().all(|e| e.first_in < n) && self.preds().iter().all(|&p| p == u64::MAX || p < n)
    }

    fn section(&self, k: usize) -> &[u8] {
        let s = self.meta.sections[k];
        &self.map[s.offset as usize..(s.offset + s.bytes) as usize]
    }

    fn slots(&self) -> &[Slot] {
        cast(self.section(0))
    }

    /// What each address received from others.
    pub fn received(&self) -> &[u128] {
        cast(self.section(1))
    }

    fn offsets(&self) -> &[u32] {
        cast(self.section(2))
    }

    fn entries(&self) -> &[Entry] {
        cast(self.section(3))
    }

    fn preds(&self) -> &[u64] {
        cast(self.section(5))
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
        let off = self.offsets();
        let lo = off[id as usize] as usize;
        let at = self.exposures(id).iter().position(|e| e.category == k)?;
        Some(self.preds()[lo + at]).filter(|&p| p != u64::MAX)
    }

    /// Seed rules, sorted by address id.
    pub fn seeds(&self) -> &[SeedRule] {
        cast(self.section(4))
    }

    /// The address id of a 20-byte address, if it is in the data.
    #[inline]
    pub fn lookup(&self, key: &[u8; 20]) -> Option<u32> {
        self.probe(key, home(key, self.slots().len()))
    }

    /// An id from a slot, if the index has it (a damaged slot is no hit).
    #[inline]
    fn known(&self, id: u32) -> Option<u32> {
        ((id as u64) < self.meta.addresses).then_some(id)
    }

    #[inline]
    fn probe(&self, key: &[u8; 20], h: u64) -> Option<u32> {
        let slots = self.slots();
        let mask = slots.len() - 1;
        let mut s = h as usize;
        loop {
            let slot = &slots[s];
            if slot.id == EMPTY {
                return None;
            }
            if &slot.key == key {
                return self.known(slot.id);
            }
            s = (s + 1) & mask;
        }
    }

    /// Look up many addresses: the slots of a whole group are requested
    /// from memory before any is read, so the cache misses overlap.
    pub fn lookup_batch(&self, keys: &[[u8; 20]], out: &mut Vec<Option<u32>>) {
        const GROUP: usize = 16;
        out.clear();
        let slots = self.slots();
        let mut hashes = [0u64; GROUP];
        for group in keys.chunks(GROUP) {
            for (k, key) in group.iter().enumerate() {
                hashes[k] = home(key, slots.len());
                crate::sys::prefetch(&slots[hashes[k] as usize]);
            }
            for (k, key) in group.iter().enumerate() {
                out.push(self.probe(key, hashes[k]));
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
        crate::sys::prefetch(&self.received()[id as usize]);
        crate::sys::prefetch(&self.offsets()[id as usize]);
    }

    /// Start loading `id`'s entries, once its offsets are in cache
    /// ([`Index::prefetch`] a few answers earlier).
    pub fn prefetch_entries(&self, id: u32) {
        if let Some(e) = self.entries().get(self.offsets()[id as usize] as usize) {
            crate::sys::prefetch(e);
        }
    }

    /// The exposures of address `id`, ascending by category.
    pub fn exposures(&self, id: u32) -> &[Entry] {
        let off = self.offsets();
        let (lo, hi) = (off[id as usize] as usize, off[id as usize + 1] as usize);
        &self.entries()[lo..hi]
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
