//! Scoring throughput (tokenization excluded) and the dedup fingerprint choice.
//!
//! `cargo bench -p provmark-detect --bench scoring`; throughput is reported in elements
//! (tokens) per second on one core.
#![allow(missing_docs, clippy::unwrap_used)]

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_detect::{attribute, score_ids_with, Dedup, Options, PairFingerprinter, Scratch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Text-like ids: Zipf-ish vocabulary of 100k, with 10% of the text copied from earlier spans.
fn text_like(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        if ids.len() > 100 && rng.random::<f64>() < 0.02 {
            let len = rng.random_range(3..20);
            let start = rng.random_range(0..ids.len() - len);
            for j in 0..len {
                ids.push(ids[start + j]);
            }
        } else {
            let u: f64 = rng.random();
            ids.push(((100_000f64).powf(u) as u32).min(99_999));
        }
    }
    ids.truncate(n);
    ids
}

fn profile(scheme: Scheme) -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([7; 32]),
        scheme,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

fn scoring(c: &mut Criterion) {
    let ids = text_like(100_000, 1);
    let mut g = c.benchmark_group("score_ids");
    g.throughput(Throughput::Elements(ids.len() as u64));
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let p = profile(scheme);
        let wm = p.watermark(None);
        for (name, dedup) in [
            ("pair", Dedup::Pair),
            ("context", Dedup::Context),
            ("none", Dedup::None),
        ] {
            let opts = Options::for_profile(&p).dedup(dedup);
            let mut scratch = Scratch::new();
            g.bench_with_input(BenchmarkId::new(scheme.name(), name), &ids, |b, ids| {
                b.iter(|| score_ids_with(&wm, black_box(ids), &opts, &mut scratch).unwrap())
            });
        }
        let opts = Options::for_profile(&p).keep_positions(true);
        let mut scratch = Scratch::new();
        g.bench_with_input(
            BenchmarkId::new(scheme.name(), "pair+positions"),
            &ids,
            |b, ids| b.iter(|| score_ids_with(&wm, black_box(ids), &opts, &mut scratch).unwrap()),
        );
    }
    g.finish();
}

fn attribution(c: &mut Criterion) {
    let ids = text_like(200, 2);
    let p = profile(Scheme::DEFAULT_GREEN);
    let accounts: Vec<String> = (0..10_000).map(|i| format!("acct-{i}")).collect();
    let opts = Options::for_profile(&p);
    let mut g = c.benchmark_group("attribute");
    g.sample_size(10);
    g.throughput(Throughput::Elements(accounts.len() as u64));
    g.bench_function("200_tokens_10000_accounts", |b| {
        b.iter(|| attribute(&p, black_box(&ids), &accounts, &opts).unwrap())
    });
    g.finish();
}

fn fingerprint(c: &mut Criterion) {
    let ids = text_like(100_000, 3);
    let fp = PairFingerprinter::from_master(&SecretKey::from_bytes([5; 32]));
    let aes = aes::Aes128::new(GenericArray::from_slice(&[9u8; 16]));
    let mut g = c.benchmark_group("fingerprint");
    g.throughput(Throughput::Elements(ids.len() as u64 - 2));
    g.bench_function("siphash13", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for w in black_box(&ids).windows(3) {
                acc ^= fp.pair(&w[..2], w[2]);
            }
            acc
        })
    });
    // The alternative: one AES-128 block over (ctx0, ctx1, token, tag) — enough for h ≤ 2.
    g.bench_function("aes128_block", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for w in black_box(&ids).windows(3) {
                let mut blk = [0u8; 16];
                blk[..4].copy_from_slice(&w[0].to_le_bytes());
                blk[4..8].copy_from_slice(&w[1].to_le_bytes());
                blk[8..12].copy_from_slice(&w[2].to_le_bytes());
                blk[12] = 1;
                let mut ga = GenericArray::from(blk);
                aes.encrypt_block(&mut ga);
                acc ^= u64::from_le_bytes(ga[..8].try_into().unwrap());
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, scoring, attribution, fingerprint);
criterion_main!(benches);
