//! The keyed hash of Google DeepMind's SynthID-Text reference (`google-deepmind/synthid-text` at
//! HEAD `addb4a1`, the "hash_fix" version), bit-exact, so provmark can detect SynthID-Text
//! watermarks made with a known key list.
//!
//! Implemented from the behaviour written down in `shared/notes/interop/SYNTHID.md` (sections
//! cited as §n below); pinned by `testdata/interop/synthid_reference_vectors.json`, which was
//! produced by running the reference itself.
//!
//! All arithmetic is wrapping signed 64-bit with arithmetic right shifts (§2).
//!
//! * IV: `SHA-256(keys as int64 little-endian)` read big-endian, mod 2^63 − 1 (§3);
//! * `accumulate_hash`: `h ← (h + x)·6364136223846793005 + 1` per element (§4);
//! * context hash `acc(IV, ctx)`, candidate hash `acc(ctx_hash, [v])`, layer key
//!   `acc(candidate_hash, [keys[d]])`, g-value = bit 30 after 12 rounds of `x ← acc(x, [1]) >> 5`
//!   (§5).
//!
//! [`SynthIdPrf::word`](Prf::word) packs the g-values of all layers into one word: bit `d` is
//! the g-value of layer `d`.

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::Prf;
use crate::error::{CoreError, Result};

/// Profile identifier of [`SynthIdPrf`] (the reference's hashing at commit addb4a1).
pub const SYNTHID_PRF_ID: &str = "synthid-text-addb4a1";

/// Multiplier of `accumulate_hash` (the newlib/musl LCG multiplier).
const LCG_MULT: i64 = 6364136223846793005;
/// Rounds and shift of `get_gvals` (`num_apply_hash = 12`, shift `64 // 12`).
const G_ROUNDS: usize = 12;
const G_SHIFT: u32 = 5;

/// The 30 keys of the reference's `DEFAULT_WATERMARKING_CONFIG` (public: demos and tests only).
pub const SYNTHID_DEFAULT_KEYS: [i64; 30] = [
    654, 400, 836, 123, 340, 443, 597, 160, 57, 29, 590, 639, 13, 715, 468, 990, 966, 226, 324,
    585, 118, 504, 421, 521, 129, 669, 732, 225, 90, 960,
];

/// The reference's `accumulate_hash` (§4): for each `x`, `h ← ((h + x)·MULT) + 1`, wrapping.
///
/// ```
/// use provmark_core::prf::synthid_accumulate;
/// assert_eq!(synthid_accumulate(1, &[0]), 6364136223846793006);
/// assert_eq!(synthid_accumulate(1, &[464, 3835, 338, 649]), 293124568360757211);
/// ```
#[inline]
pub fn synthid_accumulate(mut h: i64, data: &[i64]) -> i64 {
    for &x in data {
        h = acc1(h, x);
    }
    h
}

#[inline(always)]
fn acc1(h: i64, x: i64) -> i64 {
    h.wrapping_add(x).wrapping_mul(LCG_MULT).wrapping_add(1)
}

/// The IV of a key list (§3): SHA-256 of the keys as consecutive little-endian int64, read as a
/// big-endian 256-bit integer, reduced mod 2^63 − 1.
///
/// ```
/// use provmark_core::prf::{synthid_hash_iv, SYNTHID_DEFAULT_KEYS};
/// assert_eq!(synthid_hash_iv(&SYNTHID_DEFAULT_KEYS), 1614033703599872695);
/// ```
pub fn synthid_hash_iv(keys: &[i64]) -> i64 {
    let mut h = Sha256::new();
    for k in keys {
        h.update(k.to_le_bytes());
    }
    let digest = h.finalize();
    const P: u128 = (1u128 << 63) - 1;
    let r = digest
        .iter()
        .fold(0u128, |r, &b| ((r << 8) | u128::from(b)) % P);
    r as i64
}

