//! Where a run's workers are (`--processes`, `--workers`, `--process`,
//! `--hosts`; INTERFACE.md, docs/distributed.md): this process alone (the
//! single-process engine), threads of this process, one process of a run
//! across hosts, or P local processes over loopback, started here.

use super::AppError;
use crate::dataflow::Workers;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the workers of a run read `store`: the directory of its parts
/// (`--parts`, `chaintrace partition`), else the store itself. Process 0
/// reads `store` for its answer (the report, the index), so it refuses
/// parts cut from another state of it; Bitcoin stores have no parts yet.
/// `own_part`: whether process 0 may be given a part of the same cut as
/// `store` (a trace's report needs only the id tables and labels there).
pub fn read_from<'a>(store: &'a crate::store::Store, w: &Workers, parts: Option<&'a Path>, own_part: bool) -> Result<&'a Path, AppError> {
    let Some(dir) = parts else { return Ok(&store.dir) };
    if !store.manifest.chain.is_account() {
        return Err(AppError::Usage("--parts: parts so far hold account-model stores; give Bitcoin stores whole".into()));
    }
    if w.is_first() {
        crate::dataflow::parts::check(store, dir, w.process(), own_part)?;
    }
    Ok(dir)
}

/// What the command line asked of the run's placement.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Placement {
    /// Run on P processes (timely-dataflow): P local processes over
    /// loopback, or with --process and --hosts one process of a run across
    /// hosts. The report is the one a single process writes.
    #[arg(long, value_name = "P")]
    pub processes: Option<usize>,
    /// Worker threads a process (default: one a core).
    #[arg(long, value_name = "W")]
    pub workers: Option<usize>,
    /// This process's index in --hosts (process 0 writes the report).
    #[arg(long, value_name = "I", requires_all = ["processes", "hosts"])]
    pub process: Option<usize>,
    /// The hosts file: one host:port a line, process 0 first (`#` comments).
    #[arg(long, value_name = "FILE", requires = "process")]
    pub hosts: Option<PathBuf>,
    /// Read the store's parts (`chaintrace partition`) from this
    /// directory: process I reads DIR/part-I alone, and may give its part
    /// as `--store` too (screening's process 0 gives the whole store,
    /// where the index is written).
    #[arg(long, value_name = "DIR", requires = "processes")]
    pub parts: Option<PathBuf>,
}

/// Where the run goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Run {
    /// The single-process engine.
    Single,
    /// The dataflow engine on these workers.
    On(Workers),
    /// Start `processes - 1` more processes of this command over loopback,
    /// and be process 0 of them, with `threads` workers each.
    Launch {
        /// Processes in all.
        processes: usize,
        /// Workers a process.
        threads: usize,
    },
}

impl Run {
    /// Whether every process of the run is this one or started from it, so
    /// that what this process finds on disk holds for the whole run.
    pub fn is_local(&self) -> bool {
        matches!(self, Run::Single | Run::Launch { .. } | Run::On(Workers::Local { .. }))
    }
}

