//! `chaintrace watch` (issue 20, ADR 0021): files that arrive in a
//! directory are appended to the store one at a time, in name order; after
//! each, every saved case the new events can change is answered again, and
//! each tainted event of the new data becomes an alert: printed as a JSON
//! line, and POSTed to every webhook until it answers 2xx.
//!
//! Nothing is lost across a crash or a restart: `DIR/watch/alerts.log`
//! records, each line synced before anything depends on it, the intent to
//! load a file (with the store's event count before it), where a file that
//! spliced the store cut it, every alert with its id, the file's
//! completion, and each delivery. A restart replays the
//! log: a file begun and not finished has its alerts made again (the same
//! ids, so none is logged twice), and every alert a webhook has not
//! acknowledged goes back on its queue, in order.

use super::AppError;
use super::case::{self, Case};
use crate::store::Store;
use crate::trace::{EventRow, StopLabels, resolve_asset, resolve_seeds};
use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// What `chaintrace watch` was asked.
#[derive(Clone, Debug)]
pub struct Options {
    /// The store the files are appended to; its saved cases are watched.
    pub store: PathBuf,
    /// The directory new files arrive in.
    pub incoming: PathBuf,
    /// How each file is read.
    pub ingest: crate::ingest::Options,
    /// `http://` URLs every alert is POSTed to.
    pub webhooks: Vec<String>,
    /// How often the directory is read.
    pub poll: Duration,
    /// The first wait before a failed delivery is tried again (doubled at
    /// each failure, up to 64 times this).
    pub retry: Duration,
    /// Take the files there now (complete as they are), deliver every
    /// alert, and stop.
    pub once: bool,
    /// Stop at a file that fails to load, instead of recording it and going on.
    pub stop_on_error: bool,
    /// Most files taken as one batch (their cases answered once).
    pub max_batch: usize,
}

/// What an alert says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Taint left an address that held it.
    Moved,
    /// Taint reached an address that is a stop of the case (a label of a
    /// stop category, or the null address).
    Arrived,
    /// Taint went through a followed conversion (a swap or a bridge).
    Crossed,
}

/// One alert: the object of INTERFACE.md ("Cases and watching"), with its
/// id added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The case.
    pub case: String,
    /// What happened.
    pub kind: Kind,
    /// The transaction, where the export names one.
    pub tx: Option<String>,
    /// Its block.
    pub block: Option<u64>,
    /// Its block time, ISO 8601 UTC.
    pub time: Option<String>,
    /// Sender (a conversion's payer).
    pub from: String,
    /// Receiver (a conversion's payee).
    pub to: String,
    /// The asset moved (a conversion's asset sold).
    pub asset: String,
    /// Taint moved under the case's policy, base units (a conversion's
    /// taint in).
    pub taint: String,
    /// The event's hop from the seeds.
    pub hops: u32,
    /// `arrived`: the stop's category.
    pub category: Option<String>,
    /// `arrived`: the stop's label.
    pub label: Option<String>,
    /// `crossed`: the asset bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_out: Option<String>,
    /// `crossed`: the taint the payee received in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taint_out: Option<String>,
    /// xxh3-128 of what identifies the movement (case, kind, transaction,
    /// block, time, sender, receiver, asset, and its place among the
    /// movements alike in all of these), hex: the same movement found
    /// again has the same id. Sent as the `webhook-id` header.
    pub id: String,
}

/// What a case's answer says about which new events can change it.
#[derive(Clone, Debug, Default)]
pub struct Holders {
    /// Addresses that hold or held the case's taint, and its seeds; `None`:
    /// no cheap test (a seed not yet in the data, a Bitcoin store,
    /// clusters), so every new file answers the case again.
    pub addresses: Option<HashSet<String>>,
    /// The one asset the case traces (`None`: every asset, `--follow`):
    /// events in another cannot change it.
    pub asset: Option<u32>,
}

impl Holders {
    /// Whether events `start..` of `store` can change the answer: one of
    /// them is sent by, or sent to, an address of the set.
    pub fn touched_by(&self, store: &Store, start: u64) -> bool {
        let Some(set) = &self.addresses else { return true };
        let ev = store.events();
        (start as usize..store.len()).filter(|&i| self.asset.is_none_or(|a| ev.asset(i) == a)).any(|i| {
            let r = EventRow::at_in(store, &ev, i);
            set.contains(&store.address_text(r.from)) || set.contains(&store.address_text(r.to))
        })
    }
}

/// The alerts of case `name` on `store` for its events from `start` on,
/// in event order, and the addresses that decide whether later events can
/// change it.
pub fn alerts(store: &Store, name: &str, case: &Case, start: u64) -> Result<(Vec<Alert>, Holders), AppError> {
    let a = answer(store, name, case, start, None)?;
    Ok((a.alerts, a.holders))
}

