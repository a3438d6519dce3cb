//! Scoring token ids: the position walk (dedup, context, special tokens, prompt) and the
//! per-scheme statistic.

use provmark_core::prf::Prf;
use provmark_core::scheme::MAX_CONTEXT_WIDTH;
use provmark_core::{Scheme, Watermark};
use serde::Serialize;

use crate::error::{DetectError, Result};
use crate::fingerprint::{FingerprintSet, PairFingerprinter};
use crate::options::{ContextPolicy, Dedup, Options};
use crate::statistic::{gumbel_fixed, gumbel_sum_f64, Statistic};
use crate::tail::TailProb;

/// Reusable dedup state. Passing the same `Scratch` to many calls (e.g. one per thread over
/// a stream of texts) keeps the scoring loop free of allocation once the sets have grown.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    sets: WalkSets,
    keyed: FingerprintSet,
    /// A spent [`PositionScores`] handed back by [`Scratch::recycle`], reused by the next call.
    positions: PositionScores,
}

/// The dedup sets of the position walk.
#[derive(Debug, Default, Clone)]
struct WalkSets {
    seen: FingerprintSet,
    prompt: FingerprintSet,
}

impl Scratch {
    /// Empty scratch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands back the positions of an [`Evidence`] from [`score_ids_with`] once they are no
    /// longer needed, so that the next call with [`Options::keep_positions`] fills the same
    /// buffers instead of allocating new ones (a scan does this for every record).
    pub fn recycle(&mut self, positions: PositionScores) {
        self.positions = positions;
    }
}

/// Every scored position of a test and its score, in text order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PositionScores {
    /// Token index of each scored position.
    pub index: Vec<u32>,
    /// Its score: 1 or 0 (green list), −ln(1 − u) (Gumbel).
    pub score: Vec<f64>,
}

/// The outcome of one test over one token sequence.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Evidence {
    /// The raw statistic and its null (`{"kind":"binomial",…}` / `{"kind":"gamma",…}`).
    pub statistic: Statistic,
    /// Positions scored (after skipping and dedup).
    pub scored_tokens: u64,
    /// Tokens in the input.
    pub total_tokens: u64,
    /// log10 of the exact p-value (finite far below 1e-300; 0 when nothing was scored).
    pub log10_p: f64,
    /// Scored positions and scores, when [`Options::keep_positions`] was set.
    #[serde(skip)]
    pub positions: Option<PositionScores>,
}

impl Evidence {
    pub(crate) fn from_statistic(
        statistic: Statistic,
        scored_tokens: u64,
        total_tokens: u64,
        positions: Option<PositionScores>,
    ) -> Self {
        let tail = statistic.tail();
        Evidence {
            statistic,
            scored_tokens,
            total_tokens,
            log10_p: tail.log10_p,
            positions,
        }
    }

    /// The p-value (0 once it underflows f64, below about 1e-308; use `log10_p` there).
    pub fn p_value(&self) -> f64 {
        self.tail().p_value()
    }

    /// The p-value as a [`TailProb`].
    pub fn tail(&self) -> TailProb {
        TailProb {
            log10_p: self.log10_p,
        }
    }

    /// Whether the test rejects H0 at `alpha` (p ≤ alpha, compared in log space).
    pub fn is_significant(&self, alpha: f64) -> bool {
        alpha > 0.0 && self.log10_p <= alpha.log10()
    }
}

/// The positions a test scores, chosen once from the ids alone (no key involved), so that
/// many keys — every account — are tested over exactly the same positions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    positions: Vec<u32>,
    total_tokens: u64,
    width: usize,
    lead: Lead,
    /// Deduplicate on the PRF's keyed input too (pair dedup; see [`Prf::keyed_input`]).
    keyed: Option<PairFingerprinter>,
}

impl Selection {
    /// Token indices of the scored positions, in text order.
    pub fn positions(&self) -> &[u32] {
        &self.positions
    }

    /// Number of scored positions.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether nothing is scored.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Tokens in the input the selection was made from.
    pub fn total_tokens(&self) -> u64 {
        self.total_tokens
    }

    /// The context width it was made for.
    pub fn context_width(&self) -> usize {
        self.width
    }
}

