//! Every text ingest format on any bytes, through the ingest's own parsers
//! (`ingest::parse_text`: header detection, the CSV and JSON-lines readers,
//! the block splitter, every table's row mapper): events or an error naming
//! the file, never a panic. The first byte picks the format and options;
//! the rest is the file.
//!
//! Two differentials hold on every input:
//! - split into one part or into three, the same events, rows and error
//!   (the parallel splitter and its line numbers against a single pass);
//! - a file that parses strictly parses the same with `--skip-bad-rows`,
//!   skipping nothing.
#![no_main]
use chaintrace::ingest::{Format, Options, parse_text};
use chaintrace::model::Chain;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn outcome(r: &Result<chaintrace::ingest::Parsed, chaintrace::ingest::IngestError>) -> String {
    match r {
        Ok(p) => format!("{} {} {} {:?}", p.table, p.rows, p.skipped, p.events),
        Err(e) => format!("error: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let format = [Format::Etl, Format::Etherscan, Format::Transfers, Format::Etl][usize::from(pick & 3)];
    let chain = if pick & 4 == 0 { Chain::Ethereum } else { Chain::Arbitrum };
    let mut opts = Options::new(chain, format);
    opts.value_unit = [None, Some("wei"), Some("eth"), Some("gwei")][usize::from(pick >> 3 & 3)].map(str::to_string);
    if pick & 0x20 != 0 {
        // An ERC-20 export's decimals, as `--token-decimals` gives them.
        opts.token_decimals.insert([0x11; 20], 6);
    }
    let path = Path::new("fuzz.csv");
    let strict = parse_text(path, text.to_vec(), &opts, 1);
    if let Err(e) = &strict {
        assert!(e.to_string().contains("fuzz.csv"), "an error names its file: {e}");
    }
    let split = parse_text(path, text.to_vec(), &opts, 3);
    assert_eq!(outcome(&strict), outcome(&split), "one part against three");
    opts.skip_bad_rows = true;
    let lenient = parse_text(path, text.to_vec(), &opts, 3);
    if strict.is_ok() {
        assert_eq!(outcome(&strict), outcome(&lenient), "strict against --skip-bad-rows");
    }
    if let Ok(l) = &lenient {
        assert!(l.skipped <= l.rows);
    }
});
