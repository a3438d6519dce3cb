//! vLLM's native watermark PRFs, bit-exact, so provmark can detect (and produce) watermarks made
//! by vLLM's serving engine.
//!
//! Implemented from the behaviour written down in `shared/notes/interop/VLLM.md` (sections cited
//! as §n below); pinned by the vectors in `testdata/interop/`.
//!
//! * [`VllmPhiloxPrf`] — `philox4x32-10-v1`, current input mapping (§4.1–4.2), the PRF of vLLM's
//!   Gumbel-max and dual-key Gumbel watermarks. Words are u32; [`Prf::uniform`] is vLLM's
//!   word → float32 rule (§4.3), widened exactly to f64.
//! * [`SbwPrf`] — the keyed greenness of vLLM's SBW (stateless Bernoulli) watermark (§11): the
//!   Jenkins token hash, the selfhash / lefthash seeds and one plain Philox call. Its
//!   [`Prf::uniform`] is chosen so that provmark's green-list rule `uniform < γ` is *exactly*
//!   vLLM's `(word & 0x7FFFFFFF) < trunc(γ · 2147483647)` for every f64 γ in (0, 1).
//! * [`derive_vllm_key`] / [`vllm_dual_keys`] — the dual-key derivation (§2).
//!
//! These PRFs are *not* cryptographic: an observer of enough outputs can learn the keyed values.
//! They exist only for interoperability; provmark's own profiles use [`super::Aes128Prf`].

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::philox::philox4x32_10;
use super::Prf;

/// Profile identifier of [`VllmPhiloxPrf`] (vLLM's `PhiloxPRF.version` is `philox4x32-10-v1`).
pub const VLLM_PHILOX_PRF_ID: &str = "vllm-philox4x32-10-v1";
/// Profile identifier of [`SbwPrf`] with [`SbwVariant::SelfHash`].
pub const VLLM_SBW_SELFHASH_PRF_ID: &str = "vllm-sbw-selfhash-v1";
/// Profile identifier of [`SbwPrf`] with [`SbwVariant::LeftHash`].
pub const VLLM_SBW_LEFTHASH_PRF_ID: &str = "vllm-sbw-lefthash-v1";
/// Profile identifier of [`SbwPrf`] with [`SbwVariant::LeftHashRawSum`].
pub const VLLM_SBW_LEFTHASH_RAW_PRF_ID: &str = "vllm-sbw-lefthash-rawsum-v1";

/// Context domain constant, ASCII "WMCX".
const CONTEXT_DOMAIN: u32 = 0x574D_4358;
/// Token domain constant, ASCII "WMTK".
const TOKEN_DOMAIN: u32 = 0x574D_544B;

/// vLLM's word → uniform rule (`uint32_to_uniform`, §4.3): with `m` the top 24 bits of the word,
/// the float32 immediately below `(m + 1) · 2^-24`, which equals `float32((m + 1) / (2^24 + 1))`
/// (checked exhaustively in the tests). Never 0 or 1.
///
/// ```
/// use provmark_core::prf::vllm_uniform_f32;
/// assert_eq!(vllm_uniform_f32(0).to_bits(), 0x337f_ffff);
/// assert_eq!(vllm_uniform_f32(u32::MAX).to_bits(), 0x3f7f_ffff);
/// ```
#[inline]
pub fn vllm_uniform_f32(word: u32) -> f32 {
    let m = word >> 8;
    // (m + 1) ≤ 2^24 is exact in f32, and so is the product by a power of two.
    let above = (m + 1) as f32 * (1.0 / 16_777_216.0);
    f32::from_bits(above.to_bits() - 1)
}

