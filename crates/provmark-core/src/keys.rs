//! Key schedule: the 256-bit master secret, its key id, per-account subkeys and purpose keys.
//!
//! Every derived key is `HMAC-SHA256(parent, "provmark/v1/" ‖ label ‖ 0x00 ‖ data)` (see the
//! [`spec`](crate::spec)). Derivation happens once per request (or once per account in a scan),
//! never per token.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{CoreError, Result};

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every derivation label; bumping it is a new key-schedule version.
pub const KDF_PREFIX: &[u8] = b"provmark/v1/";

/// A 256-bit secret. Zeroized on drop; `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SecretKey {}

impl SecretKey {
    /// Draws a fresh secret from the operating system's RNG.
    pub fn generate() -> Result<Self> {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k).map_err(|e| CoreError::Rng(e.to_string()))?;
        Ok(SecretKey(k))
    }

    /// Wraps raw bytes (tests, imports).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// The raw bytes; handle with care.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `HMAC-SHA256(self, "provmark/v1/" ‖ label ‖ 0x00 ‖ data)`.
    pub fn derive(&self, label: &str, data: &[u8]) -> SecretKey {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(KDF_PREFIX);
        mac.update(label.as_bytes());
        mac.update(&[0u8]);
        mac.update(data);
        let out = mac.finalize().into_bytes();
        let mut k = [0u8; 32];
        k.copy_from_slice(&out);
        SecretKey(k)
    }

    /// The public fingerprint of this secret: the first 8 bytes of `derive("key-id", "")`, as 16
    /// lowercase hex digits. It is a PRF output, so it reveals nothing about the key.
    pub fn key_id(&self) -> KeyId {
        let d = self.derive("key-id", b"");
        KeyId(hex::encode(&d.0[..8]))
    }

    /// The subkey of one account: `derive("account", utf8(account_id))`.
    ///
    /// ```
    /// use provmark_core::SecretKey;
    /// let master = SecretKey::from_bytes([7; 32]);
    /// let a = master.account_key("acct-42");
    /// assert_eq!(a, master.account_key("acct-42"));
    /// assert_ne!(a, master.account_key("acct-43"));
    /// ```
    pub fn account_key(&self, account_id: &str) -> SecretKey {
        self.derive("account", account_id.as_bytes())
    }

    /// HMAC-SHA256 of `message` under a purpose key `derive(label, "")` (e.g. report MACs).
    pub fn mac(&self, label: &str, message: &[u8]) -> [u8; 32] {
        let k = self.derive(label, b"");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&k.0).expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Checks a MAC made by [`SecretKey::mac`] in constant time.
    pub fn verify_mac(&self, label: &str, message: &[u8], tag: &[u8]) -> bool {
        let k = self.derive(label, b"");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&k.0).expect("HMAC takes any key length");
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

/// Public fingerprint of a secret key (16 hex digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
