//! `chaintrace-gen`: synthetic exports for benchmarks (see datasets/synthetic/README.md).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "chaintrace-gen", version, about = "Write synthetic blockchain-etl exports for benchmarks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plain random transactions: one blockchain-etl `transactions.csv` (the ingest benchmark).
    Transactions {
        /// Rows to write.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Seed; the same seed writes the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Plain random transactions in which taint spreads widely (issue 18's
    /// wide set): `transactions.csv` as `transactions` writes it, and
    /// `labels.csv` naming every `--stop-every`-th address of the pool an
    /// exchange; prints the seed, the hottest address.
    Wide {
        /// Rows to write.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Seed; the same seed writes the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Label every K-th address of the pool an exchange.
        #[arg(long, default_value_t = 4)]
        stop_every: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// The structured world (exchanges, mixer, DEX, tokens, a hack laundered
    /// through peel chains and swaps) as `transactions.csv` (with receipts),
    /// `traces.csv`, `token_transfers.csv`, `logs.csv` and `labels.csv`, with
    /// the swap laundering's truth in `swaps_truth.csv` and
    /// `swap_destinations_truth.csv`; prints the hack's seed.
    World {
        /// Events a store of the files will hold (top calls, internal and token transfers, fees).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seed; the same seed writes the same bytes.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Write only part K of P (`K/P`, K from 0): the blocks whose
        /// first event falls in the K-th P-th of the events. Parts ingested
        /// one after another build the whole world's store, each an append.
        #[arg(long, value_name = "K/P", conflicts_with = "window")]
        part: Option<String>,
        /// Write only the blocks whose first event falls in `A..B` (events
        /// counted from the start of the world): a few new blocks to append.
        #[arg(long, value_name = "A..B")]
        window: Option<String>,
    },
    /// The structured world as `world` writes it, straight to a store (no
    /// CSV; its labels imported): the base for the runs across processes
    /// (benches/processes.sh); prints the hack's seed
    WorldStore {
        /// Events the store will hold.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The store directory (must not exist).
        #[arg(long)]
        store: PathBuf,
    },
    /// Three chains (issue 16): an Ethereum and a Base world as above and a
    /// Bitcoin background as bitcoin-etl JSON, with laundering planted
    /// across THORChain and RenBridge after them and its truth in
    /// `truth.json` (`chaintrace::synth::multichain`); prints the seed.
    Multichain {
        /// Events of each world.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Seed; the same seed writes the same bytes.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Further renBTC burns with releases and decoys, to measure the
        /// heuristic links against (`truth.json`'s `heuristic`).
        #[arg(long, default_value_t = 0)]
        ren_cases: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// A synthetic Bitcoin chain (wallets, payments, consolidations,
    /// CoinJoin rounds; blocks from 700,000, 2,000 transactions each)
    /// written straight to a store: the base for Bitcoin append benchmarks.
    Utxo {
        /// Stop once this many inputs are made.
        #[arg(long, default_value_t = 1_000_000)]
        inputs: u64,
        /// Seed; the same seed writes the same store.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The store directory (must not exist).
        #[arg(long)]
        store: PathBuf,
    },
    /// Read and parse blockchain-etl CSV files as an ingest does, on every
    /// core, and drop the events (no interning, sort or write): the floor
    /// an ingest of the same files cannot beat. Prints MB/s a core.
    Parse {
        /// The files.
        files: Vec<PathBuf>,
    },
    /// Stream once over a store's event columns (sender, receiver, asset,
    /// value, flags) and print their digest: the floor a trace cannot beat.
    Scan {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
    },
    /// Answer every HTTP request with the bytes of one file, on one thread
    /// (tokio's current-thread runtime, as `serve --threads 1`): the floor
    /// under `benches/serve_open.sh`, what the stack and the kernel cost
    /// for an answer of that size with no work behind it. Prints
    /// `listening on http://ADDR` to standard error.
    HttpFloor {
        /// Address and port (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// The answer's body (served as application/json).
        #[arg(long)]
        body: PathBuf,
        /// `hyper`: hyper's HTTP/1 connections, as `serve` runs them, with
        /// no router; `raw`: read up to the end of each request's headers
        /// and write a response made once, no HTTP library at all.
        #[arg(long, value_enum, default_value = "hyper")]
        stack: Stack,
    },
}

/// The HTTP stack under `http-floor`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Stack {
    Hyper,
    Raw,
}

fn main() -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    match Args::parse().command {
        Command::Transactions { rows, seed, out } => {
            let f = std::fs::File::create(&out)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let n = chaintrace::synth::write_transactions(&mut w, rows, seed)?;
            eprintln!("{}: {rows} rows, {n} bytes in {:.1}s", out.display(), t.elapsed().as_secs_f64());
        }
        Command::Wide { rows, seed, stop_every, out } => {
            std::fs::create_dir_all(&out)?;
            let w = chaintrace::synth::write_wide(&out, rows, seed, stop_every)?;
            eprintln!("{}: {rows} rows, {} exchanges in {:.1}s", out.display(), w.stops, t.elapsed().as_secs_f64());
            println!("{}", w.seed);
        }
        Command::WorldStore { events, seed, store } => {
            anyhow::ensure!(!store.exists(), "{}: exists; give a new directory", store.display());
            let w = chaintrace::synth::write_world_store(&store, chaintrace::synth::world::Params::new(events, seed))?;
            eprintln!("{}: {} events, {} addresses in {:.1}s", store.display(), w.events, w.addresses, t.elapsed().as_secs_f64());
            println!("{}", w.exploiter);
        }
        Command::World { events, seed, out, part, window } => {
            let window = match (part, window) {
                (None, Some(w)) => {
                    let (a, b) = w.split_once("..").ok_or_else(|| anyhow::anyhow!("--window {w:?}: expected A..B"))?;
                    let (a, b): (u64, u64) = (a.parse()?, b.parse()?);
                    anyhow::ensure!(a < b, "--window {w:?}: A must be below B");
                    a..b
                }
                (None, None) => 0..u64::MAX,
                (Some(p), _) => {
                    let (k, n) = p.split_once('/').ok_or_else(|| anyhow::anyhow!("--part {p:?}: expected K/P"))?;
                    let (k, n): (u64, u64) = (k.parse()?, n.parse()?);
                    anyhow::ensure!(n > 0 && k < n, "--part {p:?}: K must be below P");
                    let at = |i: u64| if i == n { u64::MAX } else { (u128::from(events) * u128::from(i) / u128::from(n)) as u64 };
                    at(k)..at(k + 1)
                }
            };
            let w = chaintrace::synth::etl::write_world_etl_part(&out, chaintrace::synth::world::Params::new(events, seed), window)?;
            eprintln!(
                "{}: {} transactions, {} events, {} bytes in {:.1}s",
                out.display(),
                w.transactions,
                w.events,
                w.bytes,
                t.elapsed().as_secs_f64()
            );
            println!("{}", w.exploiter);
        }
        Command::Multichain { events, seed, ren_cases, out } => {
            let p =
                chaintrace::synth::multichain::MultiParams { ren_cases, ..chaintrace::synth::multichain::MultiParams::new(events, seed) };
            let w = chaintrace::synth::multichain::write_multichain_world(&out, p)?;
            eprintln!(
                "{}: three chains written in {:.1}s; the truth in {}",
                out.display(),
                t.elapsed().as_secs_f64(),
                w.truth_file.display()
            );
            println!("{}", w.exploiter);
        }
        Command::Utxo { inputs, seed, store } => {
            anyhow::ensure!(!store.exists(), "{}: already exists", store.display());
            chaintrace::synth::utxo::write_store(&store, chaintrace::synth::utxo::Params::for_inputs(inputs, seed))?;
            let s = chaintrace::store::Store::open(&store)?;
            eprintln!("{}: {} events, {} inputs in {:.1}s", store.display(), s.len(), s.manifest.inputs, t.elapsed().as_secs_f64());
        }
        Command::Parse { files } => {
            let opts = chaintrace::ingest::Options::new(chaintrace::model::Chain::Ethereum, chaintrace::ingest::Format::Etl);
            let (mut events, mut bytes) = (0u64, 0u64);
            for f in &files {
                let (r, e, b) = chaintrace::ingest::parse_floor(f, &opts)?;
                eprintln!("{}: {r} rows, {e} events, {b} bytes", f.display());
                (events, bytes) = (events + e, bytes + b);
            }
            let (secs, cores) = (t.elapsed().as_secs_f64(), rayon::current_num_threads());
            eprintln!(
                "parsed {events} events, {bytes} bytes in {secs:.2}s on {cores} cores: {:.0} MB/s a core",
                bytes as f64 / secs / 1e6 / cores as f64
            );
        }
        Command::Scan { store } => {
            let s = chaintrace::store::Store::open(&store)?;
            let ev = s.events();
            // A digest of every entry, so that nothing can be skipped.
            let mut d = 0u64;
            for i in 0..s.len() {
                d = d.wrapping_mul(31).wrapping_add(u64::from(ev.sender(i)) ^ u64::from(ev.receiver(i)) << 32);
                d ^= u64::from(ev.asset(i)) ^ ev.value.lo[i] ^ u64::from(ev.flags(i));
            }
            eprintln!("scan of {} events in {:.3}s", s.len(), t.elapsed().as_secs_f64());
            println!("{d:016x}");
        }
        Command::HttpFloor { listen, body, stack } => http_floor(listen, std::fs::read(&body)?, stack)?,
    }
    Ok(())
}

