//! Saved cases (`chaintrace case`, ADR 0021): a trace question kept in the
//! store directory with its notes, answered again on the current data,
//! each answer saved with the store generation, the files the store was
//! loaded from and the chaintrace version that made it, so that a report
//! handed on can be made again; and compared with the last answer.
//!
//! `DIR/cases/NAME/case.json` holds the question as the JSON body of
//! `POST /v1/trace`, `DIR/cases/NAME/runs/NNNNNN.json` each run. The
//! store's own writers never touch `cases/`. Every file is written aside,
//! synced and renamed or linked into place; a case's name and a run's
//! number are claimed by a link that fails if another process took them,
//! so two `case run`s at once both keep their runs, and notes are added
//! under a lock of the case's own.

use super::trace::Query;
use super::{AppError, io_error};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A saved question.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Its name: letters, digits, `.`, `_` and `-`.
    pub name: String,
    /// When it was made (UTC).
    pub created: String,
    /// The question, as `POST /v1/trace` takes it (seed files read in).
    pub question: Query,
    /// Bitcoin: traced over address clusters made with these parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::Params>,
    /// The investigator's notes, oldest first.
    #[serde(default)]
    pub notes: Vec<Note>,
}

/// A note on a case.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// When it was written (UTC).
    pub time: String,
    /// What it says.
    pub text: String,
}

/// The data a run answered on: enough to make it again (load these files
/// in this order, TRACING.md §8, import the labels, ask the question with
/// this chaintrace version).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataState {
    /// The chain.
    pub chain: String,
    /// The store generation read.
    pub generation: String,
    /// Events in the store.
    pub events: u64,
    /// The last event's block, if the data has blocks.
    pub last_block: Option<u64>,
    /// The last event's time, if the data has times.
    pub last_time: Option<String>,
    /// Label rows imported.
    pub labels: u64,
    /// The files loaded, in order.
    pub files: Vec<FileState>,
}

/// A file the store was loaded from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileState {
    /// The path as given to `ingest`.
    pub path: String,
    /// xxh3-128 of its bytes, hex.
    pub content_hash: String,
    /// What it was read as (`etl/transactions`, `transfers`, ...).
    pub table: String,
    /// Data rows read.
    pub rows: u64,
    /// Read only through this block: a bounded-memory ingest of the file
    /// had stopped between two windows. Absent once it is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_block: Option<u64>,
}

/// One saved answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    /// The case.
    pub case: String,
    /// Its number, from 1.
    pub run: u32,
    /// The chaintrace version that answered.
    pub chaintrace: String,
    /// The data it answered on.
    pub data: DataState,
    /// The question asked.
    pub question: Query,
    /// Cluster parameters, if traced over clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::Params>,
    /// The report, as `trace --format json` gives it.
    pub report: Value,
}

/// A case in a list.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    /// The case.
    pub name: String,
    /// Its policy.
    pub policy: crate::trace::Policy,
    /// Seeds and seed transactions.
    pub seeds: usize,
    /// Notes.
    pub notes: usize,
    /// Saved runs.
    pub runs: u32,
    /// The last run's generation.
    pub last_generation: Option<String>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn cases_dir(store: &Path) -> PathBuf {
    store.join("cases")
}

fn case_dir(store: &Path, name: &str) -> PathBuf {
    cases_dir(store).join(name)
}

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::Usage(format!("case name {name:?}: use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'")))
    }
}

fn now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::model::time::format_time(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Write `bytes` to a temporary file beside `path`, synced: the caller
/// renames or links it into place.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<PathBuf, AppError> {
    use std::io::Write;
    let tmp = crate::sys::tmp_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path)(e));
    }
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io_error(dir))
}

/// Replace `path` with `bytes`, all or nothing, durably.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let tmp = write_synced(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path)(e)
    })?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn json_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>, AppError> {
    let mut b = serde_json::to_vec_pretty(v)?;
    b.push(b'\n');
    Ok(b)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AppError> {
    let bytes = std::fs::read(path).map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| AppError::Usage(format!("{}: not a chaintrace case file: {e}", path.display())))
}

