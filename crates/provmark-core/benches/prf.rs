//! PRF choice by measurement: one keyed 64-bit word per (context, token).
//!
//! * native `provmark-aes128-v1`: `Aes128Prf::word` (one AES block) and `words` over 1,000
//!   tokens (pipelined blocks), reported per token;
//! * SHA-256 of one 40-byte message (key ‖ context ‖ token, the cheapest SHA-based design);
//! * ChaCha8: reseek a keystream to the token's position and read one word (`rand_chacha`).
//!
//! Run: `cargo bench -p provmark-core --bench prf -- --warm-up-time 1 --measurement-time 3`

use aes::cipher::{consts::U16, generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;
use criterion::{criterion_main, Criterion, Throughput};
use provmark_core::prf::{Aes128Prf, Prf};
use provmark_core::SecretKey;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::hint::black_box;

fn prf(c: &mut Criterion) {
    let key = SecretKey::from_bytes([9; 32]);
    let aes = Aes128Prf::new(&key, 2);
    let state = aes.absorb(&[1234, 5678]);

    let mut g = c.benchmark_group("prf_word");
    g.throughput(Throughput::Elements(1));
    let mut t = 0u32;
    g.bench_function("aes128_word", |b| {
        b.iter(|| {
            t = t.wrapping_add(1);
            black_box(aes.word(black_box(&state), t))
        })
    });
    g.bench_function("aes128_absorb_h2", |b| {
        b.iter(|| {
            t = t.wrapping_add(1);
            black_box(aes.absorb(black_box(&[t, 7])))
        })
    });
    let mut msg = [0u8; 40];
    msg[..32].copy_from_slice(key.expose_bytes());
    g.bench_function("sha256_40_bytes", |b| {
        b.iter(|| {
            t = t.wrapping_add(1);
            msg[36..40].copy_from_slice(&t.to_le_bytes());
            let d = Sha256::digest(black_box(&msg));
            black_box(u64::from_le_bytes(d[..8].try_into().expect("8 bytes")))
        })
    });
    let mut chacha = ChaCha8Rng::from_seed(*key.expose_bytes());
    g.bench_function("chacha8_reseek_one_word", |b| {
        b.iter(|| {
            t = t.wrapping_add(1);
            chacha.set_stream(black_box(0x5eed));
            chacha.set_word_pos(black_box(t as u128 * 2));
            black_box(chacha.next_u64())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("prf_words_1000");
    g.throughput(Throughput::Elements(1000));
    let tokens: Vec<u32> = (0..1000).map(|i| i * 197 + 3).collect();
    let mut out = vec![0u64; 1000];
    g.bench_function("aes128_words", |b| {
        b.iter(|| {
            aes.words(black_box(&state), &tokens, &mut out);
            black_box(out[999])
        })
    });
    // The same words with one `encrypt_blocks` call per 256 blocks (the cipher crate pipelines
    // internally): the throughput floor of the construction, for comparison with `words`,
    // which dispatches once per 8 blocks.
    let cipher = Aes128::new(GenericArray::from_slice(
        &key.derive("prf/aes128", b"").expose_bytes()[..16],
    ));
    let whole = |out: &mut [u64]| {
        let mut blocks = [GenericArray::<u8, U16>::default(); 256];
        for (ts, os) in tokens.chunks(256).zip(out.chunks_mut(256)) {
            for (b, &t) in blocks.iter_mut().zip(ts) {
                let mut x = state;
                for (d, s) in x[..8]
                    .iter_mut()
                    .zip(b"PMTK".iter().chain(&t.to_le_bytes()))
                {
                    *d ^= s;
                }
                *b = GenericArray::from(x);
            }
            cipher.encrypt_blocks(&mut blocks[..ts.len()]);
            for (o, b) in os.iter_mut().zip(&blocks) {
                *o = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            }
        }
    };
    let mut check = vec![0u64; 1000];
    whole(&mut check);
    aes.words(&state, &tokens, &mut out);
    assert_eq!(check, out, "bench reimplementation must match the PRF");
    g.bench_function("aes128_blocks_256_per_call", |b| {
        b.iter(|| {
            whole(&mut out);
            black_box(out[999])
        })
    });
    g.bench_function("aes128_word_loop", |b| {
        b.iter(|| {
            for (o, &t) in out.iter_mut().zip(&tokens) {
                *o = aes.word(&state, t);
            }
            black_box(out[999])
        })
    });
    g.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::prf);
}
criterion_main!(group::benches);