/// vLLM's `derive_watermark_key(key, domain)` (§2): the first 8 bytes, big-endian, of
/// `SHA-256(domain ‖ key as 8 big-endian bytes)`.
///
/// ```
/// use provmark_core::prf::derive_vllm_key;
/// assert_eq!(derive_vllm_key(42, b"key_a"), 37150756557148556);
/// ```
pub fn derive_vllm_key(key: u64, domain: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(key.to_be_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The two keys of vLLM's dual-key Gumbel watermark (§10.1): `(key A, key B)` derived with the
/// domains `key_a` and `key_b`. Each is then used as the master key of its own [`VllmPhiloxPrf`].
pub fn vllm_dual_keys(key: u64) -> (u64, u64) {
    (
        derive_vllm_key(key, b"key_a"),
        derive_vllm_key(key, b"key_b"),
    )
}

/// vLLM's Philox PRF `philox4x32-10-v1`, current input mapping (§4.1, §4.2).
///
/// Context ids are u32; vLLM's padding id −1 is `u32::MAX` here (its low 32 bits, which is all
/// the PRF reads). The word of token `v` is a u32 (zero-extended to u64): four consecutive tokens
/// `4g..4g+3` share one Philox call and take its output words 0..3.
///
/// ```
/// use provmark_core::prf::{Prf, VllmPhiloxPrf};
/// let prf = VllmPhiloxPrf::new(42, 4);
/// let state = prf.absorb(&[1, 2, 3, 4]);
/// // vLLM tests/watermarking/test_prf.py: PhiloxPRF(42), context [1,2,3,4], token 7.
/// assert_eq!(prf.word(&state, 7), 425429266);
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct VllmPhiloxPrf {
    /// `(key & 0xFFFFFFFF, key >> 32)`.
    key: [u32; 2],
    /// `(stream >> 32, stream & 0xFFFFFFFF)` already placed as XOR masks of key words 0 and 1.
    stream_mask: [u32; 2],
    width: usize,
}

impl std::fmt::Debug for VllmPhiloxPrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VllmPhiloxPrf")
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl VllmPhiloxPrf {
    /// The PRF of vLLM master key `key` (any u64; vLLM's config accepts 0..=2^64−1) for
    /// context width `width`, stream 0 (what vLLM's detectors and ordinary decoding use).
    pub fn new(key: u64, width: usize) -> Self {
        Self::with_stream(key, width, 0)
    }

    /// As [`VllmPhiloxPrf::new`] with an explicit 64-bit `stream`: its **high** half is XORed
    /// into key word 0 and its **low** half into key word 1 of the token call (§4.2).
    pub fn with_stream(key: u64, width: usize, stream: u64) -> Self {
        VllmPhiloxPrf {
            key: [key as u32, (key >> 32) as u32],
            stream_mask: [(stream >> 32) as u32, stream as u32],
            width,
        }
    }

    /// The context width this PRF was built for.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The raw Philox block of token group `group` (tokens `4·group .. 4·group + 3`).
    #[inline]
    fn block(&self, state: &[u32; 4], group: u32) -> [u32; 4] {
        philox4x32_10(
            [group, state[0], state[1], state[2]],
            [
                self.key[0] ^ state[3] ^ self.stream_mask[0],
                self.key[1] ^ TOKEN_DOMAIN ^ self.stream_mask[1],
            ],
        )
    }
}

impl Prf for VllmPhiloxPrf {
    type State = [u32; 4];

    fn id(&self) -> &'static str {
        VLLM_PHILOX_PRF_ID
    }

    /// §4.1: state `(0x574D4358, h, 0, 0)`; for each block of four context words (a short last
    /// block padded with `0xFFFFFFFF − i` at position i) XOR it into the state and run Philox
    /// under the key with the block offset XORed into key word 0.
    fn absorb(&self, context: &[u32]) -> [u32; 4] {
        let mut s = [CONTEXT_DOMAIN, context.len() as u32, 0, 0];
        for (block, chunk) in context.chunks(4).enumerate() {
            let offset = (4 * block) as u32;
            let mut c = s;
            for (i, x) in c.iter_mut().enumerate() {
                *x ^= chunk.get(i).copied().unwrap_or(u32::MAX - i as u32);
            }
            s = philox4x32_10(c, [self.key[0] ^ offset, self.key[1]]);
        }
        s
    }

    #[inline]
    fn word(&self, state: &[u32; 4], token: u32) -> u64 {
        u64::from(self.block(state, token >> 2)[(token & 3) as usize])
    }

    /// Shares one Philox call between consecutive tokens of the same group of four (a
    /// full-vocabulary pass costs V/4 calls).
    fn words(&self, state: &[u32; 4], tokens: &[u32], out: &mut [u64]) {
        let mut cached: Option<(u32, [u32; 4])> = None;
        for (o, &t) in out.iter_mut().zip(tokens) {
            let g = t >> 2;
            let block = match cached {
                Some((cg, b)) if cg == g => b,
                _ => {
                    let b = self.block(state, g);
                    cached = Some((g, b));
                    b
                }
            };
            *o = u64::from(block[(t & 3) as usize]);
        }
    }

    /// [`vllm_uniform_f32`] of the low 32 bits, widened to f64 (exact).
    #[inline]
    fn uniform(&self, word: u64) -> f64 {
        f64::from(vllm_uniform_f32(word as u32))
    }
}

/// Profile identifier of [`VllmDualKeyPrf`].
pub const VLLM_DUAL_KEY_PRF_ID: &str = "vllm-philox4x32-10-v1-dual-key";

/// Both keys of vLLM's dual-key Gumbel watermark (§10) as one PRF: key A = derive(key, "key_a")
/// and key B = derive(key, "key_b"), each a [`VllmPhiloxPrf`]. The word of token v is
/// `word_A(v) | word_B(v) << 32`; [`Prf::uniform`] maps the **low** 32 bits (key A's uniform), so
/// `Scheme::Gumbel` over this PRF is key A's Gumbel watermark and `Scheme::DualKeyGumbel`
/// reads both halves.
///
/// ```
/// use provmark_core::prf::{vllm_dual_keys, Prf, VllmDualKeyPrf, VllmPhiloxPrf};
/// let dual = VllmDualKeyPrf::new(42, 1);
/// let (a, b) = vllm_dual_keys(42);
/// let (pa, pb) = (VllmPhiloxPrf::new(a, 1), VllmPhiloxPrf::new(b, 1));
/// let w = dual.word(&dual.absorb(&[3]), 9);
/// assert_eq!(w & 0xFFFF_FFFF, pa.word(&pa.absorb(&[3]), 9));
/// assert_eq!(w >> 32, pb.word(&pb.absorb(&[3]), 9));
/// ```
#[derive(Clone, Debug)]
pub struct VllmDualKeyPrf {
    a: VllmPhiloxPrf,
    b: VllmPhiloxPrf,
}

impl VllmDualKeyPrf {
    /// The dual-key PRF of vLLM master key `key` for context width `width`.
    pub fn new(key: u64, width: usize) -> Self {
        let (a, b) = vllm_dual_keys(key);
        VllmDualKeyPrf {
            a: VllmPhiloxPrf::new(a, width),
            b: VllmPhiloxPrf::new(b, width),
        }
    }

    /// The context width this PRF was built for.
    pub fn width(&self) -> usize {
        self.a.width()
    }
}

impl Prf for VllmDualKeyPrf {
    /// Key A's state, then key B's.
    type State = [[u32; 4]; 2];

    fn id(&self) -> &'static str {
        VLLM_DUAL_KEY_PRF_ID
    }

    fn absorb(&self, context: &[u32]) -> [[u32; 4]; 2] {
        [self.a.absorb(context), self.b.absorb(context)]
    }

    #[inline]
    fn word(&self, state: &[[u32; 4]; 2], token: u32) -> u64 {
        self.a.word(&state[0], token) | self.b.word(&state[1], token) << 32
    }

    /// Key A's uniform (the low 32 bits), as [`VllmPhiloxPrf::uniform`].
    #[inline]
    fn uniform(&self, word: u64) -> f64 {
        f64::from(vllm_uniform_f32(word as u32))
    }
}

