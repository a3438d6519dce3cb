//! Differential properties of the corpus scan: for random corpora (with repeats and records
//! that are skipped), the report's content does not depend on the number of threads or the
//! memory budget (spilled or not), and the pooled statistic does not depend on how the corpus is
//! split into shards or in which order the shards are given. The JSONL reader gives the same
//! records for plain, gzip and zstd files.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Write;
use std::path::PathBuf;

use proptest::prelude::*;
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::input::{read_records, Compression, Fields, InputFile, InputFormat};
use provmark_scan::{scan, Progress, Report, ScanConfig};

const WORDS: &[&str] = &[
    "the", "model", "answer", "river", "quickly", "because", "seven", "garden", "policy", "under",
    "light", "market", "simple", "winter", "carry", "number", "across", "silver", "planet",
];

fn line(words: &[usize]) -> String {
    if words.is_empty() {
        return "{\"id\": \"no text\"}".into();
    }
    let text: Vec<&str> = words.iter().map(|&w| WORDS[w % WORDS.len()]).collect();
    serde_json::json!({ "text": text.join(" ") }).to_string()
}

/// The report without what legitimately differs between runs (time, run settings, MAC).
fn content(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["created", "run", "mac"] {
        o.remove(k);
    }
    v
}

fn run(profile: &Profile, inputs: Vec<PathBuf>, threads: usize, budget: usize) -> Report {
    let mut cfg = ScanConfig::new(inputs);
    cfg.threads = threads;
    cfg.memory_budget = budget;
    cfg.accounts = vec!["a1".into(), "a2".into()];
    scan(profile, &cfg, &Progress::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn scan_is_independent_of_threads_budget_and_shards(
        records in proptest::collection::vec(proptest::collection::vec(0usize..19, 0..60), 1..80),
        threads in 2usize..5,
        shards in 1usize..4,
        reverse in proptest::bool::ANY,
        gumbel in proptest::bool::ANY,
    ) {
        prop_assume!(records.iter().any(|r| r.len() >= 3));
        let scheme = if gumbel { Scheme::Gumbel } else { Scheme::DEFAULT_GREEN };
        let profile = Profile::from_secret(SecretKey::from_bytes([5; 32]), scheme, 2, TokenizerSpec::default_openai()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("all.jsonl");
        let lines: Vec<String> = records.iter().map(|r| line(r)).collect();
        std::fs::write(&whole, lines.join("\n")).unwrap();

        let base = run(&profile, vec![whole.clone()], 1, 768 << 20);
        // Threads and a budget small enough to spill: identical content.
        let other = run(&profile, vec![whole.clone()], threads, 1);
        prop_assert_eq!(content(&base), content(&other));

        // Shards, possibly in reverse order: the same pooled test.
        let per = lines.len().div_ceil(shards);
        let mut parts: Vec<PathBuf> = lines
            .chunks(per)
            .enumerate()
            .map(|(i, c)| {
                let p = dir.path().join(format!("part-{i}.jsonl"));
                std::fs::write(&p, c.join("\n")).unwrap();
                p
            })
            .collect();
        if reverse {
            parts.reverse();
        }
        let sharded = run(&profile, parts, threads, 768 << 20);
        prop_assert_eq!(&sharded.corpus.statistic, &base.corpus.statistic);
        prop_assert_eq!(sharded.corpus.log10_p, base.corpus.log10_p);
        prop_assert_eq!(sharded.corpus.scored_tokens, base.corpus.scored_tokens);
        prop_assert_eq!(&sharded.skipped_reasons, &base.skipped_reasons);
        // The accounts' tests; an account's evidence curve follows input order (as the master
        // key's does), so only its end point must agree.
        let tests = |r: &Report| -> Vec<_> {
            r.accounts
                .iter()
                .map(|a| {
                    let end = a.curve.last().map(|p| (p.scored_tokens, p.log10_p));
                    let mut a = a.clone();
                    a.curve.clear();
                    (a, end)
                })
                .collect()
        };
        prop_assert_eq!(tests(&sharded), tests(&base));
        prop_assert_eq!(&sharded.evidence, &base.evidence);
    }

    #[test]
    fn jsonl_reads_the_same_in_every_container(
        lines in proptest::collection::vec("[ -~]{0,40}", 0..30),
        crlf in proptest::bool::ANY,
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let data = lines.join(sep);
        let dir = tempfile::tempdir().unwrap();
        let fields = Fields { text: "text".into(), prompt: None, id: None };
        let read = |name: &str, bytes: &[u8], compression| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            read_records(&InputFile { path, format: InputFormat::Jsonl, compression, size: bytes.len() as u64 }, &fields).unwrap()
        };
        let plain = read("a.jsonl", data.as_bytes(), Compression::None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data.as_bytes()).unwrap();
        let gz = read("a.jsonl.gz", &gz.finish().unwrap(), Compression::Gzip);
        let zs = read("a.jsonl.zst", &zstd::encode_all(data.as_bytes(), 1).unwrap(), Compression::Zstd);
        prop_assert_eq!(&gz, &plain);
        prop_assert_eq!(&zs, &plain);
        let non_blank = lines.iter().filter(|l| !l.trim().is_empty()).count();
        prop_assert_eq!(plain.len(), non_blank);
    }
}
