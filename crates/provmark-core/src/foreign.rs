//! Imported keys of other systems' watermarks (vLLM, SynthID-Text) and the profile rules that
//! bind them to a PRF and a scheme.
//!
//! An imported profile keeps a fresh provmark secret beside the foreign key: the secret gives
//! the public key id, report MACs and dedup fingerprints (so a low-entropy foreign key such as
//! vLLM's `42` is never exposed to brute force through the key id); the foreign key drives the
//! PRF. Foreign schemes have one key: per-account subkeys do not exist for them.
//!
//! | `prf` | scheme | foreign key | context width |
//! |---|---|---|---|
//! | `vllm-philox4x32-10-v1` | `gumbel` | `vllm` | 1 ..= 16 |
//! | `vllm-philox4x32-10-v1-dual-key` | `dual_key_gumbel` | `vllm` | 1 ..= 16 |
//! | `vllm-sbw-selfhash-v1`, `vllm-sbw-lefthash-v1`, `vllm-sbw-lefthash-rawsum-v1` | `green` | `vllm` | 1 ..= 16 |
//! | `synthid-text-addb4a1` | `tournament` with `layers` = number of keys | `synthid` | 0 ..= 16 (ngram_len − 1) |

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::{CoreError, Result};
use crate::prf::{
    AnyPrf, SbwPrf, SbwVariant, SynthIdPrf, VllmDualKeyPrf, VllmPhiloxPrf, SYNTHID_PRF_ID,
    VLLM_DUAL_KEY_PRF_ID, VLLM_PHILOX_PRF_ID, VLLM_SBW_LEFTHASH_PRF_ID,
    VLLM_SBW_LEFTHASH_RAW_PRF_ID, VLLM_SBW_SELFHASH_PRF_ID,
};
use crate::scheme::{Scheme, MAX_CONTEXT_WIDTH};

/// Key material of another system's watermark. A secret: `Debug` never shows it and it is
/// zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignKey {
    /// vLLM's integer watermark key (0 ..= 2^64 − 1).
    Vllm(u64),
    /// SynthID-Text's key list, one key per tournament layer (1 to 64).
    SynthId(Vec<i64>),
}

impl std::fmt::Debug for ForeignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForeignKey::Vllm(_) => f.write_str("ForeignKey::Vllm(<redacted>)"),
            ForeignKey::SynthId(k) => write!(f, "ForeignKey::SynthId(<{} keys redacted>)", k.len()),
        }
    }
}

impl Drop for ForeignKey {
    fn drop(&mut self) {
        match self {
            ForeignKey::Vllm(k) => k.zeroize(),
            ForeignKey::SynthId(k) => k.zeroize(),
        }
    }
}

/// The profile-file form of a [`ForeignKey`]. vLLM's key is a decimal string (u64 exceeds the
/// integers JSON readers keep exact).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ForeignKeyFile {
    Vllm {
        key: String,
    },
    #[serde(rename = "synthid")]
    SynthId {
        keys: Vec<i64>,
    },
}

impl Drop for ForeignKeyFile {
    fn drop(&mut self) {
        match self {
            ForeignKeyFile::Vllm { key } => key.zeroize(),
            ForeignKeyFile::SynthId { keys } => keys.zeroize(),
        }
    }
}

impl ForeignKey {
    pub(crate) fn to_file(&self) -> ForeignKeyFile {
        match self {
            ForeignKey::Vllm(k) => ForeignKeyFile::Vllm { key: k.to_string() },
            ForeignKey::SynthId(k) => ForeignKeyFile::SynthId { keys: k.clone() },
        }
    }

    /// Reads the file form; the error never quotes the key.
    pub(crate) fn from_file(f: &ForeignKeyFile) -> std::result::Result<Self, String> {
        match f {
            ForeignKeyFile::Vllm { key } => key
                .trim()
                .parse::<u64>()
                .map(ForeignKey::Vllm)
                .map_err(|_| "`foreign.key` is not an integer in 0..=18446744073709551615".into()),
            ForeignKeyFile::SynthId { keys } => Ok(ForeignKey::SynthId(keys.clone())),
        }
    }
}

