//! `chaintrace-gen`: write synthetic exports for benchmarks (see datasets/synthetic/README.md).

use clap::Parser;
use std::path::PathBuf;

/// Write a synthetic blockchain-etl `transactions.csv`.
#[derive(Parser)]
#[command(name = "chaintrace-gen", version)]
struct Args {
    /// Rows to write.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let f = std::fs::File::create(&a.out)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let t = std::time::Instant::now();
    let n = chaintrace::synth::write_transactions(&mut w, a.rows, a.seed)?;
    eprintln!("{}: {} rows, {} bytes in {:.1}s", a.out.display(), a.rows, n, t.elapsed().as_secs_f64());
    Ok(())
}