/// Save a new case in store `dir`. Its question is checked as `trace`
/// checks one (a seed at least; hops at least 1) and its seed files read
/// in, so the case no longer depends on them.
pub fn create(
    dir: &Path,
    name: &str,
    question: Query,
    seed_files: &[PathBuf],
    cluster: Option<crate::cluster::Params>,
    notes: &[String],
) -> Result<Case, AppError> {
    check_name(name)?;
    if !dir.join("CURRENT").exists() {
        return Err(AppError::Usage(format!("{}: no store here (ingest data first)", dir.display())));
    }
    let plan = super::trace::plan(super::trace::Request {
        query: question,
        seed_files: seed_files.to_vec(),
        cases: Vec::new(),
        format: super::trace::Format::Json,
        output: None,
        cluster,
    })?;
    let question = plan.cases.into_iter().next().map(|(_, q)| q).ok_or_else(|| AppError::Internal("a plan without its question".into()))?;
    let created = now();
    let case = Case {
        name: name.to_string(),
        created: created.clone(),
        question,
        cluster,
        notes: notes.iter().map(|t| Note { time: created.clone(), text: t.clone() }).collect(),
    };
    let cd = case_dir(dir, name);
    let fresh = !cases_dir(dir).exists();
    std::fs::create_dir_all(cd.join("runs")).map_err(io_error(&cd))?;
    if fresh {
        sync_dir(dir)?;
    }
    // The link is the claim on the name: it fails if the case exists.
    let path = cd.join("case.json");
    let tmp = write_synced(&path, &json_bytes(&case)?)?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(AppError::Usage(format!("case {name} already exists in {}", dir.display())));
        }
        Err(e) => return Err(io_error(&path)(e)),
    }
    sync_dir(&cd)?;
    sync_dir(&cases_dir(dir))?;
    Ok(case)
}

/// A saved case.
pub fn load(dir: &Path, name: &str) -> Result<Case, AppError> {
    check_name(name)?;
    let path = case_dir(dir, name).join("case.json");
    if !path.exists() {
        return Err(AppError::Usage(format!("no case {name} in {} (`chaintrace case list` shows them)", dir.display())));
    }
    read_json(&path)
}

/// Add a note to a case.
pub fn add_note(dir: &Path, name: &str, text: &str) -> Result<Case, AppError> {
    load(dir, name)?;
    // Read, add, write back: under the case's lock, so that two notes at
    // once are both kept. (Released when the file closes.)
    let lock_path = case_dir(dir, name).join("LOCK");
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    let mut case = load(dir, name)?;
    case.notes.push(Note { time: now(), text: text.to_string() });
    replace(&case_dir(dir, name).join("case.json"), &json_bytes(&case)?)?;
    drop(lock);
    Ok(case)
}

/// The numbers of a case's saved runs, in order.
pub fn run_numbers(dir: &Path, name: &str) -> Result<Vec<u32>, AppError> {
    let runs = case_dir(dir, name).join("runs");
    let mut out: Vec<u32> = match std::fs::read_dir(&runs) {
        Ok(entries) => entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(&runs)(e)),
    };
    out.sort_unstable();
    Ok(out)
}

fn run_path(dir: &Path, name: &str, run: u32) -> PathBuf {
    case_dir(dir, name).join("runs").join(format!("{run:06}.json"))
}

/// A saved run of a case.
pub fn load_run(dir: &Path, name: &str, run: u32) -> Result<Run, AppError> {
    load(dir, name)?;
    let path = run_path(dir, name, run);
    if !path.exists() {
        return Err(AppError::Usage(format!("case {name} has no run {run}")));
    }
    read_json(&path)
}

