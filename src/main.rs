//! The `chaintrace` command: parses arguments, calls the library, reports errors.

use chaintrace::app::{self, AppError, TextFormat};
use chaintrace::model::Chain;
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Follow stolen cryptocurrency through public blockchain exports.
#[derive(Parser)]
#[command(name = "chaintrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConversionsFormat {
    Json,
    Csv,
}

#[derive(Subcommand)]
enum LabelsCommand {
    /// Import label files (OFAC lists, Etherscan, eth-labels, Forta, GraphSense TagPacks,
    /// the Tornado Cash list, plain CSV `address,category[,label][,valid_from,valid_to]`).
    Import {
        /// Label file format (detected from the file when not given).
        #[arg(long, value_enum)]
        format: Option<chaintrace::labels::import::Format>,
        /// Skip bad rows (counted and reported) instead of stopping at the first.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Label files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Every label, by address, each address's labels in precedence order.
    List {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// The labels of one address, in precedence order (the first is the one reports show).
    Show {
        /// The address.
        address: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// Counts by category and source, entities, conflicts.
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// Find unlabelled exchange deposit addresses (Ethereum) from their sweeps
    /// to labelled exchange wallets, and label them.
    DetectDeposits {
        /// Most blocks between the first unswept receipt and the sweep
        /// (default: a day of the store's chain, 7,200 on Ethereum).
        #[arg(long)]
        max_blocks: Option<u64>,
        /// Shortfall a sweep may have against what it forwards, in basis points.
        #[arg(long, default_value_t = 100)]
        tolerance_bps: u32,
        /// Absolute shortfall allowed on top, in base units.
        #[arg(long, default_value = "10000000000000000")]
        dust: u128,
        /// Smallest share of the address's outflow, in basis points, that must go to the exchange.
        #[arg(long, default_value_t = 9_500)]
        min_share_bps: u32,
        /// Print what would be labelled without writing it.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `serve`: what the server takes on at once and what one trace may cost
/// (docs/screening.md).
#[derive(clap::Args)]
struct ServeLimits {
    /// Traces running at once (default: one per core; 0: none); one more is answered 429.
    #[arg(long)]
    max_traces: Option<usize>,
    /// Open connections; one more is answered 503 and closed.
    #[arg(long, default_value_t = 1_000)]
    max_connections: usize,
    /// Events one trace may visit; past it the trace stops and is answered 422 (default: no limit).
    #[arg(long)]
    max_trace_events: Option<u64>,
    /// Most evidence paths a destination in one trace request.
    #[arg(long, default_value_t = 100)]
    max_paths: usize,
    /// Most destinations with evidence paths in one trace request (`all`: no limit).
    #[arg(long, value_name = "N|all", default_value = "10000")]
    max_paths_for: chaintrace::report::PathsFor,
    /// Most flow edges in one trace request.
    #[arg(long, default_value_t = 10_000)]
    max_flow_edges: usize,
}

/// How Bitcoin addresses are clustered (docs/clustering.md).
#[derive(clap::Args, Clone, Copy)]
struct ClusterArgs {
    /// Hold back and flag a transaction that would join two clusters of at
    /// least this many addresses each (0: no guard).
    #[arg(long, default_value_t = chaintrace::cluster::DEFAULT_GUARD)]
    cluster_guard: u32,
    /// Let CoinJoin transactions join their inputs too (they are left out by default).
    #[arg(long)]
    keep_coinjoins: bool,
}

impl ClusterArgs {
    fn params(self) -> chaintrace::cluster::Params {
        chaintrace::cluster::Params { guard: self.cluster_guard, exclude_coinjoins: !self.keep_coinjoins }
    }
}

/// What screening asks (TRACING.md §4; docs/screening.md).
#[derive(clap::Args, Clone)]
struct ScreeningArgs {
    /// ETH (default) or a token contract; over several stores
    /// `CHAIN:ASSET`, once a chain (the others: their native coin).
    #[arg(long)]
    asset: Vec<String>,
    /// Risk categories, comma-separated (default: sanctioned, hack,
    /// ransomware, phishing, scam, darknet, terrorism, mixer).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Risk thresholds as JSON (docs/screening.md); defaults otherwise.
    #[arg(long)]
    risk_config: Option<PathBuf>,
    /// Bitcoin: answer over address clusters (common-input ownership): an
    /// address's answer is its cluster's, its members' exposures summed.
    #[arg(long)]
    cluster: bool,
    #[command(flatten)]
    cluster_args: ClusterArgs,
}

impl ScreeningArgs {
    fn request(self, format: app::screen::Format, output: Option<PathBuf>, follow: Vec<app::Follow>) -> app::screen::Request {
        let cluster = self.cluster.then(|| self.cluster_args.params());
        app::screen::Request {
            asset: self.asset,
            categories: self.categories,
            risk_config: self.risk_config,
            format,
            output,
            follow,
            cluster,
        }
    }
}

/// Saved cases (INTERFACE.md "Cases and watching"; ADR 0021).
// Parsed once a process: the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum CaseCommand {
    /// Save a trace question in the store, with notes: `case run` answers it
    /// again on the store's data as it is then.
    Create {
        /// The case's name (letters, digits, '.', '_', '-').
        name: String,
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        #[command(flatten)]
        query: app::trace::Query,
        /// A file of seeds: one address or transaction hash a line, `#`
        /// comments (read now and saved with the case).
        #[arg(long = "seed-file")]
        seed_files: Vec<PathBuf>,
        /// Bitcoin: trace over address clusters.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
        /// A note (repeatable).
        #[arg(long = "note")]
        notes: Vec<String>,
    },
    /// Answer a case on the current data, as `trace` with its options would,
    /// and save the answer with the store generation and the chaintrace
    /// version.
    Run {
        /// The case.
        name: String,
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: app::trace::Format,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The saved cases.
    List {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// A case: its question, notes and runs.
    Show {
        /// The case.
        name: String,
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// What changed since the last run (or `--from RUN`): destinations,
    /// dormant and horizon rows that appeared, went, or changed amount or
    /// hops, and the totals. Compares with an answer now, not saved, or
    /// with saved run `--to RUN`.
    Diff {
        /// The case.
        name: String,
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The earlier saved run (default: the last).
        #[arg(long)]
        from: Option<u32>,
        /// The later saved run (default: answer now).
        #[arg(long)]
        to: Option<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// Add a note to a case.
    Note {
        /// The case.
        name: String,
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The note.
        text: String,
    },
}

/// How input files are read (`ingest`, `watch`).
#[derive(clap::Args)]
struct ReadArgs {
    /// The input format.
    #[arg(long, value_enum)]
    format: chaintrace::ingest::Format,
    /// Unit of `value` in a transfers file: wei or sat (default), gwei, eth, btc.
    #[arg(long)]
    value_unit: Option<String>,
    /// Skip bad rows, count them and report the count, instead of stopping.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Decimals of a token in Etherscan ERC-20 exports: `0xCONTRACT=6` (repeatable).
    #[arg(long = "token-decimals", value_name = "CONTRACT=N")]
    token_decimals: Vec<String>,
    /// Memory budget (8GiB, 512MiB, bytes; default: a third of the
    /// machine's). A larger input is read a window of blocks at a time,
    /// each window an append.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
}

impl ReadArgs {
    fn request(self, chain: Chain, progress: bool) -> app::ingest::Request {
        let ReadArgs { format, value_unit, skip_bad_rows, token_decimals, memory } = self;
        app::ingest::Request { chain, format, value_unit, skip_bad_rows, token_decimals, progress, memory }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Load exports into a store (created if missing; loading again adds to it).
    Ingest {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The chain of the data.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Chain::ALL.map(Chain::name)).map(|c| Chain::from_name(&c).expect("a listed name")))]
        chain: Chain,
        #[command(flatten)]
        read: ReadArgs,
        /// Never draw a progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Input files, read in this order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Manage address labels (categories that make stops).
    Labels {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        #[command(subcommand)]
        command: LabelsCommand,
    },
    /// Trace funds from seed addresses or transactions (TRACING.md).
    Trace {
        /// The store directory; repeat it to trace several chains together
        /// (one store a chain, joined by `--follow bridges`).
        #[arg(long, required = true)]
        store: Vec<PathBuf>,
        #[command(flatten)]
        query: app::trace::Query,
        /// A file of seeds: one address or transaction hash a line, `#` comments.
        #[arg(long = "seed-file")]
        seed_files: Vec<PathBuf>,
        /// A separate case `NAME=SEEDFILE` (repeatable): each traced on its own,
        /// in parallel, one report each (with --output, a directory of NAME.json/csv/txt).
        #[arg(long = "case", value_name = "NAME=SEEDFILE")]
        cases: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: app::trace::Format,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Bitcoin: trace over address clusters (common-input ownership):
        /// a seed's cluster is seeded, a label on a member stops its cluster,
        /// report rows are clusters.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
        #[command(flatten)]
        placement: app::processes::Placement,
    },
    /// Saved cases: a trace question kept in the store, answered again on
    /// new data, each answer kept with what made it.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// Load each file that arrives in a directory (in name order, once,
    /// across restarts), answer the saved cases again, and print one JSON
    /// line per alert (and POST it to every webhook until it answers 2xx).
    Watch {
        /// The store directory (created by the first file if missing).
        #[arg(long)]
        store: PathBuf,
        /// The directory new files arrive in. Write each aside (a dot-name,
        /// `.tmp` or `.partial`) and rename it when it is whole.
        #[arg(long)]
        incoming: PathBuf,
        /// The chain of the data.
        #[arg(long, default_value = "ethereum", value_parser = clap::builder::PossibleValuesParser::new(Chain::ALL.map(Chain::name)).map(|c| Chain::from_name(&c).expect("a listed name")))]
        chain: Chain,
        #[command(flatten)]
        read: ReadArgs,
        /// An http:// URL each alert is POSTed to, with its id in the
        /// `webhook-id` header (repeatable).
        #[arg(long = "webhook", value_name = "URL")]
        webhooks: Vec<String>,
        /// Milliseconds between reads of the directory.
        #[arg(long, default_value_t = 250, value_name = "MS")]
        poll_ms: u64,
        /// Milliseconds before a failed delivery is tried again, doubled
        /// at each failure up to 64 times this.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        retry_ms: u64,
        /// Load the files there now (as they are), deliver every alert, and stop.
        #[arg(long)]
        once: bool,
        /// Stop at a file that fails to load (default: report it, leave it out, go on).
        #[arg(long)]
        stop_on_error: bool,
        /// Most files taken as one batch: the files ready at a poll are
        /// loaded one by one, then the cases answered once for all of them.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        max_batch: u32,
    },
    /// Bitcoin address clusters by common-input ownership, CoinJoins left out.
    Cluster {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        #[command(flatten)]
        cluster_args: ClusterArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
        #[command(subcommand)]
        command: app::cluster::Question,
    },
    /// Screen addresses for exposure to risk categories (TRACING.md §4):
    /// one answer per address, in input order.
    Screen {
        /// The store directory; several `--store`s (one chain each) give one
        /// answer per address and store.
        #[arg(long, required = true)]
        store: Vec<PathBuf>,
        /// Carry exposure across bridges between the stores (TRACING.md §7):
        /// `bridges`, or `bridges-heuristic` for heuristic links too.
        #[arg(long, value_delimiter = ',')]
        follow: Vec<app::Follow>,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: app::screen::Format,
        #[command(flatten)]
        screening: ScreeningArgs,
        /// Exit with status 3 when any address reaches this level.
        #[arg(long, value_enum)]
        fail_above: Option<chaintrace::screen::risk::Level>,
        /// Write the answer here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        placement: app::processes::Placement,
        /// A file of addresses: one a line, `#` comments.
        address_file: PathBuf,
    },
    /// Serve screening and tracing over HTTP (docs/openapi.json).
    Serve {
        /// The store directory (followed: a new generation is picked up).
        #[arg(long)]
        store: PathBuf,
        /// Address and port (port 0: any free port, printed on standard error).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        screening: ScreeningArgs,
        /// Most addresses in one POST /v1/screen.
        #[arg(long, default_value_t = 100_000)]
        max_batch: usize,
        /// Largest request body in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_body: usize,
        /// Longest a request may take, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        request_timeout_ms: u64,
        /// Longest a client may take to send its request headers, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        header_timeout_ms: u64,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        limits: ServeLimits,
    },
    /// Write a store's events, addresses and labels as Parquet files.
    Export {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The directory to write events.parquet, addresses.parquet,
        /// labels.parquet and logs.parquet into (default: DIR/export).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List every conversion (swap) the store's logs and events show,
    /// followable or ambiguous (TRACING.md §7; needs blockchain-etl `logs`
    /// ingested).
    Conversions {
        /// The store directory; repeat it to match bridge deposits to payouts on other chains.
        #[arg(long, required = true)]
        store: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ConversionsFormat,
    },
    /// Describe what a store holds.
    Stats {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
        /// Bitcoin: add the address clusters (a `clusters` object in JSON).
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
    },
    /// Cut a store into one part per process of a run across hosts
    /// (`--processes P --parts DIR`): process I's part holds the events its
    /// addresses send or receive, so its host needs that part alone.
    Partition {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Processes the runs will have.
        #[arg(long, value_name = "P")]
        processes: usize,
        /// The new directory for the parts (DIR/part-I, DIR/parts.json).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
    /// Merge a store's segments into one. Every append adds a segment and
    /// the store merges its newest ones as they pile up; this merges all.
    Compact {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Merge only the lookup structures (address and transaction-hash
        /// indexes, final balances) into one run each, in one new segment:
        /// appends then probe one table, not one per part of a bulk load.
        /// Writes a few bytes an event instead of a copy of the store.
        #[arg(long)]
        lookups: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: TextFormat,
    },
}

/// `screen --fail-above`: some address reached the level (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("screening found addresses at or above the --fail-above level")]
struct FailAbove;

/// Exit status 1 is bad input or usage, 2 an internal error, 3 `--fail-above` (INTERFACE.md).
fn exit_status(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.downcast_ref::<FailAbove>().is_some() {
            return 3;
        }
        if let Some(a) = cause.downcast_ref::<AppError>() {
            return a.exit_status();
        }
        // The library's own errors, should one reach here without an AppError around it.
        if let Some(s) = cause.downcast_ref::<chaintrace::store::StoreError>() {
            return app::store_status(s);
        }
        if cause.downcast_ref::<chaintrace::ingest::IngestError>().is_some() {
            return 1;
        }
    }
    2
}

/// Write to standard output; a reader that closed the pipe early (`| head`) is not an error.
fn stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print(text: Option<String>) -> anyhow::Result<()> {
    text.map_or(Ok(()), |t| stdout(&t))
}

fn timing_on() -> bool {
    std::env::var_os("CHAINTRACE_TIMING").is_some()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest { store, chain, read, no_progress, files } => {
            let req = read.request(chain, !no_progress);
            let opts = app::ingest::plan(&req)?;
            let started = std::time::Instant::now();
            let summary = app::ingest::run(&store, &files, &opts)
                .map_err(|e| anyhow::Error::new(e).context(format!("ingest into {} failed; the store is unchanged", store.display())))?;
            for f in &summary.files {
                if f.already_loaded {
                    eprintln!("{}: already loaded (same content), skipped", f.path);
                } else {
                    eprintln!(
                        "{}: {} rows as {}, {} events added, {} already in the store, {} bad rows skipped",
                        f.path, f.rows, f.table, f.events, f.duplicates, f.skipped_rows
                    );
                }
            }
            let skipped: u64 = summary.files.iter().map(|f| f.skipped_rows).sum();
            if skipped > 0 {
                eprintln!("warning: {skipped} bad rows skipped (--skip-bad-rows); `chaintrace stats` shows the total");
            }
            let peak = chaintrace::sys::peak_rss_bytes().map_or_else(String::new, |b| format!(", peak memory {:.0} MiB", mib(b)));
            println!("{}: {} events in the store ({:.2}s{peak})", store.display(), summary.store_events, started.elapsed().as_secs_f64());
            for w in &summary.warnings {
                eprintln!("chaintrace: warning: {w}");
            }
            Ok(())
        }
        Command::Labels { store, command } => labels(&store, command),
        Command::Trace { store, query, seed_files, cases, format, output, cluster, cluster_args, placement } => {
            let cluster = cluster.then(|| cluster_args.params());
            let plan = app::trace::plan(app::trace::Request { query, seed_files, cases, format, output, cluster })?;
            let run = app::processes::plan(&placement)?;
            if run != app::processes::Run::Single && store.len() > 1 {
                return Err(AppError::Usage("--processes and --workers trace one --store".into()).into());
            }
            let opened = store.iter().map(|d| app::open_verified(d)).collect::<Result<Vec<_>, _>>()?;
            let s = &opened[0];
            let started = std::time::Instant::now();
            let traced = if run == app::processes::Run::Single {
                app::trace::run_stores(&opened.iter().collect::<Vec<_>>(), &plan)?
            } else {
                let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
                let exe = std::env::current_exe()?;
                match app::processes::placed(run, &exe, &args, |w| app::trace::run_on_workers(s, &plan, w, placement.parts.as_deref()))? {
                    Some(t) => t,
                    // Process 0 writes the report.
                    None => return Ok(()),
                }
            };
            // A process given a part times the whole store's events.
            let whole = chaintrace::store::part::whole_len(s);
            for t in &traced {
                if timing_on() {
                    eprintln!(
                        "timing: sweep of {} events in {:.3}s, heap at the end of the sweep {:.0} MiB, {} events visited; report built in {:.3}s",
                        whole,
                        t.notes.sweep_seconds,
                        mib(t.notes.sweep_heap_bytes),
                        t.notes.visited,
                        t.notes.report_seconds
                    );
                    let x = t.notes.exchange;
                    if x.rounds > 0 {
                        eprintln!("timing: across workers {x}");
                    }
                }
                for w in &t.notes.warnings {
                    if t.name.is_empty() { eprintln!("warning: {w}") } else { eprintln!("warning: case {}: {w}", t.name) }
                }
            }
            if timing_on() {
                let peak = mib(chaintrace::sys::peak_rss_bytes().unwrap_or(0));
                eprintln!("timing: trace of {whole} events in {:.3}s, peak memory {peak:.0} MiB", started.elapsed().as_secs_f64());
            }
            // Only tables and graphs read it: a damaged file costs symbols, not the trace.
            let book = chaintrace::store::tokens::book(&s.dir).unwrap_or_else(|e| {
                eprintln!("warning: {e}; amounts of tokens are shown in base units");
                Default::default()
            });
            let delivered = std::time::Instant::now();
            let text = app::trace::deliver(&plan, &traced, s.manifest.chain, &book)?;
            if timing_on() {
                eprintln!("timing: report written in {:.3}s", delivered.elapsed().as_secs_f64());
            }
            // The process ends here: freeing a wide report's rows one by one
            // would cost more than the exit that returns them at once.
            std::mem::forget(traced);
            print(text)
        }
        Command::Case { command } => case(command),
        Command::Watch { store, incoming, chain, read, webhooks, poll_ms, retry_ms, once, stop_on_error, max_batch } => {
            let req = read.request(chain, false);
            let opts = app::watch::Options {
                store,
                incoming,
                ingest: app::ingest::plan(&req)?,
                webhooks,
                poll: std::time::Duration::from_millis(poll_ms.max(1)),
                retry: std::time::Duration::from_millis(retry_ms.max(1)),
                once,
                stop_on_error,
                max_batch: max_batch as usize,
            };
            let mut print = |line: &str| {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                // A closed pipe must not stop the store's appends; the log keeps every alert.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            };
            let w = app::watch::watch(&opts, &mut print)?;
            eprintln!("watch: {} files loaded, {} failed, {} alerts", w.files, w.failed, w.alerts);
            Ok(())
        }
        Command::Partition { store, processes, out, format } => {
            let s = app::open_verified(&store)?;
            stdout(&app::stats::partition(&s, processes, &out, format)?)
        }
        Command::Compact { store, lookups, format } => stdout(&app::stats::compact(&store, lookups, format)?),
        Command::Conversions { store, format } => {
            let opened = store.iter().map(|d| app::open_verified(d)).collect::<Result<Vec<_>, _>>()?;
            let format = match format {
                ConversionsFormat::Json => app::conversions::Format::Json,
                ConversionsFormat::Csv => app::conversions::Format::Csv,
            };
            stdout(&app::conversions::list(&opened.iter().collect::<Vec<_>>(), format)?)
        }
        Command::Stats { store, format, cluster, cluster_args } => {
            let s = app::open_verified(&store)?;
            stdout(&app::stats::describe(&s, format, cluster.then(|| cluster_args.params()))?)
        }
        Command::Screen { store, follow, format, screening, fail_above, output, placement, address_file } => {
            let req = screening.request(format, output, follow);
            let plan = app::screen::plan(&req, &address_file)?;
            let mut run = app::processes::plan(&placement)?;
            if run != app::processes::Run::Single && store.len() > 1 {
                return Err(AppError::Usage("--processes and --workers screen one --store".into()).into());
            }
            let opened = store.iter().map(|d| app::open_verified(d)).collect::<Result<Vec<_>, _>>()?;
            // An index already built answers here; only the processes of a
            // run across hosts cannot know it, and build it again together.
            if run != app::processes::Run::Single && run.is_local() && app::screen::has_index(&opened[0], &req, &plan)? {
                run = app::processes::Run::Single;
            }
            let got = if run == app::processes::Run::Single {
                app::screen::run_stores(&opened.iter().collect::<Vec<_>>(), &req, &plan)?
            } else {
                let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
                let exe = std::env::current_exe()?;
                match app::processes::placed(run, &exe, &args, |w| {
                    app::screen::run_on_workers(&opened[0], &req, &plan, w, placement.parts.as_deref())
                })? {
                    Some(g) => g,
                    // Process 0 writes the index and the answer.
                    None => return Ok(()),
                }
            };
            if let Some(secs) = got.built_index {
                let how = if got.updated_index { "updated" } else { "built" };
                eprintln!("{how} the exposure index of {} in {secs:.3}s", got.asset);
            }
            if let Some(x) = got.exchange.filter(|_| timing_on()) {
                eprintln!("timing: across workers {x}");
            }
            print(app::screen::deliver(&req, &got.answer)?)?;
            if let Some(level) = fail_above {
                let hits = app::screen::at_or_above(&got.answer, level);
                if hits > 0 {
                    eprintln!("{hits} of {} addresses reach the --fail-above level", got.answer.results.len());
                    return Err(FailAbove.into());
                }
            }
            Ok(())
        }
        Command::Serve { store, listen, screening, max_batch, max_body, request_timeout_ms, header_timeout_ms, threads, limits } => {
            let mut c = chaintrace::serve::Config::new(listen);
            c.risk = app::screen::risk_config(screening.risk_config.as_deref())?;
            c.categories = app::screen::categories(&screening.categories);
            if screening.asset.len() > 1 {
                return Err(AppError::Usage("serve screens one asset: give --asset once".into()).into());
            }
            c.cluster = screening.cluster.then(|| screening.cluster_args.params());
            c.asset = screening.asset.into_iter().next();
            c.max_batch = max_batch;
            c.max_body = max_body;
            c.request_timeout = std::time::Duration::from_millis(request_timeout_ms);
            c.header_timeout = std::time::Duration::from_millis(header_timeout_ms);
            c.threads = threads;
            let d = chaintrace::serve::Limits::default();
            c.limits = chaintrace::serve::Limits {
                traces: limits.max_traces.unwrap_or(d.traces),
                connections: limits.max_connections,
                trace_events: limits.max_trace_events,
                paths: limits.max_paths,
                paths_for: limits.max_paths_for,
                flow_edges: limits.max_flow_edges,
            };
            chaintrace::serve::run(&store, c).map_err(|e| match e {
                chaintrace::serve::ServeError::App(a) => anyhow::Error::new(a),
                other => anyhow::Error::new(other),
            })
        }
        Command::Export { store, out } => {
            let out = out.unwrap_or_else(|| store.join("export"));
            let s = app::open_verified(&store)?;
            let e = app::stats::export(&s, &out)?;
            println!(
                "{}: {} events, {} addresses, {} labels, {} logs written as Parquet",
                out.display(),
                e.events,
                e.addresses,
                e.labels,
                e.logs
            );
            Ok(())
        }
        Command::Cluster { store, cluster_args, format, command } => {
            let s = app::open_verified(&store)?;
            stdout(&app::cluster::answer(&s, cluster_args.params(), &command, format)?)
        }
    }
}

fn case(command: CaseCommand) -> anyhow::Result<()> {
    use chaintrace::app::case as cs;
    match command {
        CaseCommand::Create { name, store, query, seed_files, cluster, cluster_args, notes } => {
            let c = cs::create(&store, &name, query, &seed_files, cluster.then(|| cluster_args.params()), &notes)?;
            eprintln!("case {} saved in {} ({} seeds)", c.name, store.display(), c.question.seeds.len() + c.question.seed_txs.len());
            Ok(())
        }
        CaseCommand::Run { name, store, format, output } => {
            if format == app::trace::Format::Parquet && output.is_none() {
                return Err(AppError::Usage("--format parquet writes files: give --output FILE".into()).into());
            }
            let s = app::open_verified(&store)?;
            let (traced, mut run) = cs::run(&store, &s, &name)?;
            for w in &traced.notes.warnings {
                eprintln!("warning: {w}");
            }
            let plan = app::trace::Plan { cases: Vec::new(), format, output, cluster: None };
            let book = chaintrace::store::tokens::book(&s.dir).unwrap_or_else(|e| {
                eprintln!("warning: {e}; amounts of tokens are shown in base units");
                Default::default()
            });
            // Saved once the report is delivered: a run that failed to
            // write its report is not a run.
            let text = app::trace::deliver(&plan, std::slice::from_ref(&traced), s.manifest.chain, &book)?;
            let n = cs::save(&store, &mut run)?;
            eprintln!("case {name}: run {n} saved ({}, {} events, chaintrace {})", run.data.generation, run.data.events, run.chaintrace);
            print(text)
        }
        CaseCommand::List { store, format } => {
            let listed = cs::list(&store)?;
            match format {
                TextFormat::Json => stdout(&app::pretty_json(&listed)?),
                TextFormat::Table => {
                    let mut t = format!("{:<24} {:<8} {:>6} {:>6} {:>5}  {}\n", "case", "policy", "seeds", "notes", "runs", "last run on");
                    for c in &listed {
                        let policy = serde_json::to_value(c.policy)?.as_str().unwrap_or("").to_string();
                        t += &format!(
                            "{:<24} {:<8} {:>6} {:>6} {:>5}  {}\n",
                            c.name,
                            policy,
                            c.seeds,
                            c.notes,
                            c.runs,
                            c.last_generation.as_deref().unwrap_or("-")
                        );
                    }
                    stdout(&t)
                }
            }
        }
        CaseCommand::Show { name, store, format } => {
            let shown = cs::show(&store, &name)?;
            match format {
                TextFormat::Json => stdout(&app::pretty_json(&shown)?),
                TextFormat::Table => {
                    let c = &shown.case;
                    let mut t = format!("case {}, created {}\nquestion {}\n", c.name, c.created, serde_json::to_string(&c.question)?);
                    for n in &c.notes {
                        t += &format!("note {}: {}\n", n.time, n.text);
                    }
                    for r in &shown.runs {
                        t += &format!(
                            "run {:>4}: {}, {} events, {} files, chaintrace {}; at destinations {}\n",
                            r.run,
                            r.generation,
                            r.events,
                            r.files,
                            r.chaintrace,
                            r.destinations.as_deref().unwrap_or("-")
                        );
                    }
                    stdout(&t)
                }
            }
        }
        CaseCommand::Diff { name, store, from, to, format } => {
            let d = cs::diff(&store, || app::open_verified(&store), &name, from, to)?;
            match format {
                TextFormat::Json => stdout(&app::pretty_json(&d)?),
                TextFormat::Table => stdout(&cs::diff_table(&d)),
            }
        }
        CaseCommand::Note { name, store, text } => {
            let c = cs::add_note(&store, &name, &text)?;
            eprintln!("case {}: {} notes", c.name, c.notes.len());
            Ok(())
        }
    }
}

fn labels(store: &std::path::Path, command: LabelsCommand) -> anyhow::Result<()> {
    use chaintrace::labels as lb;
    match command {
        LabelsCommand::Import { format, skip_bad_rows, files } => {
            let (files, added, total) = app::labels::import(store, &files, format, skip_bad_rows)?;
            let mut read = 0;
            for f in &files {
                eprintln!(
                    "{}: {} rows as {}, {} labels, {} rows for another chain left out, {} bad rows skipped ({:.2}s)",
                    f.path,
                    f.got.rows,
                    serde_json::to_value(f.got.format)?.as_str().unwrap_or(""),
                    f.labels,
                    f.got.other_chain,
                    f.got.skipped,
                    f.seconds
                );
                read += f.labels;
            }
            println!("{}: {read} label rows read, {added} new, {total} in the store", store.display());
            Ok(())
        }
        LabelsCommand::List { category, format } => {
            let s = app::open(store)?;
            stdout(&app::labels::render(&app::labels::list(&s, category.as_deref()), format)?)
        }
        LabelsCommand::Show { address, format } => {
            let s = app::open(store)?;
            let (key, rows) = app::labels::show(&s, &address)?;
            if rows.is_empty() {
                eprintln!("{key}: no labels");
            }
            stdout(&app::labels::render(&rows, format)?)
        }
        LabelsCommand::Stats { format } => {
            let s = app::open(store)?;
            stdout(&app::labels::stats(&s, format)?)
        }
        LabelsCommand::DetectDeposits { max_blocks, tolerance_bps, dust, min_share_bps, dry_run } => {
            let s = app::open(store)?;
            let max_blocks = max_blocks.unwrap_or(s.manifest.chain.blocks_per_day());
            let found = app::labels::detect_deposits(&s, &lb::deposits::Params { max_blocks, tolerance_bps, dust, min_share_bps })?;
            drop(s);
            eprintln!(
                "{} sweeps into labelled exchange wallets; {} deposit addresses found, {} candidates turned down",
                found.sweeps,
                found.labels.len(),
                found.rejected
            );
            if dry_run {
                return stdout(&app::labels::render(&found.labels, TextFormat::Table)?);
            }
            let (added, total) = lb::save(store, &found.labels).map_err(AppError::from)?;
            println!("{}: {} deposit addresses labelled, {added} new, {total} labels in the store", store.display(), found.labels.len());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    // A panic a library call is guarded against is reported as an error;
    // it is not printed twice.
    chaintrace::sys::quiet_panics(chaintrace::sys::panic_is_guarded);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_status(&e))
        }
    }
}