/// A case's account sweep kept between batches (`watch`, ADR 0021): the
/// sweep itself, alive, run on over the next batch's events instead of
/// sweeping the store again, while nothing it was made from changed (a
/// pure append, the same seeds and labels).
pub struct Kept {
    /// The sweep. It stands at the store's length after the last batch,
    /// also after a batch that could not change the case (none of its
    /// events touches the case's holders, so the sweep skips them).
    /// `None`: the case's sweep cannot run on (a sum past 128 bits), so it
    /// is answered from the start without trying again, while its seeds
    /// and labels stay the same.
    sweep: Option<crate::trace::Running>,
    seeds: Vec<u32>,
    seed_txs: Vec<u32>,
    labels: u64,
}

impl Kept {
    /// Whether the case's sweep runs on over the next batch (`false`: it
    /// could not, a sum past 128 bits, and is answered from the start).
    pub fn runs_on(&self) -> bool {
        self.sweep.is_some()
    }
}

/// What [`answer`] found.
pub struct Answered {
    /// The alerts, in event order.
    pub alerts: Vec<Alert>,
    /// Who holds the case's taint. Taken up from a kept state, the
    /// receivers of the new events only: the caller adds them to the
    /// holders it had.
    pub holders: Holders,
    /// The sweep to run on next time, where the case has one.
    pub kept: Option<Kept>,
    /// Whether the answer ran `kept` on (only the new events were swept).
    pub resumed: bool,
}

