//! Deterministic, platform-independent mixing used to turn (seed, context) into the simulated
//! model's choices. Not a security primitive: the simulation only needs decorrelated, reproducible
//! values.

/// The 64-bit golden-ratio increment of the SplitMix64 generator (Steele, Lea, Flood 2014).
pub(crate) const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser: a bijective avalanche mix of one word.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes two words into one (order matters).
#[inline]
pub(crate) fn mix2(a: u64, b: u64) -> u64 {
    mix64(mix64(a.wrapping_add(GOLDEN)) ^ b)
}

/// A uniform in (0, 1) from the top 52 bits of a word, never 0 or 1. (With 53 bits,
/// `(2^53 − 1) + 0.5` rounds up to 2^53 and the result would be exactly 1.)
#[inline]
pub(crate) fn unit(w: u64) -> f64 {
    ((w >> 12) as f64 + 0.5) * (1.0 / 4_503_599_627_370_496.0)
}

/// A counter-based stream of words (SplitMix64) started from a hash.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stream(u64);

impl Stream {
    #[inline]
    pub(crate) fn new(seed: u64) -> Self {
        Stream(seed)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    #[inline]
    pub(crate) fn next_unit(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_known_values() {
        // SplitMix64 seeded with 0: the first outputs of the reference generator.
        let mut s = Stream::new(0);
        assert_eq!(s.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(s.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn unit_is_open_interval() {
        assert!(unit(0) > 0.0);
        assert!(unit(u64::MAX) < 1.0);
    }
}