/// vLLM SBW's token hash `h(x)` (§11.2; Bob Jenkins' 32-bit integer hash on wrapping signed
/// int32 with arithmetic shifts), sign-extended. Only the low 32 bits of `x + 1` matter, so
/// `h(-1) = h(0xFFFFFFFF) = 0`.
///
/// ```
/// use provmark_core::prf::sbw_token_hash;
/// assert_eq!(sbw_token_hash(-1), 0);
/// assert_eq!(sbw_token_hash(42), 1901437025);
/// ```
#[inline]
pub fn sbw_token_hash(x: i64) -> i64 {
    let mut i = x.wrapping_add(1) as i32;
    i = i.wrapping_sub(i.wrapping_shl(6));
    i ^= i >> 17;
    i = i.wrapping_sub(i.wrapping_shl(9));
    i ^= i.wrapping_shl(4);
    i = i.wrapping_sub(i.wrapping_shl(3));
    i ^= i.wrapping_shl(10);
    i ^= i >> 15;
    i64::from(i)
}

/// vLLM's `gamma_int = trunc(γ · 2147483647)` (§11.1; the product in f64). Greenness of a word
/// is `(word & 0x7FFFFFFF) < gamma_int`; [`SbwPrf`]'s uniform reproduces this rule.
pub fn sbw_gamma_threshold(gamma: f64) -> u32 {
    (gamma * SBW_M).trunc() as u32
}

const SBW_M: f64 = 2_147_483_647.0;
/// The largest f64 below 1.
const ONE_MINUS_ULP: f64 = 1.0 - f64::EPSILON / 2.0;

