//! Single-thread tokenization speed on the texts of one JSONL field, as JSON.
//!
//! ```text
//! cargo run --release -p provmark-tokenize --example tok_speed -- FILE FIELD [--tokenizer ARG]
//!     [--backend provmark|tiktoken-rs|bpe-openai|all] [--repeat N] [--dump-ids N]
//! ```
//!
//! Prints one line per backend: `{"tokens":…, "seconds":…, "tokens_per_s":…, "cpu_seconds":…,
//! "cpu_tokens_per_s":…, "load_seconds":…, "backend":…, …}`. `tokens` and `seconds` are for one pass
//! over all texts (the fastest of `--repeat` passes, default 3); `cpu_seconds` is the thread's CPU
//! time per pass, averaged over all passes; `first_pass_seconds` is the first (cold) pass alone, what a
//! one-shot process such as `check` pays (Linux `/proc/thread-self/schedstat`), which other processes on a busy
//! machine disturb less than wall time; `load_seconds` is the time to construct the tokenizer in
//! this process (the fixed cost of every `check`); `warm_up_seconds` (provmark) is the time of
//! `Tokenizer::warm_up`, the extra table a scan builds once (the timed passes run warm). With
//! `--backend all`, backends that share loaded data (provmark and bpe-openai) show only the part
//! not yet loaded; measure load times one backend per process.
//!
//! * `--tokenizer` takes an encoding name or a `tokenizer.json` path (default `o200k_base`).
//! * `--backend tiktoken-rs` times the reference implementation (`encode_with_special_tokens`);
//!   `bpe-openai` the raw `bpe-openai` crate (ordinary tokens only, none of our additions); `all`
//!   times provmark, tiktoken-rs and bpe-openai with their passes interleaved, so load drift on a
//!   shared machine hits all three alike. The last two take bundled encodings only.
//! * `--dump-ids N` prints instead `{"ids":[…]}` for each of the first N texts (provmark backend),
//!   for `bench/tiktoken_baseline.py` to verify OpenAI's tiktoken gives the same ids.
//!
//! Compare with `python3 bench/tiktoken_baseline.py FILE FIELD`, OpenAI's own tiktoken.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use provmark_tokenize::Tokenizer;

fn usage() -> ! {
    eprintln!(
        "usage: tok_speed FILE FIELD [--tokenizer ENCODING|tokenizer.json] \
         [--backend provmark|tiktoken-rs|bpe-openai|all] [--repeat N] [--dump-ids N]"
    );
    std::process::exit(2)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("tok_speed: {msg}");
    std::process::exit(2)
}

type Encode = Box<dyn Fn(&str, &mut Vec<u32>)>;

/// Builds one backend's encode function and returns it with its load time and (provmark) the
/// time of `warm_up`, in seconds.
fn load(backend: &str, tokenizer: &str) -> (Encode, f64, Option<f64>) {
    let t0 = Instant::now();
    let encode: Encode = match backend {
        "provmark" => {
            let tok = Tokenizer::from_arg(tokenizer).unwrap_or_else(|e| fail(e));
            let loaded = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            tok.warm_up();
            let warm = t1.elapsed().as_secs_f64();
            return (
                Box::new(move |t, out| tok.encode_into(t, out)),
                loaded,
                Some(warm),
            );
        }
        "tiktoken-rs" => {
            let bpe = match tokenizer {
                "o200k_base" => tiktoken_rs::o200k_base().unwrap(),
                "cl100k_base" => tiktoken_rs::cl100k_base().unwrap(),
                _ => fail("tiktoken-rs takes a bundled encoding name"),
            };
            Box::new(move |t, out| out.extend(bpe.encode_with_special_tokens(t)))
        }
        "bpe-openai" => {
            let tok = match tokenizer {
                "o200k_base" => bpe_openai::o200k_base(),
                "cl100k_base" => bpe_openai::cl100k_base(),
                _ => fail("bpe-openai takes a bundled encoding name"),
            };
            // Force the lazy load inside the timed section.
            let _ = tok.bpe.num_tokens();
            Box::new(move |t, out| out.extend(tok.encode(t)))
        }
        _ => usage(),
    };
    (encode, t0.elapsed().as_secs_f64(), None)
}

