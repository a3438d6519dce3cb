//! The simulated language model: deterministic next-token candidate lists over a real
//! tokenizer's vocabulary.

use provmark_tokenize::Tokenizer;

use crate::entropy::{EntropyProfile, ShapeTable};
use crate::error::SimError;
use crate::hash::{mix2, unit, Stream};
use crate::support::Support;

/// Largest candidate list the simulation produces (a real sampler's top-k rarely exceeds this).
pub const MAX_TOP_K: usize = 1000;
/// Largest number of preceding tokens the model conditions on.
pub const MAX_ORDER: usize = 8;

/// Stand-in id for "before the start of the text" in the model's context hash.
const BOS: u32 = u32::MAX;
const SALT_LANG: u64 = 0x6c61_6e67_7561_6765; // "language"
const SALT_GATE: u64 = 0x7374_796c_6567_6174; // "stylegat"
const SALT_STYLE: u64 = 0x7374_796c_6573_7263; // "stylesrc"

/// Settings of a [`SimLm`]. Everything the model does is a function of these and the context.
///
/// * `seed` — the simulated *language*: the base next-token distribution at every context.
/// * `style` — a variant of that language. At a share `style_divergence` of contexts (chosen by
///   the style) the model uses its own distribution instead of the language's. Two models with
///   the same `seed` and different `style` agree exactly at about (1 − d)² of contexts and are
///   independent elsewhere: the evaluation uses this as "a different source of clean text in the
///   same language". Different seeds share only the vocabulary's frequency order.
///
/// ```
/// use provmark_sim::SimConfig;
/// let teacher = SimConfig::new(1);
/// let other_source = SimConfig { style: 1, ..SimConfig::new(1) };
/// let cooler = SimConfig { temperature: 0.7, ..SimConfig::new(1) };
/// assert_eq!(teacher.top_k, 50);
/// # let _ = (other_source, cooler);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The simulated language (base distributions).
    pub seed: u64,
    /// The style within the language (see the type docs).
    pub style: u64,
    /// Share of contexts, in [0, 1], at which the style replaces the language's distribution.
    pub style_divergence: f64,
    /// Sampling temperature (> 0); the candidate logits are divided by it. The entropy target
    /// holds at temperature 1; lower temperatures lower it.
    pub temperature: f64,
    /// Candidates per step (1 ..= [`MAX_TOP_K`]); the model's distribution is the softmax over
    /// them, like a top-k sampler's.
    pub top_k: usize,
    /// How many preceding tokens the distribution depends on (1 ..= [`MAX_ORDER`]).
    pub order: usize,
    /// Per-step entropy target at temperature 1.
    pub entropy: EntropyProfile,
}

impl SimConfig {
    /// Defaults for a given seed: style 0, divergence 0.5, temperature 1, top-50 candidates,
    /// order 3, the chat entropy profile.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            style: 0,
            style_divergence: 0.5,
            temperature: 1.0,
            top_k: 50,
            order: 3,
            entropy: EntropyProfile::chat(),
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad =
            |field: &'static str, reason: String| Err(SimError::InvalidConfig { field, reason });
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(
                "temperature",
                format!("{} is not a finite number > 0", self.temperature),
            );
        }
        if !(1..=MAX_TOP_K).contains(&self.top_k) {
            return bad("top_k", format!("{} is not in 1..={MAX_TOP_K}", self.top_k));
        }
        if !(1..=MAX_ORDER).contains(&self.order) {
            return bad("order", format!("{} is not in 1..={MAX_ORDER}", self.order));
        }
        if !(0.0..=1.0).contains(&self.style_divergence) {
            return bad(
                "style_divergence",
                format!("{} is not in [0, 1]", self.style_divergence),
            );
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(0)
    }
}

