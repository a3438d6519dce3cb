//! Tests for `provmark_detect::tail`: every reference row, closed forms, monotonicity, edge cases, and
//! validity of the p-values under H0 by simulation (fixed seeds).

use provmark_detect::tail::{binomial_upper, bonferroni, gamma_upper, TailProb};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::PathBuf;

fn reference_rows() -> Vec<Value> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tail_probabilities.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad row {l}: {e}")))
        .collect()
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn compute(row: &Value) -> TailProb {
    match row["kind"].as_str() {
        Some("binomial") => binomial_upper(u(row, "successes"), u(row, "trials"), f(row, "gamma")),
        Some("gamma") => gamma_upper(u(row, "count"), f(row, "sum")),
        other => panic!("unknown kind {other:?}"),
    }
}

/// Relative error ≤ 1e-9 where p > 1e-300, |Δ log10 p| ≤ 1e-6 everywhere (issue 3, item 1).
#[test]
fn every_reference_row_is_within_tolerance() {
    let rows = reference_rows();
    assert_eq!(rows.len(), 240, "reference file changed size");
    let (mut max_rel, mut max_dlog) = (0.0f64, 0.0f64);
    let mut beyond = 0;
    for row in &rows {
        let got = compute(row);
        let (p_ref, log_ref) = (f(row, "p_value"), f(row, "log10_p"));
        let dlog = (got.log10_p - log_ref).abs();
        assert!(dlog <= 1e-6, "{row}: log10_p {} vs {log_ref}", got.log10_p);
        max_dlog = max_dlog.max(dlog);
        if p_ref > 1e-300 {
            let rel = (got.p_value() - p_ref).abs() / p_ref;
            assert!(
                rel <= 1e-9,
                "{row}: p {} vs {p_ref} (rel {rel:e})",
                got.p_value()
            );
            max_rel = max_rel.max(rel);
        } else {
            beyond += 1;
            assert!(got.log10_p.is_finite(), "{row}: not finite");
        }
    }
    assert!(beyond > 0, "the table should exercise p ≤ 1e-300");
    eprintln!(
        "reference rows: {}, of which {beyond} with p <= 1e-300; max rel err {max_rel:.3e}, max |dlog10| {max_dlog:.3e}",
        rows.len()
    );
}

/// Brute-force pmf sums in f64 for small n are an independent check of both summation directions.
#[test]
fn small_binomials_match_brute_force() {
    for n in 1..=40u64 {
        for &g in &[0.05f64, 0.25, 0.5, 0.75, 0.9] {
            let pmf: Vec<f64> = (0..=n)
                .map(|j| {
                    let mut c = 1.0f64;
                    for i in 0..j {
                        c = c * (n - i) as f64 / (i + 1) as f64;
                    }
                    c * g.powi(j as i32) * (1.0 - g).powi((n - j) as i32)
                })
                .collect();
            for k in 0..=n {
                let exact: f64 = pmf[k as usize..].iter().sum();
                let got = binomial_upper(k, n, g).p_value();
                let rel = (got - exact).abs() / exact;
                assert!(rel < 1e-12, "n={n} k={k} g={g}: {got} vs {exact}");
            }
        }
    }
}

#[test]
fn closed_forms() {
    for &g in &[0.1, 0.25, 0.5, 0.9] {
        for &n in &[1u64, 7, 100, 5000, 1_000_000] {
            let all = binomial_upper(n, n, g);
            assert!((all.ln_p() - n as f64 * g.ln()).abs() <= 1e-12 * (n as f64 * g.ln()).abs());
            let any = binomial_upper(1, n, g);
            let exact = -(n as f64 * (-g).ln_1p()).exp_m1();
            assert!((any.p_value() - exact).abs() <= 1e-13 * exact);
        }
    }
    // Extreme green fractions: k = 1 and k = n against closed forms.
    for &g in &[1e-12f64, 1e-6, 1.0 - 1e-6, 1.0 - 1e-12] {
        for &n in &[1u64, 30, 100_000] {
            let exact = -(n as f64 * (-g).ln_1p()).exp_m1();
            let got = binomial_upper(1, n, g).p_value();
            assert!(
                (got - exact).abs() <= 1e-12 * exact,
                "k=1 n={n} g={g}: {got} vs {exact}"
            );
            let all = binomial_upper(n, n, g).ln_p();
            let exact = n as f64 * g.ln();
            assert!(
                (all - exact).abs() <= 1e-12 * exact.abs().max(1e-6),
                "k=n={n} g={g}"
            );
        }
    }
    for &s in &[1e-9, 0.3, 1.0, 20.0, 700.0, 5000.0, 1e6] {
        let one = gamma_upper(1, s);
        assert!((one.ln_p() + s).abs() <= 1e-13 * s.max(1.0), "s={s}");
        let two = gamma_upper(2, s); // e^{-s}(1 + s)
        let exact = -s + s.ln_1p();
        assert!(
            (two.ln_p() - exact).abs() <= 1e-12 * exact.abs().max(1e-3),
            "s={s}"
        );
    }
}

