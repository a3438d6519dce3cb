//! Per-call cost of the exact tail probabilities.
//!
//! `cargo bench -p provmark-detect --bench tail`
//!
//! Cases span the far tail (a few ratio terms) to a statistic at the null mean (about nine standard
//! deviations of terms, the worst case), at n up to 1e6, plus an evidence curve: one call per prefix length.

// criterion_group!/criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use provmark_detect::tail::{binomial_upper, gamma_upper};

/// `k` for a z-score over `Binomial(n, g)`.
fn k_at(n: u64, g: f64, z: f64) -> u64 {
    let nf = n as f64;
    (nf * g + z * (nf * g * (1.0 - g)).sqrt())
        .round()
        .clamp(0.0, nf) as u64
}

fn bench_binomial(c: &mut Criterion) {
    let mut group = c.benchmark_group("binomial_upper");
    for &(n, g) in &[
        (200u64, 0.25),
        (10_000, 0.5),
        (1_000_000, 0.5),
        (1_000_000, 0.25),
    ] {
        for &z in &[-3.0, 0.0, 3.0, 10.0, 80.0] {
            let k = k_at(n, g, z);
            if k > n {
                continue;
            }
            group.bench_function(format!("n={n}/g={g}/z={z}"), |b| {
                b.iter(|| binomial_upper(black_box(k), black_box(n), black_box(g)))
            });
        }
    }
    group.finish();
}

fn bench_gamma(c: &mut Criterion) {
    let mut group = c.benchmark_group("gamma_upper");
    for &n in &[200u64, 10_000, 1_000_000] {
        for &z in &[-3.0, 0.0, 3.0, 10.0, 80.0] {
            let nf = n as f64;
            let s = (nf + z * nf.sqrt()).max(1e-3);
            group.bench_function(format!("n={n}/z={z}"), |b| {
                b.iter(|| gamma_upper(black_box(n), black_box(s)))
            });
        }
    }
    group.finish();
}

/// Evidence curve over a 10,000-token watermarked text (green rate 0.35 at γ = 0.25): one call per prefix.
fn bench_curve(c: &mut Criterion) {
    let n_max = 10_000u64;
    c.bench_function("evidence_curve/binomial/10k_prefixes", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for n in 1..=n_max {
                let k = (n as f64 * 0.35) as u64;
                acc += binomial_upper(k, n, 0.25).log10_p;
            }
            black_box(acc)
        })
    });
    c.bench_function("evidence_curve/gamma/10k_prefixes", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for n in 1..=n_max {
                acc += gamma_upper(n, n as f64 * 1.1).log10_p;
            }
            black_box(acc)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_millis(800));
    targets = bench_binomial, bench_gamma, bench_curve
}
criterion_main!(benches);
