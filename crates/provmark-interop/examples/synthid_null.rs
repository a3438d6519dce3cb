//! Measures how far SynthID-Text's Binomial(scored × layers, ½) null is from the truth on clean
//! text: the false-positive rate of that test at α = 1e-2 and 1e-3 over many random texts whose
//! n-grams are all distinct (ids uniform over a 100k vocabulary), for the reference's default
//! keys. Under an exact null the rate is at most α.
//!
//! `cargo run --release -p provmark-interop --example synthid_null [TEXTS] [TOKENS]`
#![allow(clippy::unwrap_used)]

use provmark_core::prf::{Prf, SynthIdPrf, SYNTHID_DEFAULT_KEYS};
use provmark_detect::tail::binomial_upper;

fn main() {
    let mut args = std::env::args().skip(1);
    let texts: u64 = args.next().map_or(400_000, |a| a.parse().unwrap());
    let tokens: usize = args.next().map_or(100, |a| a.parse().unwrap());
    let h = 4;
    let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, h).unwrap();
    let layers = SYNTHID_DEFAULT_KEYS.len() as u64;
    let trials = (tokens - h) as u64 * layers;
    // Smallest Σg with binomial p ≤ α.
    let critical = |alpha: f64| {
        (0..=trials)
            .find(|&k| binomial_upper(k, trials, 0.5).p_value() <= alpha)
            .unwrap()
    };
    let alphas = [1e-2, 1e-3];
    let crit: Vec<u64> = alphas.iter().map(|&a| critical(a)).collect();
    let mut hits = [0u64; 2];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut ids = vec![0u32; tokens];
    let (mut sum1, mut sum2) = (0f64, 0f64);
    for _ in 0..texts {
        for id in ids.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *id = (state % 100_000) as u32;
        }
        let mut g = 0u64;
        for i in h..tokens {
            let c = u64::from(prf.word(&prf.absorb(&ids[i - h..i]), ids[i]).count_ones());
            sum1 += c as f64;
            sum2 += (c * c) as f64;
            g += c;
        }
        for (hit, &k) in hits.iter_mut().zip(&crit) {
            *hit += u64::from(g >= k);
        }
    }
    let n = (texts * (tokens - h) as u64) as f64;
    let mean = sum1 / n;
    println!(
        "{texts} texts x {} scored n-grams, {layers} layers: per-n-gram count mean {mean:.4} (15 under independence), variance {:.4} (7.5)",
        tokens - h,
        sum2 / n - mean * mean
    );
    for ((a, k), hit) in alphas.iter().zip(&crit).zip(&hits) {
        let rate = *hit as f64 / texts as f64;
        let exact_size = binomial_upper(*k, trials, 0.5).p_value();
        let se = (rate * (1.0 - rate) / texts as f64).sqrt();
        println!(
            "alpha {a:e}: critical sum {k} (exact size under independence {exact_size:.3e}); observed false-positive rate {rate:.3e} ± {se:.1e} ({:.2}x)",
            rate / exact_size
        );
    }
}
