//! provmark-core: the one source of truth shared by provmark's embedder and detector.
//!
//! * [`keys`] — the 256-bit secret, its public key id, per-account subkeys, purpose keys.
//! * [`prf`] — the keyed PRF trait and provmark's native AES-128 PRF.
//! * [`scheme`] — scheme parameters and the keyed per-(context, token) values.
//! * [`profile`] — the profile file that binds a secret to every detection parameter.
//! * [`foreign`] — imported keys of other systems' watermarks (vLLM, SynthID-Text).
//! * [`spec`] — the written specification (reimplementable from the text alone).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod foreign;
pub mod keys;
pub mod prf;
pub mod profile;
pub mod scheme;

/// The scheme specification, rendered from `SPEC.md`.
pub mod spec {
    #![doc = include_str!("../SPEC.md")]
}

pub use error::{CoreError, Result};
pub use foreign::ForeignKey;
pub use keys::{KeyId, SecretKey};
pub use profile::{Profile, ProfileWarning, TokenizerSpec};
pub use scheme::{Scheme, Watermark, DEFAULT_CONTEXT_WIDTH};

/// Version of the watermark scheme specification implemented by this crate. A change that
/// alters any keyed value is a new version, never a silent edit.
pub const SPEC_VERSION: u32 = 1;