/// [`alerts`], running `kept` on where it fits: only the events from
/// `start` on swept, by the sweep the case's last answer left.
pub fn answer(store: &Store, name: &str, case: &Case, start: u64, kept: Option<Kept>) -> Result<Answered, AppError> {
    let mut q = case.question.clone();
    if let Some(p) = case.cluster {
        q.clusters = Some(Arc::new(super::bitcoin_clusters(store, p)?));
    }
    if q.seeds.is_empty() && q.seed_txs.is_empty() {
        return Err(AppError::Usage(format!("case {name} has no seed")));
    }
    let asset = resolve_asset(store, q.asset.as_deref())?;
    let resolved = resolve_seeds(store, &q.seeds, &q.seed_txs)?;
    let mut spec = super::trace::spec_of(&q, asset, &resolved);
    // Alerts are read from the log of tainted events, whatever the
    // question asks of its report.
    spec.evidence = true;
    let seed_units: HashSet<u32> = spec.seeds.iter().map(|&a| spec.unit(a)).collect();
    let bitcoin = store.manifest.chain == crate::model::Chain::Bitcoin && store.manifest.inputs > 0;
    // (event, asset as traced, taint, hop), and crossed conversions.
    let mut moves: Vec<(u64, u32, U256, u32)> = Vec::new();
    let mut crossed: Vec<crate::trace::follow::Crossed> = Vec::new();
    let mut running: Option<crate::trace::Running> = None;
    // The case's sweep could not run on.
    let mut wide = false;
    let mut resumed = false;
    let resumable = q.follow.is_empty()
        && !bitcoin
        && q.clusters.is_none()
        && q.from_block.is_none()
        && q.to_block.is_none()
        && q.engine != Some(crate::trace::Engine::Full);
    if q.follow.is_empty() {
        if bitcoin {
            let outcome = crate::trace::run_utxo(store, &spec, &resolved.outpoints)?;
            moves.extend(outcome.tainted.iter().map(|t| (t.event, asset, t.x, t.hop)));
        } else {
            let fits = kept
                .filter(|k| resumable && k.seeds == resolved.addresses && k.seed_txs == resolved.txs && k.labels == store.manifest.labels);
            // Known not to run on: straight to the answer from the start.
            let narrow = fits.as_ref().is_none_or(|k| k.sweep.is_some());
            let mut tainted = None;
            if let Some(mut r) = fits.and_then(|k| k.sweep).filter(|r| r.swept() == start)
                && let Ok(t) = r.advance(store)
            {
                (running, tainted, resumed) = (Some(r), Some(t), true);
            }
            if tainted.is_none()
                && resumable
                && narrow
                && let Ok(mut r) = crate::trace::Running::new(store, &spec)
                && let Ok(t) = r.advance(store)
            {
                (running, tainted) = (Some(r), Some(t));
            }
            // (A sweep that cannot run on, a sum past 128 bits, is answered from the start.)
            wide = resumable && tainted.is_none();
            let tainted = match tainted {
                Some(t) => t,
                None => crate::trace::run_account(store, &spec)?.tainted,
            };
            moves.extend(tainted.iter().map(|t| (t.event, asset, t.x, t.hop)));
        }
    } else {
        use crate::trace::multi::{ChainOutcome, Part, run_multi};
        let seed_asset = q.asset.is_some().then_some(asset);
        let mut spec0 = spec.clone();
        spec0.asset = 0;
        let part = Part { store, spec: spec0, seed_asset, outpoints: resolved.outpoints.clone() };
        let m = run_multi(std::slice::from_ref(&part), &q.follow)?;
        match m.chains.into_iter().next() {
            Some(ChainOutcome::Account(f)) => {
                for a in &f.arrivals {
                    if let crate::trace::follow::Arrival::Event { event, asset, x, hop } = *a {
                        moves.push((event, asset, x, hop));
                    }
                }
                crossed = f.crossed;
            }
            Some(ChainOutcome::Utxo(u)) => {
                moves.extend(u.outcome.tainted.iter().map(|t| (t.event, asset, t.x, t.hop)));
            }
            None => return Err(AppError::Internal("a trace of one store gave no outcome".into())),
        }
    }
    // The stops as the sweep read them: the running sweep's own rules, or
    // the labels read again.
    let read;
    let stops = match &running {
        Some(r) => r.stop_labels(),
        None => {
            read = StopLabels::new(store, &spec)?;
            &read
        }
    };
    moves.sort_by_key(|m| m.0);
    let asset_name = |a: u32| store.manifest.assets.get(a as usize).cloned().unwrap_or_else(|| store.manifest.chain.native().to_string());
    let ev = store.events();
    let mut out: Vec<(u64, Alert)> = Vec::new();
    let mut holders: HashSet<String> = resolved.address_text.iter().filter(|t| !resolved.missing.contains(t)).cloned().collect();
    for &(event, a, x, hop) in &moves {
        let row = EventRow::at_in(store, &ev, event as usize);
        if event < start {
            holders.insert(store.address_text(row.to));
            continue;
        }
        let r = crate::trace::evidence::EventRef::of_row(store, &row);
        holders.insert(r.to.clone());
        // A seed stays a source whatever its labels (TRACING.md): taint
        // coming back to it has not arrived anywhere.
        let stop = if seed_units.contains(&spec.unit(row.to)) { None } else { stops.at(row.to, row.time) };
        out.push((
            event,
            Alert {
                case: name.to_string(),
                kind: if stop.is_some() { Kind::Arrived } else { Kind::Moved },
                tx: r.tx,
                block: r.block,
                time: r.time,
                from: r.from,
                to: r.to,
                asset: asset_name(a),
                taint: x.to_string(),
                hops: hop,
                category: stop.as_ref().map(|s| s.0.clone()),
                label: stop.map(|s| s.1),
                asset_out: None,
                taint_out: None,
                id: String::new(),
            },
        ));
    }
    for c in &crossed {
        let payee = store.address_text(c.payee);
        holders.insert(payee.clone());
        if c.first_event < start {
            continue;
        }
        let first = EventRow::at_in(store, &ev, c.first_event as usize);
        let r = crate::trace::evidence::EventRef::of_row(store, &first);
        let (from, asset_in) = match &c.bridge {
            Some(b) => (b.payer.clone(), b.asset_in.clone()),
            None => (store.address_text(c.payer), asset_name(c.asset_in)),
        };
        out.push((
            c.first_event,
            Alert {
                case: name.to_string(),
                kind: Kind::Crossed,
                tx: Some(store.tx_text(c.tx)),
                block: r.block,
                time: r.time,
                from,
                to: payee,
                asset: asset_in,
                taint: c.taint_in.to_string(),
                hops: c.hop,
                category: None,
                label: None,
                asset_out: Some(asset_name(c.asset_out)),
                taint_out: Some(c.taint_out.to_string()),
                id: String::new(),
            },
        ));
    }
    // A conversion comes after the events it starts with.
    out.sort_by_key(|(event, a)| (*event, a.kind == Kind::Crossed));
    let mut out: Vec<Alert> = out.into_iter().map(|(_, a)| a).collect();
    assign_ids(&mut out);
    // Poison marks an address for good, haircut and FIFO while it holds
    // taint: either way an address outside the set can change the answer
    // only by sending to one inside it, which the test sees.
    // Every event of a seed transaction carries taint, whoever sends it:
    // a case with seed transactions is answered on every batch.
    let cheap = resolved.missing.is_empty() && resolved.txs.is_empty() && !bitcoin && q.clusters.is_none();
    Ok(Answered {
        alerts: out,
        holders: Holders { addresses: cheap.then_some(holders), asset: q.follow.is_empty().then_some(asset) },
        kept: (running.is_some() || wide).then(|| Kept {
            sweep: running,
            seeds: resolved.addresses.clone(),
            seed_txs: resolved.txs.clone(),
            labels: store.manifest.labels,
        }),
        resumed,
    })
}

/// Ids: the hash of what names the movement, and its place among the
/// movements alike in the same transaction (a transaction can move the
/// same asset between the same two addresses twice).
fn assign_ids(alerts: &mut [Alert]) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for a in alerts.iter_mut() {
        // Block and time place a movement that has no transaction hash.
        let what = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            a.case,
            kind_name(a.kind),
            a.tx.as_deref().unwrap_or(""),
            a.block.map_or_else(String::new, |b| b.to_string()),
            a.time.as_deref().unwrap_or(""),
            a.from,
            a.to,
            a.asset
        );
        let n = seen.entry(what.clone()).or_insert(0);
        let key = format!("{what}\u{0}{n}");
        *n += 1;
        a.id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()));
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Moved => "moved",
        Kind::Arrived => "arrived",
        Kind::Crossed => "crossed",
    }
}