/// The g-value of a layer key (§5 step 4, `get_gvals`): 12 rounds of `x ← acc(x, [1]) >> 5`
/// (arithmetic shift), then bit 30 of x.
///
/// ```
/// use provmark_core::prf::synthid_g_value;
/// assert_eq!((synthid_g_value(0), synthid_g_value(1), synthid_g_value(-1)), (1, 1, 0));
/// ```
#[inline]
pub fn synthid_g_value(layer_key: i64) -> u64 {
    let mut x = layer_key;
    for _ in 0..G_ROUNDS {
        x = acc1(x, 1) >> G_SHIFT;
    }
    ((x >> 30) & 1) as u64
}

/// SynthID-Text's keyed g-values behind the [`Prf`] trait.
///
/// The context width is the reference's `ngram_len − 1` (default 4); context ids are u32,
/// zero-extended (the reference's generation pads a short context with token id 0). The word of
/// token v has bit d = g-value of layer d, for d < [`depth`](SynthIdPrf::depth) (at most 64);
/// higher bits are 0. [`Prf::uniform`] is the generic mapping and carries no SynthID meaning:
/// a tournament scheme reads the bits.
///
/// ```
/// use provmark_core::prf::{Prf, SynthIdPrf, SYNTHID_DEFAULT_KEYS};
/// let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, 4).unwrap();
/// let s = prf.absorb(&[1, 2, 3, 4]);
/// let g: String = (0..30).map(|d| if prf.word(&s, 5) >> d & 1 == 1 { '1' } else { '0' }).collect();
/// assert_eq!(g, "010001100011101000101110010010");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SynthIdPrf {
    keys: Vec<i64>,
    iv: i64,
    width: usize,
}

impl std::fmt::Debug for SynthIdPrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynthIdPrf")
            .field("depth", &self.keys.len())
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl SynthIdPrf {
    /// The PRF of a key list (one key per tournament layer, 1 to 64 layers) for context width
    /// `width` (`ngram_len − 1`).
    pub fn new(keys: &[i64], width: usize) -> Result<Self> {
        if keys.is_empty() || keys.len() > 64 {
            return Err(CoreError::param(
                "keys",
                format!(
                    "a SynthID key list needs 1 to 64 keys, found {}",
                    keys.len()
                ),
            ));
        }
        Ok(SynthIdPrf {
            keys: keys.to_vec(),
            iv: synthid_hash_iv(keys),
            width,
        })
    }

    /// Number of tournament layers (keys).
    pub fn depth(&self) -> usize {
        self.keys.len()
    }

    /// The context width (`ngram_len − 1`).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The reference's `hash_iv` of this key list.
    pub fn hash_iv(&self) -> i64 {
        self.iv
    }
}

impl Prf for SynthIdPrf {
    /// The context hash `acc(IV, context)`.
    type State = i64;

    fn id(&self) -> &'static str {
        SYNTHID_PRF_ID
    }

    fn absorb(&self, context: &[u32]) -> i64 {
        context.iter().fold(self.iv, |h, &c| acc1(h, i64::from(c)))
    }

    #[inline]
    fn word(&self, state: &i64, token: u32) -> u64 {
        let hv = acc1(*state, i64::from(token));
        // Layer by layer would chain 12 dependent multiplies per layer; running the rounds
        // across all layers at once lets the independent layers overlap (same values as
        // `synthid_g_value` per layer).
        let depth = self.keys.len();
        let mut x = [0i64; 64];
        for (xd, &k) in x.iter_mut().zip(&self.keys) {
            *xd = acc1(hv, k);
        }
        for _ in 0..G_ROUNDS {
            for xd in &mut x[..depth] {
                *xd = acc1(*xd, 1) >> G_SHIFT;
            }
        }
        x[..depth]
            .iter()
            .enumerate()
            .fold(0u64, |w, (d, &xd)| w | ((((xd >> 30) & 1) as u64) << d))
    }
}
