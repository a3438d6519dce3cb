//! Scoring throughput per CPU-second, robust to a busy machine: run under
//! `perf stat -e task-clock,cycles` (or read the printed wall figure on an idle machine).
//!
//! `cargo run --release -p provmark-detect --example score_speed -- [green|gumbel] [pair|context|none] [tokens] [rounds]`
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_detect::{score_ids_with, Dedup, Options, Scratch};

/// Text-like ids: log-uniform over a 100k vocabulary, 2% of steps copy an earlier span.
fn text_like(n: usize, mut x: u64) -> Vec<u32> {
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ids: Vec<u32> = Vec::with_capacity(n + 32);
    while ids.len() < n {
        let r = next();
        if ids.len() > 100 && r % 50 == 0 {
            let len = 3 + (next() % 17) as usize;
            let start = (next() as usize) % (ids.len() - len);
            for j in 0..len {
                ids.push(ids[start + j]);
            }
        } else {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            ids.push((100_000f64.powf(u) as u32).min(99_999));
        }
    }
    ids.truncate(n);
    ids
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scheme = match args.get(1).map(String::as_str) {
        Some("gumbel") => Scheme::Gumbel,
        _ => Scheme::DEFAULT_GREEN,
    };
    let dedup = match args.get(2).map(String::as_str) {
        Some("context") => Dedup::Context,
        Some("none") => Dedup::None,
        _ => Dedup::Pair,
    };
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let p = Profile::from_secret(
        SecretKey::from_bytes([7; 32]),
        scheme,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let wm = p.watermark(None);
    let opts = Options::for_profile(&p).dedup(dedup);
    let ids = text_like(n, 0x1234_5678_9abc_def1);
    let mut scratch = Scratch::new();
    let mut sink = 0f64;
    let t = Instant::now();
    for _ in 0..rounds {
        sink += score_ids_with(&wm, &ids, &opts, &mut scratch)
            .unwrap()
            .log10_p;
    }
    let secs = t.elapsed().as_secs_f64();
    let tokens = (n * rounds) as f64;
    println!(
        "{} {:?}: {} tokens x {} rounds in {:.3} s wall = {:.2} M tokens/s (wall) [{sink:.1}]",
        scheme.name(),
        dedup,
        n,
        rounds,
        secs,
        tokens / secs / 1e6
    );
}
