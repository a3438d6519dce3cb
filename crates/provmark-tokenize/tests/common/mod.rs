//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The read-only shared reference folder (`$PROVMARK_SHARED` or `../shared` next to the checkout),
/// or `None` when absent — tests that need it skip.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PROVMARK_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// The shared GPT-2 `tokenizer.json`, if present.
pub fn gpt2_tokenizer_json() -> Option<PathBuf> {
    let p = shared_dir()?.join("tokenizers/gpt2/tokenizer.json");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} absent", p.display());
        None
    }
}

/// Every string value of every record in the shared corpora (`corpora/*.jsonl`), in file order.
pub fn corpus_texts() -> Vec<String> {
    let Some(dir) = shared_dir() else {
        eprintln!("skipping corpus texts: shared folder absent");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir.join("corpora")) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    let mut texts = Vec::new();
    for f in files {
        let Ok(content) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in content.lines() {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
                for v in map.values() {
                    if let serde_json::Value::String(s) = v {
                        texts.push(s.clone());
                    }
                }
            }
        }
    }
    texts
}