/// A simulated language model (a simulation, **not** a real model).
///
/// At every step it returns a candidate list — token ids and logits, like a real sampler's
/// top-k — that is a pure function of the configuration and the last `order` context ids. See
/// the crate docs for how the distributions are built and what they are calibrated to.
///
/// `Send + Sync`: share one model across threads, give each thread its own [`Candidates`].
///
/// ```
/// use provmark_sim::{SimConfig, SimLm};
/// use provmark_tokenize::Tokenizer;
/// let tok = Tokenizer::openai("o200k_base")?;
/// let lm = SimLm::new(SimConfig::new(7), &tok)?;
/// let mut cands = lm.candidate_buffer();
/// lm.candidates(&[], &mut cands);
/// assert_eq!(cands.len(), 50);
/// assert!(cands.entropy() >= 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimLm {
    config: SimConfig,
    support: Support,
    table: ShapeTable,
    vocab_size: usize,
    /// Bytes of every token the model can emit, concatenated; `text_at[id]` = (start, len).
    text: Vec<u8>,
    text_at: Vec<(u32, u8)>,
    inv_temperature: f64,
    key_lang: u64,
    key_gate: u64,
    key_style: u64,
}

/// A caller-owned candidate list, reused across steps (no allocation per step).
#[derive(Clone, Debug)]
pub struct Candidates {
    ids: Vec<u32>,
    logits: Vec<f32>,
    stamp: Vec<u32>,
    epoch: u32,
    target_entropy: f64,
}

impl Candidates {
    /// Candidate token ids, most likely first.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Their logits at the model's temperature (`logits()[i]` belongs to `ids()[i]`).
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the list is empty (only before the first call to [`SimLm::candidates`]).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Shannon entropy (nats) of the step's distribution at the model's temperature.
    pub fn entropy(&self) -> f64 {
        let mut m = f64::NEG_INFINITY;
        for &l in &self.logits {
            m = m.max(f64::from(l));
        }
        if !m.is_finite() {
            return 0.0;
        }
        let (mut z, mut s) = (0.0, 0.0);
        for &l in &self.logits {
            let d = f64::from(l) - m;
            let e = d.exp();
            z += e;
            s += e * d;
        }
        (z.ln() - s / z).max(0.0)
    }

    /// The entropy target (nats, temperature 1) this step was drawn with.
    pub fn target_entropy(&self) -> f64 {
        self.target_entropy
    }

    /// Probability of candidate `i` at the model's temperature.
    pub fn prob(&self, i: usize) -> f64 {
        let m = self
            .logits
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = self.logits.iter().map(|&l| f64::from(l - m).exp()).sum();
        self.logits
            .get(i)
            .map_or(0.0, |&l| f64::from(l - m).exp() / z)
    }
}