/// A webhook's address, checked at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// The URL as given.
    pub url: String,
    /// `host:port` to connect to.
    authority: String,
    /// The `Host` header.
    host: String,
    /// Path and query.
    path: String,
}

impl Webhook {
    /// Read an `http://HOST[:PORT][/PATH]` URL.
    pub fn parse(url: &str) -> Result<Webhook, AppError> {
        if url.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")) {
            return Err(AppError::Usage(format!(
                "--webhook {url}: https is not supported yet; give an http:// receiver (a relay on this machine can add TLS)"
            )));
        }
        let rest =
            url.strip_prefix("http://").ok_or_else(|| AppError::Usage(format!("--webhook {url:?}: expected http://HOST[:PORT][/PATH]")))?;
        let (host, path) = match rest.find('/') {
            Some(k) => (&rest[..k], &rest[k..]),
            None => (rest, "/"),
        };
        let bad = host.is_empty() || host.contains(['@', ' ', '?', '#']) || path.contains([' ', '#']);
        if bad {
            return Err(AppError::Usage(format!("--webhook {url:?}: expected http://HOST[:PORT][/PATH]")));
        }
        // A port follows the last ':' outside an IPv6 literal's brackets.
        let has_port = host.rfind(':').is_some_and(|k| !host[k..].contains(']'));
        if has_port {
            let port = &host[host.rfind(':').unwrap_or(0) + 1..];
            if port.parse::<u16>().is_err() {
                return Err(AppError::Usage(format!("--webhook {url:?}: the port must be a number up to 65535")));
            }
        }
        let authority = if has_port { host.to_string() } else { format!("{host}:80") };
        Ok(Webhook { url: url.to_string(), authority, host: host.to_string(), path: path.to_string() })
    }
}

/// The alert log (`DIR/watch/alerts.log`): JSON lines, each synced before
/// what depends on it happens.
struct Log {
    path: PathBuf,
    file: std::fs::File,
}

impl Log {
    fn append(&mut self, lines: &[Value]) -> Result<(), AppError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut text, l)?;
            text.push(b'\n');
        }
        self.file.write_all(&text).and_then(|()| self.file.sync_data()).map_err(super::io_error(&self.path))
    }
}

/// A file the log names.
#[derive(Clone, Debug, Default)]
struct Taken {
    xxh3: String,
    start: u64,
    done: bool,
}

/// What the log says, read back at start.
#[derive(Default)]
struct Replayed {
    files: BTreeMap<String, Taken>,
    ids: HashSet<String>,
    next_seq: u64,
    /// Every alert by sequence number, as logged.
    alerts: BTreeMap<u64, (String, Value)>,
    delivered: HashMap<String, HashSet<u64>>,
}

fn log_path(store: &Path) -> PathBuf {
    store.join("watch").join("alerts.log")
}

/// Open the log, read it back, and cut a last line torn by a crash.
fn open_log(store: &Path) -> Result<(Log, Replayed), AppError> {
    let path = log_path(store);
    let dir = path.parent().unwrap_or(store);
    super::create_dir(dir)?;
    let file = std::fs::OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(super::io_error(&path))?;
    let bytes = std::fs::read(&path).map_err(super::io_error(&path))?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
    if whole < bytes.len() {
        // A line without its newline was being written when the process
        // stopped: nothing acted on it yet, so it is dropped.
        file.set_len(whole as u64).and_then(|()| file.sync_data()).map_err(super::io_error(&path))?;
    }
    let mut r = Replayed { next_seq: 1, ..Replayed::default() };
    let bad = |n: usize, what: &str| AppError::Usage(format!("{} line {}: {what}", path.display(), n + 1));
    for (n, line) in bytes[..whole].split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).map_err(|e| bad(n, &format!("not a log entry: {e}")))?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad(n, &format!("no text {k:?}")));
        let number = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| bad(n, &format!("no number {k:?}")));
        if v.get("seq").is_some() {
            let seq = number("seq")?;
            let id = text("id")?;
            let alert = v.get("alert").cloned().ok_or_else(|| bad(n, "an alert entry without its alert"))?;
            r.ids.insert(id.clone());
            r.alerts.insert(seq, (id, alert));
            r.next_seq = r.next_seq.max(seq + 1);
        } else if v.get("delivered").is_some() {
            r.delivered.entry(text("webhook")?).or_default().insert(number("delivered")?);
        } else if v.get("done").is_some() {
            r.files.entry(text("done")?).or_default().done = true;
        } else if v.get("failed").is_some() {
            r.files.entry(text("failed")?).or_default().done = true;
        } else if v.get("loaded").is_some() {
            let t = r.files.entry(text("loaded")?).or_default();
            t.start = t.start.min(number("start")?);
        } else if v.get("file").is_some() {
            let t = r.files.entry(text("file")?).or_default();
            t.xxh3 = text("xxh3")?;
            t.start = number("start")?;
        } else {
            return Err(bad(n, "not a log entry"));
        }
    }
    Ok((Log { path, file }, r))
}

