//! `chaintrace partition`: a store cut into one part per process of runs
//! across hosts (issue 17, ADR 0016). Process `p`'s part holds every event
//! that an address of its workers sends or receives (`Owners::reads`),
//! so the sweeps find there all they read; an event between two processes
//! is in both parts. A fee is in its sender's part alone: the fees'
//! pseudo-address is everyone's while it is not a seed (a trace of parts
//! that seeds it is refused).

use super::{DataflowError, Owners, PARTS_FILE, whole_identity};
use crate::store::Store;
use crate::store::part::{PartInfo, part_dir};
use std::path::Path;

/// The most processes a store is cut for.
pub const MAX_PROCESSES: usize = 4096;

/// What `partition` wrote, and what `parts.json` says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Parts {
    /// `chaintrace-parts`.
    pub format: String,
    /// Processes the store was cut for.
    pub processes: u32,
    /// Ownership blocks, as bits.
    pub owner_bits: u32,
    /// Events in the whole store.
    pub whole_events: u64,
    /// Events in each part, process 0 first.
    pub part_events: Vec<u64>,
}

/// Cut the store `store` into parts for `processes` processes, written
/// under `out` (a new directory: written aside, then renamed into place,
/// so it is whole or absent). Account-model stores.
pub fn partition(store: &Store, processes: usize, out: &Path) -> Result<Parts, DataflowError> {
    if processes == 0 {
        return Err(DataflowError::Unsupported("--processes must be at least 1".into()));
    }
    if !store.manifest.chain.is_account() {
        return Err(DataflowError::Unsupported(
            "parts so far: account-model stores (Ethereum and tokens); give Bitcoin stores whole".into(),
        ));
    }
    let processes32 = u32::try_from(processes).map_err(|_| DataflowError::Unsupported(format!("--processes {processes}: too many")))?;
    if out.exists() {
        return Err(DataflowError::Unsupported(format!("{}: already exists; give a new directory", out.display())));
    }
    // The first block's table counts each address's events toward every
    // process (`first_block`: 32 KiB a process).
    if processes > MAX_PROCESSES {
        return Err(DataflowError::Unsupported(format!("--processes {processes}: parts are cut for at most {MAX_PROCESSES} processes")));
    }
    let owner_bits = super::owner_bits_of(store)?;
    let first_block = first_block(store, processes, owner_bits);
    let owners = Owners::new(processes, 1, owner_bits)
        .with_first_block(first_block.as_slice().into())
        .expect("the table names processes of the run");
    let aside = out.with_extension("writing");
    let io = |path: &Path, source| DataflowError::Trace(crate::store::StoreError::Io { path: path.to_path_buf(), source }.into());
    if aside.exists() {
        std::fs::remove_dir_all(&aside).map_err(|e| io(&aside, e))?;
    }
    std::fs::create_dir_all(&aside).map_err(|e| io(&aside, e))?;
    let whole = whole_identity(store);
    let fit = super::account::balances_fit(store);
    let n = store.len();
    let mut part_events = Vec::with_capacity(processes);
    for p in 0..processes {
        // One pass over the parties a part: a list of every part's events
        // at once would need up to twice the store's events in memory.
        let mut keep = Vec::new();
        each_event(store, |i, u, v| {
            if owners.reads(p, u, v) {
                keep.push(i as u64);
            }
        });
        let info = PartInfo {
            format: crate::store::part::FORMAT.into(),
            whole: whole.clone(),
            whole_events: n as u64,
            balances_fit: fit,
            process: p as u32,
            processes: processes32,
            owner_bits,
            events: keep.len() as u64,
            first_block: first_block.clone(),
        };
        crate::store::part::write(store, &keep, &info, &part_dir(&aside, p)).map_err(|e| DataflowError::Trace(e.into()))?;
        part_events.push(keep.len() as u64);
    }
    let parts = Parts { format: "chaintrace-parts".into(), processes: processes32, owner_bits, whole_events: n as u64, part_events };
    let json = serde_json::to_vec_pretty(&parts).map_err(|e| DataflowError::Unsupported(e.to_string()))?;
    let file = aside.join(PARTS_FILE);
    let store_error = |e: crate::store::StoreError| DataflowError::Trace(e.into());
    crate::store::part::write_synced(&file, &json).map_err(store_error)?;
    crate::store::part::rename_into_place(&aside, out).map_err(store_error)?;
    Ok(parts)
}

/// `f(event, sender, receiver)` for each of the store's events, in order,
/// the parties decoded a block at a time.
fn each_event(store: &Store, mut f: impl FnMut(usize, u32, u32)) {
    let ev = store.events();
    let n = store.len();
    const BLOCK: usize = 64;
    let (mut from, mut to) = ([0u32; BLOCK], [0u32; BLOCK]);
    let mut i = 0;
    while i < n {
        let k = (n - i).min(BLOCK);
        ev.parties(i, &mut from[..k], &mut to[..k]);
        for j in 0..k {
            f(i + j, from[j], to[j]);
        }
        i += k;
    }
}

