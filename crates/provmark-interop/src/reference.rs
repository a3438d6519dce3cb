//! The p-value formulas of the reference implementations, reproduced so provmark can report
//! the number the reference would have printed beside its own exact p-value.
//!
//! These are **not** provmark's evidence: vLLM's SBW z-test is a normal approximation (too small
//! in the tail), and its dual-key p-value is a moment-matched gamma (an approximation to the law
//! of a weighted sum of exponentials). provmark's exact tails live in `provmark_detect::tail`.

/// vLLM's `_gamma_survival_integer_shape(S, N)` (VLLM.md §9): `P[Gamma(N, 1) ≥ S]` computed as
/// vLLM does, `e^{−S} Σ_{k<N} S^k / k!` by a log-sum-exp over the terms, clamped to [0, 1].
/// Returns 1 for `N = 0` or `S ≤ 0` (and for NaN S).
///
/// ```
/// use provmark_interop::reference::vllm_gamma_survival_integer_shape as gsurv;
/// assert_eq!(gsurv(0.0, 4), 1.0);
/// assert!((gsurv(2.0, 1) - (-2.0f64).exp()).abs() < 1e-16);
/// ```
pub fn vllm_gamma_survival_integer_shape(s: f64, n: u64) -> f64 {
    if n == 0 || s.is_nan() || s <= 0.0 {
        return 1.0;
    }
    let ls = s.ln();
    // Two passes (max, then sum) instead of storing the terms: no allocation, same values.
    let mut lt = 0.0f64;
    let mut mx = 0.0f64;
    for k in 1..n {
        lt += ls - (k as f64).ln();
        mx = mx.max(lt);
    }
    let mut sum = (0.0 - mx).exp();
    lt = 0.0;
    for k in 1..n {
        lt += ls - (k as f64).ln();
        sum += (lt - mx).exp();
    }
    let logsum = mx + sum.ln();
    (-s + logsum).min(0.0).exp().min(1.0)
}

/// The regularised upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)` for real `a > 0`
/// (what vLLM calls through `torch.special.gammaincc`): the power series of `P = 1 − Q` when
/// `x < 1` or `x < a`, Legendre's continued fraction (modified Lentz) otherwise — the split of
/// Cephes `igamc`. Relative accuracy about 1e-13 in the continued-fraction region, including the
/// far tail; about 1e-16 absolute where the series is used.
///
/// `Q(a, x) = 1` for `x ≤ 0`; NaN for `a ≤ 0` or NaN arguments.
///
/// ```
/// use provmark_interop::reference::regularized_gamma_q;
/// // Q(1, x) = e^{-x}
/// assert!((regularized_gamma_q(1.0, 30.0) / (-30.0f64).exp() - 1.0).abs() < 1e-13);
/// ```
pub fn regularized_gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    // ln of the common factor x^a e^{-x} / Γ(a).
    let ln_factor = a * x.ln() - x - libm::lgamma(a);
    if x < 1.0 || x < a {
        // P(a, x) = factor/a · Σ_n x^n / ((a+1)…(a+n)).
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term <= sum * f64::EPSILON {
                break;
            }
        }
        return (1.0 - sum * ln_factor.exp()).clamp(0.0, 1.0);
    }
    // Q(a, x) = factor · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …))), modified Lentz.
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    (ln_factor.exp() * h).clamp(0.0, 1.0)
}

/// Python's `round` (half to even) of a non-negative f64, as an integer.
fn round_half_even(x: f64) -> u64 {
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - 1.0
    } else {
        r
    };
    r.max(0.0) as u64
}

/// vLLM's dual-key Gumbel p-value (VLLM.md §10.4) for score `S` over `N` scored tokens with
/// routing weight `alpha`: with `var = (1−α)² + α²`, `gsurv(S/var, round(N/var))` when α is
/// exactly 0, ½ or 1, else `Q(N/var, S/var)`. A moment-matched gamma approximation of the null
/// law of `Σ (1−α)·E_A + α·E_B`; exact only for α ∈ {0, 1}. Returns 1 for `N = 0`.
pub fn vllm_dual_key_p_value(score: f64, n: u64, alpha: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let var = (1.0 - alpha) * (1.0 - alpha) + alpha * alpha;
    if alpha == 0.0 || alpha == 0.5 || alpha == 1.0 {
        vllm_gamma_survival_integer_shape(score / var, round_half_even(n as f64 / var))
    } else {
        regularized_gamma_q(n as f64 / var, score / var)
    }
}

/// vLLM's SBW p-value (VLLM.md §11.6): the one-sided z-test
/// `0.5·erfc(z/√2)` with `z = (W − Nγ)/√(Nγ(1−γ))`. A normal approximation that understates
/// the true tail far out; provmark reports the exact binomial tail instead. Returns 1 for
/// `N = 0`.
pub fn vllm_sbw_z_test_p_value(green: u64, n: u64, gamma: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (w, n) = (green as f64, n as f64);
    let z = (w - n * gamma) / (n * gamma * (1.0 - gamma)).sqrt();
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_q_integer_shape_matches_finite_sum() {
        for &(n, s) in &[
            (1u64, 0.5f64),
            (5, 10.0),
            (20, 5.0),
            (64, 296.0),
            (128, 150.0),
            (3, 0.01),
        ] {
            let q = regularized_gamma_q(n as f64, s);
            let g = vllm_gamma_survival_integer_shape(s, n);
            assert!(
                (q / g - 1.0).abs() < 1e-12 || (q - g).abs() < 1e-15,
                "n={n} s={s}: {q} vs {g}"
            );
        }
    }

    #[test]
    fn half_even() {
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.5), 4);
        assert_eq!(round_half_even(128.0), 128);
        assert_eq!(round_half_even(2.4), 2);
    }
}
