//! Keyed 64-bit fingerprints of (context, token) pairs and contexts, and the set that
//! deduplicates them.
//!
//! The fingerprint key is `secret().derive("dedup", "pair-fingerprint/v1")` of the *profile*
//! (master secret), never an account subkey: every account is tested over exactly the same
//! positions, and a scan's global dedup set does not depend on which key is being tested.
//!
//! The hash is SipHash-1-3 keyed with the first 16 bytes of that derived key, over the
//! little-endian ids followed by a one-byte domain tag (`1` pair, `2` context), computed here
//! word by word from the ids (equal to the `siphasher` crate's value, which the tests check).
//! SipHash was measured against one AES-128 block (see `benches/scoring.rs`, group
//! `fingerprint`) and is not the bottleneck of scoring either way.
//!
//! **Collisions** only ever drop a pair (it looks already seen), which removes evidence but never
//! adds any: the test stays valid. With `N` unique pairs the expected number of colliding pairs is
//! about `N² / 2^65`: 0.027 at N = 10^9, 2.7 at N = 10^10.

use provmark_core::scheme::MAX_CONTEXT_WIDTH;
use provmark_core::{Profile, SecretKey};

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

    /// SipHash-1-3 of the ids' little-endian bytes followed by `tag`, computed word by word
    /// from the ids: the same value as `siphasher`'s `SipHasher13` over that byte string (a test
    /// compares them), without the byte buffer and the generic tail handling, which made the
    /// fingerprint the largest single cost of a scan's record loop after the tokenizer.
    #[inline(always)]
    fn hash(&self, context: &[u32], token: Option<u32>, tag: u8) -> u64 {
        let context = &context[..context.len().min(MAX_CONTEXT_WIDTH)];
        sip13_words(
            self.k0,
            self.k1,
            context.iter().copied().chain(token),
            context.len() + usize::from(token.is_some()),
            tag,
        )
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

/// One SipRound.
#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-1-3 (Aumasson & Bernstein's SipHash with one compression and three finalization
/// rounds) of the byte string `w[0] LE ‖ w[1] LE ‖ … ‖ tag`, where `w` yields `n` ids. The
/// message words are assembled in registers (a byte buffer read back as words stalled on
/// store forwarding).
#[inline(always)]
fn sip13_words(k0: u64, k1: u64, mut w: impl Iterator<Item = u32>, n: usize, tag: u8) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    };
    for _ in 0..n / 2 {
        let lo = u64::from(w.next().unwrap_or(0));
        let hi = u64::from(w.next().unwrap_or(0));
        compress(&mut v, lo | (hi << 32));
    }
    // The last block: the remaining bytes (an odd id, then the tag) and the length on top.
    let last = if n % 2 == 1 {
        u64::from(w.next().unwrap_or(0)) | (u64::from(tag) << 32)
    } else {
        u64::from(tag)
    };
    let len = (4 * n + 1) as u64;
    compress(&mut v, last | ((len & 0xff) << 56));
    v[2] ^= 0xff;
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// A set of 64-bit fingerprints: open addressing with linear probing over one array of
/// fingerprints (empty slots hold 0; the fingerprint 0 itself is kept in a flag).
///
/// The slot is picked by the top bits of a multiplicative mix of the fingerprint. One probe touches one
/// cache line, where a SwissTable touches its control bytes and then its slot (two misses on a
/// table larger than the cache: measured as the largest cost of `check` on long texts).
///
/// **Memory:** 8 bytes per slot, at most half the slots used (grown ×2 beyond), so a unique
/// pair costs 16–32 bytes. [`FingerprintSet::heap_bytes`] reports the current figure. `clear`
/// keeps the allocation unless it is far larger than what was used, so one set reused across
/// texts allocates nothing in steady state and never pays to clear a huge table for a short
/// text.
///
/// ```
/// use provmark_detect::FingerprintSet;
/// let mut set = FingerprintSet::new();
/// assert!(set.insert(42));
/// assert!(!set.insert(42));
/// assert!(set.insert(0));
/// assert!(set.contains(0) && set.contains(42) && !set.contains(7));
/// assert_eq!(set.len(), 2);
/// set.clear();
/// assert!(set.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct FingerprintSet {
    slots: Vec<u64>,
    /// Non-zero fingerprints held in `slots`.
    used: usize,
    /// Whether the fingerprint 0 is in the set.
    zero: bool,
}

