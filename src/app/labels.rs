//! `chaintrace labels`: import label files, list and show them, count them,
//! and find exchange deposit addresses.

use super::{AppError, TextFormat, pretty_json};
use crate::labels::{self as lb, Label};
use crate::store::Store;
use std::path::Path;

/// What one label file gave.
#[derive(Clone, Debug)]
pub struct FileImport {
    /// The file.
    pub path: String,
    /// What the file held and was read as (its labels moved out).
    pub got: lb::import::Imported,
    /// Labels the file gave.
    pub labels: usize,
    /// Seconds spent reading it.
    pub seconds: f64,
}

/// Import label files into a store. Every file is read before the store
/// changes, so one bad file leaves it as it was.
pub fn import(
    dir: &Path,
    files: &[std::path::PathBuf],
    format: Option<lb::import::Format>,
    skip_bad_rows: bool,
) -> Result<(Vec<FileImport>, u64, u64), AppError> {
    let chain = Store::open(dir)?.manifest.chain;
    let mut reports = Vec::new();
    let mut all = Vec::new();
    for f in files {
        let started = std::time::Instant::now();
        let mut got = lb::import::import(f, format, chain, skip_bad_rows)?;
        let labels = got.labels.len();
        all.append(&mut got.labels);
        let seconds = started.elapsed().as_secs_f64();
        reports.push(FileImport { path: f.display().to_string(), got, labels, seconds });
    }
    let (added, total) = lb::save(dir, &all)?;
    Ok((reports, added, total))
}

/// Labels as a table or JSON.
pub fn render(rows: &[Label], format: TextFormat) -> Result<String, AppError> {
    match format {
        TextFormat::Json => pretty_json(rows),
        TextFormat::Table => {
            let mut t = String::from("address\tcategory\tentity\tlabel\tsource\tconfidence\tvalid\tevidence\n");
            for l in rows {
                t += &lb::table_line(l);
                t.push('\n');
            }
            Ok(t)
        }
    }
}

/// Every label by address (each address's labels in precedence order),
/// optionally of one category.
pub fn list(s: &Store, category: Option<&str>) -> Vec<Label> {
    lb::by_address(lb::load(s)).into_iter().filter(|l| category.is_none_or(|c| l.category == c.to_ascii_lowercase())).collect()
}

/// The labels of one address, in precedence order; a malformed address is a usage error.
pub fn show(s: &Store, address: &str) -> Result<(String, Vec<Label>), AppError> {
    let key = lb::address_text(s.manifest.chain, "address", address.as_bytes())
        .map_err(|e| AppError::Usage(format!("{address}: {}", e.message)))?;
    let rows = lb::by_address(lb::load(s).into_iter().filter(|l| l.address == key).collect());
    Ok((key, rows))
}

/// Counts by category and source, entities, conflicts.
pub fn stats(s: &Store, format: TextFormat) -> Result<String, AppError> {
    let labels = lb::load(s);
    let found = s.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let st = lb::stats(&labels, |a| found.contains_key(a));
    match format {
        TextFormat::Json => pretty_json(&st),
        TextFormat::Table => {
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
            Ok(t)
        }
    }
}

/// Find unlabelled exchange deposit addresses (Ethereum only).
pub fn detect_deposits(s: &Store, p: &lb::deposits::Params) -> Result<lb::deposits::Found, AppError> {
    if !s.manifest.chain.is_account() {
        return Err(AppError::Usage(
            "deposit-address detection is for account chains (Ethereum and EVM chains); on Bitcoin use clustering".into(),
        ));
    }
    for (name, bps) in [("--tolerance-bps", p.tolerance_bps), ("--min-share-bps", p.min_share_bps)] {
        if bps > 10_000 {
            return Err(AppError::Usage(format!("{name} {bps}: basis points run from 0 to 10,000")));
        }
    }
    s.verify()?;
    Ok(lb::deposits::detect(s, &lb::load(s), p))
}
