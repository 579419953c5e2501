//! `chaintrace serve`: screening and tracing over HTTP (axum on hyper).
//!
//! Routes (docs/openapi.json, served at `/v1/openapi.json`):
//! `GET /v1/health`, `GET /v1/addresses/{address}/exposure`,
//! `POST /v1/screen`, `POST /v1/trace`. Every error is JSON
//! `{"error": {"code", "message"}}` with a stable code.
//!
//! Hardening: a request body limit, a batch limit, a per-request time limit,
//! a deadline for reading request headers (slow clients), JSON nesting
//! limited by the parser, panics turned into a 500 answer. The server
//! listens on loopback unless told otherwise, drains in-flight requests on
//! SIGTERM or Ctrl-C, and follows the store: when an ingest or label import
//! switches the store to a new generation, the new store and its exposure
//! index are opened (and the index built) aside, and swapped in only when
//! complete, so no request ever sees a half-written state.

mod routes;
pub use routes::Refusal;

use crate::screen::risk::RiskConfig;
use crate::screen::{self, CategorySet};
use crate::store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The screened asset (`None`: the native coin).
    pub asset: Option<String>,
    /// Risk categories.
    pub categories: CategorySet,
    /// Risk thresholds.
    pub risk: RiskConfig,
    /// Most addresses in one `POST /v1/screen`.
    pub max_batch: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Longest a client may take to send its request headers.
    pub header_timeout: Duration,
    /// How often to look for a new store generation.
    pub reload_every: Duration,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// What one request may cost, and how many run at once.
    pub limits: Limits,
    /// Bitcoin: answer over address clusters made with these parameters.
    pub cluster: Option<crate::cluster::Params>,
}

/// What the server takes on at once, and what one trace may cost
/// (docs/screening.md). The OpenAPI document the server serves states the
/// per-request ones as the schema's maxima.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Traces running at once; one more is answered 429 (0: a screening
    /// server that runs no traces).
    pub traces: usize,
    /// Open connections; one more is answered 503 and closed.
    pub connections: usize,
    /// Events one trace's sweep may visit (`None`: no limit); past it the
    /// trace stops and is answered 422.
    pub trace_events: Option<u64>,
    /// Most evidence paths a destination (`paths`).
    pub paths: usize,
    /// Most destinations with paths (`paths_for`; `All`: no limit, and a
    /// request may ask for `all`).
    pub paths_for: crate::report::PathsFor,
    /// Most flow edges (`flow_edges`).
    pub flow_edges: usize,
}

impl Default for Limits {
    /// One trace a core, 1,000 connections, no event limit, 100 paths a
    /// destination for at most 10,000 destinations, 10,000 flow edges.
    fn default() -> Self {
        Limits {
            traces: std::thread::available_parallelism().map_or(1, |n| n.get()),
            connections: 1_000,
            trace_events: None,
            paths: 100,
            paths_for: crate::report::PathsFor::Top(10_000),
            flow_edges: 10_000,
        }
    }
}

impl Config {
    /// Defaults (docs/screening.md): loopback port 8080, 100,000 addresses
    /// a batch, 16 MiB bodies, 30 s per request, 10 s for headers.
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            asset: None,
            categories: CategorySet::default_set(),
            risk: RiskConfig::default(),
            max_batch: 100_000,
            max_body: 16 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            reload_every: Duration::from_secs(1),
            threads: None,
            limits: Limits::default(),
            cluster: None,
        }
    }
}

/// What the server makes of the body of a `POST` to `route` (`screen` or
/// `trace`) under `config`, before it touches the store: `Ok` with the
/// addresses to screen or seeds to trace, or the refusal it answers. The
/// handlers run exactly this; the fuzz targets drive it with any bytes.
pub fn check_body(route: &str, body: &[u8], config: &Config, chain: crate::model::Chain) -> Result<usize, Refusal> {
    match route {
        "screen" => routes::screen_keys(body, config.max_batch, chain).map(|k| k.len()),
        "trace" => routes::trace_query(body, &config.limits, chain).map(|q| q.seeds.len() + q.seed_txs.len()),
        other => Err(Refusal { status: 404, code: "not_found", message: format!("no POST route {other:?}") }),
    }
}

/// Serving failed to start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store or its index could not be opened, or a setting is bad.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    /// Listening failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// One consistent view: a store generation and its exposure index.
pub(crate) struct Snapshot {
    pub(crate) store: Store,
    pub(crate) index: screen::index::Index,
    /// How the index came to be open.
    pub(crate) made: screen::Made,
    pub(crate) current: String,
    /// With clustering on: the store's clusters.
    pub(crate) clusters: Option<screen::answer::ClusterMembers>,
}