impl SimLm {
    /// Builds the simulated model over a tokenizer's vocabulary.
    pub fn new(config: SimConfig, tokenizer: &Tokenizer) -> Result<Self, SimError> {
        config.validate()?;
        let support = Support::new(tokenizer)?;
        let k = config.top_k.min(support.smallest_pool());
        let table = ShapeTable::new(k);
        if config.entropy.max_entropy() > table.max_entropy() {
            return Err(SimError::InvalidConfig {
                field: "entropy",
                reason: format!(
                    "the target reaches {:.3} nats but {k} candidates allow at most {:.3}",
                    config.entropy.max_entropy(),
                    table.max_entropy()
                ),
            });
        }
        let style_key = mix2(config.seed, config.style);
        let mut text = Vec::new();
        let mut text_at = vec![(0u32, 0u8); tokenizer.vocab_size()];
        for (id, slot) in text_at.iter_mut().enumerate() {
            if support.contains(id as u32) {
                if let Some(b) = tokenizer.token_bytes(id as u32) {
                    if b.len() <= usize::from(u8::MAX) {
                        *slot = (text.len() as u32, b.len() as u8);
                        text.extend_from_slice(&b);
                    }
                }
            }
        }
        Ok(SimLm {
            text,
            text_at,
            inv_temperature: 1.0 / config.temperature,
            key_lang: mix2(config.seed, SALT_LANG),
            key_gate: mix2(style_key, SALT_GATE),
            key_style: mix2(style_key, SALT_STYLE),
            vocab_size: tokenizer.vocab_size(),
            config,
            support,
            table,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The tokenizer's vocabulary size (every emitted id is below it).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Whether the model can ever emit `id`.
    pub fn can_emit(&self, id: u32) -> bool {
        self.support.contains(id)
    }

    /// Sizes of the model's three candidate pools: words and punctuation, words, paragraph
    /// openers.
    pub fn pool_sizes(&self) -> [usize; 3] {
        self.support.sizes()
    }

    /// A candidate buffer sized for this model (allocate once, reuse every step).
    pub fn candidate_buffer(&self) -> Candidates {
        let k = self.config.top_k;
        Candidates {
            ids: Vec::with_capacity(k),
            logits: Vec::with_capacity(k),
            stamp: vec![0; self.support.largest_pool()],
            epoch: 0,
            target_entropy: 0.0,
        }
    }

    /// Fills `out` with the next-token candidates after `context` (oldest first; only the last
    /// `order` ids matter, fewer at the start of a text). Allocation-free once `out` came from
    /// [`SimLm::candidate_buffer`] of this model.
    pub fn candidates(&self, context: &[u32], out: &mut Candidates) {
        let order = self.config.order;
        let mut hc = mix2(self.key_lang, order as u64);
        for j in 0..order {
            let id = if context.len() + j >= order {
                context[context.len() + j - order]
            } else {
                BOS
            };
            hc = mix2(hc, u64::from(id));
        }
        let gate = unit(mix2(self.key_gate, hc));
        let source = if gate < self.config.style_divergence {
            mix2(self.key_style, hc)
        } else {
            hc
        };
        let mut stream = Stream::new(source);
        let target = self.config.entropy.quantile(stream.next_unit());
        let shape = self.table.param_for(target);
        let pool = self
            .support
            .pool(self.support.pool_after(context.last().copied()));
        let k = self.config.top_k.min(pool.ids.len());

        if out.stamp.len() < self.support.largest_pool() {
            out.stamp.resize(self.support.largest_pool(), 0);
        }
        out.epoch = out.epoch.wrapping_add(1);
        if out.epoch == 0 {
            out.stamp.fill(0);
            out.epoch = 1;
        }
        out.ids.clear();
        out.logits.clear();
        out.target_entropy = target;
        let epoch = out.epoch;
        // Distinct Zipf draws; a bounded number of tries, then the most frequent unused ranks
        // (never reached in practice: pools are far larger than k).
        let mut tries = 0usize;
        let max_tries = 64 * k + 64;
        while out.ids.len() < k && tries < max_tries {
            tries += 1;
            let r = pool.rank(stream.next_unit());
            if out.stamp[r] != epoch {
                out.stamp[r] = epoch;
                let rank0 = out.ids.len();
                out.ids.push(pool.ids[r]);
                out.logits
                    .push((self.table.logit(shape, rank0) * self.inv_temperature) as f32);
            }
        }
        let mut r = 0;
        while out.ids.len() < k {
            if out.stamp[r] != epoch {
                out.stamp[r] = epoch;
                let rank0 = out.ids.len();
                out.ids.push(pool.ids[r]);
                out.logits
                    .push((self.table.logit(shape, rank0) * self.inv_temperature) as f32);
            }
            r += 1;
        }
    }

    /// Appends a synthetic "user prompt" of `len` words to `out`: Zipf draws from the word pool
    /// with `rng`. Real responses each answer a different prompt; without one every sample
    /// would start from the same context, and a distortion-free scheme (Gumbel), deterministic
    /// given the context, would make samples collapse onto a few texts.
    pub fn prompt_into<R: rand::RngCore + ?Sized>(
        &self,
        rng: &mut R,
        len: usize,
        out: &mut Vec<u32>,
    ) {
        let pool = self.support.pool(crate::support::PoolKind::Words);
        for _ in 0..len {
            out.push(pool.ids[pool.rank(unit(rng.next_u64()))]);
        }
    }

    /// Decodes ids the model can emit (an error names the first other id; use the tokenizer for
    /// those).
    pub fn decode(&self, ids: &[u32]) -> Result<String, SimError> {
        let mut out = Vec::with_capacity(ids.len() * 6);
        for &id in ids {
            match self.text_at.get(id as usize) {
                Some(&(start, len)) if len > 0 => {
                    out.extend_from_slice(&self.text[start as usize..start as usize + len as usize])
                }
                _ => return Err(SimError::NotEmitted(id)),
            }
        }
        String::from_utf8(out).map_err(|_| SimError::NotEmitted(u32::MAX))
    }

    /// Entropy (nats) of the step after `context` at the model's temperature (convenience; uses
    /// a fresh buffer, so it allocates).
    pub fn entropy_after(&self, context: &[u32]) -> f64 {
        let mut c = self.candidate_buffer();
        self.candidates(context, &mut c);
        c.entropy()
    }
}