fn check_input(ids: &[u32], width: usize) -> Result<()> {
    if ids.len() > u32::MAX as usize {
        return Err(DetectError::param(
            "ids",
            format!(
                "{} tokens exceed the limit of {} per call; split the input",
                ids.len(),
                u32::MAX
            ),
        ));
    }
    if width > MAX_CONTEXT_WIDTH {
        return Err(DetectError::param(
            "context_width",
            format!("{width} exceeds the maximum of {MAX_CONTEXT_WIDTH}"),
        ));
    }
    Ok(())
}

/// The walk's filters besides dedup: fills `prompt` with the fingerprints of the prompt's
/// contexts and says whether to check them (prompt-context skipping), and gives the
/// special-token predicate when special tokens are skipped.
#[allow(clippy::type_complexity)]
fn filters<'o>(
    h: usize,
    opts: &Options<'o>,
    prompt: &mut FingerprintSet,
) -> (bool, Option<&'o (dyn Fn(u32) -> bool + Sync)>) {
    prompt.clear();
    // With h = 0 the empty context "occurs" in every prompt; prompt skipping needs h ≥ 1.
    let prompt_check = match opts.prompt {
        Some(p) if opts.skip_prompt_contexts && h > 0 => {
            for w in p.windows(h) {
                prompt.insert(opts.fingerprinter.context(w));
            }
            !prompt.is_empty()
        }
        _ => false,
    };
    let special = if opts.skip_special {
        opts.special
    } else {
        None
    };
    (prompt_check, special)
}

/// Walks the positions of `ids` that a test scores, calling `f(index, context, token)` for each.
/// The one place where skipping and dedup are decided.
#[inline(always)]
fn walk<F: FnMut(usize, &[u32], u32)>(
    width: usize,
    ids: &[u32],
    opts: &Options<'_>,
    scratch: &mut WalkSets,
    mut f: F,
) {
    let h = width;
    let fp = &opts.fingerprinter;
    scratch.seen.clear();
    let (prompt_check, special) = filters(h, opts, &mut scratch.prompt);
    let lead = Lead::new(h, opts);
    let mut buf = [0u32; MAX_CONTEXT_WIDTH];
    let start = h.saturating_sub(lead.len).min(ids.len());
    // Pair dedup in batches: the set's slots for a batch are loaded together before the inserts
    // (see `FingerprintSet::insert_batch`), then the new positions go to `f` in order.
    let mut batch = PairBatch::default();
    for i in start..ids.len() {
        let tok = ids[i];
        let ctx = lead.context_at(ids, i, h, &mut buf);
        if let Some(is_special) = special {
            if is_special(tok) {
                continue;
            }
        }
        let mut ctx_fp = None;
        if prompt_check {
            let c = fp.context(ctx);
            if scratch.prompt.contains(c) {
                continue;
            }
            ctx_fp = Some(c);
        }
        match opts.dedup {
            Dedup::Pair => {
                batch.idx[batch.n] = i;
                batch.fp[batch.n] = fp.pair(ctx, tok);
                batch.n += 1;
                if batch.n == DEDUP_BATCH {
                    batch.flush(&mut scratch.seen, ids, &lead, h, &mut f);
                }
                continue;
            }
            Dedup::Context => {
                let c = ctx_fp.unwrap_or_else(|| fp.context(ctx));
                if !scratch.seen.insert(c) {
                    continue;
                }
            }
            Dedup::None => {}
        }
        f(i, ctx, tok);
    }
    batch.flush(&mut scratch.seen, ids, &lead, h, &mut f);
}

/// Positions per batch of the pair-dedup lookups in [`walk`].
const DEDUP_BATCH: usize = 16;

/// Pair-dedup candidates of [`walk`] waiting for one [`FingerprintSet::insert_batch`].
struct PairBatch {
    idx: [usize; DEDUP_BATCH],
    fp: [u64; DEDUP_BATCH],
    fresh: [bool; DEDUP_BATCH],
    n: usize,
}

impl Default for PairBatch {
    fn default() -> Self {
        PairBatch {
            idx: [0; DEDUP_BATCH],
            fp: [0; DEDUP_BATCH],
            fresh: [false; DEDUP_BATCH],
            n: 0,
        }
    }
}

