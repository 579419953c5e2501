//! Every label importer on any bytes (`labels::import::import_bytes`, as
//! `chaintrace labels import` reads a file): labels or an error naming the
//! file, never a panic. The first byte picks the format (or detection),
//! the file name (some formats take their label from it), the chain and
//! `--skip-bad-rows`; the rest is the file.
//!
//! What holds of every import:
//! - each label's address is the chain's canonical text of itself;
//! - the row the store keeps of a label reads back to the same row;
//! - a file that imports strictly imports the same with `--skip-bad-rows`,
//!   skipping nothing.
#![no_main]
use chaintrace::labels::import::{Format, import_bytes};
use chaintrace::labels::{address_text, from_tsv, to_tsv};
use chaintrace::model::Chain;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const FORMATS: [Option<Format>; 11] = [
    None,
    Some(Format::Csv),
    Some(Format::OfacList),
    Some(Format::OfacEntity),
    Some(Format::EtherscanJson),
    Some(Format::EtherscanCsv),
    Some(Format::EthLabels),
    Some(Format::Forta),
    Some(Format::GraphsenseYaml),
    Some(Format::GraphsenseCsv),
    Some(Format::Tornado),
];

const NAMES: [&str; 4] = ["labels.csv", "sanctioned_addresses_ETH.json", "exchange.csv", "binance.yaml"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else { return };
    let format = FORMATS[usize::from(pick & 15) % FORMATS.len()];
    let name = NAMES[usize::from(pick >> 4 & 3)];
    let chain = if pick & 0x40 == 0 { Chain::Ethereum } else { Chain::Bitcoin };
    let path = Path::new(name);
    let strict = import_bytes(path, file.to_vec(), format, chain, false);
    let lenient = import_bytes(path, file.to_vec(), format, chain, true);
    match &strict {
        Err(e) => assert!(e.to_string().contains(name), "an error names its file: {e}"),
        Ok(got) => {
            for l in &got.labels {
                let canonical = address_text(chain, "address", l.address.as_bytes());
                assert_eq!(canonical.as_deref().ok(), Some(l.address.as_str()), "label address {:?}", l.address);
            }
            let rows = to_tsv(&got.labels);
            assert_eq!(to_tsv(&from_tsv(&rows)), rows, "stored rows read back");
            let again = lenient.as_ref().expect("imports strictly, so leniently too");
            assert_eq!(again.labels, got.labels);
            assert_eq!(again.skipped, 0);
        }
    }
});