/// Check the placement options.
pub fn plan(p: &Placement) -> Result<Run, AppError> {
    let threads = match p.workers {
        Some(0) => return Err(AppError::Usage("--workers must be at least 1".into())),
        Some(w) => w,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    match (p.processes, p.process, &p.hosts) {
        (None, _, _) if p.workers.is_none() => Ok(Run::Single),
        (None, _, _) => Ok(Run::On(Workers::Local { threads })),
        (Some(0), _, _) => Err(AppError::Usage("--processes must be at least 1".into())),
        (Some(n), None, None) => Ok(Run::Launch { processes: n, threads }),
        (Some(n), Some(process), Some(file)) => {
            let hosts = read_hosts(file)?;
            if hosts.len() != n {
                return Err(AppError::Usage(format!("{}: {} hosts for --processes {n}", file.display(), hosts.len())));
            }
            if process >= n {
                return Err(AppError::Usage(format!("--process {process}: processes are numbered 0 to {}", n - 1)));
            }
            Ok(Run::On(Workers::Cluster { threads, process, hosts }))
        }
        _ => Err(AppError::Usage("--process and --hosts go together".into())),
    }
}

/// Refuse a placement for a command that does not run across workers yet
/// (INTERFACE.md lists the options for it: a clear usage error, not
/// clap's "unexpected argument").
pub fn single_only(p: &Placement, command: &str) -> Result<(), AppError> {
    match plan(p)? {
        Run::Single => Ok(()),
        _ => Err(AppError::Usage(format!(
            "{command} does not run across workers or processes yet (--workers, --processes): run it in one process"
        ))),
    }
}

/// Read a hosts file: one `host:port` a line, process 0 first.
pub fn read_hosts(file: &Path) -> Result<Vec<SocketAddr>, AppError> {
    let text = std::fs::read_to_string(file).map_err(|e| AppError::Usage(format!("{}: {e}", file.display())))?;
    let mut hosts = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let addr = line.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
            AppError::Usage(format!("{} line {}: host {line:?} is not host:port or does not resolve", file.display(), k + 1))
        })?;
        if hosts.contains(&addr) {
            return Err(AppError::Usage(format!("{} line {}: {addr} is listed twice", file.display(), k + 1)));
        }
        hosts.push(addr);
    }
    if hosts.is_empty() {
        return Err(AppError::Usage(format!("{}: no hosts", file.display())));
    }
    Ok(hosts)
}

/// Run `f` where `run` says (not [`Run::Single`], which the caller
/// answers itself): on this process's workers, or as process 0 of a local
/// run started here (`exe` and `args`: this command, for the others).
/// Process 0 gets `f`'s answer, the others `None`.
pub fn placed<T>(
    run: Run,
    exe: &Path,
    args: &[std::ffi::OsString],
    f: impl FnOnce(&Workers) -> Result<Option<T>, AppError>,
) -> Result<Option<T>, AppError> {
    crate::dataflow::net::quiet_transport_panics();
    match run {
        Run::Single => Err(AppError::Internal("a single-process run has no workers to place".into())),
        Run::On(w) => f(&w),
        Run::Launch { processes, threads } => {
            let (w, launched) = launch(processes, threads, exe, args)?;
            match f(&w) {
                Ok(t) => launched.finish(None).map(|()| t),
                Err(e) => Err(launched.finish(Some(e)).expect_err("a failed run stays failed")),
            }
        }
    }
}

/// The other processes of a local run, started by [`launch`]; killed if
/// dropped before [`Launched::finish`].
#[derive(Debug)]
pub struct Launched {
    children: Arc<Mutex<Vec<(usize, Child)>>>,
    dir: PathBuf,
    running: Arc<AtomicBool>,
    watch: Option<std::thread::JoinHandle<()>>,
}