impl PairBatch {
    /// Dedups the waiting candidates in order and hands the new ones to `f`; empties the batch.
    #[inline(always)]
    fn flush<F: FnMut(usize, &[u32], u32)>(
        &mut self,
        seen: &mut FingerprintSet,
        ids: &[u32],
        lead: &Lead,
        h: usize,
        f: &mut F,
    ) {
        let n = self.n;
        seen.insert_batch(&self.fp[..n], &mut self.fresh[..n]);
        let mut buf = [0u32; MAX_CONTEXT_WIDTH];
        for j in 0..n {
            if self.fresh[j] {
                let i = self.idx[j];
                f(i, lead.context_at(ids, i, h, &mut buf), ids[i]);
            }
        }
        self.n = 0;
    }
}

/// Chooses the scored positions of `ids` for a context width (see [`Selection`]).
pub fn select_positions(
    width: usize,
    ids: &[u32],
    opts: &Options<'_>,
    scratch: &mut Scratch,
) -> Result<Selection> {
    check_input(ids, width)?;
    let threads = rayon::current_num_threads();
    let positions = if opts.dedup == Dedup::Pair && threads > 1 && ids.len() >= PARALLEL_MIN {
        select_pairs_parallel(width, ids, opts, threads)
    } else {
        let mut positions = Vec::new();
        walk(width, ids, opts, &mut scratch.sets, |i, _, _| {
            positions.push(i as u32)
        });
        positions
    };
    Ok(Selection {
        positions,
        total_tokens: ids.len() as u64,
        width,
        lead: Lead::new(width, opts),
        keyed: keyed_dedup(opts),
    })
}

/// Inputs from this many tokens on are selected on all of rayon's threads (pair dedup only).
const PARALLEL_MIN: usize = 1 << 17;

/// [`walk`]'s choice under [`Dedup::Pair`], on `threads` threads: the same positions.
///
/// Step 1 (parallel over ranges of the text): the positions that survive the special-token and
/// prompt-context filters, with their pair fingerprints, split by the fingerprints' top bits.
/// Step 2 (parallel over those partitions): each partition keeps the first occurrence of each
/// of its fingerprints, scanning its candidates in text order with a set of its own.
/// A position is kept by the sequential walk exactly when its fingerprint did not occur at an
/// earlier candidate, which is what step 2 computes; a test compares both.
fn select_pairs_parallel(
    width: usize,
    ids: &[u32],
    opts: &Options<'_>,
    threads: usize,
) -> Vec<u32> {
    use rayon::prelude::*;
    let h = width;
    let fp = &opts.fingerprinter;
    let mut prompt = FingerprintSet::new();
    let (prompt_check, special) = filters(h, opts, &mut prompt);
    let lead = Lead::new(h, opts);
    let start = h.saturating_sub(lead.len).min(ids.len());
    let chunk = (ids.len() - start).div_ceil(threads * 4).max(1 << 14);
    let ranges: Vec<(usize, usize)> = (start..ids.len())
        .step_by(chunk)
        .map(|a| (a, (a + chunk).min(ids.len())))
        .collect();
    // Step 1 writes each candidate straight into its fingerprint partition (per range), so
    // that step 2 reads only its own partition: 64 partitions keep each dedup set small
    // enough for the core's cache (one shared set over a long text paid a cache miss per
    // position).
    const BITS: u32 = 6;
    let parts: Vec<Vec<(Vec<u32>, Vec<u64>)>> = ranges
        .into_par_iter()
        .map(|(a, b)| {
            let mut out: Vec<(Vec<u32>, Vec<u64>)> = vec![(Vec::new(), Vec::new()); 1 << BITS];
            let mut buf = [0u32; MAX_CONTEXT_WIDTH];
            for i in a..b {
                let tok = ids[i];
                if special.is_some_and(|is_special| is_special(tok)) {
                    continue;
                }
                let ctx = lead.context_at(ids, i, h, &mut buf);
                if prompt_check && prompt.contains(fp.context(ctx)) {
                    continue;
                }
                let f = fp.pair(ctx, tok);
                let (index, fps) = &mut out[(f >> (64 - BITS)) as usize];
                index.push(i as u32);
                fps.push(f);
            }
            out
        })
        .collect();
    let kept: Vec<Vec<u32>> = (0..1usize << BITS)
        .into_par_iter()
        .map(|k| {
            let mut set = FingerprintSet::new();
            let mut kept = Vec::new();
            // Ranges in text order: the first occurrence of each fingerprint is kept.
            for range in &parts {
                let (index, fps) = &range[k];
                for (&i, &f) in index.iter().zip(fps) {
                    if set.insert(f) {
                        kept.push(i);
                    }
                }
            }
            kept
        })
        .collect();
    let mut positions: Vec<u32> = kept.concat();
    positions.par_sort_unstable();
    positions
}