#[test]
fn binomial_is_monotone() {
    for &(n, g) in &[(60u64, 0.25), (1000, 0.5), (20_000, 0.1)] {
        // Decreasing in k across the whole range, including where the method switches at the mean.
        let mut prev = f64::INFINITY;
        for k in 0..=n {
            let t = binomial_upper(k, n, g).log10_p;
            assert!(t <= prev, "n={n} g={g} k={k}: {t} > {prev}");
            assert!(t <= 0.0);
            prev = t;
        }
        assert!(prev.is_finite(), "far tail underflowed");
        // Increasing in n and in gamma for fixed k.
        let k = (n as f64 * g) as u64 + 3;
        let mut prev = f64::NEG_INFINITY;
        for m in k..k + 2000 {
            let t = binomial_upper(k, m, g).log10_p;
            assert!(t >= prev, "k={k} n={m}");
            prev = t;
        }
        let mut prev = f64::NEG_INFINITY;
        for i in 1..1000 {
            let t = binomial_upper(k, n, i as f64 / 1000.0).log10_p;
            assert!(t >= prev, "k={k} n={n} g={i}/1000");
            prev = t;
        }
    }
}

#[test]
fn gamma_is_monotone() {
    for &count in &[1u64, 10, 200, 100_000] {
        let c = count as f64;
        let mut prev = f64::INFINITY;
        for i in 0..4000 {
            // Sums from 0 to ~ mean + 40 sd and beyond.
            let s = i as f64 * (c + 40.0 * c.sqrt() + 40.0) / 3000.0;
            let t = gamma_upper(count, s).log10_p;
            assert!(t <= prev, "count={count} s={s}: {t} > {prev}");
            prev = t;
        }
        assert!(prev.is_finite());
    }
    let s = 250.0;
    let mut prev = f64::NEG_INFINITY;
    for count in 1..600u64 {
        let t = gamma_upper(count, s).log10_p;
        assert!(t >= prev, "count={count}");
        prev = t;
    }
}

#[test]
fn edge_cases() {
    assert_eq!(binomial_upper(0, 10, 0.3), TailProb::ONE);
    assert_eq!(binomial_upper(0, 0, 0.3), TailProb::ONE);
    assert_eq!(binomial_upper(5, 0, 0.3), TailProb::ONE);
    assert_eq!(binomial_upper(11, 10, 0.3), TailProb::ZERO);
    assert_eq!(binomial_upper(11, 10, 0.3).p_value(), 0.0);
    assert_eq!(binomial_upper(3, 10, 0.0), TailProb::ZERO);
    assert_eq!(binomial_upper(10, 10, 1.0), TailProb::ONE);
    for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(binomial_upper(3, 10, bad), TailProb::ONE, "gamma={bad}");
    }
    assert_eq!(gamma_upper(0, 5.0), TailProb::ONE);
    assert_eq!(gamma_upper(3, 0.0), TailProb::ONE);
    assert_eq!(gamma_upper(3, -2.0), TailProb::ONE);
    assert_eq!(gamma_upper(3, f64::NAN), TailProb::ONE);
    assert_eq!(gamma_upper(3, f64::NEG_INFINITY), TailProb::ONE);
    assert_eq!(gamma_upper(3, f64::INFINITY), TailProb::ZERO);
    // Huge but finite sum: still a finite log.
    let t = gamma_upper(3, 1e200);
    assert!(t.log10_p.is_finite() && t.log10_p < -1e199);
    // Tiny sum: p is 1 - O(s^count), never above one.
    let t = gamma_upper(1, 1e-300);
    assert!(t.log10_p <= 0.0 && t.p_value() == 1.0);

    assert_eq!(bonferroni(TailProb::ONE, 50), TailProb::ONE);
    assert_eq!(bonferroni(TailProb { log10_p: f64::NAN }, 5), TailProb::ONE);
    assert_eq!(
        bonferroni(TailProb { log10_p: -3.0 }, 0),
        TailProb { log10_p: -3.0 }
    );
    assert_eq!(bonferroni(TailProb::ZERO, 1000), TailProb::ZERO);
    let adj = bonferroni(TailProb { log10_p: -1000.0 }, 1_000_000);
    assert!((adj.log10_p + 994.0).abs() < 1e-12);
    let adj = bonferroni(TailProb { log10_p: -2.0 }, 50);
    assert!((adj.p_value() - 0.5).abs() < 1e-15);

    let t = TailProb { log10_p: -400.0 };
    assert_eq!(t.p_value(), 0.0);
    assert!((t.ln_p() + 400.0 * std::f64::consts::LN_10).abs() < 1e-10);
    assert!((TailProb::from_ln(-2.0).ln_p() + 2.0).abs() < 1e-15);
}

