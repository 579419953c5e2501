//! The CSV field splitter against the `csv` crate: on every record both
//! accept, the same fields. One record: input with a line break is left to
//! the record splitter's own tests.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if line.is_empty() || line.contains(&b'\n') || line.contains(&b'\r') {
        return;
    }
    let mut ours = Vec::new();
    let accepted = chaintrace::ingest::csv::split_record(line, &mut ours).is_ok();
    let mut theirs = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line);
    let mut record = csv::ByteRecord::new();
    let Ok(true) = theirs.read_byte_record(&mut record) else { return };
    if accepted {
        let fields: Vec<&[u8]> = ours.iter().map(|f| &f[..]).collect();
        let expected: Vec<&[u8]> = record.iter().collect();
        assert_eq!(fields, expected, "fields of {:?}", String::from_utf8_lossy(line));
    }
});
