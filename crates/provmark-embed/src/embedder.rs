//! The watermarking embedder: logit bias, watermarked selection, batch forms.

use provmark_core::prf::{AnyPrf, Prf};
use provmark_core::{Profile, Scheme, Watermark};
use rand::RngCore;

use crate::dist::{build_cdf, logit_ok, max_logit, prob_ok, Dist, Scratch};
use crate::error::{EmbedError, Result};
use crate::sequence::{Probe, SequenceState};

/// Number of ids whose PRF words are computed in one pipelined [`Prf::words`] call.
const CHUNK: usize = 64;

/// Rejection draws before the green sampler switches to the direct O(n) method. Either way the
/// output is an exact sample from p'; the switch only bounds the running time. At δ = 2 the
/// acceptance probability per draw is at least e^−2, so the switch happens with probability
/// below (1 − e^−2)^128 ≈ 9e−9.
const MAX_REJECTION_DRAWS: usize = 128;

/// Rejection draws made per batch (see `Embedder::green`).
const DRAW_BATCH: usize = 2;

/// The colours of the tokens drawn so far in one green step (a few entries; linear search).
struct ColourCache {
    ids: [u32; 16],
    green: [bool; 16],
    len: usize,
    next: usize,
}

impl ColourCache {
    fn new() -> Self {
        ColourCache {
            ids: [0; 16],
            green: [false; 16],
            len: 0,
            next: 0,
        }
    }

    #[inline]
    fn get(&self, id: u32) -> Option<bool> {
        self.ids[..self.len]
            .iter()
            .position(|&x| x == id)
            .map(|i| self.green[i])
    }

    #[inline]
    fn put(&mut self, id: u32, green: bool) {
        // Full: overwrite round-robin (a forgotten colour is recomputed, never wrong).
        let i = if self.len < 16 {
            self.len += 1;
            self.len - 1
        } else {
            self.next = (self.next + 1) % 16;
            self.next
        };
        self.ids[i] = id;
        self.green[i] = green;
    }
}

/// Margin added to the Gumbel pruning bound so that floating-point rounding in the exact key
/// (two logarithms, |key error| < 1e−13) can never make a pruned candidate the winner.
const PRUNE_MARGIN: f64 = 1e-9;

/// The token chosen at one step and whether the step carried the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The chosen token id.
    pub token: u32,
    /// `false` when the context had already occurred in this generation and the token was
    /// sampled plainly (spec §4.3).
    pub watermarked: bool,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Green {
        gamma: f64,
        /// e^δ, the weight multiplier of green tokens.
        e_delta: f32,
        /// A red draw is accepted iff a fresh `next_u64() < accept_red` (probability e^−δ).
        accept_red: u64,
        /// δ = 0: every draw is accepted (p' = p).
        accept_all: bool,
    },
    Gumbel,
}

/// Serving-side watermarking for one stream key (the master key or one account's subkey).
///
/// Build it once per request (or once per account and share it: it is `Send + Sync` and
/// immutable); per-token calls take a per-sequence [`SequenceState`], a per-thread [`Scratch`]
/// and the caller's RNG, and never allocate.
///
/// * Green list: [`Embedder::bias_logits`] / [`Embedder::bias_candidate_logits`] add δ in place
///   (one PRF word per entry); [`Embedder::choose`] samples exactly from
///   p'(v) ∝ p(v)·e^{δ·green(v)} by rejection from the plain sampler, touching only the drawn
///   tokens' PRF words.
/// * Gumbel: [`Embedder::choose`] returns argmax_v l_v − ln(−ln u_v) (= argmin −ln(u_v)/p_v, ties
///   to the lowest id), pruning candidates that provably cannot win before taking a logarithm.
///
/// ```
/// use provmark_core::{Profile, Scheme, TokenizerSpec, SecretKey};
/// use provmark_embed::{Dist, Embedder, Scratch};
/// use rand::SeedableRng;
///
/// let profile = Profile::from_secret(SecretKey::from_bytes([7; 32]), Scheme::Gumbel, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let vocab = 1000;
/// let embedder = Embedder::from_profile(&profile, Some("account-42"), vocab).unwrap();
/// let mut seq = embedder.new_sequence(256);
/// let mut scratch = Scratch::with_capacity(vocab);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
///
/// let logits: Vec<f32> = (0..vocab).map(|i| -((i % 50) as f32) / 5.0).collect();
/// let choice = embedder
///     .choose(&mut seq, &[17, 4], Dist::Logits(&logits), &mut scratch, &mut rng)
///     .unwrap();
/// assert!(choice.watermarked && (choice.token as usize) < vocab);
/// // The same context again is sampled plainly.
/// let again = embedder
///     .choose(&mut seq, &[17, 4], Dist::Logits(&logits), &mut scratch, &mut rng)
///     .unwrap();
/// assert!(!again.watermarked);
/// ```
#[derive(Clone, Debug)]
pub struct Embedder<P: Prf = AnyPrf> {
    wm: Watermark<P>,
    vocab: usize,
    skip_repeated: bool,
    kind: Kind,
}

