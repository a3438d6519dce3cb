//! Exact p-values for the foreign statistics that provmark's native tails do not cover.
//!
//! vLLM's dual-key detector sums `(1−α)·E_A + α·E_B` over n scored tokens, with `E_A`, `E_B`
//! independent Exp(1) under H0 (the two keys' uniforms are independent). vLLM turns the sum into
//! a p-value with a moment-matched gamma (`Q(n/var, S/var)`), which is an approximation. The
//! exact tail now lives in `provmark_detect::tail` (so the detector's
//! [`Statistic::DualKeyGamma`](provmark_detect::Statistic::DualKeyGamma) carries it) and is
//! re-exported here.
//!
//! ```
//! use provmark_interop::exact::dual_key_upper;
//! // n = 1: P(aE₁ + bE₂ ≥ s) = (a·e^{−s/a} − b·e^{−s/b}) / (a − b).
//! let (a, b, s) = (0.9f64, 0.1f64, 3.0f64);
//! let closed = (a * (-s / a).exp() - b * (-s / b).exp()) / (a - b);
//! assert!((dual_key_upper(s, 1, 0.1).p_value() / closed - 1.0).abs() < 1e-12);
//! ```

pub use provmark_detect::tail::dual_key_upper;
