//! vLLM's native watermarks: generation that vLLM's own detector recognises, and vLLM's own
//! detector statistics (VLLM.md, sections cited as §n).
//!
//! # Generation
//! A [`VllmWatermarker`] holds the keyed PRFs of one vLLM configuration; a [`RequestState`]
//! tracks one request (its context and vLLM's generation-time repeated-context rule, §8). Per
//! step:
//!
//! * Gumbel / dual-key: [`VllmWatermarker::select`] returns the watermarked token, or `None`
//!   when vLLM would sample this step *without* the watermark (repeated or partial context) —
//!   the caller then samples normally;
//! * SBW: [`VllmWatermarker::bias`] adds δ to the green logits (no-op on skipped steps); the
//!   caller samples from the biased logits as usual (greedy included);
//! * then [`RequestState::push`] the chosen token.
//!
//! The float semantics are vLLM's CPU reference: uniforms are float32 (§4.3), the Gumbel value
//! `−ln(−ln u)` and `logit + g` are float32 operations with correctly rounded `ln` (computed in
//! f64 and rounded; torch's vectorised `log` may differ by an ulp, which the goldens never
//! exposed), argmax ties go to the lowest token id.
//!
//! ```
//! use provmark_interop::vllm::{GenDedup, Route, VllmAlgorithm, VllmConfig, VllmWatermarker};
//! let cfg = VllmConfig::new(VllmAlgorithm::Gumbel);
//! let wm = VllmWatermarker::new(42, &cfg).unwrap();
//! let mut req = wm.request(&[]);
//! let logits = vec![0.0f32; 128];
//! for _ in 0..8 {
//!     let tok = match wm.select(&req, &logits, Route::A).unwrap() {
//!         Some(t) => t,
//!         None => 0, // vLLM samples this step normally; use your sampler here
//!     };
//!     req.push(tok);
//! }
//! ```
//!
//! # Detection
//! [`detect_gumbel`], [`detect_dual_key`] and [`detect_sbw`] reproduce vLLM's detectors (§6,
//! §9–11): contexts padded with −1 (`u32::MAX`), dedup by context alone, and the reference's
//! p-value formula. provmark's own detector (`provmark_detect::score_ids` with
//! `Dedup::Context` and `ContextPolicy::PadWith(u32::MAX)`) computes the same statistic with an
//! exact tail.

use std::collections::{HashMap, HashSet};

use provmark_core::prf::{
    sbw_gamma_threshold, vllm_dual_keys, vllm_uniform_f32, Prf, SbwPrf, SbwState, SbwVariant,
    VllmPhiloxPrf,
};
use provmark_core::scheme::MAX_CONTEXT_WIDTH;
use provmark_core::{Scheme, Watermark};

use crate::error::{InteropError, Result};
use crate::reference;

/// vLLM's padding id −1 as a 32-bit token id.
pub const PAD: u32 = u32::MAX;

/// vLLM's default context width of Gumbel, dual-key Gumbel and SBW selfhash.
pub const DEFAULT_CONTEXT_WIDTH: usize = 4;
/// vLLM's default context width of SBW lefthash.
pub const DEFAULT_LEFTHASH_CONTEXT_WIDTH: usize = 1;
/// vLLM's default `deduplicate_contexts_max_history`.
pub const DEFAULT_MAX_HISTORY: usize = 8192;

/// vLLM's watermarking algorithm and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum VllmAlgorithm {
    /// `gumbel`: Gumbel-max selection.
    Gumbel,
    /// `dual_key_gumbel`: each step selects with key A or key B (derived keys, §10), routed to
    /// B with probability `alpha`.
    DualKeyGumbel {
        /// Probability of routing to key B, in [0, 1] (vLLM default 0.1).
        alpha: f64,
    },
    /// `sbw`: green-list bias with the SBW greenness.
    Sbw {
        /// `sbw_scheme`.
        variant: SbwVariant,
        /// `sbw_gamma` in (0, 1) (default 0.5).
        gamma: f64,
        /// `sbw_delta` ≥ 0 (default 2.0).
        delta: f64,
    },
}

