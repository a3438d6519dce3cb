//! The Philox4x32-10 block function (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
//! easy as 1, 2, 3", SC 2011; the Random123 library's reference constants).
//!
//! Not a keyed cryptographic PRF: it is here only because vLLM's watermark PRFs are built on it
//! (see [`super::vllm`]). provmark's own scheme uses [`super::Aes128Prf`].

/// Multiplier applied to counter word 0.
const M0: u32 = 0xD251_1F53;
/// Multiplier applied to counter word 2.
const M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (golden ratio).
const W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (sqrt(3) − 1).
const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: maps a 128-bit counter under a 64-bit key to 128 bits.
///
/// One round multiplies counter words 0 and 2 by fixed constants (64-bit products split into
/// high and low halves) and mixes the high halves with words 1 and 3 and the key; the key is
/// advanced by a Weyl sequence between rounds (nine bumps for ten rounds).
///
/// ```
/// use provmark_core::prf::philox4x32_10;
/// // Random123 known-answer vector: zero counter, zero key.
/// assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c0);
        let p1 = u64::from(M1) * u64::from(c2);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    [c0, c1, c2, c3]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `kat_vectors`, philox4x32 with 10 rounds.
    #[test]
    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }
}
