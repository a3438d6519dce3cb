//! Throughput of the foreign schemes: detection scoring per token (through provmark's own
//! detector where the scheme fits it) and vLLM-compatible generation per step.
//!
//! `cargo bench -p provmark-interop --bench interop`; throughput in elements per second on one
//! core (tokens for scoring, steps for generation).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use provmark_core::prf::{
    Aes128Prf, AnyPrf, Prf, SbwPrf, SbwVariant, SynthIdPrf, VllmDualKeyPrf, VllmPhiloxPrf,
    SYNTHID_DEFAULT_KEYS,
};
use provmark_core::{Scheme, SecretKey, Watermark};
use provmark_detect::{score_ids_with, ContextPolicy, Dedup, Options, PairFingerprinter, Scratch};
use provmark_interop::synthid::{detect, g_values, DetectOptions};
use provmark_interop::vllm::{
    gumbel_select, gumbel_select_candidates, sbw_bias, sbw_bias_candidates,
};

/// Text-like ids: log-uniform over a 100k vocabulary, with occasional copied spans.
fn text_like(n: usize, mut s: u64) -> Vec<u32> {
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut ids: Vec<u32> = Vec::with_capacity(n);
    while ids.len() < n {
        if ids.len() > 100 && next() < 0.02 {
            let len = 3 + (next() * 17.0) as usize;
            let start = (next() * (ids.len() - len) as f64) as usize;
            for j in 0..len {
                ids.push(ids[start + j]);
            }
        } else {
            ids.push(((100_000f64).powf(next()) as u32).min(99_999));
        }
    }
    ids.truncate(n);
    ids
}

fn scoring(c: &mut Criterion) {
    let ids = text_like(100_000, 1);
    let h = 4;
    let fp = PairFingerprinter::from_master(&SecretKey::from_bytes([3; 32]));
    let native = AnyPrf::Native(Aes128Prf::new(&SecretKey::from_bytes([7; 32]), h));
    let cases: Vec<(&str, Watermark<AnyPrf>)> = vec![
        (
            "native-gumbel",
            Watermark::new(native, Scheme::Gumbel, h).unwrap(),
        ),
        (
            "vllm-gumbel",
            Watermark::new(AnyPrf::Vllm(VllmPhiloxPrf::new(42, h)), Scheme::Gumbel, h).unwrap(),
        ),
        (
            "native-green",
            Watermark::new(
                AnyPrf::Native(Aes128Prf::new(&SecretKey::from_bytes([7; 32]), h)),
                Scheme::DEFAULT_GREEN,
                h,
            )
            .unwrap(),
        ),
        (
            "vllm-dual-key",
            Watermark::new(
                AnyPrf::VllmDualKey(VllmDualKeyPrf::new(42, h)),
                Scheme::DualKeyGumbel { alpha: 0.1 },
                h,
            )
            .unwrap(),
        ),
        (
            "synthid-30-layers",
            Watermark::new(
                AnyPrf::SynthId(SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, h).unwrap()),
                Scheme::Tournament { layers: 30 },
                h,
            )
            .unwrap(),
        ),
        (
            "vllm-sbw-selfhash",
            Watermark::new(
                AnyPrf::Sbw(SbwPrf::new(42, SbwVariant::SelfHash, h)),
                Scheme::Green {
                    gamma: 0.5,
                    delta: 2.0,
                },
                h,
            )
            .unwrap(),
        ),
        (
            "vllm-sbw-lefthash",
            Watermark::new(
                AnyPrf::Sbw(SbwPrf::new(42, SbwVariant::LeftHash, 1)),
                Scheme::Green {
                    gamma: 0.5,
                    delta: 2.0,
                },
                1,
            )
            .unwrap(),
        ),
    ];
    let mut g = c.benchmark_group("score_ids");
    g.throughput(Throughput::Elements(ids.len() as u64));
    for (name, wm) in &cases {
        for (dname, dedup, policy) in [
            ("pair", Dedup::Pair, ContextPolicy::SkipPartial),
            (
                "vllm-rule",
                Dedup::Context,
                ContextPolicy::PadWith(u32::MAX),
            ),
        ] {
            let opts = Options::with_fingerprinter(fp.clone())
                .dedup(dedup)
                .context_policy(policy);
            let mut scratch = Scratch::new();
            g.bench_with_input(BenchmarkId::new(*name, dname), &ids, |b, ids| {
                b.iter(|| score_ids_with(wm, black_box(ids), &opts, &mut scratch).unwrap())
            });
        }
    }
    g.finish();

    // The exact dual-key tail alone (included in score_ids above): its cost grows like
    // n·(1−α)/α mixture terms, so at n = 100k it dominates the dual-key scoring time.
    let mut g = c.benchmark_group("dual_key_tail");
    g.sample_size(10);
    for n in [1_000u64, 100_000] {
        g.bench_with_input(BenchmarkId::new("dual_key_upper", n), &n, |b, &n| {
            b.iter(|| provmark_interop::exact::dual_key_upper(black_box(n as f64 * 1.02), n, 0.1))
        });
    }
    g.finish();

    let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, 4).unwrap();
    let mut g = c.benchmark_group("synthid");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.sample_size(10);
    g.bench_with_input("g_values-30-layers", &ids, |b, ids| {
        b.iter(|| g_values(&prf, black_box(ids)))
    });
    let opts = DetectOptions::default();
    g.bench_with_input("detect-reference-masks", &ids, |b, ids| {
        b.iter(|| detect(&prf, black_box(ids), &opts))
    });
    g.finish();
}

fn generation(c: &mut Criterion) {
    let mut g = c.benchmark_group("vllm_generate_step");
    g.throughput(Throughput::Elements(1));
    let prf = VllmPhiloxPrf::new(42, 4);
    let sbw = SbwPrf::new(42, SbwVariant::SelfHash, 4);
    let ctx = [11u32, 12, 13, 14];
    for vocab in [50usize, 128_000] {
        let logits: Vec<f32> = (0..vocab)
            .map(|i| ((i * 37 % 131) as f32 - 56.0) / 16.0)
            .collect();
        let ids: Vec<u32> = (0..vocab as u32).map(|i| i * 7 % 128_000).collect();
        g.bench_with_input(BenchmarkId::new("gumbel", vocab), &logits, |b, l| {
            b.iter(|| {
                let s = prf.absorb(&ctx);
                if vocab == 50 {
                    gumbel_select_candidates(&prf, &s, &ids, black_box(l)).unwrap()
                } else {
                    gumbel_select(&prf, &s, black_box(l)).unwrap()
                }
            })
        });
        let mut work = logits.clone();
        g.bench_with_input(BenchmarkId::new("sbw-bias", vocab), &logits, |b, l| {
            b.iter(|| {
                work.copy_from_slice(l);
                let s = sbw.absorb(&ctx);
                if vocab == 50 {
                    sbw_bias_candidates(&sbw, &s, 0.5, 2.0, &ids, &mut work);
                } else {
                    sbw_bias(&sbw, &s, 0.5, 2.0, &mut work);
                }
                black_box(&work);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, scoring, generation);
criterion_main!(benches);
