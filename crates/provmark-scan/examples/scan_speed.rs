//! Scan throughput against tokenizer-only on the same text, measured in the same run.
//!
//! ```text
//! cargo run --release -p provmark-scan --example scan_speed -- FILE FIELD [--copies K] [--shuffle]
//!     [--threads 1,2] [--memory MiB] [--accounts N]
//! ```
//!
//! Reads the texts of one JSONL field, repeats them `--copies` times (with `--shuffle`, every
//! copy after the first permutes each text's words, so the copies add new distinct pairs instead
//! of duplicates), writes that corpus as a JSONL file, then measures:
//!
//! 1. **tokenizer only** — one thread, texts already in memory, `encode_into` over all of them
//!    (the best of two passes);
//! 2. **scan** with each thread count — the whole pipeline from the JSONL file on disk (read,
//!    parse, tokenize, score, dedup, merge, report), as `provmark scan` runs it, each in a fresh
//!    child process (as the CLI: see `child_scan`).
//!
//! Prints one JSON line per measurement with tokens/s, the ratio to tokenizer-only, and the
//! process CPU seconds used (`/proc/self/stat`), which shows how much of a second core the
//! reader thread used. For a strict one-core figure run the whole example under `taskset -c 0`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::{scan, Progress, ScanConfig};
use provmark_tokenize::Tokenizer;

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-scan") {
        child_scan(&args[1..]);
        return;
    }
    if args.len() < 2 {
        eprintln!("usage: scan_speed FILE FIELD [--copies K] [--shuffle] [--threads 1,2] [--memory MiB] [--accounts N]");
        std::process::exit(2);
    }
    let (file, field) = (&args[0], &args[1]);
    let mut copies = 1usize;
    let mut shuffle = false;
    let mut threads = vec![1usize, 2];
    let mut memory = provmark_scan::DEFAULT_MEMORY_BUDGET >> 20;
    let mut accounts = 0usize;
    let mut i = 2;
    while i < args.len() {
        match args[i].as_str() {
            "--copies" => {
                copies = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--shuffle" => shuffle = true,
            "--threads" => {
                threads = args[i + 1].split(',').map(|t| t.parse().unwrap()).collect();
                i += 1;
            }
            "--memory" => {
                memory = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--accounts" => {
                accounts = args[i + 1].parse().unwrap();
                i += 1;
            }
            other => panic!("unknown flag {other}"),
        }
        i += 1;
    }
    let base: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get(field).and_then(|s| s.as_str()).map(str::to_string))
        .collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut texts = Vec::with_capacity(base.len() * copies);
    for c in 0..copies {
        for t in &base {
            if c == 0 || !shuffle {
                texts.push(t.clone());
            } else {
                let mut words: Vec<&str> = t.split(' ').collect();
                for k in (1..words.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    words.swap(k, (x % (k as u64 + 1)) as usize);
                }
                texts.push(words.join(" "));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&corpus).unwrap());
        for t in &texts {
            serde_json::to_writer(&mut w, &serde_json::json!({ field: t })).unwrap();
            w.write_all(b"\n").unwrap();
        }
    }
    let bytes = std::fs::metadata(&corpus).unwrap().len();

    let tok = Tokenizer::openai("o200k_base").unwrap();
    let mut ids = Vec::new();
    let passes = if std::env::var_os("SCAN_SPEED_NO_TOKENIZER_ONLY").is_some() {
        0
    } else {
        2
    };
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut tokens = 0u64;
    for _ in 0..passes {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        tokens = 0;
        for t in &texts {
            ids.clear();
            tok.encode_into(t, &mut ids);
            tokens += ids.len() as u64;
        }
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c0);
    }
    let tok_rate = tokens as f64 / best;
    println!(
        "{}",
        serde_json::json!({"what": "tokenizer_only", "threads": 1, "records": texts.len(), "bytes": bytes,
            "tokens": tokens, "seconds": best, "cpu_seconds": best_cpu, "tokens_per_s": tok_rate})
    );

    // Each scan runs in a fresh process, as `provmark scan` does: the tokenizer's split regex
    // has a per-process owner thread with a lock-free cache; a scan in the process that ran the
    // tokenizer-only pass would find its workers off that fast path (about 0.25 s CPU more here).
    let exe = std::env::current_exe().unwrap();
    for &n in &threads {
        let out = std::process::Command::new(&exe)
            .arg("--child-scan")
            .arg(&corpus)
            .arg(field)
            .arg(n.to_string())
            .arg(memory.to_string())
            .arg(accounts.to_string())
            .arg(tok_rate.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// One scan measurement (in its own process): CORPUS FIELD THREADS MEMORY_MIB ACCOUNTS TOK_RATE.
fn child_scan(args: &[String]) {
    let corpus = std::path::PathBuf::from(&args[0]);
    let field = &args[1];
    let n: usize = args[2].parse().unwrap();
    let memory: usize = args[3].parse().unwrap();
    let accounts: usize = args[4].parse().unwrap();
    let tok_rate: f64 = args[5].parse().unwrap();
    let profile = Profile::from_secret(
        SecretKey::from_bytes([5; 32]),
        Scheme::DEFAULT_GREEN,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let mut cfg = ScanConfig::new(vec![corpus]);
    cfg.field = field.clone();
    cfg.threads = n;
    cfg.memory_budget = memory << 20;
    cfg.accounts = (0..accounts).map(|a| format!("account-{a}")).collect();
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let r = scan(&profile, &cfg, &Progress::default()).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let rate = r.corpus.total_tokens as f64 / secs;
    println!(
        "{}",
        serde_json::json!({"what": "scan", "threads": n, "tokens": r.corpus.total_tokens,
            "distinct_pairs": r.corpus.scored_tokens, "seconds": secs, "tokens_per_s": rate,
            "ratio_to_tokenizer_only": rate / tok_rate, "cpu_seconds": cpu,
            "spilled_runs": r.run.spilled_runs, "log10_p": r.corpus.log10_p})
    );
}