/// Whether `prf` names one of the foreign PRFs.
pub fn is_foreign_prf(prf: &str) -> bool {
    [
        VLLM_PHILOX_PRF_ID,
        VLLM_DUAL_KEY_PRF_ID,
        VLLM_SBW_SELFHASH_PRF_ID,
        VLLM_SBW_LEFTHASH_PRF_ID,
        VLLM_SBW_LEFTHASH_RAW_PRF_ID,
        SYNTHID_PRF_ID,
    ]
    .contains(&prf)
}

fn mismatch(prf: &str, what: &str) -> CoreError {
    CoreError::param("prf", format!("`{prf}` {what}"))
}

/// Checks that a foreign key, PRF, scheme and context width belong together (table above).
pub(crate) fn validate(prf: &str, scheme: &Scheme, width: usize, key: &ForeignKey) -> Result<()> {
    scheme.validate()?;
    if width > MAX_CONTEXT_WIDTH {
        return Err(CoreError::param(
            "context_width",
            format!("{width} exceeds the maximum of {MAX_CONTEXT_WIDTH}"),
        ));
    }
    match (prf, key) {
        (
            VLLM_PHILOX_PRF_ID | VLLM_DUAL_KEY_PRF_ID | VLLM_SBW_SELFHASH_PRF_ID,
            ForeignKey::Vllm(_),
        )
        | (VLLM_SBW_LEFTHASH_PRF_ID | VLLM_SBW_LEFTHASH_RAW_PRF_ID, ForeignKey::Vllm(_)) => {
            if width == 0 {
                return Err(CoreError::param(
                    "context_width",
                    "vLLM requires a context width ≥ 1",
                ));
            }
            let ok = match prf {
                VLLM_PHILOX_PRF_ID => matches!(scheme, Scheme::Gumbel),
                VLLM_DUAL_KEY_PRF_ID => matches!(scheme, Scheme::DualKeyGumbel { .. }),
                _ => matches!(scheme, Scheme::Green { .. }),
            };
            if !ok {
                return Err(mismatch(
                    prf,
                    &format!("does not go with scheme `{}`", scheme.name()),
                ));
            }
            Ok(())
        }
        (SYNTHID_PRF_ID, ForeignKey::SynthId(keys)) => {
            if keys.is_empty() || keys.len() > 64 {
                return Err(CoreError::param(
                    "keys",
                    format!(
                        "a SynthID key list needs 1 to 64 keys, found {}",
                        keys.len()
                    ),
                ));
            }
            match scheme {
                Scheme::Tournament { layers } if *layers as usize == keys.len() => Ok(()),
                Scheme::Tournament { layers } => Err(CoreError::param(
                    "layers",
                    format!("{layers} layers but {} SynthID keys", keys.len()),
                )),
                other => Err(mismatch(
                    prf,
                    &format!("does not go with scheme `{}`", other.name()),
                )),
            }
        }
        (p, _) if is_foreign_prf(p) => {
            Err(mismatch(p, "does not go with this kind of imported key"))
        }
        (p, _) => Err(mismatch(p, "is not a foreign PRF")),
    }
}

/// The PRF of a validated foreign profile.
pub(crate) fn build_prf(prf: &str, width: usize, key: &ForeignKey) -> Result<AnyPrf> {
    Ok(match (prf, key) {
        (VLLM_PHILOX_PRF_ID, ForeignKey::Vllm(k)) => AnyPrf::Vllm(VllmPhiloxPrf::new(*k, width)),
        (VLLM_DUAL_KEY_PRF_ID, ForeignKey::Vllm(k)) => {
            AnyPrf::VllmDualKey(VllmDualKeyPrf::new(*k, width))
        }
        (VLLM_SBW_SELFHASH_PRF_ID, ForeignKey::Vllm(k)) => {
            AnyPrf::Sbw(SbwPrf::new(*k, SbwVariant::SelfHash, width))
        }
        (VLLM_SBW_LEFTHASH_PRF_ID, ForeignKey::Vllm(k)) => {
            AnyPrf::Sbw(SbwPrf::new(*k, SbwVariant::LeftHash, width))
        }
        (VLLM_SBW_LEFTHASH_RAW_PRF_ID, ForeignKey::Vllm(k)) => {
            AnyPrf::Sbw(SbwPrf::new(*k, SbwVariant::LeftHashRawSum, width))
        }
        (SYNTHID_PRF_ID, ForeignKey::SynthId(keys)) => {
            AnyPrf::SynthId(SynthIdPrf::new(keys, width)?)
        }
        (p, _) => return Err(mismatch(p, "does not go with this kind of imported key")),
    })
}