/// What identifies the data of `store`.
pub fn data_state(store: &Store) -> DataState {
    let ev = store.events();
    let n = store.len();
    let last_block = (n > 0).then(|| ev.block(n - 1)).filter(|&b| b != crate::model::NO_BLOCK);
    let last_time = (n > 0).then(|| ev.time(n - 1)).filter(|&t| t != crate::model::NO_TIME).map(crate::model::time::format_time);
    DataState {
        chain: store.manifest.chain.to_string(),
        generation: store.gen_dir.file_name().map_or_else(String::new, |g| g.to_string_lossy().into_owned()),
        events: store.manifest.events,
        last_block,
        last_time,
        labels: store.manifest.labels,
        files: store
            .manifest
            .files
            .iter()
            .map(|f| FileState {
                path: f.path.clone(),
                content_hash: f.content_hash.clone(),
                table: f.table.clone(),
                rows: f.rows,
                through_block: f.through_block,
            })
            .collect(),
    }
}

/// Answer a case on `store` (opened from `dir`), as `trace` with its
/// options would. Returns the answer and the run to [`save`] once the
/// report is delivered.
pub fn run(dir: &Path, store: &Store, name: &str) -> Result<(super::trace::Traced, Run), AppError> {
    let case = load(dir, name)?;
    let traced = answer(store, &case)?;
    let run = Run {
        case: name.to_string(),
        run: 0,
        chaintrace: VERSION.to_string(),
        data: data_state(store),
        question: case.question.clone(),
        cluster: case.cluster,
        report: serde_json::to_value(&traced.report)?,
    };
    Ok((traced, run))
}

/// Save a run of [`run`] as the case's next; returns its number.
pub fn save(dir: &Path, run: &mut Run) -> Result<u32, AppError> {
    let name = run.case.clone();
    let runs = case_dir(dir, &name).join("runs");
    std::fs::create_dir_all(&runs).map_err(io_error(&runs))?;
    let mut number = run_numbers(dir, &name)?.last().map_or(1, |r| r + 1);
    loop {
        run.run = number;
        let path = run_path(dir, &name, number);
        let tmp = write_synced(&path, &json_bytes(run)?)?;
        // A link fails where another run took the number: take the next.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
    sync_dir(&runs)?;
    Ok(number)
}

/// Answer a case on `store` without saving anything.
pub fn answer(store: &Store, case: &Case) -> Result<super::trace::Traced, AppError> {
    let plan = super::trace::Plan {
        cases: vec![(String::new(), case.question.clone())],
        format: super::trace::Format::Json,
        output: None,
        cluster: case.cluster,
    };
    // As `trace` runs one store's question (`--follow bridges` and
    // `--cluster` included).
    let mut traced = super::trace::run_stores(&[store], &plan)?;
    traced.pop().ok_or_else(|| AppError::Internal("a plan of one question gave no answer".into()))
}

/// The cases of store `dir`, by name.
pub fn list(dir: &Path) -> Result<Vec<Listed>, AppError> {
    let root = cases_dir(dir);
    let mut names: Vec<String> = match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("case.json").exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| check_name(n).is_ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(&root)(e)),
    };
    names.sort();
    names
        .iter()
        .map(|n| {
            let case = load(dir, n)?;
            let runs = run_numbers(dir, n)?;
            let last_generation = match runs.last() {
                Some(&r) => Some(load_run(dir, n, r)?.data.generation),
                None => None,
            };
            Ok(Listed {
                name: case.name.clone(),
                policy: case.question.policy,
                seeds: case.question.seeds.len() + case.question.seed_txs.len(),
                notes: case.notes.len(),
                runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
                last_generation,
            })
        })
        .collect()
}

/// A case with its runs: what `case show` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Shown {
    /// The case.
    #[serde(flatten)]
    pub case: Case,
    /// Its runs, oldest first: number, version, data.
    pub runs: Vec<ShownRun>,
}