/// Serve `body` to every request until killed (`http-floor`).
fn http_floor(listen: std::net::SocketAddr, body: Vec<u8>, stack: Stack) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        eprintln!("listening on http://{}", listener.local_addr()?);
        let body = hyper::body::Bytes::from(body);
        let raw: std::sync::Arc<[u8]> = {
            let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
            r.extend_from_slice(&body);
            r.into()
        };
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            match stack {
                Stack::Hyper => {
                    let body = body.clone();
                    let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        async move {
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(axum::body::Body::from(body))
                        }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                Stack::Raw => {
                    let raw = raw.clone();
                    tokio::spawn(async move {
                        let (mut buf, mut have) = (vec![0u8; 64 * 1024], 0usize);
                        loop {
                            if stream.readable().await.is_err() {
                                return;
                            }
                            let n = match stream.try_read(&mut buf[have..]) {
                                Ok(0) => return,
                                Ok(n) => n,
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                                Err(_) => return,
                            };
                            have += n;
                            // Every complete request (GET: no body) gets the answer.
                            while let Some(end) = memchr::memmem::find(&buf[..have], b"\r\n\r\n") {
                                let mut sent = 0;
                                while sent < raw.len() {
                                    if stream.writable().await.is_err() {
                                        return;
                                    }
                                    match stream.try_write(&raw[sent..]) {
                                        Ok(n) => sent += n,
                                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                        Err(_) => return,
                                    }
                                }
                                buf.copy_within(end + 4..have, 0);
                                have -= end + 4;
                            }
                            if have == buf.len() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    })
}