struct Timing {
    backend: &'static str,
    encode: Encode,
    load_seconds: f64,
    warm_up_seconds: Option<f64>,
    tokens: usize,
    best: f64,
    /// The first pass's wall time.
    first: Option<f64>,
    /// CPU time summed over all passes (the clock is too coarse for a minimum of short passes).
    cpu_total: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let (file, field) = (&args[0], &args[1]);
    let mut tokenizer = "o200k_base".to_string();
    let mut backend = "provmark".to_string();
    let mut repeat = 3usize;
    let mut dump: Option<usize> = None;
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--tokenizer" => tokenizer = value.clone(),
            "--backend" => backend = value.clone(),
            "--repeat" => repeat = value.parse().unwrap_or_else(|_| usage()),
            "--dump-ids" => dump = Some(value.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }

    let content =
        std::fs::read_to_string(file).unwrap_or_else(|e| fail(format!("cannot read {file}: {e}")));
    let texts: Vec<String> = content
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get(field).and_then(|s| s.as_str()).map(str::to_string))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();

    if let Some(n) = dump {
        let tok = Tokenizer::from_arg(&tokenizer).unwrap_or_else(|e| fail(e));
        for text in texts.iter().take(n) {
            println!("{}", serde_json::json!({ "ids": tok.encode(text) }));
        }
        return;
    }

    let names: &[&'static str] = match backend.as_str() {
        "provmark" => &["provmark"],
        "tiktoken-rs" => &["tiktoken-rs"],
        "bpe-openai" => &["bpe-openai"],
        "all" => &["provmark", "tiktoken-rs", "bpe-openai"],
        _ => usage(),
    };
    let mut timings: Vec<Timing> = names
        .iter()
        .map(|&name| {
            let (encode, load_seconds, warm_up_seconds) = load(name, &tokenizer);
            Timing {
                backend: name,
                encode,
                load_seconds,
                warm_up_seconds,
                tokens: 0,
                best: f64::INFINITY,
                first: None,
                cpu_total: 0.0,
            }
        })
        .collect();

    let mut out = Vec::new();
    for _ in 0..repeat.max(1) {
        for t in &mut timings {
            let mut tokens = 0;
            let wall = Instant::now();
            let cpu = thread_cpu_seconds();
            for text in &texts {
                out.clear();
                (t.encode)(text, &mut out);
                tokens += out.len();
            }
            let secs = wall.elapsed().as_secs_f64();
            if t.first.is_none() {
                t.first = Some(secs);
            }
            t.best = t.best.min(secs);
            if let (Some(c0), Some(c1)) = (cpu, thread_cpu_seconds()) {
                t.cpu_total += c1 - c0;
            }
            t.tokens = tokens;
        }
    }
    for t in &timings {
        let passes = repeat.max(1) as f64;
        let cpu = (t.cpu_total > 0.0).then_some(t.cpu_total / passes);
        println!(
            "{}",
            serde_json::json!({
                "tokens": t.tokens,
                "seconds": t.best,
                "first_pass_seconds": t.first,
                "tokens_per_s": t.tokens as f64 / t.best,
                "cpu_seconds": cpu,
                "cpu_tokens_per_s": cpu.map(|c| t.tokens as f64 / c),
                "load_seconds": t.load_seconds,
                "warm_up_seconds": t.warm_up_seconds,
                "backend": t.backend,
                "tokenizer": tokenizer,
                "texts": texts.len(),
                "bytes": bytes,
            })
        );
    }
}

/// CPU time of the current thread in seconds (Linux), from `/proc/thread-self/schedstat`.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}
