//! Runs fuzz targets over files without libFuzzer: `replay [TARGET [FILE|DIR]...]`.
//! With no paths it replays `fuzz/corpus/TARGET` and `fuzz/regressions/TARGET`; with no target,
//! every target. Used by CI when the instrumented build is not available, and to reproduce a
//! crash under a debugger.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

fn files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        for e in v {
            files(&e, out);
        }
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let wanted: Vec<&(&str, fn(&[u8]))> = match args.first() {
        Some(t) => provmark_fuzz::TARGETS
            .iter()
            .filter(|(n, _)| n == t)
            .collect(),
        None => provmark_fuzz::TARGETS.iter().collect(),
    };
    if wanted.is_empty() {
        eprintln!(
            "unknown target; targets: {:?}",
            provmark_fuzz::TARGETS
                .iter()
                .map(|t| t.0)
                .collect::<Vec<_>>()
        );
        std::process::exit(2);
    }
    for (name, f) in wanted {
        let mut list = Vec::new();
        if args.len() > 1 {
            for a in &args[1..] {
                files(Path::new(a), &mut list);
            }
        } else {
            files(&root.join("corpus").join(name), &mut list);
            files(&root.join("regressions").join(name), &mut list);
        }
        for p in &list {
            let data = std::fs::read(p).unwrap_or_default();
            f(&data);
        }
        println!("{name}: {} inputs replayed", list.len());
    }
}
