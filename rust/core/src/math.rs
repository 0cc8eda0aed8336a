//! Small numerical helpers.

/// ln C(n, k) via log-gamma (exact enough for probabilities; 0 ≤ k ≤ n).
pub(crate) fn ln_binomial(n: usize, k: usize) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// ln n!
pub(crate) fn ln_factorial(n: usize) -> f64 {
    libm::lgamma(n as f64 + 1.0)
}

/// ln B(a, b), the log of the Beta function.
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}
