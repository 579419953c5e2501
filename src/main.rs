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
    /// Describe what a store holds.
    Stats {
        /// The store directory.
        #[arg(long)]
        store: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: StatsFormat,
    },
}

/// Exit status 1 is bad input or usage, 2 an internal error (INTERFACE.md).
fn exit_status(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest { store, chain, format, value_unit, skip_bad_rows, token_decimals, no_progress, files } => {
            if let Some(u) = &value_unit {
                if ingest::ethereum::unit_decimals(u).is_none() {
                    return Err(UsageError(format!("--value-unit {u:?}: expected wei, gwei, eth, sat or btc")).into());
                }
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
            let summary = ingest::ingest(&store, &files, &opts).with_context(|| format!("ingest into {} failed; the store is unchanged", store.display()))?;
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
            println!(
                "{}: {} events in the store ({:.2}s{peak})",
                store.display(),
                summary.store_events,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Stats { store, format } => {
            let s = chaintrace::store::Store::open(&store)?;
            s.verify()?;
            let st = chaintrace::stats::compute(&s);
            match format {
                StatsFormat::Json => println!("{}", serde_json::to_string_pretty(&st)?),
                StatsFormat::Table => print!("{}", chaintrace::stats::table(&st)),
            }
            Ok(())
        }
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
