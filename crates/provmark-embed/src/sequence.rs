//! Per-sequence memory of the contexts already watermarked in one generation (spec §4.3).

use crate::error::{EmbedError, Result};

/// Remembers which h-token contexts one generation has already watermarked, so that repeats are
/// sampled plainly (only the first occurrence of a context carries the watermark).
///
/// Storage is an open-addressing hash table over an arena of the contexts themselves, so the
/// test is exact (no fingerprint collisions). It is preallocated for `capacity` distinct
/// contexts — use the generation's maximum length — and then never allocates. Past that, the
/// arena and the table double (amortised O(1) per step; one reallocation per doubling).
///
/// One state belongs to one sequence; call [`SequenceState::reset`] to reuse it for the next
/// generation without freeing its memory. When the embedder's profile disables
/// `skip_repeated_contexts`, the state stores nothing and every step is watermarked.
#[derive(Clone, Debug)]
pub struct SequenceState {
    width: usize,
    enabled: bool,
    /// `count * width` ids, context after context.
    arena: Vec<u32>,
    /// 0 = empty slot, otherwise index into the arena plus one.
    table: Vec<u32>,
    count: usize,
}

/// Where a context was found, or where it would be inserted.
pub(crate) enum Probe {
    Seen,
    New { slot: usize },
}

impl SequenceState {
    /// A state for contexts of `width` ids, preallocated for `capacity` distinct contexts.
    /// `skip_repeated` mirrors the profile's `skip_repeated_contexts`.
    pub fn new(width: usize, capacity: usize, skip_repeated: bool) -> Self {
        let (arena, table) = if skip_repeated {
            let slots = (capacity.max(8) * 2).next_power_of_two();
            (Vec::with_capacity(capacity * width), vec![0u32; slots])
        } else {
            (Vec::new(), Vec::new())
        };
        SequenceState {
            width,
            enabled: skip_repeated,
            arena,
            table,
            count: 0,
        }
    }

    /// The context width this state was built for.
    pub fn context_width(&self) -> usize {
        self.width
    }

    /// Whether repeated contexts are skipped.
    pub fn skips_repeated(&self) -> bool {
        self.enabled
    }

    /// Number of distinct contexts remembered.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no context has been remembered yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets every context (start of a new generation); keeps the memory.
    pub fn reset(&mut self) {
        self.table.fill(0);
        self.arena.clear();
        self.count = 0;
    }

    /// The last `width` ids of `context`, or an error when it is shorter.
    fn tail<'c>(&self, context: &'c [u32]) -> Result<&'c [u32]> {
        if context.len() < self.width {
            return Err(EmbedError::ContextTooShort {
                len: context.len(),
                width: self.width,
            });
        }
        Ok(&context[context.len() - self.width..])
    }

    /// Whether the context formed by the last `width` ids of `context` has been remembered
    /// (always false when repeats are not skipped).
    pub fn contains(&self, context: &[u32]) -> Result<bool> {
        let ctx = self.tail(context)?;
        Ok(self.enabled && matches!(self.probe(ctx), Probe::Seen))
    }

    /// Remembers the context formed by the last `width` ids of `context`; returns true if it
    /// was new. Use this to pre-seed contexts (e.g. from the prompt) that should not be
    /// watermarked. A no-op returning true when repeats are not skipped.
    pub fn insert(&mut self, context: &[u32]) -> Result<bool> {
        let ctx = self.tail(context)?;
        if !self.enabled {
            return Ok(true);
        }
        Ok(match self.probe(ctx) {
            Probe::Seen => false,
            Probe::New { slot } => {
                self.insert_at(slot, ctx);
                true
            }
        })
    }

    #[inline]
    fn hash(context: &[u32]) -> u64 {
        // Not keyed: the table only has to spread contexts; a collision costs a probe, never a
        // wrong answer (entries are compared in full).
        let mut h = 0x9E37_79B9_7F4A_7C15u64 ^ context.len() as u64;
        for &id in context {
            h = (h ^ id as u64).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
            h ^= h >> 32;
        }
        h = (h ^ (h >> 29)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 32)
    }

    /// Looks `context` (exactly `width` ids) up. Only meaningful when enabled.
    #[inline]
    pub(crate) fn probe(&self, context: &[u32]) -> Probe {
        let mask = self.table.len() - 1;
        let w = self.width;
        let mut slot = Self::hash(context) as usize & mask;
        loop {
            let e = self.table[slot];
            if e == 0 {
                return Probe::New { slot };
            }
            let at = (e as usize - 1) * w;
            if self.arena[at..at + w] == *context {
                return Probe::Seen;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Inserts `context` (exactly `width` ids) at the slot `probe` returned (nothing may have
    /// been inserted in between).
    pub(crate) fn insert_at(&mut self, slot: usize, context: &[u32]) {
        self.arena.extend_from_slice(context);
        self.count += 1;
        self.table[slot] = self.count as u32;
        if self.count * 2 > self.table.len() {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let slots = self.table.len() * 2;
        self.table.clear();
        self.table.resize(slots, 0);
        let mask = slots - 1;
        let w = self.width;
        for i in 0..self.count {
            let mut slot = Self::hash(&self.arena[i * w..(i + 1) * w]) as usize & mask;
            while self.table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = i as u32 + 1;
        }
    }
}
