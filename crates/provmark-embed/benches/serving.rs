//! Per-generated-token cost of plain sampling, green-list sampling and Gumbel selection.
//!
//! Workload: see `provmark_embed::bench` (synthetic chat-LLM-like logits: dominant tokens
//! 0.55/0.20/0.10/0.05 plus a Zipf(1.1) tail). Run:
//! `cargo bench -p provmark-embed --bench serving -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use provmark_embed::bench::Workload;
use std::hint::black_box;

fn serving(c: &mut Criterion) {
    let mut cases: Vec<(usize, Option<usize>)> = Vec::new();
    for vocab in [50_000usize, 128_000, 200_000] {
        cases.push((vocab, None));
        cases.push((vocab, Some(50)));
        cases.push((vocab, Some(1000)));
    }
    for (vocab, cand) in cases {
        let label = match cand {
            None => format!("full/{vocab}"),
            Some(k) => format!("top{k}/{vocab}"),
        };
        let mut g = c.benchmark_group(format!("serving/{label}"));
        g.throughput(Throughput::Elements(1));
        let mut w = Workload::new(vocab, cand, 1).expect("workload");
        let mut step = 0u64;
        let mut run = |g: &mut criterion::BenchmarkGroup<'_, _>,
                       name: &str,
                       f: fn(&mut Workload, u64) -> u32| {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    step += 1;
                    black_box(f(&mut w, step))
                })
            });
        };
        run(&mut g, "plain", |w, s| w.plain(s).expect("plain"));
        // Candidate lists of 1,000 are measured for Gumbel (the target's ≤ 1,000 case) and
        // for comparison; all methods run on every case.
        run(&mut g, "green", |w, s| w.green(s).expect("green"));
        run(&mut g, "green_bias_in_place", |w, s| {
            w.green_bias_in_place(s).expect("bias")
        });
        run(&mut g, "gumbel", |w, s| w.gumbel(s).expect("gumbel"));
        g.finish();
    }
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::serving);
}
criterion_main!(group::benches);