/// Start processes 1 to `processes - 1` of a local run as `exe args
/// --process I --hosts FILE` over free loopback ports, and return this
/// process's place as process 0. `args` are this command's own (with its
/// `--processes`, and `--workers` if given: the others count their
/// default workers on the same machine).
pub fn launch(processes: usize, threads: usize, exe: &Path, args: &[std::ffi::OsString]) -> Result<(Workers, Launched), AppError> {
    // Free ports: bound, read and let go (a port another program takes
    // meanwhile fails the run with a clear error, never a wrong report).
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::Internal(format!("no free loopback port: {e}")))?;
    let hosts: Vec<SocketAddr> =
        listeners.iter().map(|l| l.local_addr()).collect::<Result<_, _>>().map_err(|e| AppError::Internal(e.to_string()))?;
    drop(listeners);
    let dir = std::env::temp_dir().join(format!("chaintrace-run-{}-{}", std::process::id(), hosts[0].port()));
    super::create_dir(&dir)?;
    let file = dir.join("hosts");
    super::write_text(&file, &hosts.iter().map(|h| format!("{h}\n")).collect::<String>())?;
    let mut children = Vec::new();
    let started = |children: Vec<(usize, Child)>| Launched {
        children: Arc::new(Mutex::new(children)),
        dir: dir.clone(),
        running: Arc::new(AtomicBool::new(true)),
        watch: None,
    };
    for i in 1..processes {
        let child = Command::new(exe)
            .args(args)
            .arg("--process")
            .arg(i.to_string())
            .arg("--hosts")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn();
        match child {
            Ok(c) => children.push((i, c)),
            // Dropped: the ones started are stopped.
            Err(e) => {
                drop(started(children));
                return Err(AppError::Internal(format!("starting process {i} ({}): {e}", exe.display())));
            }
        }
    }
    let mut launched = started(children);
    launched.watch = Some(watch(launched.children.clone(), launched.running.clone(), launched.dir.clone()));
    Ok((Workers::Cluster { threads, process: 0, hosts }, launched))
}

/// Watch the other processes of a local run. One that fails before this
/// process has noticed (it died before connecting, say, and this one would
/// wait for it) stops the whole run: the others are killed, and this
/// process exits with status 2 naming it, having written nothing.
fn watch(children: Arc<Mutex<Vec<(usize, Child)>>>, running: Arc<AtomicBool>, dir: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while running.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            let dead = {
                let Ok(mut cs) = children.lock() else { return };
                cs.iter_mut().find_map(|(i, c)| match c.try_wait() {
                    Ok(Some(s)) if !s.success() => Some(format!("process {i} (pid {}) {}", c.id(), describe(s))),
                    _ => None,
                })
            };
            let Some(dead) = dead else { continue };
            // A moment for this process to see the broken connection and report it itself.
            std::thread::sleep(Duration::from_secs(1));
            if !running.load(Ordering::SeqCst) {
                return;
            }
            eprintln!("error: the run stopped: {dead}");
            if let Ok(mut cs) = children.lock() {
                for (_, c) in cs.iter_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            std::process::exit(2);
        }
    })
}

impl Launched {
    /// Wait for the other processes. When this process's run failed
    /// (`failed`), they are stopped first, and the error says which
    /// process went first if one did.
    pub fn finish(mut self, failed: Option<AppError>) -> Result<(), AppError> {
        self.running.store(false, Ordering::SeqCst);
        if let Some(w) = self.watch.take() {
            let _ = w.join();
        }
        let children =
            std::mem::take(&mut *self.children.lock().map_err(|_| AppError::Internal("the watch on the processes failed".into()))?);
        let mut children = children;
        if failed.is_some() {
            for (_, c) in &mut children {
                // Give the others a moment to stop by themselves, so that the first to go is the one named.
                for _ in 0..20 {
                    if c.try_wait().ok().flatten().is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
        let mut died = Vec::new();
        // A finished run's processes end at once; one that does not is stopped, not waited for forever.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for (i, c) in &mut children {
            if failed.is_some() && c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            while c.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
                died.push(format!("process {i} (pid {}) did not end within 60 s of the run's end, and was stopped", c.id()));
                continue;
            }
            match c.wait() {
                Ok(s) if s.success() => {}
                Ok(s) => died.push(format!("process {i} (pid {}) {}", c.id(), describe(s))),
                Err(e) => died.push(format!("process {i}: {e}")),
            }
        }
        match failed {
            Some(AppError::Run(m)) if !died.is_empty() => Err(AppError::Run(format!("{m} ({})", died.join("; ")))),
            Some(e) => Err(e),
            None if died.is_empty() => Ok(()),
            None => Err(AppError::Run(died.join("; "))),
        }
    }
}

fn describe(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("ended: {s}"),
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Ok(mut cs) = self.children.lock() {
            for (_, c) in cs.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