#[inline]
fn next_up_pos(x: f64) -> f64 {
    f64::from_bits(x.to_bits() + 1)
}
#[inline]
fn next_down_pos(x: f64) -> f64 {
    f64::from_bits(x.to_bits() - 1)
}

/// The uniform that makes `uniform(word) < γ` ⇔ `(word & 0x7FFFFFFF) < trunc(γ·2147483647)`
/// hold for every f64 γ in (0, 1).
///
/// With `x = word & 0x7FFFFFFF`: `x < trunc(fl(γ·M))` ⇔ `x + 1 ≤ fl(γ·M)`. As `γ ↦ fl(γ·M)` is
/// non-decreasing, the γ satisfying it are exactly those ≥ `g(x)`, the least f64 with
/// `fl(g·M) ≥ x + 1`; so the uniform is the f64 just below `g(x)`. `x = 2^31 − 1` is never green
/// for γ < 1, and its uniform is the largest f64 below 1. Results lie strictly inside (0, 1).
///
/// ```
/// use provmark_core::prf::{sbw_gamma_threshold, sbw_green_uniform};
/// for w in [0u64, 1, 1073741822, 1073741823, 0x8000_0000 | 1073741822, 0xFFFF_FFFF] {
///     let vllm_green = (w & 0x7FFF_FFFF) < u64::from(sbw_gamma_threshold(0.5));
///     assert_eq!(sbw_green_uniform(w) < 0.5, vllm_green);
/// }
/// ```
#[inline]
pub fn sbw_green_uniform(word: u64) -> f64 {
    let x = (word & 0x7FFF_FFFF) as u32;
    if x == 0x7FFF_FFFF {
        return ONE_MINUS_ULP;
    }
    let target = f64::from(x + 1);
    // g ∈ (0, 1]; the correction loops run at most a step or two.
    let mut g = target / SBW_M;
    while g * SBW_M < target {
        g = next_up_pos(g);
    }
    loop {
        let p = next_down_pos(g);
        if p * SBW_M >= target {
            g = p;
        } else {
            break;
        }
    }
    next_down_pos(g)
}

/// Which SBW seed (§11.3) an [`SbwPrf`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SbwVariant {
    /// `selfhash` (vLLM's default): `seed = min(K·h(v)², K·h(c)·h(v) for c in ctx[1..])`, signed
    /// min; the oldest context token is not used.
    SelfHash,
    /// `lefthash` as vLLM's **detector** computes it: `seed = K · Σ h(ctx[j])`.
    LeftHash,
    /// `lefthash` as vLLM's **generator** seeds it: `seed = K · Σ ctx[j]` over raw ids, padding −1
    /// included. vLLM's own detector does not match this; use it to detect text vLLM generated
    /// with `lefthash`.
    LeftHashRawSum,
}

/// State of an [`SbwPrf`] after a context.
#[derive(Clone, Copy, Debug)]
pub struct SbwState {
    /// `selfhash`: `h(c)` of the context tokens after the oldest (low 32 bits; `h` is an int32).
    hashes: [i32; 15],
    /// Number of valid entries in `hashes`.
    len: u8,
    /// `lefthash`: the seed.
    seed: i64,
}

/// The keyed greenness of vLLM's SBW watermark (§11.3–11.4). Use it with
/// `Scheme::Green { gamma: sbw_gamma, delta: sbw_delta }`: `Watermark::is_green` then equals
/// vLLM's rule bit for bit (see [`sbw_green_uniform`]).
///
/// The key is vLLM's integer key as a wrapping int64: keys ≥ 2^63 (which vLLM's SBW rejects with
/// an overflow error) are taken as two's complement. Context ids are u32; vLLM's padding −1 is
/// `u32::MAX`, and ids are sign-extended from 32 bits where raw ids are summed
/// ([`SbwVariant::LeftHashRawSum`]), so `u32::MAX` counts as −1.
///
/// ```
/// use provmark_core::prf::{Prf, SbwPrf, SbwVariant};
/// let prf = SbwPrf::new(42, SbwVariant::SelfHash, 4);
/// let s = prf.absorb(&[10, 11, 12, 13]);
/// let green: String = (0..16).map(|v| if prf.uniform(prf.word(&s, v)) < 0.5 { '1' } else { '0' }).collect();
/// assert_eq!(green, "1110011100011110");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SbwPrf {
    key: i64,
    #[zeroize(skip)]
    variant: SbwVariant,
    width: usize,
}

