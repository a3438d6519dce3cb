//! Keyed 64-bit fingerprints of (context, token) pairs and contexts, and the set that
//! deduplicates them.
//!
//! The fingerprint key is `secret().derive("dedup", "pair-fingerprint/v1")` of the *profile*
//! (master secret), never an account subkey: every account is tested over exactly the same
//! positions, and a scan's global dedup set does not depend on which key is being tested.
//!
//! The hash is SipHash-1-3 (crate `siphasher`) keyed with the first 16 bytes of that derived key,
//! over the little-endian ids followed by a one-byte domain tag (`1` pair, `2` context).
//! SipHash was measured against one AES-128 block (see `benches/scoring.rs`, group
//! `fingerprint`) and is not the bottleneck of scoring either way.
//!
//! **Collisions** only ever drop a pair (it looks already seen), which removes evidence but never
//! adds any: the test stays valid. With `N` unique pairs the expected number of colliding pairs is
//! about `N² / 2^65`: 0.027 at N = 10^9, 2.7 at N = 10^10.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use provmark_core::scheme::MAX_CONTEXT_WIDTH;
use provmark_core::{Profile, SecretKey};
use siphasher::sip::SipHasher13;

/// Domain tag of pair fingerprints.
const PAIR_TAG: u8 = 1;
/// Domain tag of context fingerprints.
const CONTEXT_TAG: u8 = 2;
/// Domain tag of keyed-input fingerprints.
const KEYED_TAG: u8 = 3;
/// Derivation data of the dedup key (label `dedup`).
const DEDUP_INFO: &[u8] = b"pair-fingerprint/v1";

/// Keyed fingerprints of (context, token) pairs and of contexts alone.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_detect::PairFingerprinter;
/// let profile = Profile::from_secret(SecretKey::from_bytes([9; 32]), Scheme::Gumbel, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let fp = PairFingerprinter::for_profile(&profile);
/// assert_eq!(fp.pair(&[1, 2], 3), fp.pair(&[1, 2], 3));
/// assert_ne!(fp.pair(&[1, 2], 3), fp.pair(&[2, 1], 3));
/// assert_ne!(fp.pair(&[1, 2], 3), fp.context(&[1, 2]));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PairFingerprinter {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for PairFingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairFingerprinter(<key redacted>)")
    }
}

impl PairFingerprinter {
    /// The fingerprinter of a profile (keyed by its master secret, for every account alike).
    pub fn for_profile(profile: &Profile) -> Self {
        Self::from_master(profile.secret())
    }

    /// The fingerprinter of a master secret: key `derive("dedup", "pair-fingerprint/v1")`.
    pub fn from_master(master: &SecretKey) -> Self {
        let k = master.derive("dedup", DEDUP_INFO);
        let b = k.expose_bytes();
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&b[..8]);
        k1.copy_from_slice(&b[8..16]);
        PairFingerprinter {
            k0: u64::from_le_bytes(k0),
            k1: u64::from_le_bytes(k1),
        }
    }

    #[inline(always)]
    fn hash(&self, context: &[u32], token: Option<u32>, tag: u8) -> u64 {
        // One stack buffer, one SipHash call: no allocation, no per-word hasher overhead.
        let mut buf = [0u8; 4 * (MAX_CONTEXT_WIDTH + 1) + 1];
        let mut n = 0;
        for &id in context.iter().take(MAX_CONTEXT_WIDTH) {
            buf[n..n + 4].copy_from_slice(&id.to_le_bytes());
            n += 4;
        }
        if let Some(t) = token {
            buf[n..n + 4].copy_from_slice(&t.to_le_bytes());
            n += 4;
        }
        buf[n] = tag;
        n += 1;
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(&buf[..n]);
        h.finish()
    }

    /// Fingerprint of the pair (context, token). Contexts longer than
    /// [`MAX_CONTEXT_WIDTH`] are cut to their first `MAX_CONTEXT_WIDTH` ids (profiles cannot
    /// have longer ones).
    #[inline]
    pub fn pair(&self, context: &[u32], token: u32) -> u64 {
        self.hash(context, Some(token), PAIR_TAG)
    }

    /// Fingerprint of a PRF's keyed input ([`Prf::keyed_input`](provmark_core::prf::Prf::keyed_input)).
    #[inline]
    pub fn keyed_input(&self, input: u64, token: u32) -> u64 {
        let lo = input as u32;
        let hi = (input >> 32) as u32;
        self.hash(&[lo, hi], Some(token), KEYED_TAG)
    }

    /// Fingerprint of a context alone (vLLM-style context dedup, prompt contexts).
    #[inline]
    pub fn context(&self, context: &[u32]) -> u64 {
        self.hash(context, None, CONTEXT_TAG)
    }
}

/// Passes a fingerprint through as its own hash (fingerprints are already uniform).
#[derive(Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `FingerprintSet`; fold anything else in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A set of 64-bit fingerprints (std's SwissTable with an identity hash).
///
/// **Memory:** 9 bytes per slot (8-byte fingerprint + 1 control byte); the table keeps its
/// load between 7/16 and 7/8, so a unique pair costs 10.3–20.6 bytes (≈ 15 on average over
/// growth). [`FingerprintSet::heap_bytes`] reports the current figure. `clear` keeps the
/// allocation, so one set reused across texts allocates nothing in steady state.
#[derive(Clone, Default)]
pub struct FingerprintSet {
    set: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
}

impl std::fmt::Debug for FingerprintSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintSet")
            .field("len", &self.len())
            .finish()
    }
}

impl FingerprintSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `n` fingerprints.
    pub fn with_capacity(n: usize) -> Self {
        FingerprintSet {
            set: HashSet::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Inserts; returns `true` if the fingerprint was new.
    #[inline]
    pub fn insert(&mut self, fp: u64) -> bool {
        self.set.insert(fp)
    }

    /// Whether the fingerprint is present.
    #[inline]
    pub fn contains(&self, fp: u64) -> bool {
        self.set.contains(&fp)
    }

    /// Number of fingerprints.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Removes everything, keeping the allocation.
    pub fn clear(&mut self) {
        self.set.clear()
    }

    /// Approximate heap bytes held: slots × 9 bytes (fingerprint + control byte).
    pub fn heap_bytes(&self) -> usize {
        let cap = self.set.capacity();
        if cap == 0 {
            return 0;
        }
        // SwissTable: capacity = 7/8 of the bucket count for tables of ≥ 8 buckets.
        let buckets = (cap * 8 / 7).next_power_of_two();
        buckets * 9
    }

    /// Iterates over the fingerprints (arbitrary order).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.set.iter().copied()
    }
}