impl Embedder<AnyPrf> {
    /// The embedder of a profile for the master key (`account = None`) or one account's subkey,
    /// over a vocabulary of `vocab_size` tokens. The subkey is derived here, once.
    pub fn from_profile(
        profile: &Profile,
        account: Option<&str>,
        vocab_size: usize,
    ) -> Result<Self> {
        Ok(Embedder::new(profile.watermark(account), vocab_size)?
            .with_skip_repeated_contexts(profile.skip_repeated_contexts))
    }
}

impl<P: Prf> Embedder<P> {
    /// Wraps a keyed scheme for a vocabulary of `vocab_size` tokens. Repeated-context skipping
    /// is on (the spec's default); see [`Embedder::with_skip_repeated_contexts`].
    pub fn new(wm: Watermark<P>, vocab_size: usize) -> Result<Self> {
        if vocab_size == 0 {
            return Err(EmbedError::EmptyVocabulary);
        }
        if vocab_size as u64 > u32::MAX as u64 + 1 {
            return Err(EmbedError::VocabularyTooLarge(vocab_size));
        }
        let kind = match wm.scheme() {
            Scheme::Green { gamma, delta } => Kind::Green {
                gamma,
                e_delta: delta.exp() as f32,
                // e^−δ < 1 for δ > 0, so the product is below 2^64 and the cast floors it.
                accept_red: ((-delta).exp() * 18_446_744_073_709_551_616.0) as u64,
                accept_all: delta == 0.0,
            },
            Scheme::Gumbel => Kind::Gumbel,
            other => return Err(EmbedError::UnsupportedScheme(other.name())),
        };
        Ok(Embedder {
            wm,
            vocab: vocab_size,
            skip_repeated: true,
            kind,
        })
    }

    /// Sets whether [`Embedder::new_sequence`] creates states that skip repeated contexts.
    pub fn with_skip_repeated_contexts(mut self, skip: bool) -> Self {
        self.skip_repeated = skip;
        self
    }

