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

/// Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a) (series below a + 1, Lentz
/// continued fraction above; both standard, accurate to ~1e-12 here).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_pre = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * ln_pre.exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        h * ln_pre.exp()
    }
}

/// ln Γ(a) for a > 0 (Lanczos, g = 7, n = 9).
pub fn ln_gamma(a: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if a < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * a).sin()).ln() - ln_gamma(1.0 - a);
    }
    let a = a - 1.0;
    let mut x = C[0];
    for (i, &c) in C.iter().enumerate().skip(1) {
        x += c / (a + i as f64);
    }
    let t = a + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (a + 0.5) * t.ln() - t + x.ln()
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
