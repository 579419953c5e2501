//! `trace --processes P [--workers W]` and `--process I --hosts FILE`
//! (issue 17, TRACING.md §8): real processes of the binary on free
//! loopback ports write the report a single process writes, byte for byte;
//! a process killed midway stops the run with an error naming it and no
//! report; processes that disagree, or never come, refuse clearly.

mod common;
use chaintrace::synth::Rng;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chaintrace")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A random store as tests/dataflow.rs makes them, with exchanges.
fn random_store(dir: &Path, rng: &mut Rng) -> (std::path::PathBuf, String) {
    let n_addr = 5 + rng.below(25);
    let n = 50 + rng.below(300);
    let addr = |k: u64| format!("0x{:040x}", k + 1);
    let mut t = String::from("block_number,block_timestamp,transaction_hash,log_index,from_address,to_address,value\n");
    for i in 0..n {
        let from = rng.below(n_addr);
        let to = if rng.below(12) == 0 { from } else { rng.below(n_addr) };
        let value = if rng.below(15) == 0 { 0 } else { rng.below(1000) + 1 };
        let block = 1000 + i / 3;
        t += &format!("{block},{},0x{:064x},0,{},{},{}\n", 1_600_000_000 + 12 * block as i64, i + 1, addr(from), addr(to), value);
    }
    let f = dir.join("t.csv");
    std::fs::write(&f, t).unwrap();
    let labels = dir.join("labels.csv");
    let mut l = String::from("address,category,name\n");
    for k in 0..1 + rng.below(3) {
        l += &format!("{},exchange,Exchange {k}\n", addr(rng.below(n_addr)));
    }
    std::fs::write(&labels, l).unwrap();
    let st = dir.join("s");
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&f]).code, 0);
    assert_eq!(run(&["labels", "--store", s(&st), "import", s(&labels)]).code, 0);
    (st, addr(rng.below(n_addr)))
}

/// The single-process report and the one of every placement the issue
/// names: 2 and 3 processes (3 does not divide the addresses evenly), 1
/// and 2 workers each.
fn same_everywhere(args: &[String], what: &str) -> usize {
    same_everywhere_and(args, what, true)
}

/// [`same_everywhere`], from the store's parts too where `parts` (account-model stores).
fn same_everywhere_and(args: &[String], what: &str, parts: bool) -> usize {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let one = run(&args);
    assert_eq!(one.code, 0, "{what}: {}", one.stderr);
    for (p, w) in [("2", "1"), ("2", "2"), ("3", "1"), ("3", "2")] {
        let mut a = args.clone();
        a.extend(["--processes", p, "--workers", w]);
        let got = run(&a);
        assert_eq!(got.code, 0, "{what}, {p} processes of {w} workers: {}", got.stderr);
        assert!(got.stdout == one.stdout, "{what}: {p} processes of {w} workers write another report");
        assert_eq!(got.stderr, one.stderr, "{what}: the warnings differ");
    }
    // The same from the store's parts (`chaintrace partition`): each
    // process reads its own part alone.
    if !parts {
        return one.stdout.len();
    }
    let store = args[args.iter().position(|a| *a == "--store").unwrap() + 1];
    let t = tempfile::tempdir().unwrap();
    for p in ["2", "3"] {
        let parts = t.path().join(format!("parts{p}"));
        let cut = run(&["partition", "--store", store, "--processes", p, "--out", s(&parts), "--format", "json"]);
        assert_eq!(cut.code, 0, "{what}: partition {p}: {}", cut.stderr);
        let described: serde_json::Value = serde_json::from_str(&cut.stdout).unwrap();
        let sizes: Vec<u64> = described["part_events"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert_eq!(sizes.len(), p.parse::<usize>().unwrap(), "{what}: {}", cut.stdout);
        let own = parts.join("part-0");
        for w in ["1", "2"] {
            let mut a = args.clone();
            // With two workers, process 0 is given its own part alone too,
            // as a host that holds nothing else: the report needs no other
            // events (the evidence is walked where the events are).
            if w == "2" {
                let at = a.iter().position(|x| *x == "--store").unwrap() + 1;
                a[at] = s(&own);
            }
            a.extend(["--processes", p, "--workers", w, "--parts", s(&parts)]);
            let got = run(&a);
            assert_eq!(got.code, 0, "{what}, {p} processes of {w} workers from parts: {}", got.stderr);
            assert!(got.stdout == one.stdout, "{what}: {p} processes of {w} workers from parts write another report");
            assert_eq!(got.stderr, one.stderr, "{what}: the warnings differ from parts");
        }
    }
    one.stdout.len()
}

/// A hosts file of `n` free loopback ports in `dir`.
fn hosts_file(dir: &Path, n: usize) -> std::path::PathBuf {
    let ports: Vec<std::net::TcpListener> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, ports.iter().map(|l| format!("{}\n", l.local_addr().unwrap())).collect::<String>()).unwrap();
    hosts
}

