//! A damaged store is refused, never trusted. A small real store (the
//! Lazarus transfers and the bundled labels of their addresses, in two
//! generations) is set up once; every run changes its files as the input
//! says (bytes flipped, inserted or deleted, files cut short) and puts
//! them back after. Opening it and checking every column
//! (`Store::open`, `verify_all`) must then refuse it with an error, or the
//! store must answer exactly as the undamaged one does (events, labels, a
//! haircut and a poison trace report). Never a panic.
//!
//! The input is a list of 6-byte changes: file, operation, a 24-bit
//! offset (taken modulo the file's length) and a byte.
#![no_main]
use chaintrace::store::Store;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Template {
    dir: PathBuf,
    files: Vec<PathBuf>,
    answers: String,
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("the template").map(|e| e.expect("an entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() { files_under(&p, out) } else { out.push(p) }
    }
}

/// What the store answers: events, labels and two trace reports.
fn answers(s: &Store) -> Result<String, String> {
    let mut out = format!("{} events\n{:?}\n", s.len(), chaintrace::labels::load(s));
    for policy in ["haircut", "poison"] {
        let q: chaintrace::app::trace::Query = serde_json::from_str(&format!(
            r#"{{"policy": "{policy}", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["exchange", "mixer"]}}"#
        ))
        .expect("a query");
        let (report, _) = chaintrace::app::trace::answer(s, &q).map_err(|e| e.to_string())?;
        out += &serde_json::to_string(&report).expect("a report is JSON");
    }
    Ok(out)
}

static TEMPLATE: LazyLock<Template> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("chaintrace-fuzz-store-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = Path::new(ROOT).join("../datasets");
    let opts = chaintrace::ingest::Options::new(chaintrace::model::Chain::Ethereum, chaintrace::ingest::Format::Transfers);
    chaintrace::ingest::ingest(&dir, &[data.join("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")], &opts)
        .expect("the sample ingests");
    // The bundled labels of the sample's own addresses (10 of 819 rows):
    // the others change no answer, and parsing them on every run of every
    // accepted store was a third of this target's time.
    let sample = std::fs::read_to_string(data.join("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv"))
        .expect("the sample")
        .to_ascii_lowercase();
    let all = std::fs::read_to_string(data.join("labels/ethereum-labels.csv")).expect("the labels");
    let mut lines = all.lines();
    let mut kept = format!("{}\n", lines.next().expect("a header"));
    for l in lines.filter(|l| l.split(',').next().is_some_and(|a| sample.contains(&a.to_ascii_lowercase()))) {
        kept += l;
        kept.push('\n');
    }
    let labels = dir.with_extension("labels.csv");
    std::fs::write(&labels, kept).expect("the labels kept");
    chaintrace::app::labels::import(&dir, &[labels], None, false).expect("the labels import");
    let s = Store::open(&dir).expect("the template opens");
    let answers = answers(&s).expect("the template answers");
    drop(s);
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    files.retain(|f| !f.ends_with("LOCK") && !f.ends_with("VERIFIED"));
    Template { dir, files, answers }
});

/// The scratch store every run changes: hard links to the template's files,
/// so that a run copies only the files its input changes. This is sound
/// because no store code writes a file in place (segments, manifests and
/// `CURRENT` are written under new names and renamed, and these runs only
/// read): a changed file is replaced by a file of its own, never written
/// through its link, and linked back after the run.
static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
    let t = &*TEMPLATE;
    let dir = std::env::temp_dir().join(format!("chaintrace-fuzz-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for f in &t.files {
        let to = dir.join(f.strip_prefix(&t.dir).expect("under the template"));
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("a scratch directory");
        std::fs::hard_link(f, &to).expect("a link to the template");
    }
    dir
});

/// Put the scratch store back as the template is: changed files linked
/// again, and whatever the run added (a `VERIFIED` cache, a lock) removed.
fn restore(dir: &Path, changed: &[PathBuf]) {
    let t = &*TEMPLATE;
    for rel in changed {
        let _ = std::fs::remove_file(dir.join(rel));
        std::fs::hard_link(t.dir.join(rel), dir.join(rel)).expect("a link to the template");
    }
    let mut now = Vec::new();
    files_under(dir, &mut now);
    for f in now {
        if !t.files.contains(&t.dir.join(f.strip_prefix(dir).expect("under the scratch store"))) {
            std::fs::remove_file(&f).expect("an added file removed");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = &*TEMPLATE;
    let dir = &*SCRATCH;
    let mut changed = Vec::new();
    for c in data.chunks_exact(6).take(4) {
        let rel = t.files[usize::from(c[0]) % t.files.len()].strip_prefix(&t.dir).expect("under the template").to_path_buf();
        let file = dir.join(&rel);
        let mut bytes = std::fs::read(&file).expect("a store file");
        let at = (usize::from(c[2]) | usize::from(c[3]) << 8 | usize::from(c[4]) << 16) % (bytes.len() + 1);
        match c[1] % 4 {
            0 if at < bytes.len() => bytes[at] ^= c[5] | 1,
            1 => bytes.truncate(at),
            2 => bytes.insert(at, c[5]),
            3 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => continue,
        }
        // Replaced, not written through the link to the template.
        std::fs::remove_file(&file).expect("a store file");
        std::fs::write(&file, bytes).expect("a changed store file");
        changed.push(rel);
    }
    if !changed.is_empty() {
        let accepted = Store::open(dir).and_then(|s| s.verify_all().map(|()| s));
        if let Ok(s) = accepted {
            // Accepted: then it must be the same store. (A change that a
            // check cannot see must be one that changes nothing read.)
            if let Ok(a) = answers(&s) {
                assert_eq!(a, t.answers, "a damaged store was trusted and answers differently");
            }
        }
    }
    restore(dir, &changed);
});