/// vLLM's generation-time context deduplication (`deduplicate_contexts`, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GenDedup {
    /// `none`: every step is watermarked.
    None,
    /// `single_turn` (vLLM's default): skip a step whose context already preceded an earlier
    /// generated token of this request.
    #[default]
    SingleTurn,
    /// `all`: as `single_turn` with the prompt in the history, and the first `h` generated
    /// tokens (partial contexts) are never watermarked.
    All,
}

/// One vLLM watermark configuration (everything but the key).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VllmConfig {
    /// Algorithm and parameters.
    pub algorithm: VllmAlgorithm,
    /// Context width h, 1 ..= 16.
    pub context_width: usize,
    /// Generation-time dedup mode.
    pub dedup: GenDedup,
    /// `deduplicate_contexts_max_history` (`None`: unbounded).
    pub max_history: Option<usize>,
}

impl VllmConfig {
    /// vLLM's defaults for `algorithm`: width 4 (1 for SBW lefthash), `single_turn`, history 8192.
    pub fn new(algorithm: VllmAlgorithm) -> Self {
        let context_width = match algorithm {
            VllmAlgorithm::Sbw {
                variant: SbwVariant::LeftHash | SbwVariant::LeftHashRawSum,
                ..
            } => DEFAULT_LEFTHASH_CONTEXT_WIDTH,
            _ => DEFAULT_CONTEXT_WIDTH,
        };
        VllmConfig {
            algorithm,
            context_width,
            dedup: GenDedup::SingleTurn,
            max_history: Some(DEFAULT_MAX_HISTORY),
        }
    }

