//! The `chaintrace` command: parses arguments, calls the library, reports errors.

use anyhow::Context;
use chaintrace::error::{IngestError, StoreError};
use chaintrace::ingest::{self, Format};
use chaintrace::model::Chain;
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::HashMap;
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
enum ChainArg {
    Ethereum,
    Bitcoin,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
    Json,
    Csv,
    Table,
    /// Graphviz: the flow along the evidence paths (`dot -Tsvg`).
    Dot,
    /// Parquet tables (needs --output): the rows, and the evidence steps beside them.
    Parquet,
    /// One self-contained HTML page: summary, tables, an interactive flow graph, evidence paths.
    Html,
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
        format: StatsFormat,
    },
    /// The labels of one address, in precedence order (the first is the one reports show).
    Show {
        /// The address.
        address: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: StatsFormat,
    },
    /// Counts by category and source, entities, conflicts.
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: StatsFormat,
    },
    /// Find unlabelled exchange deposit addresses (Ethereum) from their sweeps
    /// to labelled exchange wallets, and label them.
    DetectDeposits {
        /// Most blocks between the first unswept receipt and the sweep.
        #[arg(long, default_value_t = 7_200)]
        max_blocks: u64,
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

#[derive(Subcommand)]
enum ClusterCommand {
    /// Counts, and the largest clusters with their labels.
    Stats {
        /// How many of the largest clusters to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// The cluster of an address: its members and every member's labels.
    Show {
        /// The address.
        address: String,
        /// Most members to list.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Why two addresses are one cluster: the transactions whose inputs joined them.
    Explain {
        /// One address.
        a: String,
        /// Another address.
        b: String,
    },
    /// Transactions the super-cluster guard held back.
    Flagged,
    /// Transactions left out as CoinJoins.
    Coinjoins,
}

/// What screening asks (TRACING.md §4; docs/screening.md).
#[derive(clap::Args, Clone)]
struct ScreeningArgs {
    /// ETH (default) or a token contract.
    #[arg(long)]
    asset: Option<String>,
    /// Risk categories, comma-separated (default: sanctioned, hack,
    /// ransomware, phishing, scam, darknet, terrorism, mixer).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Risk thresholds as JSON (docs/screening.md); defaults otherwise.
    #[arg(long)]
    risk_config: Option<PathBuf>,
}

impl ScreeningArgs {
    fn categories(&self) -> chaintrace::screen::CategorySet {
        if self.categories.is_empty() {
            chaintrace::screen::CategorySet::default_set()
        } else {
            chaintrace::screen::CategorySet::new(self.categories.iter().map(String::as_str))
        }
    }

    fn risk(&self) -> anyhow::Result<chaintrace::screen::risk::RiskConfig> {
        let Some(p) = &self.risk_config else { return Ok(Default::default()) };
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(chaintrace::screen::risk::RiskConfig::from_json(&text).map_err(|e| UsageError(format!("{}: {e}", p.display())))?)
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ScreenFormat {
    Json,
    Csv,
    /// Parquet (needs --output).
    Parquet,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum StatsFormat {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Load exports into a store (created if missing; loading again adds to it).
    Ingest {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The chain of the data.
        #[arg(long, value_enum)]
        chain: ChainArg,
        /// The input format.
        #[arg(long, value_enum)]
        format: Format,
        /// Unit of `value` in a transfers file: wei or sat (default), gwei, eth, btc.
        #[arg(long)]
        value_unit: Option<String>,
        /// Skip bad rows, count them and report the count, instead of stopping.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Decimals of a token in Etherscan ERC-20 exports: `0xCONTRACT=6` (repeatable).
        #[arg(long = "token-decimals", value_name = "CONTRACT=N")]
        token_decimals: Vec<String>,
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
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// poison (who is reachable), haircut (proportional) or fifo.
        #[arg(long, value_enum)]
        policy: chaintrace::trace::Policy,
        /// A seed address (repeatable); a 0x-prefixed 64-hex-digit value is a
        /// transaction, and on Bitcoin `txid:vout` an output.
        #[arg(long = "seed")]
        seeds: Vec<String>,
        /// A seed transaction hash (repeatable).
        #[arg(long = "seed-tx")]
        seed_txs: Vec<String>,
        /// A file of seeds: one address or transaction hash a line, `#` comments.
        #[arg(long = "seed-file")]
        seed_files: Vec<PathBuf>,
        /// A separate case `NAME=SEEDFILE` (repeatable): each traced on its own,
        /// in parallel, one report each (with --output, a directory of NAME.json/csv/txt).
        #[arg(long = "case", value_name = "NAME=SEEDFILE")]
        cases: Vec<String>,
        /// ETH/BTC (default) or a token contract.
        #[arg(long)]
        asset: Option<String>,
        /// Categories that absorb taint, comma-separated (e.g. exchange,mixer).
        #[arg(long, value_delimiter = ',')]
        stop_at: Vec<String>,
        /// Stop following funds after N hops (N >= 1).
        #[arg(long)]
        max_hops: Option<u32>,
        /// First block (inclusive).
        #[arg(long)]
        from_block: Option<u64>,
        /// Last block (inclusive).
        #[arg(long)]
        to_block: Option<u64>,
        /// Evidence paths per destination.
        #[arg(long, default_value_t = 3)]
        paths: usize,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Force the account sweep's shape: sparse (only events that can move
        /// taint) or full (every event); both give the same report. Default:
        /// sparse unless a block window asks for full.
        #[arg(long, value_enum, hide_short_help = true)]
        engine: Option<chaintrace::trace::Engine>,
        /// Bitcoin: trace over address clusters (common-input ownership):
        /// a seed's cluster is seeded, a label on a member stops its cluster,
        /// report rows are clusters.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
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
        format: StatsFormat,
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Screen addresses for exposure to risk categories (TRACING.md §4):
    /// one answer per address, in input order.
    Screen {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ScreenFormat,
        #[command(flatten)]
        screening: ScreeningArgs,
        /// Exit with status 3 when any address reaches this level.
        #[arg(long, value_enum)]
        fail_above: Option<chaintrace::screen::risk::Level>,
        /// Write the answer here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
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
    },
    /// Write a store's events, addresses and labels as Parquet files.
    Export {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// The directory to write events.parquet, addresses.parquet and
        /// labels.parquet into (default: DIR/export).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Describe what a store holds.
    Stats {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: StatsFormat,
        /// Bitcoin: add the address clusters (a `clusters` object in JSON).
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        cluster_args: ClusterArgs,
    },
}

/// Exit status 1 is bad input or usage, 2 an internal error (INTERFACE.md).
fn exit_status(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.downcast_ref::<FailAbove>().is_some() {
            return 3;
        }
        if let Some(ie) = cause.downcast_ref::<IngestError>() {
            return match ie {
                IngestError::Store(s) => store_status(s),
                _ => 1,
            };
        }
        if let Some(se) = cause.downcast_ref::<StoreError>() {
            return store_status(se);
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return 1;
        }
    }
    2
}

fn store_status(e: &StoreError) -> u8 {
    match e {
        StoreError::Missing(_) | StoreError::Version { .. } | StoreError::Mismatch { .. } => 1,
        StoreError::Io { .. } | StoreError::Corrupt { .. } => 2,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// `screen --fail-above`: some address reached the level (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("screening found addresses at or above the --fail-above level")]
struct FailAbove;

/// The address clusters of a Bitcoin store; on another chain a usage error.
fn bitcoin_clusters(s: &chaintrace::store::Store, params: chaintrace::cluster::Params) -> anyhow::Result<chaintrace::cluster::Clustering> {
    if s.manifest.chain != Chain::Bitcoin {
        return Err(UsageError("address clustering needs a Bitcoin store: it joins the inputs of a transaction".into()).into());
    }
    Ok(chaintrace::cluster::Clustering::build(s, params))
}

fn trace_error(e: chaintrace::trace::TraceError) -> anyhow::Error {
    use chaintrace::trace::TraceError;
    match e {
        TraceError::Usage(m) => UsageError(m).into(),
        TraceError::Store(e) => e.into(),
        e @ TraceError::Internal(_) => e.into(),
    }
}

fn screen_error(e: chaintrace::screen::ScreenError) -> anyhow::Error {
    use chaintrace::screen::ScreenError;
    match e {
        ScreenError::Usage(m) | ScreenError::TooLarge(m) => UsageError(m).into(),
        ScreenError::Store(s) => s.into(),
        other => other.into(),
    }
}

fn parse_token_decimals(items: &[String]) -> anyhow::Result<HashMap<[u8; 20], u32>> {
    let mut m = HashMap::new();
    for it in items {
        let (a, d) = it.split_once('=').ok_or_else(|| UsageError(format!("--token-decimals {it:?}: expected CONTRACT=N")))?;
        let addr = chaintrace::ingest::fields::eth_address("--token-decimals", a.as_bytes())
            .map_err(|e| UsageError(format!("--token-decimals {it:?}: {}", e.message)))?;
        let d: u32 = d.parse().ok().filter(|d| *d <= 77).ok_or_else(|| UsageError(format!("--token-decimals {it:?}: N must be 0..77")))?;
        m.insert(addr, d);
    }
    Ok(m)
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest { store, chain, format, value_unit, skip_bad_rows, token_decimals, no_progress, files } => {
            if let Some(u) = &value_unit
                && ingest::ethereum::unit_decimals(u).is_none()
            {
                return Err(UsageError(format!("--value-unit {u:?}: expected wei, gwei, eth, sat or btc")).into());
            }
            if format == Format::Etherscan && matches!(chain, ChainArg::Bitcoin) {
                return Err(UsageError("--format etherscan reads Etherscan's Ethereum exports: use --chain ethereum".into()).into());
            }
            let opts = ingest::Options {
                chain: match chain {
                    ChainArg::Ethereum => Chain::Ethereum,
                    ChainArg::Bitcoin => Chain::Bitcoin,
                },
                format,
                value_unit,
                skip_bad_rows,
                token_decimals: parse_token_decimals(&token_decimals)?,
                progress: !no_progress,
            };
            let started = std::time::Instant::now();
            let summary = ingest::ingest(&store, &files, &opts)
                .with_context(|| format!("ingest into {} failed; the store is unchanged", store.display()))?;
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
            let peak = chaintrace::peak_rss_bytes().map_or_else(String::new, |b| format!(", peak memory {:.0} MiB", b as f64 / 1048576.0));
            println!("{}: {} events in the store ({:.2}s{peak})", store.display(), summary.store_events, started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Labels { store, command } => labels(&store, command),
        Command::Trace {
            store,
            policy,
            seeds,
            seed_txs,
            seed_files,
            cases,
            asset,
            stop_at,
            max_hops,
            from_block,
            to_block,
            paths,
            format,
            output,
            engine,
            cluster,
            cluster_args,
        } => {
            use chaintrace::trace;
            if max_hops == Some(0) {
                return Err(UsageError("--max-hops 0: the horizon must be at least 1 hop".into()).into());
            }
            let mut items = seeds;
            for f in &seed_files {
                items.extend(trace::read_seed_file(f).map_err(|e| UsageError(e.to_string()))?);
            }
            let mut named: Vec<(String, Vec<String>)> = Vec::new();
            for c in &cases {
                let (name, file) = c.split_once('=').ok_or_else(|| UsageError(format!("--case {c:?}: expected NAME=SEEDFILE")))?;
                if name.is_empty() || name.contains(['/', '\\']) {
                    return Err(UsageError(format!("--case {c:?}: the name must be non-empty and have no slashes")).into());
                }
                let seeds = trace::read_seed_file(std::path::Path::new(file)).map_err(|e| UsageError(e.to_string()))?;
                named.push((name.to_string(), seeds));
            }
            if !named.is_empty() && (!items.is_empty() || !seed_txs.is_empty()) {
                return Err(UsageError("--case cannot be combined with --seed, --seed-tx or --seed-file".into()).into());
            }
            if named.is_empty() {
                if items.is_empty() && seed_txs.is_empty() {
                    return Err(UsageError("give at least one --seed, --seed-tx, --seed-file or --case".into()).into());
                }
                named.push((String::new(), items));
            }
            let s = chaintrace::store::Store::open(&store)?;
            s.verify()?;
            let clusters = if cluster { Some(std::sync::Arc::new(bitcoin_clusters(&s, cluster_args.params())?)) } else { None };
            let started = std::time::Instant::now();
            // Cases are independent: one trace each, in parallel.
            use rayon::prelude::*;
            let results: Vec<anyhow::Result<(String, chaintrace::report::Report, Vec<String>)>> = named
                .par_iter()
                .map(|(name, items)| {
                    let q = trace::Query {
                        policy,
                        seeds: items.clone(),
                        seed_txs: if name.is_empty() { seed_txs.clone() } else { Vec::new() },
                        asset: asset.clone(),
                        stop_at: stop_at.clone(),
                        max_hops,
                        from_block,
                        to_block,
                        paths,
                        engine,
                        clusters: clusters.clone(),
                    };
                    let (report, notes) = trace::answer(&s, &q).map_err(trace_error)?;
                    if std::env::var_os("CHAINTRACE_TIMING").is_some() {
                        eprintln!(
                            "timing: sweep of {} events in {:.3}s, heap at the end of the sweep {:.0} MiB, {} events visited",
                            s.len(),
                            notes.sweep_seconds,
                            notes.sweep_heap_bytes as f64 / 1048576.0,
                            notes.visited
                        );
                    }
                    Ok((name.clone(), report, notes.warnings))
                })
                .collect();
            let mut reports = Vec::new();
            for r in results {
                let (name, report, warnings) = r?;
                for w in warnings {
                    if name.is_empty() { eprintln!("warning: {w}") } else { eprintln!("warning: case {name}: {w}") }
                }
                reports.push((name, report));
            }
            if std::env::var_os("CHAINTRACE_TIMING").is_some() {
                let peak = chaintrace::peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0;
                eprintln!("timing: trace of {} events in {:.3}s, peak memory {peak:.0} MiB", s.len(), started.elapsed().as_secs_f64());
            }
            let render = |r: &chaintrace::report::Report| -> anyhow::Result<String> {
                Ok(match format {
                    ReportFormat::Json => serde_json::to_string_pretty(r)? + "\n",
                    ReportFormat::Csv => chaintrace::report::to_csv(r),
                    ReportFormat::Table => chaintrace::report::to_table(r, s.manifest.chain),
                    ReportFormat::Dot => chaintrace::report::dot::to_dot(r, chaintrace::report::decimals(s.manifest.chain, &r.asset)),
                    ReportFormat::Html => chaintrace::report::html::to_html(r, s.manifest.chain),
                    ReportFormat::Parquet => unreachable!("Parquet is written to files"),
                })
            };
            if format == ReportFormat::Parquet {
                let Some(out) = &output else {
                    return Err(UsageError("--format parquet writes files: give --output FILE (a directory with --case)".into()).into());
                };
                if cases.is_empty() {
                    chaintrace::report::parquet::write_trace(&reports[0].1, out)?;
                } else {
                    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
                    for (name, r) in &reports {
                        chaintrace::report::parquet::write_trace(r, &out.join(format!("{name}.parquet")))?;
                    }
                }
                return Ok(());
            }
            if cases.is_empty() {
                let text = render(&reports[0].1)?;
                match output {
                    Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
                    None => stdout(&text)?,
                }
                return Ok(());
            }
            reports.sort_by(|a, b| a.0.cmp(&b.0));
            match output {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                    let ext = match format {
                        ReportFormat::Json => "json",
                        ReportFormat::Csv => "csv",
                        ReportFormat::Table => "txt",
                        ReportFormat::Dot => "dot",
                        ReportFormat::Parquet => "parquet",
                        ReportFormat::Html => "html",
                    };
                    for (name, r) in &reports {
                        let p = dir.join(format!("{name}.{ext}"));
                        std::fs::write(&p, render(r)?).with_context(|| format!("writing {}", p.display()))?;
                    }
                }
                None if format == ReportFormat::Json => {
                    let map: std::collections::BTreeMap<&str, &chaintrace::report::Report> =
                        reports.iter().map(|(n, r)| (n.as_str(), r)).collect();
                    stdout(&(serde_json::to_string_pretty(&map)? + "\n"))?;
                }
                None => {
                    let mut text = String::new();
                    for (name, r) in &reports {
                        text += &format!("== case {name} ==\n{}\n", render(r)?);
                    }
                    stdout(&text)?;
                }
            }
            Ok(())
        }
        Command::Stats { store, format, cluster, cluster_args } => {
            let s = chaintrace::store::Store::open(&store)?;
            s.verify()?;
            let st = chaintrace::stats::compute(&s);
            let clusters =
                if cluster { Some(chaintrace::cluster::summary(&s, &bitcoin_clusters(&s, cluster_args.params())?, 10)) } else { None };
            match format {
                StatsFormat::Json => {
                    let mut v = serde_json::to_value(&st)?;
                    if let Some(c) = &clusters {
                        v["clusters"] = serde_json::to_value(c)?;
                    }
                    stdout(&(serde_json::to_string_pretty(&v)? + "\n"))?
                }
                StatsFormat::Table => {
                    let mut t = chaintrace::stats::table(&st);
                    if let Some(c) = &clusters {
                        use chaintrace::cluster::view::Table;
                        t += &format!("\naddress clusters (common-input ownership)\n{}", c.table());
                    }
                    stdout(&t)?
                }
            }
            Ok(())
        }
        Command::Screen { store, format, screening, fail_above, output, address_file } => {
            use chaintrace::screen::{self, answer};
            let risk = screening.risk()?;
            let keys = answer::read_addresses(&address_file)?;
            let s = chaintrace::store::Store::open(&store)?;
            s.verify()?;
            let asset_id = chaintrace::trace::resolve_asset(&s, screening.asset.as_deref()).map_err(trace_error)?;
            let cats = screening.categories();
            let started = std::time::Instant::now();
            let (ix, built) = screen::open_or_build(&s, asset_id, &cats).map_err(screen_error)?;
            if built {
                eprintln!(
                    "built the exposure index of {} in {:.2}s",
                    s.manifest.assets[asset_id as usize],
                    started.elapsed().as_secs_f64()
                );
            }
            let a = answer::Screener { store: &s, index: &ix, risk: &risk }.screen(&keys);
            let text = match format {
                ScreenFormat::Json => serde_json::to_string_pretty(&a)? + "\n",
                ScreenFormat::Csv => answer::to_csv(&a),
                ScreenFormat::Parquet => String::new(),
            };
            match (format, output) {
                (ScreenFormat::Parquet, Some(p)) => chaintrace::report::parquet::write_screen(&a, &p)?,
                (ScreenFormat::Parquet, None) => return Err(UsageError("--format parquet writes a file: give --output FILE".into()).into()),
                (_, Some(p)) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
                (_, None) => stdout(&text)?,
            }
            if let Some(level) = fail_above {
                let hits = a.results.iter().filter(|r| r.risk >= level).count();
                if hits > 0 {
                    eprintln!("{hits} of {} addresses reach the --fail-above level", a.results.len());
                    return Err(FailAbove.into());
                }
            }
            Ok(())
        }
        Command::Serve { store, listen, screening, max_batch, max_body, request_timeout_ms, header_timeout_ms, threads } => {
            let mut c = chaintrace::serve::Config::new(listen);
            c.risk = screening.risk()?;
            c.categories = screening.categories();
            c.asset = screening.asset;
            c.max_batch = max_batch;
            c.max_body = max_body;
            c.request_timeout = std::time::Duration::from_millis(request_timeout_ms);
            c.header_timeout = std::time::Duration::from_millis(header_timeout_ms);
            c.threads = threads;
            chaintrace::serve::run(&store, c).map_err(|e| match e {
                chaintrace::serve::ServeError::Usage(m) => UsageError(m).into(),
                chaintrace::serve::ServeError::Screen(e) => screen_error(e),
                other => anyhow::Error::from(other),
            })
        }
        Command::Export { store, out } => {
            let out = out.unwrap_or_else(|| store.join("export"));
            let s = chaintrace::store::Store::open(&store)?;
            s.verify()?;
            let e = chaintrace::report::parquet::export(&s, &out)?;
            println!("{}: {} events, {} addresses, {} labels written as Parquet", out.display(), e.events, e.addresses, e.labels);
            Ok(())
        }
        Command::Cluster { store, cluster_args, format, command } => clusters(&store, cluster_args.params(), format, command),
    }
}

fn labels(store: &std::path::Path, command: LabelsCommand) -> anyhow::Result<()> {
    use chaintrace::labels as lb;
    let s = chaintrace::store::Store::open(store)?;
    let chain = s.manifest.chain;
    let print = |rows: &[lb::Label], format: StatsFormat| -> anyhow::Result<()> {
        match format {
            StatsFormat::Json => stdout(&(serde_json::to_string_pretty(rows)? + "\n")),
            StatsFormat::Table => {
                let mut t = String::from("address\tcategory\tentity\tlabel\tsource\tconfidence\tvalid\tevidence\n");
                for l in rows {
                    t += &lb::table_line(l);
                    t.push('\n');
                }
                stdout(&t)
            }
        }
    };
    match command {
        LabelsCommand::Import { format, skip_bad_rows, files } => {
            drop(s);
            let mut all = Vec::new();
            for f in &files {
                let started = std::time::Instant::now();
                let got = lb::import::import(f, format, chain, skip_bad_rows)?;
                eprintln!(
                    "{}: {} rows as {}, {} labels, {} rows for another chain left out, {} bad rows skipped ({:.2}s)",
                    f.display(),
                    got.rows,
                    serde_json::to_value(got.format)?.as_str().unwrap_or(""),
                    got.labels.len(),
                    got.other_chain,
                    got.skipped,
                    started.elapsed().as_secs_f64()
                );
                all.extend(got.labels);
            }
            let (added, total) = chaintrace::store::write::import_labels(store, &all)?;
            println!("{}: {} label rows read, {added} new, {total} in the store", store.display(), all.len());
            Ok(())
        }
        LabelsCommand::List { category, format } => {
            let rows: Vec<lb::Label> = lb::by_address(s.labels())
                .into_iter()
                .filter(|l| category.as_ref().is_none_or(|c| l.category == c.to_ascii_lowercase()))
                .collect();
            print(&rows, format)
        }
        LabelsCommand::Show { address, format } => {
            let key = lb::address_text(chain, "address", address.as_bytes()).map_err(|e| anyhow::anyhow!("{address}: {}", e.message))?;
            let rows = lb::by_address(s.labels().into_iter().filter(|l| l.address == key).collect());
            if rows.is_empty() {
                eprintln!("{key}: no labels");
            }
            print(&rows, format)
        }
        LabelsCommand::Stats { format } => {
            let labels = s.labels();
            let found = s.find_addresses(labels.iter().map(|l| l.address.as_str()));
            let st = lb::stats(&labels, |a| found.contains_key(a));
            match format {
                StatsFormat::Json => stdout(&(serde_json::to_string_pretty(&st)? + "\n")),
                StatsFormat::Table => {
                    let mut t = format!(
                        "labels\t{}\naddresses\t{}\naddresses in the data\t{}\nentities\t{}\nwith a validity interval\t{}\naddresses with conflicting categories\t{}\n",
                        st.labels, st.addresses, st.addresses_in_data, st.entities, st.bounded, st.conflicting_addresses
                    );
                    for (c, n) in &st.categories {
                        t += &format!("category {c}\t{n}\n");
                    }
                    for (c, n) in &st.sources {
                        t += &format!("source {c}\t{n}\n");
                    }
                    stdout(&t)
                }
            }
        }
        LabelsCommand::DetectDeposits { max_blocks, tolerance_bps, dust, min_share_bps, dry_run } => {
            if chain != Chain::Ethereum {
                anyhow::bail!("deposit-address detection is for Ethereum stores; on Bitcoin use clustering");
            }
            s.verify()?;
            let p = lb::deposits::Params { max_blocks, tolerance_bps, dust, min_share_bps };
            let found = lb::deposits::detect(&s, &s.labels(), &p);
            drop(s);
            eprintln!(
                "{} sweeps into labelled exchange wallets; {} deposit addresses found, {} candidates turned down",
                found.sweeps,
                found.labels.len(),
                found.rejected
            );
            if dry_run {
                return print(&found.labels, StatsFormat::Table);
            }
            let (added, total) = chaintrace::store::write::import_labels(store, &found.labels)?;
            println!("{}: {} deposit addresses labelled, {added} new, {total} labels in the store", store.display(), found.labels.len());
            Ok(())
        }
    }
}

fn clusters(
    store: &std::path::Path,
    params: chaintrace::cluster::Params,
    format: StatsFormat,
    command: ClusterCommand,
) -> anyhow::Result<()> {
    use chaintrace::cluster::{self, view};
    let s = chaintrace::store::Store::open(store)?;
    s.verify()?;
    let find = |text: &str| -> anyhow::Result<u32> {
        s.find_address(text.trim()).ok_or_else(|| UsageError(format!("{text}: not an address of this store")).into())
    };
    fn emit<T: serde::Serialize + view::Table>(v: &T, format: StatsFormat) -> anyhow::Result<()> {
        match format {
            StatsFormat::Json => stdout(&(serde_json::to_string_pretty(v)? + "\n")),
            StatsFormat::Table => stdout(&v.table()),
        }
    }
    let c = bitcoin_clusters(&s, params)?;
    match command {
        ClusterCommand::Stats { top } => emit(&cluster::summary(&s, &c, top), format),
        ClusterCommand::Show { address, limit } => emit(&view::show(&s, &c, find(&address)?, limit), format),
        ClusterCommand::Explain { a, b } => match view::explain(&s, &c, find(&a)?, find(&b)?) {
            Some(steps) => emit(&steps, format),
            None => Err(UsageError(format!("{a} and {b} are in different clusters")).into()),
        },
        ClusterCommand::Flagged => emit(&view::flagged(&s, &c), format),
        ClusterCommand::Coinjoins => emit(&view::coinjoins(&s, &c), format),
    }
}

fn main() -> ExitCode {
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