/// Smallest `c` in `0..=trials + 1` with `pred(c)`, for a predicate that is monotone (false, then true).
fn first_true(trials: u64, pred: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, trials + 1);
    if pred(lo) {
        return lo;
    }
    // Invariant: !pred(lo), and pred(hi) or hi = trials + 1.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Smallest `c` with `P(Bin(trials, rate) ≥ c) ≤ tail` (the upper critical count), by the module itself,
/// which `every_reference_row_is_within_tolerance` validates.
fn upper_critical(trials: u64, rate: f64, tail: f64) -> u64 {
    first_true(trials, |c| {
        binomial_upper(c, trials, rate).p_value() <= tail
    })
}

/// Checks the count of p-values ≤ α among `samples` H0 draws. With `attained` = the exact H0 probability of
/// that event, the count is Binomial(samples, attained): it must stay within two-sided 1e-4 bounds, and
/// `attained ≤ α` must hold (validity).
fn check_level(count: u64, samples: u64, attained: f64, alpha: f64, what: &str) {
    assert!(
        attained <= alpha * (1.0 + 1e-12),
        "{what}: attained level {attained} > alpha {alpha}"
    );
    let hi = upper_critical(samples, attained, 1e-4);
    assert!(
        count < hi,
        "{what}: {count}/{samples} p-values <= {alpha}, upper bound {hi}"
    );
    // Lower bound: the smallest c with P(Bin ≤ c − 1) > 1e-4, i.e. P(Bin ≥ c) < 1 − 1e-4.
    let lo = first_true(samples, |c| {
        binomial_upper(c, samples, attained).p_value() < 1.0 - 1e-4
    })
    .saturating_sub(1);
    assert!(
        count >= lo,
        "{what}: {count}/{samples} p-values <= {alpha}, lower bound {lo} (too conservative)"
    );
}

const ALPHAS: [f64; 4] = [0.5, 0.1, 0.01, 1e-3];

#[test]
fn binomial_p_values_are_valid_under_h0() {
    let mut rng = SmallRng::seed_from_u64(0x7a11_0001);
    let samples = 20_000u64;
    for &(n, g) in &[(50u64, 0.25), (200, 0.5), (400, 0.1)] {
        let mut ps = Vec::with_capacity(samples as usize);
        for _ in 0..samples {
            let k = (0..n).filter(|_| rng.random::<f64>() < g).count() as u64;
            ps.push(binomial_upper(k, n, g).p_value());
        }
        for &alpha in &ALPHAS {
            let count = ps.iter().filter(|&&p| p <= alpha).count() as u64;
            // Attained level: P(p ≤ α) = p(k*) for the smallest k* whose p-value is ≤ α.
            let k_star = first_true(n, |k| binomial_upper(k, n, g).p_value() <= alpha);
            let attained = binomial_upper(k_star, n, g).p_value();
            check_level(
                count,
                samples,
                attained,
                alpha,
                &format!("binomial n={n} g={g}"),
            );
        }
    }
}

#[test]
fn gamma_p_values_are_uniform_under_h0() {
    let mut rng = SmallRng::seed_from_u64(0x7a11_0002);
    let samples = 20_000u64;
    for &count in &[1u64, 5, 200] {
        let mut ps: Vec<f64> = (0..samples)
            .map(|_| {
                let s: f64 = (0..count).map(|_| -(1.0 - rng.random::<f64>()).ln()).sum();
                gamma_upper(count, s).p_value()
            })
            .collect();
        for &alpha in &ALPHAS {
            let hits = ps.iter().filter(|&&p| p <= alpha).count() as u64;
            check_level(hits, samples, alpha, alpha, &format!("gamma count={count}"));
        }
        // Kolmogorov–Smirnov against U(0, 1); critical value at level 1e-3 is 1.9495/√N (asymptotic).
        ps.sort_by(f64::total_cmp);
        let nf = samples as f64;
        let d = ps
            .iter()
            .enumerate()
            .map(|(i, &p)| ((i as f64 + 1.0) / nf - p).max(p - i as f64 / nf))
            .fold(0.0, f64::max);
        let crit = 1.9495 / nf.sqrt();
        assert!(d < crit, "gamma count={count}: KS D = {d} >= {crit}");
    }
}
