//! The library is stacked one way (src/lib.rs): a module may import only the
//! modules below it. This test reads every source file and fails on any
//! `crate::` path that reaches sideways or up, so a cycle cannot come back
//! unnoticed.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its layer; a module may use only lower layers.
const LAYERS: &[(&str, u32)] = &[
    ("model", 0),
    ("sys", 0),
    ("store", 1),
    ("convert", 1),
    ("ingest", 2),
    ("labels", 3),
    ("cluster", 4),
    ("stats", 4),
    ("synth", 5),
    ("trace", 6),
    ("screen", 7),
    ("dataflow", 8),
    ("report", 8),
    ("app", 9),
    ("serve", 10),
];

fn layer(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file's code names through `crate::`.
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(p) = rest.find("crate::") {
            rest = &rest[p + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b}`: every first segment of the group.
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        refs.push(name);
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                refs.push(name);
            }
        }
    }
    refs
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if matches!(top.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let me = layer(&top).unwrap_or_else(|| panic!("src/{}: module `{top}` has no layer in tests/architecture.rs", rel.display()));
        for r in crate_refs(&std::fs::read_to_string(f).unwrap()) {
            checked += 1;
            if r == top {
                continue;
            }
            let Some(them) = layer(&r) else { panic!("src/{}: `crate::{r}` is not a module with a layer", rel.display()) };
            if them >= me {
                edges.entry((top.clone(), r)).or_default().push(rel.display().to_string());
            }
        }
    }
    assert!(checked > 100, "found only {checked} crate:: paths; the scan is broken");
    let report: Vec<String> = edges.iter().map(|((a, b), files)| format!("{a} -> {b} in {files:?}")).collect();
    assert!(report.is_empty(), "imports that reach sideways or up:\n{}", report.join("\n"));
}

/// `main.rs` parses arguments and reports errors: it calls the application
/// layer, never the engine's inner modules.
#[test]
fn the_command_line_calls_the_application_layer() {
    let main = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    for inner in ["chaintrace::trace::", "chaintrace::screen::", "chaintrace::report::", "chaintrace::ingest::ingest("] {
        let uses: Vec<&str> = main.lines().filter(|l| l.contains(inner) && !l.trim_start().starts_with("//")).collect();
        // Argument types (a policy, an engine shape, a risk level) are allowed; calls are not.
        let calls: Vec<&&str> = uses.iter().filter(|l| l.contains('(') && !l.contains("value_enum")).collect();
        assert!(calls.is_empty(), "main.rs calls {inner} directly: {calls:?}");
    }
}
