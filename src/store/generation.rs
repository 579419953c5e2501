//! Generations: each write builds a new generation directory beside the
//! live one and switches `CURRENT` to it with one atomic rename; the write
//! lock; label imports as generations of hard-linked columns.

use super::columns::Column;
use super::{ColumnInfo, Store};
use crate::store::StoreError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write one column file of a generation; returns its size and checksum for the manifest.
pub(super) fn write_column(gen_dir: &Path, c: Column, bytes: &[u8]) -> Result<ColumnInfo, StoreError> {
    write_file(&gen_dir.join(c.file()), bytes)?;
    Ok(ColumnInfo { bytes: bytes.len() as u64, xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)) })
}

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

pub(super) fn current_generation(dir: &Path) -> Option<String> {
    let cur = std::fs::read_to_string(dir.join("CURRENT")).ok()?;
    cur.split_whitespace().next().map(str::to_string)
}

pub(super) fn new_generation_dir(dir: &Path) -> Result<PathBuf, StoreError> {
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

/// Point `CURRENT` at `gen` with one atomic rename, then remove older generations.
pub(super) fn switch_current(dir: &Path, gen_dir: &Path) -> Result<(), StoreError> {
    let name = gen_dir.file_name().expect("generation has a name").to_string_lossy().into_owned();
    let mpath = gen_dir.join("manifest.json");
    let m = std::fs::read(&mpath).map_err(|source| StoreError::Io { path: mpath.clone(), source })?;
    let tmp = dir.join("CURRENT.tmp");
    write_file(&tmp, format!("{name} {:016x}\n", xxhash_rust::xxh3::xxh3_64(&m)).as_bytes())?;
    let old = current_generation(dir);
    crate::store::crash::point("before-rename");
    std::fs::rename(&tmp, dir.join("CURRENT")).map_err(|source| StoreError::Io { path: dir.join("CURRENT"), source })?;
    sync_dir(dir)?;
    crate::store::crash::point("after-rename");
    // Old generations and leftovers of killed ingests; readers that still map
    // an old one keep their pages until they close.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("gen-") && n != name && (Some(&n) == old.as_ref() || n < name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// Add label rows (lines of the labels column; `labels::save` writes them
/// from its schema, which the store does not read): a new generation whose
/// columns are hard links to the live one's (they never change once
/// written), with the longer labels file. Returns the rows added and the
/// rows in the store.
pub fn import_label_rows<'a>(dir: &Path, rows: impl Iterator<Item = &'a str>) -> Result<(u64, u64), StoreError> {
    let _lock = lock(dir)?;
    let store = Store::open(dir)?;
    store.verify()?;
    let mut manifest = store.manifest.clone();
    let new_rows = std::cell::Cell::new(0u64);
    let gen_dir = new_generation_dir(dir)?;
    let result = (|| -> Result<(), StoreError> {
        for name in manifest.columns.keys() {
            if name == Column::Labels.file() {
                continue;
            }
            let (from, to) = (store.gen_dir.join(name), gen_dir.join(name));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|source| StoreError::Io { path: to.clone(), source })?;
            }
        }
        crate::store::crash::point("labels-generation");
        // A row already in the store (same address, category, name and
        // interval) is not added again, so importing a file twice is harmless.
        let mut text = store.bytes(Column::Labels).to_vec();
        let existing: std::collections::HashSet<String> = String::from_utf8_lossy(&text).lines().map(str::to_string).collect();
        let mut added = 0u64;
        for line in rows {
            if !existing.contains(line) {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
                added += 1;
            }
        }
        new_rows.set(added);
        manifest.columns.insert(Column::Labels.file().to_string(), write_column(&gen_dir, Column::Labels, &text)?);
        manifest.labels += new_rows.get();
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Corrupt { path: gen_dir.clone(), message: e.to_string() })?;
        write_file(&gen_dir.join("manifest.json"), &json)?;
        sync_dir(&gen_dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&gen_dir);
        return Err(e);
    }
    drop(store);
    switch_current(dir, &gen_dir)?;
    Ok((new_rows.get(), manifest.labels))
}

/// Take the store's write lock for the life of the returned file.
pub fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK")).map_err(io)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Mismatch { path: dir.to_path_buf(), message: "another chaintrace process is writing this store".into() })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}
