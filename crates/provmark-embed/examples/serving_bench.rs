//! Prints `provmark_embed::bench::bench_serving` results as JSON lines (one per case).
//!
//! Run: `cargo run --release -p provmark-embed --example serving_bench [-- VOCAB[,VOCAB…] [K|full]…]`
//! Default: vocabularies 50,000, 128,000, 200,000; full vocabulary, 50 and 1,000 candidates.

use provmark_embed::bench::{bench_serving, BenchConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vocabs: Vec<usize> = match args.first() {
        Some(v) => v.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![50_000, 128_000, 200_000],
    };
    let cands: Vec<Option<usize>> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|a| {
                if a == "full" {
                    Ok(None)
                } else {
                    a.parse().map(Some)
                }
            })
            .collect::<Result<_, _>>()?
    } else {
        vec![None, Some(50), Some(1000)]
    };
    let cfg = BenchConfig::default();
    for &v in &vocabs {
        for &k in &cands {
            let r = bench_serving(v, k, &cfg)?;
            println!("{}", serde_json_line(&r));
        }
    }
    Ok(())
}

fn serde_json_line(r: &provmark_embed::bench::ServingBench) -> String {
    format!(
        "{{\"vocab\":{},\"candidates\":{},\"plain_ns\":{:.0},\"green_ns\":{:.0},\"gumbel_ns\":{:.0},\"green_ratio\":{:.3},\"gumbel_ratio\":{:.3}}}",
        r.vocab,
        r.candidates.map_or("null".to_string(), |k| k.to_string()),
        r.plain_ns,
        r.green_ns,
        r.gumbel_ns,
        r.green_ratio,
        r.gumbel_ratio
    )
}
