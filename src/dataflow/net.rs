//! Starting the workers of a run: threads of this process, or this
//! process's share of a cluster whose processes are connected here and
//! handed to timely's own networking (`initialize_networking_from_sockets`).
//!
//! Connecting ourselves, rather than through timely's `Config::Cluster`,
//! buys three things. timely's start prints its progress to standard
//! output, where a report goes. It retries forever, where a run should give
//! up after a while and name the process that never came. And each
//! connection here first exchanges a header (the run's key, the number of
//! processes and of workers each), so that processes asked different
//! questions, or counting workers differently, refuse each other instead of
//! computing nonsense. Every socket is wrapped so that a broken connection
//! is pinned on the process at its other end.

use super::{DataflowError, Workers};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::{CommsGuard, initialize_networking_from_sockets};
use timely::communication::allocator::zero_copy::stream::Stream;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::{Hooks, WorkerGuards};
use timely::worker::Worker;

/// How long a process waits for the others to connect, unless
/// `CHAINTRACE_CONNECT_TIMEOUT` (seconds) says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
const MAGIC: &[u8; 8] = b"chntrc01";

/// What went wrong on the connections, first first.
pub(crate) type Broken = Arc<Mutex<Vec<String>>>;

/// A connection to process `index`, which records what breaks it.
struct Peer {
    stream: TcpStream,
    index: usize,
    addr: SocketAddr,
    broken: Broken,
}

impl Peer {
    fn note(&self, what: String) {
        if let Ok(mut b) = self.broken.lock() {
            b.push(what);
        }
    }
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.stream.read(buf);
        match &r {
            // Also the end of a clean shutdown: read only when the run failed.
            Ok(0) if !buf.is_empty() => self.note(format!("process {} at {} closed its connection", self.index, self.addr)),
            Err(e) => self.note(format!("process {} at {}: {e}", self.index, self.addr)),
            _ => {}
        }
        r
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.stream.write(buf);
        if let Err(e) = &r {
            self.note(format!("process {} at {}: {e}", self.index, self.addr));
        }
        r
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

impl Stream for Peer {
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Peer { stream: self.stream.try_clone()?, index: self.index, addr: self.addr, broken: self.broken.clone() })
    }
    fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
        self.stream.set_nonblocking(nonblocking)
    }
    fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        self.stream.shutdown(how)
    }
}

/// The header each side of a connection sends: magic, process index,
/// processes, workers a process, the run's key.
fn header(index: usize, processes: usize, threads: usize, key: u64) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[..8].copy_from_slice(MAGIC);
    for (k, v) in [index as u64, processes as u64, threads as u64, key].into_iter().enumerate() {
        h[8 + 8 * k..16 + 8 * k].copy_from_slice(&v.to_le_bytes());
    }
    h
}

/// Check a peer's header; returns its process index.
fn check(h: &[u8; 40], processes: usize, threads: usize, key: u64, from: SocketAddr) -> Result<usize, DataflowError> {
    let f = |k: usize| u64::from_le_bytes(h[8 + 8 * k..16 + 8 * k].try_into().expect("8 bytes"));
    if &h[..8] != MAGIC {
        return Err(DataflowError::Start(format!("{from} is not a chaintrace process of this version")));
    }
    let (index, p, t, k) = (f(0), f(1), f(2), f(3));
    if p != processes as u64 || t != threads as u64 {
        return Err(DataflowError::Start(format!(
            "process {index} at {from} runs {p} processes of {t} workers, this one {processes} of {threads}: give every process the same --processes and --workers"
        )));
    }
    if k != key {
        return Err(DataflowError::Start(format!(
            "process {index} at {from} was asked another question (or has another store): every process needs the same arguments and data"
        )));
    }
    Ok(index as usize)
}

fn timeout() -> Duration {
    std::env::var("CHAINTRACE_CONNECT_TIMEOUT").ok().and_then(|s| s.parse().ok()).map_or(CONNECT_TIMEOUT, Duration::from_secs)
}

