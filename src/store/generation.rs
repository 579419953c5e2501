//! Generations: every write adds segment files (see `segment`) and then a
//! new generation directory holding only the manifest that lists them, and
//! switches `CURRENT` to it with one atomic rename. The write lock; label
//! imports as one-part appends to the labels column.

use super::columns::Column;
use super::segment::SegmentWriter;
use super::{Manifest, Store};
use crate::store::StoreError;
use std::io::Write;
use std::path::{Path, PathBuf};

pub(super) fn write_file(p: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: p.to_path_buf(), source };
    let mut f = std::fs::File::create(p).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

pub(super) fn sync_dir(p: &Path) -> Result<(), StoreError> {
    std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(|source| StoreError::Io { path: p.to_path_buf(), source })
}

fn new_generation_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut next = 1u64;
    for e in std::fs::read_dir(dir).map_err(io)? {
        let name = e.map_err(io)?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("gen-").and_then(|s| s.parse::<u64>().ok()) {
            next = next.max(n + 1);
        }
    }
    let p = dir.join(format!("gen-{next:06}"));
    std::fs::create_dir(&p).map_err(|source| StoreError::Io { path: p.clone(), source })?;
    Ok(p)
}

/// Make `manifest` the live state: its segment files are already written
/// and synced. Writes a generation directory with the manifest, syncs the
/// store directory (so the new segment names are durable), switches
/// `CURRENT`, then removes older generations and every segment file the
/// manifest does not list. Segments no part refers to any more (their
/// ragged tails were copied on) leave the list first. On error nothing live
/// has changed. The segment this write made (the manifest's last) is
/// recorded as verified: its checksums were computed from the very bytes
/// written, so the next command need not hash it again.
pub(super) fn commit(dir: &Path, manifest: &mut Manifest) -> Result<(), StoreError> {
    let written = manifest.segments.last().map(|s| s.name.clone());
    let used: std::collections::HashSet<String> = manifest.columns.values().flatten().map(|p| p.segment.clone()).collect();
    manifest.segments.retain(|s| used.contains(&s.name));
    let manifest = &*manifest;
    let gen_dir = new_generation_dir(dir)?;
    let result = (|| {
        let json =
            serde_json::to_vec_pretty(manifest).map_err(|e| StoreError::Corrupt { path: gen_dir.clone(), message: e.to_string() })?;
        write_file(&gen_dir.join("manifest.json"), &json)?;
        sync_dir(&gen_dir)?;
        sync_dir(dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&gen_dir);
        return Err(e);
    }
    crate::store::crash::point("generation-written");
    switch_current(dir, &gen_dir, manifest)?;
    if let Some(name) = written
        && manifest.segments.iter().any(|s| s.name == name)
    {
        super::mark_verified(dir, &name, manifest);
    }
    Ok(())
}

/// Point `CURRENT` at `gen` with one atomic rename, then remove older
/// generations and unlisted segments.
fn switch_current(dir: &Path, gen_dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let name = gen_dir.file_name().expect("generation has a name").to_string_lossy().into_owned();
    let mpath = gen_dir.join("manifest.json");
    let m = std::fs::read(&mpath).map_err(|source| StoreError::Io { path: mpath.clone(), source })?;
    let tmp = dir.join("CURRENT.tmp");
    write_file(&tmp, format!("{name} {:016x}\n", xxhash_rust::xxh3::xxh3_64(&m)).as_bytes())?;
    crate::store::crash::point("before-rename");
    std::fs::rename(&tmp, dir.join("CURRENT")).map_err(|source| StoreError::Io { path: dir.join("CURRENT"), source })?;
    sync_dir(dir)?;
    crate::store::crash::point("after-rename");
    remove_unlisted(dir, &name, manifest);
    Ok(())
}

/// Remove generations other than `live` and segment files `manifest` does
/// not list: older states and leftovers of killed writes. Readers that still
/// map them keep their pages until they close. Only a writer holding the
/// lock calls this.
fn remove_unlisted(dir: &Path, live: &str, manifest: &Manifest) {
    let mut listed: std::collections::HashSet<String> = manifest.segments.iter().map(|s| s.name.clone()).collect();
    let pinned = pinned(dir).flatten();
    if let Some((_, m)) = &pinned {
        listed.extend(m.segments.iter().map(|s| s.name.clone()));
    }
    let pinned = pinned.map(|(g, _)| g);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("gen-") && n != live && pinned.as_deref() != Some(n.as_str()) {
                let _ = std::fs::remove_dir_all(e.path());
            } else if super::segment::is_segment_name(&n) && !listed.contains(&n) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Add label rows (lines of the labels column; `labels::save` writes them
/// from its schema, which the store does not read): one new segment with
/// the rows appended to the labels column; no other column is touched.
/// Returns the rows added and the rows in the store.
pub fn import_label_rows<'a>(dir: &Path, rows: impl Iterator<Item = &'a str>) -> Result<(u64, u64), StoreError> {
    let _lock = lock(dir)?;
    let store = Store::open(dir)?;
    store.verify()?;
    let mut manifest = store.manifest.clone();
    // A row already in the store (same address, category, name and
    // interval) is not added again, so importing a file twice is harmless.
    let old = store.bytes(Column::Labels);
    let existing: std::collections::HashSet<&str> = std::str::from_utf8(old).unwrap_or_default().lines().collect();
    let mut text = Vec::new();
    let mut added = 0u64;
    for line in rows {
        if !existing.contains(line) {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            added += 1;
        }
    }
    if added == 0 {
        return Ok((0, manifest.labels));
    }
    // A failed write leaves an unlisted segment; the next commit removes it.
    let mut w = SegmentWriter::create(dir)?;
    crate::store::crash::point("labels-generation");
    let parts = w.extend_column(manifest.columns.get(Column::Labels.file()).map_or(&[][..], Vec::as_slice), old, &text)?;
    manifest.columns.insert(Column::Labels.file().to_string(), parts);
    manifest.segments.push(w.finish()?);
    manifest.labels += added;
    drop(store);
    commit(dir, &mut manifest)?;
    Ok((added, manifest.labels))
}

/// What killed writers left: segment files and generations `CURRENT`
/// does not name, and `CURRENT.tmp`. Removed before a write so that its
/// files get the names an unkilled write would have given them. A store
/// whose manifest cannot be read is left alone (opening it reports why).
fn recover(dir: &Path) {
    let manifest = match super::current_manifest(dir) {
        Ok(Some((live, m))) => (live, m),
        // No store yet: every segment and generation is a leftover.
        Ok(None) => (String::new(), Manifest::empty()),
        Err(_) => return,
    };
    let _ = std::fs::remove_file(dir.join("CURRENT.tmp"));
    let _ = std::fs::remove_file(dir.join(PIN));
    remove_unlisted(dir, &manifest.0, &manifest.1);
}

/// The file naming the generation a bounded-memory ingest returns to if
/// bad input stops it after some of its windows were committed (the rule
/// of a one-pass ingest: bad input leaves the store as it was). Commits
/// keep that generation and its segments while the file exists; the next
/// writer's recovery removes a pin that a killed ingest left, and the store
/// then holds the windows committed before the kill (an ingest of the same
/// files goes on from there).
const PIN: &str = "PIN";

/// The pinned generation and its manifest: `Some(None)` when the store did
/// not exist before the pin, `None` without a pin or with one whose
/// generation cannot be read (then nothing is restored: the committed
/// windows stay, never less).
fn pinned(dir: &Path) -> Option<Option<(String, Manifest)>> {
    let name = std::fs::read_to_string(dir.join(PIN)).ok()?;
    let name = name.trim();
    if name == "none" {
        return Some(None);
    }
    if !name.starts_with("gen-") || name.contains('/') {
        return None;
    }
    let m = std::fs::read(dir.join(name).join("manifest.json")).ok()?;
    Some(Some((name.to_string(), serde_json::from_slice(&m).ok()?)))
}

/// Pin the live generation (or the store's absence) until [`unpin`] or
/// [`restore`]. The caller holds the lock.
pub fn pin(dir: &Path) -> Result<(), StoreError> {
    let live = super::current_manifest(dir)?.map_or_else(|| "none".to_string(), |(g, _)| g);
    write_file(&dir.join(PIN), format!("{live}\n").as_bytes())?;
    sync_dir(dir)
}

/// Drop the pin: the pinned generation and the segments only it lists go.
pub fn unpin(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PIN));
    recover(dir);
}

/// Go back to the pinned state: `CURRENT` names the pinned generation again
/// (or goes, if there was no store), then the pin and every later
/// generation and segment go.
pub fn restore(dir: &Path) -> Result<(), StoreError> {
    match pinned(dir) {
        None => return Ok(()),
        Some(Some((name, m))) => switch_current(dir, &dir.join(&name), &m)?,
        Some(None) => {
            let cur = dir.join("CURRENT");
            if cur.exists() {
                std::fs::remove_file(&cur).map_err(|source| StoreError::Io { path: cur, source })?;
                sync_dir(dir)?;
            }
            let _ = std::fs::remove_file(dir.join("VERIFIED"));
        }
    }
    unpin(dir);
    Ok(())
}

/// Take the store's write lock for the life of the returned file.
pub fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK")).map_err(io)?;
    match f.try_lock() {
        Ok(()) => {
            recover(dir);
            Ok(f)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Mismatch { path: dir.to_path_buf(), message: "another chaintrace process is writing this store".into() })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}
