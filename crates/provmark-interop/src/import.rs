//! Building profiles from imported keys with the reference implementations' defaults — what
//! `provmark keygen --import vllm|synthid` needs beyond reading the key file
//! ([`crate::keys`]).
//!
//! ```
//! use provmark_core::{Scheme, TokenizerSpec};
//! use provmark_interop::import::{vllm_profile, VllmImport};
//! let p = vllm_profile(42, &VllmImport::default(), TokenizerSpec::default_openai()).unwrap();
//! assert_eq!((p.prf.as_str(), p.scheme, p.context_width), ("vllm-philox4x32-10-v1", Scheme::Gumbel, 4));
//! assert!(!p.supports_accounts());
//! ```

use provmark_core::prf::{
    SbwVariant, SYNTHID_PRF_ID, VLLM_DUAL_KEY_PRF_ID, VLLM_PHILOX_PRF_ID, VLLM_SBW_LEFTHASH_PRF_ID,
    VLLM_SBW_LEFTHASH_RAW_PRF_ID, VLLM_SBW_SELFHASH_PRF_ID,
};
use provmark_core::{ForeignKey, Profile, Scheme, SecretKey, TokenizerSpec};

use crate::error::{InteropError, Result};
use crate::synthid::DEFAULT_NGRAM_LEN;
use crate::vllm::{DEFAULT_CONTEXT_WIDTH, DEFAULT_LEFTHASH_CONTEXT_WIDTH};

/// vLLM's `algorithm` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VllmImportAlgorithm {
    /// `gumbel` (default).
    #[default]
    Gumbel,
    /// `dual_key_gumbel`.
    DualKeyGumbel,
    /// `sbw`.
    Sbw,
}

/// Options of `keygen --import vllm`; `None` takes vLLM's default.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct VllmImport {
    /// `--algorithm`.
    pub algorithm: VllmImportAlgorithm,
    /// `--context-width` (default 4; SBW lefthash 1).
    pub context_width: Option<usize>,
    /// `--alpha` of dual-key Gumbel (default 0.1).
    pub alpha: Option<f64>,
    /// `--sbw-scheme` (default selfhash). `LeftHash` matches vLLM's *detector*;
    /// `LeftHashRawSum` matches the seed vLLM's lefthash *generator* uses (see
    /// [`SbwVariant`]).
    pub sbw_variant: Option<SbwVariant>,
    /// `--sbw-gamma` (default 0.5).
    pub sbw_gamma: Option<f64>,
    /// `sbw_delta` (default 2.0; only used when generating).
    pub sbw_delta: Option<f64>,
}

/// A profile for vLLM integer key `key` with a fresh provmark secret from the OS RNG.
pub fn vllm_profile(key: u64, opts: &VllmImport, tokenizer: TokenizerSpec) -> Result<Profile> {
    vllm_profile_with_secret(SecretKey::generate()?, key, opts, tokenizer)
}

/// [`vllm_profile`] with a given provmark secret (tests).
pub fn vllm_profile_with_secret(
    secret: SecretKey,
    key: u64,
    opts: &VllmImport,
    tokenizer: TokenizerSpec,
) -> Result<Profile> {
    let variant = opts.sbw_variant.unwrap_or(SbwVariant::SelfHash);
    let (prf, scheme, default_width) = match opts.algorithm {
        VllmImportAlgorithm::Gumbel => (VLLM_PHILOX_PRF_ID, Scheme::Gumbel, DEFAULT_CONTEXT_WIDTH),
        VllmImportAlgorithm::DualKeyGumbel => (
            VLLM_DUAL_KEY_PRF_ID,
            Scheme::DualKeyGumbel {
                alpha: opts.alpha.unwrap_or(0.1),
            },
            DEFAULT_CONTEXT_WIDTH,
        ),
        VllmImportAlgorithm::Sbw => {
            let (prf, w) = match variant {
                SbwVariant::SelfHash => (VLLM_SBW_SELFHASH_PRF_ID, DEFAULT_CONTEXT_WIDTH),
                SbwVariant::LeftHash => (VLLM_SBW_LEFTHASH_PRF_ID, DEFAULT_LEFTHASH_CONTEXT_WIDTH),
                _ => (VLLM_SBW_LEFTHASH_RAW_PRF_ID, DEFAULT_LEFTHASH_CONTEXT_WIDTH),
            };
            let scheme = Scheme::Green {
                gamma: opts.sbw_gamma.unwrap_or(0.5),
                delta: opts.sbw_delta.unwrap_or(2.0),
            };
            (prf, scheme, w)
        }
    };
    if opts.algorithm != VllmImportAlgorithm::DualKeyGumbel && opts.alpha.is_some() {
        return Err(InteropError::param(
            "alpha",
            "only dual_key_gumbel takes --alpha",
        ));
    }
    if opts.algorithm != VllmImportAlgorithm::Sbw
        && (opts.sbw_variant.is_some() || opts.sbw_gamma.is_some() || opts.sbw_delta.is_some())
    {
        return Err(InteropError::param(
            "sbw",
            "--sbw-* options need --algorithm sbw",
        ));
    }
    let width = opts.context_width.unwrap_or(default_width);
    Ok(Profile::from_foreign(
        secret,
        ForeignKey::Vllm(key),
        prf,
        scheme,
        width,
        tokenizer,
    )?)
}

/// A profile for a SynthID-Text key list (`ngram_len` default 5, i.e. context width 4) with a
/// fresh provmark secret from the OS RNG.
pub fn synthid_profile(
    keys: &[i64],
    ngram_len: Option<usize>,
    tokenizer: TokenizerSpec,
) -> Result<Profile> {
    synthid_profile_with_secret(SecretKey::generate()?, keys, ngram_len, tokenizer)
}

/// [`synthid_profile`] with a given provmark secret (tests).
pub fn synthid_profile_with_secret(
    secret: SecretKey,
    keys: &[i64],
    ngram_len: Option<usize>,
    tokenizer: TokenizerSpec,
) -> Result<Profile> {
    let n = ngram_len.unwrap_or(DEFAULT_NGRAM_LEN);
    if n == 0 {
        return Err(InteropError::param("ngram_len", "must be ≥ 1"));
    }
    Ok(Profile::from_foreign(
        secret,
        ForeignKey::SynthId(keys.to_vec()),
        SYNTHID_PRF_ID,
        Scheme::Tournament {
            layers: keys.len() as u32,
        },
        n - 1,
        tokenizer,
    )?)
}
