//! Helpers shared by the end-to-end tests that need the real model.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fetched model, or `None` with a visible skip line — a failure instead when
/// `PROVMARK_REQUIRE_MODEL=1` (as `.ci/run` sets after fetching), so CI cannot pass without
/// having run the tests.
pub fn model() -> Option<PathBuf> {
    let p = root().join("models/SmolLM2-135M-Instruct.Q8_0.gguf");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("PROVMARK_REQUIRE_MODEL").is_ok_and(|v| v == "1") {
        panic!("PROVMARK_REQUIRE_MODEL=1 but {} is missing", p.display());
    }
    eprintln!(
        "SKIPPED: {} is missing (run tools/fetch-model.sh)",
        p.display()
    );
    None
}