/// One webhook's queue of alerts not yet acknowledged, in sequence order.
struct Queue {
    hook: Webhook,
    state: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<(u64, String, String)>,
    closing: bool,
}

impl Queue {
    fn push(&self, seq: u64, id: String, body: String) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.pending.push_back((seq, id, body));
        self.wake.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).closing = true;
        self.wake.notify_all();
    }
}

/// POST one alert; the status, or why no status came.
async fn post(hook: &Webhook, id: &str, body: String, timeout: Duration) -> Result<u16, String> {
    let connect = tokio::net::TcpStream::connect(hook.authority.as_str());
    let stream = tokio::time::timeout(timeout, connect).await.map_err(|_| "connect timed out".to_string())?.map_err(|e| e.to_string())?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = axum::http::Request::post(hook.path.as_str())
        .header(axum::http::header::HOST, hook.host.as_str())
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header(axum::http::header::CONNECTION, "close")
        .body(axum::body::Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(timeout, sender.send_request(request))
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

/// Deliver a queue's alerts in order, each until it is acknowledged; log
/// each delivery. Returns when the queue is closed and empty.
fn deliver(queue: &Queue, log: &Mutex<Log>, retry: Duration) -> Result<(), AppError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Internal(format!("a runtime for webhook deliveries: {e}")))?;
    let cap = retry.saturating_mul(64);
    let mut failures = 0u32;
    loop {
        let head = {
            let mut s = queue.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                if let Some(h) = s.pending.front() {
                    break h.clone();
                }
                if s.closing {
                    return Ok(());
                }
                s = queue.wake.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let (seq, id, body) = head;
        match runtime.block_on(post(&queue.hook, &id, body, Duration::from_secs(10))) {
            Ok(status) if (200..300).contains(&status) => {
                log.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .append(&[json!({"delivered": seq, "webhook": queue.hook.url})])?;
                queue.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pending.pop_front();
                failures = 0;
            }
            outcome => {
                failures = failures.saturating_add(1);
                let why = match outcome {
                    Ok(status) => format!("answered {status}"),
                    Err(e) => e,
                };
                // Exponential back-off with jitter, so that receivers coming
                // back up are not met by every sender at once.
                let wait = retry.saturating_mul(1u32 << failures.min(6)).min(cap);
                let jitter = xxhash_rust::xxh3::xxh3_64(&[seq.to_le_bytes(), u64::from(failures).to_le_bytes()].concat()) % 1000;
                let wait = wait / 2 + wait / 2 * (jitter as u32) / 1000;
                if failures == 1 || failures.is_power_of_two() {
                    eprintln!("watch: {} {why} for alert {seq}; trying again (failure {failures})", queue.hook.url);
                }
                std::thread::sleep(wait);
            }
        }
    }
}

/// A file of the incoming directory, as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
}

