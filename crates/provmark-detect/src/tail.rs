//! Exact upper-tail probabilities (binomial, gamma) in log space.