/// With pair dedup (provmark's rule), positions whose PRF word depends on a coarser keyed input
/// than (context, token) — [`Prf::keyed_input`], e.g. vLLM's SBW seeds — are also deduplicated
/// on that input, so that no two scored positions share a keyed value. The reference rules
/// (`Context`, `None`) reproduce other detectors and leave it off.
fn keyed_dedup(opts: &Options<'_>) -> Option<PairFingerprinter> {
    (opts.dedup == Dedup::Pair).then(|| opts.fingerprinter.clone())
}

/// Receives each scored position; `KEEP = false` compiles to nothing.
struct Sink<const KEEP: bool> {
    positions: PositionScores,
}

impl<const KEEP: bool> Sink<KEEP> {
    #[inline(always)]
    fn push(&mut self, i: usize, score: f64) {
        if KEEP {
            self.positions.index.push(i as u32);
            self.positions.score.push(score);
        }
    }
    fn finish(self) -> Option<PositionScores> {
        KEEP.then_some(self.positions)
    }
}

/// Positions waiting for their keyed words. Absorbing a batch of independent contexts, then
/// computing their words, keeps several PRF evaluations in flight at once instead of
/// interleaving each with the (branchy, cache-missing) dedup lookups.
const BATCH: usize = 32;

struct Pending<P: Prf> {
    h: usize,
    n: usize,
    idx: [u32; BATCH],
    tok: [u32; BATCH],
    ctx: [u32; BATCH * MAX_CONTEXT_WIDTH],
    states: Vec<P::State>,
    words: [u64; BATCH],
}

impl<P: Prf> Pending<P> {
    fn new(h: usize) -> Self {
        Pending {
            h,
            n: 0,
            idx: [0; BATCH],
            tok: [0; BATCH],
            ctx: [0; BATCH * MAX_CONTEXT_WIDTH],
            states: Vec::with_capacity(BATCH),
            words: [0; BATCH],
        }
    }

    /// Queues a position; returns `true` when the batch is full.
    #[inline(always)]
    fn push(&mut self, i: usize, ctx: &[u32], tok: u32) -> bool {
        let j = self.n;
        self.idx[j] = i as u32;
        self.tok[j] = tok;
        self.ctx[j * self.h..(j + 1) * self.h].copy_from_slice(ctx);
        self.n += 1;
        self.n == BATCH
    }

    /// Computes the queued words and hands each `(index, word)` to `f`, then empties the batch.
    #[inline(always)]
    fn flush(
        &mut self,
        prf: &P,
        keyed: &mut Option<(&PairFingerprinter, &mut FingerprintSet)>,
        mut f: impl FnMut(u32, u64),
    ) {
        let (n, h) = (self.n, self.h);
        self.states.clear();
        prf.absorb_many(&self.ctx[..n * h], n, &mut self.states);
        prf.pair_words(&self.states, &self.tok[..n], &mut self.words[..n]);
        for j in 0..n {
            if let Some((fp, set)) = keyed.as_mut() {
                if let Some((input, token)) = prf.keyed_input(&self.states[j], self.tok[j]) {
                    if !set.insert(fp.keyed_input(input, token)) {
                        continue;
                    }
                }
            }
            f(self.idx[j], self.words[j]);
        }
        self.n = 0;
    }
}

/// A source of positions to score: `feed` calls `f(index, context, token)` for each.
trait Feed {
    fn feed<F: FnMut(usize, &[u32], u32)>(self, f: F);
}

/// Positions chosen on the fly by [`walk`] (dedup and skipping fused with scoring).
struct Walk<'x, 'o> {
    h: usize,
    ids: &'x [u32],
    opts: &'x Options<'o>,
    scratch: &'x mut WalkSets,
}