/// Connect process `me` to every other process of `hosts`: it listens at its
/// own address, connects to the processes before it, and accepts the ones
/// after it, each connection checked by its header.
fn connect(me: usize, hosts: &[SocketAddr], threads: usize, key: u64, broken: &Broken) -> Result<Vec<Option<Peer>>, DataflowError> {
    let n = hosts.len();
    let deadline = Instant::now() + timeout();
    let listener =
        TcpListener::bind(hosts[me]).map_err(|e| DataflowError::Start(format!("process {me} cannot listen at {}: {e}", hosts[me])))?;
    let mine = header(me, n, threads, key);
    let mut peers: Vec<Option<Peer>> = (0..n).map(|_| None).collect();
    // A process answers only once it has connected to those before it:
    // wait for the answer until the run's deadline, not less.
    let handshake = |stream: &mut TcpStream, from: SocketAddr, who: &str| -> Result<usize, DataflowError> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        stream.set_read_timeout(Some(left)).ok();
        let failed =
            |e: std::io::Error| DataflowError::Start(format!("{who} at {from} did not complete the handshake within {:?}: {e}", timeout()));
        stream.write_all(&mine).map_err(failed)?;
        let mut h = [0u8; 40];
        stream.read_exact(&mut h).map_err(failed)?;
        stream.set_read_timeout(None).ok();
        check(&h, n, threads, key, from)
    };
    for (j, &addr) in hosts.iter().enumerate().take(me) {
        let mut stream = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(DataflowError::Start(format!("process {j} at {addr} did not answer within {:?}: {e}", timeout())));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_nodelay(true).ok();
        let got = handshake(&mut stream, addr, &format!("process {j}"))?;
        if got != j {
            return Err(DataflowError::Start(format!("{addr} says it is process {got}, the hosts file says {j}")));
        }
        peers[j] = Some(Peer { stream, index: j, addr, broken: broken.clone() });
    }
    listener.set_nonblocking(true).map_err(|e| DataflowError::Start(e.to_string()))?;
    while peers[me + 1..].iter().any(Option::is_none) {
        match listener.accept() {
            Ok((mut stream, from)) => {
                stream.set_nonblocking(false).ok();
                stream.set_nodelay(true).ok();
                let j = handshake(&mut stream, from, "a process")?;
                if j <= me || j >= n || peers[j].is_some() {
                    return Err(DataflowError::Start(format!("{from} says it is process {j}, which this process does not expect")));
                }
                peers[j] = Some(Peer { stream, index: j, addr: hosts[j], broken: broken.clone() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> =
                        (me + 1..n).filter(|&j| peers[j].is_none()).map(|j| format!("process {j} at {}", hosts[j])).collect();
                    return Err(DataflowError::Start(format!("{} did not connect within {:?}", missing.join(", "), timeout())));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(DataflowError::Start(format!("process {me} at {}: {e}", hosts[me]))),
        }
    }
    Ok(peers)
}

/// timely's network threads, joined when the run's guards drop: a thread
/// that stopped on a broken connection makes the join panic, which is
/// caught here (the run reports the failure as an error).
struct Quiet(Option<CommsGuard>);

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(g)));
        }
    }
}

/// A process's workers' shared word on failure: set when one of them
/// fails, so that the others stop waiting for it, with the first failure.
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    first: Mutex<Option<String>>,
}

impl Stop {
    fn fail(&self, why: String) {
        if let Ok(mut f) = self.first.lock() {
            f.get_or_insert(why);
        }
        self.flag.store(true, Ordering::SeqCst);
    }
}

thread_local! {
    /// The word of the run this worker thread belongs to.
    static STOP: RefCell<Option<Arc<Stop>>> = const { RefCell::new(None) };
}

/// Whether a worker of this process has failed.
pub(crate) fn stopped() -> bool {
    STOP.with(|s| s.borrow().as_ref().is_some_and(|f| f.flag.load(Ordering::SeqCst)))
}

/// Say that this worker failed with `e` (the others of its process stop
/// waiting for it, and the run reports `e`); returns `e`.
pub(crate) fn give_up<E: std::fmt::Display>(e: E) -> E {
    STOP.with(|s| {
        if let Some(f) = s.borrow().as_ref() {
            f.fail(e.to_string());
        }
    });
    e
}

/// Step the worker until its dataflows are done, or until another worker
/// of this process has failed: a worker that stopped never sends the
/// progress the others would wait for, so they look at the flag between
/// steps (parking at most a moment). The process then fails as a whole,
/// and the other processes see its connections close.
pub(crate) fn drive(worker: &mut Worker) {
    while !stopped() && worker.step_or_park(Some(Duration::from_millis(50))) {}
}

/// Faults to inject, for the tests of what a failed worker does:
/// `CHAINTRACE_FAILPOINT=worker-panic:W` (worker `W` panics in its first
/// round) or `worker-error:W` (worker `W` fails to set up an account-model
/// trace or a screening index, and returns the error).
fn failpoint_at(kind: &str) -> Option<usize> {
    static AT: std::sync::OnceLock<Option<(String, usize)>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        let v = std::env::var("CHAINTRACE_FAILPOINT").ok()?;
        let (k, w) = v.split_once(':')?;
        Some((k.to_string(), w.parse().ok()?))
    });
    at.as_ref().filter(|(k, _)| k == kind).map(|a| a.1)
}