/// The process of each id of the store's first ownership block (of
/// `2^owner_bits`) for parts of `processes`, given out in one pass over
/// the parties (ADR 0016).
///
/// That block holds the services, whose events are most of the store's
/// and many of them with each other (a router's with its pools). The pass
/// counts what each part holds from the hashed blocks, each id's events,
/// how many of them are with ids of the hashed blocks each process owns,
/// and how many with each other id of the block. Then the ids go out by
/// their events, most first (then by id), each to where it adds fewest
/// events to the largest part: the part whose events it shares most
/// (`co`, those events are there already), weighed by the room the part
/// has left (a linear deterministic greedy), never past the largest part
/// that evening the parts alone would make; where no part has both, to
/// the part then smallest. The counts are exact: the parts `partition`
/// writes hold what the table says.
fn first_block(store: &Store, processes: usize, owner_bits: u32) -> Vec<u16> {
    let n0 = (1usize << owner_bits).min(store.address_count());
    let hashed = Owners::new(processes, 1, owner_bits);
    let fees = crate::model::Pseudo::Fees.id();
    let (mut load, mut events) = (vec![0u64; processes], vec![0u64; n0]);
    // toward[a * processes + p]: id a's events with ids of hashed blocks p owns.
    let mut toward = vec![0u64; n0 * processes];
    let mut pairs: std::collections::HashMap<u64, u64, std::hash::BuildHasherDefault<crate::trace::IdHasher>> = Default::default();
    each_event(store, |_, u, v| {
        // A fee is in its sender's part alone (`Owners::reads`), and so is
        // a transfer to oneself.
        let v = (v != fees && v != u).then_some(v);
        let (u0, v0) = ((u as usize) < n0, v.is_some_and(|v| (v as usize) < n0));
        let pu = (!u0).then(|| hashed.process_of(u));
        let pv = v.filter(|_| !v0).map(|v| hashed.process_of(v));
        if u0 {
            events[u as usize] += 1;
            if let Some(p) = pv {
                toward[u as usize * processes + p] += 1;
            }
        }
        if let Some(v) = v.filter(|_| v0) {
            events[v as usize] += 1;
            if let Some(p) = pu {
                toward[v as usize * processes + p] += 1;
            } else {
                *pairs.entry(u64::from(u.min(v)) << 32 | u64::from(u.max(v))).or_default() += 1;
            }
        }
        if let Some(p) = pu {
            load[p] += 1;
        }
        if let Some(p) = pv.filter(|&p| pu != Some(p)) {
            load[p] += 1;
        }
    });
    // Each id's partners in the block, with their events in common.
    let mut with: Vec<(u32, u32, u64)> = Vec::with_capacity(pairs.len() * 2);
    for (&k, &c) in &pairs {
        let (a, b) = ((k >> 32) as u32, k as u32);
        with.push((a, b, c));
        with.push((b, a, c));
    }
    with.sort_unstable();
    let mut order: Vec<u32> = (0..n0 as u32).collect();
    order.sort_unstable_by_key(|&a| (std::cmp::Reverse(events[a as usize]), a));
    let give_out = |room: Option<u64>| -> (Vec<u16>, Vec<u64>) {
        let (mut table, mut load, mut placed) = (vec![0u16; n0], load.clone(), vec![false; n0]);
        let mut co = vec![0u64; processes];
        for &a in &order {
            let a = a as usize;
            co.copy_from_slice(&toward[a * processes..(a + 1) * processes]);
            let from = with.partition_point(|x| (x.0 as usize) < a);
            for &(_, b, c) in with[from..].iter().take_while(|x| x.0 as usize == a) {
                if placed[b as usize] {
                    co[usize::from(table[b as usize])] += c;
                }
            }
            let after = |p: usize| load[p] + events[a] - co[p];
            let shared = room.and_then(|cap| {
                (0..processes)
                    .filter(|&p| co[p] > 0 && after(p) <= cap)
                    .max_by_key(|&p| (u128::from(co[p]) * u128::from(cap - after(p) + 1), std::cmp::Reverse(p)))
            });
            let p = shared.unwrap_or_else(|| (0..processes).min_by_key(|&p| (after(p), p)).expect("at least one process"));
            load[p] = after(p);
            table[a] = p as u16;
            placed[a] = true;
        }
        (table, load)
    };
    let (even, loads) = give_out(None);
    let most = loads.iter().copied().max().unwrap_or(0);
    let (shared, shared_loads) = give_out(Some(most));
    if shared_loads.iter().copied().max().unwrap_or(0) <= most { shared } else { even }
}

/// Refuse parts that were not cut from `store` as it is now (process 0
/// writes the report from `store`: its id tables and labels must be the
/// parts'). With `own_part`, `store` may itself be a part of the same
/// cut: a trace walks its evidence where the events are, so its report
/// needs no other events (an exposure index is written from the whole
/// store).
pub fn check(store: &Store, parts: &Path, process: usize, own_part: bool) -> Result<(), DataflowError> {
    let info = info_at(&part_dir(parts, process))?;
    let own = store.dir.join(crate::store::part::INFO_FILE);
    let given = match own.is_file() {
        true if own_part => info_at(&store.dir)?.whole,
        true => {
            return Err(DataflowError::Unsupported(format!(
                "{}: a part; give process 0 the whole store (the index is written from it)",
                store.dir.display()
            )));
        }
        false => whole_identity(store),
    };
    if info.whole != given {
        return Err(DataflowError::Unsupported(format!(
            "{}: the parts were cut from another state of {} (events or labels changed since): run `chaintrace partition` again",
            parts.display(),
            store.dir.display()
        )));
    }
    Ok(())
}

/// What the part in `dir` says it is.
fn info_at(dir: &Path) -> Result<PartInfo, DataflowError> {
    crate::store::part::info(dir).map_err(|e| DataflowError::Trace(e.into()))
}