impl Feed for Walk<'_, '_> {
    #[inline(always)]
    fn feed<F: FnMut(usize, &[u32], u32)>(self, f: F) {
        walk(self.h, self.ids, self.opts, self.scratch, f)
    }
}

/// Positions of a [`Selection`] made earlier.
struct Selected<'x> {
    ids: &'x [u32],
    sel: &'x Selection,
}

impl Feed for Selected<'_> {
    #[inline(always)]
    fn feed<F: FnMut(usize, &[u32], u32)>(self, mut f: F) {
        let h = self.sel.width;
        let mut buf = [0u32; MAX_CONTEXT_WIDTH];
        for &i in &self.sel.positions {
            let i = i as usize;
            f(
                i,
                self.sel.lead.context_at(self.ids, i, h, &mut buf),
                self.ids[i],
            );
        }
    }
}

/// Feeds every position through the PRF batch and hands each `(index, word)` to `consume`.
#[inline(always)]
fn drive<P: Prf>(
    feed: impl Feed,
    pending: &mut Pending<P>,
    prf: &P,
    keyed: &mut Option<(&PairFingerprinter, &mut FingerprintSet)>,
    mut consume: impl FnMut(u32, u64),
) {
    feed.feed(|i, ctx, tok| {
        if pending.push(i, ctx, tok) {
            pending.flush(prf, keyed, &mut consume);
        }
    });
    pending.flush(prf, keyed, &mut consume);
}

/// Scores every position a feed yields, batching the PRF work.
fn run<P: Prf, const KEEP: bool>(
    wm: &Watermark<P>,
    total: usize,
    feed: impl Feed,
    keyed: Option<(&PairFingerprinter, &mut FingerprintSet)>,
    positions: PositionScores,
) -> Result<Evidence> {
    let prf = wm.prf();
    let mut keyed = keyed.map(|(fp, set)| {
        set.clear();
        (fp, set)
    });
    let mut sink = Sink::<KEEP> { positions };
    let mut pending = Pending::<P>::new(wm.context_width());
    let mut n = 0u64;
    let statistic = match wm.scheme() {
        Scheme::Green { gamma, .. } => {
            let mut k = 0u64;
            let consume = |i: u32, w: u64| {
                let g = prf.uniform(w) < gamma;
                k += u64::from(g);
                n += 1;
                sink.push(i as usize, if g { 1.0 } else { 0.0 });
            };
            drive(feed, &mut pending, prf, &mut keyed, consume);
            Statistic::Binomial {
                successes: k,
                trials: n,
                gamma,
            }
        }
        Scheme::Tournament { layers } => {
            let layers = layers.clamp(1, 64);
            let mask = u64::MAX >> (64 - layers);
            let mut k = 0u64;
            let consume = |i: u32, w: u64| {
                let g = (w & mask).count_ones();
                k += u64::from(g);
                n += 1;
                sink.push(i as usize, f64::from(g));
            };
            drive(feed, &mut pending, prf, &mut keyed, consume);
            Statistic::Binomial {
                successes: k,
                trials: n * u64::from(layers),
                gamma: 0.5,
            }
        }
        Scheme::Gumbel => {
            let mut s = 0u128;
            let consume = |i: u32, w: u64| {
                // −ln(1 − u) as `ln` of 1 − u: for the uniforms PRFs produce (k-bit grids,
                // k ≤ 53) 1 − u is exact, so this equals `Watermark::score`'s `−ln_1p(−u)` to
                // ≤ 1 ulp (measured max relative difference 2.2e-16) at half the cost.
                let score = -(1.0 - prf.uniform(w)).ln();
                s += u128::from(gumbel_fixed(score));
                n += 1;
                sink.push(i as usize, score);
            };
            drive(feed, &mut pending, prf, &mut keyed, consume);
            Statistic::Gamma {
                sum: gumbel_sum_f64(s),
                count: n,
            }
        }
        Scheme::DualKeyGumbel { alpha } => {
            // vLLM's dual-key score: key A's word in the low half, key B's in the high half.
            let mut s = 0u128;
            let consume = |i: u32, w: u64| {
                // `ln(1 − u)` as in the Gumbel arm (1 − u is exact on vLLM's 24-bit grid).
                let ea = -(1.0 - prf.uniform(w & 0xFFFF_FFFF)).ln();
                let eb = -(1.0 - prf.uniform(w >> 32)).ln();
                let score = ea * (1.0 - alpha) + eb * alpha;
                s += u128::from(gumbel_fixed(score));
                n += 1;
                sink.push(i as usize, score);
            };
            drive(feed, &mut pending, prf, &mut keyed, consume);
            Statistic::DualKeyGamma {
                sum: gumbel_sum_f64(s),
                count: n,
                alpha,
            }
        }
        #[allow(unreachable_patterns)]
        other => return Err(DetectError::UnsupportedScheme(other.name().to_string())),
    };
    Ok(Evidence::from_statistic(
        statistic,
        n,
        total as u64,
        sink.finish(),
    ))
}