    /// The keyed scheme.
    pub fn watermark(&self) -> &Watermark<P> {
        &self.wm
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// The context width h: every call needs at least h context ids (the last h are used).
    pub fn context_width(&self) -> usize {
        self.wm.context_width()
    }

    /// A fresh per-sequence state preallocated for `capacity` distinct contexts (use the
    /// maximum generation length). Skipping follows the profile's `skip_repeated_contexts`.
    pub fn new_sequence(&self, capacity: usize) -> SequenceState {
        SequenceState::new(self.context_width(), capacity, self.skip_repeated)
    }

    /// The last h ids of `context`.
    #[inline]
    fn context<'c>(&self, context: &'c [u32]) -> Result<&'c [u32]> {
        let h = self.context_width();
        if context.len() < h {
            return Err(EmbedError::ContextTooShort {
                len: context.len(),
                width: h,
            });
        }
        Ok(&context[context.len() - h..])
    }

    #[inline]
    fn check_seq(&self, seq: &SequenceState) -> Result<()> {
        if seq.context_width() != self.context_width() {
            return Err(EmbedError::LengthMismatch {
                what: "sequence state context width vs profile context width",
                expected: self.context_width(),
                found: seq.context_width(),
            });
        }
        Ok(())
    }

    /// `Some(slot)` for a first occurrence (to remember once the step succeeds), `None` when the
    /// state does not skip, `Err(())` for a repeat.
    #[inline]
    fn first_occurrence(
        seq: &SequenceState,
        ctx: &[u32],
    ) -> std::result::Result<Option<usize>, ()> {
        if !seq.skips_repeated() {
            return Ok(None);
        }
        match seq.probe(ctx) {
            Probe::Seen => Err(()),
            Probe::New { slot } => Ok(Some(slot)),
        }
    }

    /// Plain sampling over this embedder's vocabulary (no watermark); see
    /// [`sample_plain`](crate::sample_plain).
    pub fn sample_plain<R: RngCore + ?Sized>(
        &self,
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rng: &mut R,
    ) -> Result<u32> {
        crate::dist::sample_plain(self.vocab, dist, scratch, rng)
    }

    fn green_params(&self, operation: &'static str) -> Result<(f64, f32)> {
        match self.kind {
            Kind::Green { gamma, e_delta, .. } => Ok((gamma, e_delta)),
            Kind::Gumbel => Err(EmbedError::SchemeMismatch {
                operation,
                needs: "green",
                scheme: self.wm.scheme().name(),
            }),
        }
    }

    /// Green list, full vocabulary: adds δ in place to the logit of every green token after
    /// `context` (its last h ids). Returns `Ok(false)` and leaves the logits untouched when the
    /// context repeats in this sequence. `-inf` (masked) stays `-inf`; NaN and `+inf` are
    /// rejected before anything is modified.
    ///
    /// This costs one PRF word per vocabulary entry (pipelined); [`Embedder::choose`] reaches
    /// the same distribution while computing only the drawn tokens' words.
    ///
    /// ```
    /// use provmark_core::{Profile, Scheme, TokenizerSpec, SecretKey};
    /// use provmark_embed::Embedder;
    /// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::DEFAULT_GREEN,
    ///     2, TokenizerSpec::default_openai()).unwrap();
    /// let embedder = Embedder::from_profile(&profile, None, 8).unwrap();
    /// let mut seq = embedder.new_sequence(64);
    /// let mut logits = [0.0f32; 8];
    /// assert!(embedder.bias_logits(&mut seq, &[5, 6], &mut logits).unwrap());
    /// // Every entry is now 0 (red) or δ = 2 (green).
    /// assert!(logits.iter().all(|&l| l == 0.0 || l == 2.0));
    /// ```
    pub fn bias_logits(
        &self,
        seq: &mut SequenceState,
        context: &[u32],
        logits: &mut [f32],
    ) -> Result<bool> {
        self.bias_impl(seq, context, None, logits)
    }

    /// Green list, candidate list: adds δ in place to `logits[i]` when `ids[i]` is green. The
    /// values equal those of [`Embedder::bias_logits`] at the same ids.
    ///
    /// ```
    /// use provmark_core::{Profile, Scheme, TokenizerSpec, SecretKey};
    /// use provmark_embed::Embedder;
    /// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::DEFAULT_GREEN,
    ///     2, TokenizerSpec::default_openai()).unwrap();
    /// let embedder = Embedder::from_profile(&profile, None, 50_000).unwrap();
    /// let mut seq = embedder.new_sequence(64);
    /// let ids = [17u32, 4_000, 31_337];
    /// let mut logits = [3.5f32, 2.0, 1.25];
    /// embedder.bias_candidate_logits(&mut seq, &[5, 6], &ids, &mut logits).unwrap();
    /// ```
    pub fn bias_candidate_logits(
        &self,
        seq: &mut SequenceState,
        context: &[u32],
        ids: &[u32],
        logits: &mut [f32],
    ) -> Result<bool> {
        self.bias_impl(seq, context, Some(ids), logits)
    }

    fn bias_impl(
        &self,
        seq: &mut SequenceState,
        context: &[u32],
        ids: Option<&[u32]>,
        logits: &mut [f32],
    ) -> Result<bool> {
        let (gamma, _) = self.green_params("logit bias")?;
        let delta = match self.wm.scheme() {
            Scheme::Green { delta, .. } => delta as f32,
            _ => 0.0,
        };
        let ctx = self.context(context)?;
        self.check_seq(seq)?;
        match ids {
            None => Dist::Logits(logits).check_shape(self.vocab)?,
            Some(ids) => Dist::CandidateLogits { ids, logits }.check_shape(self.vocab)?,
        }
        if let Some((index, &value)) = logits.iter().enumerate().find(|(_, &l)| !logit_ok(l)) {
            return Err(EmbedError::InvalidLogit { index, value });
        }
        let Ok(slot) = Self::first_occurrence(seq, ctx) else {
            return Ok(false);
        };
        let state = self.wm.absorb(ctx);
        let prf = self.wm.prf();
        let mut words = [0u64; CHUNK];
        let mut idbuf = [0u32; CHUNK];
        for (c, chunk) in logits.chunks_mut(CHUNK).enumerate() {
            let n = chunk.len();
            let base = c * CHUNK;
            let cids: &[u32] = match ids {
                Some(ids) => &ids[base..base + n],
                None => {
                    for (j, x) in idbuf[..n].iter_mut().enumerate() {
                        *x = (base + j) as u32;
                    }
                    &idbuf[..n]
                }
            };
            prf.words(&state, cids, &mut words[..n]);
            for (l, &w) in chunk.iter_mut().zip(&words[..n]) {
                if prf.uniform(w) < gamma {
                    *l += delta;
                }
            }
        }
        if let Some(slot) = slot {
            seq.insert_at(slot, ctx);
        }
        Ok(true)
    }

    /// Chooses the next token after `context` (its last h ids) from the model's distribution.
    ///
    /// * Green list: an exact sample from p'(v) ∝ p(v)·e^{δ·green(v)} — draw v from the plain
    ///   cumulative sum; accept if v is green, otherwise accept with probability e^−δ (coin from
    ///   `rng`); repeat. Expected draws e^δ / (1 + G(e^δ − 1)) for green mass G; the cost beyond
    ///   the plain sampler does not grow with the vocabulary.
    /// * Gumbel: argmax over candidates of l_v − ln(−ln u_v) (ties to the lowest id); `rng` is
    ///   not used unless the context repeats.
    ///
    /// A context already seen in this sequence (when `seq` skips repeats) is sampled plainly,
    /// exactly as [`Embedder::sample_plain`] with the same `rng` state, and reported with
    /// `watermarked: false`. A failed call leaves `seq` unchanged.
    ///
    /// For the same `rng` state, a candidate list listing the unmasked tokens in ascending id
    /// order gives the same token as the full-vocabulary call (Gumbel: in any order).
    pub fn choose<R: RngCore + ?Sized>(
        &self,
        seq: &mut SequenceState,
        context: &[u32],
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rng: &mut R,
    ) -> Result<Choice> {
        let ctx = self.context(context)?;
        self.check_seq(seq)?;
        dist.check_shape(self.vocab)?;
        let Ok(slot) = Self::first_occurrence(seq, ctx) else {
            let cdf = build_cdf(&dist, scratch)?;
            return Ok(Choice {
                token: dist.id(cdf.draw(rng)),
                watermarked: false,
            });
        };
        let token = match self.kind {
            Kind::Green { .. } => self.green(ctx, dist, scratch, rng)?,
            Kind::Gumbel => self.gumbel(ctx, dist)?,
        };
        if let Some(slot) = slot {
            seq.insert_at(slot, ctx);
        }
        Ok(Choice {
            token,
            watermarked: true,
        })
    }

    /// Batch form of [`Embedder::choose`] over `seqs.len()` sequences.
    ///
    /// Layout (row-major, as a serving stack holds its tensors): `contexts` holds h ids per row
    /// (the last h tokens of each sequence, oldest first); every slice of `dist` holds
    /// `seqs.len()` equal rows (full vocabulary: `rows × vocab`; candidates: `rows × k`, padding
    /// short top-p rows with masked entries, logit `-inf` or probability 0). `out[i]` receives
    /// row i's choice. Rows run in order with one `rng`; a failing row is reported as
    /// [`EmbedError::Batch`] (earlier rows have completed).
    ///
    /// ```
    /// use provmark_core::{Profile, Scheme, TokenizerSpec, SecretKey};
    /// use provmark_embed::{Choice, Dist, Embedder, Scratch};
    /// use rand::SeedableRng;
    /// let profile = Profile::from_secret(SecretKey::from_bytes([2; 32]), Scheme::DEFAULT_GREEN,
    ///     2, TokenizerSpec::default_openai()).unwrap();
    /// let embedder = Embedder::from_profile(&profile, None, 100).unwrap();
    /// let mut seqs = vec![embedder.new_sequence(128), embedder.new_sequence(128)];
    /// let mut scratch = Scratch::with_capacity(100);
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    /// let contexts = [1u32, 2, /* row 1: */ 3, 4];
    /// // Top-3 candidates per row.
    /// let ids = [10u32, 11, 12, 40, 41, 42];
    /// let logits = [2.0f32, 1.0, 0.5, 0.0, 0.0, f32::NEG_INFINITY];
    /// let mut out = [Choice { token: 0, watermarked: false }; 2];
    /// embedder.choose_batch(&mut seqs, &contexts, Dist::CandidateLogits { ids: &ids, logits: &logits },
    ///     &mut scratch, &mut rng, &mut out).unwrap();
    /// assert!((10..=12).contains(&out[0].token) && (40..=41).contains(&out[1].token));
    /// ```
    pub fn choose_batch<R: RngCore + ?Sized>(
        &self,
        seqs: &mut [SequenceState],
        contexts: &[u32],
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rng: &mut R,
        out: &mut [Choice],
    ) -> Result<()> {
        self.choose_rows(seqs, contexts, dist, scratch, out, |_, seq, ctx, d, s| {
            self.choose(seq, ctx, d, s, rng)
        })
    }

    /// The row loop of the batch calls: checks the layout, then `pick(row, seq, context, dist,
    /// scratch)` for each row in order, wrapping a failure as [`EmbedError::Batch`].
    fn choose_rows(
        &self,
        seqs: &mut [SequenceState],
        contexts: &[u32],
        dist: Dist<'_>,
        scratch: &mut Scratch,
        out: &mut [Choice],
        mut pick: impl FnMut(
            usize,
            &mut SequenceState,
            &[u32],
            Dist<'_>,
            &mut Scratch,
        ) -> Result<Choice>,
    ) -> Result<()> {
        let rows = seqs.len();
        let h = self.context_width();
        if out.len() != rows {
            return Err(EmbedError::LengthMismatch {
                what: "batch outputs vs sequences",
                expected: rows,
                found: out.len(),
            });
        }
        if contexts.len() != rows * h {
            return Err(EmbedError::LengthMismatch {
                what: "batch contexts vs sequences × context width",
                expected: rows * h,
                found: contexts.len(),
            });
        }
        for (row, (seq, o)) in seqs.iter_mut().zip(out.iter_mut()).enumerate() {
            let wrap = |e: EmbedError| EmbedError::Batch {
                row,
                source: Box::new(e),
            };
            let d = dist.row(row, rows).map_err(wrap)?;
            *o = pick(row, seq, &contexts[row * h..(row + 1) * h], d, scratch).map_err(wrap)?;
        }
        Ok(())
    }

    /// [`Embedder::choose_batch`] with one RNG per row: row i draws only from `rngs[i]`, so each
    /// row's tokens are the same whatever other rows share its batch (a request seeded by its
    /// client gives the same answer at batch 1 and batch 16). Same layout and errors as
    /// `choose_batch`; `rngs.len()` must equal `seqs.len()`.
    pub fn choose_batch_per_row<R: RngCore>(
        &self,
        seqs: &mut [SequenceState],
        contexts: &[u32],
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rngs: &mut [R],
        out: &mut [Choice],
    ) -> Result<()> {
        if rngs.len() != seqs.len() {
            return Err(EmbedError::LengthMismatch {
                what: "batch RNGs vs sequences",
                expected: seqs.len(),
                found: rngs.len(),
            });
        }
        self.choose_rows(seqs, contexts, dist, scratch, out, |row, seq, ctx, d, s| {
            self.choose(seq, ctx, d, s, &mut rngs[row])
        })
    }

    /// Batch form of [`Embedder::bias_logits`]: `logits` holds `seqs.len()` rows of the full
    /// vocabulary, `contexts` h ids per row. `out[i]` tells whether row i was biased.
    pub fn bias_logits_batch(
        &self,
        seqs: &mut [SequenceState],
        contexts: &[u32],
        logits: &mut [f32],
        out: &mut [bool],
    ) -> Result<()> {
        let rows = seqs.len();
        let h = self.context_width();
        if out.len() != rows || contexts.len() != rows * h || logits.len() != rows * self.vocab {
            return Err(EmbedError::LengthMismatch {
                what: "batch rows (outputs, contexts = rows × h, logits = rows × vocab)",
                expected: rows,
                found: out.len(),
            });
        }
        for (row, ((seq, o), l)) in seqs
            .iter_mut()
            .zip(out.iter_mut())
            .zip(logits.chunks_mut(self.vocab))
            .enumerate()
        {
            *o = self
                .bias_logits(seq, &contexts[row * h..(row + 1) * h], l)
                .map_err(|e| EmbedError::Batch {
                    row,
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Green list: exact sample from p' by rejection from the plain sampler.
    fn green<R: RngCore + ?Sized>(
        &self,
        ctx: &[u32],
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rng: &mut R,
    ) -> Result<u32> {
        let Kind::Green {
            gamma,
            accept_red,
            accept_all,
            ..
        } = self.kind
        else {
            return Err(EmbedError::UnsupportedScheme(self.wm.scheme().name()));
        };
        let prf = self.wm.prf();
        // Absorb first: the cipher's latency overlaps with the cumulative sum.
        let state = self.wm.absorb(ctx);
        let cdf = build_cdf(&dist, scratch)?;
        if accept_all {
            return Ok(dist.id(cdf.draw(rng)));
        }
        // Acceptance coin of a red draw: U < e^−δ, with U's first 11 bits taken from the
        // draw's unused low bits (independent of the index) and, only on a tie of those bits
        // with the threshold's (probability 2^−11), 53 more from the RNG. P(accept) =
        // accept_red / 2^64 exactly, as with a fresh 64-bit word.
        let (red_hi, red_lo) = (accept_red >> 53, accept_red & ((1u64 << 53) - 1));
        // Draws come in batches so that the PRF words of a batch's new tokens are computed in
        // one pipelined call (one cipher latency instead of one per token); draws after the
        // accepted one are discarded, which leaves the output exact (each decision uses its own
        // independent draw and coin). Colours are cached for the step: low-entropy steps draw
        // the same few tokens again and again.
        let mut colours = ColourCache::new();
        for _ in 0..MAX_REJECTION_DRAWS / DRAW_BATCH {
            let mut toks = [0u32; DRAW_BATCH];
            let mut spares = [0u64; DRAW_BATCH];
            for (t, sp) in toks.iter_mut().zip(spares.iter_mut()) {
                let (i, spare) = cdf.draw_with_spare(rng);
                *t = dist.id(i);
                *sp = spare;
            }
            let mut need = [0u32; DRAW_BATCH];
            let mut n_need = 0;
            for &t in &toks {
                if colours.get(t).is_none() && !need[..n_need].contains(&t) {
                    need[n_need] = t;
                    n_need += 1;
                }
            }
            if n_need > 0 {
                let mut words = [0u64; DRAW_BATCH];
                prf.words(&state, &need[..n_need], &mut words[..n_need]);
                for (&t, &w) in need[..n_need].iter().zip(&words[..n_need]) {
                    colours.put(t, prf.uniform(w) < gamma);
                }
            }
            for (&token, &spare) in toks.iter().zip(&spares) {
                let green = colours.get(token).unwrap_or(false);
                if green || spare < red_hi || (spare == red_hi && (rng.next_u64() >> 11) < red_lo) {
                    return Ok(token);
                }
            }
        }
        self.green_direct(&state, dist, scratch, rng)
    }

    /// Green list, direct method: the cumulative sum of p(v)·e^{δ·green(v)} over every entry,
    /// one draw. O(n) PRF words; used only after [`MAX_REJECTION_DRAWS`] rejections.
    fn green_direct<R: RngCore + ?Sized>(
        &self,
        state: &P::State,
        dist: Dist<'_>,
        scratch: &mut Scratch,
        rng: &mut R,
    ) -> Result<u32> {
        let (gamma, e_delta) = self.green_params("green sampling")?;
        let prf = self.wm.prf();
        let values = dist.values();
        let shift = if dist.is_probs() {
            0.0
        } else {
            max_logit(values)?
        };
        let buf = scratch.buf(values.len());
        let mut words = [0u64; CHUNK];
        let mut idbuf = [0u32; CHUNK];
        let mut acc = 0.0f64;
        for (c, (vals, cdf)) in values.chunks(CHUNK).zip(buf.chunks_mut(CHUNK)).enumerate() {
            let n = vals.len();
            let base = c * CHUNK;
            let cids: &[u32] = match dist.ids() {
                Some(ids) => &ids[base..base + n],
                None => {
                    for (j, x) in idbuf[..n].iter_mut().enumerate() {
                        *x = (base + j) as u32;
                    }
                    &idbuf[..n]
                }
            };
            prf.words(state, cids, &mut words[..n]);
            for ((c, &v), &w) in cdf.iter_mut().zip(vals).zip(&words[..n]) {
                let mut weight = if dist.is_probs() {
                    v
                } else {
                    (v - shift).exp()
                };
                if prf.uniform(w) < gamma {
                    weight *= e_delta;
                }
                acc += weight as f64;
                *c = acc;
            }
        }
        let cdf = crate::dist::Cdf { cdf: buf };
        Ok(dist.id(cdf.draw(rng)))
    }

    /// Gumbel-max selection with lower-bound pruning.
    ///
    /// Key of candidate v: k_v = l_v + g_v with g_v = −ln(−ln u_v) (probabilities: ratio
    /// −ln(u_v)/p_v, minimised). Since −ln u ≥ 1 − u, g_v ≤ −ln(1 − u_v) ≤ (1023 − e)·ln 2 where
    /// e is the biased binary exponent of 1 − u_v, read from its bits; a candidate with
    /// l_v + that bound + margin below the best key so far cannot win and needs no logarithm.
    fn gumbel(&self, ctx: &[u32], dist: Dist<'_>) -> Result<u32> {
        let prf = self.wm.prf();
        let state = self.wm.absorb(ctx);
        let values = dist.values();
        let probs = dist.is_probs();
        let mut words = [0u64; CHUNK];
        let mut idbuf = [0u32; CHUNK];
        // Logits: maximise key. Probabilities: minimise ratio (stored negated to share code).
        let mut best = f64::NEG_INFINITY;
        let mut best_id: Option<u32> = None;
        for (c, vals) in values.chunks(CHUNK).enumerate() {
            let n = vals.len();
            let base = c * CHUNK;
            let cids: &[u32] = match dist.ids() {
                Some(ids) => &ids[base..base + n],
                None => {
                    for (j, x) in idbuf[..n].iter_mut().enumerate() {
                        *x = (base + j) as u32;
                    }
                    &idbuf[..n]
                }
            };
            prf.words(&state, cids, &mut words[..n]);
            if probs {
                for (j, (&v, &w)) in vals.iter().zip(&words[..n]).enumerate() {
                    if !prob_ok(v) {
                        return Err(EmbedError::InvalidProbability {
                            index: base + j,
                            value: v,
                        });
                    }
                    if v == 0.0 {
                        continue;
                    }
                    let u = prf.uniform(w);
                    let p = v as f64;
                    // ratio ≥ (1 − u)/p; prune when that already exceeds the best ratio.
                    if (1.0 - u) * (1.0 - 1e-12) > -best * p {
                        continue;
                    }
                    let key = -((-u.ln()) / p);
                    let id = cids[j];
                    if key > best
                        || best_id.is_none()
                        || (key == best && best_id.is_some_and(|b| id < b))
                    {
                        best = key;
                        best_id = Some(id);
                    }
                }
                continue;
            }
            // Logits. Pass 1 (branch-free): validity and an upper bound on every key.
            let mut bounds = [0f64; CHUNK];
            let mut bad = false;
            for ((b, &v), &w) in bounds[..n].iter_mut().zip(vals).zip(&words[..n]) {
                bad |= !logit_ok(v);
                let om = 1.0 - prf.uniform(w);
                let e = (om.to_bits() >> 52) as i64;
                let bound = v as f64 + (1023 - e) as f64 * std::f64::consts::LN_2;
                // e == 0: 1 − u is zero or subnormal; no cheap bound.
                *b = if e == 0 { f64::INFINITY } else { bound };
            }
            if bad {
                if let Some((j, &value)) = vals.iter().enumerate().find(|(_, &v)| !logit_ok(v)) {
                    return Err(EmbedError::InvalidLogit {
                        index: base + j,
                        value,
                    });
                }
            }
            // Pass 2: exact keys only where the bound reaches the best key so far.
            for (j, &b) in bounds[..n].iter().enumerate() {
                if b + PRUNE_MARGIN < best || vals[j] == f32::NEG_INFINITY {
                    continue;
                }
                let u = prf.uniform(words[j]);
                let key = vals[j] as f64 - (-u.ln()).ln();
                let id = cids[j];
                if key > best
                    || best_id.is_none()
                    || (key == best && best_id.is_some_and(|b| id < b))
                {
                    best = key;
                    best_id = Some(id);
                }
            }
        }
        best_id.ok_or(EmbedError::AllMasked)
    }
}