/// Smallest table (slots).
const MIN_SLOTS: usize = 64;

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
            slots: vec![0; Self::slots_for(n)],
            used: 0,
            zero: false,
        }
    }

    fn slots_for(n: usize) -> usize {
        n.saturating_mul(2).next_power_of_two().max(MIN_SLOTS)
    }

    #[inline(always)]
    fn home(&self, fp: u64) -> usize {
        // `slots.len()` is a power of two ≥ 64. Fingerprints are uniform, but callers partition
        // them by their top bits (a scan's buckets, a parallel dedup's shares), so the slot
        // comes from a multiplicative mix of all bits rather than from the top bits directly.
        (fp.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.slots.len().trailing_zeros()))
            as usize
    }

    /// Inserts; returns `true` if the fingerprint was new.
    #[inline]
    pub fn insert(&mut self, fp: u64) -> bool {
        if fp == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            let s = self.slots[i];
            if s == fp {
                return false;
            }
            if s == 0 {
                self.slots[i] = fp;
                self.used += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts `fps` in order, setting `fresh[i]` to whether `fps[i]` was new — the same as
    /// calling [`FingerprintSet::insert`] on each. The slots of the whole batch are read first,
    /// so that on a table larger than the cache their misses overlap instead of coming one
    /// after another (measured: about half of the scoring time on 200k-token texts).
    ///
    /// ```
    /// use provmark_detect::FingerprintSet;
    /// let mut set = FingerprintSet::new();
    /// let mut fresh = [false; 4];
    /// set.insert_batch(&[5, 9, 5, 0], &mut fresh);
    /// assert_eq!(fresh, [true, true, false, true]);
    /// ```
    pub fn insert_batch(&mut self, fps: &[u64], fresh: &mut [bool]) {
        while (self.used + fps.len()) * 2 > self.slots.len() {
            self.grow_to(self.used + fps.len());
        }
        let mut touched = 0u64;
        for &fp in fps {
            touched ^= self.slots[self.home(fp)];
        }
        std::hint::black_box(touched);
        for (f, &fp) in fresh.iter_mut().zip(fps) {
            *f = self.insert(fp);
        }
    }

    #[cold]
    fn grow(&mut self) {
        self.grow_to(self.used + 1);
    }

    /// Rehashes into a table sized for `n` fingerprints.
    fn grow_to(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0; Self::slots_for(n)]);
        let mask = self.slots.len() - 1;
        for fp in old.into_iter().filter(|&x| x != 0) {
            let mut i = self.home(fp);
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = fp;
        }
    }

    /// Whether the fingerprint is present.
    #[inline]
    pub fn contains(&self, fp: u64) -> bool {
        if fp == 0 {
            return self.zero;
        }
        if self.slots.is_empty() {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                0 => return false,
                s if s == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Number of fingerprints.
    pub fn len(&self) -> usize {
        self.used + usize::from(self.zero)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes everything. Keeps the allocation, unless it is more than 8 times what the
    /// contents needed (then it shrinks, so clearing stays proportional to the use).
    pub fn clear(&mut self) {
        if self.slots.len() > MIN_SLOTS && Self::slots_for(self.used) * 8 < self.slots.len() {
            self.slots = vec![0; Self::slots_for(self.used)];
        } else {
            self.slots.fill(0);
        }
        self.used = 0;
        self.zero = false;
    }

    /// Heap bytes held: 8 per slot.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }

    /// Iterates over the fingerprints (arbitrary order).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.zero
            .then_some(0)
            .into_iter()
            .chain(self.slots.iter().copied().filter(|&x| x != 0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::Hasher;

    /// A xorshift64 stream (test inputs only).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// The set agrees with std's `HashSet` on inserts and lookups, across growth, clears
    /// (with and without shrinking), the zero fingerprint and colliding home slots.
    #[test]
    fn set_matches_hashset() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let mut set = FingerprintSet::new();
        for round in 0..6 {
            let mut want = HashSet::new();
            let n = [10, 5000, 3, 70_000, 0, 200][round];
            // A small pool (repeats), a shared home slot (top bits equal) and zero.
            let fps: Vec<u64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => next() % 64,
                    1 => next() >> 40,
                    _ => next(),
                })
                .collect();
            if round % 2 == 0 {
                for &fp in &fps {
                    assert_eq!(set.insert(fp), want.insert(fp));
                }
            } else {
                // Batches (with repeats inside a batch) give the same answers as one by one.
                for chunk in fps.chunks(7) {
                    let mut fresh = [false; 7];
                    set.insert_batch(chunk, &mut fresh[..chunk.len()]);
                    for (&fp, &f) in chunk.iter().zip(&fresh) {
                        assert_eq!(f, want.insert(fp));
                    }
                }
            }
            assert_eq!(set.len(), want.len());
            for &fp in &want {
                assert!(set.contains(fp));
            }
            for _ in 0..1000 {
                let fp = next();
                assert_eq!(set.contains(fp), want.contains(&fp));
            }
            let mut got: Vec<u64> = set.iter().collect();
            got.sort_unstable();
            let mut all: Vec<u64> = want.iter().copied().collect();
            all.sort_unstable();
            assert_eq!(got, all);
            set.clear();
            assert!(set.is_empty() && !set.contains(0));
        }
    }

    /// The word-by-word SipHash equals the `siphasher` crate's over the same bytes, for every
    /// length a fingerprint can have.
    #[test]
    fn word_siphash_matches_siphasher() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..200 {
            let (k0, k1) = (next(), next());
            for n in 0..=MAX_CONTEXT_WIDTH + 1 {
                let w: Vec<u32> = (0..n).map(|_| next() as u32).collect();
                let tag = next() as u8;
                let mut bytes: Vec<u8> = w.iter().flat_map(|id| id.to_le_bytes()).collect();
                bytes.push(tag);
                let mut h = siphasher::sip::SipHasher13::new_with_keys(k0, k1);
                h.write(&bytes);
                assert_eq!(
                    sip13_words(k0, k1, w.iter().copied(), n, tag),
                    h.finish(),
                    "n = {n}"
                );
            }
        }
    }
}