/// Scores token ids under one keyed scheme.
///
/// Generic over the PRF, so the loop is compiled for each PRF type (`Watermark<AnyPrf>` from a
/// profile, or a foreign PRF directly). Each position is visited once; the work per position is
/// one context fingerprint check (when deduplicating), one `absorb` and one `word`.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_detect::{score_ids, Options};
/// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::DEFAULT_GREEN, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let wm = profile.watermark(None);
/// let ids: Vec<u32> = (0..100).map(|i| (i * 7919) % 5000).collect();
/// let ev = score_ids(&wm, &ids, &Options::for_profile(&profile)).unwrap();
/// assert_eq!(ev.total_tokens, 100);
/// assert_eq!(ev.scored_tokens, 98); // the first h = 2 positions have no full context
/// assert!(ev.p_value() > 1e-6);
/// ```
pub fn score_ids<P: Prf>(wm: &Watermark<P>, ids: &[u32], opts: &Options<'_>) -> Result<Evidence> {
    score_ids_with(wm, ids, opts, &mut Scratch::new())
}

/// [`score_ids`] with caller-owned dedup state (no allocation once the sets have grown).
pub fn score_ids_with<P: Prf>(
    wm: &Watermark<P>,
    ids: &[u32],
    opts: &Options<'_>,
    scratch: &mut Scratch,
) -> Result<Evidence> {
    check_input(ids, wm.context_width())?;
    let h = wm.context_width();
    let fp = keyed_dedup(opts);
    let feed = Walk {
        h,
        ids,
        opts,
        scratch: &mut scratch.sets,
    };
    let keyed = fp.as_ref().map(|f| (f, &mut scratch.keyed));
    if opts.keep_positions {
        let mut buf = std::mem::take(&mut scratch.positions);
        buf.index.clear();
        buf.score.clear();
        run::<P, true>(wm, ids.len(), feed, keyed, buf)
    } else {
        run::<P, false>(wm, ids.len(), feed, keyed, PositionScores::default())
    }
}

/// Scores a [`Selection`] made earlier from the same `ids` under another key (attribution).
/// No dedup work is repeated.
pub fn score_selection<P: Prf>(
    wm: &Watermark<P>,
    ids: &[u32],
    sel: &Selection,
    keep_positions: bool,
) -> Result<Evidence> {
    if sel.total_tokens != ids.len() as u64 {
        return Err(DetectError::param(
            "selection",
            format!(
                "made from {} tokens, scored on {}",
                sel.total_tokens,
                ids.len()
            ),
        ));
    }
    if sel.width != wm.context_width() {
        return Err(DetectError::param(
            "selection",
            format!(
                "made for context width {}, scored with width {}",
                sel.width,
                wm.context_width()
            ),
        ));
    }
    let feed = Selected { ids, sel };
    let mut set = FingerprintSet::new();
    let keyed = sel.keyed.as_ref().map(|f| (f, &mut set));
    if keep_positions {
        run::<P, true>(wm, ids.len(), feed, keyed, PositionScores::default())
    } else {
        run::<P, false>(wm, ids.len(), feed, keyed, PositionScores::default())
    }
}

/// The ids available before the first token: the prompt's last ids (when a prompt is given —
/// generation used them as context, spec §4), left-padded with the pad id under
/// [`ContextPolicy::PadWith`]. At most `h` ids, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lead {
    ids: [u32; MAX_CONTEXT_WIDTH],
    len: usize,
}