/// The files of `dir` that may be batches, in byte order of name: no
/// dot-files, no `*.tmp` or `*.partial`, no empty files, files only.
fn candidates(dir: &Path) -> Result<Vec<(String, Seen)>, AppError> {
    let entries = std::fs::read_dir(dir).map_err(|e| AppError::Usage(format!("--incoming {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| AppError::Usage(format!("--incoming {}: {e}", dir.display())))?;
        let Ok(name) = e.file_name().into_string() else { continue };
        if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".partial") {
            continue;
        }
        let Ok(meta) = std::fs::metadata(e.path()) else { continue };
        if !meta.is_file() || meta.len() == 0 {
            continue;
        }
        out.push((name, Seen { size: meta.len(), modified: meta.modified().ok() }));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Whether a file's bytes look whole: text ends with a newline, Parquet
/// with its closing magic.
fn looks_whole(bytes: &[u8], format: crate::ingest::Format) -> bool {
    if format == crate::ingest::Format::Parquet { bytes.ends_with(b"PAR1") } else { bytes.ends_with(b"\n") }
}

/// What a watch did, for its caller's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    /// Files loaded.
    pub files: u64,
    /// Files that failed to load.
    pub failed: u64,
    /// Alerts made.
    pub alerts: u64,
}

/// Watch as `opts` says, printing each new alert's JSON line through
/// `print`. Returns only with `--once` (or on an error).
pub fn watch(opts: &Options, print: &mut dyn FnMut(&str)) -> Result<Watched, AppError> {
    let hooks = opts.webhooks.iter().map(|u| Webhook::parse(u)).collect::<Result<Vec<_>, _>>()?;
    if !opts.incoming.is_dir() {
        return Err(AppError::Usage(format!("--incoming {}: not a directory", opts.incoming.display())));
    }
    let (log, replayed) = open_log(&opts.store)?;
    let log = Arc::new(Mutex::new(log));
    let queues: Vec<Arc<Queue>> =
        hooks.into_iter().map(|hook| Arc::new(Queue { hook, state: Mutex::new(QueueState::default()), wake: Condvar::new() })).collect();
    for q in &queues {
        let done = replayed.delivered.get(&q.hook.url);
        for (&seq, (id, alert)) in &replayed.alerts {
            if !done.is_some_and(|d| d.contains(&seq)) {
                q.push(seq, id.clone(), alert.to_string());
            }
        }
    }
    let workers: Vec<_> = queues
        .iter()
        .map(|q| {
            let (q, log, retry) = (Arc::clone(q), Arc::clone(&log), opts.retry);
            std::thread::spawn(move || deliver(&q, &log, retry))
        })
        .collect();
    let mut w = Watcher {
        opts,
        log: Arc::clone(&log),
        queues: &queues,
        replayed,
        holders: HashMap::new(),
        kept: HashMap::new(),
        seen: HashMap::new(),
        out: Watched::default(),
    };
    let result = w.run(print);
    for q in &queues {
        q.close();
    }
    let stopped = result.is_err();
    for h in workers {
        // After an error the deliveries in flight are left to the next
        // start (the log has them); with `--once` each queue drains first.
        if stopped {
            continue;
        }
        h.join().map_err(|p| {
            AppError::Internal(format!("a webhook delivery stopped: {}", crate::sys::panic_message(&*p).unwrap_or_default()))
        })??;
    }
    result.map(|()| w.out)
}

struct Watcher<'a> {
    opts: &'a Options,
    log: Arc<Mutex<Log>>,
    queues: &'a [Arc<Queue>],
    replayed: Replayed,
    holders: HashMap<String, Holders>,
    kept: HashMap<String, Kept>,
    seen: HashMap<String, Seen>,
    out: Watched,
}

impl Watcher<'_> {
    fn log(&self, lines: &[Value]) -> Result<(), AppError> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).append(lines)
    }

    fn run(&mut self, print: &mut dyn FnMut(&str)) -> Result<(), AppError> {
        // Files begun before a stop are finished first, whatever has arrived since.
        let mut unfinished = Vec::new();
        for (name, t) in self.replayed.files.iter().filter(|(_, t)| !t.done) {
            let path = self.opts.incoming.join(name);
            let bytes = std::fs::read(&path).map_err(|e| {
                AppError::Usage(format!("{}: begun before a stop and no longer readable: {e}; put it back to finish it", path.display()))
            })?;
            if !t.xxh3.is_empty() && format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)) != t.xxh3 {
                eprintln!("watch: {name} changed since it was begun before a stop; finishing it as it is now");
            }
            unfinished.push(Batched { name: name.clone(), bytes, start: Some(t.start) });
        }
        if !unfinished.is_empty() {
            self.take(unfinished, print)?;
        }
        let mut warned: HashSet<String> = HashSet::new();
        let mut deferred = 0u32;
        let mut stuck: HashMap<String, u32> = HashMap::new();
        loop {
            let mut waiting = false;
            let mut batch = Vec::new();
            for (name, seen) in candidates(&self.opts.incoming)? {
                if let Some(t) = self.replayed.files.get(&name) {
                    if t.done && !warned.contains(&name) && !t.xxh3.is_empty() && self.seen.get(&name) != Some(&seen) {
                        // Read again only to warn of a file replaced under a name already taken.
                        self.seen.insert(name.clone(), seen);
                        if let Ok(b) = std::fs::read(self.opts.incoming.join(&name))
                            && format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&b)) != t.xxh3
                        {
                            eprintln!("watch: {name} changed after it was loaded; a file is loaded once, so it is left as it is");
                            warned.insert(name.clone());
                        }
                    }
                    continue;
                }
                // Outside `--once`, a file is taken when it has held still
                // for a poll and ends as a whole file does; the files after
                // it wait for it (still watched, so that they are ready
                // with it), so that they are loaded in name order.
                let steady = self.opts.once || self.seen.get(&name) == Some(&seen);
                self.seen.insert(name.clone(), seen);
                if waiting || batch.len() == self.opts.max_batch {
                    continue;
                }
                if !steady {
                    waiting = true;
                    continue;
                }
                let path = self.opts.incoming.join(&name);
                let bytes = std::fs::read(&path).map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
                if !looks_whole(&bytes, self.opts.ingest.format) {
                    let polls = stuck.entry(name.clone()).or_insert(0);
                    *polls += 1;
                    if self.opts.once {
                        eprintln!("watch: {name} does not end as a whole file does; left for a later run");
                        continue;
                    }
                    if *polls < MAX_STUCK {
                        waiting = true;
                        continue;
                    }
                    // Held still this long, it is as whole as it will get:
                    // loaded (a bad last row is refused as any bad row is),
                    // so that the files after it do not wait for ever.
                    eprintln!("watch: {name} does not end with a newline but has not changed for {MAX_STUCK} polls; loading it");
                }
                if let Some(last) = self.replayed.files.keys().next_back()
                    && name.as_str() < last.as_str()
                {
                    eprintln!("watch: {name} arrived after {last}, which sorts after it; loaded now");
                }
                batch.push(Batched { name, bytes, start: None });
            }
            let full = batch.len() == self.opts.max_batch;
            // Files still arriving behind ready ones (a block's other
            // tables) are waited for, a few polls at most: loaded in a later
            // batch they would splice the block, and the cases would be
            // answered from the start instead of taken up.
            let defer = waiting && !full && !batch.is_empty() && deferred < MAX_DEFER;
            deferred = if defer { deferred + 1 } else { 0 };
            if !batch.is_empty() && !defer {
                self.take(batch, print)?;
            }
            if self.opts.once && !waiting && !full {
                return Ok(());
            }
            if !full {
                std::thread::sleep(self.opts.poll);
            }
        }
    }

    /// Load the files of a batch, one by one, then answer the cases once
    /// for all of them and make their alerts.
    fn take(&mut self, batch: Vec<Batched>, print: &mut dyn FnMut(&str)) -> Result<(), AppError> {
        let began = std::time::Instant::now();
        let before = if self.opts.store.join("CURRENT").exists() { super::open(&self.opts.store)?.manifest.events } else { 0 };
        let mut intents = Vec::new();
        let mut start = before;
        for f in &batch {
            let xxh3 = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&f.bytes));
            match f.start {
                Some(s) => start = start.min(s),
                None => intents.push(json!({"file": f.name, "xxh3": xxh3, "start": before})),
            }
            self.replayed.files.insert(f.name.clone(), Taken { xxh3, start: f.start.unwrap_or(before), done: false });
        }
        self.log(&intents)?;
        let mut loaded = Vec::new();
        for f in &batch {
            let path = self.opts.incoming.join(&f.name);
            match super::ingest::run(&self.opts.store, std::slice::from_ref(&path), &self.opts.ingest) {
                Ok(summary) => {
                    if summary.unchanged_events < start {
                        // A splice: the events from the cut on are new to the
                        // cases. Recorded before any alert, so that a restart
                        // (which finds the file loaded, nothing added) knows it.
                        self.log(&[json!({"loaded": f.name, "start": summary.unchanged_events})])?;
                    }
                    start = start.min(summary.unchanged_events);
                    loaded.push(f.name.clone());
                }
                Err(e) => {
                    let error = anyhow_free(&e);
                    self.log(&[json!({"failed": f.name, "error": error})])?;
                    self.replayed.files.insert(f.name.clone(), Taken { done: true, ..Taken::default() });
                    self.out.failed += 1;
                    eprintln!("watch: {} failed to load, and is left out: {error}", f.name);
                    if self.opts.stop_on_error {
                        return Err(e);
                    }
                }
            }
        }
        let loading = began.elapsed();
        let store = super::open(&self.opts.store)?;
        let cases = case::list(&self.opts.store)?;
        // Sound after a splice too: the events from the cut on are all
        // looked at, and the set is of addresses, not event numbers.
        let mut asked = Vec::new();
        let end = store.len() as u64;
        for listed in &cases {
            if self.holders.get(&listed.name).is_none_or(|h| h.touched_by(&store, start)) {
                asked.push((listed.name.clone(), case::load(&self.opts.store, &listed.name)?));
            } else if let Some(r) = self.kept.get_mut(&listed.name).and_then(|k| k.sweep.as_mut()).filter(|r| r.swept() == start) {
                // Events that touch none of its holders leave its sweep's state as it was.
                r.skip_to(end);
            }
        }
        let answered: Vec<Result<Answered, AppError>> = {
            use rayon::prelude::*;
            let kept: Vec<Option<Kept>> = asked.iter().map(|(name, _)| self.kept.remove(name)).collect();
            asked.par_iter().zip(kept).map(|((name, c), k)| answer(&store, name, c, start, k)).collect()
        };
        let mut lines = Vec::new();
        let mut made = Vec::new();
        let mut resumed = 0usize;
        for ((name, _), a) in asked.iter().zip(answered) {
            let Answered { alerts, holders, kept, resumed: r } = match a {
                Ok(a) => a,
                Err(e) => {
                    // One case that cannot be answered (a question the data
                    // cannot support) stops neither the others nor the loads.
                    eprintln!("watch: case {name} could not be answered, and has no alerts for these files: {}", anyhow_free(&e));
                    self.kept.remove(name);
                    self.holders.remove(name);
                    continue;
                }
            };
            resumed += usize::from(r);
            match (r, self.holders.get_mut(name)) {
                (true, Some(h)) => {
                    if let (Some(old), Some(new)) = (h.addresses.as_mut(), holders.addresses) {
                        old.extend(new);
                    } else {
                        h.addresses = None;
                    }
                }
                _ => {
                    self.holders.insert(name.clone(), holders);
                }
            }
            match kept {
                Some(k) => self.kept.insert(name.clone(), k),
                None => self.kept.remove(name),
            };
            for a in alerts {
                if !self.replayed.ids.insert(a.id.clone()) {
                    continue;
                }
                let seq = self.replayed.next_seq;
                self.replayed.next_seq += 1;
                let value = serde_json::to_value(&a)?;
                lines.push(json!({"seq": seq, "id": a.id, "alert": value}));
                made.push((seq, a.id, value));
            }
        }
        for name in &loaded {
            lines.push(json!({"done": name}));
        }
        self.log(&lines)?;
        for name in &loaded {
            if let Some(t) = self.replayed.files.get_mut(name) {
                t.done = true;
            }
        }
        let new = made.len();
        for (seq, id, value) in made {
            let text = value.to_string();
            print(&text);
            for q in self.queues {
                q.push(seq, id.clone(), text.clone());
            }
        }
        self.out.alerts += new as u64;
        self.out.files += loaded.len() as u64;
        eprintln!(
            "watch: {} ({} files): {} events from event {start} on, {} of {} cases answered ({resumed} taken up), {new} new alerts, {:.1} ms (loading {:.1} ms)",
            batch.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(" "),
            loaded.len(),
            store.manifest.events.saturating_sub(start),
            asked.len(),
            cases.len(),
            began.elapsed().as_secs_f64() * 1000.0,
            loading.as_secs_f64() * 1000.0
        );
        Ok(())
    }
}

