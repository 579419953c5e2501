//! What the engine asks of the machine: cache prefetch hints, this process's
//! memory, temporary file names and phase timings. The bottom of the stack
//! beside `model`: it imports nothing of the crate.

use std::path::{Path, PathBuf};

/// Hint the CPU to load the cache line holding `v`.
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults and reads nothing visible.
    unsafe {
        std::arch::x86_64::_mm_prefetch(std::ptr::from_ref(v).cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// A vector of `n` copies of `fill` whose pages the kernel is asked to back
/// with huge pages (Linux `MADV_HUGEPAGE`; a hint, ignored elsewhere or when
/// none are free). For tables read at random: hash slots, balances by
/// address. With 4 KiB pages nearly every probe of a table of some hundred
/// megabytes also misses the TLB and walks the page tables; 2 MiB pages
/// cover such a table with a few hundred TLB entries. The advice must come
/// before the pages are first touched, so the vector is filled after it.
pub fn huge_vec<T: Copy>(n: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    let bytes = n * std::mem::size_of::<T>();
    #[cfg(target_os = "linux")]
    if bytes >= 4 << 20 {
        let page = 4096usize;
        let start = v.as_ptr() as usize;
        let (from, to) = (start.next_multiple_of(page), (start + bytes) / page * page);
        if to > from {
            // SAFETY: the range lies inside the vector's own allocation, page
            // aligned; the advice changes how pages are backed, never what
            // they hold, and none of them has been touched yet.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(n, fill);
    v
}

/// Anonymous (heap) resident memory of this process now, in bytes (Linux
/// `RssAnon`): what the process holds beyond mapped files, which the kernel
/// can drop and read again.
pub fn anon_rss_bytes() -> Option<u64> {
    status_kb("RssAnon:")
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("VmHWM:")
}

fn status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// A file's temporary name while it is written: one per process, so two
/// writers never share one.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.tmp.{}", std::process::id()))
}

/// Whether `name` is a [`tmp_path`] whose writer is gone: a process that
/// was killed mid-write leaves it, and no one else will rename it. A live
/// process's file (or one whose id was reused) is kept.
pub fn tmp_of_dead_process(name: &str) -> bool {
    let Some((_, pid)) = name.rsplit_once(".tmp.") else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    if pid == std::process::id() || !cfg!(target_os = "linux") {
        return false;
    }
    // Gone, or a zombie not yet reaped (a killed orphan waits for init).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Phase timings on stderr when `CHAINTRACE_TIMING` is set (for benchmarks).
pub fn timing(phase: &str) {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    if std::env::var_os("CHAINTRACE_TIMING").is_some() {
        // Resident and peak memory beside the time, so a phase's memory can
        // be told from the next one's.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0)
        };
        eprintln!(
            "timing: {phase} done at {:.3}s, rss {} MiB, peak {} MiB",
            start.elapsed().as_secs_f64(),
            kib("VmRSS:") / 1024,
            kib("VmHWM:") / 1024
        );
    }
}

/// Reads by a third-party library under way that turn its panics into
/// errors ([`guard_panics`]).
static GUARDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Run `f`, a call into polars on input chaintrace does not control, and
/// turn a panic inside it into `Err` with the panic's message. polars's
/// Parquet reader trusts a file's metadata (column byte ranges, page
/// headers) and panics on some damaged files where it should fail (found
/// by `fuzz/fuzz_targets/ingest.rs`): such a panic is the file's error.
/// While `f` runs, [`panic_is_guarded`] tells a panic hook not to print
/// what is reported as an error anyway.
pub fn guard_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    use std::sync::atomic::Ordering;
    struct Unguard;
    impl Drop for Unguard {
        fn drop(&mut self) {
            GUARDED.fetch_sub(1, Ordering::SeqCst);
        }
    }
    GUARDED.fetch_add(1, Ordering::SeqCst);
    let _unguard = Unguard;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()).unwrap_or_else(|| "a panic".into()))
}

/// The message a panic was raised with, when it has one (`panic!` with a
/// format gives a `String`, with a literal a `&str`).
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> Option<String> {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// Keep the panics `quiet` picks off standard error: the hook in place
/// before (the standard one prints every panic) sees only the others. For
/// panics that reach the user another way, as an error of
/// [`guard_panics`] or as a failed process, which would otherwise be
/// printed twice.
pub fn quiet_panics(quiet: impl Fn(&std::panic::PanicHookInfo<'_>) -> bool + Send + Sync + 'static) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !quiet(info) {
            previous(info)
        }
    }));
}

/// Whether a panic is polars's, inside [`guard_panics`]: caught there and
/// reported as an error, so a hook need not print it. polars runs work on
/// threads of its own, so the test is where the panic is, not which thread.
pub fn panic_is_guarded(info: &std::panic::PanicHookInfo<'_>) -> bool {
    // polars's own code, or the standard library's on its behalf (a
    // `capacity overflow` is raised in `alloc`).
    GUARDED.load(std::sync::atomic::Ordering::SeqCst) > 0
        && info.location().is_some_and(|l| ["polars", "library/alloc/", "library/core/"].iter().any(|p| l.file().contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_writers_temporary_file_is_stale() {
        let mine = tmp_path(Path::new("gen-000002.eth.idx"));
        let mine = mine.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!tmp_of_dead_process(&mine), "this process is alive");
        // Process 1 never exits; no process has the largest id.
        assert!(!tmp_of_dead_process("gen-000002.eth.idx.tmp.1"));
        assert!(tmp_of_dead_process(&format!("gen-000002.eth.idx.tmp.{}", u32::MAX)));
        assert!(!tmp_of_dead_process("gen-000002.eth.idx"), "not a temporary file");
        assert!(!tmp_of_dead_process("gen-000002.eth.idx.tmp.x"));
    }

    #[test]
    fn a_guarded_panic_is_an_error_with_its_message() {
        assert_eq!(super::guard_panics(|| 7), Ok(7));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let got = super::guard_panics(|| -> u8 { panic!("range end index {} out of range", 9228) });
        let plain = super::guard_panics(|| -> u8 { std::panic::panic_any("static text") });
        std::panic::set_hook(hook);
        assert_eq!(got, Err("range end index 9228 out of range".to_string()));
        assert_eq!(plain, Err("static text".to_string()));
        assert_eq!(super::GUARDED.load(std::sync::atomic::Ordering::SeqCst), 0, "the guard is released after a panic");
    }
}