impl Lead {
    fn new(h: usize, opts: &Options<'_>) -> Self {
        let mut ids = [0u32; MAX_CONTEXT_WIDTH];
        let h = h.min(MAX_CONTEXT_WIDTH);
        let from_prompt = opts
            .prompt
            .map_or(&[][..], |p| &p[p.len().saturating_sub(h)..]);
        let len = match opts.context_policy {
            ContextPolicy::PadWith(pad) => {
                ids[..h - from_prompt.len()].fill(pad);
                h
            }
            ContextPolicy::SkipPartial => from_prompt.len(),
        };
        ids[len - from_prompt.len()..len].copy_from_slice(from_prompt);
        Lead { ids, len }
    }

    /// The context of position `i` (callers guarantee `i + self.len >= h`).
    #[inline(always)]
    fn context_at<'b>(
        &self,
        ids: &'b [u32],
        i: usize,
        h: usize,
        buf: &'b mut [u32; MAX_CONTEXT_WIDTH],
    ) -> &'b [u32] {
        if i >= h {
            &ids[i - h..i]
        } else {
            let need = h - i;
            buf[..need].copy_from_slice(&self.ids[self.len - need..self.len]);
            buf[need..h].copy_from_slice(&ids[..i]);
            &buf[..h]
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use provmark_core::SecretKey;

    /// The parallel pair selection chooses exactly the sequential walk's positions, with
    /// special tokens, a prompt, padded and partial contexts, and many repeated pairs.
    #[test]
    fn parallel_selection_equals_walk() {
        let fp = PairFingerprinter::from_master(&SecretKey::from_bytes([5; 32]));
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Random picks from 300 fixed sentences: most pairs repeat many times at every width.
        let sentences: Vec<Vec<u32>> = (0..300)
            .map(|_| (0..30).map(|_| (next() % 1000) as u32).collect())
            .collect();
        let mut ids: Vec<u32> = Vec::new();
        while ids.len() < 300_000 {
            ids.extend_from_slice(&sentences[(next() % 300) as usize]);
        }
        // The prompt shares three sentences with the text: their contexts are skipped.
        let prompt: Vec<u32> = sentences[..3].concat();
        let is_special = |id: u32| id == 7;
        for width in [1, 2, 3] {
            for policy in [ContextPolicy::SkipPartial, ContextPolicy::PadWith(u32::MAX)] {
                for with_prompt in [false, true] {
                    let mut opts = Options::with_fingerprinter(fp.clone())
                        .special_tokens(&is_special)
                        .context_policy(policy);
                    if with_prompt {
                        opts = opts.prompt(&prompt);
                    }
                    let mut want = Vec::new();
                    walk(width, &ids, &opts, &mut WalkSets::default(), |i, _, _| {
                        want.push(i as u32)
                    });
                    assert!(want.len() > 1000 && want.len() < ids.len() / 2);
                    for threads in [2, 3, 8] {
                        let got = select_pairs_parallel(width, &ids, &opts, threads);
                        assert!(
                            got == want,
                            "width {width}, {policy:?}, prompt {with_prompt}, {threads} threads"
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any ids (small alphabet: many repeats), width, prompt, special token and thread
        /// count: the parallel selection is the sequential walk.
        #[test]
        fn parallel_selection_equals_walk_on_random_inputs(
            ids in proptest::collection::vec(0u32..40, 0..3000),
            prompt in proptest::collection::vec(0u32..40, 0..40),
            width in 1usize..5,
            special in 0u32..40,
            threads in 2usize..9,
            pad in proptest::bool::ANY,
        ) {
            let fp = PairFingerprinter::from_master(&SecretKey::from_bytes([9; 32]));
            let is_special = |id: u32| id == special;
            let policy = if pad { ContextPolicy::PadWith(u32::MAX) } else { ContextPolicy::SkipPartial };
            let opts = Options::with_fingerprinter(fp)
                .special_tokens(&is_special)
                .context_policy(policy)
                .prompt(&prompt);
            let mut want = Vec::new();
            walk(width, &ids, &opts, &mut WalkSets::default(), |i, _, _| want.push(i as u32));
            let got = select_pairs_parallel(width, &ids, &opts, threads);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
