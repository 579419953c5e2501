//! Every field parser of the ingest on any bytes: an answer or an error,
//! never a panic; what parses prints back to text that parses to the same
//! value; and where an independent implementation reads the same form (the
//! `hex` crate for addresses and hashes, ruint for decimal integers,
//! chrono for RFC 3339 and plain date-times), the two agree on every input.
#![no_main]
use chaintrace::model::amount::Amount;
use chaintrace::model::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|t: &[u8]| {
    if let Ok(a) = text::eth_address("f", t) {
        let back = text::encode_hex("0x", &a);
        assert_eq!(text::eth_address("f", back.as_bytes()).ok(), Some(a));
    }
    if let Ok(h) = text::tx_hash("f", t) {
        let back = text::encode_hex("0x", &h);
        assert_eq!(text::tx_hash("f", back.as_bytes()).ok(), Some(h));
    }
    if let Ok(Some(n)) = text::opt_u64("f", t) {
        assert_eq!(text::opt_u64("f", n.to_string().as_bytes()).ok(), Some(Some(n)));
    }
    let _ = text::opt_index("f", t);
    let _ = text::opt_status("f", t);
    let _ = text::btc_address("f", t);
    if let Ok(a) = Amount::parse_base(t) {
        assert_eq!(Amount::parse_base(a.to_string().as_bytes()).ok().map(|b| b.0), Some(a.0));
    }
    for decimals in [0, 6, 18] {
        let _ = Amount::parse_decimal(t, decimals);
        let _ = text::amount("f", t, decimals);
    }
    if let Ok(Some(secs)) = text::opt_time("f", t) {
        let back = chaintrace::model::time::format_time(secs);
        assert_eq!(chaintrace::model::time::parse_time(back.as_bytes()), Some(secs), "{back}");
    }
    let _ = chaintrace::model::time::time_problem(t);
    independent(t);
});

/// The parsers against other implementations, on the forms both read.
fn independent(t: &[u8]) {
    let trimmed = t.trim_ascii();
    let body = [&b"0x"[..], b"0X", b"\\x"].iter().find_map(|p| trimmed.strip_prefix(*p)).unwrap_or(trimmed);
    if body.len() == 40 {
        let theirs = hex::decode(body).ok().map(|v| <[u8; 20]>::try_from(v).expect("40 hex digits are 20 bytes"));
        assert_eq!(text::eth_address("f", t).ok(), theirs, "address {:?}", String::from_utf8_lossy(t));
    }
    if body.len() == 64 {
        let theirs = hex::decode(body).ok().map(|v| <[u8; 32]>::try_from(v).expect("64 hex digits are 32 bytes"));
        assert_eq!(text::tx_hash("f", t).ok(), theirs, "hash {:?}", String::from_utf8_lossy(t));
    }
    times(trimmed);
    if !t.is_empty() && t.iter().all(u8::is_ascii_digit) {
        let digits = std::str::from_utf8(t).expect("ASCII digits");
        let theirs = ruint::aliases::U256::from_str_radix(digits, 10).ok();
        assert_eq!(Amount::parse_base(t).ok().map(|a| a.0), theirs, "integer {digits}");
    }
}

/// Times against chrono: where both read a text, the same second (chrono
/// keeps a leap second `:60` inside its minute, chaintrace carries it to
/// the next, so those are left out); and every second chaintrace prints,
/// chrono prints alike.
fn times(t: &[u8]) {
    use chrono::{DateTime, NaiveDateTime};
    let Ok(text) = std::str::from_utf8(t) else { return };
    let ours = chaintrace::model::time::parse_time(t);
    let leap = text.get(17..19) == Some("60");
    let theirs = DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp())
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok().map(|d| d.and_utc().timestamp()));
    if let (Some(a), Some(b)) = (ours, theirs) {
        if !leap {
            assert_eq!(a, b, "time {text:?}");
        }
    }
    if let Some(secs) = ours {
        let printed = DateTime::from_timestamp(secs, 0).expect("within chrono's range").format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert_eq!(chaintrace::model::time::format_time(secs), printed);
    }
}