/// The server's shared state.
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) snapshot: RwLock<Arc<Snapshot>>,
    /// A permit a running trace: held until its work ends, even when its
    /// request has been answered 503 (the sweep stops at its next look).
    pub(crate) traces: Arc<tokio::sync::Semaphore>,
    /// The OpenAPI document as served: the repository's, with this
    /// server's limits (and Bitcoin's address forms on a Bitcoin store).
    pub(crate) document: String,
    /// The store's chain, which decides the address forms taken.
    pub(crate) chain: crate::model::Chain,
}

impl App {
    fn new(config: Config, snap: Snapshot) -> Self {
        let chain = snap.store.manifest.chain;
        App {
            chain,
            traces: Arc::new(tokio::sync::Semaphore::new(config.limits.traces)),
            document: routes::document(&config, chain),
            snapshot: RwLock::new(Arc::new(snap)),
            config,
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn current_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("CURRENT")).unwrap_or_default()
}

/// Open the store's live generation and its exposure index (building the
/// index when missing, or updating `prev`'s after an append).
fn load(dir: &Path, config: &Config, prev: Option<&Snapshot>) -> Result<Snapshot, ServeError> {
    let current = current_of(dir);
    let store = crate::app::open_verified(dir)?;
    let asset = crate::trace::resolve_asset(&store, config.asset.as_deref()).map_err(crate::app::AppError::from)?;
    let (index, made) =
        screen::open_or_update(&store, asset, &config.categories, prev.map(|p| &p.index)).map_err(crate::app::AppError::from)?;
    let clusters = match config.cluster {
        Some(p) => {
            let c = crate::app::bitcoin_clusters(&store, p)?;
            Some(screen::answer::ClusterMembers::new(Arc::new(c), store.address_count()))
        }
        None => None,
    };
    Ok(Snapshot { store, index, made, current, clusters })
}

/// Serve until SIGTERM or Ctrl-C. Prints `listening on http://ADDR` to
/// standard error once the socket is bound (port 0 picks a free port).
pub fn run(dir: &Path, config: Config) -> Result<(), ServeError> {
    let snap = load(dir, &config, None)?;
    // One thread: a runtime that runs every connection on it, without the
    // multi-thread scheduler's wake-ups and queues between threads (the
    // serving core's own work is then only the requests').
    let mut builder = match config.threads {
        Some(n) if n <= 1 => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build().map_err(|source| ServeError::Listen { addr: config.listen, source })?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        let local = listener.local_addr().map_err(|source| ServeError::Listen { addr: config.listen, source })?;
        eprintln!("listening on http://{local}");
        let app = Arc::new(App::new(config, snap));
        tokio::spawn(follow(dir.to_path_buf(), app.clone()));
        serve(listener, app, shutdown_signal()).await;
        eprintln!("shut down");
        Ok(())
    })
}

/// Swap in a new snapshot whenever the store's `CURRENT` changes. The new
/// one is opened and indexed aside; a failure keeps the old one serving.
async fn follow(dir: PathBuf, app: Arc<App>) {
    let mut failed_for = String::new();
    loop {
        tokio::time::sleep(app.config.reload_every).await;
        let now = current_of(&dir);
        if now.is_empty() || now == app.snapshot().current || now == failed_for {
            continue;
        }
        let (d, a) = (dir.clone(), app.clone());
        match tokio::task::spawn_blocking(move || load(&d, &a.config, Some(&a.snapshot()))).await {
            Ok(Ok(snap)) => {
                let how = match snap.made {
                    screen::Made::Opened => "opened",
                    screen::Made::Updated => "updated",
                    screen::Made::Built => "built",
                };
                eprintln!("store changed: now serving {} (exposure index {how})", snap.current.split_whitespace().next().unwrap_or(""));
                *app.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
            }
            Ok(Err(e)) => {
                eprintln!("store changed but cannot be served yet, keeping the previous one: {e}");
                failed_for = now;
            }
            Err(e) => {
                eprintln!("reloading the store failed: {e}");
                failed_for = now;
            }
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// The accept loop: hyper's HTTP/1 connections with a header-read deadline
/// (axum's own `serve` installs no timer, so hyper's deadline would be
/// inert), drained gracefully when `shutdown` completes.
async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, shutdown: impl std::future::Future<Output = ()>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = routes::router(app.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // A permit an open connection. Past the cap a connection gets one 503
    // answer and is closed; past as many again of those (at least 64), it
    // is closed unanswered (they too hold a descriptor until their client
    // speaks).
    let open = Arc::new(tokio::sync::Semaphore::new(app.config.limits.connections.max(1)));
    let refusing = Arc::new(tokio::sync::Semaphore::new(app.config.limits.connections.max(64)));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of descriptors or a reset before accept: keep serving.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = || {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new()).header_read_timeout(app.config.header_timeout);
            b
        };
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let conn = graceful.watch(builder().serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Err(_) => {
                let Ok(permit) = refusing.clone().try_acquire_owned() else { continue };
                let service =
                    hyper::service::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(routes::too_many_connections()) });
                let conn = builder().keep_alive(false).serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(app.config.request_timeout) => {}
    }
}