/// A run in [`Shown`].
#[derive(Clone, Debug, Serialize)]
pub struct ShownRun {
    /// Its number.
    pub run: u32,
    /// The chaintrace version that answered.
    pub chaintrace: String,
    /// The data it answered on, without its file list.
    pub generation: String,
    /// Events in the store.
    pub events: u64,
    /// Files the store was loaded from.
    pub files: usize,
    /// The report's total at destinations.
    pub destinations: Option<String>,
}

/// A case and its runs.
pub fn show(dir: &Path, name: &str) -> Result<Shown, AppError> {
    let case = load(dir, name)?;
    let runs = run_numbers(dir, name)?
        .into_iter()
        .map(|r| {
            let run = load_run(dir, name, r)?;
            Ok(ShownRun {
                run: r,
                chaintrace: run.chaintrace,
                generation: run.data.generation,
                events: run.data.events,
                files: run.data.files.len(),
                destinations: run.report["totals"]["destinations"].as_str().map(str::to_string),
            })
        })
        .collect::<Result<_, AppError>>()?;
    Ok(Shown { case, runs })
}

/// One side of a comparison.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Side {
    /// The saved run, or none: the current data.
    pub run: Option<u32>,
    /// The generation answered on.
    pub generation: String,
    /// Events in the store then.
    pub events: u64,
}

/// A row of a report list that appeared, went or changed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RowChange {
    /// `destinations`, `dormant` or `horizon`.
    pub list: String,
    /// `new`, `gone` or `changed`.
    pub change: String,
    /// The row's address (or cluster).
    pub address: String,
    /// Its asset, in a report that names one per row (`--follow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// The row before (absent for a new row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The row after (absent for a row that went).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A total that changed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TotalChange {
    /// Its name in the report's `totals`, or `seeded`.
    pub total: String,
    /// Before.
    pub before: Value,
    /// After.
    pub after: Value,
}

/// What changed between two answers of a case.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The case.
    pub case: String,
    /// The earlier answer.
    pub before: Side,
    /// The later answer.
    pub after: Side,
    /// Rows that appeared, went or changed amount, hops or label; by list,
    /// then address.
    pub rows: Vec<RowChange>,
    /// Totals that changed.
    pub totals: Vec<TotalChange>,
}

/// The fields of a row that say what it holds; paths and first arrivals
/// are left out, so that a row counts as changed only when what it holds
/// or how far it is changed.
const COMPARED: [&str; 5] = ["amount", "hops", "category", "label", "entity"];

fn row_key(row: &Value) -> (String, Option<String>) {
    let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_string);
    let asset = match (text("chain"), text("asset")) {
        (Some(c), Some(a)) => Some(format!("{c}:{a}")),
        (None, a) => a,
        (c, None) => c,
    };
    (text("address").unwrap_or_default(), asset)
}

fn compared(row: &Value) -> serde_json::Map<String, Value> {
    COMPARED.iter().filter_map(|k| Some((k.to_string(), row.get(*k)?.clone()))).collect()
}