    /// Checks parameter domains.
    pub fn validate(&self) -> Result<()> {
        if self.context_width == 0 || self.context_width > MAX_CONTEXT_WIDTH {
            return Err(InteropError::param(
                "context_width",
                format!("{} is not in 1..={MAX_CONTEXT_WIDTH}", self.context_width),
            ));
        }
        if self.max_history == Some(0) {
            return Err(InteropError::param("max_history", "must be positive"));
        }
        match self.algorithm {
            VllmAlgorithm::Gumbel => {}
            VllmAlgorithm::DualKeyGumbel { alpha } => {
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(InteropError::param(
                        "alpha",
                        format!("{alpha} is not in [0, 1]"),
                    ));
                }
            }
            VllmAlgorithm::Sbw { gamma, delta, .. } => {
                if !(gamma > 0.0 && gamma < 1.0) {
                    return Err(InteropError::param(
                        "gamma",
                        format!("{gamma} is not in (0, 1)"),
                    ));
                }
                if !(delta.is_finite() && delta >= 0.0) {
                    return Err(InteropError::param(
                        "delta",
                        format!("{delta} is not a finite number ≥ 0"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Which key a dual-key step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Key A (also the only key of plain Gumbel).
    A,
    /// Key B.
    B,
}

/// vLLM's routing decision given one uniform draw `u` ∈ [0, 1) from the caller's RNG: the
/// 2-way sampler on logits `[ln(1−α), ln α]` picks B iff `pA ≤ u`, with
/// `pA = softmax([ln(1−α), ln α])[0]` in float32 (VLLM.md T4 harness). α = 0 always routes to
/// A and α = 1 to B (vLLM makes no draw then).
pub fn dual_key_route(alpha: f64, u: f64) -> Route {
    if alpha <= 0.0 {
        return Route::A;
    }
    if alpha >= 1.0 {
        return Route::B;
    }
    let la = ln_f32((1.0 - alpha) as f32);
    let lb = ln_f32(alpha as f32);
    let m = la.max(lb);
    let ea = exp_f32(la - m);
    let eb = exp_f32(lb - m);
    let pa = ea / (ea + eb);
    if f64::from(pa) <= u {
        Route::B
    } else {
        Route::A
    }
}

/// `ln` rounded to float32: computed in f64 and rounded once (correct except when the f64
/// result lies within an f64 ulp of a float32 rounding boundary).
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    f64::from(x).ln() as f32
}

#[inline]
fn exp_f32(x: f32) -> f32 {
    f64::from(x).exp() as f32
}

/// The Gumbel noise `−ln(−ln u)` of a float32 uniform, in float32 (§7 step 3).
#[inline]
pub fn gumbel_noise_f32(u: f32) -> f32 {
    -ln_f32(-ln_f32(u.max(f32::MIN_POSITIVE)))
}

/// Whether `(value, id)` beats the running best `(best, best_id)`: larger value, ties to the
/// lower id; NaN values never win.
#[inline]
fn beats(value: f32, id: u32, best: f32, best_id: u32) -> bool {
    value > best || (value == best && id < best_id)
}

/// An upper bound of every Gumbel noise value, with a margin: the largest uniform is
/// `1 − 2^-24·(…)`, whose noise is about 16.6; one unit of slack makes the bound safe whatever
/// the last-ulp behaviour of `ln`.
fn noise_bound() -> f32 {
    gumbel_noise_f32(vllm_uniform_f32(u32::MAX)) + 1.0
}

#[inline]
fn clean(l: f32) -> f32 {
    if l.is_nan() {
        f32::NEG_INFINITY
    } else {
        l
    }
}

/// vLLM's Gumbel-max choice over the full vocabulary (token id = index):
/// `argmax_v (logit_v − ln(−ln u_v))` in float32, NaN logits as −∞, ties to the lowest id.
/// All −∞ gives token 0, like `torch.argmax`. Errors on empty logits.
///
/// Exact pruning: a candidate whose logit plus the largest possible noise stays below the best
/// value so far cannot win, so its PRF word is never computed. With real LLM logits (a spread
/// of tens of nats) this skips most of the vocabulary; the result is the same token as the
/// exhaustive argmax (tested).
pub fn gumbel_select(prf: &VllmPhiloxPrf, state: &[u32; 4], logits: &[f32]) -> Result<u32> {
    if logits.is_empty() {
        return Err(InteropError::InvalidLogits("empty logits".into()));
    }
    if logits.len() > u32::MAX as usize {
        return Err(InteropError::InvalidLogits(
            "more logits than 32-bit token ids".into(),
        ));
    }
    // Start from the largest logit (first max) so that pruning bites from the start.
    let mut top = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if clean(l) > clean(logits[top]) {
            top = i;
        }
    }
    let bound = noise_bound();
    let mut best_id = top as u32;
    let mut best =
        clean(logits[top]) + gumbel_noise_f32(prf.uniform(prf.word(state, best_id)) as f32);
    let mut words = [0u64; 4];
    for (g, chunk) in logits.chunks(4).enumerate() {
        if chunk.iter().all(|&l| clean(l) + bound < best) {
            continue;
        }
        let base = (4 * g) as u32;
        let ids = [base, base + 1, base + 2, base + 3];
        prf.words(state, &ids[..chunk.len()], &mut words[..chunk.len()]);
        for (i, (&l, &w)) in chunk.iter().zip(&words).enumerate() {
            let l = clean(l);
            if l + bound < best {
                continue;
            }
            let v = l + gumbel_noise_f32(prf.uniform(w) as f32);
            if beats(v, base + i as u32, best, best_id) {
                best = v;
                best_id = base + i as u32;
            }
        }
    }
    Ok(best_id)
}

/// [`gumbel_select`] over a candidate list (top-k / top-p survivors): `ids[i]` has logit
/// `logits[i]`. Ties go to the lowest token id. Errors on empty or mismatched lists. Prunes
/// like [`gumbel_select`].
pub fn gumbel_select_candidates(
    prf: &VllmPhiloxPrf,
    state: &[u32; 4],
    ids: &[u32],
    logits: &[f32],
) -> Result<u32> {
    if ids.is_empty() || ids.len() != logits.len() {
        return Err(InteropError::InvalidLogits(format!(
            "{} candidate ids with {} logits",
            ids.len(),
            logits.len()
        )));
    }
    let mut top = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if clean(l) > clean(logits[top]) {
            top = i;
        }
    }
    let bound = noise_bound();
    let mut best_id = ids[top];
    let mut best =
        clean(logits[top]) + gumbel_noise_f32(prf.uniform(prf.word(state, best_id)) as f32);
    for (&id, &l) in ids.iter().zip(logits) {
        let l = clean(l);
        if l + bound < best {
            continue;
        }
        let v = l + gumbel_noise_f32(prf.uniform(prf.word(state, id)) as f32);
        if beats(v, id, best, best_id) {
            best = v;
            best_id = id;
        }
    }
    Ok(best_id)
}

/// SBW bias over the full vocabulary (§11.5): `logit_v += δ` (float32) for every green v.
pub fn sbw_bias(prf: &SbwPrf, state: &SbwState, gamma: f64, delta: f32, logits: &mut [f32]) {
    let threshold = u64::from(sbw_gamma_threshold(gamma));
    for (v, l) in logits.iter_mut().enumerate() {
        if prf.word(state, v as u32) & 0x7FFF_FFFF < threshold {
            *l += delta;
        }
    }
}

/// [`sbw_bias`] over a candidate list: `ids[i]` has logit `logits[i]`.
pub fn sbw_bias_candidates(
    prf: &SbwPrf,
    state: &SbwState,
    gamma: f64,
    delta: f32,
    ids: &[u32],
    logits: &mut [f32],
) {
    let threshold = u64::from(sbw_gamma_threshold(gamma));
    for (&id, l) in ids.iter().zip(logits.iter_mut()) {
        if prf.word(state, id) & 0x7FFF_FFFF < threshold {
            *l += delta;
        }
    }
}

/// Why a generation step is or is not watermarked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Watermarked.
    Watermark,
    /// The context already preceded an earlier token of the history (§8): sample normally.
    RepeatedContext,
    /// `all` mode and fewer than h tokens generated: sample normally.
    PartialContext,
}

type ContextKey = [u32; MAX_CONTEXT_WIDTH];

fn key_of(ctx: &[u32]) -> ContextKey {
    let mut k = [PAD; MAX_CONTEXT_WIDTH];
    k[..ctx.len()].copy_from_slice(ctx);
    k
}

/// One request's generation state: the current context (last h generated tokens, −1 padded)
/// and vLLM's repeated-context rule (§8). Memory grows with the history (one map entry per
/// distinct context); lookups are O(h).
#[derive(Clone, Debug)]
pub struct RequestState {
    width: usize,
    dedup: GenDedup,
    max_history: Option<usize>,
    /// Last h generated tokens, oldest first, padded with [`PAD`].
    context: ContextKey,
    generated: usize,
    /// Length of the dedup history (prompt under `all`, plus generated tokens).
    history_len: usize,
    /// Rolling last h history tokens (for the context preceding the next history position).
    history_tail: ContextKey,
    /// Context → latest history position it preceded.
    seen: HashMap<ContextKey, usize>,
}

impl RequestState {
    fn new(width: usize, dedup: GenDedup, max_history: Option<usize>, prompt: &[u32]) -> Self {
        let mut s = RequestState {
            width,
            dedup,
            max_history,
            context: [PAD; MAX_CONTEXT_WIDTH],
            generated: 0,
            history_len: 0,
            history_tail: [PAD; MAX_CONTEXT_WIDTH],
            seen: HashMap::new(),
        };
        if dedup == GenDedup::All {
            for &t in prompt {
                s.push_history(t);
            }
        }
        s
    }

    fn push_history(&mut self, token: u32) {
        let h = self.width;
        self.seen
            .insert(key_of(&self.history_tail[..h]), self.history_len);
        self.history_tail.copy_within(1..h, 0);
        self.history_tail[h - 1] = token;
        self.history_len += 1;
    }

    /// The current context: the last h generated tokens, oldest first, −1 (`u32::MAX`) padded.
    pub fn context(&self) -> &[u32] {
        &self.context[..self.width]
    }

    /// Number of tokens generated so far.
    pub fn generated(&self) -> usize {
        self.generated
    }

    /// Whether vLLM watermarks the next step.
    pub fn step_kind(&self) -> StepKind {
        match self.dedup {
            GenDedup::None => StepKind::Watermark,
            GenDedup::All if self.generated < self.width => StepKind::PartialContext,
            GenDedup::SingleTurn | GenDedup::All => {
                let start = self
                    .max_history
                    .map_or(0, |m| self.history_len.saturating_sub(m));
                match self.seen.get(&key_of(self.context())) {
                    Some(&q) if q >= start => StepKind::RepeatedContext,
                    _ => StepKind::Watermark,
                }
            }
        }
    }

    /// Appends the token chosen at this step.
    pub fn push(&mut self, token: u32) {
        if self.dedup != GenDedup::None {
            self.push_history(token);
        }
        let h = self.width;
        self.context.copy_within(1..h, 0);
        self.context[h - 1] = token;
        self.generated += 1;
    }
}

/// The keyed side of one vLLM watermark configuration. The key is a secret: it is never
/// printed (`Debug` redacts it).
#[derive(Clone, Debug)]
pub struct VllmWatermarker {
    config: VllmConfig,
    /// Gumbel: the key's PRF; dual-key: key A's.
    prf_a: VllmPhiloxPrf,
    /// Dual-key: key B's PRF.
    prf_b: Option<VllmPhiloxPrf>,
    sbw: Option<SbwPrf>,
}

impl VllmWatermarker {
    /// Builds the PRFs of vLLM integer key `key` (0 ..= 2^64−1) under `config`.
    pub fn new(key: u64, config: &VllmConfig) -> Result<Self> {
        config.validate()?;
        let h = config.context_width;
        let (prf_a, prf_b, sbw) = match config.algorithm {
            VllmAlgorithm::Gumbel => (VllmPhiloxPrf::new(key, h), None, None),
            VllmAlgorithm::DualKeyGumbel { .. } => {
                let (a, b) = vllm_dual_keys(key);
                (
                    VllmPhiloxPrf::new(a, h),
                    Some(VllmPhiloxPrf::new(b, h)),
                    None,
                )
            }
            VllmAlgorithm::Sbw { variant, .. } => (
                VllmPhiloxPrf::new(key, h),
                None,
                Some(SbwPrf::new(key, variant, h)),
            ),
        };
        Ok(VllmWatermarker {
            config: *config,
            prf_a,
            prf_b,
            sbw,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VllmConfig {
        &self.config
    }

    /// A new request. `prompt` enters the dedup history under [`GenDedup::All`] only; prompt
    /// tokens never enter a context (§6).
    pub fn request(&self, prompt: &[u32]) -> RequestState {
        RequestState::new(
            self.config.context_width,
            self.config.dedup,
            self.config.max_history,
            prompt,
        )
    }

    /// Gumbel and dual-key Gumbel: the watermarked token over the full vocabulary, or `None`
    /// when this step is not watermarked (the caller samples normally). `route` selects the key
    /// of a dual-key step (see [`dual_key_route`]; vLLM draws it even on skipped steps) and is
    /// ignored by plain Gumbel. Errors for SBW (use [`VllmWatermarker::bias`]) and on empty
    /// logits.
    pub fn select(&self, req: &RequestState, logits: &[f32], route: Route) -> Result<Option<u32>> {
        let prf = self.selection_prf(route)?;
        if req.step_kind() != StepKind::Watermark {
            return Ok(None);
        }
        gumbel_select(prf, &prf.absorb(req.context()), logits).map(Some)
    }

    /// [`VllmWatermarker::select`] over a candidate list.
    pub fn select_candidates(
        &self,
        req: &RequestState,
        ids: &[u32],
        logits: &[f32],
        route: Route,
    ) -> Result<Option<u32>> {
        let prf = self.selection_prf(route)?;
        if req.step_kind() != StepKind::Watermark {
            return Ok(None);
        }
        gumbel_select_candidates(prf, &prf.absorb(req.context()), ids, logits).map(Some)
    }

    fn selection_prf(&self, route: Route) -> Result<&VllmPhiloxPrf> {
        let b = self.prf_b.as_ref().unwrap_or(&self.prf_a);
        match self.config.algorithm {
            VllmAlgorithm::Gumbel => Ok(&self.prf_a),
            // α = 0 and α = 1 use one key and make no routing draw (§10.2).
            VllmAlgorithm::DualKeyGumbel { alpha } => Ok(if alpha <= 0.0 {
                &self.prf_a
            } else if alpha >= 1.0 || route == Route::B {
                b
            } else {
                &self.prf_a
            }),
            VllmAlgorithm::Sbw { .. } => Err(InteropError::param(
                "algorithm",
                "SBW biases logits (use `bias`), it does not select tokens",
            )),
        }
    }

    /// SBW: adds δ to the green logits (token id = index) unless this step is skipped; returns
    /// whether it biased. Errors for the Gumbel algorithms.
    pub fn bias(&self, req: &RequestState, logits: &mut [f32]) -> Result<bool> {
        let (prf, gamma, delta) = self.sbw_parts()?;
        if req.step_kind() != StepKind::Watermark {
            return Ok(false);
        }
        sbw_bias(prf, &prf.absorb(req.context()), gamma, delta, logits);
        Ok(true)
    }

    /// [`VllmWatermarker::bias`] over a candidate list.
    pub fn bias_candidates(
        &self,
        req: &RequestState,
        ids: &[u32],
        logits: &mut [f32],
    ) -> Result<bool> {
        let (prf, gamma, delta) = self.sbw_parts()?;
        if ids.len() != logits.len() {
            return Err(InteropError::InvalidLogits(format!(
                "{} candidate ids with {} logits",
                ids.len(),
                logits.len()
            )));
        }
        if req.step_kind() != StepKind::Watermark {
            return Ok(false);
        }
        sbw_bias_candidates(prf, &prf.absorb(req.context()), gamma, delta, ids, logits);
        Ok(true)
    }

    fn sbw_parts(&self) -> Result<(&SbwPrf, f64, f32)> {
        match (self.config.algorithm, &self.sbw) {
            (VllmAlgorithm::Sbw { gamma, delta, .. }, Some(prf)) => Ok((prf, gamma, delta as f32)),
            _ => Err(InteropError::param("algorithm", "only SBW biases logits")),
        }
    }
}

/// The result of one of vLLM's detectors, as vLLM reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VllmDetection {
    /// vLLM's `score`: S = Σ −ln(1−u) (Gumbel), the weighted sum (dual-key), or the green count
    /// (SBW).
    pub score: f64,
    /// `num_scored_tokens`: pairs kept after dedup.
    pub num_scored_tokens: u64,
    /// Pairs dropped because their context was seen before (`trace.dedup_skips`).
    pub dedup_skips: u64,
    /// The reference's p-value formula (see [`crate::reference`]): vLLM's number, not
    /// provmark's exact tail.
    pub reference_p_value: f64,
}

/// Walks `tokens` as vLLM's detector does (§6): the context of token i is the h tokens before
/// it, padded with −1 (`u32::MAX`); with `dedup_contexts`, a pair is skipped when its context
/// was seen before (the target is not compared). Calls `f(context, target)` for each kept pair
/// and returns `(kept, skipped)`.
pub fn for_each_scored_pair(
    tokens: &[u32],
    width: usize,
    dedup_contexts: bool,
    mut f: impl FnMut(&[u32], u32),
) -> (u64, u64) {
    let mut padded = vec![PAD; width];
    padded.extend_from_slice(tokens);
    let mut seen: HashSet<&[u32]> = HashSet::new();
    let (mut kept, mut skipped) = (0u64, 0u64);
    for (i, &t) in tokens.iter().enumerate() {
        let ctx = &padded[i..i + width];
        if dedup_contexts && !seen.insert(ctx) {
            skipped += 1;
            continue;
        }
        kept += 1;
        f(ctx, t);
    }
    (kept, skipped)
}

/// vLLM's `GumbelWatermarkDetector` (§9): `S = Σ −log1p(−u)` over the kept pairs (u the float32
/// uniform widened to f64), p-value from vLLM's gamma survival. The per-token score is
/// provmark's own `Watermark::score` of the Gumbel scheme over the vLLM PRF.
pub fn detect_gumbel(
    prf: &VllmPhiloxPrf,
    tokens: &[u32],
    dedup_contexts: bool,
) -> Result<VllmDetection> {
    let wm = Watermark::new(prf.clone(), Scheme::Gumbel, prf.width())?;
    let mut s = 0.0;
    let (n, skipped) = for_each_scored_pair(tokens, prf.width(), dedup_contexts, |ctx, t| {
        s += wm.score(&wm.absorb(ctx), t);
    });
    Ok(VllmDetection {
        score: s,
        num_scored_tokens: n,
        dedup_skips: skipped,
        reference_p_value: if n == 0 {
            1.0
        } else {
            reference::vllm_gamma_survival_integer_shape(s, n)
        },
    })
}

/// vLLM's `DualKeyGumbelWatermarkDetector` (§10.4) for master key `key`: per pair
/// `(1−α)·sA + α·sB`, summed; vLLM's moment-matched gamma p-value.
pub fn detect_dual_key(
    key: u64,
    width: usize,
    alpha: f64,
    tokens: &[u32],
    dedup_contexts: bool,
) -> Result<VllmDetection> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(InteropError::param(
            "alpha",
            format!("{alpha} is not in [0, 1]"),
        ));
    }
    let (ka, kb) = vllm_dual_keys(key);
    let wa = Watermark::new(VllmPhiloxPrf::new(ka, width), Scheme::Gumbel, width)?;
    let wb = Watermark::new(VllmPhiloxPrf::new(kb, width), Scheme::Gumbel, width)?;
    let mut s = 0.0;
    let (n, skipped) = for_each_scored_pair(tokens, width, dedup_contexts, |ctx, t| {
        let sa = wa.score(&wa.absorb(ctx), t);
        let sb = wb.score(&wb.absorb(ctx), t);
        s += sa * (1.0 - alpha) + sb * alpha;
    });
    Ok(VllmDetection {
        score: s,
        num_scored_tokens: n,
        dedup_skips: skipped,
        reference_p_value: reference::vllm_dual_key_p_value(s, n, alpha),
    })
}

/// vLLM's SBW detector (§11.6): W = green targets among the kept pairs, z-test p-value.
/// Greenness is provmark's `Watermark::is_green` of `Scheme::Green { gamma, .. }` over the SBW
/// PRF, which equals vLLM's integer threshold test exactly.
pub fn detect_sbw(
    prf: &SbwPrf,
    gamma: f64,
    tokens: &[u32],
    dedup_contexts: bool,
) -> Result<VllmDetection> {
    let wm = Watermark::new(
        prf.clone(),
        Scheme::Green { gamma, delta: 0.0 },
        prf.width(),
    )?;
    let mut w = 0u64;
    let (n, skipped) = for_each_scored_pair(tokens, prf.width(), dedup_contexts, |ctx, t| {
        w += u64::from(wm.is_green(&wm.absorb(ctx), t));
    });
    Ok(VllmDetection {
        score: w as f64,
        num_scored_tokens: n,
        dedup_skips: skipped,
        reference_p_value: reference::vllm_sbw_z_test_p_value(w, n, gamma),
    })
}