/// Run the processes of a run across the hosts of `hosts`, process `k`
/// with `args(k)`, and wait for them all (process 0's output first).
fn across_hosts(hosts: &Path, n: usize, args: impl Fn(usize) -> Vec<String>) -> Vec<std::process::Output> {
    let procs: Vec<_> = (0..n)
        .map(|k| {
            Command::new(bin())
                .args(args(k))
                .args(["--processes", &n.to_string(), "--process", &k.to_string(), "--hosts", s(hosts)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = procs.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    outs
}

#[test]
fn parts_are_refused_where_they_do_not_fit() {
    let t = tempfile::tempdir().unwrap();
    let (st, seed) = random_store(t.path(), &mut Rng::new(3));
    let parts = t.path().join("parts");
    assert_eq!(run(&["partition", "--store", s(&st), "--processes", "2", "--out", s(&parts)]).code, 0);
    // Written whole: the parts and their description, nothing aside.
    assert!(parts.join("parts.json").is_file() && parts.join("part-0").is_dir() && parts.join("part-1").is_dir());
    assert!(!t.path().join("parts.writing").exists());
    // A bare name for --out: the parts land in the working directory.
    let o = Command::new(bin())
        .current_dir(t.path())
        .args(["partition", "--store", s(&st), "--processes", "2", "--out", "here"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.path().join("here").join("parts.json").is_file() && t.path().join("here").join("part-1").is_dir());
    let again = run(&["partition", "--store", s(&st), "--processes", "2", "--out", s(&parts)]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let many = run(&["partition", "--store", s(&st), "--processes", "4097", "--out", s(&t.path().join("many"))]);
    assert_eq!(many.code, 1, "{}", many.stderr);
    assert!(many.stderr.contains("--processes 4097: parts are cut for at most 4096 processes"), "{}", many.stderr);
    let trace = |p: &str| {
        run(&["trace", "--store", s(&st), "--policy", "haircut", "--seed", &seed, "--processes", p, "--workers", "1", "--parts", s(&parts)])
    };
    assert_eq!(trace("2").code, 0, "{}", trace("2").stderr);
    // Another count of processes than the parts were cut for.
    let three = trace("3");
    assert_eq!(three.code, 1, "{}", three.stderr);
    assert!(three.stderr.contains("cut for 2 processes and this run has 3"), "{}", three.stderr);
    // A part missing on its host.
    std::fs::rename(parts.join("part-1"), t.path().join("moved")).unwrap();
    let missing = trace("2");
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("process 1's part is not here"), "{}", missing.stderr);
    std::fs::rename(t.path().join("moved"), parts.join("part-1")).unwrap();
    // A part cut an earlier way (the first block of ids on one process,
    // or hashed one by one): its owners are not the run's.
    let info = parts.join("part-1").join("part.json");
    let text = std::fs::read_to_string(&info).unwrap();
    for earlier in ["chaintrace-part", "chaintrace-part-2"] {
        std::fs::write(&info, text.replace("\"chaintrace-part-3\"", &format!("\"{earlier}\""))).unwrap();
        let old = trace("2");
        assert_ne!(old.code, 0);
        assert!(old.stderr.contains("not chaintrace-part-3: cut the store again with `chaintrace partition`"), "{}", old.stderr);
    }
    // A table of the first block's owners that names a process the run does not have.
    let mut described: serde_json::Value = serde_json::from_str(&text).unwrap();
    described["first_block"][0] = serde_json::json!(2);
    std::fs::write(&info, serde_json::to_vec(&described).unwrap()).unwrap();
    let past = trace("2");
    assert_ne!(past.code, 0, "{}", past.stderr);
    assert!(past.stderr.contains("names a process past the 2 of the run"), "{}", past.stderr);
    std::fs::write(&info, text).unwrap();
    // Labels changed since the parts were cut: process 0's report would not be theirs.
    let labels = t.path().join("more.csv");
    std::fs::write(&labels, format!("address,category,name\n{seed},mixer,Mixer\n")).unwrap();
    assert_eq!(run(&["labels", "--store", s(&st), "import", s(&labels)]).code, 0);
    let stale = trace("2");
    assert_ne!(stale.code, 0);
    assert!(stale.stderr.contains("cut from another state"), "{}", stale.stderr);
    // Screening checks the same.
    let addrs = t.path().join("addrs.txt");
    std::fs::write(&addrs, format!("{seed}\n")).unwrap();
    let screen = run(&["screen", "--store", s(&st), "--processes", "2", "--parts", s(&parts), s(&addrs)]);
    assert_ne!(screen.code, 0, "{}", screen.stderr);
    assert!(screen.stderr.contains("cut from another state"), "{}", screen.stderr);
}

#[test]
fn parts_of_the_world_hold_about_as_many_events_each() {
    // The world's services are its first addresses: as one ownership
    // block, or hashed one by one, they left one part with up to 1.6 times
    // another's events; given out by their events, the parts are even.
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("world");
    chaintrace::synth::write_world_store(&st, chaintrace::synth::world::Params::new(200_000, 5)).unwrap();
    for p in ["2", "3", "4"] {
        let parts = t.path().join(format!("parts{p}"));
        let cut = run(&["partition", "--store", s(&st), "--processes", p, "--out", s(&parts), "--format", "json"]);
        assert_eq!(cut.code, 0, "{}", cut.stderr);
        let described: serde_json::Value = serde_json::from_str(&cut.stdout).unwrap();
        let sizes: Vec<u64> = described["part_events"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        let (least, most) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(most * 100 <= least * 110, "{p} parts: {sizes:?}");
        // Every event is in a part, and an event in two is counted in each.
        assert!(sizes.iter().sum::<u64>() >= 200_000, "{p} parts: {sizes:?}");
    }
}

#[test]
fn reports_across_processes_are_the_single_process_ones_byte_for_byte() {
    // The generated world: exchanges, a mixer, DEX swaps, tokens, a hack laundered through peel chains.
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("world");
    let w = chaintrace::synth::write_world_store(&st, chaintrace::synth::world::Params::new(200_000, 5)).unwrap();
    for policy in ["poison", "haircut", "fifo"] {
        let args: Vec<String> =
            ["trace", "--store", s(&st), "--policy", policy, "--seed", &w.exploiter, "--stop-at", "exchange,mixer", "--format", "json"]
                .iter()
                .map(|x| x.to_string())
                .collect();
        let bytes = same_everywhere(&args, &format!("world, {policy}"));
        assert!(bytes > 10_000, "world, {policy}: a report of {bytes} bytes");
        // Paths for the largest few only (issue 18): each worker walks its
        // own largest, and the report keeps the first in its order.
        let mut few = args.clone();
        few.extend(["--paths-for", "3"].map(String::from));
        same_everywhere(&few, &format!("world, {policy}, --paths-for 3"));
    }
    // Random stores: every policy, with a horizon, a block window or a table now and then.
    let mut rng = Rng::new(8);
    for case in 0..9 {
        let t = tempfile::tempdir().unwrap();
        let (st, seed) = random_store(t.path(), &mut rng);
        let policy = ["poison", "haircut", "fifo"][case % 3];
        let mut args: Vec<String> = ["trace", "--store", s(&st), "--policy", policy, "--seed", &seed, "--stop-at", "exchange"]
            .iter()
            .map(|x| x.to_string())
            .collect();
        match case / 3 {
            0 => args.extend(["--format", "json", "--max-hops", "2"].map(String::from)),
            1 => args.extend(["--format", "csv", "--from-block", "1010", "--to-block", "1060"].map(String::from)),
            _ => args.extend(["--format", "table"].map(String::from)),
        }
        // Evidence paths are walked where the events are: other counts of
        // them, and seed transactions, whose events at hop 0 end a walk.
        match case {
            1 => args.extend(["--paths", "0"].map(String::from)),
            4 => args
                .extend(["--paths", "7", "--seed-tx", &format!("0x{:064x}", 5), "--seed-tx", &format!("0x{:064x}", 40)].map(String::from)),
            8 => args.extend(["--paths", "2", "--seed-tx", &format!("0x{:064x}", 17)].map(String::from)),
            0 | 5 => args.extend(["--paths-for", "2"].map(String::from)),
            _ => {}
        }
        same_everywhere(&args, &format!("random store {case}, {policy}"));
    }
}

/// `--follow swaps` across processes (TRACING.md §7 and §8): the generated
/// world as blockchain-etl CSV, whose DEX swaps and the hack's own are
/// conversions, traced by every policy into the assets bought; the report
/// is the single process's, byte for byte. Parts are refused: every
/// process reads the whole store.
#[test]
fn follow_reports_across_processes_are_the_single_process_ones() {
    let t = tempfile::tempdir().unwrap();
    let w = chaintrace::synth::etl::write_world_etl(&t.path().join("csv"), chaintrace::synth::world::Params::new(200_000, 11)).unwrap();
    let st = t.path().join("s");
    let mut args = vec!["ingest", "--store", s(&st), "--chain", "ethereum", "--format", "etl", "--no-progress"];
    let exports = w.exports();
    args.extend(exports.iter().map(|p| s(p)));
    assert_eq!(run(&args).code, 0);
    assert_eq!(run(&["labels", "--store", s(&st), "import", s(&w.files[3])]).code, 0);
    for (policy, paths) in [("poison", "3"), ("haircut", "3"), ("fifo", "2")] {
        let args: Vec<String> = [
            "trace",
            "--store",
            s(&st),
            "--policy",
            policy,
            "--seed",
            &w.exploiter,
            "--stop-at",
            "exchange,mixer",
            "--follow",
            "swaps",
            "--paths",
            paths,
            "--format",
            "json",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        let one = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let report: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
        let conversions = report["conversions"].as_array().map_or(0, Vec::len);
        assert!(conversions >= 3, "world, {policy}: {conversions} conversions carried taint");
        same_everywhere_and(&args, &format!("world, --follow swaps, {policy}"), false);
    }
    let parts = t.path().join("parts");
    assert_eq!(run(&["partition", "--store", s(&st), "--processes", "2", "--out", s(&parts)]).code, 0);
    let mut a = vec!["trace", "--store", s(&st), "--policy", "poison", "--seed", &w.exploiter];
    a.extend(["--follow", "swaps", "--processes", "2", "--parts", s(&parts)]);
    let o = run(&a);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("--follow across processes reads the whole store"), "{}", o.stderr);
}

#[test]
fn bitcoin_reports_across_processes_are_the_single_process_ones() {
    // A synthetic chain (wallets, payments, consolidations, CoinJoins) and the real block 702861.
    let t = tempfile::tempdir().unwrap();
    let synthetic = t.path().join("synthetic");
    chaintrace::synth::utxo::write_store(&synthetic, chaintrace::synth::utxo::Params::for_inputs(20_000, 4)).unwrap();
    let b = |n: &str| data(&format!("bitcoin-mainnet-block-702861/{n}"));
    let block = t.path().join("block");
    assert_eq!(ingest(&block, "bitcoin", "etl", &[], &[&b("transactions.csv"), &b("inputs.csv"), &b("outputs.csv")]).code, 0);
    let mut total = 0;
    for (st, every) in [(&synthetic, 97), (&block, 13)] {
        let store = chaintrace::store::Store::open(st).unwrap();
        let ev = store.events();
        let pick = |k: usize| store.address_text(ev.receiver(k * every % store.len()));
        let labels = t.path().join("labels.csv");
        std::fs::write(&labels, format!("address,category,name\n{},exchange,Exchange A\n{},exchange,Exchange B\n", pick(3), pick(5)))
            .unwrap();
        assert_eq!(run(&["labels", "--store", s(st), "import", s(&labels)]).code, 0);
        for (k, policy) in ["poison", "haircut", "fifo"].into_iter().enumerate() {
            let (a, b) = (pick(11 + k), pick(17 + k));
            let args: Vec<String> =
                ["trace", "--store", s(st), "--policy", policy, "--seed", &a, "--seed", &b, "--stop-at", "exchange", "--format", "json"]
                    .iter()
                    .map(|x| x.to_string())
                    .collect();
            total += same_everywhere_and(&args, &format!("{}, {policy}", st.display()), false);
        }
    }
    assert!(total > 20_000, "reports of {total} bytes in all");
    // A horizon: an address's first arrival decides it, whichever worker owns its transactions.
    {
        let store = chaintrace::store::Store::open(&synthetic).unwrap();
        let (a, b) = (store.address_text(store.events().receiver(11 * 97)), store.address_text(store.events().receiver(17 * 97)));
        let args: Vec<String> =
            ["trace", "--store", s(&synthetic), "--policy", "haircut", "--seed", &a, "--seed", &b, "--max-hops", "2", "--format", "json"]
                .iter()
                .map(|x| x.to_string())
                .collect();
        same_everywhere_and(&args, "synthetic chain, haircut, --max-hops 2", false);
        let one = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let v: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
        assert!(
            v["horizon"].as_array().is_some_and(|h| !h.is_empty()),
            "something is cut off: {}",
            &one.stdout[..300.min(one.stdout.len())]
        );
    }
    // Two cases on one run: each the report one process writes.
    let store = chaintrace::store::Store::open(&synthetic).unwrap();
    let (a, b) = (store.address_text(store.events().receiver(101)), store.address_text(store.events().receiver(303)));
    let (fa, fb) = (t.path().join("a.txt"), t.path().join("b.txt"));
    std::fs::write(&fa, format!("{a}\n")).unwrap();
    std::fs::write(&fb, format!("{b}\n")).unwrap();
    let cases = |out: &Path, extra: &[&str]| {
        let mut args = vec!["trace", "--store", s(&synthetic), "--policy", "haircut", "--format", "json", "--output", s(out)];
        let (ca, cb) = (format!("a={}", fa.display()), format!("b={}", fb.display()));
        args.extend(["--case", &ca, "--case", &cb]);
        args.extend(extra);
        let o = run(&args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        ["a.json", "b.json"].map(|f| std::fs::read(out.join(f)).unwrap())
    };
    let one = cases(&t.path().join("one"), &[]);
    assert_eq!(cases(&t.path().join("three"), &["--processes", "3", "--workers", "1"]), one);
    // Over address clusters (every process clusters the store itself).
    let clustered = cases(&t.path().join("clusters-one"), &["--cluster"]);
    assert_ne!(clustered, one, "clusters change the report");
    assert_eq!(cases(&t.path().join("clusters-two"), &["--cluster", "--processes", "2", "--workers", "2"]), clustered);
}

#[test]
fn a_process_killed_midway_stops_the_run_with_no_report() {
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("world");
    let w = chaintrace::synth::write_world_store(&st, chaintrace::synth::world::Params::new(1_000_000, 9)).unwrap();
    let seeds = t.path().join("seeds.txt");
    std::fs::write(&seeds, format!("{}\n", w.exploiter)).unwrap();
    killed_midway(t.path(), &st, &seeds, &[], "reports");
    killed_midway(t.path(), &st, &seeds, &["--follow", "swaps"], "follow-reports");
}

/// A run of many cases over `st` from the seeds of `seeds`, with `extra`
/// arguments, on three processes, one killed midway: the others stop, and
/// no report is written to `dir/out`.
fn killed_midway(dir: &Path, st: &Path, seeds: &Path, extra: &[&str], out: &str) {
    // Many cases, one after another: a run of several seconds.
    let out = dir.join(out);
    let mut cmd = Command::new(bin());
    cmd.args(["trace", "--store", s(st), "--policy", "haircut", "--stop-at", "exchange,mixer", "--format", "json", "--output", s(&out)]);
    cmd.args(extra);
    for k in 0..40 {
        cmd.arg("--case").arg(format!("c{k}={}", seeds.display()));
    }
    let mut run0 = cmd.args(["--processes", "3", "--workers", "1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait for the run's other processes, then kill one of them midway.
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let started = std::time::Instant::now();
    let kids = loop {
        let k = children(run0.id());
        if k.len() == 2 || started.elapsed().as_secs() > 30 {
            break k;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(kids.len(), 2, "process 0 started {kids:?}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(run0.try_wait().unwrap().is_none(), "the run ended before the kill: make it longer");
    assert!(Command::new("kill").args(["-9", &kids[1].to_string()]).status().unwrap().success());
    let o = run0.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the run stopped") && stderr.contains("process 2"), "the error names the process: {stderr}");
    assert!(stderr.contains("killed by signal 9"), "{stderr}");
    assert!(!stderr.contains("panicked"), "no panic reaches the user: {stderr}");
    // No report, whole or half.
    let written: Vec<_> = std::fs::read_dir(&out).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    assert!(written.is_empty(), "reports written: {written:?}");
    // The survivor stopped too.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !Path::new(&format!("/proc/{}", kids[0])).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", kids[0])).unwrap().contains(") Z")
    );
}

#[test]
fn processes_that_disagree_or_never_come_refuse_clearly() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let (st, seed) = random_store(t.path(), &mut rng);
    let hosts = hosts_file(t.path(), 2);
    let start = |process: &str, policy: &str| {
        Command::new(bin())
            .args(["trace", "--store", s(&st), "--policy", policy, "--seed", &seed, "--format", "json", "--processes", "2"])
            .args(["--process", process, "--hosts", s(&hosts), "--workers", "1"])
            .env("CHAINTRACE_CONNECT_TIMEOUT", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Two processes asked different questions.
    let (a, b) = (start("0", "haircut"), start("1", "fifo"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert!(o.stdout.is_empty());
    }
    let e = String::from_utf8_lossy(&b.stderr);
    assert!(e.contains("was asked another question"), "{e}");
    // Process 1 never comes: process 0 gives up and says who it waited for.
    let o = start("0", "haircut").wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("process 1 at 127.0.0.1:") && e.contains("did not connect"), "{e}");
    // A hosts file that does not fit the run.
    let o = run(&[
        "trace",
        "--store",
        s(&st),
        "--policy",
        "poison",
        "--seed",
        &seed,
        "--processes",
        "3",
        "--process",
        "0",
        "--hosts",
        s(&hosts),
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("2 hosts for --processes 3"), "{}", o.stderr);
    let o = run(&["trace", "--store", s(&st), "--policy", "poison", "--seed", &seed, "--processes", "2", "--follow", "bridges"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--follow bridges does not run across processes yet"), "{}", o.stderr);
    let addresses = t.path().join("addresses.txt");
    std::fs::write(&addresses, format!("{seed}\n")).unwrap();
    let o = run(&["screen", "--store", s(&st), "--processes", "2", "--follow", "bridges", s(&addresses)]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--follow bridges does not run across processes yet"), "{}", o.stderr);
    // Threads of one process: the same report.
    let args = ["trace", "--store", s(&st), "--policy", "fifo", "--seed", &seed, "--format", "json"];
    let one = run(&args);
    let mut threads = args.to_vec();
    threads.extend(["--workers", "3"]);
    let w = run(&threads);
    assert_eq!((one.code, w.code), (0, 0), "{}", w.stderr);
    assert!(one.stdout == w.stdout && one.stdout.len() > 100);
}

/// The store's exposure index file, and its bytes.
/// The store's one index file, as answers read it: its header without
/// what says whether the sweep's end state is in it, and the bytes of the
/// sections answers read. (The sweep across processes keeps no end state:
/// an append after it is answered by a single process's rebuild.)
fn index_bytes(st: &Path) -> Vec<u8> {
    let files: Vec<_> = std::fs::read_dir(st.join("exposure")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let b = std::fs::read(&files[0]).unwrap();
    let len = u64::from_le_bytes(b[8..16].try_into().unwrap()) as usize;
    let mut meta: serde_json::Value = serde_json::from_slice(&b[16..16 + len]).unwrap();
    let sections = meta["sections"].as_array().unwrap().clone();
    let m = meta.as_object_mut().unwrap();
    m.remove("resumable");
    m.remove("sections");
    // The checksums of the sections answers read.
    let sums: Vec<serde_json::Value> = m["xxh3"].as_array().unwrap()[..6].to_vec();
    m.insert("xxh3".into(), serde_json::Value::Array(sums));
    let mut out = serde_json::to_vec(&meta).unwrap();
    // Slots, received, offsets, entries, seeds, preds.
    for s in &sections[..6] {
        let (at, n) = (s["offset"].as_u64().unwrap() as usize, s["bytes"].as_u64().unwrap() as usize);
        out.extend_from_slice(&b[at..at + n]);
    }
    out
}

#[test]
fn screening_across_processes_builds_the_single_process_index() {
    // The generated world (a hack, a mixer, exchanges) and the real Lazarus flows with the OFAC list.
    let t = tempfile::tempdir().unwrap();
    let world = t.path().join("world");
    chaintrace::synth::write_world_store(&world, chaintrace::synth::world::Params::new(200_000, 5)).unwrap();
    let laz = t.path().join("laz");
    let o = ingest(&laz, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run(&["labels", "--store", s(&laz), "import", s(&data("labels/ethereum-labels.csv"))]).code, 0);
    // The real Bitcoin block 702861: addresses paid in it that spend again in it labelled sources, one an exchange.
    let b = |n: &str| data(&format!("bitcoin-mainnet-block-702861/{n}"));
    let block = t.path().join("block");
    assert_eq!(ingest(&block, "bitcoin", "etl", &[], &[&b("transactions.csv"), &b("inputs.csv"), &b("outputs.csv")]).code, 0);
    {
        let store = chaintrace::store::Store::open(&block).unwrap();
        let ev = store.events();
        let paid: std::collections::BTreeSet<u32> = (0..store.len()).map(|i| ev.receiver(i)).collect();
        let again: Vec<u32> = (0..store.len())
            .map(|i| ev.sender(i))
            .filter(|a| paid.contains(a))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(again.len() >= 4, "{} addresses paid and spending in the block", again.len());
        let mut l = String::from("address,category\n");
        for (k, &a) in again.iter().enumerate() {
            l += &format!("{},{}\n", store.address_text(a), ["hack", "sanctioned", "exchange"][k % 3]);
        }
        let labels = t.path().join("btc-labels.csv");
        std::fs::write(&labels, l).unwrap();
        assert_eq!(run(&["labels", "--store", s(&block), "import", s(&labels)]).code, 0);
    }
    let mut exposed = 0;
    for st in [&world, &laz, &block] {
        // Every fifth receiver, and one address never seen.
        let store = chaintrace::store::Store::open(st).unwrap();
        let ev = store.events();
        let mut list: String = (0..store.len())
            .step_by(5)
            .map(|i| store.address_text(ev.receiver(i)))
            .filter(|a| !a.starts_with('('))
            .map(|a| a + "\n")
            .collect();
        if store.manifest.chain.is_account() {
            list += "0x1111111111111111111111111111111111111111\n";
        }
        let addresses = t.path().join("addresses.txt");
        std::fs::write(&addresses, list).unwrap();
        let args = ["screen", "--store", s(st), "--format", "json", s(&addresses)];
        let one = run(&args);
        assert_eq!(one.code, 0, "{}", one.stderr);
        let index = index_bytes(st);
        let v: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
        let here = v["results"].as_array().unwrap().iter().filter(|r| !r["exposure"].as_array().unwrap().is_empty()).count();
        assert!(here > 0, "{}: no exposed answer", st.display());
        exposed += here;
        for (p, w) in [("2", "1"), ("3", "2")] {
            std::fs::remove_dir_all(st.join("exposure")).unwrap();
            let mut a = args.to_vec();
            a.extend(["--processes", p, "--workers", w]);
            let got = run(&a);
            assert_eq!(got.code, 0, "{p} processes of {w} workers: {}", got.stderr);
            assert!(got.stderr.contains("built the exposure index"), "{}", got.stderr);
            assert!(got.stdout == one.stdout, "{}: {p} processes of {w} workers answer otherwise", st.display());
            assert!(index_bytes(st) == index, "{}: {p} processes of {w} workers write another index", st.display());
        }
        // From the store's parts (account-model stores), each process reading its own.
        if store.manifest.chain.is_account() {
            for (p, w) in [("2", "2"), ("3", "1")] {
                let parts = t.path().join(format!("{}-parts{p}", st.file_name().unwrap().to_str().unwrap()));
                assert_eq!(run(&["partition", "--store", s(st), "--processes", p, "--out", s(&parts)]).code, 0);
                std::fs::remove_dir_all(st.join("exposure")).unwrap();
                let mut a = args.to_vec();
                a.extend(["--processes", p, "--workers", w, "--parts", s(&parts)]);
                let got = run(&a);
                assert_eq!(got.code, 0, "{p} processes of {w} workers from parts: {}", got.stderr);
                assert!(got.stderr.contains("built the exposure index"), "{}", got.stderr);
                assert!(got.stdout == one.stdout, "{}: {p} processes from parts answer otherwise", st.display());
                assert!(index_bytes(st) == index, "{}: {p} processes from parts write another index", st.display());
            }
        }
        // A local run with the index in place answers from it.
        let mut a = args.to_vec();
        a.extend(["--processes", "2"]);
        let again = run(&a);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert!(!again.stderr.contains("built") && again.stdout == one.stdout, "{}", again.stderr);
    }
    assert!(exposed > 50, "{exposed} exposed answers");
    // Two processes of a run across hosts: both sweep, process 0 writes the index and answers.
    let hosts = hosts_file(t.path(), 2);
    let addresses = t.path().join("laz.txt");
    std::fs::write(&addresses, "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683\n").unwrap();
    let one = run(&["screen", "--store", s(&laz), "--format", "csv", s(&addresses)]);
    assert!(one.stdout.contains("sanctioned,5238100000000000000000"), "{}", one.stdout);
    let outs = across_hosts(&hosts, 2, |_| {
        ["screen", "--store", s(&laz), "--format", "csv", "--workers", "1", s(&addresses)].map(String::from).to_vec()
    });
    assert_eq!(String::from_utf8_lossy(&outs[0].stdout), one.stdout);
    assert!(outs[1].stdout.is_empty());
}

/// Run `args` with `env` set, killing it if it takes more than a minute
/// (a worker left waiting for a failed one would hang).
fn run_bounded(args: &[&str], env: (&str, &str)) -> (Option<i32>, String) {
    let mut c = Command::new(bin()).args(args).env(env.0, env.1).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while c.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() > 60 {
            c.kill().unwrap();
            panic!("{args:?} with {env:?} still runs after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = c.wait_with_output().unwrap();
    assert!(o.stdout.is_empty(), "no report");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_worker_that_fails_stops_its_process_and_the_run() {
    let t = tempfile::tempdir().unwrap();
    let (st, seed) = random_store(t.path(), &mut Rng::new(21));
    let trace = ["trace", "--store", s(&st), "--policy", "haircut", "--seed", &seed, "--format", "json"];
    // One process of two workers: the other worker stops waiting for the failed one.
    let mut a = trace.to_vec();
    a.extend(["--workers", "2"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-panic:1"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("worker 1 fails here"), "{err}");
    // Two processes of two workers, worker 3 (process 1's second) failing: process 1 stops, and process 0 names it.
    let mut a = trace.to_vec();
    a.extend(["--processes", "2", "--workers", "2"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-panic:3"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("process 1"), "the error names the process: {err}");
    // A worker that fails to start returns its error (no panic): its process stops, and the other one with it.
    let mut a = trace.to_vec();
    a.extend(["--processes", "2", "--workers", "1"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-error:1"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("process 1"), "the error names the process: {err}");
    let mut a = trace.to_vec();
    a.extend(["--workers", "2"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-error:0"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("worker 0 cannot start"), "{err}");
    // `--follow swaps` too: a worker that fails midway, and one that cannot start.
    let mut a = trace.to_vec();
    a.extend(["--follow", "swaps", "--processes", "2", "--workers", "2"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-panic:3"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("process 1"), "the error names the process: {err}");
    let mut a = trace.to_vec();
    a.extend(["--follow", "swaps", "--processes", "2", "--workers", "1"]);
    let (code, err) = run_bounded(&a, ("CHAINTRACE_FAILPOINT", "worker-error:1"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("process 1"), "the error names the process: {err}");
    // Screening too.
    let addresses = t.path().join("addresses.txt");
    std::fs::write(&addresses, format!("{seed}\n")).unwrap();
    let (code, err) =
        run_bounded(&["screen", "--store", s(&st), "--workers", "2", s(&addresses)], ("CHAINTRACE_FAILPOINT", "worker-panic:0"));
    assert_eq!(code, Some(2), "{err}");
    assert!(!st.join("exposure").exists(), "no index written");
    // A screening worker that cannot start stops the run as a failed worker (exit 2), not as an input error.
    let (code, err) = run_bounded(
        &["screen", "--store", s(&st), "--processes", "2", "--workers", "1", s(&addresses)],
        ("CHAINTRACE_FAILPOINT", "worker-error:1"),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("process 1"), "the error names the process: {err}");
    assert!(!st.join("exposure").exists(), "no index written");
    // The same on a Bitcoin store, inside one process.
    let btc = t.path().join("btc");
    chaintrace::synth::utxo::write_store(&btc, chaintrace::synth::utxo::Params::for_inputs(2_000, 5)).unwrap();
    std::fs::write(t.path().join("btc-labels.csv"), "address,category,name\nw1a0,hack,Hacker\n").unwrap();
    let labels = t.path().join("btc-labels.csv");
    let o = Command::new(bin()).args(["labels", "--store", s(&btc), "import", s(&labels)]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&addresses, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n").unwrap();
    let (code, err) =
        run_bounded(&["screen", "--store", s(&btc), "--workers", "2", s(&addresses)], ("CHAINTRACE_FAILPOINT", "worker-error:0"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("worker 0 cannot start"), "{err}");
    assert!(!btc.join("exposure").exists(), "no index written");
}

#[test]
fn hosts_given_only_their_part_trace_tokens_as_one_process() {
    // The world's hack took USDC too; process 1 is given its part alone, as a host that holds nothing else.
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("world");
    let w = chaintrace::synth::write_world_store(&st, chaintrace::synth::world::Params::new(100_000, 5)).unwrap();
    let parts = t.path().join("parts");
    assert_eq!(run(&["partition", "--store", s(&st), "--processes", "2", "--out", s(&parts)]).code, 0);
    // A part is a store in its own right: it describes itself, with every asset of the whole store.
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["assets"].as_array().unwrap().iter().map(|x| x["asset"].as_str().unwrap().to_string()).collect()
    };
    let (whole, part) = (names(&stats(&st)), names(&stats(&parts.join("part-1"))));
    let usdc = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";
    assert!(part.iter().any(|a| a == usdc) && part.iter().all(|a| whole.contains(a)), "part {part:?}, whole {whole:?}");
    let q = ["trace", "--policy", "haircut", "--seed", &w.exploiter, "--asset", usdc, "--stop-at", "exchange,mixer", "--format", "json"];
    let one = run(&[&q[..], &["--store", s(&st)]].concat());
    assert_eq!(one.code, 0, "{}", one.stderr);
    // The 25.5 M USDC the hack took, in base units, is what the trace seeds.
    assert!(one.stdout.contains("25500000000000"), "{}", one.stdout);
    let hosts = hosts_file(t.path(), 2);
    // Process 0 given the whole store, then its own part alone.
    for whole0 in [true, false] {
        let outs = across_hosts(&hosts, 2, |k| {
            let store = if k == 0 && whole0 { st.clone() } else { parts.join(format!("part-{k}")) };
            [&q[..], &["--store", s(&store), "--workers", "1", "--parts", s(&parts)]].concat().into_iter().map(String::from).collect()
        });
        assert!(String::from_utf8_lossy(&outs[0].stdout) == one.stdout, "the report from parts differs (whole store at 0: {whole0})");
        assert!(outs[1].stdout.is_empty());
    }
    // Any part of the same store serves process 0 (the id tables and
    // labels are the whole store's), even one cut for another count.
    let three = t.path().join("parts3");
    assert_eq!(run(&["partition", "--store", s(&st), "--processes", "3", "--out", s(&three)]).code, 0);
    let other = run(&[&q[..], &["--store", s(&three.join("part-0")), "--processes", "2", "--parts", s(&parts)]].concat());
    assert_eq!(other.code, 0, "a part of the same store, cut for another count, has the same tables: {}", other.stderr);
    assert!(other.stdout == one.stdout);
    // A part given to screening's process 0, which writes the index from the whole store, is refused.
    let addrs = t.path().join("addrs.txt");
    std::fs::write(&addrs, format!("{}\n", w.exploiter)).unwrap();
    let screen = run(&["screen", "--store", s(&parts.join("part-0")), "--processes", "2", "--parts", s(&parts), s(&addrs)]);
    assert_ne!(screen.code, 0);
    assert!(screen.stderr.contains("a part; give process 0 the whole store"), "{}", screen.stderr);
}
