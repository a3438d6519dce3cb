//! Property tests of the exact tails: monotone in the statistic and the sample size, consistent
//! with the complement (binomial) and with a direct Poisson sum (gamma, integer shape).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use proptest::prelude::*;
use provmark_detect::tail::{binomial_upper, gamma_upper};

/// ln k! by summation (exact enough for k ≤ 200).
fn ln_fact(k: u64) -> f64 {
    (2..=k).map(|i| (i as f64).ln()).sum()
}

/// P(Gamma(n, 1) > s) = P(Poisson(s) ≤ n − 1) = e^−s Σ_{k<n} s^k / k!, summed in log space.
fn gamma_reference(n: u64, s: f64) -> f64 {
    let terms: Vec<f64> = (0..n)
        .map(|k| -s + k as f64 * s.ln() - ln_fact(k))
        .collect();
    let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()).exp()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binomial_tail_is_monotone_and_sums_with_its_complement_to_one(
        n in 1u64..20_000,
        kf in 0.0f64..1.0,
        gamma in 0.01f64..0.99,
    ) {
        let k = ((n as f64 * kf) as u64).clamp(1, n);
        let p = binomial_upper(k, n, gamma);
        let p_more = binomial_upper(k + 1, n, gamma);
        prop_assert!(p_more.log10_p <= p.log10_p + 1e-12, "k {k} n {n}: {p:?} {p_more:?}");
        let p_bigger_n = binomial_upper(k, n + 1, gamma);
        prop_assert!(p_bigger_n.log10_p >= p.log10_p - 1e-12);
        prop_assert!(p.log10_p <= 0.0 && !p.log10_p.is_nan());
        // P(X ≥ k) + P(X ≤ k − 1) = 1, with P(X ≤ k − 1) = P(n − X ≥ n − k + 1) and
        // n − X ~ Binomial(n, 1 − γ).
        let lower = binomial_upper(n - k + 1, n, 1.0 - gamma);
        let sum = p.p_value() + lower.p_value();
        prop_assert!((sum - 1.0).abs() < 1e-9, "k {k} n {n} γ {gamma}: sum {sum}");
    }

    #[test]
    fn gamma_tail_is_monotone_and_matches_the_poisson_sum(
        n in 1u64..150,
        sf in 0.0f64..3.0,
    ) {
        let s = sf * n as f64 + 0.01;
        let p = gamma_upper(n, s);
        prop_assert!(p.log10_p <= 0.0 && !p.log10_p.is_nan());
        prop_assert!(gamma_upper(n, s * 1.001 + 1e-6).log10_p <= p.log10_p + 1e-12);
        prop_assert!(gamma_upper(n + 1, s).log10_p >= p.log10_p - 1e-12);
        let want = gamma_reference(n, s);
        if want > 1e-290 {
            let rel = (p.p_value() - want).abs() / want;
            prop_assert!(rel < 1e-9, "n {n} s {s}: {} vs {want} (rel {rel})", p.p_value());
        }
    }

    #[test]
    fn gamma_tail_is_monotone_for_large_counts(
        n in 150u64..2_000_000,
        sf in 0.5f64..2.0,
    ) {
        let s = sf * n as f64;
        let p = gamma_upper(n, s);
        prop_assert!(p.log10_p <= 0.0 && !p.log10_p.is_nan());
        prop_assert!(gamma_upper(n, s * 1.0001).log10_p <= p.log10_p + 1e-12);
        prop_assert!(gamma_upper(n + 1, s).log10_p >= p.log10_p - 1e-12);
    }
}