/// Polls a ready batch waits for files arriving behind it.
const MAX_DEFER: u32 = 4;

/// Polls a file that holds still without ending as a whole file does waits
/// before it is loaded as it is.
const MAX_STUCK: u32 = 40;

/// A file of a batch.
struct Batched {
    name: String,
    bytes: Vec<u8>,
    /// The store's event count the log recorded before a stop, when the
    /// file was begun then.
    start: Option<u64>,
}

/// An error's message with its causes, as one line.
fn anyhow_free(e: &AppError) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(c) = source {
        s += &format!(": {c}");
        source = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_http_urls() {
        let w = Webhook::parse("http://127.0.0.1:8080/hooks/a?x=1").unwrap();
        assert_eq!((w.authority.as_str(), w.host.as_str(), w.path.as_str()), ("127.0.0.1:8080", "127.0.0.1:8080", "/hooks/a?x=1"));
        let w = Webhook::parse("http://example.org").unwrap();
        assert_eq!((w.authority.as_str(), w.path.as_str()), ("example.org:80", "/"));
        let w = Webhook::parse("http://[::1]/x").unwrap();
        assert_eq!(w.authority, "[::1]:80");
        assert_eq!(Webhook::parse("http://[::1]:9/").unwrap().authority, "[::1]:9");
        // A character across byte 8 is no panic.
        assert!(Webhook::parse("http://é/").is_ok());
        for bad in ["https://example.org/", "ftp://x/", "http:///x", "http://a:99999/", "http://u@h/", "example.org", "é"] {
            let e = Webhook::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--webhook"), "{bad}: {e}");
        }
        assert!(Webhook::parse("HTTPS://x/").unwrap_err().to_string().contains("https is not supported"));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_line_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("watch");
        std::fs::create_dir(&dir).unwrap();
        let whole = "{\"file\":\"a.csv\",\"xxh3\":\"00\",\"start\":4}\n{\"loaded\":\"a.csv\",\"start\":2}\n{\"seq\":1,\"id\":\"i1\",\"alert\":{\"case\":\"c\"}}\n{\"done\":\"a.csv\"}\n";
        std::fs::write(dir.join("alerts.log"), format!("{whole}{{\"delivered\":1,\"webh")).unwrap();
        let (mut log, r) = open_log(t.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("alerts.log")).unwrap(), whole);
        // A splice's cut is where the file's alerts start.
        assert!(r.files["a.csv"].done && r.files["a.csv"].start == 2);
        assert_eq!((r.next_seq, r.ids.len(), r.delivered.len()), (2, 1, 0));
        log.append(&[json!({"delivered": 1, "webhook": "http://h/"})]).unwrap();
        drop(log);
        let (_, r) = open_log(t.path()).unwrap();
        assert!(r.delivered["http://h/"].contains(&1));

        std::fs::write(dir.join("alerts.log"), format!("{whole}{{\"what\":1}}\n")).unwrap();
        let e = open_log(t.path()).err().unwrap().to_string();
        assert!(e.contains("alerts.log line 5"), "{e}");
    }
}
