//! Shared helpers of the integration tests.
#![allow(dead_code)]

use provmark_core::prf::Aes128Prf;
use provmark_core::{Scheme, SecretKey, Watermark};
use provmark_embed::Embedder;

/// An embedder over the native PRF for a key made from `seed`.
pub fn embedder(seed: u64, scheme: Scheme, width: usize, vocab: usize) -> Embedder<Aes128Prf> {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&seed.to_le_bytes());
    k[8] = 0xA5;
    let key = SecretKey::from_bytes(k);
    let wm = Watermark::new(Aes128Prf::new(&key, width), scheme, width).expect("valid scheme");
    Embedder::new(wm, vocab).expect("valid vocabulary")
}

/// Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a): the one implementation in the
/// workspace (`provmark_interop::reference`, the port of the reference's `gammaincc`).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    provmark_interop::reference::regularized_gamma_q(a, x)
}

/// Pearson chi-square p-value of observed counts against expected probabilities (which must
/// sum to 1 over the categories with positive probability; categories with probability 0 must
/// have count 0, otherwise the p-value is 0).
pub fn chi_square_p(counts: &[u64], probs: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let mut stat = 0.0;
    let mut df = -1i64;
    for (&c, &p) in counts.iter().zip(probs) {
        if p == 0.0 {
            if c != 0 {
                return 0.0;
            }
            continue;
        }
        let e = p * n as f64;
        stat += (c as f64 - e).powi(2) / e;
        df += 1;
    }
    gamma_q(df as f64 / 2.0, stat / 2.0)
}

/// Softmax of logits (masked = -inf gives 0).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits.iter().map(|&l| (l as f64 - m).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

#[test]
fn chi_square_helper_matches_known_values() {
    // Q(1, x) = e^-x; chi-square df = 2 at 5.991 has p = 0.05; df = 9 at 21.666 has p = 0.01.
    assert!((gamma_q(1.0, 2.0) - (-2.0f64).exp()).abs() < 1e-12);
    assert!((gamma_q(1.0, 5.991_464_547 / 2.0) - 0.05).abs() < 1e-8);
    assert!((gamma_q(4.5, 21.665_994_3 / 2.0) - 0.01).abs() < 1e-7);
    assert!((gamma_q(2.5, 0.5) - 0.962_565_773_247).abs() < 1e-9);
}