/// The panic of `worker-panic:W`.
pub(crate) fn failpoint(worker: usize) {
    if failpoint_at("worker-panic") == Some(worker) {
        panic!("CHAINTRACE_FAILPOINT: worker {worker} fails here");
    }
}

/// The error of `worker-error:W`.
pub(crate) fn failpoint_error(worker: usize) -> Result<(), String> {
    match failpoint_at("worker-error") {
        Some(w) if w == worker => Err(give_up(format!("CHAINTRACE_FAILPOINT: worker {worker} cannot start"))),
        _ => Ok(()),
    }
}

/// Run `func` on the workers `w`: every process of a cluster calls this
/// with the same `key` (a digest of its question). Returns the workers'
/// results, or what stopped them (a broken connection named by its
/// process, or a worker's own failure).
pub(crate) fn execute<T, F>(w: &Workers, key: u64, func: F) -> Result<Vec<T>, DataflowError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let broken: Broken = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Stop::default());
    let word = stop.clone();
    let func = move |worker: &mut Worker| {
        STOP.with(|s| *s.borrow_mut() = Some(word.clone()));
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| func(worker))) {
            Ok(t) if !word.flag.load(Ordering::SeqCst) => t,
            Ok(_) => {
                // Stopped early: timely would step the unfinished dataflows
                // until they finish, which they never will. And the other
                // processes must see this one's connections break, not end
                // cleanly (they would wait for it): a worker that ends by
                // unwinding leaves its channels unfinished. (Unwinding
                // without the panic hook: nothing is printed.)
                for id in worker.installed_dataflows() {
                    worker.drop_dataflow(id);
                }
                std::panic::resume_unwind(Box::new("stopped: a worker of this process failed"))
            }
            Err(p) => {
                word.fail(crate::sys::panic_message(p.as_ref()).unwrap_or_else(|| "a worker panicked".into()));
                std::panic::resume_unwind(p)
            }
        }
    };
    let guards: WorkerGuards<T> = match w {
        Workers::Local { threads } => timely::execute(timely::Config::process((*threads).max(1)), func).map_err(DataflowError::Start)?,
        Workers::Cluster { threads, process, hosts } => {
            let threads = (*threads).max(1);
            if *process >= hosts.len() {
                return Err(DataflowError::Start(format!("--process {process}: the hosts file lists {} processes", hosts.len())));
            }
            let peers = connect(*process, hosts, threads, key, &broken)?;
            let hooks = Hooks::default();
            let locals = ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
            let (builders, guard) = initialize_networking_from_sockets(locals, peers, *process, threads, hooks)
                .map_err(|e| DataflowError::Start(e.to_string()))?;
            timely::execute::execute_from(
                builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                Box::new(Quiet(Some(guard))),
                timely::WorkerConfig::default(),
                func,
            )
            .map_err(DataflowError::Start)?
        }
    };
    let mut out = Vec::new();
    let mut failed = None;
    for r in guards.join() {
        match r {
            Ok(t) => out.push(t),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    // The first failure recorded (a worker's own, or the transport's panic).
    let failed = failed.map(|e| stop.first.lock().ok().and_then(|f| f.clone()).unwrap_or(e));
    match failed {
        None => Ok(out),
        Some(e) => {
            // A worker's own failure names itself; a transport failure is
            // pinned on the process at the other end of the broken connection.
            let transport =
                ["timely communication error", "MergeQueue", "Send thread panic", "Recv thread panic"].iter().any(|t| e.contains(t));
            let first = broken.lock().ok().and_then(|b| b.first().cloned());
            Err(DataflowError::Worker(match first {
                Some(f) if transport => f,
                _ => e,
            }))
        }
    }
}

/// A stable digest of the bytes of a run's question (FNV-1a), for
/// [`execute`]'s key.
pub(crate) fn key_of(text: &str) -> u64 {
    key_of_bytes(text.as_bytes())
}

/// FNV-1a over some bytes.
pub(crate) fn key_of_bytes(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Keep the transport's panics (a peer gone: its receive thread and then
/// the workers stop by panicking) off standard error: the run reports them
/// as one error naming the process. Other panics print as before.
pub fn quiet_transport_panics() {
    crate::sys::quiet_panics(|info| {
        let text = info.to_string();
        let transport =
            ["timely communication error", "MergeQueue poisoned", "Failed to receive MergeQueue", "Send thread panic", "Recv thread panic"];
        transport.iter().any(|t| text.contains(t))
    });
}