impl std::fmt::Debug for SbwPrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SbwPrf")
            .field("variant", &self.variant)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl SbwPrf {
    /// The SBW PRF of vLLM key `key` for context width `width` (≤ 16).
    pub fn new(key: u64, variant: SbwVariant, width: usize) -> Self {
        SbwPrf {
            key: key as i64,
            variant,
            width,
        }
    }

    /// The seed variant.
    pub fn variant(&self) -> SbwVariant {
        self.variant
    }

    /// The context width this PRF was built for.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The seed of token `v` under an absorbed context (§11.3).
    #[inline]
    pub fn seed(&self, state: &SbwState, token: u32) -> i64 {
        match self.variant {
            SbwVariant::SelfHash => {
                let hv = sbw_token_hash(i64::from(token));
                let khv = self.key.wrapping_mul(hv);
                let mut seed = khv.wrapping_mul(hv);
                for &hc in &state.hashes[..usize::from(state.len)] {
                    seed = seed.min(khv.wrapping_mul(i64::from(hc)));
                }
                seed
            }
            SbwVariant::LeftHash | SbwVariant::LeftHashRawSum => state.seed,
        }
    }
}

impl Prf for SbwPrf {
    type State = SbwState;

    fn id(&self) -> &'static str {
        match self.variant {
            SbwVariant::SelfHash => VLLM_SBW_SELFHASH_PRF_ID,
            SbwVariant::LeftHash => VLLM_SBW_LEFTHASH_PRF_ID,
            SbwVariant::LeftHashRawSum => VLLM_SBW_LEFTHASH_RAW_PRF_ID,
        }
    }

    fn absorb(&self, context: &[u32]) -> SbwState {
        let mut st = SbwState {
            hashes: [0; 15],
            len: 0,
            seed: 0,
        };
        match self.variant {
            SbwVariant::SelfHash => {
                // Contexts longer than 16 are rejected by the scheme; keep the newest 15 if ever.
                let tail = context.get(1..).unwrap_or(&[]);
                let tail = &tail[tail.len().saturating_sub(15)..];
                for (slot, &c) in st.hashes.iter_mut().zip(tail) {
                    // h returns a sign-extended int32, so the truncation is lossless.
                    *slot = sbw_token_hash(i64::from(c)) as i32;
                }
                st.len = tail.len() as u8;
            }
            SbwVariant::LeftHash => {
                let sum = context.iter().fold(0i64, |acc, &c| {
                    acc.wrapping_add(sbw_token_hash(i64::from(c)))
                });
                st.seed = self.key.wrapping_mul(sum);
            }
            SbwVariant::LeftHashRawSum => {
                let sum = context
                    .iter()
                    .fold(0i64, |acc, &c| acc.wrapping_add(i64::from(c as i32)));
                st.seed = self.key.wrapping_mul(sum);
            }
        }
        st
    }

    /// One Philox4x32-10 call with counter `(v / 4, 0, 0, 0)` and key
    /// `(lo32(seed), lo32(seed >> 32))`; the word is output `v mod 4` (§11.4).
    #[inline]
    fn word(&self, state: &SbwState, token: u32) -> u64 {
        let seed = self.seed(state, token);
        let out = philox4x32_10([token >> 2, 0, 0, 0], [seed as u32, (seed >> 32) as u32]);
        u64::from(out[(token & 3) as usize])
    }

    /// `(seed, token)`: the word is a function of these alone (§11.4).
    #[inline]
    fn keyed_input(&self, state: &SbwState, token: u32) -> Option<(u64, u32)> {
        Some((self.seed(state, token) as u64, token))
    }

    /// [`sbw_green_uniform`]: makes `uniform < γ` vLLM's greenness test.
    #[inline]
    fn uniform(&self, word: u64) -> f64 {
        sbw_green_uniform(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_bit_trick_equals_division_rule() {
        // §4.3: float32((m+1)/(2^24+1)) with the division in f64, for every m (2^24 values).
        for m in 0u32..(1 << 24) {
            let by_division = (f64::from(m + 1) / 16_777_217.0) as f32;
            assert_eq!(
                vllm_uniform_f32(m << 8).to_bits(),
                by_division.to_bits(),
                "m = {m}"
            );
        }
    }

    #[test]
    fn sbw_uniform_threshold_edges() {
        for x in [
            0u32,
            1,
            2,
            3,
            1 << 20,
            536870910,
            536870911,
            1073741822,
            1073741823,
            1073741824,
        ]
        .into_iter()
        .chain([0x7FFF_FFFD, 0x7FFF_FFFE, 0x7FFF_FFFF])
        {
            let u = sbw_green_uniform(u64::from(x));
            assert!(u > 0.0 && u < 1.0);
        }
    }
}