/// Compare two reports of one question.
pub fn compare(case: &str, before: (Side, &Value), after: (Side, &Value)) -> Diff {
    use std::collections::BTreeMap;
    let mut rows = Vec::new();
    for list in ["destinations", "dormant", "horizon"] {
        let by_key = |r: &Value| -> BTreeMap<(String, Option<String>), serde_json::Map<String, Value>> {
            r[list].as_array().map(|a| a.iter().map(|row| (row_key(row), compared(row))).collect()).unwrap_or_default()
        };
        let (b, a) = (by_key(before.1), by_key(after.1));
        let keys: std::collections::BTreeSet<_> = b.keys().chain(a.keys()).cloned().collect();
        for k in keys {
            let (old, new) = (b.get(&k), a.get(&k));
            let change = match (old, new) {
                (None, Some(_)) => "new",
                (Some(_), None) => "gone",
                (Some(o), Some(n)) if o != n => "changed",
                _ => continue,
            };
            rows.push(RowChange {
                list: list.to_string(),
                change: change.to_string(),
                address: k.0.clone(),
                asset: k.1.clone(),
                before: old.map(|o| Value::Object(o.clone())),
                after: new.map(|n| Value::Object(n.clone())),
            });
        }
    }
    // What the seeds put in, then the report's totals.
    let sums = |r: &Value| -> BTreeMap<String, Value> {
        let mut m: BTreeMap<String, Value> = r["totals"].as_object().map(|t| t.clone().into_iter().collect()).unwrap_or_default();
        m.insert("seeded".into(), r["seeded"].clone());
        // A `--follow` report's totals of every asset.
        for (asset, t) in r["totals_by_asset"].as_object().into_iter().flatten() {
            for (field, v) in t.as_object().into_iter().flatten() {
                m.insert(format!("totals_by_asset.{asset}.{field}"), v.clone());
            }
        }
        m
    };
    let (tb, ta) = (sums(before.1), sums(after.1));
    let mut totals = Vec::new();
    for k in tb.keys().chain(ta.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (b, a) = (tb.get(k).cloned().unwrap_or(Value::Null), ta.get(k).cloned().unwrap_or(Value::Null));
        if b != a {
            totals.push(TotalChange { total: k.clone(), before: b, after: a });
        }
    }
    Diff { case: case.to_string(), before: before.0, after: after.0, rows, totals }
}

/// What changed for a case: between saved runs `a` and `b`; or between
/// run `a` and an answer on `store` now (`b` none), which is not saved.
/// `a` is by default the last run (before `b`, if given). `store` is
/// opened only for an answer now.
pub fn diff(
    dir: &Path,
    store: impl FnOnce() -> Result<Store, AppError>,
    name: &str,
    a: Option<u32>,
    b: Option<u32>,
) -> Result<Diff, AppError> {
    let case = load(dir, name)?;
    let a = match a {
        Some(a) => a,
        None => *run_numbers(dir, name)?.iter().rev().find(|&&r| b.is_none_or(|b| r < b)).ok_or_else(|| {
            AppError::Usage(match b {
                None => format!("case {name} has no saved run to compare with: `chaintrace case run {name}` first"),
                Some(b) => format!("case {name} has no run before run {b}"),
            })
        })?,
    };
    let before = load_run(dir, name, a)?;
    let side = |r: &Run| Side { run: Some(r.run), generation: r.data.generation.clone(), events: r.data.events };
    let (after_side, after_report) = match b {
        Some(b) => {
            let r = load_run(dir, name, b)?;
            (side(&r), r.report)
        }
        None => {
            let store = store()?;
            let t = answer(&store, &case)?;
            let d = data_state(&store);
            (Side { run: None, generation: d.generation, events: d.events }, serde_json::to_value(&t.report)?)
        }
    };
    Ok(compare(name, (side(&before), &before.report), (after_side, &after_report)))
}

/// A diff for people: one line a change.
pub fn diff_table(d: &Diff) -> String {
    let side = |s: &Side| match s.run {
        Some(r) => format!("run {r} ({}, {} events)", s.generation, s.events),
        None => format!("now ({}, {} events)", s.generation, s.events),
    };
    let mut out = format!("case {}: {} -> {}\n", d.case, side(&d.before), side(&d.after));
    if d.rows.is_empty() && d.totals.is_empty() {
        out += "no change\n";
        return out;
    }
    let brief = |v: &Option<Value>| match v {
        None => "-".to_string(),
        Some(v) => COMPARED
            .iter()
            .filter_map(|k| {
                let x = v.get(*k)?;
                (!x.is_null()).then(|| format!("{k} {}", x.as_str().map_or_else(|| x.to_string(), str::to_string)))
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    for r in &d.rows {
        let asset = r.asset.as_deref().map_or_else(String::new, |a| format!(" [{a}]"));
        out += &format!("{:<12} {:<7} {}{asset}: {} -> {}\n", r.list, r.change, r.address, brief(&r.before), brief(&r.after));
    }
    for t in &d.totals {
        out += &format!("total {:<14} {} -> {}\n", t.total, t.before, t.after);
    }
    out
}
